"""The NetEase example traces replay to their documented results (see each file's header)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from recstate.adapters.netease import split_callback, split_records
from recstate.replay import replay, replay_records
from recstate.trace import Record, TraceReader

TRACES = Path(__file__).resolve().parent.parent / "examples" / "traces"


def _files(session: dict[str, Any]) -> dict[str, str]:
    return {f["id"].split("/", 1)[1]: f["status"] for f in session["files"]}


def _names(session: dict[str, Any]) -> list[str]:
    return [c["name"] for c in session["commands"]]


def _only(path: str) -> dict[str, Any]:
    report = replay(TRACES / path)
    assert report.exit_status == 0, report.to_json()
    out = report.to_json()
    assert out["violations"] == 0
    assert len(out["sessions"]) == 1
    session: dict[str, Any] = out["sessions"][0]
    return session


def test_every_netease_trace_says_what_it_shows() -> None:
    paths = sorted(TRACES.glob("netease-*.jsonl"))
    assert len(paths) >= 5
    for path in paths:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("#"), path
        assert "Documented result" in path.read_text(encoding="utf-8"), path


def test_callee_video_call_all_five_files() -> None:
    s = _only("netease-callee-video-all-files.jsonl")
    assert (s["state"], s["recording"]) == ("complete", "stopped")
    assert _files(s) == {"caller.aac": "ready", "caller.mp4": "ready", "callee.aac": "ready",
                         "callee.mp4": "ready", "mix.mp4": "ready"}
    assert _names(s) == ["response", "startRtc"]
    response, start = s["commands"]
    assert response["data"] == {"caller": "alice", "accepted": True, "type": 2,
                                "cid": "6290737000999815988"}
    assert start["data"] == {"recordType": "0", "recordAudio": 1, "recordVideo": 1,
                             "mode": "NETCALL_MODE_AUDIO_VIDEO"}
    by_id = {f["id"].split("/", 1)[1]: f for f in s["files"]}
    assert by_id["caller.mp4"]["participant"] == "alice"
    assert by_id["callee.aac"]["participant"] == "bob"
    assert by_id["mix.mp4"]["participant"] is None
    assert all(f["url"].startswith("https://") and f["size"] > 0 for f in s["files"])
    assert [e for e in s["errors"] if e["level"] != "info"] == []


def test_audio_call_record_type_2_gives_two_aac() -> None:
    s = _only("netease-audio-single-only.jsonl")
    assert s["state"] == "complete"
    assert _files(s) == {"caller.aac": "ready", "callee.aac": "ready"}
    assert _names(s) == ["call", "startRtc", "hangup"]
    assert s["commands"][1]["data"]["mode"] == "NETCALL_MODE_ONLY_AUDIO"
    assert s["commands"][1]["data"]["recordType"] == "2"


def test_caller_rejected_sends_no_start_rtc() -> None:
    s = _only("netease-caller-rejected.jsonl")
    assert (s["state"], s["recording"]) == ("ended", "idle")
    assert _names(s) == ["call"]
    assert s["files"] == []


def test_files_partly_lost_by_the_deadline() -> None:
    s = _only("netease-files-partly-lost.jsonl")
    assert (s["state"], s["recording"]) == ("complete", "stopped")
    assert _files(s) == {"caller.aac": "ready", "callee.aac": "ready", "mix.mp4": "ready",
                         "caller.mp4": "lost", "callee.mp4": "lost"}
    [missing] = [e for e in s["errors"] if e["code"] == "files-missing"]
    assert missing["level"] == "error"
    assert "caller.mp4" in missing["message"]
    assert "callee.mp4" in missing["message"]
    assert missing["t"] == 1_700_000_000 + 1200 + 1800


def test_multi_party_channel() -> None:
    s = _only("netease-multiparty-channel.jsonl")
    assert (s["session"], s["state"]) == ("team-standup-42", "complete")
    assert _names(s) == ["joinChannel", "leaveChannel"]
    assert s["commands"][0]["data"] == {"channelName": "team-standup-42", "rtmpRecord": 0,
                                        "recordAudio": 1, "recordVideo": 1, "recordType": 0,
                                        "type": 2}
    files = _files(s)
    assert files["self.aac"] == files["self.mp4"] == files["mix.mp4"] == "ready"
    assert sorted(k for k in files if "dave" in k) == ["team-standup-42-dave.aac",
                                                       "team-standup-42-dave.mp4"]


def test_pieces_are_their_own_files_and_a_piece_during_the_call_ends_nothing() -> None:
    s = _only("netease-pieces.jsonl")
    assert (s["state"], s["recording"]) == ("complete", "stopped")
    assert _names(s) == ["call", "startRtc", "hangup"]
    assert _files(s) == dict.fromkeys(
        ["caller.0.aac", "callee.0.aac", "mix.0.aac", "caller.1.aac", "callee.1.aac",
         "mix.1.aac"], "ready")
    by_id = {f["id"].split("/", 1)[1]: f for f in s["files"]}
    assert (by_id["callee.1.aac"]["participant"], by_id["callee.1.aac"]["kind"]) == (
        "bob", "audio")
    assert (by_id["mix.0.aac"]["participant"], by_id["mix.0.aac"]["kind"]) == (None, "mixed")
    assert [e for e in s["errors"] if e["level"] != "info"] == []


def test_channel_live_recording_and_whiteboard_data() -> None:
    s = _only("netease-channel-live-whiteboard.jsonl")
    assert (s["state"], s["recording"]) == ("complete", "stopped")
    assert s["commands"][0]["data"]["rtmpRecord"] == 1
    kinds = {f["id"].split("/", 1)[1]: (f["kind"], f["format"], f["status"])
             for f in s["files"]}
    assert kinds == {"self.aac": ("audio", "aac", "ready"),
                     "live.flv": ("video", "flv", "ready"),
                     "class-live-7-carol-0.gz": ("whiteboard", "gz", "ready"),
                     "class-live-7-dave-0.aac": ("audio", "aac", "ready")}
    assert sorted(e["code"] for e in s["errors"]) == ["member-file", "whiteboard-file"]
    assert {e["level"] for e in s["errors"]} == {"info"}


def test_example_bodies_are_written_as_netease_writes_them() -> None:
    """The 抄送 field table: caller is true or absent (never false), a mix's user is "0",
    size / vid / pieceindex are strings, whiteboard data (gz) has no vid."""
    seen = 0
    for path in sorted(TRACES.glob("netease-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("#") or not line.strip():
                continue
            record = orjson.loads(line)
            if record["name"] != "callback":
                continue
            for item in orjson.loads(record["data"]["fileinfo"]):
                seen += 1
                assert item.get("caller", True) is True, (path.name, item)
                if item["mix"]:
                    assert item["user"] == "0", (path.name, item)
                    assert "caller" not in item, (path.name, item)
                assert isinstance(item["size"], str)
                assert isinstance(item.get("pieceindex", ""), str)
                assert ("vid" in item) == (item["type"] != "gz"), (path.name, item)
    assert seen > 20


def test_replay_is_deterministic() -> None:
    for path in sorted(TRACES.glob("netease-*.jsonl")):
        assert replay(path).dumps() == replay(path).dumps()


# ---- one body, several channels ------------------------------------------------------------

def _item(channel: str, user: str, caller: bool, fmt: str, mix: bool = False) -> dict[str, Any]:
    name = f"{channel}-{'mix' if mix else user}.{fmt}"
    return {"caller": caller, "channelid": channel, "filename": name, "md5": "0" * 32,
            "mix": mix, "size": "2048", "type": fmt, "url": f"https://nos.example/{name}",
            "user": user, "vid": "77"}


def _two_calls_then_one_body(tmp_path: Path) -> Path:
    """Two recorded audio calls (recordType 2) whose four files come in ONE callback body."""
    lines: list[dict[str, Any]] = []
    t = 1_700_000_000.0
    for cid, caller in (("111", "ann"), ("222", "ben")):
        lines += [
            {"t": t, "vendor": "netease", "name": "beCalling",
             "data": {"caller": caller, "cid": cid, "type": 1}},
            {"t": t + 1, "vendor": "netease", "name": "accept", "session": cid,
             "data": {"record": {"recordType": "2", "recordAudio": True}}},
            {"t": t + 2, "vendor": "netease", "name": "response:ok", "session": cid},
            {"t": t + 3, "vendor": "netease", "name": "startRtc:ok", "session": cid},
            {"t": t + 60, "vendor": "netease", "name": "hangup", "session": cid},
        ]
        t += 100
    items = [_item("111", "ann", True, "aac"), _item("222", "ben", True, "aac"),
             _item("111", "me", False, "aac"), _item("222", "me", False, "aac")]
    lines.append({"t": t + 100, "vendor": "netease", "name": "callback",
                  "data": {"eventType": "6", "fileinfo": orjson.dumps(items).decode()}})
    path = tmp_path / "two-channels.jsonl"
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


def test_split_callback_gives_one_body_per_channel() -> None:
    items = [_item("111", "ann", True, "aac"), _item("222", "ben", True, "aac"),
             _item("111", "me", False, "aac")]
    parts = split_callback({"eventType": "6", "fileinfo": orjson.dumps(items).decode()})
    assert [channel for channel, _ in parts] == ["111", "222"]
    first = parts[0][1]
    assert first["eventType"] == "6"
    assert isinstance(first["fileinfo"], str)
    assert [i["channelid"] for i in orjson.loads(first["fileinfo"])] == ["111", "111"]


def test_split_records_route_each_channel_to_its_call(tmp_path: Path) -> None:
    path = _two_calls_then_one_body(tmp_path)
    report = replay_records(split_records(TraceReader(path)))
    out = report.to_json()
    assert out["violations"] == 0
    states = {s["session"]: (s["state"], _files(s)) for s in out["sessions"]}
    assert states == {"111": ("complete", {"caller.aac": "ready", "callee.aac": "ready"}),
                      "222": ("complete", {"caller.aac": "ready", "callee.aac": "ready"})}


def test_a_multi_channel_line_is_split_by_the_runtime_into_each_channels_call(
        tmp_path: Path) -> None:
    """Vendor.split: the plain replay routes each channel's files to its own call."""
    out = replay(_two_calls_then_one_body(tmp_path)).to_json()
    assert out["violations"] == 0
    states = {s["session"]: (s["state"], _files(s)) for s in out["sessions"]}
    assert states == {"111": ("complete", {"caller.aac": "ready", "callee.aac": "ready"}),
                      "222": ("complete", {"caller.aac": "ready", "callee.aac": "ready"})}
    assert not any(e["code"] == "other-channel" for s in out["sessions"] for e in s["errors"])


def test_split_records_passes_other_records_through() -> None:
    record = Record(t=1.0, vendor="netease", name="hangup", session="1", data={})
    assert list(split_records([record])) == [record]


@pytest.mark.parametrize("body", [
    {"eventType": "6", "fileinfo": 5},
    {"eventType": "6", "fileinfo": "not json"},
    {"eventType": "6", "fileinfo": "[{\"channelid\": true}]"},
])
def test_split_callback_refuses_a_bad_body_with_the_field(body: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"data\.fileinfo"):
        split_callback(body)


@pytest.mark.parametrize("name", sorted(p.name for p in TRACES.glob("netease-*.jsonl")))
def test_each_example_replays_from_its_full_trace_with_no_mismatch(name: str,
                                                                    tmp_path: Path) -> None:
    """`recstate replay --out` (a subprocess), then the full trace replays to the same."""
    full = tmp_path / "full.jsonl"

    def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "recstate.cli", *map(str, args)],
                              capture_output=True, text=True, check=False, timeout=120)

    assert cli("replay", "--out", full, TRACES / name).returncode == 0
    again = cli("replay", "--json", full)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["mismatches"] == []
