"""Run ``recstate`` and SIGKILL it at a point chosen by the test: the K-th function call
(Python or C) after the N-th handling's commit began (written alone or with its group),
counted from the start of ``recstate.cli.main``. So a crash lands anywhere in the code
(inside a store's transaction, between a commit and the next input, while loading or
reporting), drawn by the test's seeded random numbers instead of by the wall clock. K = 0
never kills, and prints the counts of commits and calls to stderr (the length of a whole
run, to draw from).

    python tests/crash_child.py N K replay TRACE --store URL --json
    python tests/crash_child.py N K worker URL --worker 0 --of 2   # one of replay --workers
    python tests/crash_child.py N K simulated URL CALLS   # tests/simulated_run.py
"""

from __future__ import annotations

import os
import signal
import sys

from simulated_run import main as simulated_main  # beside this file

from recstate.cli import main
from recstate.durable import Durability
from recstate.workers import main as worker_main

#: One call per handling (its commit is made; written with its group).
COMMITS = {Durability._commit.__code__}


def run() -> int:
    after, kill_at = int(sys.argv[1]), int(sys.argv[2])
    commits = calls = 0

    def count(frame: object, event: str, arg: object) -> None:
        nonlocal calls, commits
        if event == "call" and frame.f_code in COMMITS:  # type: ignore[attr-defined]
            commits += 1
        if event in ("call", "c_call") and commits >= after:
            calls += 1
            if calls == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    sys.setprofile(count)
    try:
        args = sys.argv[3:]
        status = (worker_main(args[1:]) if args[0] == "worker"
                  else simulated_main(args[1:]) if args[0] == "simulated" else main(args))
    finally:
        sys.setprofile(None)
    sys.stdout.flush()
    print(f"commits={commits} calls={calls}", file=sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(run())
