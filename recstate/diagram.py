"""Diagrams of a machine's declaration (never of a running machine): Mermaid, DOT, and SVG or
PNG through graphviz's ``dot``.

Readable by default: an edge is a change of state. What a state does without changing (an
event it ignores, a refusal, a timer that rolls a file) is listed in the state's box, or, when
several states share it, once in a note of its own; a transition declared from every state is
drawn once from an "any state" box. Edge labels carry the guards (``[in_room]``,
``[not stop_pending]``), the commands the transition sends (``⇒ name``, found in the
callbacks' source) and the timers it arms (``◷ name``); an edge a timer triggers is dashed.
``full=True`` (``--all``) draws every declaration as an edge, callbacks included.

Written here rather than with transitions' ``GraphMachine``: its engines (graphviz,
pygraphviz, mermaid in 0.9.3) draw each internal transition as a self-loop, expand ``*`` into
one edge per state, know nothing of our tied timers or commands, and the graphviz ones need a
Python binding on top of graphviz itself. ``visited`` (from :mod:`recstate.coverage`) marks
what a set of traces never took: red, dashed, with ``✗``.
"""

from __future__ import annotations

import inspect
import re
import shutil
import subprocess
import sys
from collections.abc import Collection, Sequence
from typing import Final

import attrs

from recstate.events import Command, registered_events
from recstate.machine import Machine, sources_of

__all__ = ["FORMATS", "Line", "Picture", "RenderError", "commands_of", "diagram", "layout",
           "render", "timer_triggers"]

FORMATS: Final = ("mermaid", "dot", "svg", "png")
ANY: Final = "*"


class RenderError(Exception):
    """A picture that needs graphviz on a machine without it (or dot failed)."""


@attrs.frozen
class Line:
    """One declared transition as drawn: ``spec`` is its index in ``transitions``."""

    spec: int
    trigger: str
    guards: tuple[str, ...]
    commands: tuple[str, ...]
    arms: tuple[str, ...]
    callbacks: tuple[str, ...]
    timer: bool
    ignored: bool

    def text(self, *, full: bool = False) -> str:
        out = ("◷ " if self.timer else "") + self.trigger
        if self.guards:
            out += f" [{', '.join(self.guards)}]"
        extra = [f"⇒ {c}" for c in self.commands] + [f"◷ {a}" for a in self.arms]
        if full and self.callbacks:
            extra.insert(0, "/ " + ", ".join(self.callbacks))
        return out + (" " + " ".join(extra) if extra else "")


@attrs.define
class Picture:
    """A machine laid out for drawing."""

    cls: type[Machine]
    #: (source, dest) -> the lines of that edge; source ANY is the "any state" box.
    edges: dict[tuple[str, str], list[Line]] = attrs.field(factory=dict)
    #: state (or ANY) -> what it does without changing state.
    inside: dict[str, list[Line]] = attrs.field(factory=dict)
    #: several states -> what each of them does without changing state.
    shared: dict[tuple[str, ...], list[Line]] = attrs.field(factory=dict)
    #: state -> the timers armed on entry and cancelled on exit, with their durations.
    timers: dict[str, list[str]] = attrs.field(factory=dict)


def timer_triggers(cls: type[Machine]) -> frozenset[str]:
    """The triggers no input carries: a timer's name (tied to a state, or armed by a
    callback) is the trigger it delivers when it falls due."""
    inputs = {e.name for e in registered_events(cls.vendor)}
    return frozenset(t["trigger"] for t in cls.transitions) - inputs


_SEND: Final = re.compile(r"self\.send\(\s*(\w+)\(")
_ARM: Final = re.compile(r"self\.arm(?:_at)?\(\s*[\"'](\w+)[\"']")
_CALL: Final = re.compile(r"self\.(\w+)\(")


_known: dict[tuple[type[Machine], str], tuple[tuple[str, ...], tuple[str, ...]]] = {}


def _effects(cls: type[Machine], callback: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(commands sent, timers armed) by ``callback`` and the methods it calls, read from the
    source: a callback decides and asks through ``self.send(SomeCommand(...))`` and
    ``self.arm("name", ...)``, so the names can be read without running it."""
    known = _known.get((cls, callback))
    if known is None:
        known = _known[(cls, callback)] = _read_effects(cls, callback)
    return known


def _read_effects(cls: type[Machine], callback: str
                  ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    names = vars(sys.modules[cls.__module__])
    commands: list[str] = []
    arms: list[str] = []
    seen: set[str] = set()

    def walk(name: str) -> None:
        if name in seen or name in vars(Machine):
            return
        seen.add(name)
        func = getattr(cls, name, None)
        if not inspect.isfunction(func):
            return
        try:
            source = inspect.getsource(func)
        except (OSError, TypeError):
            return
        for match in _SEND.finditer(source):
            found = names.get(match[1])
            if isinstance(found, type) and issubclass(found, Command) and found.name:
                commands.append(found.name)
        arms.extend(m[1] for m in _ARM.finditer(source))
        for match in _CALL.finditer(source):
            walk(match[1])

    walk(callback)
    return tuple(dict.fromkeys(commands)), tuple(dict.fromkeys(arms))


def commands_of(cls: type[Machine], callbacks: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(c for cb in callbacks for c in _effects(cls, cb)[0]))


def _line(cls: type[Machine], index: int, timers: frozenset[str]) -> Line:
    spec = cls.transitions[index]
    guards = (*spec.get("conditions", ()), *(f"not {u}" for u in spec.get("unless", ())))
    callbacks = tuple(cb for key in ("before", "after") for cb in spec.get(key, ())
                      if isinstance(cb, str))
    arms = tuple(dict.fromkeys(a for cb in callbacks for a in _effects(cls, cb)[1]))
    ignored = spec.get("dest") is None and not guards and not callbacks
    return Line(index, spec["trigger"], guards, commands_of(cls, callbacks), arms, callbacks,
                spec["trigger"] in timers, ignored)


def layout(cls: type[Machine], *, full: bool = False) -> Picture:
    pic = Picture(cls)
    states = cls.state_names()
    timers = timer_triggers(cls)
    for state_name, state_spec in cls._state_specs.items():
        for timer, duration in state_spec.timers.items():
            if isinstance(duration, str):
                seconds = getattr(cls.options(), duration, None)
                text = f"{duration} = {seconds:g} s" if isinstance(seconds, int | float) else \
                    duration
            else:
                text = f"{duration:g} s"
            pic.timers.setdefault(state_name, []).append(f"◷ {timer} after {text}")
    for index, spec in enumerate(cls.transitions):
        line = _line(cls, index, timers)
        sources = sources_of(spec, states)
        dest = spec.get("dest")
        if full:
            for src in sources:
                pic.edges.setdefault((src, dest or src), []).append(line)
            continue
        every = len(states) > 1 and set(sources) == set(states)
        if line.ignored and not every:  # short: in each state's own box
            for src in sources:
                pic.inside.setdefault(src, []).append(line)
        elif dest is None:
            if every:
                pic.inside.setdefault(ANY, []).append(line)
            elif len(sources) == 1:
                pic.inside.setdefault(sources[0], []).append(line)
            else:
                key = tuple(s for s in states if s in sources)
                pic.shared.setdefault(key, []).append(line)
        elif every:
            pic.edges.setdefault((ANY, dest), []).append(line)
        else:
            for src in sources:
                pic.edges.setdefault((src, dest), []).append(line)
    return pic


# ---- Mermaid ---------------------------------------------------------------------------------
def _m(text: str) -> str:
    """Mermaid ends a label at ':' and ';': write them as its entity codes."""
    return text.replace(";", "#59;").replace(":", "#58;")


def _mermaid(pic: Picture, full: bool, visited: Collection[int] | None,
             states_seen: Collection[str] | None) -> str:
    cls = pic.cls
    ids = {name: f"s{i}" for i, name in enumerate(cls.state_names())}
    ids[ANY] = "any"

    def mark(line: Line) -> str:
        return "✗ " if visited is not None and line.spec not in visited else ""

    out = ["stateDiagram-v2", f"    %% {cls.qualified_name()}"]
    if visited is not None:
        out.append("    classDef unvisited stroke:#d62728,stroke-width:2px,"
                   "stroke-dasharray:4 3,color:#d62728")
    for name, sid in ids.items():
        if name == ANY:
            if (ANY in pic.inside or any(src == ANY for src, _ in pic.edges)):
                out.append('    state "any state" as any')
            continue
        out.append(f'    state "{name}" as {sid}')
    for name, rows in pic.timers.items():
        out += [f"    {ids[name]} : {_m(row)}" for row in rows]
    for name, lines in pic.inside.items():
        ignored = [ln.trigger for ln in lines if ln.ignored and not mark(ln)]
        if ignored:
            out.append(f"    {ids[name]} : {_m('ignores ' + ', '.join(ignored))}")
        out += [f"    {ids[name]} : {_m(mark(ln) + ln.text())}" for ln in lines
                if not ln.ignored or mark(ln)]
    for n, (group, lines) in enumerate(pic.shared.items()):
        gid = f"shared{n}"
        out.append(f'    state "in {_m(", ".join(group))}, without a change of state" as {gid}')
        ignored = [ln.trigger for ln in lines if ln.ignored and not mark(ln)]
        if ignored:
            out.append(f"    {gid} : {_m('ignores ' + ', '.join(ignored))}")
        out += [f"    {gid} : {_m(mark(ln) + ln.text())}" for ln in lines
                if not ln.ignored or mark(ln)]
    out.append(f"    [*] --> {ids[cls.initial]}")
    for (src, dst), lines in pic.edges.items():
        for ln in lines:
            out.append(f"    {ids[src]} --> {ids[dst]}: {_m(mark(ln) + ln.text(full=full))}")
    if states_seen is not None:
        out += [f"    class {ids[s]} unvisited" for s in cls.state_names()
                if s not in states_seen]
    return "\n".join(out) + "\n"


# ---- DOT -----------------------------------------------------------------------------------
def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _h(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


RED: Final = "#d62728"


def _rows(lines: Sequence[Line], visited: Collection[int] | None) -> list[str]:
    rows: list[str] = []
    ignored = [ln.trigger for ln in lines if ln.ignored
               and (visited is None or ln.spec in visited)]
    for ln in lines:
        if ln.ignored and (visited is None or ln.spec in visited):
            continue
        missed = visited is not None and ln.spec not in visited
        colour = RED if missed else ("#7a4f00" if ln.timer else "#1f3f6f")
        rows.append(f'<tr><td align="left"><font point-size="10" color="{colour}">'
                    f'{_h(("✗ " if missed else "") + ln.text())}</font></td></tr>')
    if ignored:
        rows.append('<tr><td align="left"><font point-size="10" color="#888888">'
                    f'ignores {_h(", ".join(ignored))}</font></td></tr>')
    return rows


def _box(title: str, rows: list[str], *, bold: bool = True) -> str:
    head = f"<b>{_h(title)}</b>" if bold else _h(title)
    return (f'<<table border="0" cellborder="0" cellspacing="1"><tr><td>{head}</td></tr>'
            f'{"".join(rows)}</table>>')


def _dot(pic: Picture, full: bool, visited: Collection[int] | None,
         states_seen: Collection[str] | None) -> str:
    cls = pic.cls
    out = [f"digraph {_q(cls.qualified_name())} {{", "    rankdir=LR;",
           '    graph [fontname="Helvetica", fontsize=11, nodesep=0.4, ranksep=0.7];',
           '    node [shape=box, style="rounded", fontname="Helvetica", fontsize=12];',
           '    edge [fontname="Helvetica", fontsize=10];',
           "    __start [shape=point, width=0.15];",
           f"    __start -> {_q(cls.initial)};"]
    for name in cls.state_names():
        rows = [f'<tr><td align="left"><font point-size="10" color="#7a4f00">{_h(t)}'
                '</font></td></tr>' for t in pic.timers.get(name, [])]
        rows += _rows(pic.inside.get(name, []), visited)
        missed = states_seen is not None and name not in states_seen
        style = f', color="{RED}", style="rounded,dashed", fontcolor="{RED}"' if missed else ""
        out.append(f"    {_q(name)} [label={_box(name, rows)}{style}];")
    if ANY in pic.inside or any(src == ANY for src, _ in pic.edges):
        rows = _rows(pic.inside.get(ANY, []), visited)
        out.append(f'    "__any" [shape=note, style="filled", fillcolor="#f4f4f4", '
                   f'label={_box("any state", rows)}];')
    for n, (group, lines) in enumerate(pic.shared.items()):
        title = f"in {', '.join(group)}, without a change of state"
        out.append(f'    "__shared{n}" [shape=note, style="filled", fillcolor="#f9f6ee", '
                   f'label={_box(title, _rows(lines, visited), bold=False)}];')
    for (src, dst), lines in pic.edges.items():
        misses = [visited is not None and ln.spec not in visited for ln in lines]
        parts = []
        for ln, miss in zip(lines, misses, strict=True):
            text = _h(("✗ " if miss else "") + ln.text(full=full))
            parts.append(f'<font color="{RED}">{text}</font>' if miss else text)
        attrs_ = [f"label=<{'<br/>'.join(parts)}>"]
        if all(misses):
            attrs_ += [f'color="{RED}"', "style=dashed", f'fontcolor="{RED}"']
        elif all(ln.timer for ln in lines):
            attrs_ += ["style=dashed", 'color="#7a4f00"']
        source = "__any" if src == ANY else src
        out.append(f"    {_q(source)} -> {_q(dst)} [{', '.join(attrs_)}];")
    out.append("}")
    return "\n".join(out) + "\n"


def diagram(cls: type[Machine], fmt: str = "mermaid", *, full: bool = False,
            visited: Collection[int] | None = None,
            states_seen: Collection[str] | None = None) -> str:
    """The diagram as text: ``mermaid`` or ``dot``. ``visited`` (declaration indices) and
    ``states_seen`` mark what was never taken or entered."""
    pic = layout(cls, full=full)
    if fmt == "mermaid":
        return _mermaid(pic, full, visited, states_seen)
    if fmt == "dot":
        return _dot(pic, full, visited, states_seen)
    raise ValueError(f"unknown text diagram format {fmt!r}; use 'mermaid' or 'dot'")


def render(dot_source: str, fmt: str) -> bytes:
    """SVG or PNG from DOT with graphviz's ``dot``; :class:`RenderError` if it is missing."""
    if fmt not in ("svg", "png"):
        raise ValueError(f"dot renders 'svg' or 'png' here, not {fmt!r}")
    dot = shutil.which("dot")
    if dot is None:
        raise RenderError(f"--format {fmt} needs graphviz's `dot` on the PATH (Debian: "
                          "apt-get install graphviz); --format dot and --format mermaid "
                          "work without it")
    result = subprocess.run([dot, f"-T{fmt}"], input=dot_source.encode(),  # noqa: S603
                            capture_output=True, check=False, timeout=60)
    if result.returncode != 0:
        raise RenderError(f"dot failed ({result.returncode}): "
                          f"{result.stderr.decode(errors='replace').strip()}")
    return result.stdout
