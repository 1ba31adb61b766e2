"""`recstate fuzz`: random scenarios keep every invariant for the real vendors; a machine that
breaks one is caught, and the scenario printed reproduces it."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from recstate.fuzz import check_invariants, fuzz
from recstate.runtime import Runtime
from recstate.scenario import (
    ScenarioHooks,
    parse_scenario,
    register_scenario_hooks,
    run_scenario_file,
)
from recstate.trace import Record

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "examples" / "scenarios"


def recstate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recstate.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, check=False, timeout=300)


@pytest.mark.parametrize("vendor", ["tencent", "netease", "juphoon", "cloudroom"])
def test_random_scenarios_keep_the_invariants(vendor: str) -> None:
    result = recstate("fuzz", vendor, "--runs", "40", "--seed", "11")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"recstate fuzz {vendor}: 40 runs (seed 11)" in result.stdout
    assert "every invariant held" in result.stdout


def test_the_same_seed_draws_the_same_scenarios() -> None:
    from recstate.adapters.tencent import SCENARIO_HOOKS

    assert SCENARIO_HOOKS.random is not None
    first = [SCENARIO_HOOKS.random(random.Random(n)) for n in range(5)]
    again = [SCENARIO_HOOKS.random(random.Random(n)) for n in range(5)]
    assert first == again
    assert len({repr(s) for s in first}) == 5


class Quiet:
    """testv has no API to answer: its simulator only has to exist."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def close(self) -> None:
        self.runtime = None  # type: ignore[assignment]


def phone_scenario(rng: random.Random) -> dict[str, Any]:
    # the conftest Phone: "boom" raises in its callback (a machine's bug)
    steps: list[dict[str, Any]] = [
        {"at": 0, "event": "dial", "session": "p1", "data": {"number": "110"}},
        {"at": 1, "event": "answer", "session": "p1"}]
    if rng.random() < 0.5:
        steps.append({"at": round(rng.uniform(2, 30), 1), "event": "boom", "session": "p1"})
    steps.append({"at": 40, "event": "hangup", "session": "p1"})
    return {"vendor": "testv", "until": 100, "steps": steps}


def test_a_machine_that_raises_is_caught_and_the_scenario_reproduces_it() -> None:
    register_scenario_hooks("testv", ScenarioHooks(simulator=Quiet, close="close", faults={},
                                                   random=phone_scenario))
    result = fuzz("testv", runs=20, seed=5)
    assert result.failing is not None
    assert result.runs < 20  # it stopped at the first
    assert any("a handling raised" in b for b in result.broken)
    # the printed scenario is a scenario file that gives the same failure
    scenario = parse_scenario(result.failing, "toml", source="printed")
    errors: list[Record] = []
    runtime = run_scenario_file(scenario, tracer=errors.append)
    again = check_invariants(runtime, [r for r in errors if r.kind == "error"], final=True)
    assert any("a handling raised" in b for b in again)


def test_invariants_see_an_open_file_after_the_end(tmp_path: Path) -> None:
    from recstate.scenario import load_scenario

    runtime = run_scenario_file(load_scenario(SCENARIOS / "tencent-200min.toml"))
    assert check_invariants(runtime, [], final=True) == []
    (session,) = runtime.sessions.values()
    session.files[0].status = "open"  # what a machine that forgot to close it would leave
    broken = check_invariants(runtime, [], final=True)
    assert broken == [f"{session.key}: recording is stopped but files are still open: "
                      f"{session.files[0].id}"]
    session.files[0].status = "ready"
    session.files[1].start = session.files[0].end - 60  # 002 §6: contiguous, not overlapping
    assert "overlap" in check_invariants(runtime, [], final=True)[0]


def test_fuzz_cli_errors() -> None:
    unknown = recstate("fuzz", "nobody", "--runs", "1")
    assert unknown.returncode == 2
    assert "no random scenario generator" in unknown.stderr
    zero = recstate("fuzz", "tencent", "--runs", "0")
    assert zero.returncode == 2


# ---- a third party's vendor, installed through its entry point: the CLI end to end -----------
BUGV = '''"""bugv: a recorder that forgets to close its file when it was paused before the stop."""
import json
import os
import random
from typing import Any

import attrs

from recstate.events import Event, event
from recstate.machine import Machine, on
from recstate.scenario import ScenarioHooks
from recstate.vendors import Vendor

VENDOR = "bugv"


@event(VENDOR, "start")
@attrs.frozen(kw_only=True)
class Start(Event):
    pass


@event(VENDOR, "pause")
@attrs.frozen(kw_only=True)
class Pause(Event):
    pass


@event(VENDOR, "stop")
@attrs.frozen(kw_only=True)
class Stop(Event):
    pass


class Recorder(Machine):
    vendor = VENDOR
    machine_name = "recorder"
    initial = "idle"
    states = ("idle", "recording", "paused", "stopped")
    recording_states = {"idle": "idle", "recording": "recording", "paused": "recording",
                        "stopped": "stopped"}
    transitions = (
        on("start", "idle", "recording", after="open_it"),
        on("pause", "recording", "paused"),
        on("stop", "recording", "stopped", after="close_it"),
        on("stop", "paused", "stopped"),  # the bug
    )

    def open_it(self, ev: Any) -> None:
        self.open_file(id=self.session.key + ".mp4", kind="video", format="mp4")

    def close_it(self, ev: Any) -> None:
        self.close_file(self.files[-1])


class Quiet:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def close(self) -> None:
        self.runtime = None


def random_scenario(rng: random.Random) -> dict[str, Any]:
    steps = [{"at": 0, "event": "start", "session": "r1"}]
    if rng.random() < 0.3:
        steps.append({"at": round(rng.uniform(1, 50), 1), "event": "pause", "session": "r1"})
    steps.append({"at": 60, "event": "stop", "session": "r1"})
    return {"vendor": VENDOR, "until": 100, "steps": steps}


SCENARIO_HOOKS = ScenarioHooks(simulator=Quiet, close="close", faults={},
                               random=random_scenario)
VENDOR_SPEC = Vendor(name=VENDOR, machines=(Recorder,), machine_for=lambda ev: Recorder,
                     session_key=lambda ev: None, scenarios="bugv")
'''


def test_a_failing_scenario_fuzz_prints_is_reproduced_by_simulate(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "bugv-1.0.dist-info").mkdir(parents=True)
    (site / "bugv.py").write_text(BUGV)
    (site / "bugv-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: bugv\nVersion: 1.0\n")
    (site / "bugv-1.0.dist-info" / "entry_points.txt").write_text(
        "[recstate.vendors]\nbugv = bugv:VENDOR_SPEC\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}

    def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "recstate.cli", *map(str, args)],
                              capture_output=True, text=True, cwd=ROOT, check=False,
                              timeout=300, env=env)

    printed = tmp_path / "failing.toml"
    fuzzed = cli("fuzz", "bugv", "--runs", "50", "--seed", "3", "--out", printed)
    assert fuzzed.returncode == 1, fuzzed.stderr
    open_after_stop = "r1: recording is stopped but files are still open: r1.mp4"
    assert open_after_stop in fuzzed.stderr
    text = printed.read_text()
    assert text.startswith(f"# broken: {open_after_stop}\n")
    assert "# reproduce: recstate simulate THIS_FILE --check" in text
    assert 'event = "pause"' in text  # the scenario holds what breaks it
    checked = cli("simulate", printed, "--check")
    assert checked.returncode == 1
    assert f"an invariant broke (the run stopped there): {open_after_stop}" in checked.stderr
    # without --check: the same run, its report shows it (stopped, the file still open)
    report = json.loads(cli("simulate", printed, "--json").stdout)
    (session,) = report["sessions"]
    assert (session["recording"], [f["status"] for f in session["files"]]) == (
        "stopped", ["open"])
    builtin = cli("simulate", "tencent", "crash", "--check")
    assert builtin.returncode == 2
    assert "--check runs a scenario file" in builtin.stderr
