"""``recstate``: replay a trace, list the machines, draw one, run a simulation."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import orjson

from recstate import gcfreeze
from recstate.diagram import FORMATS, RenderError, diagram, render
from recstate.errors import OutputError, TraceError
from recstate.machine import Machine
from recstate.replay import Report, replay, write_report
from recstate.stores import StoreError, check_redis_url, safe_url
from recstate.trace import OutputFile, parse_time
from recstate.vendors import all_vendors, load_vendor, vendor_names

#: The environment variable holding `recstate serve --bridge`'s token secret.
BRIDGE_SECRET_ENV = "RECSTATE_BRIDGE_SECRET"  # noqa: S105 (a name, not the secret)

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
    p.add_argument("--html", metavar="FILE", type=Path,
                   help="also write the report and its timeline as one HTML page")
    p.add_argument("--store", metavar="URL",
                   help="keep every handling in a store (memory:, sqlite:///relative.db, "
                        "sqlite:////absolute/path.db, redis://host:port/db?prefix=NAME): "
                        "run again after a crash, the replay resumes where it stopped")
    p.add_argument("--workers", type=_positive, default=0, metavar="N",
                   help="with a redis store: spread the sessions over N worker processes")

    p = sub.add_parser("serve", help="run the runtime as an HTTP service with a store",
                       description="Serve POST /events, the NetEase callback (抄送) at "
                       "/netease/callback (AppSecret from $RECSTATE_NETEASE_APP_SECRET), "
                       "GET /sessions, /sessions/{key}, /healthz and /metrics; with --bridge, the "
                       "client bridge at /ws and /client/ (and with --bridge-demo its demo page "
                       "at /demo/).")
    p.add_argument("--store", metavar="URL", default="sqlite:///recstate.db",
                   help="memory:, sqlite:///relative.db, sqlite:////absolute/path.db or "
                        "redis://host:port/db?prefix=NAME (default sqlite:///recstate.db)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080, help="0: any free port")
    p.add_argument("--bridge", action="store_true",
                   help="also serve the client bridge (WebSocket /ws, the JS client at "
                        "/client/); its token secret comes from "
                        f"${BRIDGE_SECRET_ENV}, never the command line. Apps get tokens from "
                        "the secret's holder (`python -m recstate.bridge token APP`, or "
                        "recstate.bridge.Tokens in the app's server)")
    p.add_argument("--bridge-demo", action="store_true",
                   help="with the bridge, serve its demo page at /demo/ and the open token "
                        "endpoint /demo/token it uses: anyone can get a token there, so never "
                        "in production (implies --bridge)")
    p.add_argument("--bridge-hold", type=float, default=30.0, metavar="SECONDS",
                   help="seconds a command waits for the app serving its session before it "
                        "is withdrawn (default 30)")
    p.add_argument("--virtual-clock", type=float, metavar="T0",
                   help="for tests and demos, never production: run on a virtual clock "
                        "standing at T0 (Unix seconds), moved forward only by the POSTed "
                        "events' t and by POST /clock {\"to\": t}")
    p.add_argument("--timer-lease", type=float, default=30.0, metavar="SECONDS",
                   help="with a redis store (a fleet of serve processes): seconds a process's "
                        "claim on a session's due timers lasts; another process fires them "
                        "after that if it died holding them (default 30)")

    sub.add_parser("machines", help="list each machine, its states and the events it takes")

    p = sub.add_parser("diagram", help="draw a machine from its definition",
                       description="Draw MACHINE. By default an edge is a change of state; "
                       "what a state does without changing is listed in its box.")
    p.add_argument("machine", help="a qualified machine name, one of: "
                   + (", ".join(sorted(_machine_names())) or "(no vendor installed)"))
    p.add_argument("--format", choices=FORMATS, default="mermaid",
                   help="mermaid or dot (text), svg or png (through graphviz's dot)")
    p.add_argument("--all", action="store_true", dest="full",
                   help="draw every declared transition as an edge, callbacks included")
    p.add_argument("-o", "--output", metavar="FILE", type=Path,
                   help="write the diagram there instead of stdout")

    p = sub.add_parser("simulate", help="run a vendor simulator scenario in virtual time and "
                       "report it as a replay of the trace it wrote",
                       description="simulate SCENARIO_FILE (TOML, YAML or JSON; see "
                       "examples/scenarios/), or simulate VENDOR NAME for a built-in scenario",
                       epilog=_fault_kinds(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    scenarios = _scenarios()
    p.add_argument("vendor", metavar="SCENARIO_FILE|VENDOR",
                   help="a scenario file, or a vendor with a simulator, one of: "
                   + (", ".join(scenarios) or "(none installed)"))
    p.add_argument("scenario", nargs="?", metavar="NAME",
                   help="a built-in scenario of VENDOR: " + "; ".join(
                       f"{vendor}: {', '.join(names)}" for vendor, names in scenarios.items()))
    p.add_argument("--json", action="store_true")
    p.add_argument("--seed", type=int, default=0,
                   help="decides the faults that have a chance (the same seed, the same run)")
    p.add_argument("--html", metavar="FILE", type=Path,
                   help="also write the report and its timeline as one HTML page")
    p.add_argument("--out", metavar="TRACE", type=Path,
                   help="where to write the scenario's trace (default: a temporary file); "
                        "written whole, never over a non-empty file without --force")
    p.add_argument("--force", action="store_true",
                   help="let --out replace an existing file")
    p.add_argument("--check", action="store_true",
                   help="check the invariants `recstate fuzz` checks after every step and "
                        "fault; stop at the first broken one and exit 1 naming it "
                        "(SCENARIO_FILE only: how a scenario fuzz printed is reproduced)")
    _pictures(sub)
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


def _fault_kinds() -> str:
    """The ``kind`` a scenario file's [[faults]] may name, a vendor a line."""
    from recstate.scenario import hooks_for

    lines = []
    for name in sorted(vendor_names()):
        try:
            hooks = hooks_for(name)
        except Exception:  # noqa: S112 - its adapters cannot load: no simulator
            continue
        if hooks is not None:
            lines.append(f"  {name}: {', '.join(hooks.faults) or '(its [simulator] settings)'}")
    return "faults a scenario file's [[faults]] may name (kind):\n" + "\n".join(lines)


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
    # What the report-wide lists left out cannot be told per session: the mismatches' count
    # stays (it says the list is cut), the unrouted inputs go with their list.
    left_out = {k: v for k, v in report.left_out.items() if k != "unrouted"}
    return attrs.evolve(report, sessions=[s for s in report.sessions if s["session"] in chosen],
                        mismatches=[m for m in report.mismatches if m["session"] in chosen],
                        unrouted=[], left_out=left_out, exceptions=None)
def _pictures(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("timeline", help="draw a trace: one lane per session, states, files, "
                       "commands, notices, violations and timers over time",
                       description="Replay TRACE and draw it as SVG (the default, on stdout) or "
                       "as a self-contained HTML page with a filter box (-o FILE.html).")
    p.add_argument("trace", type=Path)
    p.add_argument("-o", "--output", metavar="FILE.html|FILE.svg", type=Path,
                   help="where to write it; the suffix chooses HTML or SVG (default: SVG on "
                        "stdout)")
    p.add_argument("--session", metavar="KEY", action="append",
                   help="draw only this session (repeatable)")
    p.add_argument("--until", metavar="T",
                   help="advance the clock to T (Unix seconds or ISO-8601) after the last line")
    p.add_argument("--skip-bad-lines", action="store_true",
                   help="go on past lines that cannot be read")

    p = sub.add_parser("coverage", help="which states and transitions of each machine the "
                       "traces exercise, and which they never do")
    p.add_argument("traces", nargs="+", type=Path, metavar="TRACE")
    p.add_argument("--machine", metavar="M", action="append",
                   help="only this machine (qualified name; repeatable)")
    p.add_argument("--json", action="store_true", help="print it as JSON")
    p.add_argument("--all", action="store_true", dest="show_all",
                   help="list taken transitions too, with how often")
    p.add_argument("--diagram", metavar="FILE", type=Path,
                   help="also draw the machine (one --machine) with what was never taken "
                        "marked; the suffix chooses .svg, .png, .dot or .mmd")
    p.add_argument("--skip-bad-lines", action="store_true",
                   help="go on past lines that cannot be read")

    p = sub.add_parser("paths", help="a shortest event sequence from the initial state that "
                       "takes each transition of MACHINE")
    p.add_argument("machine", help="a qualified machine name, as `recstate machines` lists")
    p.add_argument("--skeleton", action="store_true",
                   help="print each path as a trace skeleton (JSON Lines to fill in)")
    p.add_argument("--transition", metavar="N", type=int,
                   help="only the transition declared N-th (0-based, as the listing numbers)")

    p = sub.add_parser("fuzz", help="random scenarios through a vendor's simulator, checking "
                       "the invariants after every step",
                       description="Exit 0: every run kept the invariants; 1: one broke them "
                       "(its scenario is printed, or written to --out, for recstate simulate).")
    p.add_argument("vendor")
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", metavar="FILE.toml", type=Path,
                   help="write the first failing scenario there")


def _machines() -> dict[str, type[Machine]]:
    broken: dict[str, str] = {}
    vendors = all_vendors(broken=broken)
    for name, reason in sorted(broken.items()):
        print(f"recstate: vendor {name!r} cannot be loaded and is left out: {reason}",
              file=sys.stderr)
    return {m.qualified_name(): m for v in vendors.values() for m in v.machines}


def _positive(text: str) -> int:
    """A count of at least 1 (``--workers 0`` or ``-1`` would start no worker)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


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
    refused = ("--html replays in memory: run it without --store and --workers"
               if args.html is not None and (args.store or args.workers) else
               "--strict stops at the first violation in the trace's order, which workers "
               "handling partitions side by side do not share: run it without --workers"
               if args.strict and args.workers else None)
    if refused:
        print(f"recstate replay: {refused}", file=sys.stderr)
        return 2
    progress, done = _progress(args.trace)
    try:
        if args.html is not None:
            return _replay_html(args, until)
        if args.workers:
            if not args.store or not args.store.startswith(("redis://", "rediss://",
                                                            "redis+cluster://")):
                print("recstate replay: --workers needs a redis store (--store redis://... "
                      "or redis+cluster://...)",
                      file=sys.stderr)
                return 2
            from recstate.workers import replay_with_workers

            check_redis_url(args.store)
            try:
                report = replay_with_workers(args.trace, args.store, args.workers,
                                             until=until, out=args.out,
                                             skip_bad_lines=args.skip_bad_lines,
                                             force=args.force)
            except RuntimeError as error:  # the workers died before the end
                print(f"recstate replay: {error}", file=sys.stderr)
                return 2
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


def _replay_html(args: argparse.Namespace, until: float | None) -> int:
    from recstate.observe import observe_replay
    from recstate.timeline import build, render_html

    watched = observe_replay(args.trace, strict=args.strict, until=until, out=args.out,
                             skip_bad_lines=args.skip_bad_lines, force=args.force)
    page = render_html(build(watched, title=f"recstate replay {args.trace.name}"),
                       with_report=True)
    if not _write(args.html, page, "replay"):
        return 2
    write_report(watched.report, sys.stdout, as_json=args.json)
    return watched.report.exit_status


def _write(path: Path, text: str, command: str) -> bool:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        print(f"recstate {command}: cannot write {path}: {error.strerror}", file=sys.stderr)
        return False
    return True


def _cmd_timeline(args: argparse.Namespace) -> int:
    from recstate.observe import observe_replay
    from recstate.timeline import build, render_html, render_svg

    out: Path | None = args.output
    if out is not None and out.suffix.lower() not in (".html", ".htm", ".svg"):
        print(f"recstate timeline: {out}: the output's suffix chooses the format; use "
              ".html or .svg", file=sys.stderr)
        return 2
    try:
        until = None if args.until is None else _until(args.until)
        watched = observe_replay(args.trace, until=until, skip_bad_lines=args.skip_bad_lines)
        timeline = build(watched, title=f"recstate timeline {args.trace.name}",
                         sessions=args.session)
    except TraceError as error:
        print(f"recstate timeline: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"recstate timeline: {error}", file=sys.stderr)
        return 2
    if out is None:
        sys.stdout.write(render_svg(timeline))
        return 0
    page = render_svg(timeline) if out.suffix.lower() == ".svg" else render_html(timeline)
    return 0 if _write(out, page, "timeline") else 2


_DIAGRAM_SUFFIXES = {".svg": "svg", ".png": "png", ".dot": "dot", ".gv": "dot",
                     ".mmd": "mermaid", ".mermaid": "mermaid"}


def _machine_named(name: str, command: str) -> type[Machine] | None:
    machines = _machines()
    cls = machines.get(name)
    if cls is None:
        print(f"recstate {command}: unknown machine {name!r}; known: "
              f"{', '.join(sorted(machines))}", file=sys.stderr)
    return cls


def _cmd_coverage(args: argparse.Namespace) -> int:
    from recstate.coverage import coverage_of_traces, format_coverage

    machines = None
    if args.machine:
        found = [_machine_named(name, "coverage") for name in args.machine]
        if any(cls is None for cls in found):
            return 2
        machines = [cls for cls in found if cls is not None]
    fmt = None
    if args.diagram is not None:
        fmt = _DIAGRAM_SUFFIXES.get(args.diagram.suffix.lower())
        if fmt is None or machines is None or len(machines) != 1:
            print("recstate coverage: --diagram draws one machine (give one --machine) to a "
                  f"file ending in {', '.join(_DIAGRAM_SUFFIXES)}", file=sys.stderr)
            return 2
    try:
        covs = coverage_of_traces(args.traces, machines, skip_bad_lines=args.skip_bad_lines)
    except TraceError as error:
        print(f"recstate coverage: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(orjson.dumps([c.to_json() for c in covs],
                           option=orjson.OPT_INDENT_2).decode())
    else:
        sys.stdout.write(format_coverage(covs, show_all=args.show_all))
    if fmt is not None:
        cov = covs[0]
        picture = argparse.Namespace(command="coverage", format=fmt, full=False,
                                     output=args.diagram)
        return _emit_diagram(cov.machine, picture, visited=set(cov.taken),
                             states_seen=set(cov.states))
    return 0


def _cmd_paths(args: argparse.Namespace) -> int:
    from recstate.coverage import format_paths, skeleton

    cls = _machine_named(args.machine, "paths")
    if cls is None:
        return 2
    count = len(cls.transitions)
    if args.transition is not None and not 0 <= args.transition < count:
        print(f"recstate paths: {cls.qualified_name()} declares transitions 0 to "
              f"{count - 1}; got {args.transition}", file=sys.stderr)
        return 2
    if not args.skeleton:
        text = format_paths(cls)
        if args.transition is not None:
            blocks = text.split("\n#")
            text = "#" + blocks[args.transition + 1].rstrip("\n") + "\n"
        sys.stdout.write(text)
        return 0
    wanted = range(count) if args.transition is None else [args.transition]
    sys.stdout.write("\n".join(skeleton(cls, i) for i in wanted))
    return 0


def _commit_out(target: OutputFile | None) -> bool:
    """Move a simulation's written ``--out`` into place; False, after saying why, when it
    cannot be."""
    if target is None:
        return True
    try:
        target.commit()
    except OutputError as error:
        print(f"recstate simulate: --out {error}", file=sys.stderr)
        return False
    return True


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
    return _emit_diagram(cls, args)


def _emit_diagram(cls: type[Machine], args: argparse.Namespace, **marks: Any) -> int:
    text = diagram(cls, "mermaid" if args.format == "mermaid" else "dot", full=args.full,
                   **marks)
    data = text.encode()
    if args.format in ("svg", "png"):
        try:
            data = render(text, args.format)
        except RenderError as error:
            print(f"recstate {args.command}: {error}", file=sys.stderr)
            return 2
    if args.output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return 0
    try:
        args.output.write_bytes(data)
    except OSError as error:
        print(f"recstate {args.command}: cannot write {args.output}: {error.strerror}",
              file=sys.stderr)
        return 2
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    import importlib
    import tempfile

    if args.scenario is None:
        return _simulate_file(args)
    if args.check:
        print("recstate simulate: --check runs a scenario file (recstate simulate FILE "
              "--check), not a built-in scenario", file=sys.stderr)
        return 2

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
    if not _commit_out(target):
        return 2
    write_report(report, sys.stdout, as_json=args.json)
    return report.exit_status


def _cmd_fuzz(args: argparse.Namespace) -> int:
    from recstate.fuzz import fuzz
    from recstate.scenario import ScenarioError

    if args.runs < 1:
        print("recstate fuzz: --runs must be at least 1", file=sys.stderr)
        return 2
    try:
        result = fuzz(args.vendor, runs=args.runs, seed=args.seed)
    except ScenarioError as error:
        print(f"recstate fuzz: {error}", file=sys.stderr)
        return 2
    if result.failing is None:
        print(f"recstate fuzz {args.vendor}: {result.runs} runs (seed {args.seed}), "
              f"{result.checks} checks: every invariant held")
        return 0
    text = ("".join(f"# broken: {b}\n" for b in result.broken)
            + "# reproduce: recstate simulate THIS_FILE --check\n" + result.failing)
    if args.out is not None:
        if not _write(args.out, text, "fuzz"):
            return 2
    else:
        sys.stdout.write(text)
    print(f"recstate fuzz {args.vendor}: run {result.runs} of {args.runs} (seed {args.seed}) "
          f"broke an invariant: {'; '.join(result.broken)}", file=sys.stderr)
    return 1


def _simulate_file(args: argparse.Namespace) -> int:
    import tempfile

    from recstate.scenario import ScenarioError, load_scenario, run_scenario_file

    path = Path(args.vendor)
    try:
        scenario = load_scenario(path)
        target = OutputFile(args.out, force=args.force) if args.out is not None else None
    except ScenarioError as error:
        print(f"recstate simulate: {error}", file=sys.stderr)
        return 2
    except OutputError as error:
        print(f"recstate simulate: --out {error}", file=sys.stderr)
        return 2
    try:
        with tempfile.TemporaryDirectory() as tmp:
            # A fresh file of our own (never unlink what --out names: it may be anything).
            out = target.temp if target is not None else Path(tmp) / f"{path.stem}.jsonl"
            broken: list[str] = []
            if args.check:
                from recstate.fuzz import run_checked

                broken = run_checked(scenario, out=out, seed=args.seed)
            else:
                run_scenario_file(scenario, out=out, seed=args.seed)
            if args.html is not None:
                replay_args = argparse.Namespace(trace=out, strict=False, out=None, force=False,
                                                 skip_bad_lines=False, html=args.html,
                                                 json=args.json)
                status = _replay_html(replay_args, None)
            else:
                report = replay(out)
    except ScenarioError as error:
        if target is not None:
            target.discard()
        print(f"recstate simulate: {error}", file=sys.stderr)
        return 2
    except BaseException:
        if target is not None:
            target.discard()
        raise
    if not _commit_out(target):
        return 2
    if args.html is None:
        write_report(report, sys.stdout, as_json=args.json)
        status = report.exit_status
    if broken:
        print(f"recstate simulate: {path}: an invariant broke (the run stopped there): "
              + "; ".join(broken), file=sys.stderr)
        return 1
    return status


def _cmd_serve(args: argparse.Namespace) -> int:
    import os

    from recstate.serve import serve

    secret: str | None = None
    for flag, value in (("--bridge-hold", args.bridge_hold),
                        ("--timer-lease", args.timer_lease)):
        if not value > 0:
            print(f"recstate serve: {flag} is a duration in seconds > 0, got {value}",
                  file=sys.stderr)
            return 2
    if args.bridge or args.bridge_demo:
        secret = os.environ.get(BRIDGE_SECRET_ENV) or None
        if secret is None:
            print(f"recstate serve: --bridge{'-demo' if args.bridge_demo else ''} needs the "
                  f"tokens' secret in the environment "
                  f"variable {BRIDGE_SECRET_ENV} (at least 16 bytes, e.g. from "
                  "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`); it is "
                  "never taken from the command line", file=sys.stderr)
            return 2

    clock = None
    if args.virtual_clock is not None:
        from recstate.clock import ManualClock
        clock = ManualClock(args.virtual_clock)

    def ready(url: str) -> None:
        bridge = f", bridge at {url.replace('http', 'ws', 1)}/ws" if secret else ""
        if args.bridge_demo:
            bridge += f", bridge demo at {url}/demo/ (open token endpoint: not for production)"
        if clock is not None:
            bridge += f", virtual clock at {args.virtual_clock}"
        print(f"recstate serve: listening on {url} (store {safe_url(args.store)}){bridge}",
              flush=True)

    try:
        serve(args.store, host=args.host, port=args.port, ready=ready, bridge_secret=secret,
              bridge_demo=args.bridge_demo, bridge_hold=args.bridge_hold, clock=clock,
              timer_lease=args.timer_lease)
    except ValueError as error:  # a bridge secret too short (the message never shows it)
        print(f"recstate serve: {BRIDGE_SECRET_ENV}: {error}", file=sys.stderr)
        return 2
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
    if args.command in ("serve", "replay"):
        with gcfreeze.on():  # the process is this runtime: gc.freeze() after warm-up
            return _cmd_serve(args) if args.command == "serve" else _cmd_replay(args)
    if args.command == "machines":
        return _cmd_machines()
    if args.command == "diagram":
        return _cmd_diagram(args)
    if args.command == "timeline":
        return _cmd_timeline(args)
    if args.command == "coverage":
        return _cmd_coverage(args)
    if args.command == "paths":
        return _cmd_paths(args)
    if args.command == "fuzz":
        return _cmd_fuzz(args)
    return _cmd_simulate(args)


if __name__ == "__main__":
    raise SystemExit(main())
