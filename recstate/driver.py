"""The asyncio driver: :meth:`run` serves events handed in with :meth:`submit` and fires
timers on time, sleeping on the runtime's clock until the next deadline or the next event.

Whatever hands an input in wakes it when that changes the next deadline: :meth:`submit`
through the inbox, and a :meth:`~recstate.scheduling.Scheduling.dispatch` made elsewhere on
the loop (a request handler, an adapter's answer) through the timer queue, which calls back
when a timer is armed before the deadline the driver is waiting for.

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
    _waker: asyncio.Future[None] | None
    _running: int

    def submit(self, event: Event) -> None:
        """Give an event to :meth:`run` from a coroutine or callback on the same loop."""
        self._inbox_queue().put_nowait(event)

    def track(self, work: asyncio.Future[Any]) -> None:
        """Work an adapter started for this runtime (an API call in flight, whose answer it
        will :meth:`submit`). On a ManualClock, :meth:`run` lets tracked work finish before
        it moves virtual time on, so an answer arrives at the virtual time it was asked for;
        a live clock needs no such wait. Closing the runtime waits for it (bounded)."""
        self._tracked.add(work)
        work.add_done_callback(self._tracked.discard)

    @property
    def running(self) -> bool:
        """Whether :meth:`run` is serving this runtime now."""
        return self._running > 0

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

    def _wake(self) -> None:
        """A timer was armed before the deadline :meth:`run` sleeps towards: wake it."""
        waker = self._waker
        if waker is not None and not waker.done():
            waker.set_result(None)

    async def run(self, *, until: float | None = None) -> None:
        """Serve events from :meth:`submit` and fire timers on time, sleeping (on the
        runtime's clock) until the next deadline or the next event. Returns after
        :meth:`stop`, or once the clock has reached ``until`` with nothing left to handle."""
        inbox = self._inbox_queue()
        clock = self.clock
        self._running += 1
        try:
            while True:
                self.run_due()
                while not inbox.empty():
                    item = inbox.get_nowait()
                    if item is not None:
                        self.dispatch(item)
                if self._stopping:  # reset here, not on entry: a stop() made before run()
                    self._stopping = False
                    return
                now = clock.now()
                if until is not None and now >= until and not self._waiting_on_io():
                    return
                due = self.timers.next_due()
                wait = math.inf if due is None else max(0.0, due - now)
                if until is not None:
                    wait = min(wait, until - now)
                item = await self._wait(inbox, now, wait)
                if item is not None:
                    self.dispatch(item)
        finally:
            self._running -= 1

    async def _wait(self, inbox: asyncio.Queue[Event | None], now: float, wait: float
                    ) -> Event | None:
        getter = asyncio.ensure_future(inbox.get())
        waker: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiting: set[asyncio.Future[Any]] = {getter, waker}
        sleeper: asyncio.Future[Any] | None = None
        if self._waiting_on_io():  # virtual time stands still until tracked work is done
            sleeper = asyncio.ensure_future(asyncio.wait(set(self._tracked)))
        elif wait != math.inf:
            sleeper = asyncio.ensure_future(self.clock.sleep(wait))
        if sleeper is not None:
            waiting.add(sleeper)
        timers = self.timers
        self._waker = waker
        timers.wake_before, timers.on_sooner = now + wait, self._wake
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timers.wake_before, timers.on_sooner = math.inf, None
            self._waker = None
            if sleeper is not None and not sleeper.done():
                sleeper.cancel()
            waker.cancel()
        if getter.done():
            return getter.result()
        getter.cancel()
        return None

    async def settle(self, until: float | None = None) -> None:
        """Handle everything there is: what was submitted, adapters' work in flight (waited
        for) and what it answers, and every timer due; on a ManualClock, move on through
        each timer due up to ``until`` (and to ``until``). Returns when nothing is queued,
        in flight or due before ``until`` (before now, when None). Tests use it instead of
        sleeping; time does not move on a live clock."""
        inbox = self._inbox_queue()
        clock = self.clock
        while True:
            self.run_due()
            stop = False
            while not inbox.empty():
                item = inbox.get_nowait()
                if item is None:  # a stop() for run(): leave it there
                    stop = True
                    break
                self.dispatch(item)
            if stop:
                inbox.put_nowait(None)
            if self._tracked:
                await asyncio.wait(set(self._tracked))
                continue
            await asyncio.sleep(0)  # tasks an adapter scheduled get to start
            if self._tracked or (not inbox.empty() and not stop):
                continue
            if until is not None and isinstance(clock, ManualClock):
                due = self.timers.next_due()
                if due is not None and due <= until:
                    if due > clock.now():
                        clock.set(due)
                    continue
                if until > clock.now():
                    clock.set(until)
                    continue
            due = self.timers.next_due()
            if due is not None and due <= clock.now():
                continue
            return
