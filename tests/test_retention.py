"""Sessions end (issue 10, point 8): a finished session with no timer left is closed after
the retention period and leaves memory; session keys can be built from their parts."""

from __future__ import annotations

import pytest

from recstate import Runtime, signals
from recstate.clock import ManualClock
from recstate.events import netease, tencent

T0 = 1_700_000_000.0


def test_a_finished_session_is_closed_after_the_retention_period(tv, listen):
    rt = Runtime(ManualClock(T0), strict=True, retention=600)
    closed = listen(signals.session_closed, rt)
    rt.dispatch(tv.Dial(number="a"))
    rt.dispatch(tv.Hangup(session="a"))  # "ended" at T0, no timer left
    rt.advance(T0 + 599)
    assert rt.sessions["a"].state == "ended"
    rt.advance(T0 + 600)
    assert "a" not in rt.sessions
    assert [(c["session"].key, c["reason"], c["t"]) for c in closed] == [
        ("a", "retention", T0 + 600)]
    assert rt.next_deadline() is None  # nothing of it is left armed


def test_the_default_retention_is_one_hour_on_a_live_clock_and_none_in_virtual_time(tv):
    assert Runtime().retention == 3600  # a service, on the SystemClock
    assert Runtime(ManualClock(T0)).retention is None  # simulation, tests, replay
    rt = Runtime(ManualClock(T0), retention=3600)
    rt.dispatch(tv.Dial(number="a"))
    rt.dispatch(tv.Hangup(session="a"))
    rt.advance(T0 + 3599)
    assert "a" in rt.sessions
    rt.advance(T0 + 3600)
    assert "a" not in rt.sessions


def test_a_session_with_timers_left_waits_for_them(tv):
    rt = Runtime(ManualClock(T0), retention=100)
    rt.dispatch(tv.Dial(number="a"))
    rt.dispatch(tv.Schedule(session="a", names=["alarm_a"], delays=[150]))
    rt.dispatch(tv.Hangup(session="a"))
    rt.advance(T0 + 199)  # at 100 alarm_a was still armed: looked at again at 200
    assert rt.sessions["a"].context.log == [f"alarm_a@{T0 + 150}"]
    rt.advance(T0 + 200)
    assert "a" not in rt.sessions


def test_a_session_that_left_its_finished_state_is_kept():
    rt = Runtime(ManualClock(T0), retention=100)
    key = tencent.key_for(15000, 7, "alice")
    rt.dispatch(tencent.EnterRoom(relationId=15000, roomId=7, user="alice"))
    room = tencent.RoomInfo(relationId=15000, roomId=7)
    rt.dispatch(tencent.StartRecording(roomInfo=room, param=tencent.RecordParam(fileName="f"),
                                       user="alice"))
    rt.dispatch(tencent.StartError(session=key, code=30000003))  # 004 §5: failed, no retry
    assert rt.sessions[key].state == "failed"
    rt.advance(T0 + 50)
    rt.dispatch(tencent.StartRecording(roomInfo=room, param=tencent.RecordParam(fileName="f"),
                                       user="alice"))
    rt.advance(T0 + 105)  # the retirement due at 100 found it stopping (answer deadline at 80)
    assert rt.sessions[key].state == "stopping"
    rt.advance(T0 + 110)  # the stop's own answer deadline: stopped, finished again
    assert rt.sessions[key].state == "stopped"
    rt.advance(T0 + 210)  # a full retention period after that
    assert key not in rt.sessions


def test_retention_none_keeps_every_session(tv):
    rt = Runtime(ManualClock(T0), retention=None)
    rt.dispatch(tv.Dial(number="a"))
    rt.dispatch(tv.Hangup(session="a"))
    rt.advance(T0 + 86_400 * 30)
    assert rt.sessions["a"].state == "ended"


def test_a_negative_retention_is_refused():
    with pytest.raises(ValueError, match="retention"):
        Runtime(retention=-1)
    with pytest.raises(ValueError, match="retention"):
        Runtime(retention="forever")  # type: ignore[arg-type]


def test_a_retention_of_zero_seconds_is_taken():
    """0 retires a finished session at once: the bound is >= 0, not > 0."""
    assert Runtime(retention=0).retention == 0


def test_session_key_builders_match_the_vendors_rules():
    # 002: a recording is one user's in one room of one relation
    assert tencent.key_for(15000, 7, "alice") == "15000:7:alice"
    assert tencent.key_for(15000, 7, "alice") == tencent.session_key(
        tencent.EnterRoom(relationId=15000, roomId=7, user="alice"))
    # 000: a P2P call is its cid (channelId), a multi-party channel its channelName
    assert netease.key_for(cid="6290737000999815988") == "6290737000999815988"
    assert netease.key_for(channelName="room-9") == "room-9"
    with pytest.raises(ValueError, match="cid or channelName"):
        netease.key_for()
