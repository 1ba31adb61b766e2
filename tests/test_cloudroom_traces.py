"""Each shipped CloudRoom trace replays to the result its header documents (003 and the SDK's
Constant.md / TypeDefinitions.md); the expected figures are worked out here from the scenario
(WRITING every minute at 62 500 bytes a second), not read back from the code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from recstate.replay import replay

TRACES = Path(__file__).resolve().parent.parent / "examples" / "traces"
T0 = 1_700_000_000.0
MINUTE = 60.0
RATE = 62_500  # bytes per second in the scenarios


def run(name: str) -> dict[str, Any]:
    report = replay(TRACES / name)
    data = report.to_json()
    data["exit_status"] = report.exit_status
    return data


def only_session(report: dict[str, Any]) -> dict[str, Any]:
    assert len(report["sessions"]) == 1
    session: dict[str, Any] = report["sessions"][0]
    return session


def files(session: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["id"]: f for f in session["files"]}


def command_names(session: dict[str, Any]) -> list[str]:
    return [c["name"] for c in session["commands"]]


def test_side_by_side_changed_to_picture_in_picture_and_destroyed() -> None:
    report = run("cloudroom-side-by-side-to-pip.jsonl")
    s = only_session(report)
    assert report["exit_status"] == 0
    assert (s["state"], s["recording"]) == ("destroyed", "stopped")
    assert command_names(s) == ["CreateLocMixer", "AddLocMixerOutput",
                                "UpdateLocMixerContent", "DestroyLocMixer"]
    f = files(s)["D:/record/1.mp4"]
    assert (f["status"], f["format"], f["kind"]) == ("closed", "mp4", "mixed")
    assert (f["start"], f["end"]) == (T0, T0 + 20 * MINUTE)
    assert f["size"] == 20 * 60 * RATE
    layouts = s["summary"]["layouts"]
    assert [(x["t"], x["cause"]) for x in layouts] == [
        (T0, "CreateLocMixer"), (T0 + 10 * MINUTE, "UpdateLocMixerContent")]
    # 003 §1: two 320 x 180 cameras side by side, vertically centred on 640 x 360.
    assert [(c["left"], c["top"], c["width"], c["height"], c["param"]["camid"])
            for c in layouts[0]["mixerContent"]] == [(0, 90, 320, 180, "user1.1"),
                                                     (320, 90, 320, 180, "user2.1")]
    # 003 §4: user2 160 x 90, 5 px from the right and bottom edges of 640 x 360.
    assert [(c["left"], c["top"], c["width"], c["height"])
            for c in layouts[1]["mixerContent"]] == [(0, 0, 640, 360), (475, 265, 160, 90)]
    assert s["errors"] == []


def test_disk_full_fails_the_mp4_and_the_ts_goes_on() -> None:
    report = run("cloudroom-disk-full.jsonl")
    s = only_session(report)
    assert report["exit_status"] == 0
    by_id = files(s)
    mp4, ts = by_id["E:/record/1.mp4"], by_id["D:/record/1.ts"]
    assert (mp4["status"], mp4["end"]) == ("failed", T0 + 5.5 * MINUTE)
    assert mp4["size"] == 5 * 60 * RATE, "the last reported size (minute 5)"
    assert (ts["status"], ts["end"], ts["size"]) == ("closed", T0 + 10 * MINUTE,
                                                      10 * 60 * RATE)
    assert [(e["level"], e["code"]) for e in s["errors"]] == [("error", 902)]
    assert "the disk is full" in s["errors"][0]["message"]
    outputs = {o["name"]: o for o in s["summary"]["outputs"]}
    assert (outputs["E:/record/1.mp4"]["state"], outputs["E:/record/1.mp4"]["errCode"]) == (
        "error", 902)
    assert s["state"] == "destroyed"


def test_crash_keeps_the_flv_and_loses_the_mp4() -> None:
    report = run("cloudroom-crash.jsonl")
    s = only_session(report)
    assert report["exit_status"] == 0
    assert (s["state"], s["recording"]) == ("crashed", "failed")
    by_id = files(s)
    flv, mp4 = by_id["D:/record/1.flv"], by_id["D:/record/1.mp4"]
    assert (flv["status"], flv["end"], flv["size"]) == ("closed", T0 + 7 * MINUTE,
                                                        7 * 60 * RATE)
    assert (mp4["status"], mp4["end"]) == ("lost", T0 + 7 * MINUTE)
    assert [e["code"] for e in s["errors"]] == ["app-crashed"]
    assert command_names(s) == ["CreateLocMixer", "AddLocMixerOutput"]


def test_invalid_mixer_lists_every_problem_and_sends_nothing() -> None:
    report = run("cloudroom-invalid-mixer.jsonl")
    s = only_session(report)
    assert report["exit_status"] == 0
    assert s["state"] == "idle"
    assert s["commands"] == []
    assert [e["code"] for e in s["errors"]] == ["invalid-mixer", "no-mixer"]
    message = s["errors"][0]["message"]
    assert "4 problem(s)" in message
    for path, value in (("mixerCfg.width", "650"), ("mixerCfg.frameRate", "60"),
                        ("mixerContent[1].width", "320"),
                        ("mixerContent[1].param.camid", "(absent)")):
        assert f"{path} = {value}" in message
    assert "multiple of 8" in message
    assert "1 to 30" in message
    assert s["files"] == []


def test_android_numbering_and_the_sdks_own_upload() -> None:
    report = run("cloudroom-android.jsonl")
    s = only_session(report)
    assert report["exit_status"] == 0
    assert s["summary"]["platform"] == "android"
    f = files(s)["/sdcard/record/1.mp4"]
    assert (f["status"], f["url"]) == ("ready", "/2023-11-14/1.mp4")
    assert (f["start"], f["end"], f["size"]) == (T0, T0 + 5 * MINUTE, 5 * 60 * RATE)
    ts = files(s)["/sdcard/record/2.ts"]
    assert (ts["status"], ts["end"], ts["size"]) == ("failed", T0 + 3.5 * MINUTE,
                                                      3 * 60 * RATE)
    assert "UploadRecordFile" not in command_names(s), "the SDK uploads on mobile"
    assert [(e["level"], e["code"]) for e in s["errors"]] == [("error", 905)]
    assert s["violations"] == []
    lines = [json.loads(text) for text in (TRACES / "cloudroom-android.jsonl").read_text(
        encoding="utf-8").splitlines() if not text.startswith("#")]
    states = [x["data"]["outputInfo"]["state"] for x in lines
              if x["name"] == "LocMixerOutputInfo"
              and x["data"]["nameOrUrl"] == "/sdcard/record/1.mp4"]
    assert states == [1, 2, 2, 2, 2, 2, 3, 5, 6]


def test_eight_hour_recording_is_closed_normally_by_901() -> None:
    report = run("cloudroom-eight-hours.jsonl")
    s = only_session(report)
    assert report["exit_status"] == 0
    f = files(s)["D:/record/long.ts"]
    assert (f["status"], f["end"]) == ("closed", T0 + 8 * 3600)
    out = s["summary"]["outputs"][0]
    assert (out["duration"], out["errCode"], out["state"]) == (8 * 3600 * 1000, 901, "closed")
    assert [(e["level"], e["code"]) for e in s["errors"]] == [("warning", 901)]
    assert "closed normally" in s["errors"][0]["message"]
    assert "8h" in s["errors"][0]["message"]
    assert s["state"] == "destroyed"


def test_upload_fails_twice_then_succeeds_after_2_then_4_seconds() -> None:
    report = run("cloudroom-upload-retry.jsonl")
    s = only_session(report)
    assert report["exit_status"] == 0
    uploads = [c["t"] for c in s["commands"] if c["name"] == "UploadRecordFile"]
    closed = T0 + 5 * MINUTE
    assert [t - closed for t in uploads] == [0.0, 1.0 + 2.0, 1.0 + 2.0 + 1.0 + 4.0]
    f = files(s)["D:/record/1.mp4"]
    assert (f["status"], f["url"]) == (
        "ready", "https://record.example.com/upload/2023-11-14/1.mp4")
    assert [(e["level"], e["code"]) for e in s["errors"]] == [("warning", 1202)] * 2


@pytest.mark.parametrize("name", sorted(p.name for p in TRACES.glob("cloudroom-*.jsonl")))
def test_each_trace_replays_through_its_own_full_trace_with_no_mismatch(
        name: str, tmp_path: Path) -> None:
    full = tmp_path / "full.jsonl"
    first = replay(TRACES / name, out=full)
    again = replay(full)
    assert again.mismatches == []
    assert again.exit_status == 0
    assert again.to_json()["sessions"] == first.to_json()["sessions"]
