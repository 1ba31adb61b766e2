"""Clocks: where the Runtime reads "now".

The Runtime never reads the wall clock itself, so the same machines run live (SystemClock),
in virtual time (ManualClock) and in replay (a ManualClock moved to each trace line's time).
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ManualClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """What the Runtime needs of a clock: the time now, and a way to wait for a deadline."""

    def now(self) -> float:
        """Unix seconds."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time (the asyncio driver's idle wait)."""
        ...


class SystemClock:
    """The wall clock, read through ``time.time()`` so that freezegun's ``freeze_time``,
    ``tick`` and ``move_to`` move it."""

    __slots__ = ()

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A clock that moves only when told: simulation in virtual time, and replay.

    ``sleep`` does not wait: it lets other tasks run once, then jumps ahead, so an asyncio
    driver on a ManualClock runs a whole simulated day in milliseconds.
    """

    __slots__ = ("_now",)

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def set(self, t: float) -> None:
        """Move to ``t``. Time never runs backwards: that would reorder timers."""
        t = float(t)
        if t < self._now:
            raise ValueError(
                f"ManualClock cannot go back from {self._now} to {t}: "
                "events must be given in time order"
            )
        self._now = t

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"ManualClock.advance takes a duration >= 0, got {seconds}")
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)
        if seconds > 0:
            self._now += seconds

    def __repr__(self) -> str:
        return f"ManualClock({self._now!r})"
