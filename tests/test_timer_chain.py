"""A session's timers are a chain, and its cancelled ones are taken over by the next timer it
arms (issue 12: an idle recording session in under 1 KiB). What fires, when and in which
order stays what a plain list of deadlines gives; the heap does not keep dead entries that a
later timer could take over."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recstate.timers import Timer, TimerQueue, _unkey


def drain(q: TimerQueue, now: float) -> list[tuple[str | None, str, float]]:
    out = []
    while (timer := q.pop_due(now)) is not None:
        out.append((timer.session, timer.name, timer.due))
    return out


def test_a_state_timer_cancelled_on_exit_leaves_no_entry_when_the_next_is_armed():
    q = TimerQueue()
    q.arm("s", "answer", 30)  # starting: the answer timeout
    assert q.cancel("s", "answer")  # start answered: leaving starting
    q.arm("s", "watchdog", 60)  # recording: the no-data watchdog
    q.arm("s", "rollover", 5400, every=5400)
    assert len(q._heap) == 2  # the watchdog took the answer's entry
    assert len(q) == 2
    assert q.get("s", "answer") is None
    assert [t.name for t in q.for_session("s")] == ["watchdog", "rollover"]
    assert drain(q, 5400) == [("s", "watchdog", 60.0), ("s", "rollover", 5400.0)]


def test_a_cancelled_timer_due_later_than_the_new_one_is_not_taken_over():
    q = TimerQueue()
    q.arm("s", "late", 100)
    q.cancel("s", "late")
    q.arm("s", "early", 50)  # earlier than the dead entry's key: a new entry
    assert len(q._heap) == 2
    assert q.next_due() == 50
    assert drain(q, 200) == [("s", "early", 50.0)]
    assert len(q._heap) == 0


def test_a_taken_over_timer_keeps_its_place_among_timers_due_at_the_same_instant():
    q = TimerQueue()
    q.arm("s", "a", 10)
    q.cancel("s", "a")
    q.arm("t", "b", 20)
    q.arm("s", "c", 20)  # takes a's entry (keyed at 10); armed after b: fires after it
    assert drain(q, 20) == [("t", "b", 20.0), ("s", "c", 20.0)]


def test_another_sessions_cancelled_timer_is_never_taken_over():
    q = TimerQueue()
    q.arm("s", "a", 10)
    q.cancel("s", "a")
    q.arm("t", "b", 20)
    assert len(q._heap) == 2
    assert q.cancel_session("s") == 0  # nothing live left in s
    assert drain(q, 30) == [("t", "b", 20.0)]


def test_cancel_session_counts_its_live_timers_only():
    q = TimerQueue()
    q.arm("s", "a", 10)
    q.arm("s", "b", 20)
    q.cancel("s", "a")
    assert q.cancel_session("s") == 1
    assert q.for_session("s") == []
    assert drain(q, 100) == []


def test_timers_of_no_session_are_kept_by_name():
    q = TimerQueue()
    q.arm(None, "deliver#1", 5, payload="x")
    q.arm(None, "deliver#2", 3)
    q.arm(None, "deliver#1", 7, payload="y")  # re-armed later
    assert q.get(None, "deliver#1").payload == "y"
    assert len(q) == 2
    assert q.cancel(None, "deliver#2")
    assert not q.cancel(None, "deliver#2")
    assert drain(q, 10) == [(None, "deliver#1", 7.0)]


def test_the_heap_rebuilt_without_dead_entries_leaves_no_cancelled_timer_to_take_over():
    q = TimerQueue()
    for i in range(200):
        q.arm(f"s{i}", "a", 1000 + i)
    for i in range(64):
        q.cancel(f"s{i}", "a")
    assert len(q._heap) == 200  # 64 dead: not over 64 yet
    q.cancel("s64", "a")  # the 65th: over 64 and over a quarter of the heap
    assert len(q._heap) == 135
    assert q._dead == 0
    for i in range(65, 129):
        q.cancel(f"s{i}", "a")
    assert len(q._heap) == 135  # 64 dead again (counted from 0 after the rebuild)
    q.cancel("s129", "a")
    assert len(q._heap) == 70
    for i in range(130, 200):
        q.cancel(f"s{i}", "a")
    for i in range(200):
        q.arm(f"s{i}", "b", 2000 + i)  # a timer whose entry was dropped must not be reused
    assert len(q) == 200
    fired = drain(q, 3000)
    assert fired == [(f"s{i}", "b", 2000.0 + i) for i in range(200)]


def test_the_heap_is_rebuilt_once_its_dead_entries_are_over_a_quarter_of_it():
    q = TimerQueue()
    for i in range(400):
        q.arm(f"s{i}", "a", 1000 + i)
    for i in range(100):
        q.cancel(f"s{i}", "a")
    assert len(q._heap) == 400  # 100 dead of 400: a quarter, not over it
    q.cancel("s100", "a")
    assert len(q._heap) == 299
    assert len(q) == 299


def numbered(q: TimerQueue, session: str, name: str, due: float, seq: int | None = None
             ) -> int:
    q.arm(session, name, due, seq=seq)
    timer = q.get(session, name)
    assert timer is not None
    return timer.seq


def test_timers_are_numbered_in_arming_order_from_zero_and_after_a_restored_one():
    q = TimerQueue()
    assert [numbered(q, "s", n, 10) for n in "abc"] == [0, 1, 2]  # a snapshot keeps these
    assert numbered(q, "t", "r", 10, seq=7) == 7  # a restored timer keeps its number
    assert numbered(q, "t", "x", 10) == 8  # and later ones come after it
    assert numbered(q, "t", "y", 10, seq=3) == 3  # an older number moves nothing on
    assert numbered(q, "t", "z", 10) == 9


def test_a_restored_timer_numbered_before_a_cancelled_one_does_not_take_it_over():
    q = TimerQueue()
    q.arm("s", "a", 10, seq=5)
    q.cancel("s", "a")  # its entry stays keyed at (10, 5)
    q.arm("t", "b", 10, seq=4)
    q.arm("s", "c", 10, seq=3)  # (10, 3) is before (10, 5): a new entry, so it fires first
    assert drain(q, 10) == [("s", "c", 10.0), ("t", "b", 10.0)]


def test_rearming_earlier_counts_the_replaced_entry_as_dead():
    q = TimerQueue()
    for i in range(100):
        q.arm(f"s{i}", "a", 1000 + i)
    for i in range(64):
        q.arm(f"s{i}", "a", 500 + i)  # earlier: a new entry, the old one dead
    assert len(q._heap) == 164
    q.arm("s64", "a", 564)  # the 65th dead entry: the heap is rebuilt without them
    assert len(q._heap) == 100
    assert drain(q, 2000)[:2] == [("s0", "a", 500.0), ("s1", "a", 501.0)]


def test_timers_due_at_the_same_instant_with_the_same_number_all_fire():
    q = TimerQueue()  # two restored timers may share (due, seq): their order is not kept
    q.arm("s", "a", 10, seq=2)
    q.arm("t", "b", 10, seq=2)
    q.arm("u", "c", 5)
    fired = drain(q, 10)
    assert fired[0] == ("u", "c", 5.0)
    assert sorted(fired[1:]) == [("s", "a", 10.0), ("t", "b", 10.0)]


def test_cancel_session_of_none_cancels_the_runtimes_own_timers():
    q = TimerQueue()
    q.arm(None, "deliver#1", 5)
    q.arm(None, "~retire:s", 9)
    q.arm("s", "a", 7)
    assert q.cancel_session(None) == 2  # type: ignore[arg-type]
    assert q.cancel_session(None) == 0  # type: ignore[arg-type]
    for i in range(100):
        q.arm(None, f"deliver#{i + 2}", 20 + i)
    assert len(q._heap) == 103  # the two cancelled ones are still there
    assert q.cancel_session(None) == 100  # type: ignore[arg-type]
    assert len(q._heap) == 1  # 102 dead of 103: the heap was rebuilt without them
    assert drain(q, 10) == [("s", "a", 7.0)]


def test_a_watchdog_reset_past_now_is_not_due_although_its_entry_is_keyed_earlier():
    q = TimerQueue()
    q.arm("s", "watchdog", 60)
    q.arm("s", "watchdog", 120)  # reset lazily: its entry stays keyed at 60
    assert not q.any_due(90)
    assert q.pop_due(90) is None
    assert q.next_due() == 120
    assert q.any_due(120)


class Reference:
    """Every arm a new deadline; the earliest (due, arming order) fires. A plain dict."""

    def __init__(self) -> None:
        self.live: dict[tuple[str, str], tuple[float, int]] = {}
        self.n = 0

    def arm(self, session: str, name: str, due: float) -> None:
        self.live[(session, name)] = (float(due), self.n)
        self.n += 1

    def drain(self, now: float) -> list[tuple[str | None, str, float]]:
        due = sorted((v, k) for k, v in self.live.items() if v[0] <= now)
        for _, k in due:
            del self.live[k]
        return [(k[0], k[1], v[0]) for v, k in due]


_ops = st.lists(st.tuples(st.sampled_from(["arm", "arm", "arm", "cancel", "cancel", "drop",
                                           "pop"]),
                          st.integers(0, 59), st.sampled_from("abcd"), st.integers(0, 500)),
                min_size=100, max_size=600)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(_ops)
def test_many_sessions_with_sweeps_fire_what_a_plain_list_fires(ops):
    """Enough sessions and cancels that the heap is rebuilt without its dead entries (over
    64 of them, over a quarter of the heap) while chains hold cancelled timers."""
    q, ref = TimerQueue(), Reference()
    now = 0.0
    for what, n, name, delay in ops:
        session = f"s{n}"
        if what == "arm":
            q.arm(session, name, now + delay)
            ref.arm(session, name, now + delay)
        elif what == "cancel":
            assert q.cancel(session, name) is ((session, name) in ref.live)
            ref.live.pop((session, name), None)
        elif what == "drop":
            count = sum(1 for k in ref.live if k[0] == session)
            assert q.cancel_session(session) == count
            ref.live = {k: v for k, v in ref.live.items() if k[0] != session}
        else:
            now += delay / 25
            assert drain(q, now) == ref.drain(now)
        assert len(q) == len(ref.live)
        assert q._dead >= 0
        assert q._first == (_unkey(q._heap[0])[0] if q._heap else math.inf)  # dispatch reads it
    assert drain(q, now + 1000) == ref.drain(now + 1000)
    assert len(q) == 0


def test_a_timer_is_one_key_in_the_heap_keyed_as_it_was_pushed():
    """No object per timer (issue 12): the heap holds one integer per timer, its deadline,
    arming number and slot as pushed; a later re-arming changes the slot's columns only,
    and the key follows when it reaches the top."""
    q = TimerQueue()
    q.arm("s", "watchdog", 60)
    assert [_unkey(k) for k in q._heap] == [(60.0, 0, 0)]
    q.arm("s", "watchdog", 90)  # later: lazy, the key stays as pushed
    assert [_unkey(k) for k in q._heap] == [(60.0, 0, 0)]
    assert (q._due[0], q._seqs[0]) == (90.0, 1)
    assert q.get("s", "watchdog") == Timer("s", "watchdog", 90.0, seq=1)
    assert q.next_due() == 90.0  # at the top: pushed again at its own deadline
    assert [_unkey(k) for k in q._heap] == [(90.0, 1, 0)]
    assert q.pop_due(90) == Timer("s", "watchdog", 90.0, seq=1)
    assert q._heap == []
    assert q._free == [0]  # its key left the heap: the slot is free for the next timer
    q.arm("t", "answer", 30)
    assert [_unkey(k) for k in q._heap] == [(30.0, 2, 0)]
    assert q._free == []


def test_a_timer_made_by_hand_and_how_it_shows():
    t = Timer("s", "answer", 30.0)
    assert (t.session, t.name, t.due, t.payload, t.every, t.seq, t.cancelled) == (
        "s", "answer", 30.0, None, None, 0, False)
    assert repr(t) == ("Timer(session='s', name='answer', due=30.0, payload=None, every=None, "
                       "seq=0, cancelled=False)")
    assert t.to_dict() == {"session": "s", "name": "answer", "due": 30.0, "payload": None,
                           "every": None}
    done = Timer("s", "answer", 30.0, "p", 5.0, 7, cancelled=True)
    assert (done.payload, done.every, done.seq, done.cancelled) == ("p", 5.0, 7, True)


def test_timers_compare_by_their_whole_row_and_are_not_hashed():
    row = ("s", "x", 10.0, {"p": 1}, 5.0, 3, False)
    assert Timer(*row) == Timer(*row)
    for i, other in enumerate([("t",), ("s", "y"), ("s", "x", 11.0), ("s", "x", 10.0, {"p": 2}),
                               ("s", "x", 10.0, {"p": 1}, 6.0),
                               ("s", "x", 10.0, {"p": 1}, 5.0, 4)]):
        changed = other + row[len(other):]
        assert Timer(*changed) != Timer(*row), i
    assert Timer(*row[:6], True) != Timer(*row)  # type: ignore[misc]
    assert Timer(*row) != row  # a row is not a timer
    with pytest.raises(TypeError):
        hash(Timer(*row))


def test_a_timer_answered_is_a_record_not_a_handle():
    q = TimerQueue()
    q.arm("s", "watchdog", 60, payload={"n": 1})
    before = q.get("s", "watchdog")
    q.arm("s", "watchdog", 90)
    q.cancel("s", "watchdog")
    q.arm("t", "rollover", 120, every=5400)  # may take over the cancelled slot
    assert before == Timer("s", "watchdog", 60.0, {"n": 1}, None, 0, False)
    before.due = 1.0  # changing a record changes nothing in the queue
    assert q.next_due() == 120.0


def test_a_restored_number_equal_to_the_next_one_moves_the_count_on():
    q = TimerQueue()
    assert numbered(q, "s", "a", 10, seq=0) == 0  # the number the queue would give next
    assert numbered(q, "s", "b", 10) == 1


def test_any_due_asks_the_earliest_deadline_not_its_arming_number():
    q = TimerQueue()
    q.arm("s", "a", 100.0)
    assert not q.any_due(99.0)  # keyed after now: not due, and nothing else to look at
    assert q.any_due(100.0)
    late = TimerQueue()
    late.arm("s", "b", 1.0, seq=5)  # due at 1, armed fifth
    assert late.any_due(2.0)


def test_a_dead_entry_dropped_from_the_top_is_counted_off():
    q = TimerQueue()
    q.arm("s", "a", 10)
    q.arm("t", "b", 20)
    q.cancel("s", "a")
    assert q._dead == 1
    assert q.next_due() == 20.0  # the dead entry popped on the way
    assert q._dead == 0
    assert len(q._heap) == 1


def test_the_heap_rebuilt_without_its_dead_entries_still_fires_in_due_order():
    """Dropping entries from a heap's list leaves a list that is no heap: it is heapified."""
    import random

    rng = random.Random(12)
    q = TimerQueue()
    dues = [rng.uniform(0, 1000) for _ in range(200)]
    for i, due in enumerate(dues):
        q.arm(f"s{i}", "t", due)
    for i in range(0, 140, 2):  # 70 dead of 200: over 64 and over a quarter
        q.cancel(f"s{i}", "t")
    assert len(q._heap) == 135  # rebuilt at the 65th dead (five dead since)
    live = sorted((due, f"s{i}") for i, due in enumerate(dues) if i >= 140 or i % 2)
    assert [(due, s) for s, _, due in drain(q, 1000)] == live


def test_a_dead_entry_taken_over_is_counted_off_once():
    q = TimerQueue()
    q.arm("s", "answer", 10)
    q.cancel("s", "answer")
    assert q._dead == 1
    q.arm("s", "watchdog", 20)  # takes the answer's entry over: no longer dead
    assert q._dead == 0
    assert len(q._heap) == 1


def test_payload_and_period_share_one_reference_and_read_back_whatever_was_set():
    """Most timers have neither a payload nor a period, a rollover only its period: the
    two are one reference of a slot (issue 12), the period alone when there is no payload,
    else the pair; each reads back as it was set, through every way in."""
    q = TimerQueue()
    for payload, every in [(None, None), (None, 5.0), ("p", None), ("p", 5.0), ((1, 2), None),
                           ((1, 2), 3.0), (7.0, None), (0, 2.0)]:
        q.arm("s", "x", 1.0, payload, every)
        t = q.get("s", "x")
        assert (t.payload, t.every) == (payload, every)
        assert q._extra[q._find("s", "x")] == (every if payload is None else (payload, every))
        q.cancel("s", "x")
    q = TimerQueue()

    def row() -> tuple[object, object]:
        t = q.get("s", "x") or q.get("s", "y")
        assert t is not None
        return t.payload, t.every

    q.arm("s", "x", 10.0, (1, 2))
    assert row() == ((1, 2), None)
    q.arm("s", "x", 20.0, "p", 4.0)  # later: in place
    assert row() == ("p", 4.0)
    q.arm("s", "x", 30.0)
    assert row() == (None, None)
    q.arm("s", "x", 40.0, 5.0, None)
    assert row() == (5.0, None)
    assert q.push_back("s", "x", 50.0)
    assert row() == (None, None)
    q.cancel("s", "x")
    slots = len(q._name)
    q.arm("s", "y", 60.0, "z", 2.0)  # takes over the cancelled slot
    assert len(q._name) == slots
    assert row() == ("z", 2.0)
    fired = q.pop_due(60.0)
    assert fired is not None
    assert (fired.payload, fired.every, fired.cancelled) == ("z", 2.0, True)
    again = q.get("s", "y")
    assert again is not None
    assert (again.due, again.payload, again.every) == (62.0, "z", 2.0)


def test_the_runtimes_own_timers_are_listed_as_of_no_session():
    q = TimerQueue()
    q.arm(None, "tick", 5.0)
    q.arm("s", "w", 1.0)
    assert q.for_session(None) == [Timer(None, "tick", 5.0)]  # type: ignore[arg-type]
