"""The timer queue: deadlines as plain data, owned by the Runtime.

No threads (``transitions.extensions.states.Timeout`` starts one per timer, freezegun cannot
move it, and it keeps models alive). A timer is a row of data that a store can keep: session,
name, absolute due time, payload, and the period of a repeating timer. Firing is in due order,
ties in arming order; cancelling marks a heap entry dead (O(1)) instead of searching the heap.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
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
    """A heap of timers keyed by (session, name): arming a name again replaces the old one."""

    __slots__ = ("_by_key", "_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[Timer] = []
        self._by_key: dict[tuple[str | None, str], Timer] = {}
        self._seq = itertools.count()

    def arm(self, session: str | None, name: str, due: float, payload: Any = None,
            every: float | None = None) -> Timer:
        """Arm (or re-arm: that is how a watchdog is reset) the timer ``name`` of ``session``."""
        if every is not None and every <= 0:
            raise ValueError(f"timer {name!r}: a repeating timer needs every > 0, got {every}")
        key = (session, name)
        old = self._by_key.get(key)
        if old is not None:
            old.cancelled = True
        timer = Timer(session, name, float(due), payload, every, next(self._seq))
        self._by_key[key] = timer
        heapq.heappush(self._heap, timer)
        return timer

    def cancel(self, session: str | None, name: str) -> bool:
        timer = self._by_key.pop((session, name), None)
        if timer is None:
            return False
        timer.cancelled = True
        return True

    def cancel_session(self, session: str) -> int:
        keys = [k for k in self._by_key if k[0] == session]
        for key in keys:
            self._by_key.pop(key).cancelled = True
        return len(keys)

    def get(self, session: str | None, name: str) -> Timer | None:
        return self._by_key.get((session, name))

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
            key = (timer.session, timer.name)
            if timer.every is not None:
                self.arm(timer.session, timer.name, timer.due + timer.every, timer.payload,
                         timer.every)
            elif self._by_key.get(key) is timer:
                del self._by_key[key]
            return timer
        return None

    def for_session(self, session: str) -> list[Timer]:
        return sorted(t for k, t in self._by_key.items() if k[0] == session)

    def __iter__(self) -> Iterator[Timer]:
        return iter(sorted(self._by_key.values()))

    def __len__(self) -> int:
        return len(self._by_key)
