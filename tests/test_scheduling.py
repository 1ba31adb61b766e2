"""The run-to-completion loop (recstate/scheduling.py), pinned where mutation testing found it
loose: what a receiver dispatches during a timer-fired handling is queued behind it, never run
inside it (issue 8: ``_drain``'s re-entrancy guard)."""

from __future__ import annotations

from typing import Any

import pytest

from recstate import signals
from recstate.clock import ManualClock
from recstate.errors import Violation
from recstate.runtime import Runtime
from recstate.stores import MemoryStore

T0 = 1_700_000_000.0


def test_an_event_dispatched_during_a_timer_fired_handling_waits_for_it_to_finish(runtime, tv):
    """The rollover timer (every 10 s in ``talking``) closes file a-1 and opens a-2 in one
    handling. A receiver of the ``closed`` change dispatches a ping: run-to-completion says the
    ping is handled after the rollover's handling is over, so when the ``opened`` change is
    told the ping has not been handled yet."""
    runtime.dispatch(tv.Dial(t=T0, number="a"))
    runtime.dispatch(tv.Answer(t=T0, session="a"))
    seen_at_open: list[list[str]] = []

    def on_file(rt: Runtime, *, session: Any, change: str, file: Any, **_: Any) -> None:
        if change == "closed" and file.id == "a-1":
            rt.dispatch(tv.Ping(t=rt.clock.now(), session="a", seq=1))
        elif change == "opened" and file.id == "a-2":
            seen_at_open.append(list(session.context.log))

    with signals.file_changed.connected_to(on_file, sender=runtime):
        runtime.advance(T0 + 10)
    assert seen_at_open == [[f"rollover@{T0 + 10}"]]  # nested, the ping would be logged here
    assert runtime.sessions["a"].context.log == [f"rollover@{T0 + 10}", f"ping@{T0 + 10}"]


def test_a_timer_due_at_the_instant_of_an_input_fires_first(runtime, tv):
    """docs/architecture.md, Time: a timer due at the same instant as an input fires first."""
    runtime.dispatch(tv.Dial(t=T0, number="a"))
    runtime.dispatch(tv.Schedule(t=T0, session="a", names=["alarm_a"], delays=[5]))
    runtime.clock.set(T0 + 5)  # the clock reached the deadline; nothing has fired yet
    runtime.dispatch(tv.Ping(t=T0 + 5, session="a", seq=1))
    assert runtime.sessions["a"].context.log == [f"alarm_a@{T0 + 5}", f"ping@{T0 + 5}"]


def dial_with_a_failing_tracer(tv: Any) -> Runtime:
    """A dial whose ring is answered at once, queueing an answer and a ping behind it; the
    tracer fails on the answer, so the dial raises and the ping is left queued."""
    fail_on = {"answer"}

    def tracer(record: Any) -> None:
        if record.kind == "event" and record.name in fail_on:
            fail_on.discard(record.name)
            raise OSError("the trace disk is full")

    rt = Runtime(ManualClock(T0), tracer=tracer)

    def on_command(sender: Any, *, session: Any, command: Any, **_: Any) -> None:
        if command.name == "ring":  # answered at once: two inputs queued behind the dial
            rt.dispatch(tv.Answer(t=T0, session=session.key))
            rt.dispatch(tv.Ping(t=T0, session=session.key, seq=1))

    with signals.commands(tv.VENDOR).connected_to(on_command, sender=rt), \
            pytest.raises(OSError, match="disk is full"):
        rt.dispatch(tv.Dial(t=T0, number="a"))
    return rt


def test_inputs_left_queued_by_a_failing_tracer_are_handled_with_the_next_input(tv):
    """Nothing is lost when the tracer fails: the error reaches the caller, and the inputs
    still queued behind the one being traced are handled with the next dispatch."""
    rt = dial_with_a_failing_tracer(tv)
    assert rt.sessions["a"].context.log == []  # the ping waits behind the failure
    rt.dispatch(tv.Ping(t=T0, session="a", seq=2))
    assert rt.sessions["a"].context.log == [f"ping@{T0}", f"ping@{T0}"]


def test_inputs_left_queued_by_a_failing_tracer_are_handled_by_the_next_advance(tv):
    """The same failure, and then no input comes but the clock moves (advance, with no timer
    due on the way): what is still queued is handled then, not left waiting for an input,
    at the clock's now (docs/architecture.md, Time: input handling happens at clock.now())."""
    rt = dial_with_a_failing_tracer(tv)
    assert rt.sessions["a"].context.log == []
    assert rt.next_deadline() is None or rt.next_deadline() > T0 + 1  # nothing due
    rt.advance(T0 + 1)
    assert rt.sessions["a"].context.log == [f"ping@{T0 + 1}"]


def test_a_strict_violation_is_raised_once(runtime, tv):
    with pytest.raises(Violation, match="kick"):
        runtime.dispatch(tv.Kick(t=T0, session="a"))
    runtime.dispatch(tv.Dial(t=T0, number="b"))  # nothing left over to raise again
    runtime.run_due()
    assert runtime.sessions["b"].state == "ringing"


def test_a_closed_sessions_retention_timer_finds_nothing_to_retire(tv):
    rt = Runtime(ManualClock(T0), strict=True, retention=60)
    rt.dispatch(tv.Dial(t=T0, number="a"))
    rt.dispatch(tv.Hangup(t=T0, session="a"))  # ended: retired 60 s later
    rt.close_session("a")  # closed by hand first
    rt.advance(T0 + 120)  # the retention timer falls due and finds no session
    assert rt.sessions == {}


def test_a_timer_fired_handling_is_committed_to_the_store(tv):
    """With a store each handling ends in one commit, a timer's too: a runtime that recovers
    from the store has the rollover the timer did."""
    store = MemoryStore()
    rt = Runtime(ManualClock(T0), strict=True, store=store)
    rt.dispatch(tv.Dial(t=T0, number="a"))
    rt.dispatch(tv.Answer(t=T0, session="a"))
    rt.advance(T0 + 10)  # the 10 s rollover
    assert rt.sessions["a"].context.rollovers == 1
    again = Runtime(ManualClock(T0 + 10), strict=True, store=store)
    again.recover()
    assert again.sessions["a"].context.rollovers == 1
    assert [f.id for f in again.sessions["a"].files] == ["a-1", "a-2"]


def test_a_timer_fired_handling_that_loses_a_race_is_not_an_input_to_hand_over_again(
        tv, tmp_path):
    """Conflict.input (stores/base.py): whether the refused commit was an input's handling,
    not a timer's, so that a caller knows to hand the input over again. Two runtimes share
    one SQLite file; the second writes session a first. The first runtime's rollover (a
    timer) then loses: input False; an input it handles on the stale session: input True."""
    from recstate.stores import Conflict, SQLiteStore

    db = tmp_path / "race.db"
    one = Runtime(ManualClock(T0), strict=True, store=SQLiteStore(db))
    one.dispatch(tv.Dial(t=T0, number="a"))
    one.dispatch(tv.Answer(t=T0, session="a"))  # talking: a rollover every 10 s
    two = Runtime(ManualClock(T0 + 1), strict=True, store=SQLiteStore(db))
    two.recover()
    two.dispatch(tv.Ping(t=T0 + 1, session="a", seq=1))  # the stored version moves on
    with pytest.raises(Conflict) as input_lost:
        one.dispatch(tv.Ping(t=T0 + 1, session="a", seq=2))
    assert (input_lost.value.session, input_lost.value.input) == ("a", True)
    one.reload("a")
    two.reload("a")
    two.dispatch(tv.Ping(t=T0 + 2, session="a", seq=3))
    with pytest.raises(Conflict) as timer_lost:
        one.advance(T0 + 10)
    assert (timer_lost.value.session, timer_lost.value.input) == ("a", False)
