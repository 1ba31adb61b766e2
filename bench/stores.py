"""What a store costs on the replay bench: the mixed workload (``recstate.workload``: the Tencent
200-minute recording, a NetEase call with its callback, S more recordings with a heartbeat every
30 s) replayed

- without a store (today's in-memory runtime), with ``memory:``, with SQLite (a real file in a
  temporary folder, WAL, group commits), with Redis (127.0.0.1:6379, a unique prefix);
- and with ``--workers 1`` and ``--workers 2`` on Redis (the CLI, timed end to end: process
  start-ups, feeding the streams and lease waits included).

µs per input line (best of the repeats, run round robin: every configuration once a repeat),
wall clock and this process's CPU time (steadier on a
shared machine; it leaves out what the process waits for: SQLite's fsyncs at checkpoints, Redis'
answers), and for Redis the commands the server executed per
handled input (``INFO commandstats`` before and after; a handled input is one commit: an input
or a timer falling due) and the round trips per handled input (script calls, plus reads,
acknowledgements and lease renewals each counted once, since a pipeline or a script is one
round trip; counted from the same stats).

    .venv/bin/python bench/stores.py [--sessions 200] [--repeats 3] [--markdown] [--no-workers]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import redis

from recstate.replay import replay
from recstate.stores import MemoryStore, SQLiteStore
from recstate.stores.redis import RedisStore
from recstate.workload import write_mixed

URL = "redis://127.0.0.1:6379/0"


def commandstats(client: Any) -> dict[str, int]:
    stats = client.info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in after
            if after.get(k, 0) - before.get(k, 0) > 0}


class RoundTrips:
    """Counts the client's round trips: redis-py sends each request (a command, a script
    call, a whole pipeline or MULTI/EXEC) with one ``send_packed_command``."""

    def __init__(self) -> None:
        self.count = 0
        self._original = redis.connection.AbstractConnection.send_packed_command

    def __enter__(self) -> RoundTrips:
        original = self._original
        counter = self

        def counting(conn: Any, command: Any, check_health: bool = True) -> None:
            counter.count += 1
            original(conn, command, check_health)
        redis.connection.AbstractConnection.send_packed_command = counting  # type: ignore
        return self

    def __exit__(self, *exc: object) -> None:
        redis.connection.AbstractConnection.send_packed_command = self._original  # type: ignore


def workers_in_process(trace: Path, workers: int) -> tuple[dict[str, int], int, int]:
    """Feed and work the trace with ``workers`` Worker objects in threads of this process
    (for counting: the timing is the CLI's): commands, round trips, handled inputs."""
    import threading

    from recstate.replay import claim_store
    from recstate.workers import Worker, feed

    client = redis.Redis.from_url(URL)
    url = f"{URL}?prefix=bench-{uuid.uuid4().hex}"
    store = RedisStore(url, journal=True)
    claim_store(store, str(trace))
    feed(store, trace, until=None, skip_bad_lines=False)
    before = commandstats(client)
    with RoundTrips() as trips:
        threads = [threading.Thread(target=Worker(RedisStore(url, journal=True), i,
                                                  workers).run) for i in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    calls = delta(before, commandstats(client))
    handled = count_commits(store)
    store.drop()
    return calls, trips.count, handled


def count_commits(store: RedisStore) -> int:
    """Handled inputs: the sum of the sessions' versions (one per commit) plus the inputs
    that reached no session."""
    total = 0
    for row in store.load().sessions:
        total += row.version
    return total + len(store.load().applied)


def run(sessions: int, repeats: int, workers_too: bool = True) -> list[dict[str, Any]]:
    tmp = Path(tempfile.mkdtemp())
    trace = write_mixed(tmp / "workload.jsonl", sessions)
    lines = sum(1 for x in trace.read_text().splitlines() if x.startswith("{"))
    reference = replay(trace).dumps()
    client = redis.Redis.from_url(URL)
    rows: list[dict[str, Any]] = []

    def sqlite() -> Any:
        path = tmp / f"{uuid.uuid4().hex}.db"
        return lambda: replay(trace, store=SQLiteStore(path, journal=True))

    stats: dict[str, Any] = {}

    def on_redis() -> Any:
        store = RedisStore(f"{URL}?prefix=bench-{uuid.uuid4().hex}", journal=True)

        def go() -> Any:
            before = commandstats(client)
            with RoundTrips() as trips:
                report = replay(trace, store=store)
            stats["calls"] = delta(before, commandstats(client))
            stats["trips"] = trips.count
            stats["handled"] = count_commits(store)
            store.drop()
            return report
        return go

    # Round robin: each repeat runs every configuration once, so that all see the same
    # conditions on a shared machine; the best of each is kept.
    configs: list[tuple[str, Any]] = [
        ("none (in-memory runtime)", lambda: lambda: replay(trace)),
        ("memory:", lambda: lambda: replay(trace, store=MemoryStore(journal=True))),
        ("sqlite (WAL, group commit)", sqlite),
        ("redis (one process)", on_redis)]
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for _ in range(repeats):
        for name, make in configs:
            go = make()
            started, started_cpu = time.perf_counter(), time.process_time()
            got = go()
            wall[name] = min(wall.get(name, 1e9), time.perf_counter() - started)
            cpu[name] = min(cpu.get(name, 1e9), time.process_time() - started_cpu)
            assert got.dumps() == reference
    base, base_cpu = wall[configs[0][0]], cpu[configs[0][0]]
    for name, _ in configs:
        row: dict[str, Any] = {"store": name, "us": wall[name] / lines * 1e6,
                               "cpu": cpu[name] / lines * 1e6, "xcpu": cpu[name] / base_cpu}
        if name != configs[0][0]:
            row["x"] = wall[name] / base
        if name.startswith("redis"):
            handled = stats["handled"]
            row.update(commands=sum(stats["calls"].values()) / handled,
                       rtt=stats["trips"] / handled, calls=stats["calls"])
        rows.append(row)

    for workers in ((1, 2) if workers_too else ()):
        prefix = f"bench-{uuid.uuid4().hex}"
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "recstate.cli", "replay", "--json",
                              str(trace), "--store", f"{URL}?prefix={prefix}", "--workers",
                              str(workers)], capture_output=True, check=True)
        seconds = time.perf_counter() - started
        RedisStore(f"{URL}?prefix={prefix}").drop()
        assert out.stdout.rstrip(b"\n") == reference
        calls, trips, handled = workers_in_process(trace, workers)
        rows.append({"store": f"redis --workers {workers} (CLI, end to end)",
                     "us": seconds / lines * 1e6, "x": seconds / base,
                     "commands": sum(calls.values()) / handled, "rtt": trips / handled,
                     "calls": calls})
    for row in rows:
        row["lines"] = lines
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    out = ["| replay with | µs per input line | × no store | CPU µs per input line | CPU × "
           "no store | Redis commands per handled input | round trips per handled input |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        x = f"{r['x']:.2f}×" if "x" in r else "1×"
        cpu = f"{r['cpu']:.0f}" if "cpu" in r else "-"
        xcpu = f"{r['xcpu']:.2f}×" if "xcpu" in r else "-"
        cmds = f"{r['commands']:.2f}" if "commands" in r else "-"
        rtt = f"{r['rtt']:.2f}" if "rtt" in r else "-"
        out.append(f"| {r['store']} | {r['us']:.0f} | {x} | {cpu} | {xcpu} | {cmds} | {rtt} |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--no-workers", action="store_true",
                        help="leave out the --workers rows (the CLI end to end: slow)")
    args = parser.parse_args()
    rows = run(args.sessions, args.repeats, workers_too=not args.no_workers)
    print(f"{rows[0]['lines']} input lines, {args.sessions} extra recordings")
    print(markdown(rows) if args.markdown else "\n".join(str(r) for r in rows))


if __name__ == "__main__":
    main()
