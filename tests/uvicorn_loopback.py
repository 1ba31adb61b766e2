"""An ASGI app under uvicorn on 127.0.0.1 for the tests that serve one over real HTTP (the
house rule: real HTTP on loopback): the service example, ``recstate serve``, the NetEase
callback receiver, the ASGI bridge kit.

The socket is bound and listening before the server starts, in a thread with its own event
loop (lifespan on): a request made at once waits in the listen backlog until uvicorn accepts
it, so nothing waits on the wall clock.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any


class Uvicorn:
    """``with Uvicorn(app, "/path") as url:`` serves ``app`` for the block; ``url`` is
    ``http://127.0.0.1:<port>/path``. ``host`` is ``127.0.0.1:<port>`` (for a ``ws://`` URL),
    ``thread`` the thread uvicorn's loop runs in. Leaving the block stops the server and
    fails if it has not stopped within ``join_timeout`` seconds."""

    def __init__(self, app: Any, path: str = "", *, join_timeout: float = 10.0) -> None:
        import uvicorn

        self.path = path
        self.join_timeout = join_timeout
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://{self.host}{self.path}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(self.join_timeout)
        self.sock.close()
        assert not self.thread.is_alive(), "uvicorn did not stop"
