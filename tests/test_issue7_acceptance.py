"""Issue 7 acceptance: Tencent (002, 004) and NetEase (000 and its 抄送 field table for
eventType 6) against the vendors' real shapes, driven only through public surfaces.

Expected values come from the documents and the issue, not from the code:

- NetEase: ``caller`` "若是则为true，若不是则没有此字段" (absent means false); ``size``, ``vid``,
  ``pieceindex`` strings that hold numbers; ``type`` aac / mp4 / flv / gz; a mixed file's
  ``user`` ``"0"``; the console checks the address with a signed POST whose body is empty or
  ``{}`` and wants 200. Callbacks are signed ``MD5`` = md5(body), ``CheckSum`` =
  sha1(AppSecret + MD5 + CurTime): the 抄送 document's rule (the server API's rule puts a
  ``Nonce`` in the MD5's place; a callback carries no Nonce header).
- Tencent: 60 s without data closes the recording with what came before (002 §6 (2)); files are
  found by the start's file name (002 §4 (3)); 30000208 is a timeout to retry, 30000415 "用户正在
  录制", 30000410/30000411 "...或者用户是否已经退出房间", 30000412/30000413 "已经停止录制" (004 §5);
  the stop returns file IDs (002 §3) with no promise of one per 90-minute file.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from uvicorn_loopback import Uvicorn

from recstate import signals
from recstate.adapters.netease import CallbackApp, CallbackReceiver, deliver_to
from recstate.adapters.tencent import VodClient
from recstate.clock import ManualClock
from recstate.events import parse_event
from recstate.replay import replay
from recstate.runtime import Runtime

T0 = 1_700_000_000.0

# ---- helpers -----------------------------------------------------------------------------------


def write(tmp_path: Path, name: str, lines: list[dict[str, Any]]) -> Path:
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines),
                    encoding="utf-8")
    return path


def replay_cli(path: Path, *extra: str) -> dict[str, Any]:
    """``recstate replay --json`` as a subprocess: the report it prints."""
    done = subprocess.run([sys.executable, "-m", "recstate.cli", "replay", str(path), "--json",
                           *extra], capture_output=True, text=True, check=False, timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode in (0, 1), done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def only_session(report: dict[str, Any]) -> dict[str, Any]:
    [session] = report["sessions"]
    out: dict[str, Any] = session
    return out


def warnings_of(session: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in session["errors"] if e["level"] in ("warning", "error")]


# ---- NetEase: bodies as the 抄送 field table writes them ---------------------------------------
CID = "6290737000999815988"


def item(user: str, type_: str, *, caller: Any = None, mix: Any = False, piece: Any = None,
         **extra: Any) -> dict[str, Any]:
    """One fileinfo item in NetEase's shape: strings for numbers, ``caller`` only when given."""
    name = f"{CID}-{user}{'-' + str(piece) if piece is not None else ''}.{type_}"
    d: dict[str, Any] = {"channelid": CID, "filename": name,
                         "md5": hashlib.md5(name.encode()).hexdigest(), "mix": mix,
                         "size": "2048", "type": type_, "url": f"https://nim-nosdn.netease.im/{name}",
                         "user": user, "vid": "5120001"}
    if caller is not None:
        d["caller"] = caller
    if piece is not None:
        d["pieceindex"] = piece
    d.update(extra)
    return d


def body(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"eventType": "6", "fileinfo": json.dumps(items)}


def callee_call(call_type: int, record: dict[str, Any], *, end: float = T0 + 600
                ) -> list[dict[str, Any]]:
    """bob answers ann's call (000: beCalling -> response -> startRtc) and hangs up at end."""
    return [
        {"t": T0, "vendor": "netease", "name": "beCalling",
         "data": {"caller": "ann", "cid": CID, "type": call_type}},
        {"t": T0 + 1, "vendor": "netease", "name": "accept", "session": CID,
         "data": {"account": "bob", "record": record}},
        {"t": T0 + 1.5, "vendor": "netease", "name": "response:ok", "session": CID, "data": {}},
        {"t": T0 + 2, "vendor": "netease", "name": "startRtc:ok", "session": CID, "data": {}},
        {"t": end, "vendor": "netease", "name": "hangup", "session": CID, "data": {}},
    ]


def callback(t: float, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"t": t, "vendor": "netease", "name": "callback", "data": body(items)}


VIDEO_ALL = {"recordType": "0", "recordAudio": 1, "recordVideo": 1}


def video_items(**caller_flags: Any) -> list[dict[str, Any]]:
    """A video call recorded mix+single: ann's .aac/.mp4 (caller), bob's (no caller field),
    the mix .mp4 (user "0", no caller)."""
    yes = caller_flags.get("yes", True)
    no = caller_flags.get("no")
    return [item("ann", "aac", caller=yes), item("ann", "mp4", caller=yes),
            item("bob", "aac", caller=no), item("bob", "mp4", caller=no),
            item("0", "mp4", mix=caller_flags.get("mix", True), caller=no)]


def slots(session: dict[str, Any]) -> list[tuple[str | None, str, str, str]]:
    return sorted(((f["participant"], f["kind"], f["format"], f["status"])
                   for f in session["files"]), key=repr)


VIDEO_READY = sorted([("ann", "audio", "aac", "ready"), ("ann", "video", "mp4", "ready"),
                      ("bob", "audio", "aac", "ready"), ("bob", "video", "mp4", "ready"),
                      (None, "mixed", "mp4", "ready")], key=repr)


def test_netease_absent_caller_is_false_and_every_file_is_kept(tmp_path: Path) -> None:
    """Point 1: the callee's and the mix's items have no ``caller`` at all."""
    lines = [*callee_call(2, VIDEO_ALL), callback(T0 + 700, video_items())]
    session = only_session(replay_cli(write(tmp_path, "absent", lines)))
    assert session["state"] == "complete"
    assert slots(session) == VIDEO_READY
    assert [f["size"] for f in session["files"]] == [2048] * 5  # "2048" read as a number
    assert warnings_of(session) == []
    assert session["violations"] == []


@pytest.mark.parametrize(("flags", "what"), [
    ({"yes": "true", "no": "false", "mix": "true"}, "strings"),
    ({"yes": True, "no": False, "mix": True}, "explicit false"),
    ({"yes": True, "no": None, "mix": True}, "absent"),
])
def test_netease_caller_and_mix_as_strings_or_explicit_false(tmp_path: Path, flags: Any,
                                                             what: str) -> None:
    """"可转为Boolean值": ``"true"``/``"false"`` read as the booleans; false like absent."""
    lines = [*callee_call(2, VIDEO_ALL), callback(T0 + 700, video_items(**flags))]
    session = only_session(replay_cli(write(tmp_path, "flags", lines)))
    assert session["state"] == "complete", what
    assert slots(session) == VIDEO_READY, what
    assert warnings_of(session) == [], what


def test_netease_caller_null_is_read_as_absent(tmp_path: Path) -> None:
    """A serializer that writes the missing field as null must not lose the whole body."""
    items = [dict(i, caller=None) if i["user"] != "ann" else i for i in video_items()]
    report = replay(write(tmp_path, "null", [*callee_call(2, VIDEO_ALL),
                                              callback(T0 + 700, items)]))
    [session] = report.sessions
    assert report.bad_lines == []
    assert slots(session) == VIDEO_READY


def test_netease_extra_fields_and_numbers_as_numbers_are_taken(tmp_path: Path) -> None:
    """Fields the table adds over time (``timestamp``, ...) and numbers written as numbers."""
    items = [dict(i, timestamp="1700000650000", roomid=7, ext={"k": 1}, size=2048, vid=5120001)
             for i in video_items()]
    data = {**body(items), "extra": "x"}
    lines = [*callee_call(2, VIDEO_ALL),
             {"t": T0 + 700, "vendor": "netease", "name": "callback", "data": data}]
    report = replay(write(tmp_path, "extra", lines))
    [session] = report.sessions
    assert report.bad_lines == []
    assert session["state"] == "complete"
    assert slots(session) == VIDEO_READY


def test_netease_a_redelivered_body_counts_once(tmp_path: Path) -> None:
    items = video_items()
    lines = [*callee_call(2, VIDEO_ALL), callback(T0 + 700, items), callback(T0 + 760, items)]
    session = only_session(replay_cli(write(tmp_path, "again", lines)))
    assert slots(session) == VIDEO_READY
    assert warnings_of(session) == []


def test_netease_an_unknown_type_is_kept_and_reported_not_refused(tmp_path: Path) -> None:
    items = [*video_items(), item("bob", "wav")]
    report = replay(write(tmp_path, "wav", [*callee_call(2, VIDEO_ALL),
                                             callback(T0 + 700, items)]))
    [session] = report.sessions
    assert report.bad_lines == []
    assert session["state"] == "complete"
    assert len(session["files"]) == 6
    [extra] = [f for f in session["files"] if f["format"] == "wav"]
    assert (extra["participant"], extra["status"], extra["url"]) == (
        "bob", "ready", items[-1]["url"])
    assert [e["level"] for e in session["errors"]] == ["warning"]
    assert "wav" in session["errors"][0]["message"]


def test_netease_pieces_during_the_call_do_not_end_it(tmp_path: Path) -> None:
    """Point 2: piece 0 arrives 20 min into an 80-minute call; the hang-up still sends
    ``hangup``; piece 1 arrives 25 min after the end (the files deadline, 30 min, runs from
    the end of the call, not from the piece); every piece is its own file."""
    record = {"recordType": "2", "recordAudio": 1, "recordVideo": 0}  # single files only
    end = T0 + 80 * 60
    p0 = [item("ann", "aac", caller=True, piece="0"), item("bob", "aac", piece="0")]
    p1 = [item("ann", "aac", caller=True, piece="1"), item("bob", "aac", piece="1")]
    lines = [*callee_call(1, record, end=end)]
    lines.insert(4, callback(T0 + 20 * 60, p0))
    lines.append(callback(end + 25 * 60, p1))
    report = replay_cli(write(tmp_path, "pieces", lines), "--until", str(end + 3 * 3600))
    session = only_session(report)
    assert [c["name"] for c in session["commands"]] == ["response", "startRtc", "hangup"]
    assert session["state"] == "complete"
    files = session["files"]
    assert sorted((f["participant"], f["kind"], f["format"], f["status"]) for f in files) == [
        ("ann", "audio", "aac", "ready"), ("ann", "audio", "aac", "ready"),
        ("bob", "audio", "aac", "ready"), ("bob", "audio", "aac", "ready")]
    urls = sorted(f["url"] for f in files)
    assert urls == sorted(i["url"] for i in p0 + p1)
    ids = [f["id"] for f in files]
    assert len(set(ids)) == 4
    assert all(".0." in i or ".1." in i for i in ids), ids  # pieceindex in the id
    assert warnings_of(session) == []


def test_netease_a_piece_during_the_call_keeps_the_call_up_for_transitions(
        tmp_path: Path) -> None:
    record = {"recordType": "2", "recordAudio": 1, "recordVideo": 0}
    lines = callee_call(1, record, end=T0 + 3600)[:4]
    lines.append(callback(T0 + 1200, [item("ann", "aac", caller=True, piece=0),
                                      item("bob", "aac", piece=0)]))
    session = only_session(replay_cli(write(tmp_path, "up", lines)))
    assert session["state"] == "recording"
    assert session["recording"] == "recording"
    assert sorted(f["status"] for f in session["files"]) == ["ready", "ready"]


def test_netease_whiteboard_gz_is_its_own_kind_and_not_an_unexpected_recording(
        tmp_path: Path) -> None:
    """Point 3: gz (白板录制文件), no vid."""
    gz = item("ann", "gz")
    del gz["vid"]
    report = replay(write(tmp_path, "gz", [*callee_call(2, VIDEO_ALL),
                                            callback(T0 + 700, [*video_items(), gz])]))
    [session] = report.sessions
    [board] = [f for f in session["files"] if f["format"] == "gz"]
    assert (board["kind"], board["status"]) == ("whiteboard", "ready")
    assert warnings_of(session) == []
    assert session["state"] == "complete"


def test_netease_rtmp_record_channel_expects_an_flv(tmp_path: Path) -> None:
    """Point 3: ``rtmpRecord`` (互动直播录制) on a channel: an .flv is expected; missing, it
    is lost at the deadline."""
    lines = [
        {"t": T0, "vendor": "netease", "name": "joinChannel",
         "data": {"channelName": "room-9", "account": "ann", "rtmpRecord": 1,
                  "recordAudio": 0, "recordVideo": 0}},
        {"t": T0 + 1, "vendor": "netease", "name": "joinChannel:ok", "session": "room-9",
         "data": {}},
        {"t": T0 + 600, "vendor": "netease", "name": "leaveChannel", "session": "room-9",
         "data": {}},
    ]
    session = only_session(replay_cli(write(tmp_path, "flv", lines), "--until",
                                      str(T0 + 600 + 3 * 3600)))
    assert [(f["format"], f["status"]) for f in session["files"]] == [("flv", "lost")]


def test_netease_audio_call_with_mixing_expects_a_mixed_aac(tmp_path: Path) -> None:
    """Point 5: an audio call's mix is an .aac (no video to put in an .mp4)."""
    record = {"recordType": "1", "recordAudio": 1, "recordVideo": 0}  # mix only
    lines = [*callee_call(1, record),
             callback(T0 + 700, [item("0", "aac", mix=True)])]
    session = only_session(replay_cli(write(tmp_path, "mixaac", lines)))
    assert slots(session) == [(None, "mixed", "aac", "ready")]
    assert session["state"] == "complete"
    assert warnings_of(session) == []


# ---- NetEase over HTTP: the receiver under uvicorn on loopback ---------------------------------
SECRET = "acceptance-AppSecret-77aa"


def signed(raw: bytes, *, cur: float = T0, secret: str = SECRET) -> dict[str, str]:
    md5 = hashlib.md5(raw).hexdigest()
    cur_time = str(int(cur))
    return {"AppKey": "app", "CurTime": cur_time, "MD5": md5,
            "CheckSum": hashlib.sha1((secret + md5 + cur_time).encode()).hexdigest(),
            "Content-Type": "application/json;charset=utf-8"}


def Served(app: CallbackApp) -> Uvicorn:
    """The receiver under uvicorn on loopback; the block gets its callback URL."""
    return Uvicorn(app, "/yunxin/cc")


@pytest.fixture
def ended_call() -> Runtime:
    rt = Runtime(ManualClock(T0), strict=True)
    for line in callee_call(2, VIDEO_ALL, end=T0 + 600):
        rt.advance(line["t"])
        rt.dispatch(parse_event("netease", line["name"], line["t"], line["data"],
                                line.get("session")))
    rt.advance(T0 + 700)
    assert rt.sessions[CID].state == "awaiting_files"
    return rt


@pytest.fixture
def served(ended_call: Runtime) -> Iterator[str]:
    receiver = CallbackReceiver(SECRET, clock=ended_call.clock)
    with Served(CallbackApp(receiver, deliver_to(ended_call))) as url:
        yield url


def test_http_console_address_check_empty_and_braces(ended_call: Runtime, served: str) -> None:
    """Point 4: signed POST, body empty or ``{}``: 200, nothing changes."""
    before = [(f.id, f.status) for f in ended_call.sessions[CID].files]
    for raw in (b"", b"{}"):
        answer = httpx.post(served, content=raw, headers=signed(raw, cur=T0 + 700))
        assert answer.status_code == 200, raw
    assert ended_call.sessions[CID].state == "awaiting_files"
    assert [(f.id, f.status) for f in ended_call.sessions[CID].files] == before
    assert sorted(ended_call.sessions) == [CID]
    # Unsigned, the same empty body is refused (the check is made after the signature).
    unsigned = httpx.post(served, content=b"", headers={"Content-Type": "application/json"})
    assert unsigned.status_code in (400, 401)


@pytest.mark.parametrize("variant", ["absent", "strings", "null", "extra", "piece-str"])
def test_http_real_bodies_are_answered_200_and_every_file_kept(ended_call: Runtime,
                                                               served: str,
                                                               variant: str) -> None:
    items = video_items()
    if variant == "strings":
        items = video_items(yes="true", no="false", mix="true")
    elif variant == "null":
        items = [dict(i, caller=None) if i["user"] != "ann" else i for i in items]
    elif variant == "extra":
        items = [dict(i, timestamp="1700000650000") for i in items]
    elif variant == "piece-str":
        items = [dict(i, pieceindex="0") for i in items]
    raw = orjson.dumps(body(items))
    answer = httpx.post(served, content=raw, headers=signed(raw, cur=T0 + 700))
    assert answer.status_code == 200, answer.text
    session = ended_call.sessions[CID]
    assert session.state == "complete"
    assert sorted(((f.participant, f.kind, f.format, f.status) for f in session.files),
                  key=repr) == VIDEO_READY
    # NetEase retries a delivery: the same body again changes nothing.
    again = httpx.post(served, content=raw, headers=signed(raw, cur=T0 + 705))
    assert again.status_code == 200
    assert len(session.files) == 5


def test_http_a_malformed_item_is_refused_with_a_reason_naming_the_field(
        ended_call: Runtime, served: str) -> None:
    items = video_items()
    items[2] = dict(items[2], pieceindex="first")
    raw = orjson.dumps(body(items))
    answer = httpx.post(served, content=raw, headers=signed(raw, cur=T0 + 700))
    assert answer.status_code == 400
    reason = answer.json()["error"]
    assert "fileinfo[2].pieceindex" in reason
    assert "piece" in reason.split("pieceindex", 1)[1], reason  # says what was expected
    assert ended_call.sessions[CID].state == "awaiting_files"  # nothing half-taken


# ---- Tencent ------------------------------------------------------------------------------------
KEY = "1001:7:alice"
ROOM = {"relationId": 1001, "roomId": 7}


def tencent(t: float, name: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    line: dict[str, Any] = {"t": t, "vendor": "tencent", "name": name, "session": KEY}
    if data is not None:
        line["data"] = data
    return line


def started(file_name: str = "lesson-7") -> list[dict[str, Any]]:
    return [tencent(T0, "enterRoom", {**ROOM, "user": "alice", "roomType": "multi"}),
            tencent(T0, "requestMultiVideoRecorderStart",
                    {"roomInfo": ROOM, "param": {"fileName": file_name}}),
            tencent(T0 + 1, "requestMultiVideoRecorderStart:ok", {})]


def data_until(last: float, every: float = 10.0, since: float = T0 + 1) -> list[dict[str, Any]]:
    out = []
    t = since + every
    while t < last:
        out.append(tencent(t, "mediaData"))
        t += every
    out.append(tencent(last, "mediaData"))
    return out


def commands(session: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [c for c in session["commands"] if c["name"] == name]


def vod_file(file_id: str, name: str, size: int, created: str, vid: str = "") -> dict[str, Any]:
    return {"fileId": file_id, "name": name, "size": size, "vid": vid, "createTime": created,
            "url": f"https://1252.vod2.myqcloud.com/{file_id}/f0.mp4"}


def iso(t: float) -> str:
    from datetime import UTC, datetime
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_tencent_crash_looks_the_files_up_by_the_file_name(tmp_path: Path) -> None:
    """Point 6: 60 s without data closes the recording; no stop, no IDs; SearchMedia by the
    start's file name; the found file becomes ready with its url and size."""
    last = T0 + 600
    lines = [*started(), *data_until(last)]
    found = vod_file("5285890781763100001", "lesson-7_1", 40_000_000, iso(last))
    lines.append(tencent(last + 90, "SearchMedia:ok", {"files": [found]}))
    session = only_session(replay_cli(write(tmp_path, "crash", lines)))
    assert session["state"] == "stopped"
    [search] = commands(session, "SearchMedia")
    assert search["data"]["namePrefix"] == "lesson-7"
    assert not search["data"].get("fileIds")
    assert search["t"] == pytest.approx(last + 60)
    assert commands(session, "requestMultiVideoRecorderStop") == []
    [f] = session["files"]
    assert (f["status"], f["url"], f["size"]) == ("ready", found["url"], 40_000_000)
    assert f["end"] == pytest.approx(last)


def answer_searches(rt: Runtime, files: list[dict[str, Any]] | None = None) -> None:
    """An adapter that answers every SearchMedia at once (VOD lists ``files``)."""
    def on(sender: Any, *, session: Any, command: Any, t: float) -> None:
        if command.name == "SearchMedia":
            rt.deliver_at(t + 1, parse_event("tencent", "SearchMedia:ok", t + 1,
                                             {"files": files or []}, session.key))
    signals.commands("tencent").connect(on, sender=rt, weak=False)


def run_lines(rt: Runtime, lines: list[dict[str, Any]]) -> None:
    for line in lines:
        rt.advance(line["t"])
        rt.dispatch(parse_event("tencent", line["name"], line["t"], line.get("data"),
                                line["session"]))


@pytest.mark.parametrize("ending", ["watchdog", "stop-unanswered", "30000412", "30000413",
                                    "stop-failed"])
def test_tencent_every_ending_searches_and_never_found_ends_lost(ending: str) -> None:
    """Point 6: whatever ended it, files VOD never lists end lost with a warning."""
    rt = Runtime(ManualClock(T0), strict=False)
    errors: list[dict[str, Any]] = []
    signals.error.connect(lambda sender, **kw: errors.append(kw), sender=rt, weak=False)
    answer_searches(rt)
    lines = [*started(), *data_until(T0 + 300)]
    if ending != "watchdog":
        lines.append(tencent(T0 + 301, "requestMultiVideoRecorderStop", {"roomInfo": ROOM}))
        if ending.startswith("300"):
            lines.append(tencent(T0 + 302, "requestMultiVideoRecorderStop:error",
                                 {"code": int(ending), "desc": ""}))
        elif ending == "stop-failed":
            lines.append(tencent(T0 + 302, "requestMultiVideoRecorderStop:error",
                                 {"code": 30000201, "desc": "pack error"}))
    run_lines(rt, lines)
    rt.advance(T0 + 6 * 3600)
    session = rt.sessions[KEY]
    assert session.state in ("stopped", "failed")
    assert [f.status for f in session.files] == ["lost"]
    assert any(e.get("level") == "warning" and "lesson-7" in e.get("message", "")
               for e in errors), [e.get("message") for e in errors]


@pytest.mark.parametrize("before", [1.0, 10.0, 30.0, 59.0, 59.9])
@pytest.mark.parametrize("boundary", [1, 2])
def test_tencent_crash_just_before_a_rollover_keeps_nothing_after_the_last_data(
        tmp_path: Path, before: float, boundary: int) -> None:
    """Point 7: the last data comes ``before`` s before the n-th 90-minute boundary."""
    start = T0 + 1
    last = start + boundary * 90 * 60 - before
    lines = [*started(), *data_until(last, every=30.0)]
    report = replay(write(tmp_path, f"edge{boundary}-{before}", lines), until=last + 600)
    [session] = report.sessions
    kept = [f for f in session["files"] if f["status"] != "lost"]
    assert len(kept) == boundary
    assert all(f["end"] <= last + 1e-6 for f in kept)
    assert kept[-1]["end"] == pytest.approx(last)
    assert sum(f["end"] - f["start"] for f in kept) == pytest.approx(last - start)
    assert all(f["end"] == f["start"] for f in session["files"] if f["status"] == "lost")
    assert report.violations == 0


def retried_start() -> list[dict[str, Any]]:
    return [tencent(T0, "enterRoom", {**ROOM, "user": "alice", "roomType": "multi"}),
            tencent(T0, "requestMultiVideoRecorderStart",
                    {"roomInfo": ROOM, "param": {"fileName": "lesson-7"}}),
            tencent(T0 + 0.5, "requestMultiVideoRecorderStart:error",
                    {"code": 30000208, "desc": "timeout"})]


def test_tencent_30000415_on_a_retried_start_means_recording(tmp_path: Path) -> None:
    """Point 8."""
    lines = [*retried_start(),
             tencent(T0 + 2, "requestMultiVideoRecorderStart:error",
                     {"code": 30000415, "desc": ""}),
             *data_until(T0 + 120, since=T0 + 2),
             tencent(T0 + 121, "requestMultiVideoRecorderStop", {"roomInfo": ROOM}),
             tencent(T0 + 122, "requestMultiVideoRecorderStop:ok",
                     {"fileIds": ["5285890781763190001"]})]
    session = only_session(replay_cli(write(tmp_path, "415", lines)))
    assert len(commands(session, "requestMultiVideoRecorderStart")) == 2
    assert len(commands(session, "requestMultiVideoRecorderStop")) == 1
    assert any(e["code"] == 30000415 and e["level"] == "warning" for e in session["errors"])
    assert session["violations"] == []
    assert session["state"] == "stopped"
    [f] = session["files"]
    assert f["id"] == "5285890781763190001"


def test_tencent_30000415_keeps_the_user_busy(tmp_path: Path) -> None:
    """A start in another room while the got-through recording runs is refused."""
    other = "1001:8:alice"
    lines = [*retried_start(),
             tencent(T0 + 2, "requestMultiVideoRecorderStart:error",
                     {"code": 30000415, "desc": ""}),
             {"t": T0 + 3, "vendor": "tencent", "name": "enterRoom", "session": other,
              "data": {"relationId": 1001, "roomId": 8, "user": "alice"}},
             {"t": T0 + 3, "vendor": "tencent", "name": "requestMultiVideoRecorderStart",
              "session": other, "data": {"roomInfo": {"relationId": 1001, "roomId": 8},
                                         "param": {"fileName": "other"}}}]
    report = replay_cli(write(tmp_path, "busy", lines))
    by_key = {s["session"]: s for s in report["sessions"]}
    assert by_key[KEY]["state"] == "recording"
    assert commands(by_key[other], "requestMultiVideoRecorderStart") == []


@pytest.mark.parametrize("leave", ["requestMultiVideoRecorderStop", "exitRoom"])
def test_tencent_a_stop_while_waiting_to_retry_reaches_the_server(tmp_path: Path,
                                                                  leave: str) -> None:
    data = {"roomInfo": ROOM} if leave != "exitRoom" else {**ROOM, "user": "alice"}
    lines = [*retried_start(), tencent(T0 + 0.7, leave, data)]
    session = only_session(replay_cli(write(tmp_path, "rw", lines)))
    assert len(commands(session, "requestMultiVideoRecorderStop")) == 1
    assert len(commands(session, "requestMultiVideoRecorderStart")) == 1  # no retry after it


@pytest.mark.parametrize("code", [30000410, 30000411])
def test_tencent_room_gone_after_leaving_is_already_closed(tmp_path: Path, code: int) -> None:
    lines = [*started(), *data_until(T0 + 300),
             tencent(T0 + 301, "exitRoom", {**ROOM, "user": "alice"}),
             tencent(T0 + 302, "requestMultiVideoRecorderStop:error",
                     {"code": code, "desc": ""})]
    session = only_session(replay_cli(write(tmp_path, f"gone{code}", lines)))
    assert session["state"] == "stopped"
    assert any(e["code"] == code and e["level"] == "warning" for e in session["errors"])
    [search] = commands(session, "SearchMedia")
    assert search["data"]["namePrefix"] == "lesson-7"


@pytest.mark.parametrize("code", [30000410, 30000411])
def test_tencent_room_gone_while_in_the_room_is_a_failed_stop(tmp_path: Path,
                                                              code: int) -> None:
    lines = [*started(), *data_until(T0 + 300),
             tencent(T0 + 301, "requestMultiVideoRecorderStop", {"roomInfo": ROOM}),
             tencent(T0 + 302, "requestMultiVideoRecorderStop:error",
                     {"code": code, "desc": ""})]
    session = only_session(replay_cli(write(tmp_path, f"fail{code}", lines)))
    assert session["state"] == "failed"


def test_tencent_id_count_mismatch_is_a_warning_not_a_violation(tmp_path: Path) -> None:
    """Point 9: 100 minutes (two local files), the stop returns one ID."""
    stop_at = T0 + 100 * 60
    lines = [*started(), *data_until(stop_at - 1, every=30.0),
             tencent(stop_at, "requestMultiVideoRecorderStop", {"roomInfo": ROOM}),
             tencent(stop_at + 1, "requestMultiVideoRecorderStop:ok",
                     {"fileIds": ["5285890781763200001"]})]
    report = replay_cli(write(tmp_path, "count", lines))
    session = only_session(report)
    assert report["violations"] == 0
    assert session["violations"] == []
    [search] = commands(session, "SearchMedia")
    assert search["data"]["fileIds"] == ["5285890781763200001"]
    assert search["data"]["namePrefix"] == "lesson-7"


def test_tencent_a_stop_id_found_as_basic_info_vid(tmp_path: Path) -> None:
    """Point 9: the stop's ID is the old API's vid; VOD lists it as BasicInfo.Vid."""
    lines = [*started(), *data_until(T0 + 300),
             tencent(T0 + 301, "requestMultiVideoRecorderStop", {"roomInfo": ROOM}),
             tencent(T0 + 302, "requestMultiVideoRecorderStop:ok", {"fileIds": ["vid-200001"]}),
             tencent(T0 + 310, "SearchMedia:ok", {"files": [
                 vod_file("5285890781763300001", "lesson-7_1", 9_000_000, iso(T0 + 302),
                          vid="vid-200001")]})]
    session = only_session(replay_cli(write(tmp_path, "vid", lines)))
    [f] = session["files"]
    assert (f["status"], f["size"]) == ("ready", 9_000_000)
    assert f["url"].endswith("5285890781763300001/f0.mp4")


def test_tencent_sub_app_id_reaches_the_command_and_the_wire() -> None:
    """Point 9: SubAppId is a first-class option, on the command and in the request."""
    from loopback import Loopback, Request

    from recstate.machines.tencent import TencentOptions

    def answer(request: Request) -> tuple[int, bytes]:
        return 200, orjson.dumps({"Response": {"TotalCount": 0, "MediaInfoSet": [],
                                               "RequestId": "r"}})

    with Loopback(answer) as server:
        rt = Runtime(ManualClock(T0), strict=False,
                     options={"tencent": TencentOptions(sub_app_id=1500012345)})
        sent: list[Any] = []
        signals.commands("tencent").connect(
            lambda sender, **kw: sent.append(kw["command"]), sender=rt, weak=False)
        run_lines(rt, [*started(), *data_until(T0 + 100)])
        rt.advance(T0 + 200)
        [search] = [c for c in sent if c.name == "SearchMedia"]
        assert search.subAppId == 1500012345
        with VodClient("AKIDacceptance", "acceptance-key", endpoint=server.url,
                       clock=ManualClock(T0)) as client:
            client.search_media(search.namePrefix, search.fileIds,
                                sub_app_id=search.subAppId)
        got = [orjson.loads(r.body) for r in server.requests]
        assert got[0]["SubAppId"] == 1500012345
        assert got[0]["NamePrefixes"] == ["lesson-7"]


def test_example_traces_replay_with_no_mismatch(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent / "examples" / "traces"
    for trace in sorted(root.glob("*.jsonl")):
        if not trace.name.startswith(("tencent-", "netease-")):
            continue
        out = tmp_path / trace.name
        first = replay(trace, out=out)
        again = replay(out)
        assert again.mismatches == [], trace.name
        assert first.bad_lines == [], trace.name


# ---- hostile bodies that must not be redelivered forever ---------------------------------------
@pytest.mark.parametrize("raw", [b'{"eventType":"6","fileinfo":"[]"}',
                                 b'{"eventType":6,"fileinfo":"[]"}'])
def test_http_an_eventtype_6_body_with_no_file_is_acknowledged(ended_call: Runtime,
                                                               served: str,
                                                               raw: bytes) -> None:
    """No file item: nothing to route, nothing to do; a strict runtime must still answer 200
    (anything else and NetEase delivers it again)."""
    answer = httpx.post(served, content=raw, headers=signed(raw, cur=T0 + 700))
    assert answer.status_code == 200, answer.text
    assert sorted(ended_call.sessions) == [CID]
    assert ended_call.sessions[CID].state == "awaiting_files"


def test_http_eventtype_as_a_number_still_delivers_the_files(ended_call: Runtime,
                                                             served: str) -> None:
    raw = orjson.dumps({"eventType": 6, "fileinfo": json.dumps(video_items())})
    answer = httpx.post(served, content=raw, headers=signed(raw, cur=T0 + 700))
    assert answer.status_code == 200, answer.text
    session = ended_call.sessions[CID]
    assert session.state == "complete"
    assert len(session.files) == 5


# ---- the simulator writes the documented shape (point 1) ---------------------------------------
def test_simulator_bodies_have_no_caller_for_the_callee_and_the_mix() -> None:
    from recstate.adapters.netease import NetEaseSimulator

    rt = Runtime(ManualClock(T0), strict=True)
    sim = NetEaseSimulator(rt, files_after=60.0)
    try:
        for line in callee_call(2, VIDEO_ALL, end=T0 + 600):
            if line["name"] in ("response:ok", "startRtc:ok"):
                continue  # the simulator answers the commands
            rt.advance(line["t"])
            rt.dispatch(parse_event("netease", line["name"], line["t"], line["data"],
                                    line.get("session")))
        rt.advance(T0 + 3600)
        raw_items = [i for ev in sim.delivered if ev.name == "callback"
                     for i in json.loads(ev.payload()["fileinfo"])]
    finally:
        sim.close()
    assert len(raw_items) == 5
    for i in raw_items:
        assert isinstance(i["size"], str)
        if i["mix"]:
            assert i["user"] == "0"
            assert "caller" not in i
        elif i["user"] == "ann":
            assert i["caller"] is True
        else:
            assert "caller" not in i, i
    assert rt.sessions[CID].state == "complete"


# ---- Tencent: fewer IDs than 90-minute files (point 9) -----------------------------------------
def test_tencent_one_id_for_two_local_files_matches_one_and_warns_for_the_other() -> None:
    rt = Runtime(ManualClock(T0), strict=True)
    errors: list[dict[str, Any]] = []
    signals.error.connect(lambda sender, **kw: errors.append(kw), sender=rt, weak=False)
    stop_at = T0 + 100 * 60
    answer_searches(rt, [vod_file("5285890781763200001", "lesson-7_1", 7, iso(stop_at))])
    run_lines(rt, [*started(), *data_until(stop_at - 1, every=30.0),
                   tencent(stop_at, "requestMultiVideoRecorderStop", {"roomInfo": ROOM}),
                   tencent(stop_at + 1, "requestMultiVideoRecorderStop:ok",
                           {"fileIds": ["5285890781763200001"]})])
    rt.advance(stop_at + 6 * 3600)
    files = rt.sessions[KEY].files
    assert sorted(f.status for f in files) == ["lost", "ready"]
    [ready] = [f for f in files if f.status == "ready"]
    assert (ready.id, ready.size) == ("5285890781763200001", 7)
    assert any(e.get("level") == "warning" for e in errors)
    assert not any(e.get("code") == "violation" for e in errors)


# ---- NetEase pieces: hostile orders and shapes (point 2) ---------------------------------------
AUDIO_SINGLE = {"recordType": "2", "recordAudio": 1, "recordVideo": 0}


def pieces(k: int | str) -> list[dict[str, Any]]:
    return [item("ann", "aac", caller=True, piece=k), item("bob", "aac", piece=k)]


def piece_run(tmp_path: Path, name: str, extra: list[dict[str, Any]]) -> dict[str, Any]:
    end = T0 + 3 * 3600
    lines = sorted([*callee_call(1, AUDIO_SINGLE, end=end), *extra], key=lambda x: x["t"])
    return only_session(replay_cli(write(tmp_path, name, lines), "--until",
                                   str(end + 4 * 3600)))


END3 = T0 + 3 * 3600


def test_netease_pieces_out_of_order_all_kept(tmp_path: Path) -> None:
    session = piece_run(tmp_path, "ooo", [callback(T0 + 7200, pieces(1)),
                                          callback(END3 + 60, pieces(0)),
                                          callback(END3 + 90, pieces(2))])
    assert session["state"] == "complete"
    assert sorted((f["participant"], f["status"]) for f in session["files"]) == [
        ("ann", "ready")] * 3 + [("bob", "ready")] * 3
    assert warnings_of(session) == []


def test_netease_a_piece_redelivered_during_the_call_counts_once(tmp_path: Path) -> None:
    session = piece_run(tmp_path, "again", [callback(T0 + 3700, pieces("0")),
                                            callback(T0 + 3760, pieces("0")),
                                            callback(END3 + 60, pieces("1"))])
    assert len(session["files"]) == 4
    assert {f["status"] for f in session["files"]} == {"ready"}
    assert [c["name"] for c in session["commands"]] == ["response", "startRtc", "hangup"]


def test_netease_the_last_piece_without_pieceindex_is_that_piece(tmp_path: Path) -> None:
    """A hostile variant: the slot had pieces during the call, the final body omits
    ``pieceindex`` (and is delivered twice). Nothing is reported lost that arrived, and no
    file is counted twice."""
    final = [item("ann", "aac", caller=True), item("bob", "aac")]
    session = piece_run(tmp_path, "nopiece", [callback(T0 + 3700, pieces("0")),
                                              callback(END3 + 60, final),
                                              callback(END3 + 120, final)])
    assert session["state"] == "complete"
    assert len(session["files"]) == 4
    assert {f["status"] for f in session["files"]} == {"ready"}
    assert sorted(f["url"] for f in session["files"]) == sorted(
        i["url"] for i in pieces("0") + final)
    assert warnings_of(session) == []


@pytest.mark.parametrize(("answer", "kept"), [
    ({"name": "requestMultiVideoRecorderStop:error", "data": {"code": 30000412, "desc": ""}},
     0),
    ({"name": "requestMultiVideoRecorderStop:ok", "data": {"fileIds": ["5285890781763400001"]}},
     1),
])
def test_tencent_a_stop_pending_when_the_start_times_out_reaches_the_server(
        tmp_path: Path, answer: dict[str, Any], kept: int) -> None:
    """Point 8: a stop asked while starting, then 30000208: the stop goes to the server (the
    timed-out attempt may have started); its IDs mean it recorded, 30000412 that it did not."""
    st = retried_start()
    lines = [st[0], st[1], tencent(T0 + 0.2, "requestMultiVideoRecorderStop", {"roomInfo": ROOM}),
             st[2], tencent(T0 + 1, answer["name"], answer["data"])]
    session = only_session(replay_cli(write(tmp_path, "pending", lines), "--until",
                                      str(T0 + 3600)))
    assert session["state"] == "stopped"
    assert len(commands(session, "requestMultiVideoRecorderStart")) == 1
    assert len(commands(session, "requestMultiVideoRecorderStop")) == 1
    assert len([f for f in session["files"] if f["status"] != "lost"]) == kept
    assert session["violations"] == []
