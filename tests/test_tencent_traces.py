"""Each shipped Tencent trace replays to the result its header documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from recstate.replay import replay

TRACES = Path(__file__).resolve().parent.parent / "examples" / "traces"
MINUTE = 60.0


def run(name: str, **kwargs: Any) -> dict[str, Any]:
    report = replay(TRACES / name, **kwargs)
    data = report.to_json()
    data["exit_status"] = report.exit_status
    return data


def only_session(report: dict[str, Any]) -> dict[str, Any]:
    assert len(report["sessions"]) == 1
    session: dict[str, Any] = report["sessions"][0]
    return session


def durations(session: dict[str, Any]) -> list[float]:
    return [f["end"] - f["start"] for f in session["files"]]


def command_names(session: dict[str, Any]) -> list[str]:
    return [c["name"] for c in session["commands"]]


def test_200_minute_recording_gives_three_ready_files_of_90_90_and_20_minutes() -> None:
    report = run("tencent-200min.jsonl")
    s = only_session(report)
    assert report["exit_status"] == 0
    assert (s["state"], s["recording"]) == ("stopped", "stopped")
    assert durations(s) == [90 * MINUTE, 90 * MINUTE, 20 * MINUTE]
    files = s["files"]
    assert [f["end"] for f in files[:-1]] == [f["start"] for f in files[1:]], "contiguous"
    assert [f["status"] for f in files] == ["ready"] * 3
    assert [f["id"] for f in files] == ["5285890781763144364", "5285890781763144365",
                                        "5285890781763144366"]
    assert all(f["url"].endswith(".mp4") and f["size"] > 0 for f in files)
    assert {f["format"] for f in files} == {"mp4"}
    assert command_names(s) == ["requestMultiVideoRecorderStart",
                                "requestMultiVideoRecorderStop", "SearchMedia"]


def test_client_crash_at_minute_100_keeps_two_files_ending_at_the_last_data() -> None:
    report = run("tencent-crash.jsonl")
    s = only_session(report)
    assert report["exit_status"] == 0
    assert s["state"] == "stopped"
    assert durations(s) == [90 * MINUTE, 10 * MINUTE]
    started = s["files"][0]["start"]
    assert s["files"][1]["end"] == started + 100 * MINUTE
    assert [f["status"] for f in s["files"]] == ["closed", "closed"]
    codes = [(e["level"], e["code"]) for e in s["errors"]]
    assert codes == [("error", "no-data"), ("warning", "not-recording")]
    no_data = s["errors"][0]
    assert no_data["t"] == started + 101 * MINUTE, "60 s after the last data"
    # The watchdog looks the files up in VOD by the file name (issue 7 (6)); no stop is sent.
    assert command_names(s) == ["requestMultiVideoRecorderStart", "SearchMedia"]
    search = s["commands"][1]
    assert search["t"] == no_data["t"]
    assert search["data"]["namePrefix"] == "crash-1"
    assert search["data"]["fileIds"] == []


def test_crash_30_s_before_the_rollover_ends_at_the_last_data_and_is_found_in_vod() -> None:
    report = run("tencent-crash-vod-lookup.jsonl")
    s = only_session(report)
    assert report["exit_status"] == 0
    assert s["state"] == "stopped"
    started = s["files"][0]["start"]
    last = started + 89 * MINUTE + 30
    kept = [f for f in s["files"] if f["status"] != "lost"]
    assert [(f["start"], f["end"]) for f in kept] == [(started, last)]
    assert all(f["start"] == f["end"] for f in s["files"] if f["status"] == "lost")
    [f] = kept
    assert (f["id"], f["status"], f["size"]) == ("5285890781763180001", "ready", 537_000_000)
    assert f["url"] == "https://1252.vod2.myqcloud.com/5285890781763180001/f0.mp4"
    assert command_names(s) == ["requestMultiVideoRecorderStart", "SearchMedia"]
    assert s["commands"][1]["data"]["fileIds"] == []
    assert [(e["level"], e["code"]) for e in s["errors"]] == [("error", "no-data")]


def test_a_retry_answered_30000415_after_a_timeout_records_from_the_first_attempt() -> None:
    report = run("tencent-retry-already-recording.jsonl")
    s = only_session(report)
    assert report["exit_status"] == 0
    assert s["state"] == "stopped"
    assert command_names(s) == ["requestMultiVideoRecorderStart",
                                "requestMultiVideoRecorderStart",
                                "requestMultiVideoRecorderStop", "SearchMedia"]
    t0 = s["commands"][0]["t"]
    assert [(e["level"], e["code"]) for e in s["errors"]] == [("warning", 30000208),
                                                              ("warning", 30000415)]
    [f] = s["files"]
    assert (f["start"], f["end"]) == (t0, s["commands"][2]["t"])
    assert (f["id"], f["status"]) == ("5285890781763190001", "ready")
    assert s["commands"][3]["data"]["fileIds"] == ["5285890781763190001"]


def test_duplicate_start_is_refused_with_30000415_and_sends_no_command() -> None:
    report = run("tencent-duplicate-start.jsonl")
    s = only_session(report)
    assert report["exit_status"] == 0
    assert command_names(s).count("requestMultiVideoRecorderStart") == 1
    assert [e["code"] for e in s["errors"]] == [30000415]
    assert "one recording per user" in s["errors"][0]["message"]
    assert durations(s) == [10 * MINUTE]


def test_retryable_start_errors_are_retried_after_1_then_2_seconds() -> None:
    report = run("tencent-retry.jsonl")
    s = only_session(report)
    assert report["exit_status"] == 0
    starts = [c["t"] for c in s["commands"] if c["name"] == "requestMultiVideoRecorderStart"]
    t0 = starts[0]
    assert [t - t0 for t in starts] == [0.0, 1.5, 4.0]
    assert [(e["level"], e["code"]) for e in s["errors"]] == [("warning", 30000208),
                                                              ("warning", 30000404)]
    assert "retry 1 of 3 in 1 s" in s["errors"][0]["message"]
    assert s["state"] == "stopped"
    assert durations(s) == [5 * MINUTE]


def test_stop_while_starting_waits_for_the_start_then_stops() -> None:
    report = run("tencent-stop-while-starting.jsonl")
    s = only_session(report)
    assert report["exit_status"] == 0
    assert command_names(s) == ["requestMultiVideoRecorderStart",
                                "requestMultiVideoRecorderStop", "SearchMedia"]
    stop = s["commands"][1]
    assert stop["t"] == s["files"][0]["start"], "the stop goes out when the start succeeds"
    assert [e["code"] for e in s["errors"]] == ["stop-deferred"]
    assert s["state"] == "stopped"
    assert len(s["files"]) == 1


@pytest.mark.parametrize("name", sorted(p.name for p in TRACES.glob("tencent-*.jsonl")))
def test_each_trace_replays_through_its_own_full_trace_with_no_mismatch(
        name: str, tmp_path: Path) -> None:
    full = tmp_path / "full.jsonl"
    first = replay(TRACES / name, out=full)
    again = replay(full)
    assert again.mismatches == []
    assert again.exit_status == 0
    assert again.to_json()["sessions"] == first.to_json()["sessions"]
