"""What became of an input handed in with ``Runtime.send``: accepted (with the commands it
sent), refused (the vendor's code, message and advice), a violation, or an error.

An app's intent (start recording, hang up) is an event like any other, and the machine
decides: a documented refusal is a notice with no command (a Tencent duplicate start,
30000415), an event the state does not take is a violation. :class:`Answer` gathers what the
handling of one input produced, so that an HTTP endpoint can answer 202 with the command
sent, or 409 with the vendor's advice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import attrs

from recstate.errors import HandlingError, RecstateError, Violation

__all__ = ["Answer", "AnswerStatus", "Notice", "Pending"]

AnswerStatus = Literal["accepted", "refused", "violation", "error"]


@attrs.frozen
class Notice:
    """A notice the handling recorded (``code``, ``message``, ``level``)."""

    code: int | str
    message: str
    level: str


@attrs.frozen
class Answer:
    """What the handling of one input did.

    - ``accepted``: the machine took it; ``commands`` are what it sent (maybe none: a stop
      deferred while starting is accepted with a notice of level ``info``);
    - ``refused``: taken, but the machine refused it as the vendor documents, sending
      nothing: ``code``, ``message`` and ``advice`` (the vendor's, when its error table has
      the code) say why and what to do;
    - ``violation``: the state does not take it, or no session could be found for it
      (``violation`` holds the :class:`~recstate.errors.Violation`);
    - ``error``: a machine callback or a receiver of what it sent raised (``error``).
    """

    status: AnswerStatus
    name: str
    session: str | None = None
    state: str | None = None
    commands: tuple[Any, ...] = ()
    notices: tuple[Notice, ...] = ()
    code: int | str | None = None
    message: str = ""
    advice: str = ""
    violation: Violation | None = None
    error: RecstateError | None = None

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"

    @property
    def refused(self) -> bool:
        return self.status == "refused"

    @property
    def command(self) -> Any:
        """The first command sent, or None."""
        return self.commands[0] if self.commands else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: what an HTTP endpoint answers."""
        return {"status": self.status, "name": self.name, "session": self.session,
                "state": self.state,
                "commands": [{"name": c.name, "data": c.payload()} for c in self.commands],
                "code": self.code, "message": self.message, "advice": self.advice}


class Pending:
    """Collects what the handling of one watched input produces (the Runtime fills it)."""

    __slots__ = ("commands", "done", "error", "event", "notices", "parts", "session",
                 "state", "violation")

    def __init__(self, event: Any, done: Callable[[Answer], None]) -> None:
        self.event = event
        self.done = done
        self.parts = 1  # an input split into several sessions answers when all are handled
        self.session: str | None = None
        self.state: str | None = None
        self.commands: list[Any] = []
        self.notices: list[Notice] = []
        self.violation: Violation | None = None
        self.error: RecstateError | None = None

    def answer(self, explain: Callable[[int | str], Any] | None = None) -> Answer:
        name = self.event.name
        common: dict[str, Any] = {"name": name, "session": self.session, "state": self.state,
                                  "commands": tuple(self.commands),
                                  "notices": tuple(self.notices)}
        if self.error is not None:
            return Answer("error", **common, message=str(self.error), error=self.error)
        if self.violation is not None:
            return Answer("violation", **common, message=self.violation.reason,
                          violation=self.violation)
        refusal = next((n for n in self.notices if n.level == "error"), None)
        if refusal is not None and not self.commands:
            advice = ""
            if explain is not None:
                try:
                    known = explain(refusal.code)
                except Exception:  # an explanation is a courtesy: never fail the answer
                    known = None
                advice = getattr(known, "advice", "") or ""
            return Answer("refused", **common, code=refusal.code, message=refusal.message,
                          advice=advice)
        return Answer("accepted", **common)


def is_own(answer: Answer, raised: BaseException) -> bool:
    """Whether a strict runtime's exception is the one this answer already carries."""
    return raised is answer.violation or raised is answer.error or (
        isinstance(raised, HandlingError) and answer.error is raised)
