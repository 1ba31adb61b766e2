"""The asyncio driver: ``await runtime.run(until=...)`` sleeps on the runtime's clock until the
next deadline or the next submitted event. On a ManualClock a simulated hour takes no time."""

from __future__ import annotations

import asyncio
from typing import Any

from recstate import signals
from recstate.clock import ManualClock
from recstate.runtime import Runtime

T0 = 1_700_000_000.0


async def test_run_fires_timers_at_their_deadlines_by_sleeping_on_the_clock(runtime, tv,
                                                                          listen):
    moves = listen(signals.transition, runtime)
    runtime.dispatch(tv.Dial(t=T0, number="a"))
    runtime.dispatch(tv.Answer(t=T0, session="a"))
    runtime.dispatch(tv.Schedule(t=T0, session="a", names=["alarm_a", "alarm_b"],
                                 delays=[5, 3600]))
    await runtime.run(until=T0 + 3600)
    session = runtime.sessions["a"]
    assert runtime.clock.now() == T0 + 3600
    # the clock stopped at each deadline in turn: every timer saw its own time
    assert session.context.log[:2] == [f"alarm_a@{T0 + 5}", f"rollover@{T0 + 10}"]
    assert session.context.log[-2:] == [f"watchdog@{T0 + 60}", f"alarm_b@{T0 + 3600}"]
    assert session.context.rollovers == 5  # 10..50, then the watchdog ended the call
    assert [(m["name"], m["t"]) for m in moves][-1] == ("watchdog", T0 + 60)
    # alarm_b, due exactly at ``until``, fired before run() returned (asserted above)


async def test_run_until_returns_at_until_leaving_later_timers_armed(runtime, tv):
    runtime.dispatch(tv.Schedule(t=T0, session="a", names=["alarm_a"], delays=[100]))
    await runtime.run(until=T0 + 50)
    assert runtime.clock.now() == T0 + 50
    assert runtime.sessions["a"].context.log == []
    assert runtime.next_deadline() == T0 + 100


async def test_run_wakes_for_an_event_submitted_by_another_task(recstate_clock, tv):
    rt = Runtime(recstate_clock, strict=True)
    handled = asyncio.Event()

    def on_transition(sender: Any, **kw: Any) -> None:
        handled.set()

    async def caller() -> None:
        await asyncio.sleep(0)
        rt.submit(tv.Dial(t=recstate_clock.now(), number="a"))
        await handled.wait()
        rt.stop()

    with signals.transition.connected_to(on_transition, sender=rt):
        # no timer and no ``until``: run() can only wait for the inbox
        await asyncio.wait_for(asyncio.gather(rt.run(), caller()), timeout=5)
    assert rt.sessions["a"].state == "ringing"
    assert recstate_clock.now() == T0  # nothing made virtual time pass


async def test_run_handles_submitted_events_while_timers_are_pending(recstate_clock, tv):
    rt = Runtime(recstate_clock, strict=True)
    rt.dispatch(tv.Dial(t=T0, number="a"))
    rt.dispatch(tv.Answer(t=T0, session="a"))

    async def caller() -> None:
        for size in (1, 2, 3):
            rt.submit(tv.MediaData(t=recstate_clock.now(), session="a", size=size))
            await asyncio.sleep(0)

    await asyncio.wait_for(asyncio.gather(rt.run(until=T0 + 30), caller()), timeout=5)
    assert rt.sessions["a"].context.data == 6
    assert rt.sessions["a"].context.rollovers == 3
    assert recstate_clock.now() == T0 + 30


async def test_stop_ends_run_once_it_has_handled_what_it_has(recstate_clock, tv):
    rt = Runtime(recstate_clock, strict=True)
    task = asyncio.create_task(rt.run())
    await asyncio.sleep(0)
    rt.submit(tv.Dial(t=T0, number="a"))
    rt.submit(tv.Dial(t=T0, number="b"))
    rt.stop()
    await asyncio.wait_for(task, timeout=5)
    assert set(rt.sessions) == {"a", "b"}


async def test_stop_before_run_has_started_still_ends_it(recstate_clock, tv):
    rt = Runtime(recstate_clock, strict=True)
    task = asyncio.create_task(rt.run())  # not started yet when stop() is called
    rt.submit(tv.Dial(t=T0, number="a"))
    rt.stop()
    await asyncio.wait_for(task, timeout=5)
    assert rt.sessions["a"].state == "ringing"


async def test_run_can_be_run_again_after_stop(recstate_clock, tv):
    rt = Runtime(recstate_clock, strict=True)
    task = asyncio.create_task(rt.run())
    await asyncio.sleep(0)
    rt.stop()
    await asyncio.wait_for(task, timeout=5)
    rt.dispatch(tv.Schedule(t=T0, session="a", names=["alarm_a"], delays=[10]))
    await asyncio.wait_for(rt.run(until=T0 + 20), timeout=5)
    assert rt.sessions["a"].context.log == [f"alarm_a@{T0 + 10}"]


async def test_run_on_a_manual_clock_simulates_a_day_of_timers_in_virtual_time(tv):
    clock = ManualClock(T0)
    rt = Runtime(clock, strict=True)
    rt.dispatch(tv.Schedule(t=T0, session="a", names=["alarm_a"], delays=[60], every=60))
    await rt.run(until=T0 + 86_400)
    assert len(rt.sessions["a"].context.log) == 1440
    assert rt.sessions["a"].context.log[-1] == f"alarm_a@{T0 + 86_400}"


async def test_tracked_work_holds_virtual_time_until_it_is_done() -> None:
    """An adapter's API call in flight: on a ManualClock, run() does not jump past it."""
    import asyncio

    from recstate import ManualClock, Runtime

    clock = ManualClock(1000.0)
    rt = Runtime(clock)
    call = asyncio.get_running_loop().create_future()
    rt.track(call)
    driver = asyncio.create_task(rt.run(until=1010.0))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not driver.done()
    assert clock.now() == 1000.0, "virtual time stood still while the call was in flight"
    call.set_result(None)
    await driver
    assert clock.now() == 1010.0
