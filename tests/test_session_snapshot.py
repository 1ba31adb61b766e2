"""Session snapshot / restore through the Runtime: plain JSON-able data (state, context,
timers, files); a restored session carries on, and its timers that fell due while it was away
fire on the next run_due, in order."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from recstate import signals
from recstate.clock import ManualClock
from recstate.machine import Machine, on
from recstate.runtime import Runtime
from recstate.session import Session

T0 = 1_700_000_000.0


def talking(rt: Runtime, tv: Any, key: str = "a") -> None:
    rt.dispatch(tv.Dial(t=T0, number=key))
    rt.dispatch(tv.Answer(t=T0, session=key))


def through_json(data: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads(orjson.dumps(data))
    return loaded


def test_snapshot_is_plain_json_able_data(runtime, tv):
    talking(runtime, tv)
    runtime.dispatch(tv.MediaData(t=T0, session="a", size=42))
    data = runtime.snapshot("a")
    assert through_json(data) == data
    assert data["key"] == "a"
    assert data["vendor"] == "testv"
    assert data["machine"] == "testv.Phone"
    assert data["state"] == "talking"
    assert data["recording"] == "recording"
    assert data["context"] == {"number": "a", "data": 42, "rollovers": 0, "touched": 0,
                               "file_seq": 1, "log": []}
    assert data["files"] == [{"id": "a-1", "participant": None, "kind": "mixed",
                              "format": "mp4", "start": T0, "end": None, "size": None,
                              "url": None, "status": "open"}]
    # ``seq``: each timer's place in the runtime's arming order (restore keeps it)
    seqs = [t.pop("seq") for t in data["timers"]]
    assert all(isinstance(s, int) for s in seqs)
    assert len(set(seqs)) == 2
    assert data["timers"] == [
        {"session": "a", "name": "rollover", "due": T0 + 10, "payload": None, "every": 10.0},
        {"session": "a", "name": "watchdog", "due": T0 + 60, "payload": None, "every": None}]


def test_restore_brings_the_session_back_as_it_was(runtime, tv):
    talking(runtime, tv)
    runtime.dispatch(tv.MediaData(t=T0, session="a", size=42))
    data = through_json(runtime.snapshot("a"))
    fresh = Runtime(ManualClock(T0 + 1), strict=True)
    session = fresh.restore(data)
    assert fresh.sessions["a"] is session
    assert (session.key, session.machine, session.state, session.recording) == (
        "a", tv.Phone, "talking", "recording")
    assert session.context == tv.PhoneContext(number="a", data=42, file_seq=1)
    assert [(f.id, f.session, f.vendor, f.start, f.status) for f in session.files] == [
        ("a-1", "a", "testv", T0, "open")]
    assert fresh.snapshot("a") == data  # nothing lost on the way


def test_a_restored_session_carries_on_handling_events(runtime, tv, listen):
    talking(runtime, tv)
    fresh = Runtime(ManualClock(T0 + 1), strict=True)
    fresh.restore(through_json(runtime.snapshot("a")))
    moves = listen(signals.transition, fresh)
    fresh.dispatch(tv.MediaData(t=T0 + 1, session="a", size=5))
    fresh.dispatch(tv.Hangup(t=T0 + 1, session="a"))
    session = fresh.sessions["a"]
    assert session.context.data == 5
    assert [(m["src"], m["dst"]) for m in moves] == [("talking", "ended")]
    assert [(f.id, f.end, f.status) for f in session.files] == [("a-1", T0 + 1, "closed")]
    assert fresh.timers.for_session("a") == []  # leaving "talking" cancelled its timers


def test_timers_that_fell_due_while_away_fire_in_order_after_restore(runtime, tv):
    talking(runtime, tv)
    runtime.advance(T0 + 15)  # one rollover
    runtime.dispatch(tv.Schedule(t=T0 + 15, session="a", names=["alarm_b", "alarm_a"],
                                 delays=[20, 20]))
    data = through_json(runtime.snapshot("a"))
    # the service is down from T0+15 to T0+45
    clock = ManualClock(T0 + 45)
    fresh = Runtime(clock, strict=True)
    fresh.restore(data)
    session = fresh.sessions["a"]
    assert session.context.log == [f"rollover@{T0 + 10}"]  # nothing fired on restore itself
    fresh.run_due()
    assert session.context.log == [
        f"rollover@{T0 + 10}", f"rollover@{T0 + 20}", f"rollover@{T0 + 30}",
        f"alarm_b@{T0 + 35}", f"alarm_a@{T0 + 35}", f"rollover@{T0 + 40}"]
    assert session.state == "talking"
    fresh.advance(T0 + 60)  # the watchdog armed before the snapshot still stands
    assert session.state == "ended"
    assert session.context.log[-1] == f"watchdog@{T0 + 60}"


def test_timers_not_yet_due_after_restore_fire_at_their_own_time(runtime, tv):
    talking(runtime, tv)
    fresh = Runtime(ManualClock(T0 + 5), strict=True)
    fresh.restore(through_json(runtime.snapshot("a")))
    fresh.run_due()
    assert fresh.sessions["a"].context.rollovers == 0
    assert fresh.next_deadline() == T0 + 10
    fresh.advance(T0 + 10)
    assert fresh.sessions["a"].context.log == [f"rollover@{T0 + 10}"]


def test_restore_refuses_a_snapshot_of_another_machine(runtime, tv):
    talking(runtime, tv)
    data = through_json(runtime.snapshot("a"))
    data["machine"] = "testv.Fax"
    with pytest.raises(KeyError, match="snapshot names machine 'testv.Fax'; testv has "
                                       r"\['testv.Phone'\]"):
        Runtime(ManualClock(T0)).restore(data)

    class Other(Machine):
        vendor = "testv"
        states = ("x", "y")
        initial = "x"
        transitions = (on("go", "x", "y"),)

    with pytest.raises(ValueError, match=r"is for machine 'testv\.Phone', not 'testv\.Other'"):
        Session.restore(through_json(runtime.snapshot("a")), Other)


def test_a_session_snapshot_leaves_timers_to_the_runtime(tv):
    session = Session("k", tv.Phone)
    assert session.state == "idle"
    data = session.snapshot()
    assert "timers" not in data
    assert data["files"] == []
    restored = Session.restore(through_json(data), tv.Phone)
    assert (restored.key, restored.state, restored.context) == ("k", "idle", tv.PhoneContext())
    assert restored.files == []


def test_snapshot_of_an_unknown_session_is_a_key_error(runtime):
    with pytest.raises(KeyError):
        runtime.snapshot("nobody")


def test_a_snapshot_keeps_the_watchdog_at_the_last_data_plus_its_timeout(runtime, tv):
    """Heartbeats re-arm the watchdog lazily (no heap push, issue 12): the snapshot still
    says the effective deadline, and a restored session's watchdog fires there."""
    talking(runtime, tv)
    for t in (T0 + 20, T0 + 40, T0 + 55):  # data; the rollover (every 10 s) fires between
        runtime.advance(t)
        runtime.dispatch(tv.MediaData(t=t, session="a", size=1))
    data = through_json(runtime.snapshot("a"))
    assert {t["name"]: t["due"] for t in data["timers"]}["watchdog"] == T0 + 55 + 60
    fresh = Runtime(ManualClock(T0 + 56), strict=True)
    fresh.restore(data)
    assert fresh.timers.get("a", "watchdog").due == T0 + 115
    fresh.advance(T0 + 114.9)
    assert fresh.sessions["a"].state == "talking"
    fresh.advance(T0 + 120)
    assert fresh.sessions["a"].state == "ended"
    assert fresh.sessions["a"].context.log[-1] == f"watchdog@{T0 + 115}"
