"""The run-to-completion loop (recstate/scheduling.py), pinned where mutation testing found it
loose: what a receiver dispatches during a timer-fired handling is queued behind it, never run
inside it (issue 8: ``_drain``'s re-entrancy guard)."""

from __future__ import annotations

from typing import Any

from recstate import signals
from recstate.runtime import Runtime

T0 = 1_700_000_000.0


def test_an_event_dispatched_during_a_timer_fired_handling_waits_for_it_to_finish(runtime, tv):
    """The rollover timer (every 10 s in ``talking``) closes file a-1 and opens a-2 in one
    handling. A receiver of the ``closed`` change dispatches a ping: run-to-completion says the
    ping is handled after the rollover's handling is over, so when the ``opened`` change is
    told the ping has not been handled yet."""
    runtime.dispatch(tv.Dial(t=T0, number="a"))
    runtime.dispatch(tv.Answer(t=T0, session="a"))
    seen_at_open: list[list[str]] = []

    def on_file(rt: Runtime, *, session: Any, change: str, file: Any, **_: Any) -> None:
        if change == "closed" and file.id == "a-1":
            rt.dispatch(tv.Ping(t=rt.clock.now(), session="a", seq=1))
        elif change == "opened" and file.id == "a-2":
            seen_at_open.append(list(session.context.log))

    with signals.file_changed.connected_to(on_file, sender=runtime):
        runtime.advance(T0 + 10)
    assert seen_at_open == [[f"rollover@{T0 + 10}"]]  # nested, the ping would be logged here
    assert runtime.sessions["a"].context.log == [f"rollover@{T0 + 10}", f"ping@{T0 + 10}"]
