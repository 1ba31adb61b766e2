"""Acceptance of the Juphoon vendor (issue 13), black box.

Written from ``vendor-docs/001_9e36cf2bf397b797.txt`` and the issue's contract only: trace
lines (event names, data fields) go in through ``recstate replay --json`` as a subprocess,
through :func:`recstate.replay.replay`, or through ``Runtime.dispatch`` with events parsed from
trace-line dicts; what comes out is read from the report (commands, errors, violations,
files, states), the trace and the public ``Session``. The expected values are the document's
and the issue's: commands ``join`` / ``leave`` / ``enableRecord``; ``recordState`` ``None`` /
``Ready`` / ``Running``; ``enableRecord(true)`` only in Ready, ``(false)`` only in Running;
one file per Running span named by the ``fileName`` in force; a 30 s deadline; out-of-order
reports followed and reported; ``***`` for the keys; exit status 0 / 1 / 2.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import subprocess
import sys
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import pytest
from loopback import Loopback, Request

from recstate import (
    ManualClock,
    RecordingFile,
    Runtime,
    TraceError,
    TraceWriter,
    parse_event,
    signals,
)
from recstate.adapters.juphoon import (
    JuphoonSimulator,
    QiniuAdapter,
    QiniuClient,
    upload_token,
)
from recstate.events.juphoon import build_qiniu_record_param, buildQiniuRecordParam
from recstate.machines.juphoon import JuphoonOptions
from recstate.replay import replay
from recstate.trace import Record

TRACES = Path(__file__).resolve().parent.parent / "examples" / "traces"
T0 = 1_700_000_000.0
CH = "class-1001"
# Shaped like Qiniu keys (40 URL-safe characters), and not real ones.
AK = "Xq7AcCeSsKeY0aLmN2pQ4rS6tU8vW0xY3zA5bC1d"
SK = "Zs9SeCrEtKeY1bMnO3pQ5rS7tU9vW1xY4zA6bC2e"


def parts(file_name: str = "part1.mp4", video: bool = True, bucket: str = "class-recordings"
          ) -> dict[str, Any]:
    """The issue's parts form of a record parameter."""
    return {"video": video, "bucketName": bucket, "secretKey": SK, "accessKey": AK,
            "fileName": file_name}


def record_string(file_name: str = "part1.mp4", video: bool = True,
                  bucket: str = "class-recordings") -> str:
    """The builder's form, written here by hand from Juphoon's documentation (not by the
    code under test): MtcConfIsVideoKey and a qiniu Storage."""
    return orjson.dumps({"MtcConfIsVideoKey": video, "Storage": {
        "Protocol": "qiniu", "AccessKey": AK, "SecretKey": SK, "BucketName": bucket,
        "FileKey": file_name}}).decode()


def line(t: float, name: str, data: dict[str, Any], session: str | None = CH
         ) -> dict[str, Any]:
    out: dict[str, Any] = {"t": T0 + t, "vendor": "juphoon", "name": name, "data": data}
    if session is not None:
        out["session"] = session
    return out


def join(t: float, record: dict[str, Any] | None, channel: str = CH) -> dict[str, Any]:
    return line(t, "join", {"channelId": channel, "joinParam": {"record": record}}, channel)


def joined(t: float, channel: str = CH) -> dict[str, Any]:
    return line(t, "onJoin:ok", {"channelId": channel}, channel)


def prop(t: float, state: Any, channel: str = CH) -> dict[str, Any]:
    return line(t, "onMediaChannelPropertyChange", {"recordState": state}, channel)


def enable(t: float, on: bool, record: dict[str, Any] | None = None, channel: str = CH,
           with_param: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {"channelId": channel, "enable": on}
    if record is not None or with_param:
        data["recordParam"] = record
    return line(t, "enableRecord", data, channel)


def leave(t: float, channel: str = CH) -> dict[str, Any]:
    return line(t, "leave", {"channelId": channel}, channel)


def left(t: float, channel: str = CH) -> dict[str, Any]:
    return line(t, "onLeave", {"channelId": channel}, channel)


def write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    return path


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recstate.cli", *args], capture_output=True,
                          text=True, timeout=120, check=False)


def replay_cli(path: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    done = cli("replay", "--json", *extra, str(path))
    report: dict[str, Any] = orjson.loads(done.stdout) if done.stdout.strip() else {}
    return done.returncode, report, done.stderr


def run(tmp_path: Path, lines: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
    """Replay ``lines`` through :func:`replay`; the report with its exit status."""
    report = replay(write(tmp_path / "t.jsonl", lines), **kwargs)
    out = report.to_json()
    out["exit_status"] = report.exit_status
    return out


def session_of(report: dict[str, Any], key: str = CH) -> dict[str, Any]:
    found: list[dict[str, Any]] = [s for s in report["sessions"] if s["session"] == key]
    assert len(found) == 1, f"one session {key!r}"
    return found[0]


def commands(s: dict[str, Any], name: str | None = None) -> list[dict[str, Any]]:
    return [c for c in s["commands"] if name is None or c["name"] == name]


def errors_at(s: dict[str, Any], t: float, level: str = "error") -> list[dict[str, Any]]:
    return [e for e in s["errors"] if e["t"] == T0 + t and e["level"] == level]


def data_of(record: Record) -> dict[str, Any]:
    assert record.data is not None
    return record.data


class Live:
    """A runtime on a manual clock fed with trace-line dicts (``parse_event`` + dispatch)."""

    def __init__(self, **options: Any) -> None:
        self.records: list[Record] = []
        self.rt = Runtime(ManualClock(T0), tracer=self.records.append, options=(
            {"juphoon": JuphoonOptions(**options)} if options else None))

    def feed(self, *lines: dict[str, Any]) -> None:
        for x in lines:
            self.rt.advance(x["t"])
            self.rt.dispatch(parse_event(x["vendor"], x["name"], x["t"], x["data"],
                                         x.get("session")))

    def at(self, t: float) -> None:
        self.rt.advance(T0 + t)

    def session(self, key: str = CH) -> Any:
        return self.rt.sessions[key]

    def of(self, kind: str, session: str = CH) -> list[Record]:
        return [r for r in self.records if r.kind == kind and r.session == session]


# ---- the channel: join -> onJoin -> joined; leave -> onLeave -> left ------------------------
def test_join_with_record_parts_sends_join_with_the_builders_record_string(
        tmp_path: Path) -> None:
    s = session_of(run(tmp_path, [join(0, parts()), joined(0.5)]))
    (cmd,) = commands(s)
    assert cmd["name"] == "join"
    assert cmd["data"]["channelId"] == CH
    sent = orjson.loads(cmd["data"]["joinParam"]["record"]["recordString"])
    assert sent == {"MtcConfIsVideoKey": True, "Storage": {
        "Protocol": "qiniu", "AccessKey": "***", "SecretKey": "***",
        "BucketName": "class-recordings", "FileKey": "part1.mp4"}}
    assert (s["state"], s["recording"], s["vendor"]) == ("joined", "idle", "juphoon")


def test_join_with_the_record_string_is_read_back_into_its_parts(tmp_path: Path) -> None:
    report = run(tmp_path, [
        join(0, {"recordString": record_string("talk.aac", video=False)}), joined(0.5),
        prop(1, "Ready"), enable(2, True), prop(3, "Running"), enable(63, False),
        prop(64, "Ready")])
    s = session_of(report)
    sent = orjson.loads(commands(s, "join")[0]["data"]["joinParam"]["record"]["recordString"])
    assert sent["MtcConfIsVideoKey"] is False
    assert sent["Storage"]["FileKey"] == "talk.aac"
    (f,) = s["files"]
    assert (f["id"], f["kind"], f["start"], f["end"]) == ("talk.aac", "audio", T0 + 3, T0 + 64)
    assert report["exit_status"] == 0


def test_onjoin_error_fails_the_session_with_its_code(tmp_path: Path) -> None:
    report = run(tmp_path, [join(0, parts()),
                            line(0.5, "onJoin:error", {"channelId": CH, "code": 10,
                                                       "desc": "channel full"})])
    s = session_of(report)
    assert (s["state"], s["recording"]) == ("failed", "failed")
    assert [e["code"] for e in s["errors"]] == [10]
    assert s["errors"][0]["level"] == "error"
    assert s["files"] == []


def test_leave_sends_leave_and_onleave_leaves(tmp_path: Path) -> None:
    s = session_of(run(tmp_path, [join(0, parts()), joined(0.5), leave(10), left(10.5)]))
    assert [c["name"] for c in commands(s)] == ["join", "leave"]
    assert commands(s, "leave")[0]["data"]["channelId"] == CH
    assert (s["state"], s["recording"]) == ("left", "stopped")


def test_join_param_null_or_absent_is_a_join_without_record_parameters(
        tmp_path: Path) -> None:
    lines = [line(0, "join", {"channelId": "a", "joinParam": None}, "a"), joined(0.5, "a"),
             line(0, "join", {"channelId": "b"}, "b"), joined(0.5, "b"),
             enable(2, True, channel="a"), enable(2, True, channel="b")]
    report = run(tmp_path, sorted(lines, key=lambda x: x["t"]))
    for key in ("a", "b"):
        s = session_of(report, key)
        assert [c["name"] for c in commands(s)] == ["join"], "no enableRecord in None"
        assert s["state"] == "joined"


# ---- the record state is the vendor's word --------------------------------------------------
def test_a_join_without_record_parameters_stays_none_with_the_simulator() -> None:
    live = Live()
    JuphoonSimulator(live.rt)
    live.feed(join(0, None))
    live.at(60)
    assert live.session().state == "joined"
    assert [r.name for r in live.of("command")] == ["join"]
    assert not [r for r in live.records if r.name == "onMediaChannelPropertyChange"], (
        "the vendor reports no Ready for a channel joined without record parameters")
    live.feed(enable(61, True))
    (refused,) = [r for r in live.of("error") if r.name == "enableRecord"]
    assert "None" in data_of(refused)["message"]
    assert [r.name for r in live.of("command")] == ["join"]


def test_the_simulator_reports_ready_after_a_join_with_parameters_and_switches_on_enable(
        ) -> None:
    live = Live()
    JuphoonSimulator(live.rt)
    live.feed(join(0, parts("lesson.mp4")))
    live.at(5)
    reports = [data_of(r)["recordState"] for r in live.records
               if r.kind == "event" and r.name == "onMediaChannelPropertyChange"]
    assert reports == ["Ready"]
    live.feed(enable(10, True))
    live.at(70)
    live.feed(enable(70, False))
    live.at(80)
    live.feed(leave(90))
    live.at(200)
    reports = [data_of(r)["recordState"] for r in live.records
               if r.kind == "event" and r.name == "onMediaChannelPropertyChange"]
    assert reports == ["Ready", "Running", "Ready"]
    s = live.session()
    assert s.state == "left"
    (f,) = s.files
    assert isinstance(f, RecordingFile)
    assert (f.id, f.vendor, f.session, f.kind) == ("lesson.mp4", "juphoon", CH, "video")
    assert f.status == "ready"
    assert f.size
    assert f.url


def test_a_report_without_record_state_changes_nothing(tmp_path: Path) -> None:
    """001: the callback is mainly about screen sharing; such a change has no recordState."""
    report = run(tmp_path, [join(0, parts()), joined(0.5), prop(1, "Ready"),
                            line(2, "onMediaChannelPropertyChange", {}), enable(3, True)])
    s = session_of(report)
    assert report["violations"] == 0
    assert [c["data"]["enable"] for c in commands(s, "enableRecord")] == [True]


# ---- enableRecord: true only in Ready, false only in Running --------------------------------
@pytest.mark.parametrize(("reported", "on", "state_word"), [
    ([], True, "None"),
    ([], False, "None"),
    (["Ready"], False, "Ready"),
    (["Ready", "Running"], True, "Running"),
    (["Ready", "Running", "None"], True, "None"),
])
def test_enable_record_outside_its_state_is_refused_locally_and_sends_nothing(
        tmp_path: Path, reported: list[str], on: bool, state_word: str) -> None:
    lines = [join(0, parts()), joined(0.5)]
    for i, rs in enumerate(reported):
        if rs == "Running":
            lines.append(enable(1 + i, True))
        lines.append(prop(1.5 + i, rs))
    lines.append(enable(20, on))
    report = run(tmp_path, lines)
    s = session_of(report)
    (refusal,) = errors_at(s, 20)
    assert f"record state is {state_word}" in refusal["message"]
    wait_for = "Running" if not on else "Ready"
    if state_word != "Running":
        assert "wait" in refusal["message"]
        assert wait_for in refusal["message"]
    assert not [c for c in commands(s, "enableRecord") if c["t"] == T0 + 20], "nothing sent"
    assert report["violations"] == 0, "a refused call is the app's, not the vendor's, fault"


def test_enable_in_ready_and_disable_in_running_are_sent_and_waited_for(
        tmp_path: Path) -> None:
    live = Live()
    live.feed(join(0, parts()), joined(0.5), prop(1, "Ready"))
    assert (live.session().state, live.session().recording) == ("joined", "idle")
    live.feed(enable(2, True))
    (cmd,) = [r for r in live.of("command") if r.name == "enableRecord"]
    assert cmd.data == {"channelId": CH, "enable": True, "recordParam": None}
    assert (live.session().state, live.session().recording) == ("enabling", "starting")
    live.feed(prop(2.5, "Running"))
    assert (live.session().state, live.session().recording) == ("recording", "recording")
    live.feed(enable(62, False))
    cmd = [r for r in live.of("command") if r.name == "enableRecord"][-1]
    assert (data_of(cmd)["enable"], data_of(cmd)["recordParam"]) == (False, None)
    assert live.session().state == "disabling"
    assert live.session().recording == "recording", "the file is written until Ready"
    live.feed(prop(62.5, "Ready"))
    assert (live.session().state, live.session().recording) == ("stopped", "stopped")
    (f,) = live.session().files
    assert (f.start, f.end, f.status) == (T0 + 2.5, T0 + 62.5, "closed")


def test_an_enable_whose_property_change_never_comes_ends_with_an_error_after_30_s(
        tmp_path: Path) -> None:
    report = run(tmp_path, [join(0, parts()), joined(0.5), prop(1, "Ready"), enable(2, True),
                            line(100, "leave", {"channelId": CH})])
    s = session_of(report)
    assert errors_at(s, 31) == [], "not before the deadline"
    (late,) = errors_at(s, 32)
    assert "Ready" in late["message"], "the record state the vendor last reported"
    assert s["files"] == []
    assert [c["name"] for c in commands(s)] == ["join", "enableRecord", "leave"]


def test_the_deadline_is_an_option(tmp_path: Path) -> None:
    report = run(tmp_path, [join(0, parts()), joined(0.5), prop(1, "Ready"), enable(2, True),
                            leave(100)],
                 options={"juphoon": JuphoonOptions(enable_timeout=10)})
    assert len(errors_at(session_of(report), 12)) == 1


def test_after_the_deadline_the_machine_follows_what_the_vendor_reports(
        tmp_path: Path) -> None:
    report = run(tmp_path, [join(0, parts()), joined(0.5), prop(1, "Ready"), enable(2, True),
                            prop(50, "Running"), enable(110, False), prop(110.5, "Ready")])
    s = session_of(report)
    (f,) = s["files"]
    assert (f["start"], f["end"]) == (T0 + 50, T0 + 110.5)
    assert report["violations"] == 0, "a late answer to an asked enable is not out of order"


def test_a_disable_whose_ready_never_comes_keeps_the_file_open(tmp_path: Path) -> None:
    live = Live()
    live.feed(join(0, parts()), joined(0.5), prop(1, "Ready"), enable(2, True),
              prop(3, "Running"), enable(10, False))
    live.at(41)
    assert live.session().recording == "recording"
    assert [f.status for f in live.session().files] == ["open"]
    assert [r for r in live.of("error") if r.t == T0 + 40 and data_of(r)["level"] == "error"]
    live.feed(enable(42, False))  # disable again: accepted, the vendor still says Running
    assert [data_of(r)["enable"] for r in live.of("command") if r.name == "enableRecord"] == [
        True, False, False]
    live.feed(prop(43, "Ready"))
    assert [(f.status, f.end) for f in live.session().files] == [("closed", T0 + 43)]


# ---- files: one per Running span ------------------------------------------------------------
def test_two_files_enable_disable_enable_again_with_a_new_file_name(tmp_path: Path) -> None:
    report = run(tmp_path, [
        join(0, parts("part1.mp4")), joined(0.5), prop(1, "Ready"),
        enable(2, True), prop(2.5, "Running"), enable(602, False), prop(602.5, "Ready"),
        enable(660, True, parts("part2.mp4")), prop(660.5, "Running"),
        enable(960, False), prop(960.5, "Ready"), leave(990), left(990.5)])
    s = session_of(report)
    assert report["exit_status"] == 0
    a, b = s["files"]
    assert (a["id"], a["kind"], a["start"], a["end"]) == ("part1.mp4", "video", T0 + 2.5,
                                                         T0 + 602.5)
    assert (b["id"], b["kind"], b["start"], b["end"]) == ("part2.mp4", "video", T0 + 660.5,
                                                         T0 + 960.5)
    assert a["end"] <= b["start"]
    assert [f["participant"] for f in s["files"]] == [None, None]
    sent = [c["data"] for c in commands(s, "enableRecord")]
    assert [c["enable"] for c in sent] == [True, False, True, False]
    assert sent[0]["recordParam"] is None
    new = orjson.loads(sent[2]["recordParam"]["recordString"])
    assert new["Storage"] == {"Protocol": "qiniu", "AccessKey": "***", "SecretKey": "***",
                              "BucketName": "class-recordings", "FileKey": "part2.mp4"}


def test_enable_record_param_as_a_record_string_replaces_the_file_name(tmp_path: Path) -> None:
    report = run(tmp_path, [
        join(0, parts("first.mp4")), joined(0.5), prop(1, "Ready"),
        enable(2, True, {"recordString": record_string("second.mp4")}), prop(3, "Running"),
        enable(30, False), prop(31, "Ready")])
    assert [f["id"] for f in session_of(report)["files"]] == ["second.mp4"]


def test_a_reused_file_name_gets_its_own_entry_never_a_merged_one(tmp_path: Path) -> None:
    report = run(tmp_path, [
        join(0, parts("same.mp4")), joined(0.5), prop(1, "Ready"),
        enable(2, True), prop(3, "Running"), enable(30, False), prop(31, "Ready"),
        enable(40, True, with_param=True), prop(41, "Running"), enable(70, False),
        prop(71, "Ready")])
    files = session_of(report)["files"]
    assert len(files) == 2
    assert [(f["start"], f["end"]) for f in files] == [(T0 + 3, T0 + 31), (T0 + 41, T0 + 71)]
    assert len({f["id"] for f in files}) == 2
    assert all(f["id"].startswith("same.mp4") for f in files)


def test_audio_only_parameters_give_an_audio_file(tmp_path: Path) -> None:
    """001: 如果进行音频录制，需要将构造方法中的 video 值设为 false. The format is m4a (AAC in
    MP4, as docs/architecture.md chooses and explains)."""
    report = run(tmp_path, [
        join(0, parts("podcast-7", video=False)), joined(0.5), prop(1, "Ready"),
        enable(2, True), prop(3, "Running"), enable(300, False), prop(301, "Ready")])
    (f,) = session_of(report)["files"]
    assert (f["kind"], f["format"]) == ("audio", "m4a")


@pytest.mark.parametrize(("closing", "end"), [
    ([prop(100, "None")], 100),
    ([leave(100), left(100.5)], 100),
    ([left(100)], 100),
])
def test_a_span_closes_at_none_at_leave_or_at_an_unasked_onleave(
        tmp_path: Path, closing: list[dict[str, Any]], end: float) -> None:
    report = run(tmp_path, [join(0, parts()), joined(0.5), prop(1, "Ready"), enable(2, True),
                            prop(3, "Running"), *closing])
    s = session_of(report)
    (f,) = s["files"]
    assert (f["start"], f["end"], f["status"]) == (T0 + 3, T0 + end, "closed")
    assert s["recording"] == "stopped"


def test_the_canonical_state_is_recording_exactly_while_a_file_is_open() -> None:
    live = Live()
    seen: list[tuple[str, bool]] = []

    def step(*lines: dict[str, Any]) -> None:
        live.feed(*lines)
        s = live.session()
        seen.append((s.recording, any(f.status == "open" for f in s.files)))

    step(join(0, parts("x.mp4")))
    for x in (joined(0.5), prop(1, "Ready"), enable(2, True), prop(3, "Running"),
              enable(10, False), prop(11, "Ready"),
              enable(20, True, parts("y.mp4")), prop(21, "Running"), prop(22, "None"),
              leave(30), left(31)):
        step(x)
    assert seen == [("idle", False), ("idle", False), ("idle", False), ("starting", False),
                    ("recording", True), ("recording", True), ("stopped", False),
                    ("starting", False), ("recording", True), ("stopped", False),
                    ("stopped", False), ("stopped", False)]


def test_one_handler_of_the_unified_view_serves_juphoon() -> None:
    """The canonical states and RecordingFile changes come on the core's signals, as for
    the other vendors."""
    live = Live()
    JuphoonSimulator(live.rt)
    seen: list[tuple[Any, ...]] = []

    def on_recording(sender: Any, **kw: Any) -> None:
        seen.append(("recording", kw["session"].key, kw["old"], kw["new"]))

    def on_file(sender: Any, **kw: Any) -> None:
        f: RecordingFile = kw["file"]
        seen.append(("file", kw["session"].key, f.id, f.status))

    signals.recording_changed.connect(on_recording, sender=live.rt, weak=False)
    signals.file_changed.connect(on_file, sender=live.rt, weak=False)
    live.feed(join(0, parts("unified.mp4")), enable(2, True))
    live.at(60)
    live.feed(enable(60, False), leave(70))
    live.at(300)
    assert seen == [("recording", CH, "idle", "starting"),
                    ("recording", CH, "starting", "recording"),
                    ("file", CH, "unified.mp4", "open"),
                    ("recording", CH, "recording", "stopped"),
                    ("file", CH, "unified.mp4", "closed"),
                    ("file", CH, "unified.mp4", "ready")]


def test_a_second_join_or_a_leave_outside_a_channel_sends_nothing(tmp_path: Path) -> None:
    report = run(tmp_path, [leave(0), join(1, parts()), joined(1.5), join(2, parts()),
                            leave(3), left(3.5), leave(4)])
    s = session_of(report)
    assert [c["name"] for c in commands(s)] == ["join", "leave"]
    assert s["state"] == "left"


def test_running_reported_after_the_leave_is_said_not_silently_dropped(
        tmp_path: Path) -> None:
    """An enable overtaken by a leave: the vendor's Running comes while leaving."""
    report = run(tmp_path, [join(0, parts("overtaken.mp4")), joined(0.5), prop(1, "Ready"),
                            enable(2, True), leave(2.1), prop(2.2, "Running"), left(2.4)])
    s = session_of(report)
    assert s["state"] == "left"
    (said,) = errors_at(s, 2.2, level="warning")
    assert "overtaken.mp4" in said["message"]
    assert "Running" in said["message"]


# ---- out of order: followed, reported as violations -----------------------------------------
def test_running_straight_from_none_is_followed_and_a_violation(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", [join(0, parts("talk-7", video=False)), joined(0.5),
                                        prop(1, "Running"), enable(121, False),
                                        prop(121.5, "Ready")])
    rc, report, stderr = replay_cli(path)
    assert rc == 1, stderr
    s = session_of(report)
    assert report["violations"] == 1
    (v,) = s["violations"]
    assert (v["name"], v["t"]) == ("onMediaChannelPropertyChange", T0 + 1)
    assert "None" in v["reason"]
    assert "Running" in v["reason"]
    (f,) = s["files"]
    assert (f["start"], f["end"], f["kind"]) == (T0 + 1, T0 + 121.5, "audio")
    assert [c["data"]["enable"] for c in commands(s, "enableRecord")] == [False]


def test_strict_replay_stops_at_the_first_violation(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", [join(0, parts()), joined(0.5), prop(1, "Running"),
                                        enable(60, False), prop(61, "Ready")])
    rc, report, _ = replay_cli(path, "--strict")
    assert rc == 1
    assert "recordState Running" in report["stopped"]
    assert "None" in report["stopped"]
    assert session_of(report)["state"] == "recording"


def test_running_while_enable_was_never_asked_is_a_violation(tmp_path: Path) -> None:
    report = run(tmp_path, [join(0, parts()), joined(0.5), prop(1, "Ready"),
                            prop(5, "Running"), enable(50, False), prop(51, "Ready")])
    s = session_of(report)
    assert [v["t"] for v in s["violations"]] == [T0 + 5]
    assert [(f["start"], f["end"]) for f in s["files"]] == [(T0 + 5, T0 + 51)]
    assert report["exit_status"] == 1


def test_ready_while_disable_was_never_asked_is_a_violation_and_closes_the_file(
        tmp_path: Path) -> None:
    report = run(tmp_path, [join(0, parts()), joined(0.5), prop(1, "Ready"), enable(2, True),
                            prop(3, "Running"), prop(40, "Ready"), enable(50, True),
                            prop(51, "Running"), enable(60, False), prop(61, "Ready")])
    s = session_of(report)
    assert [v["t"] for v in s["violations"]] == [T0 + 40]
    assert [(f["start"], f["end"]) for f in s["files"]] == [(T0 + 3, T0 + 40),
                                                            (T0 + 51, T0 + 61)]


# ---- record parameters ---------------------------------------------------------------------
def test_the_builder_knows_its_parts_and_makes_the_record_string() -> None:
    p = build_qiniu_record_param(True, "bkt", SK, AK, "f.mp4")
    assert (p.video, p.bucketName, p.secretKey, p.accessKey, p.fileName) == (
        True, "bkt", SK, AK, "f.mp4")
    assert orjson.loads(p.record_string()) == {"MtcConfIsVideoKey": True, "Storage": {
        "Protocol": "qiniu", "AccessKey": AK, "SecretKey": SK, "BucketName": "bkt",
        "FileKey": "f.mp4"}}
    assert buildQiniuRecordParam(True, "bkt", SK, AK, "f.mp4") == p
    for shown in (repr(p), str(p), f"{p}", repr([p])):
        assert SK not in shown
        assert "***" in shown


def test_the_builder_refuses_a_missing_part_naming_it_without_the_key() -> None:
    with pytest.raises(ValueError, match="bucketName") as caught:
        build_qiniu_record_param(True, "", SK, AK, "f.mp4")
    assert SK not in str(caught.value)


# ---- bad input: a clear error naming the field; others carry on; nothing lost ---------------
BAD_RECORDS: list[tuple[dict[str, Any], str]] = [
    ({"video": True, "secretKey": SK, "accessKey": AK, "fileName": "f"}, "bucketName"),
    ({"video": True, "bucketName": "", "secretKey": SK, "accessKey": AK, "fileName": "f"},
     "bucketName"),
    ({"video": "yes", "bucketName": "b", "secretKey": SK, "accessKey": AK, "fileName": "f"},
     "video"),
    ({"recordString": f"bucket=b&secretKey={SK}"}, "recordString"),
    ({"recordString": record_string().replace('"BucketName":"class-recordings",', "")},
     "BucketName"),
    ({"recordString": record_string().replace('"qiniu"', '"s3"')}, "Protocol"),
    ({"recordString": record_string().replace("MtcConfIsVideoKey", "video")},
     "MtcConfIsVideoKey"),
    ({"recordString": '["not", "an", "object"]'}, "recordString"),
    ({"recordString": 42}, "recordString"),
]


@pytest.mark.parametrize(("record", "named"), BAD_RECORDS)
def test_a_malformed_record_parameter_is_refused_naming_the_member(
        record: dict[str, Any], named: str) -> None:
    for x in (join(0, record), enable(0, True, record)):
        with pytest.raises(TraceError) as caught:
            parse_event("juphoon", x["name"], x["t"], x["data"], x.get("session"))
        message = str(caught.value)
        assert named in message
        assert caught.value.field is not None
        assert caught.value.field.startswith(
            "data.joinParam.record" if x["name"] == "join" else "data.recordParam")
        assert SK not in message
        assert AK not in message


@pytest.mark.parametrize("value", ["running", "RUNNING", 2, "", True, ["Ready"]])
def test_an_unknown_record_state_is_refused_naming_the_field(value: Any) -> None:
    with pytest.raises(TraceError) as caught:
        parse_event("juphoon", "onMediaChannelPropertyChange", T0, {"recordState": value}, CH)
    assert caught.value.field == "data.recordState"
    message = str(caught.value)
    assert all(word in message for word in ("None", "Ready", "Running"))


def test_bad_lines_are_listed_and_the_other_sessions_carry_on(tmp_path: Path) -> None:
    good = "good-room"
    lines = [
        join(0, parts("kept.mp4"), good), joined(0.5, good), prop(1, "Ready", good),
        enable(2, True, channel=good), prop(3, "Running", good),
        join(4, {"recordString": "not the builder's form"}, "bad-1"),
        join(5, {"video": True, "secretKey": SK, "accessKey": AK, "fileName": "f"}, "bad-2"),
        prop(6, "running", good),
        prop(7, 2, good),
        line(8, "enableRecord", {"channelId": good, "enable": "false"}, good),
        line(9, "onJoin:ok", {"channelId": "nowhere"}, "nowhere"),  # in the wrong state
        line(10, "enableRecord", {"enable": True}, None),            # no channelId
        enable(60, False, channel=good), prop(61, "Ready", good),
    ]
    path = write(tmp_path / "bad.jsonl", lines)
    rc, report, stderr = replay_cli(path, "--skip-bad-lines")
    assert rc == 1
    assert "Traceback" not in stderr
    bad = {b["line"]: b for b in report["bad_lines"]}
    assert sorted(bad) == [6, 7, 8, 9, 10]
    assert bad[6]["field"].startswith("data.joinParam.record")
    assert "recordString" in bad[6]["error"]
    assert "bucketName" in bad[7]["error"]
    assert bad[8]["field"] == bad[9]["field"] == "data.recordState"
    assert bad[10]["field"] == "data.enable"
    (unrouted,) = report["unrouted"]
    assert "channelId" in unrouted["reason"]
    nowhere = session_of(report, "nowhere")
    assert [v["name"] for v in nowhere["violations"]] == ["onJoin:ok"]
    s = session_of(report, good)
    (f,) = s["files"]
    assert (f["id"], f["start"], f["end"]) == ("kept.mp4", T0 + 3, T0 + 61)
    assert s["violations"] == []
    text = path.read_text() + stderr
    assert SK in text  # the input holds the key ...
    out = cli("replay", "--json", "--skip-bad-lines", str(path)).stdout
    assert SK not in out
    assert AK not in out


def test_a_bad_line_without_skip_exits_2_naming_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.jsonl", [join(0, parts()), joined(0.5), prop(1, "running")])
    done = cli("replay", "--json", str(path))
    assert done.returncode == 2
    assert ":3" in done.stderr
    assert "data.recordState" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("name", ["enableRecord", "leave", "onJoin:ok", "onLeave",
                                  "onMediaChannelPropertyChange"])
def test_an_event_with_no_channel_id_is_unroutable_naming_channel_id(name: str) -> None:
    live = Live()
    live.feed(join(0, parts()), joined(0.5), prop(1, "Ready"), enable(2, True),
              prop(3, "Running"))
    data: dict[str, Any] = {"enable": False} if name == "enableRecord" else {}
    if name == "onMediaChannelPropertyChange":
        data = {"recordState": "Ready"}
    live.feed(line(4, name, data, None))
    (err,) = [r for r in live.records if r.kind == "error" and r.session is None]
    assert "channelId" in data_of(err)["message"]
    assert live.session().state == "recording"
    assert [f.status for f in live.session().files] == ["open"], "nothing recorded is lost"


def test_a_join_with_an_empty_channel_id_is_refused() -> None:
    with pytest.raises(TraceError, match="channelId"):
        parse_event("juphoon", "join", T0, {"channelId": "", "joinParam": {"record": None}})


def test_callbacks_in_the_wrong_state_are_violations_and_lose_nothing() -> None:
    live = Live()
    live.feed(join(0, parts()), joined(0.5), prop(1, "Ready"), enable(2, True),
              prop(3, "Running"))
    live.feed(line(4, "onJoin:error", {"channelId": CH, "code": 3}))  # joined long ago
    live.feed(line(5, "onMediaChannelPropertyChange", {"recordState": "Ready"}, "other"))
    live.feed(line(6, "onLeave", {"channelId": "idle-room"}, "idle-room"))
    assert live.session().state == "recording"
    assert [f.status for f in live.session().files] == ["open"]
    for key in ("other", "idle-room"):
        assert live.session(key).state == "idle"
        assert any(data_of(r)["code"] == "violation" for r in live.of("error", key))


# ---- secrets ---------------------------------------------------------------------------------
def test_a_live_run_with_real_looking_keys_leaks_them_nowhere(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    trace = tmp_path / "live.jsonl"
    writer = TraceWriter(trace)
    rt = Runtime(ManualClock(T0), tracer=writer)
    sim = JuphoonSimulator(rt)
    shown: list[str] = [repr(sim)]

    def feed(x: dict[str, Any]) -> None:
        rt.advance(x["t"])
        ev = parse_event("juphoon", x["name"], x["t"], x["data"], x.get("session"))
        shown.extend((repr(ev), str(ev)))
        rt.dispatch(ev)

    for x in (join(0, {"recordString": record_string("a.mp4")}), enable(2, True),
              enable(3, True, parts("refused.mp4")), enable(60, False),
              enable(61, True, {"recordString": record_string("b.mp4")}),
              enable(120, False), leave(130)):
        feed(x)
    for bad in BAD_RECORDS:
        with pytest.raises(TraceError) as caught:
            feed(enable(131, True, bad[0]))
        shown.append(str(caught.value))
    rt.advance(T0 + 1000)
    writer.close()
    s = rt.sessions[CH]
    shown += [repr(s), repr(s.context), repr(s.files), str(s.snapshot())]
    assert [f.id for f in s.files] == ["a.mp4", "b.mp4"]
    everything = {"trace": trace.read_text(), "log": caplog.text, "shown": "\n".join(shown)}
    for where, text in everything.items():
        assert SK not in text, f"the secret key leaked into the {where}"
        assert AK not in text, f"the access key leaked into the {where}"
    assert '"SecretKey\\":\\"***\\"' in everything["trace"]


def test_replay_out_of_a_trace_with_keys_writes_no_key(tmp_path: Path) -> None:
    path = write(tmp_path / "keys.jsonl", [
        join(0, {"recordString": record_string("a.mp4")}), joined(0.5), prop(1, "Ready"),
        enable(2, True, parts("b.mp4")), prop(3, "Running")])
    full = tmp_path / "full.jsonl"
    done = cli("replay", "--json", "--out", str(full), str(path))
    assert done.returncode == 0, done.stderr
    for text in (done.stdout, done.stderr, full.read_text()):
        assert SK not in text
        assert AK not in text


# ---- Qiniu ----------------------------------------------------------------------------------
def test_the_upload_token_is_qiniu_s_worked_example() -> None:
    """Qiniu's 上传凭证 example: MY_ACCESS_KEY / MY_SECRET_KEY, the sunflower.jpg policy;
    its encodedSign is wQ4ofysef1R7IKnrziqtomqyDvI= (recomputed here with hmac/base64)."""
    policy = ('{"scope":"my-bucket:sunflower.jpg","deadline":1451491200,"returnBody":'
              '"{\\"name\\":$(fname),\\"size\\":$(fsize),\\"w\\":$(imageInfo.width),'
              '\\"h\\":$(imageInfo.height),\\"hash\\":$(etag)}"}')
    encoded = base64.urlsafe_b64encode(policy.encode()).decode()
    sign = base64.urlsafe_b64encode(hmac.new(b"MY_SECRET_KEY", encoded.encode(),
                                             hashlib.sha1).digest()).decode()
    assert sign == "wQ4ofysef1R7IKnrziqtomqyDvI="
    assert upload_token("MY_ACCESS_KEY", "MY_SECRET_KEY", policy) == (
        f"MY_ACCESS_KEY:{sign}:{encoded}")


def qiniu_sign(secret: str, data: str) -> str:
    """Qiniu's sign: URL-safe base64 of HMAC-SHA1 (written here from Qiniu's documents)."""
    return base64.urlsafe_b64encode(hmac.new(secret.encode(), data.encode(),
                                             hashlib.sha1).digest()).decode()


class Bucket:
    """Qiniu's rs host on loopback: ``GET /stat/<EncodedEntryURI>`` answered only when the
    ``Authorization`` is the management token Qiniu documents (``Qiniu AK:sign`` over
    ``GET <path>\nHost: <host>\n\n``, or ``QBox AK:sign`` over ``<path>\n``); 612 for a
    key it does not hold."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.asked: list[str] = []
        self.http = Loopback(self._stat)
        self.url = self.http.url

    def _stat(self, request: Request) -> tuple[int, bytes, dict[str, str]]:
        path, host = request.path, request.headers["Host"]
        signed_qiniu = "GET " + path + "\nHost: " + host + "\n\n"
        signed_qbox = path + "\n"
        good = (f"Qiniu {AK}:{qiniu_sign(SK, signed_qiniu)}",
                f"QBox {AK}:{qiniu_sign(SK, signed_qbox)}")
        entry = base64.urlsafe_b64decode(path.removeprefix("/stat/")).decode()
        self.asked.append(entry)
        if request.headers.get("Authorization") not in good:
            status, body = 401, {"error": "bad token"}
        elif entry in self.objects:
            status, body = 200, self.objects[entry]
        else:
            status, body = 612, {"error": "no such file or directory"}
        return status, orjson.dumps(body), {"Content-Type": "application/json"}

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def bucket() -> Iterator[Bucket]:
    b = Bucket()
    yield b
    b.close()


def test_closed_files_are_found_in_qiniu_or_lost_after_asking_again(bucket: Bucket) -> None:
    bucket.objects["class-recordings:found.mp4"] = {
        "fsize": 9_000_000, "hash": "FjOrVYKwNhJrcQLQOzsHsnlbiFYR", "mimeType": "video/mp4",
        "putTime": 17000000650000000}
    live = Live()
    client = QiniuClient(AK, SK, rs_host=bucket.url, domain="https://rec.example.com",
                         private=True, url_expires=3600, clock=live.rt.clock)
    QiniuAdapter(live.rt, client)
    live.feed(join(0, parts("found.mp4")), joined(0.5), prop(1, "Ready"), enable(2, True),
              prop(3, "Running"), enable(60, False), prop(61, "Ready"),
              enable(70, True, parts("missing.mp4")), prop(71, "Running"),
              enable(100, False), prop(101, "Ready"), leave(110), left(111))
    live.at(5000)
    client.close()
    found, missing = live.session().files
    assert (found.id, found.status, found.size, found.hash) == (
        "found.mp4", "ready", 9_000_000, "FjOrVYKwNhJrcQLQOzsHsnlbiFYR")
    assert found.url is not None
    base, _, token = found.url.partition("&token=")
    assert base.startswith("https://rec.example.com/found.mp4?e=")
    deadline = int(base.rpartition("e=")[2])
    assert T0 + 61 < deadline <= T0 + 61 + 3600 + 300
    assert token == f"{AK}:{qiniu_sign(SK, base)}"
    assert missing.status == "lost"
    asked_missing = bucket.asked.count("class-recordings:missing.mp4")
    assert asked_missing > 1, "asked again with backoff before giving up"
    assert bucket.asked.count("class-recordings:found.mp4") == 1
    assert any(data_of(r)["level"] == "warning" and "missing.mp4" in data_of(r)["message"]
               for r in live.of("error"))
    stats = [r.t for r in live.of("command") if r.name == "stat"
             and data_of(r)["key"] == "missing.mp4"]
    gaps = [b - a for a, b in pairwise(stats)]
    assert gaps == sorted(gaps), "backoff: the waits do not shrink"
    text = "\n".join(str(r.to_json()) for r in live.records)
    assert SK not in text


# ---- the shipped traces, the CLI ------------------------------------------------------------
EXAMPLES = sorted(p.name for p in TRACES.glob("juphoon-*.jsonl"))


def test_the_issue_s_example_traces_are_shipped() -> None:
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize("name", EXAMPLES)
def test_replay_out_of_each_example_replays_with_zero_mismatches(name: str,
                                                                  tmp_path: Path) -> None:
    full = tmp_path / "full.jsonl"
    first = cli("replay", "--json", "--out", str(full), str(TRACES / name))
    assert first.returncode in (0, 1), first.stderr
    rc, report, stderr = replay_cli(full)
    assert report["mismatches"] == [], stderr
    assert rc == first.returncode
    again = cli("replay", "--json", str(full))
    assert again.stdout == cli("replay", "--json", str(full)).stdout, "deterministic"


@pytest.mark.parametrize(("name", "exit_status", "enables", "files"), [
    ("juphoon-two-files.jsonl", 0, [True, False, True, False], 2),
    ("juphoon-enable-refused-in-none.jsonl", 0, [], 0),
    ("juphoon-enable-no-property-change.jsonl", 0, [True], 0),
    ("juphoon-running-from-none.jsonl", 1, [False], 1),
])
def test_each_example_replays_to_its_documented_result(
        name: str, exit_status: int, enables: list[bool], files: int) -> None:
    rc, report, stderr = replay_cli(TRACES / name)
    assert rc == exit_status, stderr
    (s,) = report["sessions"]
    assert (s["machine"], s["state"]) == ("juphoon.channel", "left")
    assert [c["data"]["enable"] for c in commands(s, "enableRecord")] == enables
    assert len(s["files"]) == files
    assert report["violations"] == exit_status
    assert set(report) >= {"lines", "events", "violations", "mismatches", "sessions"}


def test_simulate_juphoon_runs_a_scenario_and_names_them_all_for_an_unknown_one(
        tmp_path: Path) -> None:
    out = tmp_path / "sim.jsonl"
    done = cli("simulate", "juphoon", "two-files", "--json", "--out", str(out))
    assert done.returncode == 0, done.stderr
    report = orjson.loads(done.stdout)
    (s,) = report["sessions"]
    assert s["vendor"] == "juphoon"
    assert s["state"] == "left"
    assert [f["status"] for f in s["files"]] == ["ready", "ready"]
    assert replay(out).mismatches == []
    unknown = cli("simulate", "juphoon", "no-such-scenario")
    assert unknown.returncode == 2
    assert "two-files" in unknown.stderr
    assert "Traceback" not in unknown.stderr
