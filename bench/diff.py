"""The conformance diff of ``replay``: keyed alignment (now) against ``difflib.SequenceMatcher``
(before), on one session's logged lines (issue 9, point 7).

    .venv/bin/python bench/diff.py                # 2,000 / 4,000 / 8,000 / 16,000 lines
    .venv/bin/python bench/diff.py --lines 16000  # one size

Two workloads, one session each; the produced lines are the untouched ones:

- *recording*: a long Tencent recording's outputs (the full trace of
  ``examples/traces/tencent-200min.jsonl``, its outputs repeated with their times moved on),
  1 % of them altered and 1 % dropped: lines mostly distinct;
- *flood*: a client flooding events a state refuses, 1,000 identical violation lines a
  second, 2 % of them altered: many equal lines, where SequenceMatcher turns quadratic.
 Both diffs get the same records; each is timed once (time.perf_counter) and the number
of mismatches each reports is printed beside its time. The SequenceMatcher variant is the
code ``replay._compare`` had before, verbatim in its matching (opcodes over ``_key``).
"""

from __future__ import annotations

import argparse
import difflib
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from recstate.replay import _compare, _key, replay
from recstate.trace import OUTPUT_KINDS, Record, read_trace

ROOT = Path(__file__).resolve().parent.parent


def outputs() -> list[Record]:
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "full.jsonl"
        replay(ROOT / "examples" / "traces" / "tencent-200min.jsonl", out=full)
        return [r for r in read_trace(full) if r.kind in OUTPUT_KINDS]


def flood(n: int, seed: int = 0) -> tuple[list[Record], list[Record]]:
    rng = random.Random(seed)
    data = {"code": "violation", "message": "'mediaData' is not accepted in state 'stopped'",
            "state": "stopped"}
    produced = [Record(1_700_000_000.0 + i // 1000, "tencent", "mediaData", "s", data,
                       "error", i + 1) for i in range(n)]
    logged = [r if rng.random() >= 0.02 else
              Record(r.t, r.vendor, r.name, r.session, {**data, "state": "x"}, r.kind, r.line)
              for r in produced]
    return logged, produced


def workload(n: int, seed: int = 0) -> tuple[list[Record], list[Record]]:
    base = outputs()
    span = base[-1].t - base[0].t + 60
    produced: list[Record] = []
    round_ = 0
    while len(produced) < n:
        for r in base:
            produced.append(Record(r.t + round_ * span, r.vendor, r.name, "s", r.data, r.kind,
                                   len(produced) + 1))
            if len(produced) == n:
                break
        round_ += 1
    rng = random.Random(seed)
    logged: list[Record] = []
    for r in produced:
        roll = rng.random()
        if roll < 0.01:
            continue  # dropped
        if roll < 0.02:
            logged.append(Record(r.t, r.vendor, r.name, r.session, {"altered": True}, r.kind,
                                 r.line))
        else:
            logged.append(r)
    return logged, produced


def sequence_diff(logged: list[Record], produced: list[Record]) -> int:
    """The mismatch count of the former SequenceMatcher diff (one session)."""
    matcher = difflib.SequenceMatcher(None, [_key(r) for r in logged],
                                      [_key(r) for r in produced], autojunk=False)
    count = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            count += max(i2 - i1, j2 - j1)
    return count


def measure(n: int, kind: str) -> dict[str, Any]:
    logged, produced = workload(n) if kind == "recording" else flood(n)
    started = time.perf_counter()
    keyed = len(_compare(logged, produced))
    keyed_s = time.perf_counter() - started
    started = time.perf_counter()
    sequence = sequence_diff(logged, produced)
    sequence_s = time.perf_counter() - started
    return {"kind": kind, "lines": n, "keyed_s": keyed_s, "keyed": keyed, "sequence_s": sequence_s,
            "sequence": sequence}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, action="append")
    args = parser.parse_args()
    sizes = args.lines or [2000, 4000, 8000, 16000]
    print("| workload | logged lines | keyed (now) | mismatches | SequenceMatcher (before) "
          "| mismatches |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind in ("recording", "flood"):
        for n in sizes:
            m = measure(n, kind)
            print(f"| {kind} | {m['lines']:,} | {m['keyed_s']:.3f} s | {m['keyed']} | "
                  f"{m['sequence_s']:.1f} s | {m['sequence']} |", flush=True)


if __name__ == "__main__":
    main()
