"""Which states and transitions of each machine a set of traces exercises, and the shortest way
to take each transition (the Python counterpart of xstate's graph tooling).

A transition is one declaration in a machine's ``transitions`` (``on(...)`` or ``ignore(...)``),
counted as taken when any of its source states took it; the replay is watched
(:mod:`recstate.observe`) so that a transition that keeps the state, or one of several that
share a trigger under different guards, is told apart. A state is visited when a session of the
machine was in it.

:func:`paths` walks the declaration alone: guards are not evaluated (what the data must make
true is listed with the step), and what callbacks keep in the context is not modelled, so a
path is a skeleton for a test or a trace, not a proof that the data exists.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
import orjson

from recstate.events import event_class
from recstate.machine import Machine, sources_of
from recstate.observe import Observation, all_machines, declaration_order, observe_replay

__all__ = ["Coverage", "Step", "coverage", "coverage_of_traces", "format_coverage", "format_paths",
           "paths", "skeleton",
           "transition_text"]


@attrs.define
class Coverage:
    """One machine's coverage: declaration indices taken (with how often) and states seen."""

    machine: type[Machine]
    taken: dict[int, int] = attrs.field(factory=dict)
    states: dict[str, int] = attrs.field(factory=dict)

    @property
    def missed(self) -> list[int]:
        return [i for i in range(len(self.machine.transitions)) if i not in self.taken]

    @property
    def states_missed(self) -> list[str]:
        return [s for s in self.machine.state_names() if s not in self.states]

    def to_json(self) -> dict[str, Any]:
        cls = self.machine
        return {
            "machine": cls.qualified_name(),
            "states": {"total": len(cls.state_names()), "visited": len(self.states),
                       "unvisited": self.states_missed},
            "transitions": {
                "total": len(cls.transitions), "taken": len(self.taken),
                "untaken": [{"index": i, "transition": transition_text(cls, i)}
                            for i in self.missed]},
            "counts": [{"index": i, "transition": transition_text(cls, i),
                        "taken": self.taken.get(i, 0)} for i in range(len(cls.transitions))],
        }


def transition_text(cls: type[Machine], index: int) -> str:
    """``#5 trigger: a, b -> c [guard, not other]`` (``-> (stays)`` for an internal one)."""
    spec = cls.transitions[index]
    source = spec["source"]
    sources = "*" if source == "*" else ", ".join(sources_of(spec, cls.state_names()))
    dest = spec.get("dest")
    guards = [*spec.get("conditions", ()), *(f"not {u}" for u in spec.get("unless", ()))]
    kind = "" if dest is not None or spec.get("after") or guards else " (ignored)"
    return (f"#{index} {spec['trigger']}: {sources} -> {dest or '(stays)'}{kind}"
            + (f" [{', '.join(guards)}]" if guards else ""))


def coverage(observations: Iterable[Observation],
             machines: Sequence[type[Machine]] | None = None) -> list[Coverage]:
    """The coverage of ``machines`` (default: every installed one) by the watched replays."""
    wanted = list(machines) if machines is not None else list(all_machines().values())
    by_cls = {cls: Coverage(cls) for cls in wanted}
    for obs in observations:
        initial_seen: set[str] = set()
        for taken in obs.taken:
            cov = by_cls.get(taken.machine)
            if cov is None:
                continue
            cov.taken[taken.spec] = cov.taken.get(taken.spec, 0) + 1
            for state in (taken.src, taken.dst):
                cov.states[state] = cov.states.get(state, 0) + 1
            initial_seen.add(taken.session)
        if obs.runtime is not None:  # a session that took nothing was still in its initial
            for session in obs.runtime.sessions.values():
                cov = by_cls.get(session.machine)
                if cov is not None:
                    cov.states.setdefault(session.machine.initial, 0)
                    cov.states.setdefault(session.state, 0)
    return [by_cls[cls] for cls in wanted]


def coverage_of_traces(paths_: Iterable[str | os.PathLike[str]],
                       machines: Sequence[type[Machine]] | None = None,
                       *, skip_bad_lines: bool = False) -> list[Coverage]:
    return coverage((observe_replay(p, skip_bad_lines=skip_bad_lines) for p in paths_),
                    machines)


def format_coverage(covs: Sequence[Coverage], *, show_all: bool = False) -> str:
    lines: list[str] = []
    for cov in covs:
        cls = cov.machine
        total, taken = len(cls.transitions), len(cov.taken)
        states = cls.state_names()
        pct = 100.0 * taken / total if total else 100.0
        lines.append(f"{cls.qualified_name()}: states {len(cov.states)}/{len(states)}, "
                     f"transitions {taken}/{total} ({pct:.0f}%)")
        if cov.states_missed:
            lines.append(f"  states never entered: {', '.join(cov.states_missed)}")
        for i in range(total):
            count = cov.taken.get(i, 0)
            if count and not show_all:
                continue
            mark = f"{count:6d}x" if count else "  never"
            lines.append(f"  {mark}  {transition_text(cls, i)}")
        lines.append("")
    return "\n".join(lines)


# ---- paths ---------------------------------------------------------------------------------------
@attrs.frozen
class Step:
    """One step of a path: the trigger, the states, what the data must make true."""

    spec: int
    trigger: str
    src: str
    dst: str
    guards: tuple[str, ...]
    timer: bool


def _guards(spec: Mapping[str, Any]) -> list[str]:
    return [*spec.get("conditions", ()), *(f"not {u}" for u in spec.get("unless", ()))]


def _step(cls: type[Machine], index: int, src: str, timers: frozenset[str]) -> Step:
    """The step, with what must hold for it: its own guards, and that no declaration tried
    before it for this state and trigger applies (the first that applies is taken)."""
    spec = cls.transitions[index]
    needs = _guards(spec)
    for earlier in declaration_order(cls)[(src, spec["trigger"])]:
        if earlier == index:
            break
        other = _guards(cls.transitions[earlier])
        if len(other) == 1:
            needs.append(other[0][4:] if other[0].startswith("not ") else f"not {other[0]}")
        elif other:
            needs.append(f"not ({' and '.join(other)})")
    return Step(index, spec["trigger"], src, spec.get("dest") or src, tuple(needs),
                spec["trigger"] in timers)


def paths(cls: type[Machine]) -> list[list[Step]]:
    """For each declared transition (in declaration order), a shortest sequence of steps from
    the initial state whose last step takes it; an empty list where no source is reachable
    (the definition check makes every state reachable, so none today)."""
    from recstate.diagram import timer_triggers

    timers = timer_triggers(cls)
    states = cls.state_names()
    sources = [sources_of(spec, states) for spec in cls.transitions]
    via: dict[str, tuple[str, int] | None] = {cls.initial: None}
    queue = deque([cls.initial])
    while queue:  # breadth first: the first way into a state is a shortest one
        state = queue.popleft()
        for index, spec in enumerate(cls.transitions):
            dest = spec.get("dest")
            if dest is not None and dest not in via and state in sources[index]:
                via[dest] = (state, index)
                queue.append(dest)

    def route(state: str) -> list[Step]:
        steps: list[Step] = []
        while (came := via[state]) is not None:
            steps.append(_step(cls, came[1], came[0], timers))
            state = came[0]
        return steps[::-1]

    out: list[list[Step]] = []
    for index in range(len(cls.transitions)):
        reachable = [s for s in sources[index] if s in via]
        if not reachable:
            out.append([])
            continue
        start = min(reachable, key=lambda s: (len(route(s)), states.index(s)))
        out.append([*route(start), _step(cls, index, start, timers)])
    return out


def format_paths(cls: type[Machine]) -> str:
    lines = [f"{cls.qualified_name()}: a shortest way to take each transition from "
             f"{cls.initial!r} (guards: what the data must make true)"]
    for index, steps in enumerate(paths(cls)):
        lines.append(transition_text(cls, index))
        for step in steps:
            what = f"timer {step.trigger} falls due" if step.timer else step.trigger
            guard = f" [{', '.join(step.guards)}]" if step.guards else ""
            lines.append(f"    {what}{guard}: {step.src} -> {step.dst}")
    return "\n".join(lines) + "\n"


def _placeholders(vendor: str, name: str) -> dict[str, Any] | None:
    """The event's required fields as ``"<type>"`` placeholders, to be filled in."""
    ev_cls = event_class(vendor, name)
    if ev_cls is None:
        return None
    return {f.name: f"<{f.type if isinstance(f.type, str) else getattr(f.type, '__name__', '')}>"
            for f in attrs.fields(ev_cls)
            if f.default is attrs.NOTHING and f.name not in ("t", "session")} or None


def skeleton(cls: type[Machine], index: int, *, session: str = "SESSION",
             t0: float = 1_700_000_000) -> str:
    """A trace skeleton (JSON Lines, one second a step) that takes transition ``index``: the
    required fields of each event are ``"<type>"`` placeholders, a timer is a comment (it is
    no input: let the clock run), and each guard is a comment naming what must hold."""
    lines = [f"# {cls.qualified_name()} {transition_text(cls, index)}"]
    t = t0
    for step in paths(cls)[index]:
        if step.guards:
            lines.append(f"# the data must make true: {', '.join(step.guards)}")
        if step.timer:
            lines.append(f"# let the clock run until the timer {step.trigger!r} falls due "
                         f"({step.src} -> {step.dst})")
            continue
        record: dict[str, Any] = {"t": t, "vendor": cls.vendor, "name": step.trigger,
                                  "session": session}
        data = _placeholders(cls.vendor, step.trigger)
        if data is not None:
            record["data"] = data
        lines.append(orjson.dumps(record).decode())
        t += 1
    return "\n".join(lines) + "\n"
