"""The asyncio driver (recstate/driver.py), pinned where mutation testing found it loose
(issue 8): the deadline it sleeps towards, the wake when a dispatch made elsewhere arms an
earlier timer, the sleeper task cancelled when something else woke it, ``running``, and
``settle``. No wall clock: ``StepClock`` records each sleep the driver asks for and moves only
when the test moves it."""

from __future__ import annotations

import asyncio
from typing import Any

from recstate import signals
from recstate.clock import ManualClock
from recstate.runtime import Runtime

T0 = 1_700_000_000.0


class StepClock:
    """A Clock whose ``sleep`` records the seconds asked for and returns when the test moves
    the clock past its deadline (or is cancelled: counted)."""

    def __init__(self, start: float) -> None:
        self.t = start
        self.asked: list[float] = []
        self.cancelled = 0
        self._sleeping: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.asked.append(seconds)
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleeping.append((self.t + seconds, woken))
        try:
            await woken
        except asyncio.CancelledError:
            self.cancelled += 1
            raise

    def move_to(self, t: float) -> None:
        self.t = t
        for deadline, woken in self._sleeping:
            if deadline <= t and not woken.done():
                woken.set_result(None)


async def turns(n: int = 20) -> None:
    """Let the loop's other tasks (the driver) run; no time passes."""
    for _ in range(n):
        await asyncio.sleep(0)


async def test_the_driver_sleeps_exactly_until_the_next_deadline_and_wakes_for_an_earlier_one(
        tv):
    clock = StepClock(T0)
    rt = Runtime(clock, strict=True)  # type: ignore[arg-type]
    rt.dispatch(tv.Schedule(t=T0, session="a", names=["alarm_a"], delays=[100]))
    driver = asyncio.create_task(rt.run())
    await turns()
    assert clock.asked == [100]
    assert rt.running
    # a dispatch made elsewhere on the loop (a request handler) arms two earlier timers in
    # one handling: the driver wakes once, and its sleep towards T0+100 is cancelled
    rt.dispatch(tv.Schedule(t=T0, session="a", names=["alarm_b", "alarm_c"],
                            delays=[0.25, 2]))
    await turns()
    assert clock.asked == [100, 0.25]
    assert clock.cancelled == 1
    clock.move_to(T0 + 0.25)
    await turns()
    assert rt.sessions["a"].context.log == [f"alarm_b@{T0 + 0.25}"]
    assert clock.asked == [100, 0.25, 1.75]  # towards alarm_c at T0+2
    clock.move_to(T0 + 2)
    await turns()
    assert clock.asked == [100, 0.25, 1.75, 98]
    # an event submitted now is handled (nothing left over from the earlier waits took it)
    rt.submit(tv.Dial(t=T0 + 2, number="b"))
    await turns()
    assert rt.sessions["b"].state == "ringing"
    assert clock.cancelled == 2  # the sleep towards T0+100, again
    rt.stop()
    await asyncio.wait_for(driver, timeout=5)
    assert not rt.running
    assert rt.sessions["a"].context.log == [f"alarm_b@{T0 + 0.25}", f"alarm_c@{T0 + 2}"]


async def test_run_until_sleeps_no_further_than_until(tv):
    clock = StepClock(T0)
    rt = Runtime(clock, strict=True)  # type: ignore[arg-type]
    rt.dispatch(tv.Schedule(t=T0, session="a", names=["alarm_a"], delays=[100]))
    driver = asyncio.create_task(rt.run(until=T0 + 30))
    await turns()
    assert clock.asked == [30]
    clock.move_to(T0 + 30)
    await asyncio.wait_for(driver, timeout=5)
    assert rt.sessions["a"].context.log == []


async def test_running_is_true_only_while_run_serves_the_runtime(tv):
    rt = Runtime(ManualClock(T0))
    assert not rt.running
    seen: list[bool] = []

    def on_transition(sender: Any, **kw: Any) -> None:
        seen.append(rt.running)

    with signals.transition.connected_to(on_transition, sender=rt):
        rt.dispatch(tv.Dial(t=T0, number="outside"))
        driver = asyncio.create_task(rt.run())
        await turns()
        rt.submit(tv.Dial(t=T0, number="inside"))
        await turns()
        rt.stop()
        await asyncio.wait_for(driver, timeout=5)
    assert seen == [False, True]
    assert not rt.running
    await asyncio.wait_for(rt.run(until=T0), timeout=5)  # returns at once: until is now
    assert not rt.running
    with signals.transition.connected_to(on_transition, sender=rt):
        driver = asyncio.create_task(rt.run())  # served again after it stopped
        await turns()
        rt.submit(tv.Dial(t=T0, number="again"))
        await turns()
        rt.stop()
        await asyncio.wait_for(driver, timeout=5)
    assert seen == [False, True, True]
    assert not rt.running


async def test_settle_hands_in_what_a_task_started_by_a_receiver_submits(tv):
    """An adapter answers from a task it scheduled (not tracked): settle lets it start."""
    rt = Runtime(ManualClock(T0), strict=True)

    def on_command(sender: Any, *, session: Any, command: Any, **kw: Any) -> None:
        if command.name == "ring":
            async def answer() -> None:
                rt.submit(tv.Answer(session=session.key))
            asyncio.get_running_loop().create_task(answer())

    with signals.commands(tv.VENDOR).connected_to(on_command, sender=rt):
        rt.dispatch(tv.Dial(t=T0, number="a"))
        await rt.settle()
    assert rt.sessions["a"].state == "talking"


async def test_settle_fires_an_input_a_task_delivers_for_now(tv):
    rt = Runtime(ManualClock(T0), strict=True)

    async def deliver() -> None:
        rt.deliver_at(None, tv.Dial(t=T0, number="a"))  # due now, through the timer queue

    asyncio.get_running_loop().create_task(deliver())
    await rt.settle()
    assert rt.sessions["a"].state == "ringing"


async def test_settle_leaves_a_stop_for_run_and_handles_what_comes_after_it(tv):
    rt = Runtime(ManualClock(T0), strict=True)
    await rt.settle()  # nothing to do: leaves nothing behind
    rt.submit(tv.Dial(t=T0, number="a"))
    await rt.settle()
    assert rt.sessions["a"].state == "ringing"
    driver = asyncio.create_task(rt.run())
    await turns()
    rt.stop()  # its marker is in the inbox when settle runs, before the driver does
    await rt.settle()
    await asyncio.wait_for(driver, timeout=5)  # the stop reached run()
    assert not rt.running


async def test_settle_on_a_manual_clock_moves_through_each_timer_to_until(tv):
    rt = Runtime(ManualClock(T0), strict=True)
    rt.dispatch(tv.Schedule(t=T0, session="a", names=["alarm_a", "alarm_b"], delays=[5, 50]))
    await rt.settle(until=T0 + 20)
    assert rt.clock.now() == T0 + 20
    assert rt.sessions["a"].context.log == [f"alarm_a@{T0 + 5}"]
    await rt.settle(until=T0 + 50)  # a timer due exactly at until fires
    assert rt.sessions["a"].context.log == [f"alarm_a@{T0 + 5}", f"alarm_b@{T0 + 50}"]
    assert rt.clock.now() == T0 + 50


async def test_settle_does_not_wait_on_the_loops_clock(tv):
    """settle yields to the loop, never sleeps on it: a task that only yields 50 times
    finishes after it."""
    rt = Runtime(ManualClock(T0), strict=True)
    rt.dispatch(tv.Dial(t=T0, number="a"))

    async def yields() -> None:
        for _ in range(50):
            await asyncio.sleep(0)

    settling = asyncio.ensure_future(rt.settle())
    yielding = asyncio.ensure_future(yields())
    done, _ = await asyncio.wait({settling, yielding}, return_when=asyncio.FIRST_COMPLETED)
    assert settling in done
    await yielding
