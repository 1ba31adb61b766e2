"""A replay keeps every session to the end; a finished session's files are kept packed, and
the report makes its rows of them when read (issue 12: memory flat for a trace of longer
recordings, whose files are what grows).

Expected values: packed files come back as they were (every field, in order), or are not
packed at all; a replay that packs after every input gives the report, ``--json``, the
tables and ``--out`` of one that never packs (a watched replay: docs/architecture.md); the
report written a session at a time is the report's bytes.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import orjson
import pytest

import recstate.replay as replay_module
from recstate import signals
from recstate.examples import path_of, traces
from recstate.machines.tencent import TencentRecorder
from recstate.recording import PackedFiles, RecordingFile
from recstate.replay import Report, format_report, replay, write_report
from recstate.report import FileRows
from recstate.runtime import Runtime
from recstate.scenario import parse_scenario, run_scenario_file, scenario_text
from recstate.session import Session
from recstate.trace import REDACTED, redact

T0 = 1_700_000_000.0
FIELDS = ("id", "session", "vendor", "kind", "format", "participant", "start", "end", "size",
          "url", "status", "md5", "hash", "encrypted")


class Name(str):
    """A string of another type: JSON would give back a plain ``str``."""


def session_with(*files: RecordingFile) -> Session:
    session = Session("1:2:bob", TencentRecorder)
    session.files.extend(files)
    return session


def a_file(i: int, **changes: Any) -> RecordingFile:
    return RecordingFile(**{"id": f"f{i}", "session": "1:2:bob", "vendor": "tencent",
                            "kind": "video", "format": "mp4", "participant": "bob",
                            "start": T0 + i * 0.1, "end": T0 + i + 0.3, "size": 2**40 + i,
                            "url": f"https://vod.example/{i}.mp4", "status": "ready",
                            **changes})


def fields(files: list[RecordingFile]) -> list[tuple[Any, ...]]:
    return [tuple(getattr(f, name) for name in FIELDS) for f in files]


# ---- packed files ------------------------------------------------------------------------
def test_packed_files_come_back_with_every_field_as_it_was() -> None:
    files = [a_file(1), a_file(2, md5="0" * 32, encrypted=True, participant=None),
             a_file(3, hash="Fq-etag", size=None, url=None, end=None, status="open"),
             a_file(4, start=-0.0, size=0)]
    session = session_with(*files)
    before = fields(files)
    packed = session.pack_files()
    assert isinstance(packed, PackedFiles)
    assert packed.count == 4
    assert len(packed.blob) < sum(len(orjson.dumps(f.to_dict())) for f in files)
    assert session.file_dicts() == [f.to_dict() for f in files]
    again = session.files
    assert fields(again) == before
    assert again[3].start is not None
    assert math.copysign(1, again[3].start) == -1
    assert all(new is not old for new, old in zip(again, files, strict=True))
    assert session.files is again  # unpacked once, then the list as always


@pytest.mark.parametrize("odd", [
    {"end": math.nan}, {"end": math.inf}, {"size": 2**70}, {"id": "f\ud800"},
    {"participant": ("bob",)}, {"format": Name("mp4")},
], ids=["nan", "inf", "int beyond 64 bits", "lone surrogate", "tuple", "str subclass"])
def test_files_json_would_not_give_back_as_they_are_stay_unpacked(odd: dict[str, Any]) -> None:
    files = [a_file(1), a_file(2, **odd)]
    session = session_with(*files)
    assert session.pack_files() is None
    assert session.files[0] is files[0]
    assert session.files[1] is files[1]


def test_a_session_without_files_packs_nothing() -> None:
    session = Session("1:2:bob", TencentRecorder)
    assert session.pack_files() is None
    assert session.files == []
    assert session.pack_files() is None  # an empty list: nothing to pack


def test_a_packed_sessions_snapshot_is_its_snapshot_unpacked() -> None:
    session = session_with(a_file(1), a_file(2, md5="1" * 32))
    before = session.snapshot()
    session.pack_files()
    assert session.snapshot() == before
    restored = Session.restore(before, TencentRecorder)
    assert fields(restored.files) == fields(session.files)


def test_file_rows_are_the_redacted_rows_and_equal_their_list() -> None:
    secret = "https://cos.example/1.mp4?sign=abc123&t=1"
    session = session_with(a_file(1), a_file(2, url=secret))
    want = [redact(f.to_dict()) for f in session.files]
    packed = session.pack_files()
    assert packed is not None
    rows = FileRows(packed)
    assert len(rows) == 2
    assert bool(rows)
    assert rows == want
    assert want == rows
    assert rows == FileRows(packed)
    assert rows != want[:1]
    assert rows != "not a list"
    assert rows[1]["url"] == f"https://cos.example/1.mp4?sign={REDACTED}&t=1"
    assert rows[-1] == want[-1]
    assert rows[:1] == want[:1]
    assert list(rows) == want
    assert repr(rows) == repr(want)
    with pytest.raises(TypeError):
        hash(rows)


# ---- a replay that packs -----------------------------------------------------------------
def outputs(trace: Path, out: Path, **kwargs: Any) -> tuple[bytes, str, str, bytes]:
    report = replay(trace, out=out, force=True, **kwargs)
    text = io.StringIO()
    write_report(report, text, as_json=True)
    return report.dumps(), text.getvalue(), format_report(report), out.read_bytes()


def packs_counted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    """Settle (and pack) after every input; the packs made: (files, the session's state)."""
    made: list[tuple[int, str]] = []
    real = Session.pack_files

    def counted(self: Session) -> PackedFiles | None:
        was = self._files
        packed = real(self)
        if packed is not None and packed is not was:
            made.append((packed.count, self.state))
        return packed

    monkeypatch.setattr(replay_module, "SETTLE_EVERY", 1)
    monkeypatch.setattr(Session, "pack_files", counted)
    return made


def recorded_twice(tmp_path: Path) -> Path:
    """bob records 100 minutes (a rollover, a stop, the VOD search), then again in the same
    session 100 minutes more, with heartbeats: its files are packed whenever it goes quiet
    (recording, or stopped), and every handling after reads and adds to them."""
    room = {"relationId": 15000, "roomId": 1}
    start = {"roomInfo": room, "user": "bob", "param": {"fileName": "r"}}
    stop = {"roomInfo": room, "user": "bob"}
    steps = [{"at": 0, "event": "enterRoom", "data": {**room, "user": "bob"}},
             {"at": 0, "event": "requestMultiVideoRecorderStart", "data": start},
             {"at": 6000, "event": "requestMultiVideoRecorderStop", "data": stop},
             {"at": 6600, "event": "requestMultiVideoRecorderStart", "data": start},
             {"at": 12600, "event": "requestMultiVideoRecorderStop", "data": stop}]
    text = scenario_text({"vendor": "tencent", "until": 12605,
                          "simulator": {"data_interval": 3.0}, "steps": steps})
    path = tmp_path / "twice.jsonl"
    run_scenario_file(parse_scenario(text, "toml"), out=path)
    return path


def test_a_session_packed_when_it_stopped_records_again_as_if_never_packed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trace = recorded_twice(tmp_path)
    # watched, a replay never packs (the observer keeps sessions and files)
    kept = outputs(trace, tmp_path / "kept.jsonl", observe=lambda runtime: None)
    made = packs_counted(monkeypatch)
    packed = outputs(trace, tmp_path / "packed.jsonl")
    assert made[:2] == [(1, "recording"), (2, "recording")], "after the start, the rollover"
    assert made[-1] == (4, "stopped"), "unpacked by the second recording, packed at its end"
    assert packed == kept
    assert packed[3] == trace.read_bytes()
    [session] = json.loads(packed[0])["sessions"]
    assert [f["status"] for f in session["files"]] == ["ready"] * 4
    assert len({f["id"] for f in session["files"]}) == 4


def test_a_receiver_of_file_changed_for_any_sender_stops_the_packing_while_it_listens(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trace = recorded_twice(tmp_path)
    kept: list[RecordingFile] = []

    def keep(sender: Any, **kwargs: Any) -> None:
        kept.append(kwargs["file"])

    made = packs_counted(monkeypatch)
    with signals.file_changed.connected_to(keep):
        replay(trace)
    assert made == [(4, "stopped")], "packed only at the end, for the report"
    assert len({id(f) for f in kept}) == 4  # the same four objects all along
    made.clear()
    other = Runtime()  # a receiver of another runtime's files hears nothing of the replay
    with signals.file_changed.connected_to(keep, sender=other):
        replay(trace)
    assert made[:2] == [(1, "recording"), (2, "recording")]


@pytest.mark.parametrize("name", traces())
def test_every_example_replays_the_same_with_files_packed_after_every_input(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    trace = path_of(name)
    kept = outputs(trace, tmp_path / "kept.jsonl", observe=lambda runtime: None)
    plain = outputs(trace, tmp_path / "plain.jsonl")
    packs_counted(monkeypatch)
    packed = outputs(trace, tmp_path / "packed.jsonl")
    assert plain == kept
    assert packed == kept


def test_a_replays_report_holds_its_files_packed_and_writes_them_whole(tmp_path: Path
                                                                      ) -> None:
    report = replay(path_of("tencent-200min.jsonl"))
    [session] = report.sessions
    assert isinstance(session["files"], FileRows)
    plain = report.to_json()
    assert isinstance(plain["sessions"][0]["files"], list)
    assert plain["sessions"][0]["files"] == session["files"]
    assert json.dumps(plain)  # plain JSON-able data, for any encoder
    assert orjson.loads(report.dumps()) == json.loads(json.dumps(plain))


# ---- the report written a session at a time ----------------------------------------------
@pytest.mark.parametrize("report", [
    Report(), Report(lines=3, events=2, stopped="violation", left_out={"mismatches": 4},
                     mismatches=[{"line": 1, "session": None, "what": "x", "expected": None,
                                  "got": {"sessions": []}}]),
], ids=["empty", "no sessions"])
def test_a_report_without_sessions_is_written_as_dumps_gives_it(report: Report) -> None:
    chunks: list[bytes] = []
    report.write_json(chunks.append)
    assert b"".join(chunks) == report.dumps() + b"\n"
    assert len(chunks) == 1


@pytest.mark.parametrize("name", ["cloudroom-side-by-side-to-pip.jsonl",
                                  "netease-multiparty-channel.jsonl", "tencent-crash.jsonl"])
def test_the_report_is_written_a_session_at_a_time_with_the_same_bytes(name: str) -> None:
    report = replay(path_of(name))
    assert len(report.sessions) >= 1
    chunks: list[bytes] = []
    report.write_json(chunks.append)
    assert len(chunks) == len(report.sessions) + 2
    assert b"".join(chunks) == report.dumps() + b"\n"
    text = io.StringIO()
    write_report(report, text, as_json=False)
    assert text.getvalue() == format_report(report)
