"""Start and close (recstate/lifecycle.py), pinned where mutation testing found them loose
(issue 8): ``running`` around ``start`` and ``aclose``, one driver task at a time, a driver
that will not stop, calls still in flight, the ``on_close`` callbacks (once, newest first, a
raising one logged), receivers disconnected for this runtime only, the tracer closed."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from recstate import signals
from recstate.clock import ManualClock
from recstate.runtime import Runtime

T0 = 1_700_000_000.0


class ClosingTracer:
    def __init__(self) -> None:
        self.records: list[Any] = []
        self.closed = 0

    def __call__(self, record: Any) -> None:
        self.records.append(record)

    def close(self) -> None:
        self.closed += 1


async def test_running_follows_the_driver_task_started_and_closed():
    rt = Runtime(ManualClock(T0))
    assert not rt.running
    task = rt.start()
    assert rt.running  # started, even before the task had a turn
    assert rt.start() is task  # one driver at a time
    await asyncio.sleep(0)
    assert rt.running
    await rt.aclose()
    assert task.done()
    assert not rt.running
    assert rt.closed


async def test_start_after_the_driver_stopped_starts_a_new_one():
    rt = Runtime(ManualClock(T0))
    first = rt.start()
    rt.stop()
    await asyncio.wait_for(first, timeout=5)
    assert not rt.running
    second = rt.start()
    assert second is not first
    assert rt.running
    await rt.aclose()


async def test_async_with_gives_the_runtime_running_and_closes_it():
    rt = Runtime(ManualClock(T0))
    async with rt as entered:
        assert entered is rt
        assert rt.running
    assert rt.closed
    assert not rt.running


async def test_a_run_awaited_without_start_is_running_by_the_drivers_own_count():
    """Lifecycle.running is Driver.running (the count of run() calls serving the runtime) or a
    driver task made by start(): a run() awaited directly has no task, so only the driver's
    own answer says it is running (issue 8: Driver.running was dead code under Lifecycle's)."""
    rt = Runtime(ManualClock(T0))
    served = asyncio.get_running_loop().create_task(rt.run())
    for _ in range(5):
        await asyncio.sleep(0)
    assert rt._driver_task is None
    assert rt.running
    rt.stop()
    await asyncio.wait_for(served, timeout=5)
    assert not rt.running
    rt.close()


async def test_a_driver_that_does_not_stop_is_cancelled_after_close_timeout(caplog):
    rt = Runtime(ManualClock(T0), close_timeout=0.01)
    never = asyncio.get_running_loop().create_future()

    async def stuck(**kw: Any) -> None:  # a driver that ignores stop()
        await never

    rt.run = stuck  # type: ignore[method-assign]
    task = rt.start()
    with caplog.at_level(logging.WARNING, logger="recstate"):
        await rt.aclose()  # neither raises nor hangs
    await asyncio.sleep(0)  # the cancellation lands on the task's next turn
    assert task.cancelled()
    assert rt.closed
    assert any("the driver did not stop within 0.01 s; cancelled" in r.getMessage()
               for r in caplog.records)


async def test_a_driver_task_cancelled_by_someone_else_closes_quietly():
    rt = Runtime(ManualClock(T0))
    task = rt.start()
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.wait({task})
    await rt.aclose()  # no CancelledError from the dead driver
    assert rt.closed


async def test_a_call_still_in_flight_after_close_timeout_is_cancelled_and_logged(caplog):
    rt = Runtime(ManualClock(T0), close_timeout=0.01)
    never = asyncio.get_running_loop().create_future()
    done = asyncio.get_running_loop().create_future()
    done.set_result(None)
    rt.track(never)
    rt.track(done)
    with caplog.at_level(logging.WARNING, logger="recstate"):
        await rt.aclose()
    assert never.cancelled()
    assert [r.getMessage() for r in caplog.records if "in flight" in r.getMessage()] == [
        "1 adapter call(s) still in flight after 0.01 s were cancelled"]


async def test_closing_with_every_call_finished_logs_nothing(caplog):
    rt = Runtime(ManualClock(T0), close_timeout=0.01)
    call = asyncio.get_running_loop().create_future()
    rt.track(call)
    asyncio.get_running_loop().call_soon(call.set_result, None)
    with caplog.at_level(logging.WARNING, logger="recstate"):
        async with rt:
            pass
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_aclose_of_a_runtime_never_started_closes_it_once():
    tracer = ClosingTracer()
    rt = Runtime(ManualClock(T0), tracer=tracer)
    await rt.aclose()
    await rt.aclose()
    assert rt.closed
    assert tracer.closed == 1


def test_on_close_callbacks_run_once_newest_first_and_a_raising_one_is_logged(caplog):
    tracer = ClosingTracer()
    rt = Runtime(ManualClock(T0), tracer=tracer)
    order: list[str] = []

    @rt.on_close
    def first() -> None:
        order.append("first")

    def broken() -> None:
        order.append("broken")
        raise RuntimeError("the adapter's socket is gone")

    rt.on_close(broken)
    rt.on_close(lambda: order.append("last"))
    assert callable(first)  # the decorator gives the function back
    with caplog.at_level(logging.ERROR, logger="recstate"), rt as entered:
        assert entered is rt
    rt.close()
    assert order == ["last", "broken", "first"]
    assert tracer.closed == 1  # after the callbacks, and once
    assert [r.getMessage().startswith("a close callback raised") for r in caplog.records
            if r.levelno == logging.ERROR] == [True]


def test_close_disconnects_this_runtimes_receivers_only(tv):
    rt, other = Runtime(ManualClock(T0)), Runtime(ManualClock(T0))
    heard: list[str] = []

    def receiver(sender: Any, **kw: Any) -> None:
        heard.append("x")

    for r in (rt, other):
        signals.transition.connect(receiver, sender=r, weak=False)
        signals.commands(tv.VENDOR).connect(receiver, sender=r, weak=False)
    rt.close()
    assert list(signals.transition.receivers_for(rt)) == []
    assert list(signals.commands(tv.VENDOR).receivers_for(rt)) == []
    other.dispatch(tv.Dial(t=T0, number="a"))
    assert heard == ["x", "x", "x"]  # the other runtime's: one transition, two commands
    other.close()
    assert list(signals.transition.receivers_for(other)) == []


async def test_inputs_submitted_once_the_driver_stopped_are_handed_in_at_close(tv):
    rt = Runtime(ManualClock(T0))
    call = asyncio.get_running_loop().create_future()

    async def answer_late() -> None:
        await call
        rt.submit(tv.Dial(t=T0, number="late"))

    async with rt:
        rt.track(asyncio.ensure_future(answer_late()))
        asyncio.get_running_loop().call_soon(call.set_result, None)
    assert rt.sessions["late"].state == "ringing"
