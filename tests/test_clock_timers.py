"""Clocks (ManualClock, SystemClock under freezegun) and timers (the queue, and as a Runtime
fires them: due order, ties, re-arming, cancelling, repeating, timers before inputs)."""

from __future__ import annotations

import asyncio
import time

import pytest
from freezegun import freeze_time
from hypothesis import given, settings
from hypothesis import strategies as st

from recstate import signals
from recstate.clock import Clock, ManualClock, SystemClock
from recstate.runtime import Runtime
from recstate.timers import TimerQueue

T0 = 1_700_000_000.0


# ---- ManualClock ------------------------------------------------------------------------------
def test_manual_clock_moves_only_when_told():
    clock = ManualClock(100.0)
    assert clock.now() == 100.0
    assert clock.now() == 100.0
    clock.advance(2.5)
    assert clock.now() == 102.5
    clock.set(200)
    assert clock.now() == 200.0
    clock.set(200)  # staying put is allowed
    assert clock.now() == 200.0


def test_manual_clock_refuses_to_go_back():
    clock = ManualClock(100.0)
    with pytest.raises(ValueError, match=r"cannot go back from 100\.0 to 99\.0"):
        clock.set(99)
    with pytest.raises(ValueError, match="duration >= 0"):
        clock.advance(-1)
    assert clock.now() == 100.0


async def test_manual_clock_sleep_jumps_ahead_in_virtual_time():
    clock = ManualClock(0.0)
    await clock.sleep(86_400)
    await clock.sleep(0)
    await clock.sleep(-5)  # a negative wait does not move time back
    assert clock.now() == 86_400


def test_both_clocks_satisfy_the_clock_protocol():
    assert isinstance(ManualClock(), Clock)
    assert isinstance(SystemClock(), Clock)
    assert repr(ManualClock(3.0)) == "ManualClock(3.0)"


def test_runtime_defaults_to_the_system_clock():
    assert isinstance(Runtime().clock, SystemClock)


# ---- SystemClock under freezegun ------------------------------------------------------------
def test_system_clock_reads_time_time_so_freeze_time_moves_it():
    clock = SystemClock()
    with freeze_time("2024-01-01T00:00:00Z") as frozen:
        assert clock.now() == 1_704_067_200.0
        frozen.tick(1.5)
        assert clock.now() == 1_704_067_201.5
        frozen.move_to("2024-01-02T00:00:00Z")
        assert clock.now() == 1_704_153_600.0


def test_run_due_fires_timers_due_under_freezegun_tick(tv):
    with freeze_time("2024-01-01T00:00:00Z") as frozen:
        rt = Runtime(strict=True)
        rt.dispatch(tv.Dial(t=time.time(), number="a"))
        rt.dispatch(tv.Answer(t=time.time(), session="a"))
        start = time.time()
        frozen.tick(9.999)
        rt.run_due()
        assert rt.sessions["a"].context.rollovers == 0
        frozen.tick(0.001)
        rt.run_due()
        assert rt.sessions["a"].context.rollovers == 1
        frozen.tick(50)  # 60 s after answering: the watchdog's deadline
        rt.run_due()
        session = rt.sessions["a"]
        assert session.state == "ended"
        assert f"watchdog@{start + 60}" in session.context.log
        # repeating rollovers at 20..50 fired before the watchdog at 60
        assert session.context.rollovers == 5


def test_run_due_fires_timers_due_after_freezegun_move_to(tv):
    with freeze_time("2024-01-01T00:00:00Z") as frozen:
        rt = Runtime(strict=True)
        rt.dispatch(tv.Dial(t=time.time(), number="a"))
        rt.dispatch(tv.Answer(t=time.time(), session="a"))
        frozen.move_to("2024-01-01T00:00:59Z")
        rt.run_due()
        assert rt.sessions["a"].state == "talking"
        frozen.move_to("2024-01-01T00:01:00Z")
        rt.run_due()
        assert rt.sessions["a"].state == "ended"


def test_advance_refuses_a_system_clock():
    rt = Runtime(SystemClock())
    with pytest.raises(TypeError, match="advance\\(\\) moves a ManualClock"):
        rt.advance(time.time() + 10)


# ---- TimerQueue ---------------------------------------------------------------------------------
def drain(queue: TimerQueue, now: float) -> list[tuple[str, float]]:
    out = []
    while (timer := queue.pop_due(now)) is not None:
        out.append((timer.name, timer.due))
    return out


def test_timer_queue_pops_in_due_order_and_only_when_due():
    q = TimerQueue()
    q.arm("s", "c", 30)
    q.arm("s", "a", 10)
    q.arm("s", "b", 20)
    assert q.next_due() == 10
    assert q.pop_due(9.99) is None
    assert drain(q, 25) == [("a", 10), ("b", 20)]
    assert q.next_due() == 30
    assert len(q) == 1


def test_timer_queue_breaks_ties_in_arming_order():
    q = TimerQueue()
    for name in ("z", "m", "a", "q"):
        q.arm("s", name, 5)
    assert [name for name, _ in drain(q, 5)] == ["z", "m", "a", "q"]


def test_rearming_a_name_replaces_the_old_deadline():
    q = TimerQueue()
    q.arm("s", "watchdog", 60)
    q.arm("s", "watchdog", 90)
    assert len(q) == 1
    assert q.get("s", "watchdog").due == 90
    assert drain(q, 89) == []
    assert drain(q, 90) == [("watchdog", 90)]
    assert len(q) == 0


def test_same_timer_name_in_two_sessions_is_two_timers():
    q = TimerQueue()
    q.arm("s1", "watchdog", 60)
    q.arm("s2", "watchdog", 50)
    assert [(t.session, t.due) for t in q] == [("s2", 50), ("s1", 60)]


def test_cancel_removes_a_timer_and_says_whether_there_was_one():
    q = TimerQueue()
    q.arm("s", "a", 10)
    q.arm("s", "b", 20)
    assert q.cancel("s", "a") is True
    assert q.cancel("s", "a") is False
    assert q.cancel("s", "nope") is False
    assert q.next_due() == 20
    assert drain(q, 100) == [("b", 20)]


def test_cancel_session_cancels_only_that_sessions_timers():
    q = TimerQueue()
    q.arm("s1", "a", 10)
    q.arm("s1", "b", 20)
    q.arm("s2", "a", 15)
    assert q.cancel_session("s1") == 2
    assert drain(q, 100) == [("a", 15)]


def test_repeating_timer_rolls_over_each_period():
    q = TimerQueue()
    q.arm("s", "rollover", 10, every=10)
    assert drain(q, 35) == [("rollover", 10), ("rollover", 20), ("rollover", 30)]
    assert q.get("s", "rollover").due == 40


def test_repeating_timer_needs_a_positive_period():
    with pytest.raises(ValueError, match="every > 0"):
        TimerQueue().arm("s", "r", 10, every=0)
    with pytest.raises(ValueError, match="every > 0"):
        TimerQueue().arm("s", "r", 10, every=-1)


def test_repeating_timer_takes_any_positive_period_even_under_a_second():
    q = TimerQueue()
    q.arm("s", "tick", 1, every=0.5)
    q.arm("t", "tick", 1, every=1)
    assert drain(q, 2) == [("tick", 1.0), ("tick", 1.0), ("tick", 1.5), ("tick", 2.0),
                           ("tick", 2.0)]


def test_timer_is_plain_data():
    q = TimerQueue()
    q.arm("s", "r", 10, payload={"n": 1}, every=5)
    timer = q.get("s", "r")
    assert timer is not None
    assert timer.to_dict() == {"session": "s", "name": "r", "due": 10.0, "payload": {"n": 1},
                               "every": 5}
    assert q.for_session("s") == [timer]
    assert q.for_session("other") == []


@settings(derandomize=True)
@given(st.lists(st.tuples(st.sampled_from("abcdef"), st.integers(0, 20), st.booleans()),
                max_size=30))
def test_timer_queue_fires_live_timers_by_due_then_arming_order(ops):
    q = TimerQueue()
    live: dict[str, tuple[int, int]] = {}
    for seq, (name, due, cancel) in enumerate(ops):
        if cancel:
            assert q.cancel("s", name) is (name in live)
            live.pop(name, None)
        else:
            q.arm("s", name, due)
            live[name] = (due, seq)
    expected = [(name, float(due)) for name, (due, _) in sorted(live.items(),
                                                                key=lambda kv: kv[1])]
    assert drain(q, 20) == expected
    assert len(q) == 0


# ---- timers as the Runtime fires them -----------------------------------------------------------
def alarms(rt: Runtime, key: str = "a") -> list[str]:
    return [entry for entry in rt.sessions[key].context.log if entry.startswith("alarm")]


def test_runtime_fires_timers_in_due_order_each_at_its_own_time(runtime, tv):
    runtime.dispatch(tv.Schedule(t=T0, session="a", names=["alarm_a", "alarm_b", "alarm_c"],
                                 delays=[30, 10, 20]))
    runtime.advance(T0 + 100)
    assert alarms(runtime) == [f"alarm_b@{T0 + 10}", f"alarm_c@{T0 + 20}",
                               f"alarm_a@{T0 + 30}"]
    assert runtime.clock.now() == T0 + 100


def test_runtime_fires_timers_due_at_the_same_time_in_arming_order(runtime, tv):
    runtime.dispatch(tv.Schedule(t=T0, session="a", names=["alarm_c", "alarm_a", "alarm_b"],
                                 delays=[5, 5, 5]))
    runtime.advance(T0 + 5)
    assert alarms(runtime) == [f"alarm_c@{T0 + 5}", f"alarm_a@{T0 + 5}", f"alarm_b@{T0 + 5}"]


def test_timer_event_carries_its_due_time_not_the_time_run_due_was_called(runtime, tv,
                                                                         manual_clock):
    runtime.dispatch(tv.Schedule(t=T0, session="a", names=["alarm_a"], delays=[5]))
    manual_clock.set(T0 + 500)  # the clock jumps; the timer fires late, at its own time
    runtime.run_due()
    assert alarms(runtime) == [f"alarm_a@{T0 + 5}"]


def test_rearming_a_timer_name_replaces_it_watchdog_reset(runtime, tv):
    runtime.dispatch(tv.Dial(t=T0, number="a"))
    runtime.dispatch(tv.Answer(t=T0, session="a"))
    assert runtime.timers.get("a", "watchdog").due == T0 + 60
    runtime.advance(T0 + 50)
    runtime.dispatch(tv.MediaData(t=T0 + 50, session="a", size=1))
    assert runtime.timers.get("a", "watchdog").due == T0 + 110
    runtime.advance(T0 + 109)
    assert runtime.sessions["a"].state == "talking"  # the old deadline (T0+60) did not fire
    runtime.advance(T0 + 110)
    session = runtime.sessions["a"]
    assert session.state == "ended"
    assert session.context.log[-1] == f"watchdog@{T0 + 110}"


def test_a_cancelled_timer_never_fires(runtime, tv):
    runtime.dispatch(tv.Schedule(t=T0, session="a", names=["alarm_a", "alarm_b"],
                                 delays=[10, 20]))
    runtime.dispatch(tv.Unschedule(t=T0, session="a", names=["alarm_a"]))
    runtime.advance(T0 + 100)
    assert alarms(runtime) == [f"alarm_b@{T0 + 20}"]


def test_leaving_a_state_cancels_its_tied_timers(runtime, tv):
    runtime.dispatch(tv.Dial(t=T0, number="a"))
    runtime.dispatch(tv.Answer(t=T0, session="a"))
    assert {t.name for t in runtime.timers.for_session("a")} == {"watchdog", "rollover"}
    runtime.dispatch(tv.Hangup(t=T0, session="a"))
    assert runtime.timers.for_session("a") == []
    runtime.advance(T0 + 3000)  # strict: a stray watchdog in "ended" would raise
    assert runtime.sessions["a"].state == "ended"


def test_repeating_timer_rolls_over_every_period_until_cancelled(runtime, tv):
    runtime.dispatch(tv.Dial(t=T0, number="a"))
    runtime.dispatch(tv.Answer(t=T0, session="a"))
    runtime.advance(T0 + 35)
    session = runtime.sessions["a"]
    assert session.context.rollovers == 3
    assert [e for e in session.context.log if e.startswith("rollover")] == [
        f"rollover@{T0 + 10}", f"rollover@{T0 + 20}", f"rollover@{T0 + 30}"]
    assert [(f.id, f.start, f.end, f.status) for f in session.files] == [
        ("a-1", T0, T0 + 10, "closed"), ("a-2", T0 + 10, T0 + 20, "closed"),
        ("a-3", T0 + 20, T0 + 30, "closed"), ("a-4", T0 + 30, None, "open")]
    runtime.dispatch(tv.Hangup(t=T0 + 35, session="a"))
    runtime.advance(T0 + 100)
    assert session.context.rollovers == 3
    assert session.files[-1].end == T0 + 35


def test_timers_due_before_an_input_fire_first_when_advanced(runtime, tv, listen):
    seen = listen(signals.transition, runtime)
    runtime.dispatch(tv.Dial(t=T0, number="a"))
    runtime.dispatch(tv.Answer(t=T0, session="a"))
    runtime.advance(T0 + 60)  # the watchdog is due exactly now: it fires before what follows
    runtime.dispatch(tv.Schedule(t=T0 + 60, session="a", names=["alarm_a"], delays=[0]))
    runtime.run_due()
    assert [(s["name"], s["dst"], s["t"]) for s in seen] == [
        ("dial", "ringing", T0), ("answer", "talking", T0), ("watchdog", "ended", T0 + 60)]
    assert runtime.sessions["a"].context.log[-2:] == [f"watchdog@{T0 + 60}",
                                                      f"alarm_a@{T0 + 60}"]


def test_timers_due_by_now_fire_before_a_dispatched_input(tv, manual_clock):
    rt = Runtime(manual_clock, strict=False)
    rt.dispatch(tv.Schedule(t=T0, session="a", names=["alarm_a"], delays=[5]))
    manual_clock.set(T0 + 10)  # moved without advance(): dispatch still fires it first
    rt.dispatch(tv.Schedule(t=T0 + 10, session="a", names=["alarm_b"], delays=[0]))
    assert alarms(rt) == [f"alarm_a@{T0 + 5}", f"alarm_b@{T0 + 10}"]


def test_advance_stops_at_the_target_and_leaves_later_timers_armed(runtime, tv):
    runtime.dispatch(tv.Schedule(t=T0, session="a", names=["alarm_a", "alarm_b"],
                                 delays=[10, 20]))
    runtime.advance(T0 + 15)
    assert runtime.clock.now() == T0 + 15
    assert alarms(runtime) == [f"alarm_a@{T0 + 10}"]
    assert runtime.next_deadline() == T0 + 20


def test_deliver_at_dispatches_the_event_when_the_clock_gets_there(runtime, tv, listen):
    seen = listen(signals.transition, runtime)
    runtime.deliver_at(T0 + 2, tv.Answer(t=T0 + 2, session="a"))
    runtime.deliver_at(T0 + 1, tv.Dial(t=T0 + 1, number="a"))
    assert runtime.next_deadline() == T0 + 1
    runtime.advance(T0 + 1.5)
    assert [(s["name"], s["t"]) for s in seen] == [("dial", T0 + 1)]
    runtime.advance(T0 + 3)
    assert [(s["name"], s["t"]) for s in seen] == [("dial", T0 + 1), ("answer", T0 + 2)]


def test_close_session_forgets_the_session_and_its_timers(runtime, tv):
    runtime.dispatch(tv.Dial(t=T0, number="a"))
    runtime.dispatch(tv.Answer(t=T0, session="a"))
    closed = runtime.close_session("a")
    assert closed is not None
    assert closed.key == "a"
    assert "a" not in runtime.sessions
    assert runtime.next_deadline() is None
    runtime.advance(T0 + 3600)  # nothing fires for a forgotten session


async def test_system_clock_sleep_of_zero_returns_at_once():
    # No wall-clock bound: a sleep that does not wait is done after a few turns of the loop
    # (each ``sleep(0)`` is one turn); one that waited on a timer would still be pending.
    sleeps = [asyncio.create_task(SystemClock().sleep(s)) for s in (-1, 0)]
    waiting = asyncio.create_task(SystemClock().sleep(3600))
    for _ in range(3):
        await asyncio.sleep(0)
    assert [t.done() for t in sleeps] == [True, True]
    assert not waiting.done()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting


# ---- lazy re-arming (issue 12): a heartbeat's watchdog reset is not a heap push --------------
def test_rearming_later_keeps_one_heap_entry_for_the_timer():
    q = TimerQueue()
    q.arm("s", "watchdog", 60)
    for beat in range(1, 1001):  # a heartbeat every 5 s, each resetting the 60 s watchdog
        q.arm("s", "watchdog", 60 + 5 * beat)
    assert len(q._heap) == 1  # the one entry, still keyed at 60
    assert q.get("s", "watchdog").due == 5060
    assert q.next_due() == 5060  # what the queue says is the timer's own deadline
    assert drain(q, 5059.9) == []
    assert drain(q, 5060) == [("watchdog", 5060)]
    assert len(q._heap) == 0


def test_rearming_earlier_replaces_the_deadline():
    q = TimerQueue()
    q.arm("s", "watchdog", 60)
    q.arm("s", "watchdog", 90)
    q.arm("s", "watchdog", 30)
    assert q.next_due() == 30
    assert drain(q, 100) == [("watchdog", 30)]


def test_a_timer_rearmed_to_the_same_instant_goes_after_those_armed_meanwhile():
    q = TimerQueue()
    q.arm("s", "a", 10)
    q.arm("s", "b", 10)
    q.arm("s", "a", 10)  # re-armed: its place is now after b
    assert drain(q, 10) == [("b", 10), ("a", 10)]


def test_a_repeating_timer_reports_each_period_even_when_rearmed_lazily_before():
    q = TimerQueue()
    q.arm("s", "tick", 5)
    q.arm("s", "tick", 10, every=10)  # later, and now repeating
    fired = []
    while (timer := q.pop_due(35)) is not None:
        fired.append((timer.name, timer.due, timer.every))
    assert fired == [("tick", 10, 10), ("tick", 20, 10), ("tick", 30, 10)]
    assert q.get("s", "tick").due == 40


class EagerQueue:
    """The reference: every arm is a new deadline, the earliest (due, arming order) fires;
    written as a plain list, with nothing of TimerQueue's heap or laziness."""

    def __init__(self) -> None:
        self.live: dict[tuple[str, str], tuple[float, int, float | None]] = {}
        self.n = 0

    def arm(self, session: str, name: str, due: float, every: float | None) -> None:
        self.live[(session, name)] = (due, self.n, every)
        self.n += 1

    def cancel(self, session: str, name: str) -> None:
        self.live.pop((session, name), None)

    def cancel_session(self, session: str) -> None:
        for k in [k for k in self.live if k[0] == session]:
            del self.live[k]

    def next_due(self) -> float | None:
        return min((v[0] for v in self.live.values()), default=None)

    def pop_due(self, now: float) -> tuple[str, str, float] | None:
        if not self.live:
            return None
        k, (due, _, every) = min(self.live.items(), key=lambda kv: kv[1][:2])
        if due > now:
            return None
        del self.live[k]
        if every is not None:
            self.arm(k[0], k[1], due + every, every)
        return (k[0], k[1], due)


_op = st.one_of(
    st.tuples(st.just("arm"), st.sampled_from("xy"), st.sampled_from("abc"),
              st.integers(0, 40), st.sampled_from([None, None, None, 7])),
    st.tuples(st.just("cancel"), st.sampled_from("xy"), st.sampled_from("abc")),
    st.tuples(st.just("drop"), st.sampled_from("xy")),
    st.tuples(st.just("pop"), st.integers(0, 5)),
    st.tuples(st.just("push"), st.sampled_from("xy"), st.sampled_from("abc"),
              st.integers(0, 40)),
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(_op, max_size=60))
def test_lazy_rearming_fires_what_eager_rearming_fires(ops):
    """Any mix of arming (later, earlier, the same instant), cancelling and firing: the same
    timers fire at the same deadlines in the same order as the eager reference, and the
    queue tells the same next deadline and the same due times at every step."""
    q, ref = TimerQueue(), EagerQueue()
    now = 0.0
    for op in ops:
        if op[0] == "arm":
            _, session, name, delay, every = op
            q.arm(session, name, now + delay, every=every)
            ref.arm(session, name, now + delay, every)
        elif op[0] == "push":  # a heartbeat's re-arm: push_back, else arm (note_data_at)
            _, session, name, delay = op
            if not q.push_back(session, name, now + delay):
                q.arm(session, name, now + delay)
            ref.arm(session, name, now + delay, None)
        elif op[0] == "cancel":
            q.cancel(op[1], op[2])
            ref.cancel(op[1], op[2])
        elif op[0] == "drop":
            q.cancel_session(op[1])
            ref.cancel_session(op[1])
        else:
            now += op[1]
            while True:
                got = q.pop_due(now)
                want = ref.pop_due(now)
                assert (None if got is None else (got.session, got.name, got.due)) == want
                if want is None:
                    break
        assert q.next_due() == ref.next_due()
        assert sorted((t.session, t.name, t.due) for t in q) == sorted(
            (k[0], k[1], v[0]) for k, v in ref.live.items())


def test_push_back_moves_the_live_timer_later_in_place_or_declines():
    q = TimerQueue()
    assert not q.push_back("s", "watchdog", 10.0)  # no such timer: nothing armed
    assert list(q) == []
    q.arm("s", "other", 5.0)
    assert not q.push_back("s", "watchdog", 10.0)  # another name only
    q.arm("s", "watchdog", 10.0, payload={"p": 1}, every=30.0)
    heap, slots = list(q._heap), len(q._name)
    assert not q.push_back("s", "watchdog", 9.0)  # earlier: arm's to replace it
    dog = q.get("s", "watchdog")
    assert (dog.due, dog.payload, dog.every) == (10.0, {"p": 1}, 30.0)
    assert q.push_back("s", "watchdog", 10.0)  # the same instant is later: a new seq
    assert q.get("s", "watchdog").seq > dog.seq
    assert q.push_back("t", "watchdog", 12.0) is False  # another session's
    assert q.push_back("s", "watchdog", 20.0)
    moved = q.get("s", "watchdog")
    assert (moved.due, moved.payload, moved.every) == (20.0, None, None)  # as arm(due) sets
    assert moved.seq > dog.seq + 1
    assert (q._heap, len(q._name)) == (heap, slots)  # in place: the same keys and slots
    q.arm("s", "later", 15.0)
    assert moved.seq < q.get("s", "later").seq  # arming numbers go on after push_back's
    q.cancel("s", "watchdog")
    assert not q.push_back("s", "watchdog", 30.0)  # a cancelled timer is not moved
    assert [(t.name, t.due) for t in q] == [("other", 5.0), ("later", 15.0)]


def test_push_back_wakes_a_driver_waiting_for_a_later_deadline():
    q = TimerQueue()
    woken: list[int] = []
    q.arm("s", "watchdog", 10.0)
    q.on_sooner = lambda: woken.append(1)
    q.wake_before = 15.0
    assert q.push_back("s", "watchdog", 20.0)
    assert woken == []
    q.wake_before = 25.0
    assert q.push_back("s", "watchdog", 21.0)
    assert woken == [1]


def test_any_due_looks_at_the_earliest_deadline_whatever_the_arming_numbers():
    """A timer armed after many others (a large arming number) and due before ``now``, with
    later ones in the heap: due; ``advance`` fires it before the later ones."""
    q = TimerQueue()
    for i in range(20):
        q.arm("s", f"late{i}", 100.0 + i)
    q.arm("t", "soon", 5.0)
    assert q.any_due(10.0)
    assert not q.any_due(4.0)
    q.push_back("t", "soon", 6.0)  # moved later in place: its entry still keyed at 5
    assert not q.any_due(5.5)
    assert q.any_due(6.0)


def test_push_back_to_the_deadline_the_driver_waits_for_does_not_wake_it():
    """The driver sleeps until ``wake_before``; a deadline at that very instant is not
    sooner, so it is left asleep (it would wake then anyway)."""
    q = TimerQueue()
    woken: list[int] = []
    q.arm("s", "watchdog", 10.0)
    q.on_sooner = lambda: woken.append(1)
    q.wake_before = 20.0
    assert q.push_back("s", "watchdog", 20.0)
    q.arm("t", "answer", 20.0)  # a new timer at that instant: not sooner either
    assert woken == []
    q.arm("t", "other", 19.0)
    assert woken == [1]


def test_a_restored_arming_number_earlier_than_the_timers_own_puts_it_first_among_equals():
    """Re-arming a name at the same deadline with a smaller arming number (a restore's) is
    not a later re-arm: the timer takes its earlier place among the timers due then."""
    q = TimerQueue()
    q.arm("s", "a", 10.0, seq=5)
    q.arm("t", "b", 10.0, seq=3)
    q.arm("s", "a", 10.0, seq=2)
    fired = []
    while (timer := q.pop_due(10.0)) is not None:
        fired.append(timer.name)
    assert fired == ["a", "b"]


def test_a_repeating_timer_popped_is_no_longer_live_its_next_is_a_new_timer():
    q = TimerQueue()
    q.arm("s", "tick", 10.0, every=5.0)
    first = q.pop_due(10.0)
    assert first is not None
    assert first.cancelled
    following = q.get("s", "tick")
    assert following is not None
    assert following is not first
    assert not following.cancelled
    assert following.due == 15.0


def test_a_later_rearm_in_place_wakes_a_driver_waiting_for_a_later_deadline_only():
    """``arm`` moving a timer later in place (not ``push_back``) tells a driver asleep
    until ``wake_before`` when the new deadline is sooner than that, and only then."""
    q = TimerQueue()
    woken: list[int] = []
    q.arm("s", "watchdog", 10.0)
    heap = list(q._heap)
    q.on_sooner = lambda: woken.append(1)
    q.wake_before = 20.0
    q.arm("s", "watchdog", 20.0)  # in place, at the instant it waits for
    assert q._heap == heap
    assert woken == []
    q.wake_before = 40.0
    q.arm("s", "watchdog", 30.0)  # in place, sooner than it waits for
    assert q._heap == heap
    assert woken == [1]
