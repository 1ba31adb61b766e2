"""Intents that answer (recstate/intents.py), pinned where mutation testing found them loose
(issue 8): a strict runtime answers the violation of the very input it was handed and raises
those of other inputs handled in the same drain; ``send`` without a driver dispatches at once,
with one it goes through the driver."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from recstate import signals
from recstate.clock import ManualClock
from recstate.errors import Violation
from recstate.runtime import Runtime

T0 = 1_700_000_000.0


def kick_on_ring(rt: Runtime, tv: Any) -> Any:
    """A receiver that answers the ``ring`` command with an input the Phone refuses."""

    def on_command(sender: Any, *, session: Any, command: Any, **kw: Any) -> None:
        if command.name == "ring":
            rt.dispatch(tv.Kick(t=T0, session=session.key))

    return signals.commands(tv.VENDOR).connected_to(on_command, sender=rt)


def test_send_sync_answers_its_own_violation_in_a_strict_runtime(tv):
    rt = Runtime(ManualClock(T0), strict=True)
    answer = rt.send_sync(tv.Kick(t=T0, session="a"))
    assert answer.status == "violation"
    assert answer.violation is not None
    assert answer.violation.name == "kick"


def test_send_sync_raises_the_violation_of_another_input_handled_after_it(tv):
    rt = Runtime(ManualClock(T0), strict=True)
    with kick_on_ring(rt, tv), pytest.raises(Violation, match="takes no event 'kick'"):
        rt.send_sync(tv.Dial(t=T0, number="a"))
    assert rt.sessions["a"].state == "ringing"  # the dial itself was taken


async def test_send_answers_its_own_violation_in_a_strict_runtime(tv):
    rt = Runtime(ManualClock(T0), strict=True)
    answer = await rt.send(tv.Kick(t=T0, session="a"))
    assert answer.status == "violation"
    assert answer.violation is not None
    assert answer.violation.name == "kick"


async def test_send_raises_the_violation_of_another_input_handled_after_it(tv):
    rt = Runtime(ManualClock(T0), strict=True)
    with kick_on_ring(rt, tv), pytest.raises(Violation, match="takes no event 'kick'"):
        await rt.send(tv.Dial(t=T0, number="a"))


async def test_send_without_a_driver_is_handled_before_it_returns(tv):
    rt = Runtime(ManualClock(T0), strict=True)
    answer = await rt.send(tv.Dial(t=T0, number="a"))
    assert (answer.status, answer.state) == ("accepted", "ringing")
    assert rt._watching == {}  # nothing left watched once answered


async def test_send_through_a_running_driver_is_handled_by_it(tv):
    rt = Runtime(ManualClock(T0), strict=True)
    handled_by: list[bool] = []

    def on_transition(sender: Any, **kw: Any) -> None:
        handled_by.append(rt._running > 0)  # inside run(), not inside send()

    with signals.transition.connected_to(on_transition, sender=rt):
        driver = asyncio.create_task(rt.run())
        await asyncio.sleep(0)
        answer = await asyncio.wait_for(rt.send(tv.Dial(t=T0, number="a")), timeout=5)
        rt.stop()
        await asyncio.wait_for(driver, timeout=5)
    assert (answer.status, answer.state) == ("accepted", "ringing")
    assert handled_by == [True]
    assert rt._watching == {}


def test_send_sync_from_inside_a_handling_is_refused(tv):
    rt = Runtime(ManualClock(T0), strict=True)
    refused: list[str] = []

    def on_command(sender: Any, **kw: Any) -> None:
        try:
            rt.send_sync(tv.Ping(t=T0, session="a", seq=1))
        except RuntimeError as exc:
            refused.append(str(exc))

    with signals.commands(tv.VENDOR).connected_to(on_command, sender=rt):
        rt.dispatch(tv.Dial(t=T0, number="a"))
    assert len(refused) == 2
    assert "use runtime.dispatch() there" in refused[0]
    assert rt.sessions["a"].context.log == []  # the pings were never handed in

