"""The compiled engine and transitions' own trigger path give the same traces, byte for byte.

The compiled table is built from the transitions Machine's Event, Transition and State
objects; this holds it to transitions' semantics on every example trace and simulator run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from recstate.adapters.tencent import SCENARIOS, run_scenario
from recstate.replay import replay

TRACES = Path(__file__).resolve().parent.parent / "examples" / "traces"


def full_trace(path: Path, out: Path, *, compiled: bool) -> tuple[bytes, bytes]:
    report = replay(path, out=out, compiled=compiled)
    return out.read_bytes(), report.dumps()


@pytest.mark.parametrize("name", sorted(p.name for p in TRACES.glob("*.jsonl")))
def test_example_traces_replay_identically_on_both_engine_paths(name: str,
                                                                 tmp_path: Path) -> None:
    compiled = full_trace(TRACES / name, tmp_path / "a.jsonl", compiled=True)
    plain = full_trace(TRACES / name, tmp_path / "b.jsonl", compiled=False)
    assert compiled[0] == plain[0]
    assert compiled[1] == plain[1]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_simulated_runs_replay_identically_on_both_engine_paths(scenario: str,
                                                                tmp_path: Path) -> None:
    trace = tmp_path / "run.jsonl"
    run_scenario(scenario, out=trace)
    assert full_trace(trace, tmp_path / "a.jsonl", compiled=True) == full_trace(
        trace, tmp_path / "b.jsonl", compiled=False)
