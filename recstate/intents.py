"""Intents that answer: ``answer = await runtime.send(event)`` (or ``runtime.send_sync``)
hands an input in and returns, once its handling is done, what became of it
(:class:`~recstate.answers.Answer`: accepted with the commands sent, refused with the
vendor's code, message and advice, a violation, or an error). ``dispatch`` and ``submit``
stay the fire-and-forget ways.

A room of :class:`~recstate.runtime.Runtime` (which inherits it).
"""

from __future__ import annotations

import asyncio

from recstate.answers import Answer, Pending, is_own
from recstate.driver import Driver
from recstate.errors import RecstateError
from recstate.events import Event

__all__ = ["Intents"]


class Intents(Driver):
    """``send`` / ``send_sync``: an input handed in, its answer handed back."""

    def send_sync(self, event: Event) -> Answer:
        """Dispatch ``event`` and return what its handling did. A strict runtime's
        violation or error for this very event is answered, not raised.

        Not from inside a handling (a signal receiver): there the event can only be queued
        behind the current handling, so there is no answer yet; use ``dispatch`` there."""
        if self._busy:
            raise RuntimeError(
                "send_sync() called from inside a handling (a signal receiver?): the event "
                "would be queued behind it, so it has no answer yet; use runtime.dispatch() "
                "there, or await runtime.send() from a coroutine")
        got: list[Answer] = []
        self._watching[id(event)] = (event, Pending(event, got.append))
        try:
            self.dispatch(event)
        except RecstateError as raised:
            if not (got and is_own(got[0], raised)):
                raise
        finally:
            self._watching.pop(id(event), None)
        return got[0]

    async def send(self, event: Event) -> Answer:
        """Hand ``event`` in and wait for what its handling did. With ``run()`` serving the
        runtime it goes through the driver's inbox; otherwise it is dispatched here."""
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()

        def done(answer: Answer) -> None:
            if not future.done():
                future.set_result(answer)

        self._watching[id(event)] = (event, Pending(event, done))
        try:
            if self.running:
                self.submit(event)
            else:
                try:
                    self.dispatch(event)
                except RecstateError as raised:
                    if not (future.done() and is_own(future.result(), raised)):
                        raise
            return await future
        finally:
            self._watching.pop(id(event), None)
