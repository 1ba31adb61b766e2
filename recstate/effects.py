"""Running one handling and carrying out its outcome: the session's engine is asked, and what
it answered becomes trace records, signals, timers armed or cancelled, files, notices and
violations. A receiver that raises or a machine's bug is recorded here against the session.

A room of :class:`~recstate.runtime.Runtime` (which inherits it); the attributes annotated on
the class are the runtime's, set in ``Runtime.__init__``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from blinker import NamedSignal

from recstate import signals
from recstate.answers import Notice, Pending
from recstate.clock import Clock
from recstate.errors import HandlingError, RecstateError, Violation
from recstate.events import TimerEvent
from recstate.logs import get_logger
from recstate.machine import Engine, Machine, Rejected
from recstate.receivers import ReceiverCache
from recstate.recording import RecordingFile
from recstate.session import Session
from recstate.timers import TimerQueue
from recstate.trace import (
    COMMAND_LINES,
    Record,
    TraceWriter,
    encode,
    line_encoder,
    may_hold_secret,
    redact_message,
)
from recstate.undo import checkpoint, checkpoints

__all__ = ["FAILED_STATE", "Effects", "Retire", "Tracer"]

Tracer = Callable[[Record], None]
#: The state a session goes to when one of its timers' handling raised (if its machine has it).
FAILED_STATE = "failed"

log = get_logger("recstate.runtime")



class Retire(str):
    """The payload of the Runtime's own timer that closes the finished session it names
    after the retention period (armed under no session, so a session's timers are its
    machine's alone)."""

    __slots__ = ()


class Effects:
    """Handles an event or timer for one session and applies the effects it asked for."""

    strict: bool
    clock: Clock
    tracer: Tracer | None
    options: Mapping[str, Any]
    compiled: bool
    restore_context: bool
    retention: float | None
    timers: TimerQueue
    _engines: dict[type[Machine], Engine]
    _command_signals: dict[str, NamedSignal]
    _receivers: ReceiverCache
    _to_raise: list[RecstateError]
    _outbox: list[tuple[Session, str, float, Any]] | None
    _answering: Pending | None

    def _run(self, session: Session, ev: Any, name: str, now: float, line: int | None) -> None:
        engine = self._engines.get(session.machine)
        if engine is None:
            engine = self._engine(session.machine)
        old = session.state
        quick = engine.quick.get(name)
        if quick is not None and old in quick:
            # An internal transition with nothing to run, or a heartbeat that only notes the
            # time and resets its timer (Engine.quick): what the engine would do, without
            # the engine, the context's checkpoint or an outcome.
            only = quick[old]
            if only is not None:
                setattr(session.context, only[0], now)
                timers, due = self.timers, now + only[2]
                if not timers.push_back(session.key, only[1], due):  # (moved in place)
                    timers.arm(session.key, only[1], due)
            if self._answering is not None:
                self._gather(self._answering, session, ())
            return
        context = session.context
        # (a context with no field, as the machine's class declares it, has nothing to keep)
        keep = self.restore_context and context.__class__ is not engine.bare_context
        if keep:
            found = checkpoints.get(type(context))
            save, restore = found if found is not None else checkpoint(type(context))
            saved = save(context)
        try:
            result = engine.handle(session, ev, name, now)
        except Exception as exc:  # a machine's bug must not take other sessions down
            session.state = old
            if keep:  # what callbacks changed before raising is undone too
                session.context = restore(context, saved)
            self._handling_error(session, name, old, exc, now)
            if isinstance(ev, TimerEvent):
                self._timer_failed(session, engine, name, old, exc, now)
            return
        if type(result) is Rejected:
            self._violation(session, name, old, result.reason, now, line)
            if self._answering is not None:
                self._answering.session, self._answering.state = session.key, old
            return
        tracer = self.tracer
        key, vendor = session.key, session.machine.vendor
        new = session.state
        if new != old:
            self._moved(session, engine, name, old, new, now)
        for effect in result.effects:
            what = effect[0]
            if what == "command":
                cmd = effect[1]
                if tracer is not None:
                    if tracer.__class__ is TraceWriter:
                        cls = cmd.__class__
                        write = COMMAND_LINES.get(cls) or line_encoder(cls, "command")
                        tracer.write_line(write(cmd, now, vendor, key))
                    else:
                        tracer(Record(now, vendor, cmd.name, key, cmd.payload(), "command",
                                      None, not may_hold_secret(type(cmd))))
                if self._outbox is not None:  # a store: handed over after the commit
                    self._outbox.append((session, name, now, cmd))
                    continue
                sig = self._command_signals.get(vendor)
                if sig is None:
                    sig = self._command_signals[vendor] = signals.commands(vendor)
                if sig.receivers:
                    self._tell(sig, session, name, now, command=cmd)
            elif what == "arm":
                self.timers.arm(key, effect[1], effect[2], effect[3], effect[4])
            elif what == "cancel":
                self.timers.cancel(key, effect[1])
            elif what == "notice":
                self._error(session, name, effect[2], effect[3], effect[1], now)
            elif what == "violation":
                self._violation(session, name, new, effect[1], now, line)
            else:  # "file"
                self._file(session, effect[1], effect[2], effect[3], now)
        if self._answering is not None:
            self._gather(self._answering, session, result.effects)

    def _trace(self, t: float, vendor: str, name: str, session: str | None, data: Any,
               kind: str = "event", line: int | None = None, clean: bool = False,
               id: str | None = None) -> None:
        """Give the tracer a record; a :class:`TraceWriter` gets its line, encoded as the
        Record would encode itself (:func:`recstate.trace.encode`), without the Record."""
        tracer = self.tracer
        if tracer is None:
            return
        if tracer.__class__ is TraceWriter:
            tracer.write_line(encode(t, vendor, name, session, data, kind, line, clean, id))
        else:
            tracer(Record(t, vendor, name, session, data, kind, line, clean, id))

    def _gather(self, pending: Pending, session: Session,
                effects: list[tuple[Any, ...]] | tuple[()]) -> None:
        """What the handling of an input handed in with ``send`` did, for its answer."""
        pending.session, pending.state = session.key, session.state
        for effect in effects:
            if effect[0] == "command":
                pending.commands.append(effect[1])
            elif effect[0] == "notice":
                pending.notices.append(Notice(effect[2], effect[3], effect[1]))

    def _retire_at(self, key: str, due: float) -> None:
        self.timers.arm(None, f"~retire:{key}", due, Retire(key))

    def _moved(self, session: Session, engine: Engine, name: str, old: str, new: str,
               now: float) -> None:
        """What a change of state tells: the trace, the signal, the canonical recording."""
        tracer = self.tracer
        if tracer is not None:
            if tracer.__class__ is TraceWriter:
                # clean: the runtime's own {src, dst} is never scanned (Record.to_json)
                tracer.write_line(encode(now, session.machine.vendor, name, session.key,
                                         {"src": old, "dst": new}, "transition", None, True))
            else:
                tracer(Record(now, session.vendor, name, session.key, {"src": old, "dst": new},
                              "transition"))
        if signals.transition.receivers:
            self._tell(signals.transition, session, name, now, name=name, src=old, dst=new)
        if new in engine.finished and self.retention is not None:
            # from when this runtime saw it finish: a timer fired late (a restart) handles at
            # its old due time, and the session must not be retired before anyone saw it
            self._retire_at(session.key, max(now, self.clock.now()) + self.retention)
        canonical = engine.recording_states.get(new)
        if canonical is not None and canonical != session.recording:
            previous, session.recording = session.recording, canonical
            if signals.recording_changed.receivers:
                self._tell(signals.recording_changed, session, name, now, old=previous,
                           new=canonical)

    def _timer_failed(self, session: Session, engine: Engine, name: str, state: str,
                      exc: Exception, now: float) -> None:
        """A timer whose handling raised leaves a defined session, never a silently
        un-armed one (a watchdog that cannot fire would keep a recording open forever, a
        rollover that fails would go on opening files): the session goes to its machine's
        ``failed`` state (it stays where it was if the machine has none), every timer of it
        is cancelled, and an error says so. Its files stay as they were."""
        cancelled = self.timers.cancel_session(session.key)
        failed = FAILED_STATE if FAILED_STATE in session.machine.state_names() else None
        if failed is not None and session.state != failed:
            session.state = failed
            self._moved(session, engine, name, state, failed, now)
        where = (f"the session is now {failed!r}" if failed is not None
                 else f"the session stays in {state!r} (its machine has no 'failed' state)")
        self._error(session, name, "timer-failed",
                    f"timer {name!r} raised {type(exc).__name__} in state {state!r}: {where}, "
                    f"its {cancelled} timer(s) cancelled, its files as they were; nothing "
                    "more happens to it on its own", "error", now)

    # ---- engines: one per machine class per runtime -------------------------------------------
    def _engine(self, cls: type[Machine]) -> Engine:
        options = self.options.get(cls.qualified_name(), self.options.get(cls.vendor))
        engine = self._engines[cls] = Engine(cls, options, compiled=self.compiled)
        return engine

    def engine(self, cls: type[Machine]) -> Engine:
        return self._engines.get(cls) or self._engine(cls)

    # ---- what a handling records ----------------------------------------------------------------
    def _tell(self, signal: NamedSignal, session: Session, trigger: str, now: float,
              **kwargs: Any) -> None:
        """Send a signal; a receiver that raises (an adapter whose API call failed, an
        observer's bug) is recorded against the session, and the handling carries on."""
        try:
            # The receivers found for this runtime last time (recstate.receivers), called
            # directly: Signal.send() inspects every receiver for coroutine-ness on every send,
            # and receivers_for() costs more than the rest of a handling.
            for get in self._receivers.get(signal, self):
                receiver = get()
                if receiver is None:  # a weakly connected receiver that died meanwhile
                    continue
                result = receiver(self, session=session, t=now, **kwargs)
                if result is not None and inspect.iscoroutine(result):
                    result.close()
                    raise TypeError(f"receiver {receiver!r} is a coroutine function: receivers "
                                    "run inside the handling and must be plain functions "
                                    "(schedule a task from one instead)")
        except Exception as exc:
            detail = redact_message(str(exc))
            log.error("a receiver of the %r signal raised %s (session %s, %s event %r)",
                      signal.name, type(exc).__name__, session.key, session.vendor, trigger,
                      exc_info=exc, extra={"session": session.key, "vendor": session.vendor,
                                           "event": trigger})
            self._error(session, trigger, "receiver-error",
                        f"a receiver of the {signal.name!r} signal raised "
                        f"{type(exc).__name__}: {detail}", "error", now)
            if self.strict or self._answering is not None:
                error = HandlingError(session=session.key, name=trigger, state=session.state,
                                      error=exc, detail=detail)
                if self._answering is not None and self._answering.error is None:
                    self._answering.error = error
                if self.strict:
                    self._to_raise.append(error)

    def _file(self, session: Session, change: str, f: Any, changes: dict[str, Any],
              now: float) -> None:
        previous_id = None
        for field, value in changes.items():
            if field == "id" and value != f.id:
                previous_id = f.id
            setattr(f, field, value)
        files = session._files
        if files is None:  # the session's first file: kept as itself (Session._files)
            session._files = f
        elif isinstance(files, list):
            if not any(x is f for x in files):  # a file opened by this handling
                files.append(f)
        elif files.__class__ is RecordingFile:
            if files is not f:  # its second: now a list of two
                session._files = [files, f]
        else:  # packed (Session.pack_files): as objects again, then as a list
            files = session.files
            if not any(x is f for x in files):
                files.append(f)
        if self.tracer is not None:
            self._trace(now, session.vendor, change, session.key, f.to_dict(), "file")
        if signals.file_changed.receivers:
            self._tell(signals.file_changed, session, change, now, file=f, change=change,
                       previous_id=previous_id)

    def _error(self, session: Session | None, name: str, code: int | str, message: str,
               level: str, now: float, vendor: str | None = None) -> None:
        key = session.key if session is not None else None
        vendor = session.vendor if session is not None else (vendor or "")
        data = {"code": code, "message": message, "level": level}
        if self.tracer is not None:
            self._trace(now, vendor, name, key, data, "error")
        if signals.error.receivers:
            signals.error.send(self, session=session, name=name, code=code, message=message,
                               level=level, t=now)

    def _violation(self, session: Session, name: str, state: str, reason: str, now: float,
                   line: int | None) -> None:
        violation = Violation(session=session.key, name=name, state=state, reason=reason,
                              line=line, t=now)
        if self.tracer is not None:
            self._trace(now, session.vendor, name, session.key,
                        {"code": "violation", "message": reason, "state": state}, "error")
        if self._answering is not None and self._answering.violation is None:
            self._answering.violation = violation
        if signals.violation.receivers:
            signals.violation.send(self, violation=violation, session=session)
        if self.strict:
            self._to_raise.append(violation)

    def _handling_error(self, session: Session, name: str, state: str, exc: Exception,
                        now: float) -> None:
        error = HandlingError(session=session.key, name=name, state=state, error=exc,
                              detail=redact_message(str(exc)))
        error.__cause__ = exc
        log.error("handling %r in state %r raised %s (session %s, %s)", name, state,
                  type(exc).__name__, session.key, session.vendor, exc_info=exc,
                  extra={"session": session.key, "vendor": session.vendor, "event": name})
        self._error(session, name, "exception", str(error), "error", now)
        if self._answering is not None:
            self._answering.error = error
            self._answering.session, self._answering.state = session.key, state
        if self.strict:
            self._to_raise.append(error)
