"""Sessions end, and what a handling's context copy costs (issue 10, points 8 and 13).

    .venv/bin/python bench/sessions.py                    # 1M recordings, then the copy cost
    .venv/bin/python bench/sessions.py --count 200000     # fewer
    .venv/bin/python bench/sessions.py --no-retention     # the same with retention=None

*Memory over 1M recordings*: Tencent recordings (002/004) run through the real machine on a
ManualClock, one started every second of virtual time, each ``enterRoom``, start, ``:ok``,
three ``mediaData``, stop 60 s later, ``:ok`` with its file ID, ``SearchMedia:ok``, ``exitRoom``
(its own user and room: keys never repeat). With the default retention (one hour) a finished
session leaves after an hour, so about 3,600 are live at any time. Every 10% the live
sessions, the armed timers (heap entries included) and tracemalloc's current traced memory
are printed (``--tracemalloc``; otherwise the process's resident memory from /proc, which
costs nothing to read); the figures start after a warm-up of one retention period, so the
first is the steady state.

*Heartbeats* (issue 12, ``--heartbeat``): ``mediaData`` handled by 1,000 recording sessions
round-robin through a default ``Runtime`` (no tracer, no receivers, ``restore_context`` on),
best of the repeats, in µs an event; and *an idle recording session*: tracemalloc's traced
memory before and after bringing 5,000 more Tencent sessions to ``recording`` (enterRoom,
start, ``:ok``, one ``mediaData``: its watchdog and rollover armed), divided by the count:
the session, its context and file, its timers and heap entries, and what the inputs left in
them (keys, user names, the room and the record parameters). ``--against DIR`` runs the same
two measures on the recstate found in DIR (a checkout of main, say) in turn with this one,
each in its own process, and prints the ratios: the machine may be shared, so each side's
best run is taken and the runs alternate.

*Context copy*: ``mediaData`` handled by recording sessions round-robin (the hot event: an
internal transition that resets the watchdog), ``Runtime(restore_context=True)`` (a copy of
the context before each handling, :mod:`recstate.undo`) against ``False``, taking turns,
best of the repeats (no tracer, no receivers: the copy's share is the largest there).
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import math
import os
import subprocess
import sys
import time
import timeit
import tracemalloc

from recstate import ManualClock, Runtime
from recstate.events.tencent import (
    EnterRoom,
    ExitRoom,
    MediaData,
    RecordParam,
    RoomInfo,
    SearchMediaOk,
    StartOk,
    StartRecording,
    StopOk,
    StopRecording,
    VodFile,
    key_for,
)
from recstate.undo import clone

T0 = 1_700_000_000.0


def one_recording(rt: Runtime, clock: ManualClock, i: int) -> None:
    relation, room, user = 15000, 1 + i // 1000, f"u{i}"
    key = key_for(relation, room, user)
    info = RoomInfo(relationId=relation, roomId=room)
    start = clock.now()
    rt.dispatch(EnterRoom(relationId=relation, roomId=room, user=user))
    rt.dispatch(StartRecording(roomInfo=info, param=RecordParam(fileName=f"f{i}"), user=user))
    rt.dispatch(StartOk(session=key))
    for _ in range(3):
        rt.dispatch(MediaData(session=key, bytes=1000))
    pending.append((start + 60, key, info, user, i))


pending: list[tuple[float, str, RoomInfo, str, int]] = []


def finish(rt: Runtime, key: str, info: RoomInfo, user: str, i: int) -> None:
    rt.dispatch(StopRecording(roomInfo=info, user=user))
    rt.dispatch(StopOk(session=key, fileIds=(f"5285890{i:012d}",)))
    rt.dispatch(SearchMediaOk(session=key, files=(VodFile(fileId=f"5285890{i:012d}",
                                                          name=f"f{i}", url=f"https://v/{i}",
                                                          size=1),)))
    rt.dispatch(ExitRoom(session=key))


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory(count: int, retention: float | None, traced: bool) -> None:
    clock = ManualClock(T0)
    rt = Runtime(clock, retention=retention)
    warm = int(retention or 3600)
    step = max(1, count // 10)
    started = time.perf_counter()
    print(f"retention={retention}: {count:,} recordings, one a second of virtual time")
    print(f"{'recordings':>12} {'live sessions':>14} {'timers':>8} {'heap':>8} "
          f"{'traced MiB' if traced else 'RSS MiB':>11}")
    for i in range(count + warm):
        if i == warm and traced:
            gc.collect()
            tracemalloc.start()
        clock.set(T0 + i)
        rt.run_due()
        one_recording(rt, clock, i)
        while pending and pending[0][0] <= clock.now():
            _, key, info, user, n = pending.pop(0)
            finish(rt, key, info, user, n)
        done = i - warm + 1
        if i >= warm and (done % step == 0 or done == count):
            gc.collect()
            mib = tracemalloc.get_traced_memory()[0] / 2**20 if traced else _rss_mib()
            print(f"{done:>12,} {len(rt.sessions):>14,} {len(rt.timers):>8,} "
                  f"{len(rt.timers._heap):>8,} {mib:>11.1f}", flush=True)
    if traced:
        tracemalloc.stop()
    print(f"{time.perf_counter() - started:.0f} s")


def copy_cost(sessions: int, rounds: int, repeats: int) -> None:
    results: dict[bool, list[float]] = {True: [], False: []}
    runtimes = {}
    for restore in (True, False):
        clock = ManualClock(T0)
        rt = Runtime(clock, restore_context=restore)
        for i in range(sessions):
            one_recording(rt, clock, i)
        runtimes[restore] = rt
    pending.clear()
    events = [MediaData(session=key_for(15000, 1 + i // 1000, f"u{i}"), bytes=1)
              for i in range(sessions)] * rounds
    for _ in range(repeats):
        for restore in (True, False):
            dispatch = runtimes[restore].dispatch
            gc.collect()
            t = time.perf_counter()
            for ev in events:
                dispatch(ev)
            results[restore].append(len(events) / (time.perf_counter() - t))
    on, off = max(results[True]), max(results[False])
    print(f"mediaData round-robin over {sessions:,} recording sessions, {len(events):,} "
          f"events, best of {repeats}:")
    print(f"  restore_context=False {off / 1e3:8.1f}k ev/s  ({1e6 / off:.2f} µs an event)")
    print(f"  restore_context=True  {on / 1e3:8.1f}k ev/s  ({1e6 / on:.2f} µs an event)")
    print(f"  the copy: {1e6 / on - 1e6 / off:+.2f} µs an event ({on / off:.2f}×)")
    ctx = next(iter(runtimes[True].sessions.values())).context
    n = 200_000
    best = min(timeit.repeat(lambda: clone(ctx), number=n, repeat=repeats)) / n
    deep = min(timeit.repeat(lambda: copy.deepcopy(ctx), number=n // 50, repeat=3)) / (n // 50)
    print(f"  clone() of a recording TencentContext alone: {best * 1e6:.2f} µs "
          f"(copy.deepcopy: {deep * 1e6:.1f} µs)")


def heartbeat(sessions: int = 1000, rounds: int = 50, repeats: int = 7) -> float:
    """µs per ``mediaData`` round-robin over recording sessions, default Runtime, best repeat."""
    clock = ManualClock(T0)
    rt = Runtime(clock)
    for i in range(sessions):
        one_recording(rt, clock, i)
    pending.clear()
    events = [MediaData(session=key_for(15000, 1 + i // 1000, f"u{i}"), bytes=1)
              for i in range(sessions)] * rounds
    dispatch = rt.dispatch
    for ev in events[:sessions]:  # warm
        dispatch(ev)
    best = math.inf
    for _ in range(repeats):
        gc.collect()
        t = time.perf_counter()
        for ev in events:
            dispatch(ev)
        best = min(best, time.perf_counter() - t)
    return best / len(events) * 1e6


def idle_memory(count: int = 5000) -> tuple[float, float]:
    """(bytes, timers) per Tencent session in ``recording`` with its timers armed."""
    clock = ManualClock(T0)
    rt = Runtime(clock)

    def recording(i: int) -> None:
        relation, room, user = 15000, 1 + i // 1000, f"u{i}"
        key = key_for(relation, room, user)
        info = RoomInfo(relationId=relation, roomId=room)
        rt.dispatch(EnterRoom(relationId=relation, roomId=room, user=user))
        rt.dispatch(StartRecording(roomInfo=info, param=RecordParam(fileName=f"f{i}"),
                                   user=user))
        rt.dispatch(StartOk(session=key))
        rt.dispatch(MediaData(session=key, bytes=1000))

    for i in range(200):  # warm: engines, hooks, caches
        recording(i)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(200, 200 + count):
        recording(i)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / count, len(rt.timers) / len(rt.sessions)


def _measure(what: str) -> dict[str, float]:
    if what == "heartbeat":
        return {"us": heartbeat()}
    size, timers = idle_memory()
    return {"bytes": size, "timers": timers}


def against(other: str, runs: int) -> None:
    """This checkout's figures beside ``other``'s, alternating processes, best of ``runs``."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    got: dict[str, dict[str, list[dict[str, float]]]] = {"this": {}, "other": {}}
    for what in ("heartbeat", "memory"):
        for _ in range(runs):
            for side, root in (("other", other), ("this", here)):
                env = {**os.environ, "PYTHONPATH": root}
                out = subprocess.run([sys.executable, os.path.abspath(__file__), "--measure",
                                      what], env=env, check=True, capture_output=True,
                                     text=True, cwd=root).stdout
                got[side].setdefault(what, []).append(json.loads(out.splitlines()[-1]))
    beat = {side: min(r["us"] for r in got[side]["heartbeat"]) for side in got}
    mem = {side: min(r["bytes"] for r in got[side]["memory"]) for side in got}
    timers = got["this"]["memory"][0]["timers"]
    print(f"against {other} (best of {runs} alternating runs each; load average "
          f"{os.getloadavg()[0]:.2f} at the end, {os.cpu_count()} CPUs)")
    print(f"  mediaData in a recording session, tracing off: other {beat['other']:.2f} µs, "
          f"this {beat['this']:.2f} µs: {beat['other'] / beat['this']:.2f}× as fast")
    print(f"  an idle recording session with its {timers:.0f} timers: other "
          f"{mem['other']:.0f} B, this {mem['this']:.0f} B")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=1_000_000)
    p.add_argument("--no-retention", action="store_true")
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--tracemalloc", action="store_true", help="traced memory instead of RSS")
    p.add_argument("--heartbeat", action="store_true",
                   help="only the heartbeat and idle-session figures (issue 12)")
    p.add_argument("--against", metavar="DIR", help="compare with the recstate in DIR")
    p.add_argument("--runs", type=int, default=3, help="alternating runs for --against")
    p.add_argument("--measure", choices=("heartbeat", "memory"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.measure:
        print(json.dumps(_measure(args.measure)))
        return
    if args.against:
        against(args.against, args.runs)
        return
    if args.heartbeat:
        size, timers = idle_memory()
        print(f"mediaData in a recording session, tracing off: {heartbeat():.2f} µs an event")
        print(f"an idle recording session with its {timers:.0f} timers: {size:.0f} bytes")
        return
    print(f"load average {os.getloadavg()[0]:.2f} at start, {os.cpu_count()} CPUs")
    if not args.skip_memory:
        memory(args.count, None if args.no_retention else 3600.0, args.tracemalloc)
    copy_cost(1000, 50, 7)


if __name__ == "__main__":
    main()
