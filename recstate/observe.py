"""A replay that is watched: which transition of which machine each handling took, every record
it produced, and the file objects as they changed. The timeline draws from it, the coverage
counts from it.

A transition is known by its index in the machine's ``transitions`` declaration. The trace
cannot say which one was taken (an internal transition leaves no ``transition`` line, and
several declarations can share a trigger, a source and a destination under different guards),
so the replay's engines are instrumented: each compiled row gets one more ``after`` callback
that notes its declaration. It runs last, so a handling that raises notes nothing, as it
changes nothing. Nothing here changes what a replay does or writes.
"""

from __future__ import annotations

import os
from collections import defaultdict
from functools import partial
from typing import Any

import attrs

from recstate import signals
from recstate.events import TimerEvent
from recstate.machine import Engine, Machine, sources_of
from recstate.recording import RecordingFile
from recstate.replay import Report, replay
from recstate.runtime import Runtime
from recstate.session import Session
from recstate.trace import Record
from recstate.vendors import all_vendors

__all__ = ["FileSeen", "Observation", "Taken", "all_machines", "declaration_order",
           "instrument", "observe_replay"]


@attrs.frozen
class Taken:
    """One transition taken: ``spec`` is its index in ``machine.transitions``; ``dst`` the
    state after it (the same as ``src`` for an internal transition); ``timer`` whether a
    timer falling due triggered it."""

    session: str
    machine: type[Machine]
    t: float
    trigger: str
    src: str
    dst: str
    spec: int
    timer: bool


@attrs.define(eq=False)
class FileSeen:
    """A session's file (the live object, final at the end of the replay) and when the
    replay first heard of it, with each change as (t, change, status)."""

    file: RecordingFile
    first: float
    changes: list[tuple[float, str, str]] = attrs.field(factory=list)


@attrs.define(eq=False)
class Observation:
    report: Report
    records: list[Record] = attrs.field(factory=list)
    taken: list[Taken] = attrs.field(factory=list)
    files: dict[str, list[FileSeen]] = attrs.field(factory=dict)
    runtime: Runtime | None = None


def all_machines() -> dict[str, type[Machine]]:
    """Every installed vendor's machines by qualified name (a vendor that cannot be imported
    is left out here; ``recstate machines`` names it)."""
    return {m.qualified_name(): m for v in all_vendors(broken={}).values() for m in v.machines}


def declaration_order(cls: type[Machine]) -> dict[tuple[str, str], list[int]]:
    """(source state, trigger) -> the indices of the declarations that apply, in the order
    transitions tries them (the order they are declared: it adds them one by one)."""
    order: dict[tuple[str, str], list[int]] = defaultdict(list)
    states = cls.state_names()
    for index, spec in enumerate(cls.transitions):
        for src in sources_of(spec, states):
            order[(src, spec["trigger"])].append(index)
    return dict(order)


def _note(engine: Engine, sink: list[Taken], src: str, trigger: str, spec: int,
          ev: Any) -> None:
    model = engine.model
    sink.append(Taken(model.session.key, engine.cls, model.now, trigger, src, model.state,
                      spec, isinstance(ev, TimerEvent)))


def instrument(engine: Engine, sink: list[Taken]) -> None:
    """Make ``engine`` note each transition it takes in ``sink``. Only the compiled table is
    instrumented: a transition with ``prepare`` callbacks (transitions' own path) is not
    seen, and none of the machines has one."""
    order = declaration_order(engine.cls)
    engine.quick = {}  # every transition through the (instrumented) table
    for key, rows in engine.table.items():
        if rows is None:
            continue
        specs = order[key]
        if len(specs) != len(rows):  # transitions changed how it orders them
            raise RuntimeError(f"{engine.cls.qualified_name()}: {len(rows)} compiled rows for "
                               f"{key} but {len(specs)} declarations")
        engine.table[key] = tuple(
            (*row[:5], (*row[5], partial(_note, engine, sink, key[0], key[1], spec)))
            for row, spec in zip(rows, specs, strict=True))


def observe_replay(path: str | os.PathLike[str], *, until: float | None = None,
                   strict: bool = False, skip_bad_lines: bool = False,
                   out: str | os.PathLike[str] | None = None,
                   options: dict[str, Any] | None = None, force: bool = False
                   ) -> Observation:
    """Replay ``path`` (as :func:`recstate.replay.replay` does, with the same report) and
    watch it. Raises :class:`~recstate.errors.TraceError` as replay does."""
    watched = Observation(Report())
    machines = all_machines()

    def watch(runtime: Runtime) -> None:
        watched.runtime = runtime
        inner = runtime.tracer

        def tracer(record: Record) -> None:
            watched.records.append(record)
            if inner is not None:
                inner(record)

        runtime.tracer = tracer
        for cls in machines.values():
            instrument(runtime.engine(cls), watched.taken)

        def on_file(sender: Any, *, session: Session, file: RecordingFile, change: str,
                    t: float, **_: Any) -> None:  # previous_id and what signals add later
            seen = watched.files.setdefault(session.key, [])
            for entry in seen:
                if entry.file is file:
                    break
            else:
                entry = FileSeen(file, t)
                seen.append(entry)
            entry.changes.append((t, change, file.status))

        signals.file_changed.connect(on_file, sender=runtime, weak=False)
        receivers.append(on_file)

    receivers: list[Any] = []
    try:
        watched.report = replay(path, strict=strict, until=until, out=out,
                                skip_bad_lines=skip_bad_lines, options=options,
                                force=force, observe=watch)
    finally:
        for receiver in receivers:
            signals.file_changed.disconnect(receiver, sender=watched.runtime)
    return watched
