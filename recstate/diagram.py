"""Diagrams of a machine's declaration (never of a running machine), as Mermaid or DOT.

Written from the declaration rather than with transitions' diagram extension: its Mermaid
engine needs a model with a live state, and its DOT engines need graphviz installed.
"""

from __future__ import annotations

from recstate.machine import Machine, sources_of

__all__ = ["diagram"]


def _edges(cls: type[Machine]) -> list[tuple[str, str, str]]:
    states = cls.state_names()
    edges: list[tuple[str, str, str]] = []
    for spec in cls.transitions:
        sources = sources_of(spec, states)
        dest = spec.get("dest")
        guards = [*spec.get("conditions", []), *(f"not {u}" for u in spec.get("unless", []))]
        label = spec["trigger"] + (f" [{' and '.join(guards)}]" if guards else "")
        for src in sources:
            edges.append((src, dest if dest is not None else src, label))
    return edges


def _mermaid(cls: type[Machine]) -> str:
    ids = {name: f"s{i}" for i, name in enumerate(cls.state_names())}
    lines = ["stateDiagram-v2", f"    %% {cls.qualified_name()}"]
    lines += [f"    state \"{name}\" as {sid}" for name, sid in ids.items()]
    lines.append(f"    [*] --> {ids[cls.initial]}")
    for src, dst, label in _edges(cls):
        lines.append(f"    {ids[src]} --> {ids[dst]}: {label.replace(':', '#58;')}")
    return "\n".join(lines) + "\n"


def _dot(cls: type[Machine]) -> str:
    def q(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [f"digraph {q(cls.qualified_name())} {{", "    rankdir=LR;",
             "    node [shape=box, style=rounded];", "    __start [shape=point];",
             f"    __start -> {q(cls.initial)};"]
    lines += [f"    {q(name)};" for name in cls.state_names()]
    lines += [f"    {q(src)} -> {q(dst)} [label={q(label)}];" for src, dst, label in _edges(cls)]
    lines.append("}")
    return "\n".join(lines) + "\n"


def diagram(cls: type[Machine], fmt: str = "mermaid") -> str:
    if fmt == "mermaid":
        return _mermaid(cls)
    if fmt == "dot":
        return _dot(cls)
    raise ValueError(f"unknown diagram format {fmt!r}; use 'mermaid' or 'dot'")
