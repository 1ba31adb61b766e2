"""Scenarios from a file: a vendor, its simulator's settings, a timeline of app intents and
repeated inputs, and faults to inject, run in virtual time (``recstate simulate FILE``).

A file is TOML, YAML or JSON (by its suffix)::

    description = "what it shows"
    vendor = "tencent"
    start = "2023-11-14T22:13:20Z"    # or Unix seconds; the default is 1700000000
    until = "205m"                    # run the clock this far (default: last step + 60 s)

    [simulator]                       # the vendor simulator's own settings
    delay = 0.2

    [[steps]]                         # an input, in the trace's shape
    at = "0s"                         # "90s", "5m", "2h", "1h30m" or seconds
    event = "enterRoom"
    session = "15000:1:alice"         # optional: the vendor's rule derives it otherwise
    data = { relationId = 15000, roomId = 1, user = "alice" }

    [[steps]]                         # a repeated input: every 5 s from minute 0 to 100
    at = "0m"
    every = "5s"
    to = "100m"
    event = "mediaData"
    session = "15000:1:alice"

    [[faults]]                        # a simulator fault, armed at ``at``
    at = "100m"
    kind = "crash"                    # the vendor's fault names (``recstate simulate --help``)
    session_key = "15000:1:alice"
    chance = 0.5                      # optional: applied with this probability (--seed)

Every error names the file, the line and the field (``steps[2].at``) and what is expected.
Machine options are not part of a scenario: a trace does not carry them, and the trace a
scenario writes must replay to the same result under the defaults.

A vendor takes part through its adapter module ``recstate.adapters.<vendor>``, which exports
``SCENARIO_HOOKS`` (:class:`ScenarioHooks`): the simulator class, its fault methods, and a
random scenario for ``recstate fuzz``.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import random
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Final

import attrs
import yaml

from recstate.clock import ManualClock
from recstate.errors import RecstateError, TraceError
from recstate.events import Event, parse_event
from recstate.runtime import Runtime
from recstate.trace import Record, TraceWriter, parse_time
from recstate.vendors import load_vendor, vendor_names

__all__ = ["Scenario", "ScenarioError", "ScenarioHooks", "Step", "hooks_for", "load_scenario",
           "parse_scenario", "register_scenario_hooks", "run_scenario_file", "scenario_text"]

DEFAULT_START: Final = 1_700_000_000.0


class ScenarioError(RecstateError):
    """A scenario file that cannot be run: where (file, line, field) and what to do."""

    def __init__(self, reason: str, *, source: str, line: int | None = None,
                 field: str = "") -> None:
        self.reason, self.source, self.line, self.field = reason, source, line, field
        where = source + (f":{line}" if line is not None else "")
        super().__init__(f"{where}: " + (f"field {field!r}: " if field else "") + reason)


@attrs.frozen
class ScenarioHooks:
    """What a vendor's adapter gives the scenario runner.

    ``simulator(runtime, **settings)`` builds its simulator; ``close`` names its method that
    stops it; ``faults`` maps a fault's ``kind`` to the simulator method that injects it
    (its keyword arguments are the fault's fields); ``random`` builds a random scenario (a
    dict in the file's shape) for ``recstate fuzz``."""

    simulator: Callable[..., Any]
    close: str
    faults: Mapping[str, str]
    random: Callable[[random.Random], dict[str, Any]] | None = None


@attrs.frozen
class Step:
    at: float
    event: str
    data: dict[str, Any] | None
    session: str | None
    index: int


@attrs.frozen
class Fault:
    at: float
    kind: str
    args: dict[str, Any]
    index: int


@attrs.define
class Scenario:
    vendor: str
    start: float
    until: float
    description: str
    simulator: dict[str, Any]
    steps: list[Step]
    faults: list[Fault]
    source: str
    hooks: ScenarioHooks


_registered: dict[str, ScenarioHooks] = {}


def register_scenario_hooks(vendor: str, hooks: ScenarioHooks) -> None:
    """Give ``vendor`` scenario hooks without an adapter module named after it (a vendor of
    a third party's package, or a test's own)."""
    _registered[vendor] = hooks


def hooks_for(vendor: str) -> ScenarioHooks | None:
    """The vendor's hooks: registered, or ``SCENARIO_HOOKS`` in its scenarios module
    (``Vendor.scenarios``) or in ``recstate.adapters.<vendor>``."""
    if vendor in _registered:
        return _registered[vendor]
    spec = load_vendor(vendor)
    for where in dict.fromkeys((spec.scenarios if spec is not None else None,
                                f"recstate.adapters.{vendor}")):
        if where is None:
            continue
        try:
            module = importlib.import_module(where)
        except ImportError:
            continue
        hooks = getattr(module, "SCENARIO_HOOKS", None)
        if isinstance(hooks, ScenarioHooks):
            return hooks
    return None


# ---- where a field is written --------------------------------------------------------------------
class _Locator:
    """The line a field path is written on: YAML and JSON through PyYAML's node marks,
    TOML by reading its headers and keys."""

    def __init__(self, text: str, kind: str) -> None:
        self.text, self.kind = text, kind
        self.node: Any = None
        if kind in ("yaml", "json"):
            try:
                self.node = yaml.compose(text)
            except yaml.YAMLError:
                self.node = None

    def line(self, path: Sequence[str | int]) -> int | None:
        if self.kind == "toml":
            return self._toml(path)
        node, found = self.node, None
        for part in path:
            if isinstance(node, yaml.MappingNode):
                nxt = next(((k, v) for k, v in node.value if k.value == part), None)
                if nxt is None:
                    break
                found, node = nxt[0].start_mark.line + 1, nxt[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and \
                    part < len(node.value):
                node = node.value[part]
                found = node.start_mark.line + 1
            else:
                break
        return found

    def _toml(self, path: Sequence[str | int]) -> int | None:
        lines = self.text.splitlines()
        header = re.compile(r"^\s*\[")
        start, end = 0, len(lines)
        rest = list(path)
        if len(rest) >= 2 and isinstance(rest[0], str) and isinstance(rest[1], int):
            table, index = rest[0], rest[1]
            pattern = re.compile(r"^\s*\[\[\s*" + re.escape(table) + r"\s*\]\]")
            hits = [i for i, ln in enumerate(lines) if pattern.match(ln)]
            if index >= len(hits):
                return None
            start = hits[index]
            end = next((i for i in range(start + 1, len(lines)) if header.match(lines[i])),
                       len(lines))
            rest = rest[2:]
            if not rest:
                return start + 1
        elif rest and isinstance(rest[0], str):
            pattern = re.compile(r"^\s*\[\s*" + re.escape(rest[0]) + r"\s*\]")
            hit = next((i for i, ln in enumerate(lines) if pattern.match(ln)), None)
            if hit is not None:
                start = hit
                end = next((i for i in range(hit + 1, len(lines)) if header.match(lines[i])),
                           len(lines))
                rest = rest[1:]
                if not rest:
                    return hit + 1
            else:
                end = next((i for i, ln in enumerate(lines) if header.match(ln)), len(lines))
        if rest and isinstance(rest[0], str):
            key = re.compile(r"^\s*\"?" + re.escape(rest[0]) + r"\"?\s*=")
            for i in range(start, end):
                if key.match(lines[i]):
                    return i + 1
        return start + 1 if start else None


# ---- reading ---------------------------------------------------------------------------------
_DURATION: Final = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*"
                              r"(?:(\d+(?:\.\d+)?)s)?\s*$")


def _duration(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected seconds or a duration like '90s', '5m', '1h30m', got "
                         f"{value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"expected a time from the start, >= 0, got {value}")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match and any(match.groups()):
            h, m, s = (float(g) if g else 0.0 for g in match.groups())
            return h * 3600 + m * 60 + s
    raise ValueError(f"expected seconds or a duration like '90s', '5m', '1h30m', got {value!r}")


def _load_text(text: str, kind: str, source: str) -> Any:
    try:
        if kind == "toml":
            return tomllib.loads(text)
        if kind == "json":
            return json.loads(text)
        return yaml.safe_load(text)
    except tomllib.TOMLDecodeError as error:
        match = re.search(r"line (\d+)", str(error))
        raise ScenarioError(f"not valid TOML: {error}", source=source,
                            line=int(match[1]) if match else None) from None
    except json.JSONDecodeError as error:
        raise ScenarioError(f"not valid JSON: {error.msg}", source=source,
                            line=error.lineno) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise ScenarioError(f"not valid YAML: {getattr(error, 'problem', error)}",
                            source=source,
                            line=mark.line + 1 if mark is not None else None) from None


_KINDS: Final = {".toml": "toml", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}
_TOP: Final = ("description", "vendor", "start", "until", "simulator", "steps", "faults")
_STEP: Final = ("at", "event", "data", "session", "every", "to")


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    p = Path(path)
    kind = _KINDS.get(p.suffix.lower())
    if kind is None:
        raise ScenarioError(f"a scenario is TOML, YAML or JSON: name it with one of "
                            f"{', '.join(_KINDS)}", source=str(p))
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioError(f"cannot read it: {error}", source=str(p)) from None
    return parse_scenario(text, kind, source=str(p))


def parse_scenario(text: str, kind: str, *, source: str = "<scenario>") -> Scenario:
    """A checked scenario from its text (``kind``: toml, yaml or json)."""
    data = _load_text(text, kind, source)
    where = _Locator(text, kind)

    def fail(reason: str, *path: str | int) -> ScenarioError:
        field = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p)
                        for i, p in enumerate(path))
        return ScenarioError(reason, source=source, line=where.line(path), field=field)

    if not isinstance(data, dict):
        raise ScenarioError("expected a table (mapping) at the top", source=source, line=1)
    unknown = sorted(set(data) - set(_TOP))
    if unknown:
        raise fail(f"unknown field; a scenario has {', '.join(_TOP)}", unknown[0])
    vendor = data.get("vendor")
    if not isinstance(vendor, str) or not vendor:
        raise fail(f"name the vendor: one of {', '.join(sorted(vendor_names()))}", "vendor")
    if vendor not in vendor_names():
        raise fail(f"unknown vendor {vendor!r}; installed: "
                   f"{', '.join(sorted(vendor_names()))}", "vendor")
    hooks = hooks_for(vendor)
    if hooks is None:
        raise fail(f"vendor {vendor!r} has no simulator for scenarios (its adapter module "
                   "exports no SCENARIO_HOOKS)", "vendor")
    try:
        start = DEFAULT_START if "start" not in data else parse_time(
            data["start"], source=source, field="start")
    except TraceError as error:
        raise fail(error.reason, "start") from None
    description = data.get("description", "")
    if not isinstance(description, str):
        raise fail("expected a string", "description")
    settings = data.get("simulator", {})
    if not isinstance(settings, dict):
        raise fail("expected a table of the simulator's settings", "simulator")
    known = [n for n in inspect.signature(hooks.simulator).parameters if n != "runtime"]
    for name in settings:
        if name not in known:
            raise fail(f"the {vendor} simulator has no setting {name!r}; it has "
                       f"{', '.join(known)}", "simulator", name)

    steps: list[Step] = []
    raw_steps = data.get("steps", [])
    if not isinstance(raw_steps, list) or not raw_steps:
        raise fail("expected a list of steps ([[steps]] tables), at least one", "steps")
    for i, raw in enumerate(raw_steps):
        if not isinstance(raw, dict):
            raise fail("expected a table with at, event (and data, session)", "steps", i)
        bad = sorted(set(raw) - set(_STEP))
        if bad:
            raise fail(f"unknown field; a step has {', '.join(_STEP)}", "steps", i, bad[0])
        for key in ("at", "event"):
            if key not in raw:
                raise fail("required field is missing", "steps", i, key)
        try:
            at = _duration(raw["at"])
        except ValueError as error:
            raise fail(str(error), "steps", i, "at") from None
        name = raw["event"]
        if not isinstance(name, str) or not name:
            raise fail("expected the vendor's event name", "steps", i, "event")
        session = raw.get("session")
        if session is not None and not isinstance(session, str):
            raise fail("expected a string session key", "steps", i, "session")
        payload = raw.get("data")
        if payload is not None and not isinstance(payload, dict):
            raise fail("expected a table of the event's fields", "steps", i, "data")
        times = [at]
        if "every" in raw or "to" in raw:
            try:
                every = _duration(raw.get("every"))
                to = _duration(raw.get("to"))
            except ValueError as error:
                key = "every" if "every" not in raw or not isinstance(
                    raw.get("every"), int | float | str) else "to"
                raise fail(f"{error} (a repeated step needs both every and to)", "steps", i,
                           key) from None
            if every <= 0:
                raise fail("expected a period > 0", "steps", i, "every")
            if to < at:
                raise fail(f"ends before it starts (at {at:g} s)", "steps", i, "to")
            times = [at + k * every for k in range(int((to - at) // every) + 1)]
        try:  # checked once, in the trace's shape, as a replay would read it
            parse_event(vendor, name, start + at, payload, session, source=source,
                        line=where.line(("steps", i)))
        except TraceError as error:
            efield = error.field or ""
            path: list[str | int] = ["steps", i, "data" if efield not in ("", "name")
                                     else "event"]
            if efield not in ("", "name", "data"):
                path += [p for p in efield.removeprefix("data.").split(".") if p]
            raise ScenarioError(error.reason, source=source,
                                line=where.line(path[:4]) or where.line(("steps", i)),
                                field=f"steps[{i}].{'.'.join(map(str, path[2:]))}") from None
        steps += [Step(t, name, payload, session, i) for t in times]

    faults: list[Fault] = []
    raw_faults = data.get("faults", [])
    if not isinstance(raw_faults, list):
        raise fail("expected a list of faults ([[faults]] tables)", "faults")
    for i, raw in enumerate(raw_faults):
        if not isinstance(raw, dict):
            raise fail("expected a table with kind (and at, its fields)", "faults", i)
        kind_ = raw.get("kind")
        if not isinstance(kind_, str) or kind_ not in hooks.faults:
            raise fail(f"expected one of the {vendor} faults: {', '.join(hooks.faults)}",
                       "faults", i, "kind")
        try:
            at = _duration(raw.get("at", 0))
        except ValueError as error:
            raise fail(str(error), "faults", i, "at") from None
        chance = raw.get("chance", 1.0)
        if isinstance(chance, bool) or not isinstance(chance, int | float) or \
                not 0 <= chance <= 1:
            raise fail("expected a probability from 0 to 1", "faults", i, "chance")
        args = {k: v for k, v in raw.items() if k not in ("kind", "at", "chance")}
        method = getattr(hooks.simulator, hooks.faults[kind_])
        params = {n: p for n, p in inspect.signature(method).parameters.items()
                  if n != "self"}
        for name in args:
            if name not in params:
                raise fail(f"the {kind_!r} fault takes {', '.join(params)}", "faults", i, name)
        missing = [n for n, p in params.items() if p.default is inspect.Parameter.empty
                   and n not in args]
        if missing:
            raise fail("required field is missing", "faults", i, missing[0])
        faults.append(Fault(at, kind_, {**args, "__chance": float(chance)}, i))

    last = max(s.at for s in steps)
    try:
        until = last + 60.0 if "until" not in data else _duration(data["until"])
    except ValueError as error:
        raise fail(str(error), "until") from None
    if until < last:
        raise fail(f"ends before the last step (at {last:g} s)", "until")
    return Scenario(vendor, start, until, description, dict(settings), steps, faults, source,
                    hooks)


# ---- running -----------------------------------------------------------------------------------
def run_scenario_file(scn: Scenario, *, out: str | os.PathLike[str] | IO[bytes] | None = None,
                      seed: int = 0, after_step: Callable[[Runtime], None] | None = None,
                      tracer: Callable[[Record], None] | None = None) -> Runtime:
    """Run ``scn`` on a ManualClock with the vendor's simulator, writing the full trace to
    ``out``. ``seed`` decides the faults that have a ``chance``; ``after_step`` is called
    after each step and fault (``recstate fuzz`` checks invariants there); ``tracer`` also
    sees every record."""
    rng = random.Random(seed)  # noqa: S311 - reproducible faults, not secrets
    writer = TraceWriter(out) if out is not None else None
    both: Callable[[Record], None] | None = writer
    if tracer is not None:
        def both(record: Record) -> None:
            tracer(record)
            if writer is not None:
                writer(record)
    runtime = Runtime(ManualClock(scn.start), tracer=both)
    try:
        sim = scn.hooks.simulator(runtime, **scn.simulator)
    except (TypeError, ValueError) as error:
        if writer is not None:
            writer.close()
        raise ScenarioError(f"the simulator refuses these settings: {error}",
                            source=scn.source, field="simulator") from None
    # Faults before steps at the same time: "fail the next start" then the start.
    items: list[tuple[float, int, int, Fault | Step]] = [
        (f.at, 0, n, f) for n, f in enumerate(scn.faults)]
    items += [(s.at, 1, n, s) for n, s in enumerate(scn.steps)]
    try:
        for at, _, _, item in sorted(items, key=lambda x: x[:3]):
            runtime.advance(scn.start + at)
            if isinstance(item, Fault):
                args = dict(item.args)
                chance = args.pop("__chance")
                if chance >= 1.0 or rng.random() < chance:
                    try:
                        getattr(sim, scn.hooks.faults[item.kind])(**args)
                    except (TypeError, ValueError) as error:
                        raise ScenarioError(f"the simulator refuses this fault: {error}",
                                            source=scn.source,
                                            field=f"faults[{item.index}]") from None
            else:
                ev: Event = parse_event(scn.vendor, item.event, scn.start + at, item.data,
                                        item.session, source=scn.source)
                runtime.dispatch(ev)
            if after_step is not None:
                after_step(runtime)
        runtime.advance(scn.start + scn.until)
        if after_step is not None:
            after_step(runtime)
    finally:
        getattr(sim, scn.hooks.close)()
        if writer is not None:
            writer.close()
    return runtime


def scenario_text(data: Mapping[str, Any]) -> str:
    """A scenario dict as a TOML file (what ``recstate fuzz`` prints)."""
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{_key(k)} = {value(x)}" for k, x in v.items()) + " }"
        raise TypeError(f"cannot write {v!r} in a scenario")

    out: list[str] = []
    for key in ("description", "vendor", "start", "until"):
        if key in data:
            out.append(f"{key} = {value(data[key])}")
    if data.get("simulator"):
        out += ["", "[simulator]"] + [f"{_key(k)} = {value(v)}"
                                      for k, v in data["simulator"].items()]
    for table in ("steps", "faults"):
        for item in data.get(table, []):
            out += ["", f"[[{table}]]"] + [f"{_key(k)} = {value(v)}" for k, v in item.items()]
    return "\n".join(out) + "\n"


def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)
