"""The bridge over WebSocket, as Starlette routes: mount them in any ASGI app
(``Mount("/bridge", routes=bridge_routes(bridge))``) or serve :func:`bridge_app` alone.

- ``/ws``: the WebSocket apps connect to (protocol in ``docs/architecture.md``, Bridge);
- ``/client/``: the JavaScript client (``clients/js/src``), an ES module;
- ``/demo/`` (``demo=True`` only): a page using the client with fake SDK objects, and
  ``/demo/token``, which hands that page tokens for the app ``demo``. A real app gets its
  tokens from its own server, never from an open endpoint: leave ``demo`` off in production.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

try:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, RedirectResponse
    from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
    from starlette.staticfiles import StaticFiles
    from starlette.websockets import WebSocket, WebSocketDisconnect
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("recstate.bridge serves its WebSocket with Starlette, which is not "
                      "installed: pip install 'recstate[bridge]'") from exc

from recstate.bridge.hub import Bridge, Connection, Refused
from recstate.runtime import Runtime

__all__ = ["REFUSED", "bridge_app", "bridge_routes", "client_dir", "demo_dir"]

#: The close code of a refused connection (an HTTP 401, in WebSocket's private range).
REFUSED = 4401
_HERE = Path(__file__).resolve().parent


def client_dir() -> Path:
    """The JavaScript client: packaged beside this module in a wheel, else the repository's
    ``clients/js/src``."""
    for candidate in (_HERE / "client", _HERE.parents[1] / "clients" / "js" / "src"):
        if (candidate / "index.js").is_file():
            return candidate
    raise FileNotFoundError("the bridge's JavaScript client is missing: neither "
                            f"{_HERE / 'client'} nor clients/js/src exists")


def demo_dir() -> Path:
    return _HERE / "demo"


async def _write(ws: WebSocket, conn: Connection) -> None:
    while (text := await conn.outbox.get()) is not None:
        await ws.send_text(text)


async def _text(ws: WebSocket) -> str | bytes | None:
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        return None
    text = message.get("text")
    return text if text is not None else bytes(message.get("bytes") or b"")


def _endpoint(get: Callable[[], Bridge], hello_timeout: float
              ) -> Callable[[WebSocket], Awaitable[None]]:
    async def endpoint(ws: WebSocket) -> None:
        bridge = get()
        await ws.accept()
        try:
            try:
                first = await asyncio.wait_for(_text(ws), hello_timeout)
            except TimeoutError:
                await ws.close(code=REFUSED, reason="no-token")
                return
            if first is None:
                return
            try:
                conn = bridge.open(first)
            except Refused as refused:
                await ws.send_json({"type": "refused", "code": refused.code,
                                    "reason": refused.reason})
                await ws.close(code=REFUSED, reason=refused.code)
                return
            writer = asyncio.create_task(_write(ws, conn))
            try:
                while (text := await _text(ws)) is not None:
                    bridge.receive(conn, text)
            finally:
                bridge.drop(conn)
                with contextlib.suppress(Exception):
                    await writer
        except WebSocketDisconnect:
            return
    return endpoint


def bridge_routes(bridge: Bridge | Callable[[], Bridge], *, demo: bool = False,
                  demo_app: str = "demo", demo_ttl: float = 120.0,
                  hello_timeout: float = 30.0) -> list[BaseRoute]:
    """The bridge's routes, to mount under a prefix of the service's ASGI app.

    ``bridge`` may be a function that returns it, called at each connection: a service whose
    runtime is made in its lifespan (``recstate serve``) mounts the routes first and makes
    the bridge at startup. ``hello_timeout``: wall-clock seconds a new socket may take to
    say hello."""
    get: Callable[[], Bridge] = (lambda: bridge) if isinstance(bridge, Bridge) else bridge
    routes: list[BaseRoute] = [
        WebSocketRoute("/ws", _endpoint(get, hello_timeout)),
        Mount("/client", app=StaticFiles(directory=client_dir()), name="bridge-client"),
    ]
    if demo:
        async def token(request: Request) -> JSONResponse:
            return JSONResponse({"token": get().tokens.issue(demo_app, ttl=demo_ttl)},
                                headers={"Cache-Control": "no-store"})

        async def to_demo(request: Request) -> RedirectResponse:
            return RedirectResponse(request.url.path + "/")

        routes += [Route("/demo/token", token), Route("/demo", to_demo),
                   Mount("/demo", app=StaticFiles(directory=demo_dir(), html=True),
                         name="bridge-demo")]
    return routes


def bridge_app(runtime: Runtime, secret: str | bytes, *, demo: bool = False,
               bridge: Bridge | None = None, hold: float | None = 30.0) -> Starlette:
    """A Starlette app serving a new :class:`Bridge` on ``runtime`` (``app.state.bridge``)."""
    hub = bridge if bridge is not None else Bridge(runtime, secret, hold=hold)
    app = Starlette(routes=bridge_routes(hub, demo=demo))
    app.state.bridge = hub
    return app
