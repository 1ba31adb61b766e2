"""Prototype, not a benchmark of record: how far four core changes take (c) in bench/dispatch.py.

    .venv/bin/python bench/fastpath_prototype.py

recstate/ is not edited: each change is applied here by subclassing or patching, cumulatively,
and every stage runs the same workloads as bench/dispatch.py side by side with raw transitions
(b). See bench/RESULTS.md for what each stage stands for in recstate/runtime.py, machine.py
and trace.py. The compiled engine covers what the bench machine uses (conditions/unless,
before, after, on_enter/on_exit with tied timers, internal transitions); a real one must also
cover prepare, machine-level callbacks and on_exception, or fall back to transitions for them.
"""

from __future__ import annotations

import functools
import gc
import os
import statistics
import sys
import tempfile
import time
from typing import Any

import attrs

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dispatch as B  # noqa: N812

import recstate.trace as T  # noqa: N812
from recstate import signals
from recstate.events import Command, Event, Message
from recstate.machine import Engine, Outcome, Rejected
from recstate.runtime import Runtime
from recstate.trace import Record

STAGES = ["baseline (HEAD)",
          "1 + memoized is_secret_key (trace.py)",
          "2 + compiled transition table (machine.py)",
          "3 + cached signal receivers (runtime.py)",
          "4 + dispatch fast path (runtime.py)",
          "5 + payload {} for field-less messages",
          "6 + no secret scan of transition records"]


class CompiledEngine(Engine):
    """Engine.handle from a (state, trigger) table of bound callbacks; transitions stays the
    definition (and gives the error messages)."""

    __slots__ = ("table",)

    def __init__(self, cls: Any, options: Any = None) -> None:
        super().__init__(cls, options)
        m, model = self.machine, self.model

        def res(f: Any) -> Any:
            return getattr(model, f) if isinstance(f, str) else f

        self.table: dict[tuple[str, str], tuple[Any, ...]] = {}
        for name, tev in m.events.items():
            for src, trs in tev.transitions.items():
                rows = []
                for tr in trs:
                    dest = tr.dest
                    rows.append((
                        tuple((res(c.func), c.target) for c in tr.conditions),
                        tuple(res(f) for f in tr.before),
                        () if dest is None else tuple(res(f) for f in m.states[src].on_exit),
                        dest,
                        () if dest is None else tuple(res(f) for f in m.states[dest].on_enter),
                        tuple(res(f) for f in tr.after)))
                self.table[(src, name)] = tuple(rows)

    def handle(self, session: Any, ev: Any, name: str, now: float) -> Any:
        rows = self.table.get((session.state, name))
        if rows is None:
            return Engine.handle(self, session, ev, name, now)
        model = self.model
        outcome = Outcome()
        model.state = session.state
        model.session = session
        model.ctx = session.context
        model.now = now
        model._outcome = outcome
        for conds, before, exits, dest, enters, after in rows:
            if any(bool(f(ev)) != target for f, target in conds):
                continue
            for f in before:
                f(ev)
            if dest is not None:
                for f in exits:
                    f(ev)
                model.state = dest
                for f in enters:
                    f(ev)
            for f in after:
                f(ev)
            session.state = model.state
            return outcome
        return Rejected(f"every transition for {name!r} was refused by its guards")


def runtime_class(stage: int) -> type[Runtime]:
    class R(Runtime):
        def _engine(self, cls: Any) -> Engine:
            if stage < 2:
                return Runtime._engine(self, cls)
            e = self._engines[cls] = CompiledEngine(cls, self.options.get(cls.vendor))
            return e

        def _recv(self, sig: Any) -> tuple[Any, ...]:
            cache = self.__dict__.setdefault("_rcache", {})
            hit = cache.get(sig)
            if hit is not None and hit[0] == len(sig.receivers):
                return hit[1]
            if hit is None:
                def forget(*_: Any, **__: Any) -> None:
                    cache.pop(sig, None)
                self.__dict__.setdefault("_forget", []).append(forget)
                sig.receiver_connected.connect(forget, weak=False)
                sig.receiver_disconnected.connect(forget, weak=False)
            receivers = tuple(sig.receivers_for(self))
            cache[sig] = (len(sig.receivers), receivers)
            return receivers

    if stage >= 3:
        def _run(self: Any, session: Any, ev: Any, name: str, now: float, line: Any) -> None:
            engine = self._engines.get(session.machine) or self._engine(session.machine)
            old = session.state
            try:
                result = engine.handle(session, ev, name, now)
            except Exception as exc:
                session.state = old
                self._handling_error(session, name, old, exc, now)
                return
            if result.__class__ is Rejected:
                self._violation(session, name, old, result.reason, now, line)
                return
            tracer, key, vendor, new = self.tracer, session.key, session.vendor, session.state
            if new != old:
                if tracer is not None:
                    tracer(Record(now, vendor, name, key, {"src": old, "dst": new}, "transition"))
                for r in self._recv(signals.transition):
                    r(self, session=session, name=name, src=old, dst=new, t=now)
                canonical = engine.recording_states.get(new)
                if canonical is not None and canonical != session.recording:
                    previous, session.recording = session.recording, canonical
                    for r in self._recv(signals.recording_changed):
                        r(self, session=session, old=previous, new=canonical, t=now)
            for effect in result.effects:
                if effect[0] != "command":
                    raise NotImplementedError("prototype: commands only")
                cmd = effect[1]
                if tracer is not None:
                    tracer(Record(now, vendor, cmd.name, key, cmd.payload(), "command"))
                sig = self._command_signals.get(vendor)
                if sig is None:
                    sig = self._command_signals[vendor] = signals.commands(vendor)
                for r in self._recv(sig):
                    r(self, session=session, command=cmd, t=now)
        R._run = _run  # type: ignore[method-assign]

    if stage >= 4:
        def dispatch(self: Any, event: Any, *, line: Any = None, data: Any = None) -> None:
            if self._busy or self._queue or self.timers._heap:
                self._queue.append((event, line, data))
                if not self._busy:
                    self._drain()
                return
            self._busy = True
            try:
                self._handle_input(event, line, data)
            finally:
                self._busy = False
            if self._queue or self.timers._heap or self._to_raise:
                self._drain()
        R.dispatch = dispatch  # type: ignore[method-assign]
    return R


_orig_secret = T.is_secret_key
_orig_event_payload = Event.payload
_orig_message_payload = Message.payload
_memo_secret = functools.lru_cache(maxsize=4096)(_orig_secret)
_orig_to_json = Record.to_json


def _to_json(self: Any) -> dict[str, Any]:
    if self.kind != "transition":  # {"src", "dst"}: made by the runtime, never a secret
        return _orig_to_json(self)
    out: dict[str, Any] = {"t": self.t, "vendor": self.vendor, "name": self.name,
                           "data": self.data, "kind": self.kind}
    if self.session is not None:
        out["session"] = self.session
    return out


def _fieldless(cls: type, skip: tuple[str, ...]) -> bool:
    return all(a.name in skip for a in attrs.fields(cls))


def _event_payload(self: Any) -> dict[str, Any]:
    if _fieldless(self.__class__, ("t", "session")):
        return {}
    return _orig_event_payload(self)


def _command_payload(self: Any) -> dict[str, Any]:
    if _fieldless(self.__class__, ()):
        return {}
    return _orig_message_payload(self)


def set_stage(stage: int) -> None:
    T.is_secret_key = _memo_secret if stage >= 1 else _orig_secret
    Event.payload = _event_payload if stage >= 5 else _orig_event_payload  # type: ignore
    Command.payload = _command_payload if stage >= 5 else _orig_message_payload  # type: ignore
    Record.to_json = _to_json if stage >= 6 else _orig_to_json  # type: ignore


class Variant(B.Recstate):
    def __init__(self, stage: int) -> None:
        fd, self.path = tempfile.mkstemp(prefix="recstate-proto-", suffix=".jsonl")
        os.close(fd)
        self.tracer = T.TraceWriter(self.path)
        self.runtime = runtime_class(stage)(B.SystemClock(), tracer=self.tracer)
        signals.transition.connect(B._on_transition, sender=self.runtime)
        signals.commands(B.VENDOR).connect(B._on_command, sender=self.runtime)
        self.sessions = self.runtime.sessions


def main() -> None:
    keys = [f"rec-{i:06d}" for i in range(1000)]
    for wl, names in (("mixed", B.lifecycle_names(16)),
                      ("every event changes state", B.lifecycle_names(0))):
        pairs = B.round_robin(keys, names)
        raw = B.RawTransitions()
        raw_run = raw.runner(pairs)
        raw_run()
        variants = []
        for stage in range(len(STAGES)):
            set_stage(stage)
            v = Variant(stage)
            run = v.runner(v.events(pairs))
            run()
            variants.append((v, run))
        times: list[list[float]] = [[] for _ in STAGES]
        raw_times = []
        for _ in range(9):
            gc.collect()
            t0 = time.perf_counter()
            raw_run()
            raw_times.append(time.perf_counter() - t0)
            for stage, (_, run) in enumerate(variants):
                set_stage(stage)
                gc.collect()
                t0 = time.perf_counter()
                run()
                times[stage].append(time.perf_counter() - t0)
        set_stage(0)
        best_raw = min(raw_times)
        print(f"{wl}: (b) raw transitions {len(pairs) / best_raw / 1e3:.0f}k ev/s (best of 9)")
        for stage, label in enumerate(STAGES):
            v = variants[stage][0]
            assert all(s.state == "stopped" for s in v.sessions.values())
            v.close()
            best = min(times[stage])
            paired = statistics.median(b / c for b, c in zip(raw_times, times[stage], strict=True))
            print(f"  {label:42s} {best / len(pairs) * 1e6:6.2f} µs/ev "
                  f"{len(pairs) / best / 1e3:5.0f}k ev/s  c/b {best_raw / best:.2f}× "
                  f"(repeat by repeat {paired:.2f}×)")


if __name__ == "__main__":
    main()
