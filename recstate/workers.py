"""Many workers on one Redis: ``recstate replay TRACE --store redis://... --workers N``.

The parent reads the trace once and appends each input to its partition's stream (the
partition of its session's partition key: a session's inputs land in one stream, in order),
then an end marker to every stream, then starts N worker processes that coordinate only
through Redis:

- a worker owns a partition under a lease (``SET PX``, renewed while it works); it prefers
  the partitions ``p % N == i`` and takes any other whose lease expired (its owner died);
- a partition is consumed through the consumer group ``recstate``: the owner first takes
  every entry delivered and not acknowledged (``XAUTOCLAIM``: what a dead owner, or its own
  previous life, had in hand), then new ones (``XREADGROUP``), and acknowledges a batch once
  its handlings are committed;
- each partition has its own runtime on its own virtual clock (entries carry their trace
  time; due timers fire before the next entry, at their due times), loading the partition's
  sessions from the store when it takes the partition over;
- every handling is one optimistic commit (the session's version must not have moved), so
  an owner that lost its lease unknowingly (a zombie) cannot overwrite the new owner's work:
  its commit fails and it lets the partition go. An entry handled and committed but not yet
  acknowledged is delivered again to the next owner and skipped by its delivery key (its
  trace line), silently.

A worker restarted with the same index (``w<i>``) takes its partitions back at once: the
lease names it. The report is built from the store's sessions and journal, as the
single-process ``replay --store`` builds it, and equals it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from recstate.clock import ManualClock
from recstate.errors import OutputError, TraceError
from recstate.events import Event, parse_event
from recstate.replay import Report, claim_store, compare_records, from_journal, session_reports
from recstate.runtime import Runtime
from recstate.stores.base import Commit, Conflict, partition_of
from recstate.stores.redis import RedisStore
from recstate.trace import OUTPUT_KINDS, OutputFile, Record, TraceReader, TraceWriter
from recstate.vendors import get_vendor, vendor_names

__all__ = ["Worker", "replay_with_workers"]

#: Seconds a partition's lease lasts without renewal: how long a dead worker's partitions
#: wait before another worker takes them.
LEASE = 5.0
#: The environment variable a worker reads its store's URL from (never its command line).
URL_ENV = "RECSTATE_WORKER_STORE"
NO_LINE = b""


def _partition(store: RedisStore, ev: Event) -> tuple[int, list[Event]]:
    """The partition of an input, and the events to send (a split input: one per part)."""
    key = ev.session
    parts = [ev]
    try:
        vendor = get_vendor(ev.vendor)
        if key is None and vendor.split is not None:
            split = list(vendor.split(ev))
            if len(split) > 1:
                return -1, split
        if key is None:
            key = vendor.session_key(ev)
        if key is None:
            return 0, parts  # unroutable: partition 0 reports it
        pkey = vendor.partition_key(key) if vendor.partition_key is not None else key
    except Exception:  # a routing rule that raises: the worker reports it
        return 0, parts
    return partition_of(pkey, store.partitions), parts


def feed(store: RedisStore, trace: Path, *, until: float | None,
         skip_bad_lines: bool) -> tuple[Report, list[Record]]:
    """Append the trace's inputs to the partitions' streams (once per store), and count
    what the report counts. Returns the report so far and the logged output lines."""
    source = str(trace)
    reader = TraceReader(trace, skip_bad=skip_bad_lines, vendors=vendor_names())
    report = Report(until=until)
    logged: list[Record] = []
    fed = store.meta("fed") is not None
    entries: list[tuple[int, dict[str, bytes]]] = []
    last_t: float | None = None
    now = -float("inf")

    def entry(ev: Event, line: int | None, data: dict[str, Any] | None, part: bool
              ) -> dict[str, bytes]:
        return {"line": NO_LINE if line is None else str(line).encode(),
                "t": repr(ev.t).encode(), "vendor": ev.vendor.encode(),
                "name": ev.name.encode(), "session": (ev.session or "").encode(),
                "id": (ev.id or "").encode(),
                "data": orjson.dumps(ev.payload() if part else data),
                "part": b"1" if part else b""}

    for record in reader:
        if until is not None and record.t > until:  # as replay: cut there
            report.after_until += 1
            continue
        last_t = record.t if last_t is None else max(last_t, record.t)
        if record.kind in OUTPUT_KINDS:
            logged.append(record)
            continue
        try:
            ev = parse_event(record.vendor, record.name, record.t, record.data, record.session,
                             source=source, line=record.line, id=record.id)
            if record.t < now:
                raise TraceError(f"time goes back from {now} to {record.t}; a trace is in "
                                 "time order", source=source, line=record.line, field="t")
        except TraceError as error:
            if not skip_bad_lines:
                raise
            report.bad_lines.append({"line": error.line, "field": error.field,
                                     "error": error.reason})
            continue
        now = record.t
        report.events += 1
        if fed:
            continue
        p, events = _partition(store, ev)
        if p >= 0:
            entries.append((p, entry(ev, record.line, record.data, False)))
        else:
            for part in events:
                pp, _ = _partition(store, part)
                entries.append((pp, entry(part, record.line, None, True)))
    report.lines = reader.lines
    report.bad_lines = sorted(
        [*report.bad_lines, *({"line": e.line, "field": e.field, "error": e.reason}
                              for e in reader.errors)], key=lambda b: (b["line"] or 0))
    if not fed:
        end = max(t for t in (until, last_t) if t is not None) if last_t is not None else None
        for p in range(store.partitions):
            store.ensure_group(p)
        marker = {"end": b"" if end is None else repr(end).encode()}
        store.append([*entries, *((p, marker) for p in range(store.partitions))])
        store.commit(Commit(meta={"fed": 1}))
    return report, logged


def replay_with_workers(trace: str | os.PathLike[str], url: str, workers: int, *,
                        until: float | None = None,
                        out: str | os.PathLike[str] | IO[bytes] | None = None,
                        skip_bad_lines: bool = False, lease: float = LEASE,
                        force: bool = False) -> Report:
    """Replay ``trace`` over ``workers`` processes sharing the Redis store at ``url``; run
    again after a crash, it resumes (the trace is fed once; workers take their partitions
    back). ``out`` as a path is written whole or not at all, as ``replay``'s (an
    :class:`~recstate.trace.OutputFile`: refused before anything runs if it is the trace,
    a directory or a non-empty file without ``force``; moved into place at the end)."""
    path = Path(trace)
    target = OutputFile(out, force=force, inputs=(path,)) if isinstance(
        out, str | os.PathLike) else None
    try:
        store = RedisStore(url, journal=True)
        try:
            claim_store(store, str(path))
            report, logged = feed(store, path, until=until, skip_bad_lines=skip_bad_lines)
            # the URL (it may hold a password) goes by the environment, not the command
            # line that `ps` shows to everyone on the machine
            env = {**os.environ, URL_ENV: url}
            procs = [subprocess.Popen([sys.executable, "-m", "recstate.workers",  # noqa: S603
                                       "--worker", str(i), "--of", str(workers),
                                       "--lease", repr(lease)], env=env)
                     for i in range(workers)]
            codes = [p.wait() for p in procs]
            if not _all_done(store):
                raise RuntimeError(f"the workers stopped before the end (exit codes "
                                   f"{codes}); run the same command again to resume")
            report = build_report(store, report, logged,
                                  target.temp if target is not None else out)
        finally:
            store.close()
    except BaseException:
        if target is not None:
            target.discard()
        raise
    if target is not None:
        target.commit()
    return report


def _all_done(store: RedisStore) -> bool:
    done = store.meta_all("done")
    return all(d is not None for d in done)


def build_report(store: RedisStore, report: Report, logged: list[Record],
                 out: str | os.PathLike[str] | IO[bytes] | None = None) -> Report:
    """The report of what the store holds: its sessions and its journal."""
    runtime = Runtime(ManualClock(0.0))
    for row in store.load().sessions:
        runtime.restore(row.snapshot)
    produced, violations, report.unrouted = from_journal(store)
    if out is not None:
        try:
            with TraceWriter(out) as writer:
                for record in produced:
                    writer(record)
        except OSError as exc:  # a full disk: said as replay says it
            where = getattr(out, "name", out)
            raise OutputError(str(where), f"cannot be written: {exc.strerror or exc}"
                              ) from None
    if logged:
        report.mismatches = compare_records(logged, produced)
    report.sessions = session_reports(runtime, produced, violations)
    return report


class Worker:
    """One worker process: owns partitions under leases and handles their streams."""

    def __init__(self, store: RedisStore, index: int, of: int, *, lease: float = LEASE,
                 batch: int = 200) -> None:
        self.store = store
        self.id = f"w{index}"
        self.index, self.of = index, of
        self.lease = lease
        self.batch = batch
        self.runtimes: dict[int, Runtime] = {}
        self.renewed: dict[int, float] = {}
        self.done: set[int] = set()

    def _runtime(self, p: int) -> Runtime:
        rt = self.runtimes.get(p)
        if rt is None:
            rt = Runtime(ManualClock(-float("inf")), store=self.store)
            rt.keys_from_lines = True
            rt.group_commits = self.batch * 4  # written before the batch is acknowledged
            rt.recover(partitions=[p])
            self.runtimes[p] = rt
        return rt

    def _own(self, p: int) -> bool:
        """Take or keep partition ``p`` (renewing its lease every third of it)."""
        now = time.monotonic()
        if p in self.runtimes and now - self.renewed.get(p, 0.0) < self.lease / 3:
            return True
        if self.store.acquire(p, self.id, self.lease):
            self.renewed[p] = now
            return True
        self.runtimes.pop(p, None)
        return False

    def step(self) -> bool:
        """One pass over the partitions; whether anything was handled."""
        store = self.store
        busy = False
        self.done = {p for p, d in enumerate(store.meta_all("done")) if d is not None}
        mine = [p for p in range(store.partitions) if p % self.of == self.index]
        others = [p for p in range(store.partitions) if p % self.of != self.index]
        for p in [*mine, *others]:
            if p in self.done or not self._own(p):
                continue
            fresh = p not in self.runtimes
            try:
                rt = self._runtime(p)
                entries = (store.reclaim(p, self.id, self.batch) if fresh else [])
                entries += store.read(p, self.id, self.batch)
                if entries:
                    busy = True
                    self._handle(p, rt, entries)
            except Conflict:  # another worker took the partition: let it go
                self.runtimes.pop(p, None)
        return busy

    def _handle(self, p: int, rt: Runtime, entries: list[tuple[str, dict[bytes, bytes]]]
                ) -> None:
        store = self.store
        handled: list[str] = []
        for entry_id, f in entries:
            if b"end" in f:
                end = f[b"end"]
                if end:
                    rt.advance(max(float(end), rt.clock.now()))
                rt.flush_store()
                store.commit(Commit(meta={"done": 1}, partition=p), ack=(p, entry_id))
                self.done.add(p)
                continue
            line = int(f[b"line"]) if f[b"line"] else None
            data = orjson.loads(f[b"data"])
            t = float(f[b"t"])
            ev = parse_event(f[b"vendor"].decode(), f[b"name"].decode(), t,
                             data, f[b"session"].decode() or None, line=line,
                             id=f[b"id"].decode() or None)
            rt.advance(max(t, rt.clock.now()))
            rt.dispatch(ev, line=line, data=None if f[b"part"] else data)
            handled.append(entry_id)
        rt.flush_store()  # the batch's handlings written (one transaction), then acknowledged
        store.ack(p, *handled)

    def run(self) -> None:
        while True:
            busy = self.step()
            if len(self.done) == self.store.partitions:
                return
            if not busy:
                time.sleep(0.02)  # nothing to do: wait for entries or a lease to expire


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recstate.workers",
                                     description="One worker of replay --workers.")
    parser.add_argument("url", nargs="?", default=os.environ.get(URL_ENV),
                        help=f"the redis store (default: ${URL_ENV})")
    parser.add_argument("--worker", type=int, required=True)
    parser.add_argument("--of", type=int, required=True)
    parser.add_argument("--lease", type=float, default=LEASE)
    args = parser.parse_args(argv)
    if not args.url:
        parser.error(f"give the redis store's URL, or set ${URL_ENV}")
    store = RedisStore(args.url, journal=True)
    try:
        Worker(store, args.worker, args.of, lease=args.lease).run()
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
