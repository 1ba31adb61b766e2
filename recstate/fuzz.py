"""``recstate fuzz VENDOR``: random scenarios through the vendor's simulator, with the
invariants every vendor owes checked after every step.

Each run draws a scenario from the vendor's generator (``ScenarioHooks.random``), writes it
as a scenario file's text and reads it back (so the generator is held to the file format),
runs it, and checks after each step and fault:

- no file of a session overlaps another of the same participant, kind and format;
- the canonical state agrees with the files: nothing is ``open`` once a recording is
  ``idle``, ``stopped`` or ``failed``;
- no handling raised (an ``exception`` error);
- at the end, which the generator puts hours after the last step, every recording has ended
  by its deadlines: none is still ``starting`` or ``stopping``, no file is still ``expected``.

The first run that breaks one is printed as a scenario file that ``recstate simulate FILE
--check`` reproduces (:func:`run_checked`: the same run, the same checks).
"""

from __future__ import annotations

import itertools
import os
import random
from typing import IO, Any

import attrs

from recstate.runtime import Runtime
from recstate.scenario import (
    Scenario,
    ScenarioError,
    hooks_for,
    parse_scenario,
    run_scenario_file,
    scenario_text,
)
from recstate.trace import Record

__all__ = ["FuzzResult", "check_invariants", "fuzz", "run_checked"]


@attrs.define
class FuzzResult:
    runs: int = 0
    checks: int = 0
    #: The first failing scenario's file text, and what broke.
    failing: str | None = None
    broken: list[str] = attrs.field(factory=list)


def check_invariants(runtime: Runtime, errors: list[Record], *, final: bool) -> list[str]:
    """What is wrong now (empty when nothing is)."""
    broken: list[str] = []
    for key, session in sorted(runtime.sessions.items()):
        files = session.files
        spans: dict[tuple[Any, ...], list[tuple[float, float, str]]] = {}
        for f in files:
            if f.start is not None and f.end is not None:
                spans.setdefault((f.participant, f.kind, f.format), []).append(
                    (f.start, f.end, f.id))
        for same in spans.values():
            same.sort()
            for (_, e0, a), (s1, _, b) in itertools.pairwise(same):
                if s1 < e0:
                    broken.append(f"{key}: files {a} and {b} overlap ({s1} < {e0})")
        if session.recording in ("idle", "stopped", "failed"):
            still = [f.id for f in files if f.status == "open"]
            if still:
                broken.append(f"{key}: recording is {session.recording} but files are still "
                              f"open: {', '.join(still)}")
        if final:
            if session.recording in ("starting", "stopping"):
                broken.append(f"{key}: still {session.recording} (state {session.state}) "
                              "hours after the last step: a deadline did not end it")
            waiting = [f.id for f in files if f.status == "expected"]
            if waiting:
                broken.append(f"{key}: files still expected hours after the last step: "
                              f"{', '.join(waiting)}")
    for record in errors:
        if record.data is not None and record.data.get("code") == "exception":
            broken.append(f"{record.session}: a handling raised: {record.data.get('message')}")
    return broken


class _Broken(Exception):
    def __init__(self, broken: list[str]) -> None:
        super().__init__("; ".join(broken))
        self.broken = broken


def run_checked(scn: Scenario, *, out: str | os.PathLike[str] | IO[bytes] | None = None,
                seed: int = 0, result: FuzzResult | None = None) -> list[str]:
    """Run ``scn`` with the invariants checked after every step and fault (and at the end);
    what broke first, or nothing. ``out`` gets the trace up to there (``recstate simulate
    --check``); ``result`` counts the checks."""
    errors: list[Record] = []

    def tracer(record: Record) -> None:
        if record.kind == "error":
            errors.append(record)

    end = scn.start + scn.until

    def check(runtime: Runtime) -> None:
        if result is not None:
            result.checks += 1
        broken = check_invariants(runtime, errors, final=runtime.clock.now() >= end)
        if broken:
            raise _Broken(broken)

    try:
        run_scenario_file(scn, out=out, seed=seed, after_step=check, tracer=tracer)
    except _Broken as error:
        return error.broken
    return []


def fuzz(vendor: str, *, runs: int, seed: int) -> FuzzResult:
    """``runs`` random scenarios of ``vendor`` from ``seed``; stops at the first failure."""
    hooks = hooks_for(vendor)
    if hooks is None or hooks.random is None:
        raise ScenarioError(f"vendor {vendor!r} has no random scenario generator (its adapter "
                            "exports no SCENARIO_HOOKS with random)", source=vendor)
    result = FuzzResult()
    for run in range(runs):
        rng = random.Random(seed * 1_000_003 + run)  # noqa: S311 - reproducible, not secret
        data = hooks.random(rng)
        data.setdefault("description", f"recstate fuzz {vendor} --seed {seed}: run {run}")
        text = scenario_text(data)
        scn = parse_scenario(text, "toml", source=f"fuzz {vendor} seed {seed} run {run}")
        result.runs += 1
        broken = run_checked(scn, result=result)
        if broken:
            result.failing, result.broken = text, broken
            break
    return result
