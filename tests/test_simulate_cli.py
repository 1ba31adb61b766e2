"""`recstate simulate`, run as a subprocess: a scenario's report, its trace, and bad names.

Expected values from 002 §6 (1): a recording of 200 minutes gives a file per 90 minutes and
the rest (90, 90, 20 min); the simulator answers the start 0.2 s after it is sent.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_700_000_000.0


def recstate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recstate.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, check=False, timeout=120)


def test_simulate_200_minutes_reports_three_ready_files_and_writes_a_replayable_trace(
        tmp_path: Path) -> None:
    trace = tmp_path / "sim.jsonl"
    result = recstate("simulate", "tencent", "200min", "--json", "--out", trace)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["violations"], report["mismatches"]) == (0, [])
    [session] = report["sessions"]
    assert (session["state"], session["recording"]) == ("stopped", "stopped")
    began = T0 + 0.2  # start:ok 0.2 s after the start
    stop = T0 + 200 * 60
    assert [(f["start"], f["end"], f["status"], f["format"]) for f in session["files"]] == [
        (began, began + 90 * 60, "ready", "mp4"),
        (began + 90 * 60, began + 180 * 60, "ready", "mp4"),
        (began + 180 * 60, stop, "ready", "mp4")]
    assert [c["name"] for c in session["commands"]] == [
        "requestMultiVideoRecorderStart", "requestMultiVideoRecorderStop", "SearchMedia"]
    # The trace it wrote replays on its own, with the same outcome.
    replayed = recstate("replay", "--json", trace)
    assert replayed.returncode == 0, replayed.stderr
    again = json.loads(replayed.stdout)
    assert again["mismatches"] == []
    assert again["sessions"][0]["files"] == session["files"]


def test_simulate_a_crash_reports_the_watchdog_in_the_table() -> None:
    result = recstate("simulate", "tencent", "crash")
    assert result.returncode == 0, result.stderr
    assert "no-data" in result.stdout
    assert result.stdout.rstrip().endswith("OK")


def test_simulate_an_unknown_scenario_exits_2_naming_the_known_ones() -> None:
    result = recstate("simulate", "tencent", "no-such-scenario")
    assert result.returncode == 2
    assert "unknown scenario 'no-such-scenario'" in result.stderr
    assert "200min" in result.stderr
    assert result.stdout == ""


def test_simulate_a_vendor_without_scenarios_exits_2() -> None:
    result = recstate("simulate", "no-such-vendor", "x")
    assert result.returncode == 2
    assert "has no simulator scenarios" in result.stderr


def test_simulate_help_names_each_vendors_faults() -> None:
    result = subprocess.run([sys.executable, "-m", "recstate.cli", "simulate", "--help"],
                            capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0
    faults = result.stdout.split("faults a scenario file's [[faults]] may name (kind):\n")[1]
    by_vendor = dict(line.strip().split(": ", 1) for line in faults.splitlines())
    assert sorted(by_vendor) == ["cloudroom", "juphoon", "netease", "tencent"]
    assert by_vendor["netease"] == "hangup_unseen"  # the rest are [simulator] settings
    assert "output_silent" in by_vendor["cloudroom"].split(", ")
    assert "silent" in by_vendor["juphoon"].split(", ")  # never_answer_next (001)
    assert "crash" in by_vendor["tencent"].split(", ")
