"""The ASGI kit (``pip install 'recstate[asgi]'``, on Starlette): run a Runtime in an app's
lifespan, and serve a vendor's receiver at an exact path.

- :func:`lifespan`: ``FastAPI(lifespan=lifespan(runtime))`` or
  ``Starlette(lifespan=lifespan(runtime))``: the runtime's driver runs while the app serves,
  and the runtime is closed (driver stopped, adapters' calls in flight waited for, trace
  flushed and closed, adapters disconnected) when the app shuts down. The runtime is also
  ``request.app.state.runtime`` and, in the lifespan state, ``request.state.runtime``.
- :func:`receiver_route`: a Starlette ``Route`` for an ASGI receiver (NetEase's
  :class:`~recstate.adapters.netease.CallbackApp`...) at exactly ``path``:
  ``app.router.routes.append(receiver_route("/netease/callback", callback_app))``. A
  ``Mount`` (``app.mount(path, ...)``) answers a POST to the exact path with a 307 redirect
  to ``path/``, and a vendor's callback service does not follow redirects.
- :func:`mount_bridge`: the client bridge (``pip install 'recstate[bridge]'``) mounted at a
  prefix of a Starlette or FastAPI app: ``mount_bridge(app, secret)`` serves ``/bridge/ws``
  and ``/bridge/client/``; its :class:`~recstate.bridge.Bridge` is made at startup, on the
  runtime of this kit's :func:`lifespan` (``app.state.runtime``), and is
  ``app.state.bridge`` while the app serves. The app's own server issues the tokens
  (:class:`~recstate.bridge.Tokens` with the same secret).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any

from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from recstate.runtime import Runtime

if TYPE_CHECKING:
    from recstate.bridge.hub import Bridge

__all__ = ["lifespan", "mount_bridge", "receiver_route"]


def lifespan(runtime: Runtime | Callable[[], Runtime], *,
             then: Callable[[Any], AbstractAsyncContextManager[Any]] | None = None
             ) -> Callable[[Any], AbstractAsyncContextManager[dict[str, Any]]]:
    """A lifespan that runs ``runtime`` (or the one ``runtime()`` makes at startup) for as
    long as the app serves. ``then``: the app's own lifespan, entered inside it (so the
    runtime is already running there, and still running while it shuts down)."""

    @asynccontextmanager
    async def span(app: Any) -> AsyncIterator[dict[str, Any]]:
        rt = runtime if isinstance(runtime, Runtime) else runtime()
        async with rt:
            state = getattr(app, "state", None)
            if state is not None:
                state.runtime = rt
            if then is None:
                yield {"runtime": rt}
            else:
                async with then(app) as inner:
                    yield {"runtime": rt, **(inner or {})}

    return span


def receiver_route(path: str, app: ASGIApp, *, methods: Sequence[str] = ("POST",),
                   name: str | None = None) -> Route:
    """``app`` (an ASGI receiver) served at exactly ``path`` for ``methods``: include it in
    a Starlette app's routes or append it to a FastAPI app's ``router.routes``."""
    if not path.startswith("/"):
        raise ValueError(f"a route path starts with '/', got {path!r}")
    return Route(path, endpoint=app, methods=list(methods), name=name)


def mount_bridge(app: Any, secret: str | bytes, *, path: str = "/bridge",
                 runtime: Runtime | Callable[[], Runtime] | None = None,
                 demo: bool = False, **options: Any) -> None:
    """Mount the client bridge's routes at ``path`` of ``app`` (Starlette or FastAPI), its
    :class:`~recstate.bridge.Bridge` made when the app starts (after the app's lifespan has
    started, so the runtime already runs) and closed when it stops.

    - ``runtime``: the runtime, or a function returning it at startup; by default the one
      this kit's :func:`lifespan` put in ``app.state.runtime``;
    - ``demo``: serve the demo page and its open token endpoint too (never in production);
    - ``options``: :class:`~recstate.bridge.Bridge`'s (``hold``, ``deliver``, ``commands``...).

    Events from the apps go in with ``runtime.submit`` unless ``deliver`` says otherwise:
    the runtime's driver must run (:func:`lifespan` runs it). A secret under 16 bytes is a
    ValueError here, before anything listens."""
    from recstate.bridge.app import bridge_routes
    from recstate.bridge.hub import Bridge
    from recstate.bridge.tokens import Tokens

    if not path.startswith("/") or path.endswith("/"):
        raise ValueError(f"a mount path starts with '/' and does not end with one, got "
                         f"{path!r}")
    Tokens(secret)  # a short secret is refused now
    made: list[Bridge] = []

    def bridge() -> Bridge:
        if not made:
            raise RuntimeError("the bridge is made when the app starts: run the app with its "
                               "lifespan (uvicorn's default lifespan='auto' or 'on')")
        return made[0]

    inner = app.router.lifespan_context

    @asynccontextmanager
    async def span(a: Any) -> AsyncIterator[Any]:
        async with inner(a) as state:
            rt: Any = runtime if isinstance(runtime, Runtime) else (
                runtime() if runtime is not None else getattr(app.state, "runtime", None))
            if not isinstance(rt, Runtime):
                raise RuntimeError("mount_bridge found no runtime: run the app with "
                                   "recstate.asgi.lifespan(runtime), or pass runtime=")
            hub = Bridge(rt, secret, **options)
            made.append(hub)
            app.state.bridge = hub
            try:
                yield state
            finally:
                hub.close()
                made.clear()

    app.router.lifespan_context = span
    app.router.routes.append(Mount(path, routes=bridge_routes(bridge, demo=demo)))
