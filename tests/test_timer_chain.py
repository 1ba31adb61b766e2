"""A session's timers are a chain, and its cancelled ones are taken over by the next timer it
arms (issue 12: an idle recording session in under 1 KiB). What fires, when and in which
order stays what a plain list of deadlines gives; the heap does not keep dead entries that a
later timer could take over."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from recstate.timers import Timer, TimerQueue


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


def test_timers_are_numbered_in_arming_order_from_zero_and_after_a_restored_one():
    q = TimerQueue()
    assert [q.arm("s", n, 10).seq for n in "abc"] == [0, 1, 2]  # a snapshot keeps these
    assert q.arm("t", "r", 10, seq=7).seq == 7  # a restored timer keeps its number
    assert q.arm("t", "x", 10).seq == 8  # and later ones come after it
    assert q.arm("t", "y", 10, seq=3).seq == 3  # an older number moves nothing on
    assert q.arm("t", "z", 10).seq == 9


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
        assert q._first == (q._heap[0][0] if q._heap else math.inf)  # what dispatch reads
    assert drain(q, now + 1000) == ref.drain(now + 1000)
    assert len(q) == 0


def test_a_timer_is_its_own_heap_entry_keyed_as_it_was_pushed():
    """No tuple beside each timer (issue 12): the heap holds the timers, each a list of the
    deadline and arming number it was pushed with; a later re-arming changes due and seq
    only, and the key follows when the timer reaches the top."""
    q = TimerQueue()
    t = q.arm("s", "watchdog", 60)
    assert q._heap == [t]
    assert q._heap[0] is t
    assert list(t) == [60.0, 0]
    assert q.arm("s", "watchdog", 90) is t  # later: lazy, the entry keyed as pushed
    assert (t.due, t.seq, list(t)) == (90.0, 1, [60.0, 0])
    assert q.next_due() == 90.0  # at the top: pushed again at its own deadline
    assert list(t) == [90.0, 1]
    assert q.pop_due(90) is t
    assert q._heap == []


def test_a_timer_made_by_hand_and_how_it_shows():
    t = Timer("s", "answer", 30.0)
    assert (t.session, t.name, t.due, t.payload, t.every, t.seq, t.cancelled, t.next) == (
        "s", "answer", 30.0, None, None, 0, False, None)
    assert list(t) == [30.0, 0]
    assert repr(t) == ("Timer(session='s', name='answer', due=30.0, payload=None, every=None, "
                       "seq=0, cancelled=False)")
    assert t.to_dict() == {"session": "s", "name": "answer", "due": 30.0, "payload": None,
                           "every": None}
    done = Timer("s", "answer", 30.0, "p", 5.0, 7, cancelled=True)
    assert (done.payload, done.every, done.seq, done.cancelled, list(done)) == (
        "p", 5.0, 7, True, [30.0, 7])


def test_timers_hash_by_identity_and_two_with_the_same_key_do_not_order():
    a, b = Timer("s", "x", 10.0, seq=3), Timer("t", "y", 10.0, seq=3)
    assert hash(a) == object.__hash__(a)
    assert len({a, b}) == 2  # both kept: hashed as themselves
    assert not a < b
    assert not b < a
    assert Timer("s", "x", 10.0, seq=2) < a < Timer("s", "x", 11.0, seq=0)


def test_a_restored_number_equal_to_the_next_one_moves_the_count_on():
    q = TimerQueue()
    assert q.arm("s", "a", 10, seq=0).seq == 0  # the number the queue would give next
    assert q.arm("s", "b", 10).seq == 1


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


def test_payload_and_period_share_one_slot_and_read_back_whatever_was_set():
    """Most timers have neither a payload nor a period, a rollover only its period: the
    two are one slot (8 bytes of every timer, issue 12), the period alone when there is
    no payload, else the pair; each reads back as it was set, through every way in."""
    assert "payload" not in Timer.__slots__
    assert "every" not in Timer.__slots__
    assert Timer("s", "w", 1.0)._extra is None
    assert Timer("s", "r", 1.0, every=5.0)._extra == 5.0
    for payload, every in [(None, None), (None, 5.0), ("p", None), ("p", 5.0), ((1, 2), None),
                           ((1, 2), 3.0), (7.0, None), (0, 2.0)]:
        t = Timer("s", "x", 1.0, payload, every)
        assert (t.payload, t.every) == (payload, every)
        t.every = 9.0
        assert (t.payload, t.every) == (payload, 9.0)
        t.payload = "q"
        assert (t.payload, t.every) == ("q", 9.0)
        t.payload = None
        assert (t.payload, t.every) == (None, 9.0)
        t.every = None
        assert (t.payload, t.every, t._extra) == (None, None, None)
    q = TimerQueue()
    first = q.arm("s", "x", 10.0, (1, 2))
    assert q.arm("s", "x", 20.0, "p", 4.0) is first  # later: in place
    assert (first.payload, first.every) == ("p", 4.0)
    assert q.arm("s", "x", 30.0) is first
    assert (first.payload, first.every) == (None, None)
    q.arm("s", "x", 40.0, 5.0, None)
    assert (first.payload, first.every) == (5.0, None)
    assert q.push_back("s", "x", 50.0)
    assert (first.payload, first.every) == (None, None)
    q.cancel("s", "x")
    spare = q.arm("s", "y", 60.0, "z", 2.0)  # takes over the cancelled one
    assert spare is first
    assert (spare.payload, spare.every) == ("z", 2.0)
    assert q.pop_due(60.0) is spare
    assert (spare.payload, spare.every) == ("z", 2.0)
    again = q.get("s", "y")
    assert again is not None
    assert (again.due, again.payload, again.every) == (62.0, "z", 2.0)


def test_the_runtimes_own_timers_are_listed_as_of_no_session():
    q = TimerQueue()
    tick = q.arm(None, "tick", 5.0)
    q.arm("s", "w", 1.0)
    assert q.for_session(None) == [tick]  # type: ignore[arg-type]
    assert q.for_session(None)[0] is tick  # type: ignore[arg-type]
