"""The Juphoon channel machine against 001's rules: the record state is the vendor's word,
enableRecord only in Ready (true) / Running (false), one file per Running span, the deadline,
out-of-order reports, bad input."""

from __future__ import annotations

from typing import Any

import pytest

from recstate import ManualClock, Runtime, signals
from recstate.errors import Violation
from recstate.events import Event
from recstate.events.juphoon import (
    EnableRecord,
    Join,
    JoinError,
    JoinOk,
    JoinParam,
    Leave,
    LeftChannel,
    PropertyChange,
    QiniuRecordParam,
    StatError,
    StatOk,
    build_qiniu_record_param,
)
from recstate.machines.juphoon import JuphoonChannel, JuphoonOptions
from recstate.trace import Record

T0 = 1_700_000_000.0
C = "room-1"


def params(name: str = "a.mp4", video: bool = True) -> QiniuRecordParam:
    return build_qiniu_record_param(video, "bkt", "sk-value-123", "ak-value-456", name)


class Channel:
    """A runtime with one Juphoon channel, and what it said."""

    def __init__(self, **options: Any) -> None:
        self.records: list[Record] = []
        self.rt = Runtime(ManualClock(T0), tracer=self.records.append,
                          options={"juphoon": JuphoonOptions(**options)} if options else None)
        self.changes: list[tuple[str, str]] = []
        signals.recording_changed.connect(self._changed, sender=self.rt, weak=False)

    def _changed(self, sender: Any, **kw: Any) -> None:
        self.changes.append((kw["old"], kw["new"]))

    def at(self, dt: float, ev_type: type[Event], **data: Any) -> None:
        t = T0 + dt
        self.rt.advance(t)
        if ev_type in (Join, Leave, EnableRecord, JoinOk, JoinError, LeftChannel):
            data.setdefault("channelId", C)
        else:
            data.setdefault("session", C)
        self.rt.dispatch(ev_type(t=t, **data))

    def join(self, dt: float = 0.0, record: QiniuRecordParam | None = None) -> None:
        self.at(dt, Join, joinParam=JoinParam(record=record))
        self.at(dt + 0.2, JoinOk)

    def state(self, dt: float, record_state: str | None) -> None:
        self.at(dt, PropertyChange, recordState=record_state)

    def enable(self, dt: float, on: bool, record: QiniuRecordParam | None = None) -> None:
        self.at(dt, EnableRecord, enable=on, recordParam=record)

    @property
    def session(self) -> Any:
        return self.rt.sessions[C]

    def kind(self, kind: str) -> list[Record]:
        return [r for r in self.records if r.kind == kind]

    def commands(self, name: str | None = None) -> list[Record]:
        return [r for r in self.kind("command") if name is None or r.name == name]

    def codes(self) -> list[Any]:
        return [r.data["code"] for r in self.kind("error")]  # type: ignore[index]

    def errors_of(self, code: Any) -> list[str]:
        return self.errors(code)

    def errors(self, code: Any) -> list[str]:
        return [r.data["message"] for r in self.kind("error")  # type: ignore[index]
                if r.data["code"] == code]  # type: ignore[index]


def recording_channel(name: str = "a.mp4") -> Channel:
    ch = Channel()
    ch.join(0, params(name))
    ch.state(0.4, "Ready")
    ch.enable(1, True)
    ch.state(1.2, "Running")
    return ch


def test_the_lifecycle_join_enable_disable_leave() -> None:
    ch = recording_channel()
    assert ch.session.state == "recording"
    assert ch.session.context.record_state == "Running"
    ch.enable(61, False)
    assert ch.session.state == "disabling"
    ch.state(61.2, "Ready")
    ch.at(70, Leave)
    ch.at(70.2, LeftChannel)
    assert ch.session.state == "left"
    # the stat goes 5 s after the close (stat_delays[0]), before the leave
    assert [c.name for c in ch.commands()] == ["join", "enableRecord", "enableRecord", "stat",
                                               "leave"]
    assert [c.data["enable"] for c in ch.commands("enableRecord")] == [  # type: ignore[index]
        True, False]
    (f,) = ch.session.files
    assert (f.id, f.kind, f.format, f.start, f.end, f.status) == (
        "a.mp4", "video", "mp4", T0 + 1.2, T0 + 61.2, "closed")
    assert ch.changes == [("idle", "starting"), ("starting", "recording"),
                          ("recording", "stopped")]


def test_join_without_record_parameters_stays_none_and_enable_is_refused() -> None:
    ch = Channel()
    ch.join(0)
    assert ch.session.context.record_state == "None"
    ch.enable(5, True)
    assert ch.commands("enableRecord") == []
    (message,) = ch.errors("enable-refused")
    assert "record state is None" in message
    assert "wait for onMediaChannelPropertyChange to report Ready" in message
    assert ch.session.state == "joined"


def test_enable_true_is_refused_in_running_and_false_in_ready() -> None:
    ch = recording_channel()
    ch.enable(5, True)
    ch.enable(6, False)
    ch.state(6.2, "Ready")
    ch.enable(7, False)
    refusals = ch.errors("enable-refused")
    assert len(refusals) == 2
    assert "record state is Running" in refusals[0]
    assert "record state is Ready" in refusals[1]
    assert "wait for onMediaChannelPropertyChange to report Running" in refusals[1]
    assert [c.data["enable"] for c in ch.commands("enableRecord")] == [  # type: ignore[index]
        True, False]


def test_enable_while_the_last_one_waits_is_refused_naming_the_wait() -> None:
    ch = Channel()
    ch.join(0, params())
    ch.state(0.4, "Ready")
    ch.enable(1, True)
    ch.enable(2, True)
    (message,) = ch.errors("enable-refused")
    assert "waiting for the vendor's onMediaChannelPropertyChange" in message
    assert len(ch.commands("enableRecord")) == 1


def test_an_enable_never_answered_ends_with_an_error_after_30_s() -> None:
    ch = Channel()
    ch.join(0, params())
    ch.state(0.4, "Ready")
    ch.enable(1, True)
    ch.rt.advance(T0 + 30.9)
    assert ch.session.state == "enabling"
    ch.rt.advance(T0 + 31)
    assert ch.session.state == "joined"
    (error,) = [r for r in ch.kind("error") if r.data["code"] == "no-property-change"]  # type: ignore[index]
    assert error.t == T0 + 31
    assert ch.session.files == []
    assert ch.changes == [("idle", "starting"), ("starting", "idle")]
    # What the vendor reports next is followed: a late Running opens the file.
    ch.state(40, "Running")
    assert ch.session.state == "recording"
    assert len(ch.session.files) == 1
    assert ch.codes()[-1] == "late-property-change"


def test_the_deadline_is_an_option() -> None:
    ch = Channel(enable_timeout=5.0)
    ch.join(0, params())
    ch.state(0.4, "Ready")
    ch.enable(1, True)
    ch.rt.advance(T0 + 6)
    assert ch.session.state == "joined"


def test_a_disable_never_answered_keeps_the_file_open() -> None:
    ch = recording_channel()
    ch.enable(10, False)
    ch.rt.advance(T0 + 40)
    assert ch.session.state == "recording"
    assert ch.session.files[0].status == "open"
    assert "no-property-change" in ch.codes()


def test_a_new_file_name_on_enable_replaces_the_joins() -> None:
    ch = recording_channel("one.mp4")
    ch.enable(10, False)
    ch.state(10.2, "Ready")
    ch.enable(20, True, params("two.mp4"))
    ch.state(20.2, "Running")
    ch.enable(30, False)
    ch.state(30.2, "Ready")
    ch.enable(40, True)  # null: the parameters in force are two.mp4's
    ch.state(40.2, "Running")
    ids = [f.id for f in ch.session.files]
    assert ids == ["one.mp4", "two.mp4", "two.mp4#2"]
    assert "file-name-reused" in ch.codes()
    sent = [c.data["recordParam"] for c in ch.commands("enableRecord")]  # type: ignore[index]
    assert sent[2] is not None
    assert '"FileKey":"two.mp4"' in sent[2]["recordString"]
    assert sent[0] is None
    assert sent[4] is None


def test_audio_only_gives_an_audio_file() -> None:
    ch = Channel()
    ch.join(0, params("talk", video=False))
    ch.state(0.4, "Ready")
    ch.enable(1, True)
    ch.state(1.2, "Running")
    (f,) = ch.session.files
    assert (f.kind, f.format) == ("audio", "m4a")


def test_running_straight_from_none_is_followed_and_a_violation() -> None:
    ch = Channel()
    ch.join(0, params())
    violations: list[Violation] = []
    signals.violation.connect(lambda s, **kw: violations.append(kw["violation"]),
                              sender=ch.rt, weak=False)
    ch.state(1, "Running")
    assert ch.session.state == "recording"
    assert len(ch.session.files) == 1
    assert len(violations) == 1
    assert "straight from None" in violations[0].reason


def test_running_or_ready_without_being_asked_are_violations() -> None:
    ch = Channel()
    ch.join(0, params())
    ch.state(0.4, "Ready")
    violations: list[str] = []
    signals.violation.connect(lambda s, **kw: violations.append(kw["violation"].reason),
                              sender=ch.rt, weak=False)
    ch.state(5, "Running")
    ch.state(9, "Ready")
    assert len(violations) == 2
    assert "enableRecord(true) was never asked" in violations[0]
    assert "enableRecord(false) was never asked" in violations[1]
    (f,) = ch.session.files
    assert (f.start, f.end, f.status) == (T0 + 5, T0 + 9, "closed")


def test_none_while_recording_closes_the_file_without_a_violation() -> None:
    ch = recording_channel()
    ch.state(30, "None")
    assert ch.session.state == "stopped"
    assert ch.session.files[0].end == T0 + 30
    assert not [r for r in ch.kind("error") if r.data["code"] == "violation"]  # type: ignore[index]


def test_leave_while_recording_closes_the_file_at_the_leave() -> None:
    ch = recording_channel()
    ch.at(50, Leave)
    assert ch.session.files[0].end == T0 + 50
    assert ch.session.state == "leaving"
    ch.rt.advance(T0 + 81)  # onLeave dropped
    assert ch.session.state == "left"
    assert "no-answer" in ch.codes()


def test_on_leave_without_a_leave_closes_the_file() -> None:
    ch = recording_channel()
    ch.at(50, LeftChannel, reason=6)
    assert ch.session.state == "left"
    assert ch.session.files[0].end == T0 + 50
    (message,) = ch.errors("left")
    assert "6: 被踢" in message  # JCMediaChannelReasonKicked


def test_a_refused_join_fails_the_session_with_the_code() -> None:
    ch = Channel()
    ch.at(0, Join, joinParam=JoinParam(record=params()))
    ch.at(0.2, JoinError, code=10, desc="full")
    assert ch.session.state == "failed"
    assert ch.session.recording == "failed"
    assert ch.codes() == [10]
    # JCMediaChannelReasonFull (成员满) in the SDK's headers
    assert "成员满" in ch.errors_of(10)[0]


def test_a_closed_file_is_asked_of_qiniu_and_becomes_ready() -> None:
    ch = recording_channel("rec.mp4")
    ch.enable(10, False)
    ch.state(10.2, "Ready")
    ch.rt.advance(T0 + 15.2)
    (stat,) = ch.commands("stat")
    assert stat.data == {"fileId": "rec.mp4", "bucket": "bkt", "key": "rec.mp4"}
    assert stat.t == T0 + 15.2
    ch.at(15.4, StatOk, fileId="rec.mp4", key="rec.mp4", fsize=2048, hash="FhX",
          url="https://d/rec.mp4")
    f = ch.session.files[0]
    assert (f.status, f.size, f.hash, f.url) == ("ready", 2048, "FhX", "https://d/rec.mp4")


def test_a_file_never_in_the_bucket_is_asked_again_then_lost() -> None:
    ch = recording_channel("gone.mp4")
    ch.enable(10, False)
    ch.state(10.2, "Ready")
    delays = JuphoonOptions().stat_delays
    t = 10.2 + delays[0]
    for delay in (*delays[1:], None):
        ch.rt.advance(T0 + t)
        ch.at(t + 0.1, StatError, fileId="gone.mp4", key="gone.mp4", code=612,
              desc="no such file or directory")
        if delay is not None:
            t += 0.1 + delay
    assert len(ch.commands("stat")) == len(delays)
    assert ch.session.files[0].status == "lost"
    assert ch.codes()[-1] == "file-lost"


def test_bad_input_in_one_channel_leaves_another_recording() -> None:
    ch = recording_channel()
    other = "room-2"
    ch.rt.dispatch(PropertyChange(t=T0 + 2, session=other, recordState="Ready"))
    ch.at(3, EnableRecord, channelId=other, enable=True)
    assert ch.session.state == "recording"
    assert ch.session.files[0].status == "open"
    with pytest.raises(ValueError, match="None, Ready, Running"):
        PropertyChange(t=T0, session=C, recordState="Paused")  # type: ignore[arg-type]


def test_machine_definition_names_the_document() -> None:
    import recstate.machines.juphoon as module

    assert "001_9e36cf2bf397b797.txt" in (module.__doc__ or "")
    assert JuphoonChannel.qualified_name() == "juphoon.channel"


def test_a_snapshot_restores_mid_recording_and_keeps_the_stat_schedule() -> None:
    ch = recording_channel("keep.mp4")
    ch.enable(10, False)
    ch.state(10.2, "Ready")  # closed; its stat is due at +15.2
    ch.enable(12, True, params("next.mp4"))
    ch.state(12.2, "Running")
    data = ch.rt.snapshot(C)
    assert "sk-value-123" not in str(data)
    rt = Runtime(ManualClock(T0 + 13))
    session = rt.restore(data)
    assert (session.state, session.context.record_state) == ("recording", "Running")
    assert [f.status for f in session.files] == ["closed", "open"]
    sent: list[Any] = []
    signals.commands("juphoon").connect(lambda s, **kw: sent.append(kw["command"]),
                                        sender=rt, weak=False)
    rt.advance(T0 + 16)
    assert [c.key for c in sent] == ["keep.mp4"]  # the stat fell due after the restore
    rt.dispatch(EnableRecord(t=T0 + 20, channelId=C, enable=False))
    rt.dispatch(PropertyChange(t=T0 + 20.2, session=C, recordState="Ready"))
    assert [f.id for f in session.files] == ["keep.mp4", "next.mp4"]
    assert session.files[1].end == T0 + 16  # handled at the runtime's now


def test_the_join_answer_after_a_running_report_or_a_leave_is_taken_quietly() -> None:
    ch = Channel()
    ch.at(0, Join, joinParam=JoinParam(record=params()))
    ch.state(0.1, "Ready")  # the property change may come before onJoin
    ch.at(0.2, JoinOk)
    assert (ch.session.state, ch.session.context.record_state) == ("joined", "Ready")
    other = Channel()
    other.at(0, Join, joinParam=JoinParam(record=params()))
    other.at(0.1, Leave)
    other.at(0.2, JoinOk)
    other.at(0.3, LeftChannel)
    assert other.session.state == "left"
    assert not [r for r in other.kind("error") if r.data["code"] == "violation"]  # type: ignore[index]
