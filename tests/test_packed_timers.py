"""The timer queue keeps its timers packed (issue 12: an idle recording session in under
1 KiB): a slot of unboxed columns each, and one integer key each in the heap, whose order is
the (deadline, arming number) order. What fires, when and in which order is checked against
references in test_clock_timers.py and test_timer_chain.py; this file holds the packing."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recstate.timers import _SEQ_LIMIT, Timer, TimerQueue, _key, _unkey

_dues = st.floats(allow_nan=False)
_seqs = st.integers(0, _SEQ_LIMIT - 1)
_slots = st.integers(0, (1 << 28) - 1)


@settings(max_examples=300, derandomize=True)
@given(_dues, _seqs, _slots, _dues, _seqs, _slots)
def test_keys_order_as_deadline_then_arming_number(d1, s1, x1, d2, s2, x2):
    """Negative deadlines, zeros of both signs, infinities and subnormals included."""
    k1, k2 = _key(d1, s1, x1), _key(d2, s2, x2)
    if (d1, s1) != (d2, s2):
        assert (k1 < k2) is ((d1, s1) < (d2, s2))
    assert _unkey(k1) == (d1 + 0.0, s1, x1)


@pytest.mark.parametrize(("earlier", "later"), [
    (-math.inf, -1e308), (-1.0, -0.5), (-5e-324, 0.0), (-0.0, 5e-324), (0.0, 1.0),
    (1.7e9, 1.7e9 + 2 ** -22), (1e308, math.inf)])
def test_keys_of_neighbouring_deadlines_keep_their_order(earlier, later):
    assert _key(earlier, _SEQ_LIMIT - 1, (1 << 28) - 1) < _key(later, 0, 0)


def test_minus_zero_is_the_same_instant_as_zero_and_ties_go_by_arming_order():
    q = TimerQueue()
    q.arm("s", "a", 0.0)
    q.arm("t", "b", -0.0)
    q.arm("u", "c", 0.0)
    assert [q.pop_due(0.0).name for _ in range(3)] == ["a", "b", "c"]  # type: ignore[union-attr]


def test_a_due_time_that_is_not_a_number_is_refused_and_changes_nothing():
    q = TimerQueue()
    q.arm("s", "watchdog", 60.0)
    with pytest.raises(ValueError, match=r"'rollover'.*not a number"):
        q.arm("s", "rollover", math.nan)
    assert [t.name for t in q] == ["watchdog"]
    assert len(q._heap) == len(q._name) == 1


@pytest.mark.parametrize(("seq", "error"), [(-1, ValueError), (_SEQ_LIMIT, ValueError),
                                        (2.0, TypeError)])
def test_a_restored_arming_number_out_of_range_is_refused_and_changes_nothing(seq, error):
    q = TimerQueue()
    q.arm("s", "watchdog", 60.0)
    with pytest.raises(error):
        q.arm("s", "rollover", 90.0, seq=seq)
    assert [(t.name, t.seq) for t in q] == [("watchdog", 0)]
    assert len(q._heap) == len(q._name) == 1
    q.arm("s", "rollover", 90.0)
    assert q.get("s", "rollover").seq == 1  # type: ignore[union-attr]


def test_slots_are_reused_so_a_long_run_keeps_as_many_as_it_has_timers():
    """A month of arming, re-arming earlier, cancelling and firing: the columns stay the
    size of the most timers held at once, not of all timers ever armed."""
    q = TimerQueue()
    now = 0.0
    for i in range(5000):
        key = f"s{i % 50}"
        q.arm(key, "answer", now + 5)
        q.cancel(key, "answer")
        q.arm(key, "watchdog", now + 60)
        q.arm(key, "watchdog", now + 30)  # earlier: a new slot, the old one dead
        q.arm(key, "rollover", now + 90, every=90)
        now += 1
        while q.pop_due(now) is not None:
            pass
        if i % 7 == 0:
            q.cancel_session(key)
    assert len(q) <= 100
    assert len(q._name) <= 400
    assert len(q._due) == len(q._seqs) == len(q._next) == len(q._session) == len(q._name)
    free = set(q._free)
    assert len(free) == len(q._free)  # no slot freed twice
    assert all(q._name[slot] is None for slot in free)
    keyed = {key & ((1 << 28) - 1) for key in q._heap}
    assert not keyed & free  # a key always names a slot that is not free
    assert len(keyed) == len(q._heap)  # and one key a slot


def test_a_slot_freed_and_taken_by_another_session_does_not_mix_their_timers():
    q = TimerQueue()
    q.arm("s", "watchdog", 10.0, payload={"for": "s"})
    assert q.pop_due(10.0) == Timer("s", "watchdog", 10.0, {"for": "s"})
    q.arm("t", "answer", 20.0)  # the freed slot
    assert [_unkey(key)[2] for key in q._heap] == [0]
    assert q.for_session("s") == []
    assert q.get("s", "watchdog") is None
    assert q.for_session("t") == [Timer("t", "answer", 20.0, seq=1)]
    assert q.cancel_session("s") == 0
    assert q.pop_due(20.0) == Timer("t", "answer", 20.0, seq=1)


def test_heartbeats_change_no_key_and_take_no_slot():
    """A heartbeat moves the watchdog's columns only (issue 12: a heap push, or a boxed
    number, per heartbeat was the cost); the key follows once, when it reaches the top."""
    q = TimerQueue()
    for i in range(100):
        q.arm(f"s{i}", "rollover", 5400.0, every=5400.0)
        q.arm(f"s{i}", "watchdog", 60.0)
    heap, slots = list(q._heap), len(q._name)
    for t in range(1, 50):
        for i in range(100):
            assert q.push_back(f"s{i}", "watchdog", 60.0 + t)
    assert q._heap == heap
    assert len(q._name) == slots
    assert q.next_due() == 109.0  # the first watchdog's key raised to its own deadline
    assert q.pop_due(108.0) is None
    fired = q.pop_due(109.0)
    assert fired is not None
    assert (fired.session, fired.name, fired.seq) == ("s0", "watchdog", 200 + 48 * 100)


def test_re_arming_at_the_same_instant_with_an_earlier_restored_number_is_not_in_place():
    """(due, seq) earlier than the timer stands, though at the same instant: a new key, so
    it fires before a timer numbered between the two (in place, its key would stay later
    than its own arming number)."""
    q = TimerQueue()
    q.arm("s", "a", 10.0, seq=5)
    q.arm("t", "b", 10.0, seq=3)
    q.arm("s", "a", 10.0, seq=2)  # a restore's number
    fired = [q.pop_due(10.0) for _ in range(2)]
    assert [(t.session, t.seq) for t in fired if t is not None] == [("s", 2), ("t", 3)]
    assert q.pop_due(10.0) is None


def test_more_timers_at_once_than_a_key_has_slots_for_is_refused_and_changes_nothing(
        monkeypatch):
    """At most 2**28 timers at once (a key's slot field): the next one is refused with an
    OverflowError that says so, before it is armed. Shown with a field of four slots."""
    import recstate.timers as timers

    monkeypatch.setattr(timers, "_SLOT_MASK", 3)
    q = TimerQueue()
    for i in range(4):
        q.arm(f"s{i}", "watchdog", 60.0 + i)
    with pytest.raises(OverflowError, match="more than 4 timers at once"):
        q.arm("s4", "watchdog", 64.0)
    assert (len(q), len(q._heap), len(q._name)) == (4, 4, 4)
    assert q.for_session("s4") == []
    assert q.pop_due(60.0) == Timer("s0", "watchdog", 60.0)
    q.arm("s4", "watchdog", 64.0)  # a slot freed: taken again
    assert [t.session for t in q] == ["s1", "s2", "s3", "s4"]
