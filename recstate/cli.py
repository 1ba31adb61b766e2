"""``recstate``: replay a trace, list the machines, draw one, run a simulation."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs

from recstate.diagram import diagram
from recstate.errors import OutputError, TraceError
from recstate.machine import Machine
from recstate.replay import Report, replay, write_report
from recstate.stores import StoreError
from recstate.trace import OutputFile, parse_time
from recstate.vendors import all_vendors, load_vendor, vendor_names

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recstate", description="Explicit state machines for call and recording lifecycles.")
    parser.add_argument("--version", action="version", version=f"recstate {version()}")
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
    p.add_argument("--session", metavar="KEY", action="append", dest="sessions",
                   help="report only this session (repeatable); the replay is whole")
    p.add_argument("--store", metavar="URL",
                   help="keep every handling in a store (memory:, sqlite:///relative.db, "
                        "sqlite:////absolute/path.db, redis://host:port/db?prefix=NAME): "
                        "run again after a crash, the replay resumes where it stopped")
    p.add_argument("--workers", type=int, default=0, metavar="N",
                   help="with a redis store: spread the sessions over N worker processes")

    p = sub.add_parser("serve", help="run the runtime as an HTTP service with a store",
                       description="Serve POST /events, the NetEase callback (抄送) at "
                       "/netease/callback (AppSecret from $RECSTATE_NETEASE_APP_SECRET), "
                       "GET /sessions, /sessions/{key}, /healthz and /metrics.")
    p.add_argument("--store", metavar="URL", default="sqlite:///recstate.db",
                   help="memory:, sqlite:///relative.db, sqlite:////absolute/path.db or "
                        "redis://host:port/db?prefix=NAME (default sqlite:///recstate.db)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080, help="0: any free port")

    sub.add_parser("machines", help="list each machine, its states and the events it takes")

    p = sub.add_parser("diagram", help="draw a machine from its definition")
    p.add_argument("machine", help="a qualified machine name, one of: "
                   + (", ".join(sorted(_machine_names())) or "(no vendor installed)"))
    p.add_argument("--format", choices=("mermaid", "dot"), default="mermaid")

    p = sub.add_parser("simulate", help="run a vendor simulator scenario in virtual time and "
                       "report it as a replay of the trace it wrote")
    scenarios = _scenarios()
    p.add_argument("vendor", help="a vendor with a simulator, one of: "
                   + (", ".join(scenarios) or "(none installed)"))
    p.add_argument("scenario", help="; ".join(f"{vendor}: {', '.join(names)}"
                                              for vendor, names in scenarios.items()))
    p.add_argument("--json", action="store_true")
    p.add_argument("--out", metavar="TRACE", type=Path,
                   help="where to write the scenario's trace (default: a temporary file); "
                        "written whole, never over a non-empty file without --force")
    p.add_argument("--force", action="store_true",
                   help="let --out replace an existing file")
    return parser


def version() -> str:
    from recstate import __version__
    return __version__


def _machine_names() -> list[str]:
    """The qualified machine names, for --help (a vendor that fails to load is left out)."""
    try:
        return [m.qualified_name() for v in all_vendors(broken={}).values() for m in v.machines]
    except Exception:  # --help must never fail
        return []


def _scenarios() -> dict[str, list[str]]:
    """Vendor -> its simulator's scenario names (where ``simulate`` finds them)."""
    import importlib

    found: dict[str, list[str]] = {}
    for name in sorted(vendor_names()):
        try:
            spec = load_vendor(name)
            where = (spec.scenarios if spec is not None else None) or f"recstate.adapters.{name}"
            module = importlib.import_module(where)
        except Exception:  # noqa: S112 - no adapters, or they cannot load: no simulator
            continue
        if hasattr(module, "run_scenario"):
            found[name] = list(getattr(module, "SCENARIOS", ()))
    return found


def _progress(path: Path, delay: float = 1.0
              ) -> tuple[Callable[[int], None] | None, Callable[[], None]]:
    """A progress bar on a terminal for a replay that takes more than a second (tqdm,
    shown after 1 s, on stderr); nothing when stderr is not a terminal."""
    if not sys.stderr.isatty():
        return None, lambda: None
    from tqdm import tqdm

    try:
        total = sum(1 for _ in path.open("rb"))
    except OSError:
        return None, lambda: None
    bar = tqdm(total=total, unit=" lines", delay=delay, file=sys.stderr, leave=False,
               desc=path.name)

    def update(lines: int) -> None:
        bar.update(lines - bar.n)

    return update, bar.close


def _filtered(report: Report, keys: list[str]) -> Report | str:
    known = [s["session"] for s in report.sessions]
    missing = [k for k in keys if k not in known]
    if missing:
        return (f"no session {', '.join(map(repr, missing))} in the trace; its sessions: "
                f"{', '.join(known) or 'none'}")
    chosen = set(keys)
    return attrs.evolve(report, sessions=[s for s in report.sessions if s["session"] in chosen],
                        mismatches=[m for m in report.mismatches if m["session"] in chosen],
                        unrouted=[])


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
    progress, done = _progress(args.trace)
    try:
        if args.workers:
            if not args.store or not args.store.startswith(("redis://", "rediss://")):
                print("recstate replay: --workers needs a redis store (--store redis://...)",
                      file=sys.stderr)
                return 2
            from recstate.workers import replay_with_workers

            report = replay_with_workers(args.trace, args.store, args.workers, until=until,
                                         out=args.out, skip_bad_lines=args.skip_bad_lines)
        else:
            report = replay(args.trace, strict=args.strict, until=until, out=args.out,
                            skip_bad_lines=args.skip_bad_lines, force=args.force,
                            store=args.store, progress=progress)
    except TraceError as error:
        # the hint helps only where a line of the trace could not be read
        hint = ("" if args.skip_bad_lines or error.line is None
                else " (--skip-bad-lines goes on and lists bad lines)")
        print(f"recstate replay: {error}{hint}", file=sys.stderr)
        return 2
    except StoreError as error:
        print(f"recstate replay: {error}", file=sys.stderr)
        return 2
    except OutputError as error:
        print(f"recstate replay: --out {error}", file=sys.stderr)
        return 2
    finally:
        done()
    if args.sessions:
        chosen = _filtered(report, args.sessions)
        if isinstance(chosen, str):
            print(f"recstate replay: {chosen}", file=sys.stderr)
            return 2
        report = chosen
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
            progress, done = _progress(Path(out))
            try:
                report = replay(out, progress=progress)
            finally:
                done()
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


def _cmd_serve(args: argparse.Namespace) -> int:
    from recstate.serve import serve

    def ready(url: str) -> None:
        print(f"recstate serve: listening on {url} (store {args.store})", flush=True)

    try:
        serve(args.store, host=args.host, port=args.port, ready=ready)
    except StoreError as error:
        print(f"recstate serve: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"recstate serve: cannot listen on {args.host}:{args.port}: {error.strerror}",
              file=sys.stderr)
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _cmd_serve(args)
    if args.command == "replay":
        return _cmd_replay(args)
    if args.command == "machines":
        return _cmd_machines()
    if args.command == "diagram":
        return _cmd_diagram(args)
    return _cmd_simulate(args)


if __name__ == "__main__":
    raise SystemExit(main())
