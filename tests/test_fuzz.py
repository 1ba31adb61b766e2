"""A small fixed-seed run of the fuzz harness (bench/fuzz.py; `python3 dev.py fuzz` runs the
full one): hostile traces, CLI flags and callback requests give no traceback, no hang and no
planted secret in any output."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import fuzz


def test_a_fixed_seed_fuzz_run_finds_no_traceback_hang_or_leak() -> None:
    tally = fuzz.run(400, 20261202)
    assert tally.total == 400
    assert tally.examples == []
    assert (sum(tally.tracebacks.values()), sum(tally.hangs.values()),
            sum(tally.leaks.values())) == (0, 0, 0)
    # The run reached past the refusals: some cases of every target were handled whole.
    for target in fuzz.TARGETS:
        assert tally.cases[target] == 100
        assert tally.clean_errors[target] < tally.cases[target], target
