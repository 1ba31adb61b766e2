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

__all__ = ["Timer", "TimerQueue"]


class Timer(list[float]):
    """One armed deadline. ``every`` makes it repeat (the 90-minute rollover).

    A timer is its own heap entry: a list of two items, the deadline and the arming number
    it was pushed with (``[due, seq]``), which the heap compares in C, as it compares
    tuples; its fields are slots beside them. No tuple and no second object per timer: an
    idle session's two timers are 48 bytes smaller (issue 12). The items differ from
    ``due`` and ``seq`` while a later re-arming waits to be pushed (see
    :class:`TimerQueue`); two entries equal on both compare equal, neither before the
    other (only restored timers, a snapshot's seq kept, can tie)."""

    __slots__ = ("_extra", "cancelled", "due", "name", "next", "seq", "session")

    session: str | None
    name: str
    due: float
    #: ``payload`` and ``every`` in one slot (:func:`_pack`: None when both are, the period
    #: alone when there is no payload, else the pair), as most timers have neither and a
    #: rollover only its period: 8 bytes of every timer (issue 12).
    _extra: Any
    seq: int
    cancelled: bool
    #: The next timer of the same session (a session's timers are a short chain, not a
    #: dict each: see :class:`TimerQueue`).
    next: Timer | None

    # Hashed by identity, as a plain object; ``==`` is the list's (its heap key), which
    # keeps the heap's comparisons in C (an ``__eq__`` of its own would make every one of
    # them a call into Python).
    __hash__ = object.__hash__  # type: ignore[assignment]

    def __init__(self, session: str | None, name: str, due: float, payload: Any = None,
                 every: float | None = None, seq: int = 0, cancelled: bool = False) -> None:
        super().__init__((due, seq))
        self.session = session
        self.name = name
        self.due = due
        self._extra = every if payload is None else (payload, every)
        self.seq = seq
        self.cancelled = cancelled
        self.next = None

    @property
    def payload(self) -> Any:
        extra = self._extra
        return extra[0] if type(extra) is tuple else None

    @payload.setter
    def payload(self, value: Any) -> None:
        self._extra = _pack(value, self.every)

    @property
    def every(self) -> float | None:
        extra = self._extra
        if type(extra) is tuple:
            every: float | None = extra[1]
            return every
        return extra  # type: ignore[no-any-return]

    @every.setter
    def every(self, value: float | None) -> None:
        self._extra = _pack(self.payload, value)

    def __repr__(self) -> str:
        return (f"Timer(session={self.session!r}, name={self.name!r}, due={self.due!r}, "
                f"payload={self.payload!r}, every={self.every!r}, seq={self.seq!r}, "
                f"cancelled={self.cancelled!r})")

    def to_dict(self) -> dict[str, Any]:
        return {"session": self.session, "name": self.name, "due": self.due,
                "payload": self.payload, "every": self.every}


def _pack(payload: Any, every: float | None) -> Any:
    """A timer's ``_extra``: the period alone (or None) when there is no payload, else the
    pair (a tuple there is always the pair: a period is a number)."""
    return every if payload is None else (payload, every)


def _order(timer: Timer) -> tuple[float, int]:
    return timer.due, timer.seq


def _later(due: float, seq: int, timer: Timer) -> bool:
    """Whether (due, seq) comes after the timer's own deadline and arming number."""
    return due > timer.due or (due == timer.due and seq > timer.seq)


class TimerQueue:
    """A heap of timers, indexed by session and name: arming a name again replaces the old
    one, and forgetting a session touches only that session's timers.

    The heap holds the timers themselves, each keyed by its ``[due, seq]`` items: ordering
    them is a C comparison of a float and then an int (seq is unique), never a call into
    Python.

    A session's timers are a chain (``Timer.next``) from ``_by_session[key]``: a session has
    a handful, and a dict each cost more memory than its timers. The chain also holds the
    session's cancelled timers whose heap entries are not popped yet: arming a timer due no
    earlier than one of them takes it over (its entry, keyed no later than the new deadline,
    is pushed again where it belongs when it reaches the top, as a lazily re-armed one is),
    so a state's timer cancelled on exit and the next state's armed on entry leave no dead
    entry behind. Timers of no session (the runtime's own) are in a dict by name."""

    __slots__ = ("_by_session", "_dead", "_first", "_global", "_heap", "_seq", "on_sooner",
                 "wake_before")

    def __init__(self) -> None:
        self._heap: list[Timer] = []
        self._by_session: dict[str, Timer] = {}
        self._global: dict[str, Timer] = {}
        self._seq = 0
        #: The earliest entry's key deadline, ``_heap[0][0]`` (inf when the heap is empty),
        #: which dispatch reads before every input: an item of a list subclass costs three
        #: times an attribute, and this one changes only when the heap does.
        self._first = math.inf
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
        if session is None:
            old = self._global.get(name)
            spare = None
        else:
            old = spare = None
            timer = self._by_session.get(session)
            while timer is not None:
                if not timer.cancelled:
                    if timer.name == name:
                        old = timer
                        break
                elif spare is None and _later(due, seq, timer):
                    spare = timer
                timer = timer.next
        if old is not None:
            if _later(due, seq, old):
                # Later than it stands: its heap entry (keyed at or before its deadline)
                # stays, and is pushed again at the new deadline when it reaches the top.
                old.due, old.seq = due, seq
                old._extra = every if payload is None else (payload, every)
                if due < self.wake_before and self.on_sooner is not None:
                    self.on_sooner()
                return old
            old.cancelled = True  # earlier: replaced (it stays in the chain, a spare)
            if session is None:
                del self._global[name]
        if spare is not None:  # a cancelled timer of this session takes the new deadline
            spare.name, spare.due, spare.seq = name, due, seq
            spare._extra = every if payload is None else (payload, every)
            spare.cancelled = False
            self._dead -= 1
            timer = spare
        else:
            timer = Timer(session, name, due, payload, every, seq)
            if session is None:
                self._global[name] = timer
            else:
                timer.next = self._by_session.get(session)
                self._by_session[session] = timer
            heapq.heappush(self._heap, timer)
            if due < self._first:
                self._first = due
        if old is not None:  # after the spare is taken: a rebuild drops dead entries
            self._buried(1)
        if due < self.wake_before and self.on_sooner is not None:
            self.on_sooner()
        return timer

    def push_back(self, session: str, name: str, due: float) -> bool:
        """``arm(session, name, due)`` when the live timer ``name`` of ``session`` stands no
        later than ``due`` (a watchdog that a heartbeat resets), the common case made cheap:
        it moves in place (see the module's docstring); False, changing nothing, when there
        is no such timer or ``due`` is earlier: then :meth:`arm`."""
        timer = self._by_session.get(session)
        while timer is not None:
            if not timer.cancelled and timer.name == name:
                if due < timer.due:  # (a new seq comes after the timer's: a tie is later)
                    return False
                timer.due, timer.seq, timer._extra = due, self._seq, None
                self._seq += 1
                if due < self.wake_before and self.on_sooner is not None:
                    self.on_sooner()
                return True
            timer = timer.next
        return False

    def _find(self, session: str | None, name: str) -> Timer | None:
        if session is None:
            return self._global.get(name)
        timer = self._by_session.get(session)
        while timer is not None and (timer.cancelled or timer.name != name):
            timer = timer.next
        return timer

    def _unlink(self, timer: Timer) -> None:
        """Take ``timer`` out of its session's chain (or the dict of no session's)."""
        session = timer.session
        if session is None:
            if self._global.get(timer.name) is timer:
                del self._global[timer.name]
            return
        head = self._by_session.get(session)
        if head is timer:
            if timer.next is None:
                del self._by_session[session]
            else:
                self._by_session[session] = timer.next
        else:
            while head is not None and head.next is not timer:
                head = head.next
            if head is not None:
                head.next = timer.next
        timer.next = None

    def cancel(self, session: str | None, name: str) -> bool:
        timer = self._find(session, name)
        if timer is None:
            return False
        timer.cancelled = True  # it stays in its session's chain while its entry is heaped
        if session is None:
            del self._global[name]
        self._buried(1)
        return True

    def cancel_session(self, session: str) -> int:
        """Cancel every timer of ``session``: O(its timers), whatever the number of sessions."""
        if session is None:  # the runtime's own timers: all of them
            named, self._global = list(self._global.values()), {}
            for timer in named:
                timer.cancelled = True
            if named:
                self._buried(len(named))
            return len(named)
        timer = self._by_session.pop(session, None)
        count = 0
        while timer is not None:
            if not timer.cancelled:
                timer.cancelled = True
                count += 1
            timer.next, timer = None, timer.next
        if count:
            self._buried(count)
        return count

    def _buried(self, n: int) -> None:
        """``n`` more dead entries: once they are over a quarter of the heap (a session whose
        timers were cancelled leaves them until they reach the top, an hour later for a
        retention timer), the heap is rebuilt without them. O(1) a cancel, amortised."""
        self._dead += n
        heap = self._heap
        if self._dead > 64 and self._dead * 4 > len(heap):
            live = []
            for timer in heap:
                if timer.cancelled:
                    self._unlink(timer)
                else:
                    live.append(timer)
            heap[:] = live
            heapq.heapify(heap)
            self._dead = 0
            self._first = heap[0][0] if heap else math.inf

    def get(self, session: str | None, name: str) -> Timer | None:
        return self._find(session, name)

    def _settle(self) -> Timer | None:
        """The top timer once it is live and keyed at its own deadline: dead entries are
        dropped and timers re-armed later are pushed again where they belong."""
        heap = self._heap
        while heap:
            top = heap[0]
            if top.cancelled:
                heapq.heappop(heap)
                self._dead -= 1
                if top.session is not None:
                    self._unlink(top)
            elif top[1] != top.seq or top[0] != top.due:
                top[0], top[1] = top.due, top.seq  # its key, raised: sifted down from the top
                heapq.heapreplace(heap, top)
            else:
                self._first = top[0]
                return top
        self._first = math.inf
        return None

    def any_due(self, now: float) -> bool:
        """Whether a live timer is due at ``now`` (what dispatch asks before every input):
        one comparison when the earliest entry is later."""
        if self._first > now:
            return False
        top = self._settle()
        return top is not None and top[0] <= now

    def next_due(self) -> float | None:
        top = self._settle()
        return None if top is None else top[0]

    def pop_due(self, now: float) -> Timer | None:
        """The earliest live timer due at or before ``now``, removed (a repeating one re-armed)."""
        if self._first > now:  # no entry is keyed at or before now: none is due
            return None
        top = self._settle()
        if top is None or top[0] > now:
            return None
        heap = self._heap
        timer = heapq.heappop(heap)
        self._first = heap[0][0] if heap else math.inf
        self._unlink(timer)
        if timer.every is not None:  # the next one is a new timer: this one keeps its due
            timer.cancelled = True
            self.arm(timer.session, timer.name, timer.due + timer.every, timer.payload,
                     timer.every)
        return timer

    def _live(self, session: str | None) -> list[Timer]:
        if session is None:
            return list(self._global.values())
        out = []
        timer = self._by_session.get(session)
        while timer is not None:
            if not timer.cancelled:
                out.append(timer)
            timer = timer.next
        return out

    def for_session(self, session: str) -> list[Timer]:
        return sorted(self._live(session), key=_order)

    def __iter__(self) -> Iterator[Timer]:
        every = list(self._global.values())
        for session in self._by_session:
            every.extend(self._live(session))
        return iter(sorted(every, key=_order))

    def __len__(self) -> int:
        return len(self._global) + sum(len(self._live(s)) for s in self._by_session)
