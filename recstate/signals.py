"""The framework's blinker signals.

Every signal is sent with the Runtime as sender, so an adapter subscribes to one runtime
(``signal.connect(fn, sender=runtime)`` or ``@signal.connect_via(runtime)``) and never hears
another's. Command signals are per vendor: an adapter subscribes to its vendor only.

Receivers are plain functions called inside the handling, with keyword arguments only; each
signal's ``doc`` (``help(signals.transition)``, ``signals.transition.__doc__``) names every
one of them with its type. ``session`` is always the :class:`~recstate.session.Session`
object (``session.key`` is its key), ``t`` the handling's time in Unix seconds. Write a
receiver with ``**kwargs`` at the end so that a keyword added later does not break it.
"""

from __future__ import annotations

from collections.abc import Iterator

from blinker import NamedSignal, Namespace

__all__ = [
    "all_signals",
    "commands",
    "error",
    "file_changed",
    "recording_changed",
    "session_closed",
    "transition",
    "violation",
]

_ns = Namespace()

transition: NamedSignal = _ns.signal("transition", doc=(
    "A state change. Keyword arguments: session (Session), t (float, Unix seconds), "
    "name (str: the trigger), src (str: the state left), dst (str: the state entered)."))

violation: NamedSignal = _ns.signal("violation", doc=(
    "An event the state did not accept, or a vendor answer that breaks the documented "
    "rules. Keyword arguments: violation (recstate.errors.Violation: session key, name, "
    "state, reason, line, t), session (Session, or None for an input no session could be "
    "found for)."))

error: NamedSignal = _ns.signal("error", doc=(
    "A notice or an error recorded against a session. Keyword arguments: session (Session, "
    "or None for an unroutable input), name (str: the trigger), code (int | str: the "
    "vendor's code or the machine's word), message (str, redacted), level (str: 'error', "
    "'warning' or 'info'), t (float, Unix seconds)."))

recording_changed: NamedSignal = _ns.signal("recording-changed", doc=(
    "The unified view: a recording's canonical state changed. Keyword arguments: session "
    "(Session), t (float, Unix seconds), old (str), new (str): canonical states, one of "
    "idle, starting, recording, stopping, stopped, failed."))

file_changed: NamedSignal = _ns.signal("file-changed", doc=(
    "The unified view: a RecordingFile changed. Keyword arguments: session (Session), "
    "t (float, Unix seconds), file (recstate.recording.RecordingFile, as it is now), change "
    "(str: 'opened', 'expected', 'closed', 'ready', 'lost', 'failed' or 'updated'), "
    "previous_id (str | None: the file's id before this change when the change replaced "
    "it, a local id by the vendor's; None otherwise)."))

session_closed: NamedSignal = _ns.signal("session-closed", doc=(
    "A session left the runtime: finished (a finished state, no timer left) for its "
    "retention period, or closed with Runtime.close_session. Keyword arguments: session "
    "(Session, as it was last), t (float, Unix seconds), reason (str: 'retention' or "
    "'closed'). An adapter that indexes sessions forgets it here."))


def commands(vendor: str) -> NamedSignal:
    """The signal on which ``vendor``'s commands go out (``tencent.command``...)."""
    return _ns.signal(f"{vendor}.command", doc=(
        f"A command of the {vendor} machines to carry out (an adapter turns it into the "
        "vendor's API call and hands the outcome back as an event). Keyword arguments: "
        "session (Session), t (float, Unix seconds: when it was sent), command "
        f"(recstate.events.Command: a {vendor} command; command.name is the vendor's name, "
        "command.payload() its fields)."))


def all_signals() -> Iterator[NamedSignal]:
    """Every signal made so far (the command signals of the vendors seen included)."""
    return iter(list(_ns.values()))
