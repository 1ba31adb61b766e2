"""The timer queue: deadlines as plain data, owned by the Runtime.

No threads (``transitions.extensions.states.Timeout`` starts one per timer, freezegun cannot
move it, and it keeps models alive). A timer is a row of data that a store can keep: session,
name, absolute due time, payload, and the period of a repeating timer. Firing is in due order,
ties in arming order; cancelling marks a heap entry dead (O(1)) instead of searching the heap.

Re-arming a timer later than it stands (a watchdog that every heartbeat resets) is lazy: the
timer's ``due`` and ``seq`` change in place and its heap entry stays where it is, keyed by the
deadline it was pushed with, which is never later than the timer's own. When that entry
reaches the top of the heap it is pushed again at the timer's current deadline. A heartbeat
then costs two attribute stores, not a heap push (and the dead entry a pop later); a watchdog
fed every few seconds goes through the heap once a timeout. What fires, when and in which
order is what eager re-arming gives: an entry at the top whose key is the timer's own is the
earliest live deadline, since every other entry's key is at most its timer's deadline.
Re-arming earlier than the timer stands replaces it as before (a new entry, the old one dead).
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
        """Reached only when two heap entries tie on (due, seq), which only restored
        timers can (a snapshot's seq kept): such ties keep no order among themselves."""
        return False


def _order(timer: Timer) -> tuple[float, int]:
    return timer.due, timer.seq


class TimerQueue:
    """A heap of timers, indexed by session and name: arming a name again replaces the old
    one, and forgetting a session touches only that session's timers.

    The heap holds ``(due, seq, timer)`` tuples: ordering them is a C comparison of a float
    and then an int (seq is unique), never a call into Python."""

    __slots__ = ("_by_session", "_dead", "_heap", "_seq", "on_sooner", "wake_before")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._by_session: dict[str | None, dict[str, Timer]] = {}
        self._seq = 0
        #: Heap entries of cancelled timers not yet popped (see :meth:`_buried`).
        self._dead = 0
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
            self._seq = seq + 1
        elif seq >= self._seq:
            self._seq = seq + 1
        due = float(due)
        named = self._by_session.get(session)
        if named is None:
            named = self._by_session[session] = {}
        old = named.get(name)
        if old is not None:
            if due > old.due or (due == old.due and seq > old.seq):
                # Later than it stands: its heap entry (keyed at or before its deadline)
                # stays, and is pushed again at the new deadline when it reaches the top.
                old.due, old.seq, old.payload, old.every = due, seq, payload, every
                if due < self.wake_before and self.on_sooner is not None:
                    self.on_sooner()
                return old
            old.cancelled = True
            self._buried(1)
        timer = Timer(session, name, due, payload, every, seq)
        named[name] = timer
        heapq.heappush(self._heap, (due, seq, timer))
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
        self._buried(1)
        return True

    def cancel_session(self, session: str) -> int:
        """Cancel every timer of ``session``: O(its timers), whatever the number of sessions."""
        named = self._by_session.pop(session, {})
        for timer in named.values():
            timer.cancelled = True
        if named:
            self._buried(len(named))
        return len(named)

    def _buried(self, n: int) -> None:
        """``n`` more dead entries: once they are over a quarter of the heap (a session whose
        timers were cancelled leaves them until they reach the top, an hour later for a
        retention timer), the heap is rebuilt without them. O(1) a cancel, amortised."""
        self._dead += n
        heap = self._heap
        if self._dead > 64 and self._dead * 4 > len(heap):
            heap[:] = [entry for entry in heap if not entry[2].cancelled]
            heapq.heapify(heap)
            self._dead = 0

    def get(self, session: str | None, name: str) -> Timer | None:
        named = self._by_session.get(session)
        return named.get(name) if named is not None else None

    def _settle(self) -> tuple[float, int, Timer] | None:
        """The top entry once it is live and keyed at its timer's deadline: dead entries are
        dropped and entries of timers re-armed later are pushed again where they belong."""
        heap = self._heap
        while heap:
            top = heap[0]
            timer = top[2]
            if timer.cancelled:
                heapq.heappop(heap)
                self._dead -= 1
            elif top[1] != timer.seq or top[0] != timer.due:
                heapq.heapreplace(heap, (timer.due, timer.seq, timer))
            else:
                return top
        return None

    def any_due(self, now: float) -> bool:
        """Whether a live timer is due at ``now`` (what dispatch asks before every input):
        one comparison when the earliest entry is later."""
        heap = self._heap
        if not heap or heap[0][0] > now:
            return False
        top = self._settle()
        return top is not None and top[0] <= now

    def next_due(self) -> float | None:
        top = self._settle()
        return None if top is None else top[0]

    def pop_due(self, now: float) -> Timer | None:
        """The earliest live timer due at or before ``now``, removed (a repeating one re-armed)."""
        heap = self._heap
        if not heap or heap[0][0] > now:  # no entry is keyed at or before now: none is due
            return None
        top = self._settle()
        if top is None or top[0] > now:
            return None
        heapq.heappop(heap)
        timer = top[2]
        named = self._by_session.get(timer.session)
        if named is not None and named.get(timer.name) is timer:
            del named[timer.name]
            if not named and timer.every is None:
                del self._by_session[timer.session]
        if timer.every is not None:  # the next one is a new timer: this one keeps its due
            timer.cancelled = True
            self.arm(timer.session, timer.name, timer.due + timer.every, timer.payload,
                     timer.every)
        return timer

    def for_session(self, session: str) -> list[Timer]:
        return sorted(self._by_session.get(session, {}).values(), key=_order)

    def __iter__(self) -> Iterator[Timer]:
        return iter(sorted((t for named in self._by_session.values() for t in named.values()),
                           key=_order))

    def __len__(self) -> int:
        return sum(len(named) for named in self._by_session.values())
