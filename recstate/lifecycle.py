"""The runtime's lifecycle: ``async with Runtime(...) as runtime:`` runs the asyncio driver
for the block; leaving it stops the driver, lets adapters' calls in flight finish (bounded by
``close_timeout``), hands in what they answered, flushes and closes the trace, and disconnects
every receiver connected for this runtime. ``with Runtime(...)`` does the same for
synchronous use (no driver to run).

A room of :class:`~recstate.runtime.Runtime` (which inherits it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from recstate import signals
from recstate.intents import Intents
from recstate.logs import get_logger

__all__ = ["Lifecycle"]

log = get_logger("recstate.runtime")


class Lifecycle(Intents):
    """Start and close: a context manager, sync and async."""

    close_timeout: float
    closed: bool
    _driver_task: asyncio.Task[None] | None
    _closers: list[Callable[[], Any]]

    @property
    def running(self) -> bool:
        """Whether the driver serves this runtime (:attr:`Driver.running`, a ``run()`` awaited
        directly included) or is about to: ``start`` / ``async with`` made its task, which may
        not have had a turn yet."""
        task = self._driver_task
        return super().running or (task is not None and not task.done())

    def on_close(self, closer: Callable[[], Any]) -> Callable[[], Any]:
        """Call ``closer`` when the runtime closes (after the driver stopped, before the
        trace is closed): an adapter's own clean-up. Usable as a decorator."""
        self._closers.append(closer)
        return closer

    # ---- async ------------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    def start(self) -> asyncio.Task[None]:
        """Run the driver in a task on the running loop (what ``async with`` does)."""
        if self._driver_task is None or self._driver_task.done():
            self._driver_task = asyncio.get_running_loop().create_task(
                self.run(), name="recstate-driver")
        return self._driver_task

    async def aclose(self) -> None:
        """Stop the driver, wait (at most ``close_timeout`` s) for adapters' calls in flight
        and hand in what they answered, then close as :meth:`close` does."""
        if self.closed:
            return
        task, self._driver_task = self._driver_task, None
        if task is not None and not task.done():
            self.stop()
            await asyncio.wait({task}, timeout=self.close_timeout)
            if not task.done():
                task.cancel()
                log.warning("the driver did not stop within %.3g s; cancelled",
                            self.close_timeout)
        failed = (task.exception() if task is not None and task.done()
                  and not task.cancelled() else None)
        if self._tracked:
            _, late = await asyncio.wait(set(self._tracked), timeout=self.close_timeout)
            for work in late:
                work.cancel()
            if late:
                log.warning("%d adapter call(s) still in flight after %.3g s were cancelled",
                            len(late), self.close_timeout)
        try:
            self._hand_in_submitted()
        finally:
            self.close()
        if failed is not None:  # the driver ended on an error (a strict runtime's violation)
            raise failed

    # ---- sync -------------------------------------------------------------------------------
    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect every receiver connected for this runtime (adapters, simulators,
        observers), run the ``on_close`` callbacks, and flush and close the tracer (a
        :class:`~recstate.trace.TraceWriter`). Idempotent."""
        if self.closed:
            return
        self.closed = True
        for signal in signals.all_signals():
            for receiver in list(signal.receivers_for(self)):
                signal.disconnect(receiver, sender=self)
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception:
                log.exception("a close callback raised: %r", closer)
        tracer = self.tracer
        close = getattr(tracer, "close", None)
        if callable(close):
            close()

    def _hand_in_submitted(self) -> None:
        inbox = self._inbox
        while inbox is not None and not inbox.empty():
            item = inbox.get_nowait()
            if item is not None:
                self.dispatch(item)
