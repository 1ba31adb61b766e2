"""The asyncio driver: :meth:`run` serves events handed in with :meth:`submit` and fires
timers on time, sleeping on the runtime's clock until the next deadline or the next event.

A room of :class:`~recstate.runtime.Runtime` (which inherits it); the attributes annotated on
the class are the runtime's, set in ``Runtime.__init__``.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from recstate.clock import ManualClock
from recstate.events import Event
from recstate.scheduling import Scheduling

__all__ = ["Driver"]


class Driver(Scheduling):
    """Runs the runtime on an asyncio loop."""

    _inbox: asyncio.Queue[Event | None] | None
    _stopping: bool
    _tracked: set[asyncio.Future[Any]]

    def submit(self, event: Event) -> None:
        """Give an event to :meth:`run` from a coroutine or callback on the same loop."""
        self._inbox_queue().put_nowait(event)

    def track(self, work: asyncio.Future[Any]) -> None:
        """Work an adapter started for this runtime (an API call in flight, whose answer it
        will :meth:`submit`). On a ManualClock, :meth:`run` lets tracked work finish before
        it moves virtual time on, so an answer arrives at the virtual time it was asked for;
        a live clock needs no such wait."""
        self._tracked.add(work)
        work.add_done_callback(self._tracked.discard)

    def _waiting_on_io(self) -> bool:
        return bool(self._tracked) and isinstance(self.clock, ManualClock)

    def stop(self) -> None:
        """Ask :meth:`run` to return once it has handled what it already has."""
        self._stopping = True
        self._inbox_queue().put_nowait(None)

    def _inbox_queue(self) -> asyncio.Queue[Event | None]:
        if self._inbox is None:
            self._inbox = asyncio.Queue()
        return self._inbox

    async def run(self, *, until: float | None = None) -> None:
        """Serve events from :meth:`submit` and fire timers on time, sleeping (on the
        runtime's clock) until the next deadline or the next event. Returns after
        :meth:`stop`, or once the clock has reached ``until`` with nothing left to handle."""
        inbox = self._inbox_queue()
        clock = self.clock
        while True:
            self.run_due()
            while not inbox.empty():
                item = inbox.get_nowait()
                if item is not None:
                    self.dispatch(item)
            if self._stopping:  # reset here, not on entry: a stop() made before run() counts
                self._stopping = False
                return
            now = clock.now()
            if until is not None and now >= until and not self._waiting_on_io():
                return
            due = self.timers.next_due()
            wait = math.inf if due is None else max(0.0, due - now)
            if until is not None:
                wait = min(wait, until - now)
            item = await self._wait(inbox, wait)
            if item is not None:
                self.dispatch(item)

    async def _wait(self, inbox: asyncio.Queue[Event | None], wait: float) -> Event | None:
        if wait == math.inf and not self._waiting_on_io():
            return await inbox.get()
        getter = asyncio.ensure_future(inbox.get())
        if self._waiting_on_io():  # virtual time stands still until tracked work is done
            sleeper: asyncio.Future[Any] = asyncio.ensure_future(
                asyncio.wait(set(self._tracked)))
        else:
            sleeper = asyncio.ensure_future(self.clock.sleep(wait))
        await asyncio.wait((getter, sleeper), return_when=asyncio.FIRST_COMPLETED)
        if not sleeper.done():
            sleeper.cancel()
        if getter.done():
            return getter.result()
        getter.cancel()
        return None
