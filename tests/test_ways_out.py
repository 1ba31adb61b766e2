"""Every state has a way out (issue 9, point 1): NetEase answer deadlines, the call's end learnt
from the server side (抄送 eventType 5, the files), a maximum call duration; and, over fault
scenarios of both vendors, no session is stuck 24 h after its data stops."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_netease_callback import SECRET, signed
from test_netease_machine import AV0, CID, T0, Harness, connect_caller, fileinfo

from recstate.adapters.netease import CallbackReceiver, NetEaseSimulator, deliver_to
from recstate.adapters.tencent import TencentSimulator
from recstate.clock import ManualClock
from recstate.events import parse_event
from recstate.machines.netease import NetEaseOptions
from recstate.machines.tencent import TencentOptions
from recstate.runtime import Runtime


@pytest.fixture
def h() -> Iterator[Harness]:
    harness = Harness()
    yield harness
    harness.close()


def codes(h: Harness) -> list[Any]:
    return [code for _, code, _, _ in h.notices]


AUDIO_SINGLE = {"recordType": "2", "recordAudio": True}


# ---- answer deadlines ---------------------------------------------------------------------------
def test_1_an_unanswered_start_rtc_hangs_up_after_30_s_and_expects_the_files(h: Harness
                                                                            ) -> None:
    h.at(0, "call", {"callee": "bob", "type": 1, "record": AUDIO_SINGLE})
    h.at(1, "callAccepted", {"account": "bob", "cid": CID})
    h.runtime.advance(T0 + 30.9)
    assert h.session.state == "connecting"
    h.runtime.advance(T0 + 31)
    assert h.session.state == "awaiting_files"
    assert h.names() == ["call", "startRtc", "hangup"]
    assert "no-answer" in codes(h)
    assert h.files() == {"caller.aac": "expected", "callee.aac": "expected"}
    h.runtime.advance(T0 + 31 + 30 * 60)  # files_deadline
    assert h.session.state == "complete"
    assert h.files() == {"caller.aac": "lost", "callee.aac": "lost"}


def test_1_an_unanswered_start_rtc_of_an_unrecorded_call_fails_it(h: Harness) -> None:
    h.at(0, "call", {"callee": "bob", "type": 1})
    h.at(1, "callAccepted", {"account": "bob", "cid": CID})
    h.runtime.advance(T0 + 31)
    assert h.session.state == "failed"
    assert h.names() == ["call", "startRtc", "hangup"]


def test_1_an_unanswered_response_fails_the_call(h: Harness) -> None:
    h.at(0, "beCalling", {"caller": "ann", "cid": CID, "type": 1})
    h.at(5, "accept", {"record": AUDIO_SINGLE})
    h.runtime.advance(T0 + 35)
    assert h.session.state == "failed"
    assert h.names() == ["response", "hangup"]
    assert "no-answer" in codes(h)


def test_1_an_unanswered_join_channel_fails_and_leaves(h: Harness) -> None:
    h.at(0, "joinChannel", {"channelName": CID, "type": 2, "record": AV0})
    h.runtime.advance(T0 + 30)
    assert h.session.state == "failed"
    assert h.names() == ["joinChannel", "leaveChannel"]


def test_1_a_call_that_rings_with_no_accept_or_reject_ends(h: Harness) -> None:
    h.at(0, "beCalling", {"caller": "ann", "cid": CID, "type": 1})
    h.runtime.advance(T0 + 59)
    assert h.session.state == "ringing"
    h.runtime.advance(T0 + 60)
    assert h.session.state == "ended"
    assert h.names() == []


# ---- the server's word: 抄送 eventType 5 and the files ------------------------------------------
def call_record(**more: Any) -> dict[str, Any]:
    return {"eventType": "5", "channelId": CID, "createtime": str(int(T0 * 1000)),
            "duration": "298", "status": "SUCCESS", "type": "AUDIO",
            "members": '[{"accid":"ann","caller":true,"duration":298},'
                       '{"accid":"bob","duration":298}]', **more}


def test_1_the_servers_call_record_ends_a_call_whose_hangup_was_lost(h: Harness) -> None:
    connect_caller(h, type_=1, record=AUDIO_SINGLE)
    h.at(2.5, "call:ok", {"cid": CID})
    assert h.session.state == "recording"
    h.at(300, "callback", call_record(), session=None)
    assert h.session.state == "awaiting_files"
    assert "ended-by-server" in codes(h)
    h.at(360, "callback", fileinfo(("ann", True, "aac", False), ("bob", False, "aac", False)),
         session=None)
    assert h.session.state == "complete"
    assert h.files() == {"caller.aac": "ready", "callee.aac": "ready"}


def test_1_a_call_record_after_the_local_end_is_compared_with_it(h: Harness) -> None:
    connect_caller(h, type_=1, record=AUDIO_SINGLE)
    h.at(2.5, "call:ok", {"cid": CID})
    h.at(300, "hangup")
    h.at(301, "callback", call_record(), session=None)  # 298 s there, 298 s here
    assert ("server-record" in codes(h), "server-duration" in codes(h)) == (True, False)
    h.at(302, "callback", call_record(duration="5000"), session=None)
    assert "server-duration" in codes(h)
    assert h.session.state == "awaiting_files"


def test_1_files_while_start_rtc_is_unanswered_end_the_call(h: Harness) -> None:
    h.at(0, "call", {"callee": "bob", "type": 1, "record": AUDIO_SINGLE})
    h.at(1, "callAccepted", {"account": "bob", "cid": CID})
    h.at(20, "callback", fileinfo(("ann", True, "aac", False), ("bob", False, "aac", False)),
         session=None)
    assert h.session.state == "complete"
    assert "ended-by-files" in codes(h)


def test_1_the_receiver_hands_a_call_record_to_the_call_of_its_channel() -> None:
    rt = Runtime(ManualClock(T0))
    for t, name, data in ((T0, "beCalling", {"caller": "ann", "cid": CID, "type": 1}),
                          (T0 + 1, "accept", {"record": AUDIO_SINGLE}),
                          (T0 + 2, "response:ok", None), (T0 + 3, "startRtc:ok", None)):
        rt.advance(t)
        rt.dispatch(parse_event("netease", name, t, data, CID))
    rt.advance(T0 + 300)
    receiver = CallbackReceiver(SECRET, clock=rt.clock)
    body = orjson.dumps(call_record())
    events = receiver(signed(body, cur=T0 + 300), body)
    assert [(e.name, e.session) for e in events] == [("callback", CID)]
    deliver_to(rt)(events)
    assert rt.sessions[CID].state == "awaiting_files"


# ---- a maximum call duration --------------------------------------------------------------------
def test_1_max_call_duration_hangs_up_a_call_no_end_reached() -> None:
    h = Harness(options=NetEaseOptions(max_call_duration=3600))
    connect_caller(h, type_=1, record=AUDIO_SINGLE)
    h.runtime.advance(T0 + 2 + 3599)
    assert h.session.state == "recording"
    h.runtime.advance(T0 + 2 + 3600)
    assert h.session.state == "awaiting_files"
    assert h.names()[-1] == "hangup"
    assert "max-duration" in codes(h)
    h.close()
    with pytest.raises(ValueError, match="max_call_duration"):
        NetEaseOptions(max_call_duration=0)


# ---- no session stuck 24 h after its data stops -------------------------------------------------
NETEASE_DONE = {"idle", "complete", "ended", "failed"}
TENCENT_DONE = {"idle", "stopped", "failed"}
DAY = 24 * 3600.0
NEVER = 10 * DAY  # an answer that comes after the check: never, as far as it can tell


@st.composite
def netease_faults(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "role": draw(st.sampled_from(["caller", "callee", "channel"])),
        "record": draw(st.sampled_from([None, AUDIO_SINGLE, AV0,
                                        {"recordType": "1", "recordVideo": True}])),
        "delay": draw(st.sampled_from([0.1, 5.0, NEVER])),
        "errors": draw(st.sets(st.sampled_from(["call", "response", "startRtc",
                                                "joinChannel"]), max_size=1)),
        "answer": draw(st.sampled_from(["accept", "reject", "none"])),
        "accept": draw(st.booleans()),
        "hangup_after": draw(st.sampled_from([None, 30.0, 3600.0])),
        "files_after": draw(st.sampled_from([60.0, NEVER])),
        "drop": draw(st.sets(st.sampled_from(["caller", "callee", "self", "mix"]))),
        "record_5": draw(st.booleans()),
    }


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck),
          database=None)
@given(netease_faults())
def test_1_no_netease_session_is_stuck_24_h_after_its_data_stops(f: dict[str, Any]) -> None:
    rt = Runtime(ManualClock(T0), options={"netease": NetEaseOptions(
        max_call_duration=6 * 3600)})
    sim = NetEaseSimulator(rt, delay=f["delay"], answer=f["answer"],
                           files_after=f["files_after"], drop=tuple(f["drop"]),
                           errors={api: (500, "server error") for api in f["errors"]})
    record = {"record": f["record"]} if f["record"] else {}
    try:
        if f["role"] == "caller":
            rt.dispatch(parse_event("netease", "call", T0, {"callee": "bob", "type": 1,
                                                             **record}, CID))
        elif f["role"] == "callee":
            rt.dispatch(parse_event("netease", "beCalling", T0,
                                    {"caller": "ann", "cid": CID, "type": 1}, CID))
            rt.advance(T0 + 3)
            if f["accept"]:
                rt.dispatch(parse_event("netease", "accept", T0 + 3, record, CID))
        else:
            rt.dispatch(parse_event("netease", "joinChannel", T0,
                                    {"channelName": CID, "type": 2, **record}, CID))
        last = rt.clock.now()
        if f["hangup_after"] is not None:
            last = T0 + f["hangup_after"]
            rt.advance(last)
            rt.dispatch(parse_event("netease", "hangup", last, {}, CID))
        if f["record_5"]:  # the server's record of the end, 90 s after it
            last = (last if f["hangup_after"] is not None else T0 + 600) + 90
            rt.advance(last)
            rt.dispatch(parse_event("netease", "callback", last, {
                "eventType": "5", "channelId": CID, "duration": "100", "status": "SUCCESS"}))
        rt.advance(last + DAY)
    finally:
        sim.close()
    stuck = {k: s.state for k, s in rt.sessions.items() if s.state not in NETEASE_DONE}
    assert stuck == {}, f


@st.composite
def tencent_faults(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "fault": draw(st.sampled_from(["none", "crash", "drop_start_ok", "drop_stop_ok",
                                       "fail_start", "fail_stop", "never_stop",
                                       "slow"])),
        "minutes": draw(st.sampled_from([1, 10, 100, 200])),
        "stop": draw(st.booleans()),
    }


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck),
          database=None)
@given(tencent_faults())
def test_1_no_tencent_session_is_stuck_24_h_after_its_data_stops(f: dict[str, Any]) -> None:
    from recstate.events.tencent import (
        EnterRoom,
        RecordParam,
        RoomInfo,
        StartRecording,
        StopRecording,
    )

    rt = Runtime(ManualClock(T0), options={"tencent": TencentOptions()})
    sim = TencentSimulator(rt)
    room = RoomInfo(relationId=1, roomId=2)
    fault = f["fault"]
    if fault == "drop_start_ok":
        sim.drop_next("requestMultiVideoRecorderStart:ok")
    elif fault == "fail_start":
        sim.fail_next("requestMultiVideoRecorderStart", 30000208)
    elif fault == "slow":
        sim.delay(NEVER, "requestMultiVideoRecorderStart")
    try:
        rt.dispatch(EnterRoom(t=T0, relationId=1, roomId=2, user="bob"))
        rt.dispatch(StartRecording(t=T0, roomInfo=room, user="bob",
                                   param=RecordParam(fileName="lesson")))
        end = T0 + f["minutes"] * 60
        if fault == "crash":
            rt.advance(T0 + 30)
            sim.crash("1:2:bob")
        rt.advance(end)
        if f["stop"] and fault != "never_stop":
            if fault == "drop_stop_ok":
                sim.drop_next("requestMultiVideoRecorderStop:ok")
            elif fault == "fail_stop":
                sim.fail_next("requestMultiVideoRecorderStop", 30000208)
            rt.dispatch(StopRecording(t=end, roomInfo=room, user="bob"))
        elif fault != "crash":
            sim.crash("1:2:bob")  # the client goes away without a stop: its data stops
        rt.advance(end + DAY)
    finally:
        sim.disconnect()
    stuck = {k: s.state for k, s in rt.sessions.items() if s.state not in TENCENT_DONE}
    assert stuck == {}, f


@pytest.mark.xfail(strict=True, reason="Juphoon (landed with issue 13): a channel whose client "
                   "goes silent while recording (no leave, no property change) stays in "
                   "'recording': the machine needs a way out (a maximum duration, as NetEase's "
                   "max_call_duration) -- issue 9 point 1, left to the Juphoon machine's owner")
def test_1_no_juphoon_session_is_stuck_24_h_after_its_client_goes_silent() -> None:
    from recstate.adapters.juphoon.scenarios import CHANNEL, params
    from recstate.adapters.juphoon.simulator import JuphoonSimulator
    from recstate.events.juphoon import EnableRecord, Join, JoinParam

    rt = Runtime(ManualClock(T0))
    sim = JuphoonSimulator(rt)
    try:
        rt.dispatch(Join(t=T0, channelId=CHANNEL, joinParam=JoinParam(record=params("a.mp4"))))
        rt.advance(T0 + 2)
        rt.dispatch(EnableRecord(t=T0 + 2, channelId=CHANNEL, enable=True))
        rt.advance(T0 + 10)
        assert rt.sessions[CHANNEL].state == "recording"
        rt.advance(T0 + 10 + DAY)  # the client said nothing more
    finally:
        sim.disconnect()
    assert rt.sessions[CHANNEL].state in {"stopped", "left", "failed"}
