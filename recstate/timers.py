"""The timer queue: deadlines as plain data, owned by the Runtime.

No threads (``transitions.extensions.states.Timeout`` starts one per timer, freezegun cannot
move it, and it keeps models alive). A timer is a row of data that a store can keep: session,
name, absolute due time, payload, and the period of a repeating timer. Firing is in due order,
ties in arming order; cancelling marks a heap entry dead (O(1)) instead of searching the heap.

The queue keeps its timers *packed*, not as an object each (issue 12: an idle recording
session's two timers cost 462 bytes as objects, with their boxed deadlines and arming numbers):
a timer is a slot, an index into parallel columns (``array`` columns for the deadline, the
arming number and the session's chain, which hold the numbers unboxed; lists for the session,
name and payload, which hold references; a name of None marks a cancelled or free slot). The
heap holds one Python ``int`` per timer, its *key*: the deadline's bits (in an order-preserving
form), the arming number and the slot, so the heap compares keys in C, one integer comparison
each, and a key names its slot. :class:`Timer` is what the queue answers: a record of one
timer's row at the time it was asked for, not a live handle.

Re-arming a timer later than it stands (a watchdog that every heartbeat resets) is lazy: the
slot's deadline and arming number change in place and its heap key stays where it is, keyed by
the deadline it was pushed with, which is never later than the timer's own. When that key
reaches the top of the heap it is pushed again at the timer's current deadline. A heartbeat
then costs two stores into arrays, not a heap push (and no number is boxed); a watchdog fed
every few seconds goes through the heap once a timeout. What fires, when and in which order is
what eager re-arming gives: a key at the top that is the timer's own is the earliest live
deadline, since every other key is at most its timer's deadline. Re-arming earlier than the
timer stands replaces it as before (a new slot and key, the old one dead).
"""

from __future__ import annotations

import heapq
import math
import operator
import struct
from array import array
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["Timer", "TimerQueue"]

#: A key is ``deadline bits << _DUE_SHIFT | seq << _SLOT_BITS | slot``.
_SLOT_BITS = 28
_SEQ_BITS = 48
_DUE_SHIFT = _SLOT_BITS + _SEQ_BITS
_SLOT_MASK = (1 << _SLOT_BITS) - 1
_SEQ_LIMIT = 1 << _SEQ_BITS
_MAGNITUDE = 0x7FFF_FFFF_FFFF_FFFF
_pack_double = struct.Struct("<d").pack
_unpack_double = struct.Struct("<d").unpack
_pack_long = struct.Struct("<q").pack
_unpack_long = struct.Struct("<q").unpack


def _bits(due: float) -> int:
    """The float's bits as a signed integer in the floats' own order (negative floats' bits
    mirrored); -0.0 as 0.0, which it equals."""
    bits: int = _unpack_long(_pack_double(due + 0.0))[0]
    return bits ^ _MAGNITUDE if bits < 0 else bits


def _key(due: float, seq: int, slot: int) -> int:
    if seq >= _SEQ_LIMIT:  # (2**48 armings: centuries of heartbeats)
        raise OverflowError(f"timer arming number {seq} is over 2**{_SEQ_BITS} - 1")
    return _bits(due) << _DUE_SHIFT | seq << _SLOT_BITS | slot


def _key_due(key: int) -> float:
    """The deadline a key was pushed with."""
    bits = key >> _DUE_SHIFT
    due: float = _unpack_double(_pack_long(bits ^ _MAGNITUDE if bits < 0 else bits))[0]
    return due


def _unkey(key: int) -> tuple[float, int, int]:
    """(deadline, arming number, slot) of a key, as it was pushed."""
    return _key_due(key), key >> _SLOT_BITS & (_SEQ_LIMIT - 1), key & _SLOT_MASK


class Timer:
    """One timer's row, as the queue answered it: ``every`` makes it repeat (the 90-minute
    rollover). A record, not a handle: re-arming or cancelling the timer changes the queue,
    not a ``Timer`` answered before."""

    __slots__ = ("cancelled", "due", "every", "name", "payload", "seq", "session")

    def __init__(self, session: str | None, name: str, due: float, payload: Any = None,
                 every: float | None = None, seq: int = 0, cancelled: bool = False) -> None:
        self.session = session
        self.name = name
        self.due = due
        self.payload = payload
        self.every = every
        self.seq = seq
        self.cancelled = cancelled

    def _row(self) -> tuple[Any, ...]:
        return (self.session, self.name, self.due, self.payload, self.every, self.seq,
                self.cancelled)

    def __eq__(self, other: object) -> bool:
        if type(other) is not Timer:
            return NotImplemented
        return self._row() == other._row()

    __hash__ = None  # type: ignore[assignment]  # (a row with a payload: compared, not hashed)

    def __repr__(self) -> str:
        return (f"Timer(session={self.session!r}, name={self.name!r}, due={self.due!r}, "
                f"payload={self.payload!r}, every={self.every!r}, seq={self.seq!r}, "
                f"cancelled={self.cancelled!r})")

    def to_dict(self) -> dict[str, Any]:
        return {"session": self.session, "name": self.name, "due": self.due,
                "payload": self.payload, "every": self.every}


class TimerQueue:
    """A heap of timers, indexed by session and name: arming a name again replaces the old
    one, and forgetting a session touches only that session's timers.

    A session's timers are a chain of slots (``_next``) from ``_by_session[key]``: a session
    has a handful, and a dict each cost more memory than its timers. The chain also holds
    the session's cancelled timers whose keys are not popped yet: arming a timer due no
    earlier than one of them takes its slot over (its key, no later than the new deadline,
    is pushed again where it belongs when it reaches the top, as a lazily re-armed one is),
    so a state's timer cancelled on exit and the next state's armed on entry leave no dead
    key behind. Timers of no session (the runtime's own) are in a dict by name. A slot is
    freed (and reused) only when its key leaves the heap, so a key always names its timer;
    a slot whose name is None is cancelled (or free)."""

    __slots__ = ("_by_session", "_dead", "_due", "_extra", "_first", "_free", "_global",
                 "_heap", "_name", "_next", "_seq", "_seqs", "_session", "on_sooner",
                 "wake_before")

    def __init__(self) -> None:
        self._heap: list[int] = []
        # The slots' columns: numbers unboxed in arrays, references in lists.
        self._due = array("d")
        self._seqs = array("q")
        self._next = array("i")  # the next slot of the session's chain, -1 at its end
        self._session: list[str | None] = []
        self._name: list[str | None] = []  # None: cancelled, or free
        #: A slot's payload and period in one reference: the period alone (or None) when
        #: there is no payload, else the pair (a tuple there is always the pair: a period is
        #: a number), as most timers have neither and a rollover only its period.
        self._extra: list[Any] = []
        self._free: list[int] = []
        self._by_session: dict[str, int] = {}
        self._global: dict[str, int] = {}
        self._seq = 0
        #: The earliest key's deadline (inf when the heap is empty), which dispatch reads
        #: before every input; it changes only when the heap does.
        self._first = math.inf
        #: Keys of cancelled timers not yet popped (see :meth:`_buried`).
        self._dead = 0
        #: A timer armed due before ``wake_before`` calls ``on_sooner``: the asyncio driver,
        #: waiting for the deadline it computed, sets both so that an input handed in from
        #: elsewhere (a request handler's ``dispatch``) that arms an earlier timer wakes it.
        self.wake_before = math.inf
        self.on_sooner: Callable[[], None] | None = None

    # ---- slots ------------------------------------------------------------------------------
    def _take(self, session: str | None, name: str, due: float, seq: int, extra: Any) -> int:
        """A free slot (or a new one) holding a live timer's row."""
        if self._free:
            slot = self._free.pop()
            self._due[slot] = due
            self._seqs[slot] = seq
            self._next[slot] = -1
            self._session[slot] = session
            self._name[slot] = name
            self._extra[slot] = extra
            return slot
        slot = len(self._name)
        if slot > _SLOT_MASK:
            raise OverflowError(f"more than {_SLOT_MASK + 1} timers at once")
        self._due.append(due)
        self._seqs.append(seq)
        self._next.append(-1)
        self._session.append(session)
        self._name.append(name)
        self._extra.append(extra)
        return slot

    def _release(self, slot: int) -> None:
        """The slot's key has left the heap: its row is forgotten and the slot reused."""
        self._session[slot] = self._name[slot] = self._extra[slot] = None
        self._free.append(slot)

    def _record(self, slot: int, cancelled: bool = False) -> Timer:
        extra = self._extra[slot]
        payload, every = extra if type(extra) is tuple else (None, extra)
        name = self._name[slot]
        assert name is not None
        return Timer(self._session[slot], name, self._due[slot], payload, every,
                     self._seqs[slot], cancelled)

    # ---- arming -----------------------------------------------------------------------------
    def arm(self, session: str | None, name: str, due: float, payload: Any = None,
            every: float | None = None, seq: int | None = None) -> None:
        """Arm (or re-arm: that is how a watchdog is reset) the timer ``name`` of ``session``.

        ``seq`` (a restore's) keeps the timer's place among those due at the same instant;
        timers armed afterwards come after it."""
        if every is not None and not every > 0:
            raise ValueError(f"timer {name!r}: a repeating timer needs every > 0, got {every}")
        due = float(due)
        if due != due:
            raise ValueError(f"timer {name!r}: its due time is not a number (nan)")
        if seq is None:
            seq = self._seq
            self._seq = seq + 1
        elif not 0 <= (seq := operator.index(seq)) < _SEQ_LIMIT:
            raise ValueError(f"timer {name!r}: its arming number {seq} is outside 0 to "
                             f"2**{_SEQ_BITS} - 1 (a snapshot's seq is one this queue gave)")
        elif seq >= self._seq:
            self._seq = seq + 1
        extra = every if payload is None else (payload, every)
        names, dues, seqs = self._name, self._due, self._seqs
        old = spare = -1
        if session is None:
            old = self._global.get(name, -1)
        else:
            slot = self._by_session.get(session, -1)
            nxt = self._next
            while slot >= 0:
                other = names[slot]
                if other == name:
                    old = slot
                    break
                if other is None and spare < 0:  # cancelled: a spare if due no later
                    own = dues[slot]
                    if due > own or (due == own and seq > seqs[slot]):
                        spare = slot
                slot = nxt[slot]
        if old >= 0:
            own = dues[old]
            if due > own or (  # (the same number again, a restore's: a new key, equal)
                    due == own and seq > seqs[old]):
                # Later than it stands: its key (at or before its deadline) stays in the
                # heap, and is pushed again at the new deadline when it reaches the top.
                dues[old] = due
                seqs[old] = seq
                self._extra[old] = extra
                if due < self.wake_before and self.on_sooner is not None:
                    self.on_sooner()
                return
            names[old] = None  # earlier: replaced (it stays in the chain, a spare)
            if session is None:
                del self._global[name]
        if spare >= 0:  # a cancelled timer of this session takes the new deadline
            names[spare] = name
            dues[spare] = due
            seqs[spare] = seq
            self._extra[spare] = extra
            self._dead -= 1
        else:
            slot = self._take(session, name, due, seq, extra)
            if session is None:
                self._global[name] = slot
            else:
                self._next[slot] = self._by_session.get(session, -1)
                self._by_session[session] = slot
            heapq.heappush(self._heap, _key(due, seq, slot))
            if due < self._first:
                self._first = due
        if old >= 0:  # after the spare is taken: a rebuild drops dead keys
            self._buried(1)
        if due < self.wake_before and self.on_sooner is not None:
            self.on_sooner()

    def push_back(self, session: str, name: str, due: float) -> bool:
        """``arm(session, name, due)`` when the live timer ``name`` of ``session`` stands no
        later than ``due`` (a watchdog that a heartbeat resets), the common case made cheap:
        it moves in place (see the module's docstring); False, changing nothing, when there
        is no such timer or ``due`` is earlier: then :meth:`arm`."""
        slot = self._by_session.get(session, -1)
        names = self._name
        while slot >= 0:
            if names[slot] == name:
                dues = self._due
                if due < dues[slot]:  # (a new seq comes after the timer's: a tie is later)
                    return False
                dues[slot] = due
                self._seqs[slot] = seq = self._seq
                self._seq = seq + 1
                extra = self._extra
                if extra[slot] is not None:
                    extra[slot] = None
                if due < self.wake_before and self.on_sooner is not None:
                    self.on_sooner()
                return True
            slot = self._next[slot]
        return False

    # ---- finding and forgetting ----------------------------------------------------------------
    def _find(self, session: str | None, name: str) -> int:
        if session is None:
            return self._global.get(name, -1)
        names, nxt = self._name, self._next
        slot = self._by_session.get(session, -1)
        while slot >= 0 and names[slot] != name:
            slot = nxt[slot]
        return slot

    def _unlink(self, slot: int) -> None:
        """Take ``slot`` out of its session's chain (or the dict of no session's)."""
        session = self._session[slot]
        if session is None:
            name = self._name[slot]
            if name is not None and self._global.get(name) == slot:
                del self._global[name]
            return
        nxt = self._next
        head = self._by_session.get(session, -1)
        if head == slot:
            if nxt[slot] < 0:
                del self._by_session[session]
            else:
                self._by_session[session] = nxt[slot]
        else:
            while head >= 0 and nxt[head] != slot:
                head = nxt[head]
            if head >= 0:
                nxt[head] = nxt[slot]
        nxt[slot] = -1

    def cancel(self, session: str | None, name: str) -> bool:
        slot = self._find(session, name)
        if slot < 0:
            return False
        self._name[slot] = None  # it stays in its session's chain while keyed
        if session is None:
            del self._global[name]
        self._buried(1)
        return True

    def cancel_session(self, session: str) -> int:
        """Cancel every timer of ``session``: O(its timers), whatever the number of sessions."""
        names = self._name
        if session is None:  # the runtime's own timers: all of them
            named, self._global = list(self._global.values()), {}
            for slot in named:
                names[slot] = None
            if named:
                self._buried(len(named))
            return len(named)
        slot = self._by_session.pop(session, -1)
        nxt = self._next
        count = 0
        while slot >= 0:
            if names[slot] is not None:
                names[slot] = None
                count += 1
            nxt[slot], slot = -1, nxt[slot]
        if count:
            self._buried(count)
        return count

    def _buried(self, n: int) -> None:
        """``n`` more dead keys: once they are over a quarter of the heap (a session whose
        timers were cancelled leaves them until they reach the top, an hour later for a
        retention timer), the heap is rebuilt without them. O(1) a cancel, amortised."""
        self._dead += n
        heap = self._heap
        if self._dead > 64 and self._dead * 4 > len(heap):
            names = self._name
            live = []
            for key in heap:
                slot = key & _SLOT_MASK
                if names[slot] is None:
                    self._unlink(slot)
                    self._release(slot)
                else:
                    live.append(key)
            heap[:] = live
            heapq.heapify(heap)
            self._dead = 0
            self._first = _key_due(heap[0]) if heap else math.inf

    def get(self, session: str | None, name: str) -> Timer | None:
        slot = self._find(session, name)
        return None if slot < 0 else self._record(slot)

    # ---- what is due ------------------------------------------------------------------------
    def _settle(self) -> int:
        """The top key's slot once it is live and keyed at its own deadline (-1 when the heap
        is empty): dead keys are dropped and timers re-armed later are pushed again where
        they belong."""
        heap, names = self._heap, self._name
        while heap:
            key = heap[0]
            slot = key & _SLOT_MASK
            if names[slot] is None:
                heapq.heappop(heap)
                self._dead -= 1
                self._unlink(slot)
                self._release(slot)
                continue
            own = _key(self._due[slot], self._seqs[slot], slot)
            if own != key:
                heapq.heapreplace(heap, own)  # its key, raised: sifted down from the top
            else:
                self._first = self._due[slot]
                return slot
        self._first = math.inf
        return -1

    def any_due(self, now: float) -> bool:
        """Whether a live timer is due at ``now`` (what dispatch asks before every input):
        one comparison when the earliest key is later."""
        if self._first > now:
            return False
        return self._settle() >= 0 and self._first <= now

    def next_due(self) -> float | None:
        return None if self._settle() < 0 else self._first

    def pop_due(self, now: float) -> Timer | None:
        """The earliest live timer due at or before ``now``, removed (a repeating one re-armed)."""
        if self._first > now:  # no key is at or before now: none is due
            return None
        slot = self._settle()
        if slot < 0 or self._first > now:
            return None
        heap = self._heap
        heapq.heappop(heap)
        self._first = _key_due(heap[0]) if heap else math.inf
        self._unlink(slot)
        extra = self._extra[slot]
        every = extra[1] if type(extra) is tuple else extra
        # (a repeating timer's next one is a new timer: this one keeps its due, cancelled)
        timer = self._record(slot, cancelled=every is not None)
        self._release(slot)
        if every is not None:
            self.arm(timer.session, timer.name, timer.due + every, timer.payload, every)
        return timer

    # ---- what is armed ----------------------------------------------------------------------
    def _live(self, session: str | None) -> list[Timer]:
        if session is None:
            return [self._record(slot) for slot in self._global.values()]
        names, nxt = self._name, self._next
        out = []
        slot = self._by_session.get(session, -1)
        while slot >= 0:
            if names[slot] is not None:
                out.append(self._record(slot))
            slot = nxt[slot]
        return out

    def for_session(self, session: str) -> list[Timer]:
        return sorted(self._live(session), key=_order)

    def __iter__(self) -> Iterator[Timer]:
        every = self._live(None)
        for session in self._by_session:
            every.extend(self._live(session))
        return iter(sorted(every, key=_order))

    def __len__(self) -> int:
        return len(self._name) - self._name.count(None)


def _order(timer: Timer) -> tuple[float, int]:
    return timer.due, timer.seq
