"""Embedding in an asyncio service (issue 10, points 1 to 4): the README's pattern under a
real event loop and a SystemClock, time moved with freezegun; intents that answer; the
runtime as a context manager; an input's time stamped when left out."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest
from freezegun import freeze_time

from recstate import Runtime, SystemClock, TraceWriter, signals
from recstate.adapters.tencent import TencentSimulator
from recstate.clock import ManualClock
from recstate.events.tencent import (
    EnterRoom,
    MediaData,
    RecordParam,
    RoomInfo,
    StartCommand,
    StartRecording,
    StopOk,
    StopRecording,
)

RELATION = 15000
KEY = f"{RELATION}:7:alice"


def room(room_id: int = 7) -> RoomInfo:
    return RoomInfo(relationId=RELATION, roomId=room_id)


def start(user: str = "alice", room_id: int = 7, file_name: str = "alice-7") -> StartRecording:
    return StartRecording(roomInfo=room(room_id), param=RecordParam(fileName=file_name),
                          user=user)


async def let_run() -> None:
    """Give the loop's other tasks (the driver) a few turns: no time passes."""
    for _ in range(20):
        await asyncio.sleep(0)


async def move_to(frozen: Any, t: float) -> None:
    """Move the frozen clock (and with it the loop's) just past ``t``; let the driver run.
    (The loop fires a call_later strictly before its own now, hence the microsecond.)"""
    frozen.tick(t + 1e-6 - time.time())
    await let_run()


# ---- 1: the driver wakes for whatever changes its next deadline ------------------------------
async def test_the_readme_pattern_fires_every_timer_on_time_under_a_system_clock(tmp_path):
    with freeze_time("2024-01-01T00:00:00Z") as frozen:
        t0 = time.time()
        writer = TraceWriter(tmp_path / "recstate.trace.jsonl")
        async with Runtime(SystemClock(), tracer=writer) as runtime:
            sent: list[tuple[str, float]] = []

            @signals.commands("tencent").connect_via(runtime)
            def perform(sender: Any, *, session: Any, command: Any, t: float) -> None:
                sent.append((command.name, t))

            sim = TencentSimulator(runtime, delay=0.2)  # answers 0.2 s later, data every 10 s
            moves: list[tuple[str, str, float]] = []
            signals.transition.connect(
                lambda s, **kw: moves.append((kw["session"].key, kw["dst"], kw["t"])),
                sender=runtime, weak=False)
            await let_run()  # the driver now waits: no timer is armed

            # a request handler: dispatch() while `run()` is sleeping
            runtime.dispatch(EnterRoom(relationId=RELATION, roomId=7, user="alice"))
            runtime.dispatch(start())
            await let_run()
            assert runtime.sessions[KEY].state == "starting"

            await move_to(frozen, t0 + 0.2)  # the simulator's answer (armed by dispatch)
            assert moves[-1] == (KEY, "recording", pytest.approx(t0 + 0.2, abs=1e-4))

            for k in (1, 2, 3):  # the client's mediaData every 10 s from the start
                await move_to(frozen, t0 + 0.2 + 10 * k)
                assert runtime.sessions[KEY].context.last_data == pytest.approx(
                    t0 + 0.2 + 10 * k, abs=1e-4)

            # bob's start is never answered: the 30 s answer deadline (armed by dispatch)
            bob = f"{RELATION}:8:bob"
            runtime.dispatch(EnterRoom(relationId=RELATION, roomId=8, user="bob"))
            sim.drop_next("requestMultiVideoRecorderStart:ok")
            asked = time.time()
            runtime.dispatch(start("bob", 8, "bob-8"))
            await let_run()
            sim.crash(KEY)  # alice's client stops sending now: the watchdog's 60 s run
            last_data = runtime.sessions[KEY].context.last_data
            await move_to(frozen, asked + 30)
            assert (bob, "stopping", pytest.approx(asked + 30, abs=1e-4)) in moves
            await move_to(frozen, last_data + 60)
            assert (KEY, "stopped", pytest.approx(last_data + 60, abs=1e-4)) in moves
            assert runtime.sessions[KEY].state == "stopped"
            assert ("requestMultiVideoRecorderStart", pytest.approx(t0, abs=1e-4)) in sent
        lines = [orjson.loads(x) for x in (tmp_path / "recstate.trace.jsonl").read_bytes()
                 .splitlines()]
        watchdog = [x for x in lines if x.get("kind") == "transition"
                    and x["name"] == "watchdog"]
        assert [x["t"] for x in watchdog] == [pytest.approx(last_data + 60, abs=1e-4)]


async def test_a_dispatch_from_another_task_wakes_a_driver_sleeping_towards_a_later_deadline(
        tv):
    with freeze_time("2024-01-01T00:00:00Z") as frozen:
        t0 = time.time()
        async with Runtime(SystemClock()) as runtime:
            runtime.dispatch(tv.Schedule(session="a", names=["alarm_b"], delays=[3600]))
            await let_run()  # the driver sleeps towards t0 + 3600
            runtime.dispatch(tv.Schedule(session="a", names=["alarm_a"], delays=[5]))
            await let_run()
            await move_to(frozen, t0 + 5)
            assert runtime.sessions["a"].context.log == [f"alarm_a@{t0 + 5}"]


# ---- 2: intents answer ----------------------------------------------------------------------
async def test_send_answers_accepted_with_the_command_it_sent():
    runtime = Runtime(ManualClock(1_700_000_000.0))
    await runtime.send(EnterRoom(relationId=RELATION, roomId=7, user="alice"))
    answer = await runtime.send(start())
    assert answer.status == "accepted"
    assert answer.accepted
    assert answer.session == KEY
    assert answer.state == "starting"
    assert answer.command == StartCommand(roomInfo=room(), param=RecordParam(fileName="alice-7"))


async def test_send_answers_a_duplicate_start_refused_with_30000415_and_the_vendors_advice():
    runtime = Runtime(ManualClock(1_700_000_000.0))
    for rid in (7, 8):
        runtime.dispatch(EnterRoom(relationId=RELATION, roomId=rid, user="alice"))
    runtime.dispatch(start())
    answer = await runtime.send(start(room_id=8, file_name="alice-8"))
    assert answer.status == "refused"
    assert answer.refused
    assert answer.code == 30000415
    assert answer.commands == ()
    # 004 §5, the row of 30000415: 【检查是否成功开房，录制的用户ID，groupid是否填写正确】
    assert "检查是否成功开房，录制的用户ID，groupid是否填写正确" in answer.advice
    assert "one recording per user" in answer.message
    assert answer.to_dict()["code"] == 30000415


def test_send_sync_answers_no_file_name_refused_with_30000002():
    runtime = Runtime(ManualClock(1_700_000_000.0))
    runtime.dispatch(EnterRoom(relationId=RELATION, roomId=7, user="alice"))
    answer = runtime.send_sync(start(file_name=""))
    assert (answer.status, answer.code) == ("refused", 30000002)
    assert "录制请求字段填写是否完整" in answer.advice  # 004 §5, row 30000002


def test_send_sync_answers_a_refusal_without_a_vendor_code_and_a_violation():
    runtime = Runtime(ManualClock(1_700_000_000.0), strict=True)
    answer = runtime.send_sync(start())  # never entered the room
    assert (answer.status, answer.code, answer.advice) == ("refused", "not-in-room", "")
    answer = runtime.send_sync(StopOk(session=KEY))  # idle: stop:ok is not taken
    assert answer.status == "violation"  # strict: answered, not raised
    assert answer.violation is not None
    assert answer.violation.state == "idle"
    answer = runtime.send_sync(MediaData())  # names no user: no session for it
    assert answer.status == "violation"
    assert answer.session is None
    assert "no session key" in answer.message


def test_send_sync_answers_an_error_when_the_adapter_raises():
    runtime = Runtime(ManualClock(1_700_000_000.0))
    runtime.dispatch(EnterRoom(relationId=RELATION, roomId=7, user="alice"))

    def broken(sender: Any, **kw: Any) -> None:
        raise ConnectionError("the SDK is gone")

    signals.commands("tencent").connect(broken, sender=runtime, weak=False)
    answer = runtime.send_sync(start())
    assert answer.status == "error"
    assert "ConnectionError: the SDK is gone" in answer.message
    runtime.close()


@freeze_time("2024-01-01T00:00:00Z")
async def test_send_through_a_running_driver_answers_once_handled():
    async with Runtime(SystemClock()) as runtime:  # frozen: the answer deadline stays away
        assert runtime.running
        await runtime.send(EnterRoom(relationId=RELATION, roomId=7, user="alice"))
        answer = await asyncio.wait_for(runtime.send(start()), timeout=5)
        assert answer.accepted
        assert answer.state == "starting"
        answer = await runtime.send(StopRecording(roomInfo=room(), user="alice"))
        assert (answer.status, answer.notices[0].code) == ("accepted", "stop-deferred")


# ---- 3: lifecycle -----------------------------------------------------------------------------
async def test_async_with_runs_the_driver_waits_for_calls_in_flight_and_closes_the_trace(
        tmp_path):
    path = tmp_path / "t.jsonl"
    writer = TraceWriter(path)
    clock = ManualClock(1_700_000_000.0)
    async with Runtime(clock, tracer=writer) as runtime:
        sim = TencentSimulator(runtime)
        runtime.dispatch(EnterRoom(relationId=RELATION, roomId=7, user="alice"))
        call = asyncio.get_running_loop().create_future()

        async def api_call() -> None:  # an adapter's call in flight, answered after close
            await call
            runtime.submit(MediaData(relationId=RELATION, roomId=7, user="alice", bytes=1))

        runtime.track(asyncio.ensure_future(api_call()))
        asyncio.get_running_loop().call_soon(call.set_result, None)
    assert not runtime.running
    assert runtime.closed
    assert writer._file.closed  # flushed and closed
    names = [orjson.loads(x)["name"] for x in path.read_bytes().splitlines()]
    assert names == ["enterRoom", "mediaData"]  # the answer in flight was handed in
    assert list(signals.commands("tencent").receivers_for(runtime)) == []  # disconnected
    assert sim.answered == []


async def test_closing_gives_up_on_a_call_that_never_ends_after_close_timeout():
    runtime = Runtime(ManualClock(0.0), close_timeout=0.01)
    never = asyncio.get_running_loop().create_future()
    async with runtime:
        runtime.track(never)
    assert never.cancelled()


def test_with_closes_the_trace_and_disconnects_adapters(tmp_path):
    writer = TraceWriter(tmp_path / "t.jsonl")
    closed: list[str] = []
    with Runtime(ManualClock(1_700_000_000.0), tracer=writer) as runtime:
        TencentSimulator(runtime)
        runtime.on_close(lambda: closed.append("adapter"))
        runtime.dispatch(EnterRoom(relationId=RELATION, roomId=7, user="alice"))
        runtime.dispatch(start())
        assert signals.commands("tencent").receivers_for(runtime)
    assert writer._file.closed
    assert closed == ["adapter"]
    assert list(signals.commands("tencent").receivers_for(runtime)) == []
    assert b'"name":"requestMultiVideoRecorderStart"' in (tmp_path / "t.jsonl").read_bytes()


# ---- 4: an input's time ------------------------------------------------------------------------
def test_a_live_input_without_t_is_stamped_with_the_runtimes_clock():
    records: list[Any] = []
    clock = ManualClock(1_700_000_123.5)
    runtime = Runtime(clock, tracer=records.append)
    ev = EnterRoom(relationId=RELATION, roomId=7, user="alice")
    assert ev.t is None
    runtime.dispatch(ev)
    assert ev.t == 1_700_000_123.5
    assert records[0].t == 1_700_000_123.5


async def test_a_strict_runtimes_error_in_the_driver_is_raised_when_the_block_closes(tv):
    from recstate import Violation

    runtime = Runtime(ManualClock(1_700_000_000.0), strict=True)

    async def serve() -> None:
        async with runtime:
            runtime.submit(tv.Kick(session="a"))  # the Phone takes no kick
            await let_run()  # the driver handles it, and ends on the Violation
            assert runtime._driver_task is not None
            assert runtime._driver_task.done()

    with pytest.raises(Violation, match="kick"):
        await serve()
    assert runtime.closed
