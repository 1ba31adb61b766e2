"""A bridge served for real: uvicorn on a pre-bound loopback socket, in a thread with its own
event loop, the runtime's asyncio driver running on that loop.

Virtual time stands still (a tracked future holds the driver's ManualClock, see
``Driver.track``) and moves only through :meth:`Served.advance`. Waiting is on conditions:
:meth:`Served.wait` wakes on every trace record the runtime writes; nothing sleeps on the wall
clock (the timeouts are bounds for a broken run, not delays).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import uvicorn
from starlette.applications import Starlette

from recstate.runtime import Runtime
from recstate.trace import Record

T = TypeVar("T")
BOUND = 20.0  # seconds: a bound on a broken run, never a delay


class Served:
    def __init__(self, runtime: Runtime, app: Starlette) -> None:
        self.runtime = runtime
        self.records: list[Record] = []
        inner = runtime.tracer

        def tracer(record: Record) -> None:
            self.records.append(record)
            if inner is not None:
                inner(record)
            if self._changed is not None:
                self._changed.set()

        runtime.tracer = tracer
        self._changed: asyncio.Event | None = None
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off",
                                                    ws="websockets-sansio"))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        gate: asyncio.Future[None] = self.loop.create_future()
        self.runtime.track(gate)  # virtual time waits for this: only advance() moves it
        driver = asyncio.create_task(self.runtime.run())
        self._ready.set()
        try:
            await self.server.serve(sockets=[self.sock])
        finally:
            self.runtime.stop()
            gate.set_result(None)
            await driver

    def __enter__(self) -> Served:
        self.thread.start()
        assert self._ready.wait(BOUND), "the server's loop did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(BOUND)
        self.sock.close()
        assert not self.thread.is_alive(), "uvicorn did not stop"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    # ---- on the server's loop -------------------------------------------------------------------
    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's loop (where the runtime lives) and return its result."""
        async def run() -> T:
            return fn()
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(BOUND)

    def advance(self, to: float) -> None:
        self.call(lambda: self.runtime.advance(to))

    def wait(self, predicate: Callable[[], Any], what: str = "the condition") -> None:
        """Wait until ``predicate()`` (run on the server's loop) holds; it is checked again
        after every trace record."""
        async def waiting() -> None:
            assert self._changed is not None
            while not predicate():
                self._changed.clear()
                try:
                    await asyncio.wait_for(self._changed.wait(), BOUND)
                except TimeoutError:
                    raise AssertionError(f"timed out waiting for {what}") from None
        assert self.loop is not None
        asyncio.run_coroutine_threadsafe(waiting(), self.loop).result(BOUND + 5)

    def state(self, session: str) -> str | None:
        """From the test's thread."""
        return self.call(lambda: self.state_now(session))

    def state_now(self, session: str) -> str | None:
        """On the server's loop (in a :meth:`wait` predicate)."""
        found = self.runtime.sessions.get(session)
        return found.state if found is not None else None
