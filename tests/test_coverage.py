"""`recstate coverage` and `recstate paths`, and the contract: the example traces plus the
example scenarios take every declared transition of every vendor machine (gaps, where there
are any, listed here with why)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from recstate.coverage import coverage, paths, skeleton
from recstate.machines.tencent import TencentRecorder
from recstate.observe import Observation, all_machines, observe_replay
from recstate.scenario import load_scenario, run_scenario_file
from recstate.trace import parse_line

ROOT = Path(__file__).resolve().parent.parent
TRACES = ROOT / "examples" / "traces"
SCENARIOS = ROOT / "examples" / "scenarios"

_MAX = ("max_call_duration is off by default (a real call may be long) and a scenario's trace "
        "must replay under the default options, since a trace carries none: no example can "
        "arm the maximum duration. tests/test_ways_out.py takes these with the option set")

#: machine -> {transition (as `recstate coverage` writes it): why nothing takes it}. A machine
#: missing here has not been looked at yet (a vendor that just landed): its test xfails.
KNOWN_GAPS: dict[str, dict[str, str]] = {
    "tencent.recorder": {},
    "netease.call": {
        '#4 max_duration: recording -> awaiting_files': _MAX,
        '#5 max_duration: in_call -> ended': _MAX,
        '#6 max_duration: awaiting_files, complete, ended, failed -> (stays) (ignored)': _MAX,
    },
    "cloudroom.mixer": {
        "#14 LocMixerOutputInfo: idle -> (stays)": (
            "a report for a mixer never created is a violation, so a scenario holding one "
            "exits 1 (the example scenarios must replay clean); the simulator never sends one"),
        "#19 silence: idle, destroyed, crashed -> (stays) (ignored)": (
            "a silence timer due after the mixer ended: ending a mixer cancels it, so only a "
            "race between the two (a live service's, not a virtual clock's) would reach it"),
    },
    "juphoon.channel": {
        ("#31 max_duration: idle, joining, joined, enabling, stopped, leaving, left, failed"
         " -> (stays) (ignored)"): (
            "every way out of recording and disabling closes the span (end_span), which "
            "cancels the timer: it falls due elsewhere only in a live service's race between "
            "the two, never on a virtual clock"),
    },
}


def recstate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recstate.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, check=False, timeout=120)


def vendor_machines() -> list[str]:
    """The installed vendors' machines (not the tests' own `testv`)."""
    return sorted(n for n in all_machines() if not n.startswith("testv."))


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Observation]]:
    tmp = tmp_path_factory.mktemp("coverage")
    runs = [observe_replay(t) for t in sorted(TRACES.glob("*.jsonl"))]
    for scenario in sorted(SCENARIOS.iterdir()):
        out = tmp / f"{scenario.name}.jsonl"
        run_scenario_file(load_scenario(scenario), out=out)
        runs.append(observe_replay(out))
    return runs


@pytest.mark.parametrize("name", vendor_machines())
def test_examples_and_scenarios_take_every_transition(name: str,
                                                      observed: list[Observation]) -> None:
    cls = all_machines()[name]
    if name not in KNOWN_GAPS:
        pytest.xfail(f"{name}: no coverage record yet; add scenarios to examples/scenarios or "
                     "list its gaps in KNOWN_GAPS with why")
    (cov,) = coverage(observed, [cls])
    from recstate.coverage import transition_text

    missed = {transition_text(cls, i) for i in cov.missed}
    assert missed == set(KNOWN_GAPS[name])
    assert cov.states_missed == []


def test_the_200_minute_recording_takes_the_documented_path() -> None:
    (cov,) = coverage([observe_replay(TRACES / "tencent-200min.jsonl")], [TencentRecorder])
    taken = {(TencentRecorder.transitions[i]["trigger"],
              TencentRecorder.transitions[i].get("dest")): n for i, n in cov.taken.items()}
    assert taken[("rollover", None)] == 2  # 002 §6 (1): 200 min = 90 + 90 + 20
    assert taken[("requestMultiVideoRecorderStart", "starting")] == 1
    assert taken[("requestMultiVideoRecorderStart:ok", "recording")] == 1
    assert taken[("requestMultiVideoRecorderStop", "stopping")] == 1
    assert taken[("requestMultiVideoRecorderStop:ok", "stopped")] == 1
    assert ("watchdog", "stopped") not in taken
    assert cov.states_missed == ["retry_wait", "failed"]


def test_coverage_cli_table_json_and_diagram(tmp_path: Path) -> None:
    trace = TRACES / "tencent-crash.jsonl"
    table = recstate("coverage", trace, "--machine", "tencent.recorder")
    assert table.returncode == 0, table.stderr
    assert table.stdout.startswith("tencent.recorder: states ")
    never = [ln for ln in table.stdout.splitlines() if ln.startswith("    never  #")]
    assert any(ln.endswith(" requestMultiVideoRecorderStart:error: starting -> failed")
               for ln in never)
    assert "watchdog: recording -> stopped" not in table.stdout  # the crash takes it
    as_json = recstate("coverage", trace, "--machine", "tencent.recorder", "--json")
    (entry,) = json.loads(as_json.stdout)
    assert entry["machine"] == "tencent.recorder"
    counts = {c["transition"]: c["taken"] for c in entry["counts"]}
    (watchdog,) = [n for text, n in counts.items()
                   if text.endswith(" watchdog: recording -> stopped")]
    assert watchdog == 1  # 002 §6 (2), once
    svg = tmp_path / "cov.svg"
    drawn = recstate("coverage", trace, "--machine", "tencent.recorder", "--diagram", svg)
    assert drawn.returncode == 0, drawn.stderr
    text = svg.read_text()
    assert "✗ requestMultiVideoRecorderStart:error" in text
    assert "#d62728" in text  # unvisited in red
    bad = recstate("coverage", trace, "--diagram", svg)
    assert bad.returncode == 2
    assert "give one --machine" in bad.stderr
    unknown = recstate("coverage", trace, "--machine", "nobody.x")
    assert unknown.returncode == 2
    assert "unknown machine 'nobody.x'" in unknown.stderr


@pytest.mark.parametrize("name", vendor_machines())
def test_paths_start_at_the_initial_state_and_take_their_transition(name: str) -> None:
    cls = all_machines()[name]
    for index, steps in enumerate(paths(cls)):
        assert steps, f"no path to #{index}"
        assert steps[0].src == cls.initial
        for before, after in itertools.pairwise(steps):
            assert after.src == before.dst
        assert steps[-1].spec == index
        for record in skeleton(cls, index).splitlines():
            if not record.startswith("#"):
                parsed = parse_line(record, vendors=frozenset({cls.vendor}))
                assert parsed is not None
                assert parsed.vendor == cls.vendor


def test_paths_of_the_tencent_watchdog() -> None:
    # 002 §6 (2): start, answered, then a minute without data
    watchdog = next(i for i, t in enumerate(TencentRecorder.transitions)
                    if t["trigger"] == "watchdog")
    steps = paths(TencentRecorder)[watchdog]
    assert [(s.trigger, s.src, s.dst, s.timer) for s in steps] == [
        ("requestMultiVideoRecorderStart", "idle", "starting", False),
        ("requestMultiVideoRecorderStart:ok", "starting", "recording", False),
        ("watchdog", "recording", "stopped", True)]
    # the first matching declaration wins: the start must pass every refusal before it
    assert steps[0].guards == ("in_room", "not pair_room", "not no_file_name",
                               "not bad_data_type", "not recording_elsewhere")
    result = recstate("paths", "tencent.recorder", "--skeleton", "--transition", str(watchdog))
    assert result.returncode == 0, result.stderr
    assert "# let the clock run until the timer 'watchdog' falls due" in result.stdout
    assert result.stdout.count('"vendor":"tencent"') == 2
    listing = recstate("paths", "tencent.recorder")
    assert listing.stdout.count("\n#") == len(TencentRecorder.transitions)
    assert recstate("paths", "tencent.recorder", "--transition", "99").returncode == 2
