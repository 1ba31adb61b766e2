"""``recstate``: replay a trace, list the machines, draw one, run a simulation."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from recstate.diagram import diagram
from recstate.errors import OutputError, TraceError
from recstate.machine import Machine
from recstate.replay import replay, write_report
from recstate.trace import OutputFile, parse_time
from recstate.vendors import all_vendors, load_vendor

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recstate", description="Explicit state machines for call and recording lifecycles.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("replay", help="replay a trace and report what happened",
                       description="Replay TRACE under a manual clock. Exit 0: nothing violated "
                       "or mismatched; 1: something was; 2: the trace cannot be read.")
    p.add_argument("trace", type=Path)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--strict", action="store_true", help="stop at the first violation")
    p.add_argument("--until", metavar="T",
                   help="advance the clock to T (Unix seconds or ISO-8601) after the last line")
    p.add_argument("--out", metavar="FULL_TRACE", type=Path,
                   help="write the complete trace of the replay (inputs, commands, "
                        "transitions, files, errors); written whole or not at all, never "
                        "over TRACE, nor over a non-empty file without --force")
    p.add_argument("--force", action="store_true",
                   help="let --out replace an existing file")
    p.add_argument("--skip-bad-lines", action="store_true",
                   help="go on past lines that cannot be read, and list them")

    sub.add_parser("machines", help="list each machine, its states and the events it takes")

    p = sub.add_parser("diagram", help="draw a machine from its definition")
    p.add_argument("machine", help="a qualified machine name, as `recstate machines` lists")
    p.add_argument("--format", choices=("mermaid", "dot"), default="mermaid")

    p = sub.add_parser("simulate", help="run a vendor simulator scenario in virtual time and "
                       "report it as a replay of the trace it wrote")
    p.add_argument("vendor")
    p.add_argument("scenario")
    p.add_argument("--json", action="store_true")
    p.add_argument("--out", metavar="TRACE", type=Path,
                   help="where to write the scenario's trace (default: a temporary file); "
                        "written whole, never over a non-empty file without --force")
    p.add_argument("--force", action="store_true",
                   help="let --out replace an existing file")
    return parser


def _machines() -> dict[str, type[Machine]]:
    broken: dict[str, str] = {}
    vendors = all_vendors(broken=broken)
    for name, reason in sorted(broken.items()):
        print(f"recstate: vendor {name!r} cannot be loaded and is left out: {reason}",
              file=sys.stderr)
    return {m.qualified_name(): m for v in vendors.values() for m in v.machines}


def _until(text: str) -> float:
    """Unix seconds or ISO-8601, finite and in the range a trace may hold (``nan``, ``inf``
    and ``1e400`` are refused, not run to)."""
    try:
        value: float | str = float(text)
    except ValueError:
        value = text
    return parse_time(value, source="--until", field="")


def _cmd_replay(args: argparse.Namespace) -> int:
    try:
        until = None if args.until is None else _until(args.until)
    except TraceError as error:
        print(f"recstate replay: {error}", file=sys.stderr)
        return 2
    try:
        report = replay(args.trace, strict=args.strict, until=until, out=args.out,
                        skip_bad_lines=args.skip_bad_lines, force=args.force)
    except TraceError as error:
        hint = ("" if args.skip_bad_lines or error.line is None
                else " (--skip-bad-lines goes on and lists bad lines)")
        print(f"recstate replay: {error}{hint}", file=sys.stderr)
        return 2
    except OutputError as error:
        print(f"recstate replay: --out {error}", file=sys.stderr)
        return 2
    write_report(report, sys.stdout, as_json=args.json)
    return report.exit_status


def _cmd_machines() -> int:
    for name, cls in sorted(_machines().items()):
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        print(f"{name}: {doc}")
        print(f"  states: {', '.join(cls.state_names())} (initial {cls.initial})")
        print("  events:")
        for trigger, sources in cls.triggers().items():
            print(f"    {trigger}: in {', '.join(sources)}")
    return 0


def _cmd_diagram(args: argparse.Namespace) -> int:
    machines = _machines()
    cls = machines.get(args.machine)
    if cls is None:
        print(f"recstate diagram: unknown machine {args.machine!r}; known: "
              f"{', '.join(sorted(machines))}", file=sys.stderr)
        return 2
    sys.stdout.write(diagram(cls, args.format))
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    import importlib
    import tempfile

    spec = load_vendor(args.vendor)
    where = (spec.scenarios if spec is not None else None) or f"recstate.adapters.{args.vendor}"
    try:
        module = importlib.import_module(where)
        run_scenario = module.run_scenario
    except (ImportError, AttributeError):
        print(f"recstate simulate: vendor {args.vendor!r} has no simulator scenarios",
              file=sys.stderr)
        return 2
    scenarios = getattr(module, "SCENARIOS", ())
    if scenarios and args.scenario not in scenarios:
        print(f"recstate simulate: unknown scenario {args.scenario!r}; {args.vendor} has "
              f"{', '.join(scenarios)}", file=sys.stderr)
        return 2
    try:
        target = OutputFile(args.out, force=args.force) if args.out is not None else None
    except OutputError as error:
        print(f"recstate simulate: --out {error}", file=sys.stderr)
        return 2
    try:
        with tempfile.TemporaryDirectory() as tmp:
            # A fresh file of our own (never unlink what --out names: it may be anything).
            out = target.temp if target is not None else (
                Path(tmp) / f"{args.vendor}-{args.scenario}.jsonl")
            run_scenario(args.scenario, out=out)
            report = replay(out)
    except BaseException:
        if target is not None:
            target.discard()
        raise
    if target is not None:
        try:
            target.commit()
        except OutputError as error:
            print(f"recstate simulate: --out {error}", file=sys.stderr)
            return 2
    write_report(report, sys.stdout, as_json=args.json)
    return report.exit_status


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "replay":
        return _cmd_replay(args)
    if args.command == "machines":
        return _cmd_machines()
    if args.command == "diagram":
        return _cmd_diagram(args)
    return _cmd_simulate(args)


if __name__ == "__main__":
    raise SystemExit(main())
