"""Each shipped Juphoon trace replays to the result its header documents; the CLI replays and
simulates them as a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from recstate.adapters.juphoon import SCENARIOS
from recstate.replay import replay

TRACES = Path(__file__).resolve().parent.parent / "examples" / "traces"
T0 = 1_700_000_000.0


def run(name: str, **kwargs: Any) -> dict[str, Any]:
    report = replay(TRACES / name, **kwargs)
    data = report.to_json()
    data["exit_status"] = report.exit_status
    return data


def only_session(report: dict[str, Any]) -> dict[str, Any]:
    assert len(report["sessions"]) == 1
    session: dict[str, Any] = report["sessions"][0]
    return session


def names(session: dict[str, Any]) -> list[str]:
    return [c["name"] for c in session["commands"]]


def test_two_files_enable_disable_enable_again_with_a_new_name() -> None:
    report = run("juphoon-two-files.jsonl")
    s = only_session(report)
    assert report["exit_status"] == 0
    assert (s["state"], s["recording"]) == ("left", "stopped")
    a, b = s["files"]
    assert (a["id"], a["kind"], a["format"], a["end"] - a["start"]) == (
        "part1.mp4", "video", "mp4", 600.0)
    assert (b["id"], b["end"] - b["start"]) == ("part2.mp4", 300.0)
    assert a["end"] <= b["start"], "files never overlap"
    assert [f["status"] for f in s["files"]] == ["ready", "ready"]
    assert [f["size"] for f in s["files"]] == [150_000_000, 75_000_000]
    assert all(f["hash"] and f["url"].endswith(f["id"]) for f in s["files"])
    assert names(s) == ["join", "enableRecord", "enableRecord", "stat", "enableRecord",
                        "enableRecord", "stat", "leave"]
    enables = [c["data"] for c in s["commands"] if c["name"] == "enableRecord"]
    assert [e["enable"] for e in enables] == [True, False, True, False]
    assert enables[0]["recordParam"] is None
    assert '"FileKey":"part2.mp4"' in enables[2]["recordParam"]["recordString"]
    assert '"SecretKey":"***"' in enables[2]["recordParam"]["recordString"]
    stats = [c for c in s["commands"] if c["name"] == "stat"]
    assert [c["t"] - f["end"] for c, f in zip(stats, s["files"], strict=True)] == [5.0, 5.0]
    assert s["violations"] == []


def test_enable_refused_in_none_sends_nothing() -> None:
    report = run("juphoon-enable-refused-in-none.jsonl")
    s = only_session(report)
    assert report["exit_status"] == 0
    assert names(s) == ["join", "leave"]
    refused = [e for e in s["errors"] if e["code"] == "enable-refused"]
    assert len(refused) == 1
    assert refused[0]["level"] == "error"
    assert "record state is None" in refused[0]["message"]
    assert "Ready" in refused[0]["message"]
    assert s["files"] == []
    assert s["state"] == "left"


def test_an_enable_whose_property_change_never_comes() -> None:
    report = run("juphoon-enable-no-property-change.jsonl")
    s = only_session(report)
    assert report["exit_status"] == 0
    (error,) = [e for e in s["errors"] if e["code"] == "no-property-change"]
    assert error["t"] == T0 + 2 + 30
    assert "Ready" in error["message"]
    assert names(s) == ["join", "enableRecord", "leave"]
    join = s["commands"][0]["data"]
    assert '"FileKey":"silent.mp4"' in join["joinParam"]["record"]["recordString"]
    assert s["files"] == []
    assert s["state"] == "left"


def test_running_straight_from_none_is_followed_and_reported() -> None:
    report = run("juphoon-running-from-none.jsonl")
    s = only_session(report)
    assert report["exit_status"] == 1
    assert report["violations"] == 1
    (v,) = s["violations"]
    assert "straight from None" in v["reason"]
    (f,) = s["files"]
    assert (f["id"], f["kind"], f["format"], f["start"], f["end"]) == (
        "talk-7", "audio", "m4a", T0 + 1, T0 + 121)
    assert names(s) == ["join", "enableRecord", "stat", "leave"]


@pytest.mark.parametrize("name", sorted(p.name for p in TRACES.glob("juphoon-*.jsonl")))
def test_each_trace_replays_through_its_own_full_trace_with_no_mismatch(
        name: str, tmp_path: Path) -> None:
    full = tmp_path / "full.jsonl"
    first = replay(TRACES / name, out=full)
    again = replay(full)
    assert again.mismatches == []

    def without_lines(sessions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # a violation names the line it came from, which differs between the two files
        return [{**s, "violations": [{**v, "line": None} for v in s["violations"]]}
                for s in sessions]

    assert without_lines(again.to_json()["sessions"]) == without_lines(
        first.to_json()["sessions"])
    assert replay(full).to_json() == again.to_json(), "the same trace, the same report"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recstate.cli", *args], capture_output=True,
                          text=True, timeout=120, check=False)


def test_cli_replay_out_of_a_trace_then_replay_has_zero_mismatches(tmp_path: Path) -> None:
    full = tmp_path / "full.jsonl"
    first = cli("replay", str(TRACES / "juphoon-two-files.jsonl"), "--out", str(full))
    assert first.returncode == 0, first.stderr
    second = cli("replay", "--json", str(full))
    assert second.returncode == 0, second.stderr
    assert orjson.loads(second.stdout)["mismatches"] == []


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_cli_simulates_each_juphoon_scenario(scenario: str, tmp_path: Path) -> None:
    out = tmp_path / "sim.jsonl"
    done = cli("simulate", "juphoon", scenario, "--json", "--out", str(out))
    assert done.returncode == 0, done.stderr
    report = orjson.loads(done.stdout)
    assert report["violations"] == 0
    assert report["mismatches"] == []
    (s,) = report["sessions"]
    expected = {"two-files": ("left", ["ready", "ready"]),
                "audio-only": ("left", ["ready"]),
                "join-refused": ("failed", []),
                "enable-no-answer": ("left", []),
                "dropped-leave": ("left", ["ready"]),
                "file-lost": ("left", ["lost"])}[scenario]
    assert (s["state"], [f["status"] for f in s["files"]]) == expected
    assert b"SIMsk7" not in out.read_bytes()


def test_cli_simulate_names_the_scenarios_of_an_unknown_one() -> None:
    done = cli("simulate", "juphoon", "no-such")
    assert done.returncode == 2
    assert "two-files" in done.stderr
