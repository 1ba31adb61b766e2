"""Replay: a trace through a fresh Runtime on a ManualClock, a report, and a conformance diff.

Inputs are dispatched at their ``t``; timers due before an input fire first; the clock then
runs to the last line's ``t`` (or ``until``). Lines a live run
logged (``command``, ``transition``, ``file``, ``error``) are not inputs: they are what the
replay is checked against, and every difference is reported. The same trace always gives the
same report, byte for byte: nothing here reads the wall clock, and every list is ordered.
"""

from __future__ import annotations

import math
import os
import types
import typing
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Any, Final

import attrs
import orjson

from recstate import signals
from recstate.clock import ManualClock
from recstate.errors import OutputError, TraceError, Violation
from recstate.events import Event, event_class, parse_event
from recstate.report import (
    LISTED_TOP,
    Conformance,
    FileRows,
    Listed,
    SessionNotes,
    compare,
    json_default,
    line_key,
)
from recstate.runtime import Runtime
from recstate.session import Session
from recstate.stores import Commit, Store, StoreError, open_store
from recstate.trace import (
    MAX_TIME,
    OUTPUT_KINDS,
    OutputFile,
    Record,
    TraceReader,
    TraceWriter,
    may_hold_secret,
    parse_line,
    parse_time,
    redact,
)
from recstate.vendors import get_vendor, vendor_names

__all__ = ["Report", "replay", "replay_records"]

#: Handlings per store transaction in a replay with a store: nothing outside the replay is
#: told of a handling before it is written, so a crash loses only work that is done again.
GROUP_COMMITS = 256
#: Inputs between two settlings of the conformance diff's window.
SETTLE_EVERY = 4096
#: --out lines written in one go.
OUT_BATCH = 512


@attrs.define
class Report:
    """What a replay found. ``to_json()`` is the ``--json`` report; ``exit_status`` the CLI's."""

    lines: int = 0
    events: int = 0
    sessions: list[dict[str, Any]] = attrs.field(factory=list)
    mismatches: list[dict[str, Any]] = attrs.field(factory=list)
    unrouted: list[dict[str, Any]] = attrs.field(factory=list)
    bad_lines: list[dict[str, Any]] = attrs.field(factory=list)
    stopped: str | None = None
    #: ``until`` when given, and how many lines after it were left out of the replay.
    until: float | None = None
    after_until: int = 0
    #: What the report-wide lists left out (``mismatches``, ``unrouted``, ``bad_lines``:
    #: each keeps its first :data:`~recstate.report.LISTED_TOP`); a session's own count is
    #: its ``left_out``.
    left_out: dict[str, int] = attrs.field(factory=dict)
    #: Handling errors (code ``exception``), listed or not; None: count the listed ones.
    exceptions: int | None = None

    @property
    def violations(self) -> int:
        listed: int = sum(len(s["violations"]) + s.get("left_out", {}).get("violations", 0)
                          for s in self.sessions)
        return listed + len(self.unrouted) + self.left_out.get("unrouted", 0)

    @property
    def handling_errors(self) -> int:
        if self.exceptions is not None:
            return self.exceptions
        return sum(1 for s in self.sessions for e in s["errors"] if e["code"] == "exception")

    @property
    def exit_status(self) -> int:
        """0: nothing violated or mismatched; 1: something was (or bad lines were skipped)."""
        failed = (self.violations or self.mismatches or self.handling_errors or self.bad_lines
                  or self.stopped)
        return 1 if failed else 0

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON-able data (every session's files a list)."""
        out = self._json()
        out["sessions"] = [{**s, "files": s["files"].rows()} if isinstance(
            s["files"], FileRows) else s for s in self.sessions]
        return out

    def _json(self) -> dict[str, Any]:
        """:meth:`to_json` with the sessions' files as they are held (:class:`FileRows`
        where packed: :func:`~recstate.report.json_default` writes them)."""
        out: dict[str, Any] = {"lines": self.lines, "events": self.events,
                               "violations": self.violations, "mismatches": self.mismatches,
                               "sessions": self.sessions}
        if self.unrouted:
            out["unrouted"] = self.unrouted
        if self.bad_lines:
            out["bad_lines"] = self.bad_lines
        if self.stopped:
            out["stopped"] = self.stopped
        if self.after_until:
            out["until"] = self.until
            out["after_until"] = self.after_until
        if self.left_out:
            out["left_out"] = self.left_out
        return out

    def dumps(self) -> bytes:
        return orjson.dumps(self._json(), default=json_default, option=_REPORT_JSON)

    def write_json(self, write: Callable[[bytes], Any]) -> None:
        """:meth:`dumps` and a newline given to ``write`` a session at a time: the same
        bytes, never the whole report's text at once (each packed session's files are
        made, written and dropped in turn)."""
        out = self._json()
        sessions, out["sessions"] = out["sessions"], []
        head, at, tail = orjson.dumps(out, option=_REPORT_JSON).partition(_SESSIONS_SLOT)
        assert at, "the report has its sessions at the top level"
        if not sessions:
            write(head + at + tail + b"\n")
            return
        write(head + b'\n  "sessions": [\n')
        for i, session in enumerate(sessions):
            text = orjson.dumps(session, default=json_default, option=_REPORT_JSON)
            # nested two levels down: every line of it 4 spaces further in (a JSON text has
            # no newline but between its tokens)
            write((b",\n" if i else b"") + b"    " + text.replace(b"\n", b"\n    "))
        write(b"\n  ]" + tail + b"\n")


_REPORT_JSON: Final = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2
#: Where the sessions go in the report's JSON written without them (the only key two spaces
#: in: every other key of that name is further in).
_SESSIONS_SLOT: Final = b'\n  "sessions": []'


def replay(path: str | os.PathLike[str], *, strict: bool = False, until: float | None = None,
           out: str | os.PathLike[str] | IO[bytes] | None = None,
           skip_bad_lines: bool = False, options: dict[str, Any] | None = None,
           compiled: bool = True, force: bool = False,
           store: Store | str | None = None,
           progress: Callable[[int], None] | None = None,
           observe: Callable[[Runtime], None] | None = None) -> Report:
    """Replay the trace at ``path``. Raises :class:`TraceError` for an unreadable line unless
    ``skip_bad_lines``, which goes on and lists them in the report, and for a trace with no
    line to replay (empty, or only blank and ``#`` lines).

    ``out`` as a path is written whole or not at all (an :class:`OutputFile`): never the
    trace being read, never over a non-empty file unless ``force`` (an
    :class:`~recstate.errors.OutputError` otherwise, before anything is replayed).

    ``store`` (a :class:`~recstate.stores.Store` or a store URL) keeps every handling as it
    goes: run again on the same store after a crash, the replay resumes where the store is
    and gives the report a run never interrupted gives.

    ``progress`` is called with the number of lines read so far, every 1000 records (the
    CLI's progress bar). ``observe`` is called with the replay's Runtime once it exists,
    before its first event (the timeline and the coverage watch it there)."""
    if until is not None:
        until = parse_time(until, source="until", field="")
    reader = TraceReader(path, skip_bad=skip_bad_lines, vendors=vendor_names())
    target = OutputFile(out, force=force, inputs=(path,)) if isinstance(
        out, str | os.PathLike) else None
    opened = open_store(store, journal=True) if isinstance(store, str) else store
    try:
        reader.progress = progress
        report = replay_records(reader, source=str(path), strict=strict, until=until,
                                out=target.temp if target is not None else out,
                                skip_bad_lines=skip_bad_lines, options=options,
                                compiled=compiled, store=opened, observe=observe)
        report.lines = reader.lines
        if progress is not None:
            progress(reader.lines)
        bad = sorted([*report.bad_lines, *({"line": e.line, "field": e.field,
                                            "error": e.reason} for e in reader.errors)],
                     key=lambda b: (b["line"] or 0))
        left = report.left_out.get("bad_lines", 0) + reader.errors_left_out + max(
            0, len(bad) - LISTED_TOP)
        report.bad_lines = bad[:LISTED_TOP]
        if left:
            report.left_out["bad_lines"] = left
        if not report.events and report.after_until and not report.bad_lines:
            raise TraceError(f"--until {until} is before the trace's first line: nothing to "
                             "replay", source=str(path))
        if not report.events and not report.bad_lines and not report.mismatches:
            raise TraceError("the trace has nothing to replay (it is empty, or holds only "
                             "blank and # lines); give a trace with at least one event",
                             source=str(path))
    except BaseException:
        if target is not None:
            target.discard()
        raise
    finally:
        if isinstance(store, str) and opened is not None:
            opened.close()
    if target is not None:
        target.commit()
    return report


def replay_records(records: Iterable[Record], *, source: str = "<trace>", strict: bool = False,
                   until: float | None = None,
                   out: str | os.PathLike[str] | IO[bytes] | None = None,
                   skip_bad_lines: bool = False,
                   options: dict[str, Any] | None = None, compiled: bool = True,
                   store: Store | None = None,
                   observe: Callable[[Runtime], None] | None = None) -> Report:
    """Replay ``records``; ``until`` cuts the replay there: lines after it are neither
    dispatched nor compared (counted in ``after_until``), and the clock runs to it. ``out``
    (a path is appended to, or a binary file) receives the full trace as it is produced; a
    failure to write it is an :class:`~recstate.errors.OutputError` once the replay is done.
    ``observe``: see :func:`replay`.

    Memory stays flat with the trace's length (:mod:`recstate.report`): what was produced is
    written and noted as it goes, never kept, and the logged lines are compared on a
    sliding window."""
    if store is not None:
        if not store.journal_enabled:
            raise StoreError(f"{store!r}: replay needs a store that keeps a journal "
                             "(open it with journal=True)")
        claim_store(store, source)
    report = Report(until=until)
    # With a store, the journal is the record of what was produced: --out is written from
    # it at the end (a resumed run then writes everything, not only what it did itself), and
    # the report is made from it.
    writer = TraceWriter(out) if out is not None and store is None else None
    write_error: list[OSError] = []
    notes = SessionNotes()
    diff = Conformance()
    unrouted = Listed(LISTED_TOP)
    bad_lines = Listed(LISTED_TOP)
    # Lines for --out gather here and are written together (every OUT_BATCH lines, when the
    # diff settles, at the end); ``write`` is None once a write failed.
    write = writer.write_line if writer is not None else None
    pending: list[bytes] = []
    # Files of a session that has gone quiet are packed (Session.pack_files): the replay
    # keeps every session to the end, and files are what a long recording gains. Not with
    # a store (its sessions are its own) nor when watched (the observer keeps files).
    packing = store is None and observe is None
    touched: set[str | None] = set()  # sessions that produced a line since the last settling
    earlier: set[str | None] = set()  # and in the interval before

    def pack_quiet() -> None:
        """Pack the files of each session that produced a line (a command, transition,
        file or error: any handling that may have read or changed its files does) in the
        interval before this one and none in this one: a session busy with its files at
        every interval is never packed and unpacked over and over. Not while a receiver of
        this runtime's ``file_changed`` might keep the files (one for another runtime, left
        connected, hears nothing of this one)."""
        nonlocal touched, earlier
        if runtime is not None and not signals.file_changed.has_receivers_for(runtime):
            sessions = runtime.sessions
            for key in earlier:
                if key is not None and key not in touched:
                    session = sessions.get(key)
                    if session is not None:
                        session.pack_files()
        earlier, touched = touched, earlier
        touched.clear()

    def settle_now(at: float) -> None:
        """Every SETTLE_EVERY inputs, on whichever path read them: the diff settles what
        waited before ``at``, and the quiet sessions' files are packed."""
        diff.settle(at)
        pack_quiet()

    def flush() -> None:
        """Write the gathered lines: a full disk ends the writing, the replay goes on and
        the error is raised after."""
        nonlocal write
        if write is not None and pending:
            try:
                write(b"".join(pending))
            except OSError as exc:
                write_error.append(exc)
                write = None
        pending.clear()

    def collect(record: Record) -> None:
        if write is not None:
            pending.append(record.dumps() + b"\n")
            if len(pending) >= OUT_BATCH:
                flush()
        if record.kind != "event":
            notes.record(record)
            diff.produced(record)
            if packing:
                touched.add(record.session)

    runtime: Runtime | None = None
    manual = ManualClock(0.0)  # the runtime's clock once there is a runtime

    def on_violation(sender: Any, violation: Violation, session: Session | None) -> None:
        entry = {"line": violation.line, "t": violation.t, "name": violation.name,
                 "state": violation.state, "reason": violation.reason}
        if session is None:
            unrouted.append(entry)
        else:
            notes.violation(session.key, entry)

    last_t: float | None = None
    cursor = 0  # with a store: lines before it were handled by an earlier run
    if store is not None:
        runtime = Runtime(ManualClock(-math.inf), strict=strict, tracer=None,
                          options=options, compiled=compiled, store=store, retention=None)
        runtime.keys_from_lines = True
        runtime.group_commits = GROUP_COMMITS
        # its violations are in the journal, read at the end with what it produced
        loaded = runtime.recover()
        cursor = max([loaded.delivered, *(row.delivered for row in loaded.sessions)])
        diff.window = math.inf  # the journal is read at the end
    settle_at = SETTLE_EVERY
    events = 0  # inputs replayed (report.events)
    # Data-only inputs (a heartbeat in recording) skip building their event: not with a
    # store (which journals every handling) nor when watched (the coverage counts them).
    fast_path = store is None and observe is None and compiled
    fast_reader: TraceReader | None = None
    event: Event | None = None
    if fast_path and not strict and isinstance(records, TraceReader) and (
            records.vendors is not None):
        # vendor -> {data-only event name: the check of its payload}
        checks_of = {vendor: _vendor_checks(vendor) for vendor in sorted(records.vendors)}
        latest = MAX_TIME if until is None else min(until, MAX_TIME)
        loads, dumps = orjson.loads, orjson.dumps
        canonical = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
        # Templates of heartbeat lines: a session's last canonical data-only line that was
        # handled, cut before the value of its "t" -> [what follows the time, its length,
        # the runtime's data slot of the session's input, the session, matched since made,
        # lines missed]; one per session (``template_of``).
        templates: dict[bytes, list[Any]] = {}
        template_of: dict[str, bytes] = {}
        max_line = records.max_line

        def fast_run(readline: Callable[[int], bytes], number: int, upto: int
                     ) -> tuple[bytes | None, int]:
            """Read and handle lines as far as line ``upto``: the first line not handled
            and its number (b"" at the end of the file), or None and ``upto``.

            A line that is a session's template with another time (the same bytes before
            and after the value of ``"t"``, and that value a JSON float) is the template's
            input at that time, nothing else to check; with ``--out`` the time must be
            written as orjson writes it, and the line is written as read (it is then what
            Record.dumps gives). Other lines go to :func:`fast_line`."""
            nonlocal last_t, settle_at, events
            limit = max_line + 1
            if runtime is None:  # (the first input makes it: the full path)
                try:
                    raw = readline(limit)
                except OSError as exc:
                    raise records.read_error(exc, number + 1) from None
                return raw, number + 1 if raw else number
            note = runtime.note_data_at
            get = templates.get
            top = -math.inf if last_t is None else last_t
            count, settle = events, settle_at
            try:
                while number < upto:
                    try:
                        raw = readline(limit)
                    except OSError as exc:
                        raise records.read_error(exc, number + 1) from None
                    if not raw:
                        return raw, number
                    number += 1
                    at = raw.rfind(b',"t":')
                    known = get(raw[:at + 5])
                    if known is not None and raw.endswith(known[0]) and (
                            len(raw) <= max_line):
                        text = raw[at + 5:len(raw) - known[1]]
                        try:
                            t = loads(text)
                        except orjson.JSONDecodeError:
                            t = None
                        if (type(t) is float and t <= latest
                                and (write is None or dumps(t) == text)
                                and note(known[2], t)):
                            known[4] = True  # (matched: see _template)
                            if write is not None:
                                pending.append(raw)
                                if len(pending) >= OUT_BATCH:
                                    flush()
                            if t > top:
                                top = t
                            count += 1
                            if count >= settle:
                                settle = count + SETTLE_EVERY
                                settle_now(min(manual.now(), top))
                            continue
                    last_t = None if top == -math.inf else top
                    events, settle_at = count, settle
                    if len(raw) > max_line or not fast_line(raw, number):
                        return raw, number
                    top = -math.inf if last_t is None else last_t
                    count, settle = events, settle_at
                return None, number
            finally:
                last_t = None if top == -math.inf else top
                events, settle_at = count, settle

        def fast_line(raw: bytes, line: int) -> bool:
            """A well-formed data-only line not matching its session's template, handled
            without its Record or event: True when handled, False for the full path.

            The line is parsed and checked as parse_line would (exactly the fields t,
            vendor, name, session and data, their types), and its payload by the class's
            check; it is written encoded (the same five keys, sorted), and becomes its
            session's template when that is the line as read. Then the time's range, and
            note_data after any timer due by then."""
            nonlocal last_t, settle_at, events
            assert runtime is not None
            try:
                obj = loads(raw)
            except orjson.JSONDecodeError:
                return False
            if type(obj) is not dict:
                return False
            t, data = obj.get("t"), obj.get("data")
            if type(t) is not float or type(data) is not dict or len(obj) != 5:
                return False
            vendor, name, session = obj.get("vendor"), obj.get("name"), obj.get("session")
            if type(vendor) is not str or type(name) is not str or (
                    type(session) is not str):
                return False
            checks = checks_of.get(vendor)
            check = checks.get(name) if checks is not None else None
            if check is None or not check(data):
                return False
            clock = manual  # the runtime's
            # (the clock starts at a line's time, never before MIN_TIME)
            if not clock.now() <= t <= latest:
                return False
            if not runtime.note_data(vendor, name, session, line, clean=True, trace=False,
                                     at=t):
                if not runtime.timers.any_due(t):
                    return False  # not data-only now: the full path
                runtime.advance(t)  # timers first, then the line again
                if not runtime.note_data(vendor, name, session, line, clean=True,
                                         trace=False, at=t):
                    return False  # the full path goes on from here (the clock is there)
            encoded = dumps(obj, option=canonical)
            if encoded == raw:
                _template(runtime, templates, template_of, raw, vendor, name, session, t)
            if write is not None:
                pending.append(encoded)
                if len(pending) >= OUT_BATCH:
                    flush()
            if last_t is None or t > last_t:
                last_t = t
            events += 1
            if events >= settle_at:
                settle_at = events + SETTLE_EVERY
                settle_now(min(clock.now(), last_t))
            return True

        records.fast = fast_run
        fast_reader = records
    try:
        for record in records:
            if until is not None and record.t > until:
                report.after_until += 1
                continue
            last_t = record.t if last_t is None else max(last_t, record.t)
            if record.kind in OUTPUT_KINDS:
                diff.logged(record)
                continue
            fast = (fast_path and runtime is not None and record.session is not None
                    and record.id is None and record.t >= runtime.clock.now()
                    and _data_only(record))
            if not fast:
                try:
                    event = _event(record, source)
                    if record.line is not None and record.line < cursor:
                        events += 1  # handled before the store's run stopped
                        continue
                    if runtime is None:
                        # retention=None: the report shows every session the trace had
                        manual = ManualClock(record.t)
                        runtime = Runtime(manual, strict=strict, tracer=collect,
                                          options=options, compiled=compiled, retention=None)
                        signals.violation.connect(on_violation, sender=runtime, weak=False)
                        if observe is not None:
                            observe(runtime)
                    if record.t < runtime.clock.now():
                        raise TraceError(f"time goes back from {runtime.clock.now()} to "
                                         f"{record.t}; a trace is in time order",
                                         source=source, line=record.line, field="t")
                except TraceError as error:
                    if not skip_bad_lines:
                        raise
                    bad_lines.append({"line": error.line, "field": error.field,
                                      "error": error.reason})
                    continue
            assert runtime is not None
            events += 1
            try:
                runtime.advance(record.t)
                if not fast or not runtime.note_data(record.vendor, record.name,
                                                     record.session,  # type: ignore[arg-type]
                                                     record.line, record.data, clean=True):
                    if fast:  # another state: the event after all (its data checked)
                        event = _event(record, source)
                    assert event is not None
                    runtime.dispatch(event, line=record.line, data=record.data)
            except Violation as violation:  # strict mode: stop at the first
                report.stopped = str(violation)
                break
            except StoreError:
                raise
            except Exception as error:  # strict mode: a handling error
                report.stopped = str(error)
                break
            if events >= settle_at:
                settle_at = events + SETTLE_EVERY
                settle_now(min(runtime.clock.now(), last_t))
                flush()
        # Time passed until the last line, logged outputs included (a live run logs what
        # its timers did after the last input); --until goes further.
        end = max(t for t in (until, last_t) if t is not None) if last_t is not None else None
        if runtime is not None and end is not None and report.stopped is None:
            try:
                runtime.advance(max(end, runtime.clock.now()))
            except StoreError:
                raise
            except Exception as error:
                report.stopped = str(error)
    finally:
        if fast_reader is not None:
            fast_reader.fast = None
        if runtime is not None:
            if store is None:
                signals.violation.disconnect(on_violation, sender=runtime)
            runtime.flush_store()
        if writer is not None:
            flush()
            try:
                writer.close()
            except OSError as exc:
                write_error.append(exc)
    report.events = events
    if store is not None:
        _from_journal(store, notes, diff, unrouted, out, write_error)
    if write_error:
        where = getattr(out, "name", out)
        reason = write_error[0].strerror or str(write_error[0])
        raise OutputError(str(where), f"cannot be written: {reason}")
    report.mismatches = diff.finish()
    report.unrouted = unrouted.items
    report.bad_lines = bad_lines.items
    for name, count in (("mismatches", diff.left_out), ("unrouted", unrouted.left_out),
                        ("bad_lines", bad_lines.left_out)):
        if count:
            report.left_out[name] = count
    report.exceptions = notes.exceptions
    if runtime is not None:
        report.sessions = _summaries(runtime, notes, pack=packing)
    return report


def _from_journal(store: Store, notes: SessionNotes, diff: Conformance, unrouted: Listed,
                  out: str | os.PathLike[str] | IO[bytes] | None,
                  write_error: list[OSError]) -> None:
    """What every run on ``store`` produced, as its journal has it: noted, compared, and
    written to ``out``."""
    try:
        full = TraceWriter(out) if out is not None else None
    except OSError as exc:
        write_error.append(exc)
        full = None
    try:
        for line, raw in store.journal():
            # An input's own line (an event record: no top-level "kind", so no '"kind":'
            # anywhere in it) says nothing to the report: parsed only for --out.
            if full is None and b'"kind":' not in raw:
                continue
            record = parse_line(raw)
            if record is None:
                continue
            record.line = line if record.kind == "event" else None
            if full is not None and not write_error:
                try:
                    full(record)
                except OSError as exc:
                    write_error.append(exc)
            if record.kind == "event":
                continue
            notes.record(record)
            diff.produced(record)
            if record.kind != "error" or record.data is None:
                continue
            code = record.data.get("code")
            if code == "violation" and record.session is not None:
                notes.violation(record.session, {
                    "line": line, "t": record.t, "name": record.name,
                    "state": record.data.get("state"), "reason": record.data.get("message")})
            elif code == "unroutable" and record.session is None:
                unrouted.append({"line": line, "t": record.t, "name": record.name,
                                 "state": "", "reason": record.data.get("message")})
    finally:
        if full is not None:
            try:
                full.close()
            except OSError as exc:
                write_error.append(exc)


def claim_store(store: Store, source: str) -> None:
    """A store keeps the replay of one trace: refuse to mix another one into it."""
    held = store.load().meta.get("replay")
    if held is None:
        store.commit(Commit(meta={"replay": source}))
    elif held != source:
        raise StoreError(f"{store!r} holds the replay of {held!r}, not {source!r}: use "
                         "another store (or delete it) to replay another trace")


def from_journal(store: Store) -> tuple[list[Record], dict[str, list[dict[str, Any]]],
                                        list[dict[str, Any]]]:
    """What every run on ``store`` produced, with the violations, as the journal has it."""
    produced: list[Record] = []
    violations: dict[str, list[dict[str, Any]]] = defaultdict(list)
    unrouted: list[dict[str, Any]] = []
    for line, raw in store.journal():
        record = parse_line(raw)
        if record is None:
            continue
        record.line = line if record.kind == "event" else None
        produced.append(record)
        if record.kind != "error" or record.data is None:
            continue
        code = record.data.get("code")
        if code == "violation" and record.session is not None:
            violations[record.session].append({
                "line": line, "t": record.t, "name": record.name,
                "state": record.data.get("state"), "reason": record.data.get("message")})
        elif code == "unroutable" and record.session is None:
            unrouted.append({"line": line, "t": record.t, "name": record.name, "state": "",
                             "reason": record.data.get("message")})
    return produced, violations, unrouted


_UNCHECKED: Final = object()
#: vendor -> {name: what tells whether a line's data is a valid, clean payload of that
#: data-only event} (:func:`_vendor_checks`).
_checkers: dict[str, dict[str, Callable[[dict[str, Any] | None], bool]]] = {}
_SCALARS: Final[dict[Any, tuple[type, ...]]] = {
    int: (int,), str: (str,), float: (int, float), bool: (bool,)}


def _data_only(record: Record) -> bool:
    """Whether ``record`` may take the data-only fast path: its event is data-only in some
    machine of its vendor (:class:`~recstate.machine.DataOnly`) and its data is what
    building the event would accept, with nothing a redaction would change (so its trace
    line is what the full path writes, byte for byte)."""
    check = _vendor_checks(record.vendor).get(record.name)
    return check is not None and check(record.data)


def _vendor_checks(vendor: str) -> dict[str, Callable[[dict[str, Any] | None], bool]]:
    """The payload checks of a vendor's data-only events, by name, made once per vendor
    (an unknown vendor has none, and is not remembered: the full path says what is
    wrong)."""
    found = _checkers.get(vendor)
    if found is None:
        try:
            machines = get_vendor(vendor).machines
        except Exception:
            return {}
        found = {}
        for name in sorted({name for m in machines for name in m.data_only}):
            check = _checker(vendor, name)
            if check is not None:
                found[name] = check
        _checkers[vendor] = found
    return found


def _checker(vendor: str, name: str) -> Callable[[dict[str, Any] | None], bool] | None:
    """A check of a payload's fields made once per event class: plain scalar fields only
    (``int``, ``str``, ``float``, ``bool``, optional or not), no validator, converter or
    post-init; anything else (None) takes the full path."""
    cls = event_class(vendor, name)
    return None if cls is None else payload_check(cls)


def payload_check(cls: type) -> Callable[[dict[str, Any] | None], bool] | None:
    """What tells whether a line's ``data`` is a payload the full path would build ``cls``
    from without changing it (no redaction, no conversion) and would trace as read; None
    when ``cls`` is not that plain (a secret, a nested or converted field, a validator)."""
    if may_hold_secret(cls) or hasattr(cls, "__attrs_post_init__"):
        return None
    hints = typing.get_type_hints(cls)
    allowed: dict[str, tuple[type, ...]] = {}
    required: set[str] = set()
    for f in attrs.fields(cls):
        if f.name in ("t", "session", "id"):
            continue
        if f.validator is not None or f.converter is not None:
            return None
        tp = hints.get(f.name)
        args = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union,
                                                               types.UnionType) else (tp,)
        kinds: tuple[type, ...] = ()
        for arg in args:
            if arg is type(None):
                kinds += (type(None),)
            elif arg in _SCALARS:
                kinds += _SCALARS[arg]
            else:
                return None
        allowed[f.name] = kinds
        if f.default is attrs.NOTHING:
            required.add(f.name)
    # Generated once per class, one expression: the payload's keys are fields of the class,
    # and each field is what its type accepts (exact types), missing only if it has a
    # default (a field the class lacks would be scanned by the full path).
    tests = ["type(data) is dict", "data.keys() <= _known"]
    for field, kinds in allowed.items():
        ok = []
        if bool in kinds:
            ok.append("v is True or v is False")
        if int in kinds:
            ok.append("type(v) is int")
        if float in kinds:
            ok.append("type(v) is float")
        if str in kinds:  # nothing a redaction would change
            ok.append("(type(v) is str and '=' not in v and '\"' not in v)")
        if type(None) in kinds:  # (a missing field is None here: required ones are counted)
            tests.append(f"((v := data.get({field!r})) is None or {' or '.join(ok)})")
        else:  # missing: _M, which no test accepts
            tests.append(f"((v := data.get({field!r}, _M)) is _M and {field not in required}"
                         f" or {' or '.join(ok)})")
    needed = sorted(required)
    if needed:
        tests.append(f"{frozenset(needed)!r} <= data.keys()")
    scope: dict[str, Any] = {"_M": _UNCHECKED, "_known": frozenset(allowed)}
    source = "def check(data):\n    return bool(" + "\n        and ".join(tests) + ")"
    exec(source, scope)  # noqa: S102 - made here from attrs field names
    check: Callable[[dict[str, Any] | None], bool] = scope["check"]
    return check


#: vendor -> what follows the time in its canonical data-only lines.
_AFTER: dict[str, bytes] = {}


def _template(runtime: Runtime, templates: dict[bytes, list[Any]],
              template_of: dict[str, bytes], raw: bytes, vendor: str, name: str,
              session: str, t: float) -> None:
    """Make the canonical line ``raw`` (keys sorted: ``t`` then ``vendor`` last) the
    template of ``session`` in place of its last one, unless that one has not matched yet
    and missed fewer than 8 lines (a payload that changes with every line is not worth a
    template a line)."""
    old = template_of.get(session)
    if old is not None:
        entry = templates[old]
        if not entry[4] and entry[5] < 8:
            entry[5] += 1
            return
        del templates[old]
    after = _AFTER.get(vendor)
    if after is None:  # (one bytes object a vendor: the same memory for every session's)
        after = _AFTER[vendor] = b',"vendor":' + orjson.dumps(vendor) + b"}\n"
    cut = len(raw) - len(after) - len(orjson.dumps(t))
    slot = runtime.data_slot(vendor, name, session)
    if slot is not None and raw[:cut].endswith(b',"t":') and raw.endswith(after):
        templates[raw[:cut]] = [after, len(after), slot, session, False, 0]
        template_of[session] = raw[:cut]
    elif old is not None:
        del template_of[session]


def _event(record: Record, source: str) -> Event:
    return parse_event(record.vendor, record.name, record.t, record.data, record.session,
                       source=source, line=record.line, id=record.id)


def _summaries(runtime: Runtime, notes: SessionNotes, *, pack: bool = False
               ) -> list[dict[str, Any]]:
    """Each session's part of the report. ``pack``: the sessions' files are packed (where
    they pack) and the report's rows of them made from that when read (:class:`FileRows`),
    so the report holds no second copy of every file; only where nothing else will use the
    runtime's sessions."""
    out = []
    for key in sorted(runtime.sessions):
        session = runtime.sessions[key]
        summary = session.machine.summary(session)
        lists, left = notes.listed(key)
        packed = session.pack_files() if pack else None
        out.append({
            "session": key,
            "vendor": session.vendor,
            "machine": session.machine.qualified_name(),
            "state": session.state,
            "recording": session.recording,
            "files": FileRows(packed) if packed is not None else [
                redact(f) for f in session.file_dicts()],
            **lists,
        })
        if summary is not None:
            out[-1]["summary"] = redact(summary)
        if left:
            out[-1]["left_out"] = left
    return out


def _sessions(runtime: Runtime, produced: Iterable[Record],
              violations: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The sessions' part of the report from whole lists (``recstate.workers``)."""
    notes = SessionNotes()
    for record in produced:
        notes.record(record)
    for key, entries in violations.items():
        for entry in entries:
            notes.violation(key, entry)
    return _summaries(runtime, notes)


_key = line_key
_compare = compare


# ---- the readable report ------------------------------------------------------------------------
def _time(t: float | None) -> str:
    """A time as UTC; one no date can show (a vendor's payload may say anything) as the
    number it is, never a crash."""
    if t is None:
        return "-"
    try:
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"
    except (OverflowError, ValueError, OSError, TypeError):
        return f"t={t!r}"


def _duration(start: float | None, end: float | None) -> str:
    if start is None or end is None:
        return "-"
    seconds = end - start
    if not math.isfinite(seconds):
        return "-"
    return f"{int(seconds // 60)}m{seconds % 60:04.1f}s"


def _table(rows: list[list[str]], indent: str = "    ") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows]


def format_report(report: Report) -> str:
    """The report as a readable table per session."""
    return "".join(_report_text(report))


def _report_text(report: Report) -> Iterator[str]:
    """:func:`format_report` a session at a time (then the rest)."""
    for s in report.sessions:
        lines: list[str] = []
        lines.append(f"session {s['session']}  [{s['machine']}]  state={s['state']}  "
                     f"recording={s['recording']}")
        if s["files"]:
            rows = [["file", "participant", "kind", "format", "start", "end", "duration",
                     "size", "status", "url"]]
            rows += [[f["id"], f["participant"] or "(mix)", f["kind"], f["format"],
                      _time(f["start"]), _time(f["end"]), _duration(f["start"], f["end"]),
                      "-" if f["size"] is None else str(f["size"]), f["status"],
                      f["url"] or "-"] for f in s["files"]]
            lines += ["  files:", *_table(rows)]
        if s["commands"]:
            rows = [[_time(c["t"]), c["name"]] for c in s["commands"]]
            lines += ["  commands:", *_table(rows)]
        if s["errors"]:
            rows = [[_time(e["t"]), e["level"], str(e["code"]), e["message"]]
                    for e in s["errors"]]
            lines += ["  notices and errors:", *_table(rows)]
        if s.get("summary"):
            lines += ["  summary:", *(f"    {k}: {orjson.dumps(v).decode()}"
                                      for k, v in s["summary"].items())]
        if s["violations"]:
            rows = [[f"line {v['line']}" if v["line"] is not None else "-", _time(v["t"]),
                     v["name"], v["state"], v["reason"]] for v in s["violations"]]
            lines += ["  violations:", *_table(rows)]
        for what, count in s.get("left_out", {}).items():
            lines.append(f"  ... and {count} more {what} left out of the report")
        lines.append("")
        yield "\n".join(lines) + "\n"
    lines = []
    for v in report.unrouted:
        lines.append(f"unrouted: line {v['line']} {v['name']}: {v['reason']}")
    for m in report.mismatches:
        where = f"line {m['line']}" if m["line"] is not None else "(not in the trace)"
        lines.append(f"mismatch {where} session {m['session']}: {m['what']}")
        if m["expected"] is not None:
            lines.append(f"    logged:   {orjson.dumps(m['expected']).decode()}")
        if m["got"] is not None:
            lines.append(f"    replayed: {orjson.dumps(m['got']).decode()}")
    for b in report.bad_lines:
        lines.append(f"skipped bad line {b['line']}: {b['error']}"
                     + (f" (field {b['field']!r})" if b["field"] else ""))
    for what, count in report.left_out.items():
        lines.append(f"... and {count} more {what.replace('_', ' ')} left out of the report")
    if report.stopped:
        lines.append(f"stopped (strict): {report.stopped}")
    lines.append(f"{report.lines} lines, {report.events} events, {len(report.sessions)} "
                 f"sessions, {report.violations} violations, "
                 f"{len(report.mismatches) + report.left_out.get('mismatches', 0)} "
                 f"mismatches: {'OK' if report.exit_status == 0 else 'FAILED'}")
    yield "\n".join(lines) + "\n"


def write_report(report: Report, stream: IO[str], *, as_json: bool) -> None:
    """The report (``--json`` or the tables) written a session at a time."""
    if as_json:
        report.write_json(lambda chunk: stream.write(chunk.decode()))
    else:
        for text in _report_text(report):
            stream.write(text)


#: For ``recstate.workers``, which builds the same report from a store.
session_reports = _sessions
compare_records = _compare
