"""The Runtime: routing, run-to-completion, error isolation between sessions, and strict and
lenient violations."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from recstate import signals
from recstate.clock import ManualClock
from recstate.errors import HandlingError, Violation
from recstate.runtime import Runtime

T0 = 1_700_000_000.0


def start_call(rt: Runtime, tv: Any, key: str) -> None:
    rt.dispatch(tv.Dial(t=T0, number=key))
    rt.dispatch(tv.Answer(t=T0, session=key))


# ---- routing ------------------------------------------------------------------------------------
def test_an_event_creates_its_session_with_the_vendors_machine(runtime, tv):
    runtime.dispatch(tv.Dial(t=T0, number="555"))
    session = runtime.sessions["555"]  # the key derived from the payload by the vendor's rule
    assert session.machine is tv.Phone
    assert session.vendor == "testv"
    assert session.state == "ringing"
    assert session.context.number == "555"
    assert list(runtime) == [session]


def test_an_explicit_session_key_wins_over_the_vendors_rule(runtime, tv):
    runtime.dispatch(tv.Dial(t=T0, number="555", session="call-1"))
    assert set(runtime.sessions) == {"call-1"}


def test_sessions_are_independent(runtime, tv):
    start_call(runtime, tv, "a")
    runtime.dispatch(tv.Dial(t=T0, number="b"))
    assert runtime.sessions["a"].state == "talking"
    assert runtime.sessions["b"].state == "ringing"


def test_an_unroutable_event_is_recorded_and_other_events_carry_on(lenient, records, tv,
                                                                     listen):
    violations = listen(signals.violation, lenient)
    errors = listen(signals.error, lenient)
    lenient.dispatch(tv.Ping(t=T0, seq=1))  # no session and no number to derive one from
    lenient.dispatch(tv.Dial(t=T0, number="a"))
    assert lenient.sessions["a"].state == "ringing"
    assert "" not in lenient.sessions
    [record] = [r for r in records if r.kind == "error"]
    assert (record.name, record.session, record.data["code"]) == ("ping", None, "unroutable")
    assert errors[0]["code"] == "unroutable"
    assert errors[0]["session"] is None
    assert "add a 'session' field" in violations[0]["violation"].reason


def test_an_unroutable_event_raises_in_strict_mode(runtime, tv):
    with pytest.raises(Violation, match="no session key"):
        runtime.dispatch(tv.Ping(t=T0, seq=1))


def test_state_changes_are_sent_as_transition_and_recording_changed_signals(runtime, tv,
                                                                           listen):
    moves = listen(signals.transition, runtime)
    recording = listen(signals.recording_changed, runtime)
    start_call(runtime, tv, "a")
    runtime.dispatch(tv.Ping(t=T0, session="a", seq=1))  # internal: no transition
    assert [(m["session"].key, m["name"], m["src"], m["dst"]) for m in moves] == [
        ("a", "dial", "idle", "ringing"), ("a", "answer", "ringing", "talking")]
    assert [(r["old"], r["new"]) for r in recording] == [("idle", "starting"),
                                                        ("starting", "recording")]
    assert runtime.sessions["a"].recording == "recording"


def test_commands_go_out_on_the_vendors_command_signal_in_order(runtime, tv, listen):
    sent = listen(signals.commands("testv"), runtime)
    other_runtime = Runtime(runtime.clock)
    overheard = listen(signals.commands("testv"), other_runtime)
    runtime.dispatch(tv.Dial(t=T0, number="a"))
    assert [(c["session"].key, c["command"]) for c in sent] == [
        ("a", tv.Ring(number="a")), ("a", tv.Progress(number="a"))]
    assert overheard == []  # a signal's sender is its runtime: another one hears nothing


def test_file_changes_are_sent_on_the_file_changed_signal(runtime, tv, listen):
    changes = listen(signals.file_changed, runtime)
    start_call(runtime, tv, "a")
    runtime.dispatch(tv.Hangup(t=T0, session="a"))
    assert [(c["change"], c["file"].id, c["file"].status) for c in changes] == [
        ("opened", "a-1", "closed"), ("closed", "a-1", "closed")]
    assert runtime.sessions["a"].files == [changes[0]["file"]]


# ---- run to completion ------------------------------------------------------------------------
def test_an_event_dispatched_by_a_command_receiver_is_queued_not_nested(runtime, tv, listen):
    order: list[str] = []
    states_seen_by_receiver: list[str] = []

    def on_command(rt: Runtime, *, session: Any, command: Any, **_: Any) -> None:
        order.append(f"command {command.name}")
        if command.name == "ring":
            rt.dispatch(tv.Answer(t=T0, session=session.key))  # answered at once
            states_seen_by_receiver.append(rt.sessions[session.key].state)

    def on_transition(rt: Runtime, *, name: str, src: str, dst: str, **_: Any) -> None:
        order.append(f"{name}: {src}->{dst}")

    with signals.commands("testv").connected_to(on_command, sender=runtime), \
            signals.transition.connected_to(on_transition, sender=runtime):
        runtime.dispatch(tv.Dial(t=T0, number="a"))
    # nested, "answer" would have run between "ring" and "progress"
    assert order == ["dial: idle->ringing", "command ring", "command progress",
                     "answer: ringing->talking", "command connected"]
    assert states_seen_by_receiver == ["ringing"]  # dispatch() returned before handling it
    assert runtime.sessions["a"].state == "talking"


def test_an_event_dispatched_by_a_transition_handler_is_queued_after_the_current_one(
        runtime, tv, listen):
    moves = listen(signals.transition, runtime)
    sent = listen(signals.commands("testv"), runtime)

    def hang_up_on_answer(rt: Runtime, *, session: Any, name: str, **_: Any) -> None:
        if name == "answer":
            rt.dispatch(tv.Hangup(t=T0, session=session.key))
            assert session.state == "talking"  # not yet: queued

    with signals.transition.connected_to(hang_up_on_answer, sender=runtime):
        start_call(runtime, tv, "a")
    assert [m["name"] for m in moves] == ["dial", "answer", "hangup"]
    # the answer's own command went out before the hang-up was handled
    assert [c["command"].name for c in sent] == ["ring", "progress", "connected"]
    assert runtime.sessions["a"].state == "ended"


def test_events_queued_by_handlers_are_handled_in_the_order_they_were_queued(runtime, tv,
                                                                            listen):
    moves = listen(signals.transition, runtime)

    def fan_out(rt: Runtime, *, session: Any, command: Any, **_: Any) -> None:
        if command.name == "ring" and session.key == "a":
            for key in ("x", "y", "z"):
                rt.dispatch(tv.Dial(t=T0, number=key))

    with signals.commands("testv").connected_to(fan_out, sender=runtime):
        runtime.dispatch(tv.Dial(t=T0, number="a"))
    assert [m["session"].key for m in moves] == ["a", "x", "y", "z"]


# ---- error isolation ---------------------------------------------------------------------------
def test_an_exception_in_one_sessions_callback_is_recorded_and_others_carry_on(
        lenient, records, tv, listen):
    errors = listen(signals.error, lenient)
    sent = listen(signals.commands("testv"), lenient)
    start_call(lenient, tv, "a")
    start_call(lenient, tv, "b")
    files_before = [(f.id, f.status) for f in lenient.sessions["a"].files]
    timers_before = [t.to_dict() for t in lenient.timers.for_session("a")]
    del sent[:]

    # Three events queued together (delivered at the same instant): the first one raises.
    lenient.deliver_at(T0 + 1, tv.Boom(t=T0 + 1, session="a"))
    lenient.deliver_at(T0 + 1, tv.MediaData(t=T0 + 1, session="a", size=7))
    lenient.deliver_at(T0 + 1, tv.Hangup(t=T0 + 1, session="b"))
    lenient.advance(T0 + 1)

    a, b = lenient.sessions["a"], lenient.sessions["b"]
    assert a.state == "talking"  # unchanged by the handling that raised
    assert a.context.data == 7  # the event queued after it in the same session was handled
    assert b.state == "ended"  # and the other session carried on
    # the failed handling carried out nothing it asked for: no command, no timer, no file
    assert [c["command"].name for c in sent] == []
    assert [f for f in lenient.timers.for_session("a") if f.name == "alarm_a"] == []
    assert [(f.id, f.status) for f in a.files] == files_before
    assert {t["name"] for t in timers_before} == {t.name for t in lenient.timers.for_session("a")}

    [error] = [r for r in records if r.kind == "error"]
    assert (error.t, error.vendor, error.name, error.session) == (T0 + 1, "testv", "boom", "a")
    assert error.data["code"] == "exception"
    assert error.data["level"] == "error"
    assert "RuntimeError: the phone caught fire" in error.data["message"]
    assert "in state 'talking'" in error.data["message"]
    [signal] = errors
    assert signal["session"] is a
    assert (signal["name"], signal["code"], signal["t"]) == ("boom", "exception", T0 + 1)


def test_an_exception_in_a_callback_after_the_state_change_leaves_the_state_as_it_was(
        lenient, tv, listen):
    moves = listen(signals.transition, lenient)
    lenient.dispatch(tv.Dial(t=T0, number="a"))
    lenient.dispatch(tv.Boom(t=T0, session="a"))  # ringing -> ended, then "explode" raises
    assert lenient.sessions["a"].state == "ringing"
    assert lenient.sessions["a"].recording == "starting"
    assert [m["name"] for m in moves] == ["dial"]  # no transition was announced
    lenient.dispatch(tv.Answer(t=T0, session="a"))  # and the session still works
    assert lenient.sessions["a"].state == "talking"


def test_a_handling_error_is_raised_in_strict_mode_after_the_queue_drained(runtime, tv):
    start_call(runtime, tv, "a")
    runtime.deliver_at(T0 + 1, tv.Boom(t=T0 + 1, session="a"))
    runtime.deliver_at(T0 + 1, tv.Dial(t=T0 + 1, number="b"))
    with pytest.raises(HandlingError) as info:
        runtime.advance(T0 + 1)
    error = info.value
    assert (error.session, error.name, error.state) == ("a", "boom", "talking")
    assert isinstance(error.__cause__, RuntimeError)
    assert error.error is error.__cause__
    assert runtime.sessions["b"].state == "ringing"  # handled before the error was raised
    assert runtime.sessions["a"].state == "talking"


def test_an_exception_in_a_signal_receiver_is_raised_in_strict_mode_after_the_handling(
        runtime, tv):
    # receivers are the embedding service's code: strict mode does not hide their errors,
    # but the handling that told them still completes
    def broken(rt: Runtime, **_: Any) -> None:
        raise LookupError("receiver bug")

    with signals.transition.connected_to(broken, sender=runtime), \
            pytest.raises(HandlingError, match="LookupError: receiver bug") as caught:
        runtime.dispatch(tv.Dial(t=T0, number="a"))
    assert isinstance(caught.value.error, LookupError)
    assert runtime.sessions["a"].state == "ringing", "the handling completed"
    runtime.dispatch(tv.Dial(t=T0, number="b"))  # the runtime is not left busy
    assert runtime.sessions["b"].state == "ringing"


# ---- violations -----------------------------------------------------------------------------
def test_lenient_violation_is_recorded_in_the_trace_and_signalled(lenient, records, tv,
                                                                  listen):
    seen = listen(signals.violation, lenient)
    lenient.dispatch(tv.Dial(t=T0, number="a"))
    lenient.dispatch(tv.MediaData(t=T0, session="a", size=1))  # not accepted while ringing
    assert lenient.sessions["a"].state == "ringing"
    [record] = [r for r in records if r.kind == "error"]
    assert (record.name, record.session) == ("mediaData", "a")
    assert record.data["code"] == "violation"
    assert record.data["state"] == "ringing"
    assert record.data["message"] == "not accepted in state 'ringing' (accepted in: talking)"
    [signal] = seen
    violation = signal["violation"]
    assert signal["session"] is lenient.sessions["a"]
    assert (violation.session, violation.name, violation.state, violation.t) == (
        "a", "mediaData", "ringing", T0)
    assert "event 'mediaData' in state 'ringing'" in str(violation)


def test_an_event_the_machine_does_not_take_at_all_is_a_violation(lenient, records, tv):
    lenient.dispatch(tv.Dial(t=T0, number="a"))
    lenient.dispatch(tv.Kick(t=T0, session="a"))
    [record] = [r for r in records if r.kind == "error"]
    assert record.data["code"] == "violation"
    assert "machine takes no event 'kick'" in record.data["message"]


def test_an_event_refused_by_every_guard_is_a_violation(lenient, records, tv):
    start_call(lenient, tv, "a")
    lenient.dispatch(tv.Transfer(t=T0, session="a", to="b"))
    assert lenient.sessions["a"].state == "talking"
    [record] = [r for r in records if r.kind == "error"]
    assert "refused by its guards" in record.data["message"]


def test_an_ignored_event_is_not_a_violation(runtime, tv, listen):
    seen = listen(signals.violation, runtime)
    runtime.dispatch(tv.Ping(t=T0, session="a", seq=1))  # idle ignores ping
    assert runtime.sessions["a"].state == "idle"
    assert runtime.sessions["a"].context.log == []
    assert seen == []


def test_strict_violation_is_raised_after_the_queue_drained(runtime, tv, listen):
    moves = listen(signals.transition, runtime)
    runtime.dispatch(tv.Dial(t=T0, number="a"))
    runtime.deliver_at(T0 + 1, tv.MediaData(t=T0 + 1, session="a", size=1))  # a violation
    runtime.deliver_at(T0 + 1, tv.Answer(t=T0 + 1, session="a"))
    runtime.deliver_at(T0 + 1, tv.Dial(t=T0 + 1, number="b"))
    with pytest.raises(Violation) as info:
        runtime.advance(T0 + 1)
    assert (info.value.session, info.value.name, info.value.state) == ("a", "mediaData",
                                                                       "ringing")
    # the events queued with it were all handled before it was raised
    assert [(m["session"].key, m["name"]) for m in moves] == [
        ("a", "dial"), ("a", "answer"), ("b", "dial")]
    assert runtime.sessions["a"].state == "talking"
    runtime.dispatch(tv.MediaData(t=T0 + 1, session="a", size=1))  # the runtime goes on
    assert runtime.sessions["a"].context.data == 1


def test_strict_violation_from_a_handler_queued_event_is_raised_by_the_outer_dispatch(
        runtime, tv):
    def answer_twice(rt: Runtime, *, command: Any, session: Any, **_: Any) -> None:
        if command.name == "ring":
            rt.dispatch(tv.Answer(t=T0, session=session.key))
            rt.dispatch(tv.Answer(t=T0, session=session.key))  # the second one: a violation
            rt.dispatch(tv.MediaData(t=T0, session=session.key, size=3))

    with signals.commands("testv").connected_to(answer_twice, sender=runtime), \
            pytest.raises(Violation, match="event 'answer' in state 'talking'"):
        runtime.dispatch(tv.Dial(t=T0, number="a"))
    assert runtime.sessions["a"].context.data == 3


def test_a_violation_reported_by_a_callback_is_recorded_like_a_rejected_event(
        manual_clock, tv, records):
    from recstate.machine import on

    class Picky(tv.Phone):
        transitions = (*tv.Phone.transitions, on("kick", "*", None, after="complain"))

        def complain(self, ev: Any) -> None:
            self.violation("three file IDs for two files")

    from recstate.vendors import Vendor

    vendor = Vendor(name="testv", machines=(Picky,), machine_for=lambda ev: Picky,
                    session_key=lambda ev: None)
    rt = Runtime(manual_clock, tracer=records.append, vendors={"testv": vendor})
    rt.dispatch(tv.Kick(t=T0, session="a"))
    [record] = [r for r in records if r.kind == "error"]
    assert record.data == {"code": "violation", "message": "three file IDs for two files",
                           "state": "idle"}


def test_an_exception_in_a_guard_is_isolated_like_one_in_a_callback(manual_clock, tv,
                                                                    records):
    class Shaky(tv.Phone):
        def can_transfer(self, ev: Any) -> bool:
            raise ZeroDivisionError("guard bug")

    from recstate.vendors import Vendor

    vendor = Vendor(name="testv", machines=(Shaky,), machine_for=lambda ev: Shaky,
                    session_key=lambda ev: getattr(ev, "number", None) or None)
    rt = Runtime(manual_clock, tracer=records.append, vendors={"testv": vendor})
    start_call(rt, tv, "a")
    rt.dispatch(tv.Transfer(t=T0, session="a", to="b"))
    rt.dispatch(tv.MediaData(t=T0, session="a", size=2))
    assert rt.sessions["a"].state == "talking"
    assert rt.sessions["a"].context.data == 2
    [error] = [r for r in records if r.kind == "error"]
    assert error.name == "transfer"
    assert "ZeroDivisionError: guard bug" in error.data["message"]


def test_a_handling_that_raises_leaves_the_context_as_it_was(lenient, tv):
    start_call(lenient, tv, "a")
    lenient.dispatch(tv.Boom(t=T0, session="a"))  # "touch" runs before "explode" raises
    assert lenient.sessions["a"].context.touched == 0


def test_the_plugin_fixtures_give_a_strict_runtime_on_a_manual_clock(runtime, manual_clock):
    assert isinstance(manual_clock, ManualClock)
    assert manual_clock.now() == T0
    assert runtime.clock is manual_clock
    assert runtime.strict is True
    assert runtime.sessions == {}


def test_a_command_receiver_that_raises_is_recorded_and_the_queue_goes_on(lenient, tv, records):
    """An adapter whose API call blows up must not strand the events queued behind it."""
    from recstate import signals

    def broken_adapter(sender, **kwargs):
        raise ConnectionError("vendor API unreachable")

    signals.commands("testv").connect(broken_adapter, sender=lenient, weak=False)
    try:
        start_call(lenient, tv, "a")
        start_call(lenient, tv, "b")
    finally:
        signals.commands("testv").disconnect(broken_adapter, sender=lenient)
    errors = [r for r in records if r.kind == "error" and r.data["code"] == "receiver-error"]
    assert errors, "the receiver's exception was recorded"
    assert "ConnectionError: vendor API unreachable" in errors[0].data["message"]
    assert {lenient.sessions["a"].state, lenient.sessions["b"].state} == {"talking"}


def test_an_async_receiver_is_refused_with_a_clear_error(lenient, tv, records):
    async def async_observer(sender, **kwargs):
        return None

    signals.transition.connect(async_observer, sender=lenient, weak=False)
    try:
        lenient.dispatch(tv.Dial(t=T0, number="a"))
    finally:
        signals.transition.disconnect(async_observer, sender=lenient)
    [error] = [r for r in records if r.kind == "error"]
    assert error.data["code"] == "receiver-error"
    assert "must be plain functions" in error.data["message"]
    assert lenient.sessions["a"].state == "ringing", "the handling completed"


def test_a_routing_rule_that_raises_is_recorded_and_other_events_go_on(lenient, tv, records):
    from recstate.vendors import get_vendor

    vendor = get_vendor("testv")

    def broken_key(ev: Any) -> str:
        raise KeyError("no number")

    lenient._vendors["testv"] = attrs.evolve(vendor, session_key=broken_key)
    lenient.dispatch(tv.Dial(t=T0, number="a"))
    lenient._vendors["testv"] = vendor
    lenient.dispatch(tv.Dial(t=T0, number="b"))
    [error] = [r for r in records if r.kind == "error"]
    assert error.data["code"] == "unroutable"
    assert "KeyError" in error.data["message"]
    assert "session" in error.data["message"]
    assert set(lenient.sessions) == {"b"}
