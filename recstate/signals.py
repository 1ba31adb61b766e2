"""The framework's blinker signals.

Every signal is sent with the Runtime as sender, so an adapter subscribes to one runtime
(``signal.connect(fn, sender=runtime)``) and never hears another's. Command signals are per
vendor: an adapter subscribes to its vendor only.
"""

from __future__ import annotations

from blinker import NamedSignal, Namespace

__all__ = [
    "commands",
    "error",
    "file_changed",
    "recording_changed",
    "transition",
    "violation",
]

_ns = Namespace()

#: A state change: kwargs ``session``, ``name`` (the trigger), ``src``, ``dst``, ``t``.
transition: NamedSignal = _ns.signal("transition")
#: An event the state did not accept: kwargs ``violation`` (a Violation) and ``session``.
violation: NamedSignal = _ns.signal("violation")
#: A notice or a handling error recorded against a session: kwargs ``session``, ``name``,
#: ``code``, ``message``, ``level``, ``t``.
error: NamedSignal = _ns.signal("error")
#: The unified view: kwargs ``session``, ``old``, ``new`` (canonical states), ``t``.
recording_changed: NamedSignal = _ns.signal("recording-changed")
#: A RecordingFile opened / closed / ready / lost: kwargs ``session``, ``file``, ``change``.
file_changed: NamedSignal = _ns.signal("file-changed")


def commands(vendor: str) -> NamedSignal:
    """The signal on which ``vendor``'s commands go out: kwargs ``session``, ``command``."""
    return _ns.signal(f"{vendor}.command")
