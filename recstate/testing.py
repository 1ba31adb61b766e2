"""The pytest plugin (``pytest11`` entry point ``recstate``): fixtures and assertions for
tests of code built on recstate.

Fixtures (named so that they cannot collide with an application's own):

- ``recstate_clock``: a :class:`~recstate.clock.ManualClock` at 1,700,000,000
  (2023-11-14T22:13:20Z) that moves only when told;
- ``recstate_trace``: a :class:`TraceRecorder`, the records the runtime traced, with
  assertions over them;
- ``recstate_runtime``: a strict :class:`~recstate.runtime.Runtime` on ``recstate_clock``
  tracing to ``recstate_trace``, closed after the test;
- ``recstate_signals``: a :class:`SignalRecorder` of every signal ``recstate_runtime``
  sends (the commands of every installed vendor included);
- one per vendor simulator, from the vendor's own plugin module (``recstate_tencent``,
  ``recstate_netease``...).

``manual_clock`` and ``runtime`` are the older names of the first and third.

``await runtime.settle(until)`` runs a runtime until nothing is queued, in flight or due
(moving a ManualClock through each timer up to ``until``): a test waits for it instead of
sleeping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from blinker import NamedSignal

from recstate import signals
from recstate.clock import ManualClock
from recstate.runtime import Runtime
from recstate.trace import Record
from recstate.vendors import vendor_names

__all__ = ["SignalRecorder", "TraceRecorder"]

T0 = 1_700_000_000.0


def _matches(data: Any, fields: dict[str, Any]) -> bool:
    return isinstance(data, dict) and all(data.get(k, object()) == v for k, v in fields.items())


class TraceRecorder(list[Record]):
    """The trace records a runtime produced (it is the runtime's ``tracer``), and
    assertions in the manner of sismic's testing predicates: each ``assert_*`` returns the
    matching records, or raises an AssertionError that lists what did happen."""

    def __call__(self, record: Record) -> None:
        self.append(record)

    def of(self, kind: str, session: str | None = None) -> list[Record]:
        return [r for r in self if r.kind == kind and (session is None or r.session == session)]

    def states_entered(self, session: str | None = None) -> list[str]:
        return [r.data["dst"] for r in self.of("transition", session) if r.data]

    def _fail(self, what: str, kind: str, session: str | None) -> AssertionError:
        seen = "\n".join(f"  {r.t} {r.session} {r.name} {r.data}"
                         for r in self.of(kind, session)) or "  (none)"
        return AssertionError(f"{what}; the {kind} records were:\n{seen}")

    def assert_entered(self, state: str, *, session: str | None = None) -> list[Record]:
        """A transition entered ``state`` (in ``session``)."""
        got = [r for r in self.of("transition", session) if r.data and r.data["dst"] == state]
        if not got:
            raise self._fail(f"no session entered {state!r}" if session is None else
                             f"session {session!r} never entered {state!r}", "transition",
                             session)
        return got

    def assert_command(self, name: str, *, session: str | None = None, **fields: Any
                       ) -> list[Record]:
        """A command ``name`` was sent whose payload has these fields (top level)."""
        got = [r for r in self.of("command", session)
               if r.name == name and _matches(r.data, fields)]
        if not got:
            raise self._fail(f"no command {name!r} with {fields}", "command", session)
        return got

    def assert_no_command(self, name: str, *, session: str | None = None) -> None:
        got = [r for r in self.of("command", session) if r.name == name]
        if got:
            raise self._fail(f"command {name!r} was sent", "command", session)

    def assert_file(self, *, session: str | None = None, **fields: Any) -> dict[str, Any]:
        """A file whose latest record has these fields (``status="ready"``, ``start=...``,
        ``end=...``, ``id=...``); returns its data."""
        latest: dict[str, dict[str, Any]] = {}
        for r in self.of("file", session):
            if r.data is not None:
                latest[f"{r.session}/{r.data['id']}"] = r.data
        got = [d for d in latest.values() if _matches(d, fields)]
        if not got:
            raise self._fail(f"no file with {fields}", "file", session)
        return got[0]

    def assert_no_violation(self, *, session: str | None = None) -> None:
        """No violation and no handling error was recorded."""
        bad = [r for r in self.of("error", session) if r.data and (
            r.data.get("code") in ("violation", "exception", "receiver-error", "unroutable"))]
        if bad:
            listed = "\n".join(f"  {r.t} {r.session} {r.name}: {r.data}" for r in bad)
            raise AssertionError(f"{len(bad)} violation(s) or error(s):\n{listed}")


class SignalRecorder:
    """Every signal a runtime sends, as ``(signal name, kwargs)`` in order."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self._connected: list[tuple[NamedSignal, Callable[..., None]]] = []
        for signal in (signals.transition, signals.violation, signals.error,
                       signals.recording_changed, signals.file_changed,
                       signals.session_closed,
                       *(signals.commands(v) for v in sorted(vendor_names()))):
            receiver = self._receiver(signal.name)
            signal.connect(receiver, sender=runtime, weak=False)
            self._connected.append((signal, receiver))

    def _receiver(self, name: str) -> Callable[..., None]:
        def receive(sender: Any, **kwargs: Any) -> None:
            self.sent.append((name, kwargs))
        return receive

    def close(self) -> None:
        for signal, receiver in self._connected:
            signal.disconnect(receiver, sender=self.runtime)
        self._connected.clear()

    def of(self, name: str) -> list[dict[str, Any]]:
        """The kwargs of each send of the signal ``name`` (``"transition"``,
        ``"tencent.command"``...)."""
        return [kw for n, kw in self.sent if n == name]


@pytest.fixture
def recstate_clock() -> ManualClock:
    """A ManualClock at 1,700,000,000 (2023-11-14T22:13:20Z) that moves only when told."""
    return ManualClock(T0)


@pytest.fixture
def recstate_trace() -> TraceRecorder:
    """The records ``recstate_runtime`` traced, with ``assert_*`` helpers."""
    return TraceRecorder()


@pytest.fixture
def recstate_runtime(recstate_clock: ManualClock, recstate_trace: TraceRecorder
                     ) -> Iterator[Runtime]:
    """A strict Runtime on ``recstate_clock`` tracing to ``recstate_trace``; closed after."""
    runtime = Runtime(recstate_clock, strict=True, tracer=recstate_trace)
    yield runtime
    runtime.close()


@pytest.fixture
def recstate_signals(recstate_runtime: Runtime) -> Iterator[SignalRecorder]:
    """Every signal ``recstate_runtime`` sends."""
    recorder = SignalRecorder(recstate_runtime)
    yield recorder
    recorder.close()


@pytest.fixture
def manual_clock(recstate_clock: ManualClock) -> ManualClock:
    """The older name of ``recstate_clock``."""
    return recstate_clock


@pytest.fixture
def runtime(manual_clock: ManualClock) -> Runtime:
    """A strict Runtime on ``manual_clock`` (no tracer): the older fixture."""
    return Runtime(manual_clock, strict=True)
