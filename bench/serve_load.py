"""Load on ``recstate serve`` over loopback: N concurrent Tencent recordings (enterRoom,
start, start:ok) and their data heartbeats, posted to ``POST /events`` one event a request
(or ``--batch`` B: a JSON array of the next event of B recordings), from C client tasks (a
recording's events in order, by one task). Bounded in count (N x (3 + beats) events)
and in time (``--seconds``: sending stops there and what was done is reported).

Reports events/s, request latency p50/p99 (client side, loopback HTTP included), the serve
processes' resident memory at the end, and for Redis the script calls per event from
``INFO commandstats`` (the commits, and the per-session freshness reads, which a request
pipelines) and the round trips per event the serve processes' Redis clients counted
(``recstate_store_round_trips``: a script call or a pipeline is one): SQLite with one
process, Redis with one and with two processes (the client sends each request to the next
process in turn, as a load balancer would: a session moves between processes all the time,
the worst case).

    .venv/bin/python bench/serve_load.py [--recordings 10000] [--beats 3] [--concurrency 64]
                                         [--seconds 300] [--only sqlite|redis1|redis2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis

REDIS = "redis://127.0.0.1:6379/0"


def start_serve(url: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "recstate.cli", "serve", "--store", url,
                             "--port", "0"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on " not in line:
        proc.kill()
        raise RuntimeError(f"recstate serve did not start: {line!r}")
    return proc, line.split("listening on ", 1)[1].split()[0]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def events_of(i: int, beats: int, switch: bool = False) -> list[list[dict[str, Any]]]:
    """Recording i's events: phase 0 (enter, start, start:ok), then one heartbeat a phase;
    each with an id (a request sent again is applied once). ``switch``: then a last phase
    in which the user stops and records in a second room (stop, stop:ok, enter, start,
    start:ok): the start reads the busy-users entry the stop changed, which a process that
    handled neither holds stale (a shared-entry race)."""
    n = iter(range(1000))

    def ev(key: str, name: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"vendor": "tencent", "name": name, "session": key,
                               "id": f"load-{i}-{next(n)}"}
        if data is not None:
            out["data"] = data
        return out

    def begin(key: str, room: dict[str, int]) -> list[dict[str, Any]]:
        return [ev(key, "enterRoom", {**room, "roomType": "multi", "user": f"u{i}"}),
                ev(key, "requestMultiVideoRecorderStart",
                   {"roomInfo": room, "param": {"fileName": f"load-{i}", "classId": 1}}),
                ev(key, "requestMultiVideoRecorderStart:ok", {})]
    key, room = f"5000:{i}:u{i}", {"relationId": 5000, "roomId": i}
    phases = [begin(key, room), *([ev(key, "mediaData")] for _ in range(beats))]
    if switch:
        other, second = f"5001:{i}:u{i}", {"relationId": 5001, "roomId": i}
        phases.append([ev(key, "requestMultiVideoRecorderStop", {"roomInfo": room}),
                       ev(key, "requestMultiVideoRecorderStop:ok", {}),
                       *begin(other, second)])
    return phases


async def drive(urls: list[str], recordings: int, beats: int, concurrency: int,
                seconds: float, batch: int, switch: bool = False
                ) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    sent = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency * 2,
                          max_keepalive_connections=concurrency * 2)
    clients = [httpx.AsyncClient(base_url=u, limits=limits, timeout=60) for u in urls]
    turn = 0

    async def post(events: list[dict[str, Any]]) -> None:
        nonlocal sent, turn
        client = clients[turn % len(clients)]
        turn += 1
        now = time.time()
        body = orjson.dumps([{**event, "t": now} for event in events])
        t0 = time.perf_counter()
        try:
            answer = await client.post("/events", content=body)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            # a kept-alive connection the server had just closed: send again (the event's
            # id makes a second delivery harmless, which is what ids are for)
            answer = await client.post("/events", content=body)
        latencies.append(time.perf_counter() - t0)
        if answer.status_code != 200:
            raise RuntimeError(f"{answer.status_code}: {answer.text}")
        sent += len(events)

    async def task(k: int) -> None:
        mine = list(range(k, recordings, concurrency))
        plans = {i: events_of(i, beats, switch) for i in mine}
        for phase in range(len(plans[mine[0]]) if mine else 0):
            for step in range(len(plans[mine[0]][phase]) if mine else 0):
                # one request: the next event of up to `batch` recordings of this task
                for at in range(0, len(mine), batch):
                    if time.monotonic() > deadline:
                        return
                    await post([plans[i][phase][step] for i in mine[at:at + batch]])

    started = time.perf_counter()
    await asyncio.gather(*(task(k) for k in range(concurrency)))
    elapsed = time.perf_counter() - started
    for c in clients:
        await c.aclose()
    return latencies, sent, elapsed


def commandstats(client: Any) -> dict[str, int]:
    return {k.removeprefix("cmdstat_"): int(v["calls"])
            for k, v in client.info("commandstats").items()}


def round_trips(url: str) -> float:
    """recstate_store_round_trips of one serve process (its Redis client counts them)."""
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith("recstate_store_round_trips "):
            return float(line.split()[1])
    return 0.0


def timers_fired(url: str) -> float:
    """recstate_timers_fired_total of one serve process, every timer."""
    return sum(float(line.split()[-1])
               for line in httpx.get(f"{url}/metrics").text.splitlines()
               if line.startswith("recstate_timers_fired_total{"))


def conflicts(url: str) -> dict[str, float]:
    """recstate_conflicts_total{kind} of one serve process: races it lost (a session moved
    under it, or a shared entry its handling read)."""
    out: dict[str, float] = {}
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith("recstate_conflicts_total{"):
            kind = line.split('kind="', 1)[1].split('"', 1)[0]
            out[kind] = out.get(kind, 0.0) + float(line.split()[-1])
    return out


def run(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp())
    processes = 2 if kind == "redis2" else 1
    prefix = f"load-{uuid.uuid4().hex}"
    url = f"sqlite:///{tmp}/load.db" if kind == "sqlite" else f"{REDIS}?prefix={prefix}"
    load_before = os.getloadavg()[0]
    served = [start_serve(url) for _ in range(processes)]
    client = redis.Redis.from_url(REDIS)
    before = commandstats(client)
    try:
        latencies, sent, elapsed = asyncio.run(drive([u for _, u in served], args.recordings,
                                                     args.beats, args.concurrency,
                                                     args.seconds, args.batch,
                                                     args.switch))
        after = commandstats(client)
        memory = [rss_mb(p.pid) for p, _ in served]
        trips = sum(round_trips(u) for _, u in served)
        fired = sum(timers_fired(u) for _, u in served)
        lost: dict[str, float] = {}
        for _, u in served:
            for k, n in conflicts(u).items():
                lost[k] = lost.get(k, 0.0) + n
    finally:
        for p, _ in served:
            p.terminate()
            p.wait(30)
        if kind != "sqlite":
            for key in client.scan_iter(match=f"{prefix}:*", count=1000):
                client.delete(key)
    calls = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    latencies.sort()
    row: dict[str, Any] = {
        "store": {"sqlite": "SQLite, 1 process", "redis1": "Redis, 1 process",
                  "redis2": "Redis, 2 processes"}[kind],
        "events": sent, "seconds": elapsed, "rate": sent / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "rss": memory, "load": (load_before, os.getloadavg()[0])}
    if kind != "sqlite":
        row["scripts"] = calls.get("evalsha", 0) / sent
        row["trips"] = trips / sent
        row["fired"] = fired
        row["per_handling"] = trips / (sent + fired)
        row["conflicts"] = lost
        # each pass of a fleet timer task pipelines a claim script per partition (16), each
        # ending with a ZRANGE (the partition's earliest score): the ZRANGEs count the passes
        row["passes"] = calls.get("zrange", 0) / 16
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recordings", type=int, default=10_000)
    parser.add_argument("--beats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--only", choices=("sqlite", "redis1", "redis2"))
    parser.add_argument("--batch", type=int, default=1,
                        help="events a request (JSON array; one per recording)")
    parser.add_argument("--switch", action="store_true",
                        help="then each user stops and records in a second room (5 events "
                        "more a recording; its start reads the busy-users entry the stop "
                        "changed)")
    args = parser.parse_args()
    kinds = [args.only] if args.only else ["sqlite", "redis1", "redis2"]
    print(f"{args.recordings} recordings x (3 + {args.beats} heartbeats"
          f"{' + a second room (5)' if args.switch else ''}), "
          f"{args.concurrency} client tasks, {args.batch} events a request, "
          f"at most {args.seconds:g} s each; "
          f"{os.cpu_count()} cores")
    print("| store | events | events/s | p50 ms | p99 ms | RSS MB (each process) | "
          "script calls/event (commandstats) | round trips/event (client) | timers fired | "
          "round trips/handling (events + timers) | races lost (conflicts by kind) | "
          "timer passes (ZRANGE calls / 16) | load average (1 min) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for kind in kinds:
        r = run(kind, args)
        lost = ", ".join(f"{k} {n:.0f}" for k, n in sorted(r.get("conflicts", {}).items())
                         ) or ("none" if "conflicts" in r else "")
        print(f"| {r['store']} | {r['events']} | {r['rate']:.0f} | {r['p50']:.1f} | "
              f"{r['p99']:.1f} | {', '.join(f'{m:.0f}' for m in r['rss'])} | "
              f"{r.get('scripts', float('nan')):.2f} | {r.get('trips', float('nan')):.3f} | "
              f"{r.get('fired', float('nan')):.0f} | {r.get('per_handling', float('nan')):.3f} | "
              f"{lost} | {r.get('passes', float('nan')):.0f} | "
              f"{r['load'][0]:.1f} → {r['load'][1]:.1f} |",
              flush=True)


if __name__ == "__main__":
    main()
