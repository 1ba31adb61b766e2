"""The exception hierarchy. Every message names what went wrong, where, and what to do."""

from __future__ import annotations

__all__ = [
    "DefinitionError",
    "HandlingError",
    "OutputError",
    "PayloadError",
    "RecstateError",
    "RestoreError",
    "TraceError",
    "UnknownEventError",
    "VendorError",
    "Violation",
]


class RecstateError(Exception):
    """Base of every error recstate raises on purpose."""


class DefinitionError(RecstateError, TypeError):
    """A machine class is declared wrongly; raised when the class is defined, not at run time."""


class TraceError(RecstateError, ValueError):
    """A trace line that cannot be read: names the source, line, field and what was expected."""

    def __init__(self, message: str, *, source: str = "<trace>", line: int | None = None,
                 field: str | None = None) -> None:
        self.source = source
        self.line = line
        self.field = field
        self.reason = message
        where = source if line is None else f"{source}:{line}"
        if field:
            where += f": field {field!r}"
        super().__init__(f"{where}: {message}")


class OutputError(RecstateError, OSError):
    """A file recstate was asked to write cannot be, or may not be, written (``--out``):
    names the path and what to do."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.reason = message
        super().__init__(f"{path}: {message}")

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class RestoreError(RecstateError, ValueError, KeyError):
    """A snapshot that cannot be restored (an unknown state, a bad timer...): names the
    session and the field; nothing of it was restored. (A KeyError too, as an unknown
    machine was before.)"""

    def __init__(self, key: object, field: str, message: str) -> None:
        self.key = key
        self.field = field
        self.reason = message
        super().__init__(f"snapshot of session {key!r}: {field}: {message}")

    def __str__(self) -> str:
        return str(self.args[0])

class PayloadError(RecstateError, ValueError):
    """A payload value that a vendor's own rule refuses (raised while an event is built):
    its message says what is wrong and what was expected, and is shown as it is."""


class UnknownEventError(TraceError):
    """No event class is registered for a (vendor, name)."""


class Violation(RecstateError):
    """An event that the session's current state does not accept (strict mode raises it)."""

    def __init__(self, *, session: str, name: str, state: str, reason: str,
                 line: int | None = None, t: float | None = None) -> None:
        self.session = session
        self.name = name
        self.state = state
        self.reason = reason
        self.line = line
        self.t = t
        at = f" (trace line {line})" if line is not None else ""
        super().__init__(f"session {session!r}: event {name!r} in state {state!r}{at}: {reason}")


class HandlingError(RecstateError):
    """A machine callback raised while handling an event; the cause is chained."""

    def __init__(self, *, session: str, name: str, state: str, error: BaseException,
                 detail: str | None = None) -> None:
        self.session = session
        self.name = name
        self.state = state
        self.error = error
        # ``detail``: the error's text as it may be shown (the Runtime passes it redacted)
        super().__init__(
            f"session {session!r}: handling {name!r} in state {state!r} raised "
            f"{type(error).__name__}: {error if detail is None else detail}"
        )


class VendorError(RecstateError):
    """An error code a vendor returned, with the vendor's own meaning and advice."""

    def __init__(self, vendor: str, code: int | str, meaning: str, advice: str = "",
                 desc: str = "") -> None:
        self.vendor = vendor
        self.code = code
        self.meaning = meaning
        self.advice = advice
        self.desc = desc
        text = f"{vendor} error {code}: {meaning}"
        if desc and desc != meaning:
            text += f" ({desc})"
        if advice:
            text += f"; advice: {advice}"
        super().__init__(text)
