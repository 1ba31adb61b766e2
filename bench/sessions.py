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

*Context copy*: ``mediaData`` handled by recording sessions round-robin (the hot event: an
internal transition that resets the watchdog), ``Runtime(restore_context=True)`` (a copy of
the context before each handling, :mod:`recstate.undo`) against ``False``, taking turns,
best of the repeats (no tracer, no receivers: the copy's share is the largest there).
"""

from __future__ import annotations

import argparse
import copy
import gc
import os
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=1_000_000)
    p.add_argument("--no-retention", action="store_true")
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--tracemalloc", action="store_true", help="traced memory instead of RSS")
    args = p.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} at start, {os.cpu_count()} CPUs")
    if not args.skip_memory:
        memory(args.count, None if args.no_retention else 3600.0, args.tracemalloc)
    copy_cost(1000, 50, 7)


if __name__ == "__main__":
    main()
