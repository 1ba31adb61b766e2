"""One handling and its outcome (recstate/effects.py), pinned where mutation testing found it
loose (issue 8): the engine kept per machine class, the context restored or not after a
callback raised, a state left out of ``recording_states``, a coroutine receiver, the answer a
``send`` gets, and the vendor an unroutable input's error names."""

from __future__ import annotations

import inspect
from typing import Any

import attrs
import pytest

from recstate import signals
from recstate.clock import ManualClock
from recstate.events import Command, Event, command, event
from recstate.machine import Machine, on
from recstate.runtime import Runtime
from recstate.vendors import Vendor

T0 = 1_700_000_000.0
VENDOR = "effv"


@event(VENDOR, "switchOn")
@attrs.frozen(kw_only=True)
class SwitchOn(Event):
    pass


@event(VENDOR, "dim")
@attrs.frozen(kw_only=True)
class Dim(Event):
    pass


@event(VENDOR, "switchOff")
@attrs.frozen(kw_only=True)
class SwitchOff(Event):
    pass


@event(VENDOR, "flicker")
@attrs.frozen(kw_only=True)
class Flicker(Event):
    pass


@command(VENDOR, "lampCommand")
@attrs.frozen(kw_only=True)
class LampCommand(Command):
    what: str


@attrs.define
class LampContext:
    switched: int = 0


class Lamp(Machine):
    """``off -switchOn-> on -dim-> dimmed -switchOff-> off``; ``dimmed`` is left out of
    ``recording_states`` (so it keeps the canonical state it came with)."""

    vendor = VENDOR
    states = ("off", "on", "dimmed")
    initial = "off"
    transitions = (
        on("switchOn", "off", "on", after="count"),
        on("dim", "on", "dimmed"),
        on("switchOff", ["on", "dimmed"], "off", after="count"),
        on("flicker", "on", None, after="complain"),
    )
    recording_states = {"off": "idle", "on": "recording"}
    context = LampContext

    def count(self, ev: Any) -> None:
        self.ctx.switched += 1
        self.shared["switches"] = self.shared.get("switches", 0) + 1

    def complain(self, ev: Any) -> None:
        self.violation("the bulb flickered once")
        self.violation("the bulb flickered twice")


LAMPS = Vendor(name=VENDOR, machines=(Lamp,), machine_for=lambda ev: Lamp,
               session_key=lambda ev: None)


def lamp_runtime(**kw: Any) -> Runtime:
    return Runtime(ManualClock(T0), vendors={VENDOR: LAMPS}, **kw)


def test_a_state_left_out_of_recording_states_keeps_the_canonical_state(listen):
    rt = lamp_runtime(strict=True)
    changes = listen(signals.recording_changed, rt)
    rt.dispatch(SwitchOn(t=T0, session="l"))
    rt.dispatch(Dim(t=T0, session="l"))
    assert rt.sessions["l"].state == "dimmed"
    assert rt.sessions["l"].recording == "recording"
    rt.dispatch(SwitchOff(t=T0, session="l"))
    assert [(c["old"], c["new"]) for c in changes] == [("idle", "recording"),
                                                      ("recording", "idle")]


def test_one_engine_per_machine_class_its_shared_index_kept_between_handlings():
    rt = lamp_runtime(strict=True)
    rt.dispatch(SwitchOn(t=T0, session="l1"))
    engine = rt.engine(Lamp)
    rt.dispatch(SwitchOn(t=T0, session="l2"))
    rt.dispatch(SwitchOff(t=T0, session="l1"))
    assert rt.engine(Lamp) is engine
    assert engine.model.shared == {"switches": 3}  # one index across the three handlings
    assert Runtime(ManualClock(T0)).engine(Lamp) is not engine  # per runtime


def test_a_raising_handling_leaves_the_context_as_it_was_by_default(tv):
    rt = Runtime(ManualClock(T0))
    rt.dispatch(tv.Boom(t=T0, session="a"))  # ``touch`` counts, then ``explode`` raises
    assert rt.sessions["a"].context.touched == 0
    assert rt.sessions["a"].state == "idle"


def test_without_restore_context_what_callbacks_changed_before_raising_stays(tv):
    rt = Runtime(ManualClock(T0), restore_context=False)
    rt.dispatch(tv.Boom(t=T0, session="a"))
    assert rt.sessions["a"].context.touched == 1
    assert rt.sessions["a"].state == "idle"  # the state is restored either way
    assert len(rt.timers) == 0  # and none of the effects it asked for happened


def test_a_coroutine_receiver_is_refused_and_its_coroutine_closed(tv, records, lenient):
    """A receiver that returns a coroutine is refused (receivers run inside the handling);
    the coroutine is closed, so Python never warns that it was not awaited."""
    made: list[Any] = []

    async def work() -> None:  # pragma: no cover - never run
        raise AssertionError("a receiver's coroutine must not run")

    def receiver(rt: Runtime, **kw: Any) -> Any:
        made.append(work())
        return made[-1]

    with signals.commands(tv.VENDOR).connected_to(receiver, sender=lenient):
        lenient.dispatch(tv.Dial(t=T0, number="a"))
    assert [inspect.getcoroutinestate(c) for c in made] == ["CORO_CLOSED", "CORO_CLOSED"]
    errors = [r.data for r in records if r.kind == "error"]
    assert len(errors) == 2  # one a command (ring, progress)
    assert all(e["code"] == "receiver-error" and "coroutine function" in e["message"]
               for e in errors)
    assert lenient.sessions["a"].state == "ringing"  # the handling carried on


def test_send_answers_with_the_commands_sent_and_the_notice_of_a_refusal(tv):
    rt = Runtime(ManualClock(T0), strict=True)
    answer = rt.send_sync(tv.Dial(t=T0, number="a"))
    assert answer.status == "accepted"
    assert answer.commands == (tv.Ring(number="a"), tv.Progress(number="a"))
    assert (answer.session, answer.state) == ("a", "ringing")


def test_a_receiver_error_during_send_is_the_answer_the_first_one_kept(tv):
    rt = Runtime(ManualClock(T0))  # lenient: the answer is the only place it shows
    raised: list[str] = []

    def receiver(sender: Any, *, command: Any, **kw: Any) -> None:
        raised.append(command.name)
        raise RuntimeError(f"the API refused {command.name}")

    with signals.commands(tv.VENDOR).connected_to(receiver, sender=rt):
        answer = rt.send_sync(tv.Dial(t=T0, number="a"))
    assert raised == ["ring", "progress"]
    assert answer.status == "error"
    assert "the API refused ring" in answer.message  # the first, not the last


def test_a_strict_receiver_error_is_raised_after_the_handling(tv):
    rt = Runtime(ManualClock(T0), strict=True)

    def receiver(sender: Any, **kw: Any) -> None:
        raise RuntimeError("down")

    with signals.commands(tv.VENDOR).connected_to(receiver, sender=rt), \
            pytest.raises(Exception, match="down"):
        rt.dispatch(tv.Dial(t=T0, number="a"))
    assert rt.sessions["a"].state == "ringing"


def test_an_unroutable_inputs_error_record_names_its_vendor(tv, records, lenient):
    lenient.dispatch(tv.Ping(t=T0, seq=1))  # no session, no number: no key
    [error] = [r for r in records if r.kind == "error"]
    assert (error.vendor, error.session, error.data["code"]) == ("testv", None, "unroutable")


def test_a_second_violation_in_one_handling_keeps_the_first_in_the_answer(records):
    rt = lamp_runtime(tracer=records.append)
    rt.dispatch(SwitchOn(t=T0, session="l"))
    answer = rt.send_sync(Flicker(t=T0, session="l"))
    assert answer.status == "violation"
    assert answer.message == "the bulb flickered once"
    assert [(r.data["code"], r.data["message"], r.data["state"]) for r in records
            if r.kind == "error"] == [("violation", "the bulb flickered once", "on"),
                                      ("violation", "the bulb flickered twice", "on")]
    strict = lamp_runtime(strict=True)
    strict.dispatch(SwitchOn(t=T0, session="l"))
    with pytest.raises(Exception, match="flickered once"):
        strict.dispatch(Flicker(t=T0, session="l"))


def test_a_sessions_first_file_is_kept_without_a_list_until_files_is_asked_for():
    """A recording's one file needs no list of one (64 bytes of an idle session, issue
    12): it is kept as itself, snapshots read it as is, and ``files`` makes the list once,
    which later files then join."""
    from recstate.events.tencent import EnterRoom
    from recstate.recording import RecordingFile

    rt = Runtime(ManualClock(0.0))
    rt.dispatch(EnterRoom(relationId=1, roomId=2, user="u"))
    s = rt.sessions["1:2:u"]
    assert s.snapshot()["files"] == []
    assert s._files is None

    def opened(name: str) -> RecordingFile:
        return RecordingFile(id=name, session=s.key, vendor="tencent", kind="video",
                             format="mp4")

    a, b, c = opened("a"), opened("b"), opened("c")
    rt._file(s, "opened", a, {}, 1.0)
    assert s._files is a
    rt._file(s, "closed", a, {"status": "closed"}, 2.0)  # the same file again: no list
    assert s._files is a
    assert a.status == "closed"
    assert [f["id"] for f in s.snapshot()["files"]] == ["a"]
    assert s._files is a
    rt._file(s, "opened", b, {}, 3.0)  # a second: now a list of both
    assert type(s._files) is list
    assert s._files == [a, b]
    rt._file(s, "closed", b, {"status": "closed"}, 4.0)
    assert s._files == [a, b]
    single = rt.sessions["1:2:u"] = type(s)(s.key, s.machine, state=s.state, context=s.context)
    rt._file(single, "opened", c, {}, 5.0)
    files = single.files
    assert files == [c]
    assert single.files is files
    assert single._files is files
    rt._file(single, "opened", a, {}, 6.0)
    assert files == [c, a]
    assert type(s)(s.key, s.machine).files == []


def test_a_sessions_vendor_is_its_machines_and_a_file_has_no_weakref_slot():
    """Issue 12: a session's vendor is not a slot of its own (8 bytes), nor is a file's
    weakref (8 bytes): the vendor reads as the machine's and cannot be set apart from it."""
    import weakref

    from recstate.events.tencent import EnterRoom
    from recstate.recording import RecordingFile

    rt = Runtime(ManualClock(0.0))
    rt.dispatch(EnterRoom(relationId=1, roomId=2, user="u"))
    s = rt.sessions["1:2:u"]
    assert "vendor" not in type(s).__slots__
    assert s.vendor == s.machine.vendor == "tencent"
    assert s.snapshot()["vendor"] == "tencent"
    with pytest.raises(AttributeError):
        s.vendor = "other"  # type: ignore[misc]
    f = RecordingFile(id="a", session=s.key, vendor="tencent", kind="video", format="mp4")
    with pytest.raises(TypeError):
        weakref.ref(f)
