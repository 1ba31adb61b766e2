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
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from starlette.routing import Route
from starlette.types import ASGIApp

from recstate.runtime import Runtime

__all__ = ["lifespan", "receiver_route"]


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
