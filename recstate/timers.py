"""The timer queue: deadlines as plain data, owned by the Runtime.

No threads (``transitions.extensions.states.Timeout`` starts one per timer, freezegun cannot
move it, and it keeps models alive). A timer is a row of data that a store can keep: session,
name, absolute due time, payload, and the period of a repeating timer. Firing is in due order,
ties in arming order; cancelling marks a heap entry dead (O(1)) instead of searching the heap.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterator
from typing import Any

import attrs

__all__ = ["Timer", "TimerQueue"]


@attrs.define(slots=True, eq=False, repr=True)
class Timer:
    """One armed deadline. ``every`` makes it repeat (the 90-minute rollover)."""

    session: str | None
    name: str
    due: float
    payload: Any = None
    every: float | None = None
    seq: int = 0
    cancelled: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"session": self.session, "name": self.name, "due": self.due,
                "payload": self.payload, "every": self.every}

    def __lt__(self, other: Timer) -> bool:
        return (self.due, self.seq) < (other.due, other.seq)


class TimerQueue:
    """A heap of timers, indexed by session and name: arming a name again replaces the old
    one, and forgetting a session touches only that session's timers."""

    __slots__ = ("_by_session", "_heap", "_seq", "on_sooner", "wake_before")

    def __init__(self) -> None:
        self._heap: list[Timer] = []
        self._by_session: dict[str | None, dict[str, Timer]] = {}
        self._seq = 0
        #: A timer armed due before ``wake_before`` calls ``on_sooner``: the asyncio driver,
        #: waiting for the deadline it computed, sets both so that an input handed in from
        #: elsewhere (a request handler's ``dispatch``) that arms an earlier timer wakes it.
        self.wake_before = math.inf
        self.on_sooner: Callable[[], None] | None = None

    def arm(self, session: str | None, name: str, due: float, payload: Any = None,
            every: float | None = None, seq: int | None = None) -> Timer:
        """Arm (or re-arm: that is how a watchdog is reset) the timer ``name`` of ``session``.

        ``seq`` (a restore's) keeps the timer's place among those due at the same instant;
        timers armed afterwards come after it."""
        if every is not None and every <= 0:
            raise ValueError(f"timer {name!r}: a repeating timer needs every > 0, got {every}")
        if seq is None:
            seq = self._seq
        self._seq = max(self._seq, seq + 1)
        named = self._by_session.get(session)
        if named is None:
            named = self._by_session[session] = {}
        old = named.get(name)
        if old is not None:
            old.cancelled = True
        timer = Timer(session, name, float(due), payload, every, seq)
        named[name] = timer
        heapq.heappush(self._heap, timer)
        if due < self.wake_before and self.on_sooner is not None:
            self.on_sooner()
        return timer

    def cancel(self, session: str | None, name: str) -> bool:
        named = self._by_session.get(session)
        timer = named.pop(name, None) if named is not None else None
        if timer is None:
            return False
        timer.cancelled = True
        if not named:
            del self._by_session[session]
        return True

    def cancel_session(self, session: str) -> int:
        """Cancel every timer of ``session``: O(its timers), whatever the number of sessions."""
        named = self._by_session.pop(session, {})
        for timer in named.values():
            timer.cancelled = True
        return len(named)

    def get(self, session: str | None, name: str) -> Timer | None:
        named = self._by_session.get(session)
        return named.get(name) if named is not None else None

    def next_due(self) -> float | None:
        heap = self._heap
        while heap and heap[0].cancelled:
            heapq.heappop(heap)
        return heap[0].due if heap else None

    def pop_due(self, now: float) -> Timer | None:
        """The earliest live timer due at or before ``now``, removed (a repeating one re-armed)."""
        heap = self._heap
        while heap:
            timer = heap[0]
            if timer.cancelled:
                heapq.heappop(heap)
                continue
            if timer.due > now:
                return None
            heapq.heappop(heap)
            if timer.every is not None:
                self.arm(timer.session, timer.name, timer.due + timer.every, timer.payload,
                         timer.every)
            else:
                named = self._by_session.get(timer.session)
                if named is not None and named.get(timer.name) is timer:
                    del named[timer.name]
                    if not named:
                        del self._by_session[timer.session]
            return timer
        return None

    def for_session(self, session: str) -> list[Timer]:
        return sorted(self._by_session.get(session, {}).values())

    def __iter__(self) -> Iterator[Timer]:
        return iter(sorted(t for named in self._by_session.values() for t in named.values()))

    def __len__(self) -> int:
        return sum(len(named) for named in self._by_session.values())
