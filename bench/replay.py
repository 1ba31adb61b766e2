"""Replay of a service's day: lines/s, µs per stage and peak RSS beside the floor (issue 12).

    .venv/bin/python bench/replay.py                 # 1,000 x 4 h and 100 x 4 h Tencent traces
    .venv/bin/python bench/replay.py --small-only    # only the 10x smaller one (development)
    .venv/bin/python bench/replay.py --long          # also the 10x longer memory check
    .venv/bin/python bench/replay.py --long-only     # only that one
    .venv/bin/python bench/replay.py --long-only --denser   # 10x the lines by heartbeats

The trace: ``--recordings`` Tencent recordings of ``--hours`` each, a ``mediaData`` every 3 s
(the full trace a live run logs: inputs and outputs), starts spread over the first hour. It
is made deterministically from one recording that the Tencent simulator runs (a scenario, in
virtual time): each recording is that one with its own user, room and session, its times
moved on by whole seconds (exact in a double at these magnitudes), merged in time order. Every
replay checks that nothing mismatched (the trace is what the machines do).

Each figure is taken in a fresh process (``python -c`` on this file's ``_child``), its peak
RSS its ``VmHWM`` at the end:

- *floor*: read the file line by line, ``orjson.loads`` each, and a dict-table FSM step per
  line (state by session, next state by (state, name)): what any replay must do at least;
- *replay*: ``recstate.replay.replay(path)``, and with ``out=`` a file (the ``--out``);
- *stages* (CPU µs per line, on the first 200,000 lines, in one process): ``parse_line``,
  ``parse_event`` of those records, ``Runtime.dispatch`` of the events (no tracer: the full
  path, not the replay's data-only one), and ``Record.dumps``.

Rates are lines per CPU second of the child (``time.process_time``): on a shared machine the
wall clock measures the load. The ratios to the floor are what count.

The 10x longer trace (``--long``) is not written to disk: a child process generates it into
a FIFO that the replay reads, so its memory is the replay's alone. It is the same recordings
10x as long (more files each), or with ``--denser`` heartbeats 10x as often (the same files
and outputs: 10x the lines alone).
Generated traces live in a temporary directory, removed at the end.
"""

from __future__ import annotations

import argparse
import filecmp
import heapq
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_700_000_000.0
USER, ROOM = "zzuser", 987_654  # the template recording's, replaced per recording
KEY = f"15000:{ROOM}:{USER}"


# ---- the trace ---------------------------------------------------------------------------------
def template(hours: float, interval: float = 3.0) -> list[dict[str, Any]]:
    """One recording's full trace, from the Tencent simulator in virtual time."""
    from recstate.scenario import parse_scenario, run_scenario_file, scenario_text

    room = {"relationId": 15000, "roomId": ROOM}
    steps = [
        {"at": 0, "event": "enterRoom", "data": {**room, "user": USER}},
        {"at": 0, "event": "requestMultiVideoRecorderStart",
         "data": {"roomInfo": room, "user": USER, "param": {"fileName": "r"}}},
        {"at": hours * 3600, "event": "requestMultiVideoRecorderStop",
         "data": {"roomInfo": room, "user": USER}},
    ]
    text = scenario_text({"vendor": "tencent", "until": hours * 3600 + 5,
                          "simulator": {"data_interval": interval}, "steps": steps})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "one.jsonl"
        run_scenario_file(parse_scenario(text, "toml"), out=path)
        return [orjson.loads(line) for line in path.read_bytes().splitlines()]


_SLOT = re.compile(rb'"@@(T|I|U|R|K)(\d*)@@"')


def _slotted(value: Any, slots: list[Any]) -> Any:
    """``value`` with what differs between recordings as ``"@@<kind><n>@@"`` strings."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in ("start", "end") and isinstance(v, float):
                slots.append(v)
                out[k] = f"@@T{len(slots) - 1}@@"
            elif k == "createTime" and isinstance(v, str):
                slots.append(datetime.fromisoformat(v.replace("Z", "+00:00")))
                out[k] = f"@@I{len(slots) - 1}@@"
            else:
                out[k] = _slotted(v, slots)
        return out
    if isinstance(value, list):
        return [_slotted(v, slots) for v in value]
    if value == USER:
        return "@@U@@"
    if value == KEY:
        return "@@K@@"
    if value == ROOM and type(value) is int:
        return "@@R@@"
    return value


def compile_template(lines: list[dict[str, Any]]) -> list[tuple[float, int, list[Any]]]:
    """Each line as (t, rank, parts): literal bytes, and (kind, value) for what each
    recording fills in (a time moved on, its user, room or session). ``rank`` 0: an output of
    a timer (an output line at a later time than the line before it, and the outputs right
    after it), which a live run logs before the inputs of that instant; 1 otherwise."""
    compiled = []
    rank, previous = 1, None
    for record in lines:
        if "kind" not in record:
            rank = 1
        elif previous is None or previous < record["t"]:
            rank = 0
        previous = record["t"]
        slots: list[Any] = []
        shaped = _slotted({k: v for k, v in record.items() if k != "t"}, slots)
        shaped["t"] = "@@T@@"
        raw = orjson.dumps(shaped, option=orjson.OPT_SORT_KEYS) + b"\n"
        parts: list[Any] = []
        at = 0
        for match in _SLOT.finditer(raw):
            parts.append(raw[at:match.start()])
            kind, n = match[1].decode(), match[2].decode()
            value = record["t"] if kind == "T" and not n else slots[int(n)] if n else None
            parts.append((kind, value))
            at = match.end()
        parts.append(raw[at:])
        compiled.append((record["t"], rank, parts))
    return compiled


def recording(compiled: list[tuple[float, int, list[Any]]], i: int, count: int
              ) -> Iterator[tuple[float, int, int, int, bytes]]:
    """Recording ``i`` of ``count``: (t, rank, i, n, line) in the template's order, moved on by
    whole seconds (exact for a double of this size); ``i`` -1: the template itself."""
    user, room = (f"u{i:05d}", i + 1) if i >= 0 else (USER, ROOM)
    shift = (i * 3600) // count if i >= 0 else 0
    fill = {"U": orjson.dumps(user), "R": str(room).encode(),
            "K": orjson.dumps(f"15000:{room}:{user}")}
    for n, (t, rank, parts) in enumerate(compiled):
        out = []
        for part in parts:
            if type(part) is bytes:
                out.append(part)
                continue
            kind, value = part
            if kind == "T":
                out.append(repr(value + shift).encode())
            elif kind == "I":
                when = (value + timedelta(seconds=shift)).astimezone(UTC)
                out.append(f'"{when:%Y-%m-%dT%H:%M:%SZ}"'.encode())
            else:
                out.append(fill[kind])
        yield t + shift, rank, i, n, b"".join(out)


def generate(out: Any, recordings: int, hours: float, interval: float = 3.0) -> int:
    """Write the merged trace to the binary file ``out``; returns its line count."""
    lines = template(hours, interval)
    compiled = compile_template(lines)
    first = b"".join(line for *_, line in recording(compiled, -1, recordings))
    assert first == b"".join(orjson.dumps(r, option=orjson.OPT_SORT_KEYS) + b"\n"
                             for r in lines), "the compiled template gives the simulator's lines"
    streams = [recording(compiled, i, recordings) for i in range(recordings)]
    count = 0
    chunk: list[bytes] = []
    for *_, line in heapq.merge(*streams):
        chunk.append(line)
        if len(chunk) >= 4096:
            out.write(b"".join(chunk))
            count += len(chunk)
            chunk.clear()
    out.write(b"".join(chunk))
    return count + len(chunk)


# ---- what a child process measures -------------------------------------------------------------
def _floor(path: str) -> dict[str, Any]:
    """Read, orjson.loads, one dict-table FSM step per line."""
    table = {("idle", "enterRoom"): "idle", ("idle", "requestMultiVideoRecorderStart"): "starting",
             ("starting", "requestMultiVideoRecorderStart:ok"): "recording",
             ("recording", "mediaData"): "recording",
             ("recording", "requestMultiVideoRecorderStop"): "stopping",
             ("stopping", "requestMultiVideoRecorderStop:ok"): "stopped"}
    states: dict[str, str] = {}
    lines = 0
    loads = orjson.loads
    with open(path, "rb") as handle:
        for raw in handle:
            obj = loads(raw)
            lines += 1
            if "kind" in obj:
                continue
            key = obj.get("session")
            state = states.get(key, "idle")
            states[key] = table.get((state, obj["name"]), state)
    return {"lines": lines}


def _replay(path: str, out: str | None) -> dict[str, Any]:
    from recstate.replay import replay

    report = replay(path, out=out)
    return {"lines": report.lines, "events": report.events, "sessions": len(report.sessions),
            "mismatches": len(report.mismatches), "violations": report.violations,
            "status": report.exit_status}


def _stages(path: str, limit: int = 200_000) -> dict[str, Any]:
    from recstate.clock import ManualClock
    from recstate.events import parse_event
    from recstate.runtime import Runtime
    from recstate.trace import parse_line

    with open(path, "rb") as handle:
        raw = [handle.readline() for _ in range(limit)]
    raw = [r for r in raw if r]
    texts = [r.decode() for r in raw]
    t = time.process_time()
    records = [parse_line(x) for x in texts]
    parse_s = time.process_time() - t
    inputs = [r for r in records if r is not None and r.kind == "event"]
    t = time.process_time()
    events = [parse_event(r.vendor, r.name, r.t, r.data, r.session, id=r.id) for r in inputs]
    event_s = time.process_time() - t
    runtime = Runtime(ManualClock(inputs[0].t), retention=None)
    t = time.process_time()
    for record, ev in zip(inputs, events, strict=True):
        runtime.advance(record.t)
        runtime.dispatch(ev, line=record.line, data=record.data)
    dispatch_s = time.process_time() - t
    every = [r for r in records if r is not None]
    t = time.process_time()
    for r in every:
        r.dumps()
    dumps_s = time.process_time() - t
    return {"parse_line": parse_s / len(texts) * 1e6, "parse_event": event_s / len(inputs) * 1e6,
            "dispatch": dispatch_s / len(inputs) * 1e6, "dumps": dumps_s / len(every) * 1e6}


def _peak_rss_mb() -> float:
    """This process's peak RSS since its exec (``VmHWM``; ``ru_maxrss`` would count the
    parent's memory that the fork copied before the exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(what: str, path: str, out: str | None = None) -> None:
    t, cpu = time.perf_counter(), time.process_time()
    if what == "floor":
        result = _floor(path)
    elif what == "replay":
        result = _replay(path, out)
    else:
        result = _stages(path)
    result["seconds"] = time.perf_counter() - t
    result["cpu"] = time.process_time() - cpu
    result["rss_mb"] = _peak_rss_mb()
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


def measure(what: str, path: Path, out: Path | None = None) -> dict[str, Any]:
    """Run ``what`` in a fresh Python; its result, with its peak RSS (MB, ``VmHWM``)."""
    args = [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
            "import replay; replay._child(*sys.argv[2:])", str(Path(__file__).parent), what,
            str(path)] + ([str(out)] if out is not None else [])
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, cwd=ROOT)
    assert proc.stdout is not None
    text = proc.stdout.read()
    if proc.wait() != 0:
        raise SystemExit(f"{what} on {path} failed ({proc.returncode})")
    result: dict[str, Any] = orjson.loads(text)
    return result


# ---- the run -------------------------------------------------------------------------------------
def run_size(tmp: Path, recordings: int, hours: float) -> list[str]:
    path = tmp / f"trace-{recordings}x{hours:g}h.jsonl"
    t = time.perf_counter()
    with path.open("wb") as handle:
        lines = generate(handle, recordings, hours)
    made = time.perf_counter() - t
    floor = measure("floor", path)
    plain = measure("replay", path)
    out = tmp / "out.jsonl"
    with_out = measure("replay", path, out)
    same = filecmp.cmp(out, path, shallow=False)
    out.unlink()
    stages = measure("stages", path)
    path.unlink()
    rows = [f"### {recordings:,} recordings x {hours:g} h: {lines:,} lines "
            f"({made:.0f} s to generate)", "",
            "| run | lines per CPU second | of the floor | peak RSS (MB) | CPU s | wall s |",
            "|---|---:|---:|---:|---:|---:|"]
    for name, r in (("floor: read + orjson + dict FSM", floor), ("replay", plain),
                    ("replay --out", with_out)):
        rate = r["lines"] / r["cpu"]
        rows.append(f"| {name} | {rate:,.0f} | {rate / (floor['lines'] / floor['cpu']):.1%} "
                    f"| {r['rss_mb']:.0f} | {r['cpu']:.1f} | {r['seconds']:.1f} |")
    for name, r in (("replay", plain), ("replay --out", with_out)):
        rows.append("")
        rows.append(f"{name}: {r['events']:,} events, {r['sessions']:,} sessions, "
                    f"{r['mismatches']} mismatches, {r['violations']} violations, exit "
                    f"{r['status']}")
    rows.append("")
    rows.append(f"--out is the trace replayed, byte for byte: {same}")
    rows.append("")
    rows.append("Lines per CPU second (the child's process_time): the machine is shared, so "
                "wall seconds say more about the load than about the code.")
    rows.append("")
    rows.append("Stages, µs per line (first 200,000 lines, one process): "
                + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()
                            if k not in ("seconds", "cpu", "rss_mb")))
    return rows


def run_long(tmp: Path, recordings: int, hours: float, interval: float = 3.0) -> list[str]:
    """The replay of a trace generated into a FIFO by another process (not on disk)."""
    fifo = tmp / "long.fifo"
    os.mkfifo(fifo)
    writer = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); import replay; "
         "replay.generate(open(sys.argv[2], 'wb'), int(sys.argv[3]), float(sys.argv[4]), "
         "float(sys.argv[5]))", str(Path(__file__).parent), str(fifo), str(recordings),
         str(hours), str(interval)], cwd=ROOT)
    result = measure("replay", fifo)
    writer.wait()
    rate = result["lines"] / result["cpu"]
    return [f"### {recordings:,} recordings x {hours:g} h, a heartbeat every {interval:g} s, "
            f"streamed through a FIFO: {result['lines']:,} lines", "",
            f"replay: {rate:,.0f} lines per CPU second, peak RSS {result['rss_mb']:.0f} MB, "
            f"{result['mismatches']} mismatches, exit {result['status']}"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--recordings", type=int, default=1000)
    p.add_argument("--hours", type=float, default=4.0)
    p.add_argument("--small-only", action="store_true", help="only the 10x smaller trace")
    p.add_argument("--long", action="store_true", help="also the 10x longer memory check")
    p.add_argument("--long-only", action="store_true", help="only the 10x longer one")
    p.add_argument("--denser", action="store_true",
                   help="the 10x longer trace by heartbeats 10x as often (the same recordings, "
                   "files and outputs), not recordings 10x as long")
    args = p.parse_args()
    load = os.getloadavg()
    print(f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"CPython {platform.python_version()}; load average {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f} at start")
    with tempfile.TemporaryDirectory(prefix="recstate-bench-replay-") as tmp:
        sizes = [(args.recordings // 10, args.hours)]
        if not args.small_only:
            sizes.append((args.recordings, args.hours))
        if args.long_only:
            sizes, args.long = [], True
        for recordings, hours in sizes:
            print()
            print("\n".join(run_size(Path(tmp), recordings, hours)), flush=True)
        if args.long:
            print()
            if args.denser:
                print("\n".join(run_long(Path(tmp), args.recordings, args.hours, 0.3)))
            else:
                print("\n".join(run_long(Path(tmp), args.recordings, args.hours * 10)))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n(peak RSS of this process, which generates the traces: {peak:.0f} MB)")


if __name__ == "__main__":
    main()
