"""The pytest plugin (issue 10, point 10): its fixtures, assertions and ``settle``, used the
way an application's tests would use them."""

from __future__ import annotations

import pytest

from recstate.events import parse_event
from recstate.events.tencent import (
    EnterRoom,
    ExitRoom,
    RecordParam,
    RoomInfo,
    StartRecording,
    StopRecording,
    key_for,
)

T0 = 1_700_000_000.0
KEY = key_for(15000, 7, "alice")
MINUTE = 60.0


def start_alice(rt) -> None:
    rt.dispatch(EnterRoom(relationId=15000, roomId=7, user="alice"))
    rt.dispatch(StartRecording(roomInfo=RoomInfo(relationId=15000, roomId=7),
                               param=RecordParam(fileName="alice-7"), user="alice"))


async def test_a_200_minute_tencent_recording_with_the_simulator_fixture(
        recstate_runtime, recstate_tencent, recstate_trace, recstate_clock):
    start_alice(recstate_runtime)
    await recstate_runtime.settle(until=T0 + 200 * MINUTE)
    recstate_runtime.dispatch(StopRecording(session=KEY))
    await recstate_runtime.settle(until=T0 + 201 * MINUTE)
    recstate_trace.assert_entered("recording", session=KEY)
    recstate_trace.assert_entered("stopped", session=KEY)
    # 002 §6 (1): a new MP4 every 90 minutes, the last holds what is left (the simulator
    # answers 0.2 s after each command: the recording starts at T0 + 0.2)
    recstate_trace.assert_command("requestMultiVideoRecorderStart", session=KEY)
    recstate_trace.assert_file(session=KEY, status="ready", start=T0 + 0.2,
                               end=T0 + 0.2 + 90 * MINUTE)
    recstate_trace.assert_file(session=KEY, status="ready", start=T0 + 0.2 + 180 * MINUTE,
                               end=T0 + 200 * MINUTE)
    recstate_trace.assert_no_violation()
    assert recstate_clock.now() == T0 + 201 * MINUTE


def test_the_assertions_fail_saying_what_happened(recstate_runtime, recstate_trace):
    start_alice(recstate_runtime)  # no simulator: it stays starting
    with pytest.raises(AssertionError, match=r"never entered 'recording'(.|\n)*starting"):
        recstate_trace.assert_entered("recording", session=KEY)
    with pytest.raises(AssertionError, match="no command 'requestMultiVideoRecorderStop'"):
        recstate_trace.assert_command("requestMultiVideoRecorderStop")
    with pytest.raises(AssertionError, match="no file"):
        recstate_trace.assert_file(status="ready")
    recstate_trace.assert_command("requestMultiVideoRecorderStart",
                                  roomInfo={"relationId": 15000, "roomId": 7})


def test_assert_no_violation_lists_them(recstate_clock, recstate_trace):
    from recstate import Runtime

    rt = Runtime(recstate_clock, tracer=recstate_trace)  # lenient: recorded, not raised
    rt.dispatch(ExitRoom(session=KEY))
    rt.dispatch(parse_event("tencent", "requestMultiVideoRecorderStop:ok", T0, {}, KEY))
    with pytest.raises(AssertionError, match="1 violation"):
        recstate_trace.assert_no_violation()


def test_the_signal_recorder_hears_every_signal_of_its_runtime(recstate_runtime,
                                                               recstate_signals):
    start_alice(recstate_runtime)
    [command] = recstate_signals.of("tencent.command")
    assert command["command"].name == "requestMultiVideoRecorderStart"
    assert command["t"] == T0
    assert [kw["dst"] for kw in recstate_signals.of("transition")] == ["starting"]
    assert [(kw["old"], kw["new"]) for kw in recstate_signals.of("recording-changed")] == [
        ("idle", "starting")]


async def test_a_netease_call_recorded_with_the_simulator_fixture(
        recstate_runtime, recstate_netease, recstate_trace):
    av = {"recordType": "0", "recordAudio": True, "recordVideo": True}
    recstate_runtime.dispatch(parse_event("netease", "call", T0, {
        "callee": "bob", "type": 2, "account": "me", "record": av}, "call-1"))
    await recstate_runtime.settle(until=T0 + 10)
    recstate_trace.assert_entered("recording", session="call-1")
    recstate_runtime.advance(T0 + 100)
    recstate_runtime.dispatch(parse_event("netease", "hangup", T0 + 100, {}, "call-1"))
    await recstate_runtime.settle(until=T0 + 100 + 60)
    recstate_trace.assert_entered("complete", session="call-1")
    # 000: a recorded 1-to-1 video call gives each side's aac and mp4, and the mix
    recstate_trace.assert_file(session="call-1", status="ready", kind="mixed")
    ready = {r.data["id"] for r in recstate_trace.of("file", "call-1")
             if r.data["status"] == "ready"}
    assert len(ready) == 5
    recstate_trace.assert_no_violation()


async def test_settle_without_until_does_not_move_time(recstate_runtime, recstate_clock):
    start_alice(recstate_runtime)
    await recstate_runtime.settle()
    assert recstate_clock.now() == T0
    assert recstate_runtime.sessions[KEY].state == "starting"
