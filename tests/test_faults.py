"""Faults (issue 9): a timer whose handling raised leaves a defined session (point 2), an
unroutable input is traced so that a full trace replays clean (point 8), and a snapshot is
restored all or nothing, timers in their original order (point 13)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from recstate.clock import ManualClock
from recstate.errors import RestoreError
from recstate.events import parse_event
from recstate.machines.tencent import TencentRecorder
from recstate.replay import replay
from recstate.runtime import Runtime
from recstate.trace import Record

T0 = 1_700_000_000.0
KEY = "1:2:bob"
ROOM = {"relationId": 1, "roomId": 2}


def start_recording(rt: Runtime, t: float = T0) -> None:
    rt.dispatch(parse_event("tencent", "enterRoom", t, {**ROOM, "user": "bob"}, KEY))
    rt.dispatch(parse_event("tencent", "requestMultiVideoRecorderStart", t,
                            {"roomInfo": ROOM, "param": {"fileName": "lesson"}}, KEY))
    rt.advance(t + 1)
    rt.dispatch(parse_event("tencent", "requestMultiVideoRecorderStart:ok", t + 1, {}, KEY))


# ---- 2. a timer whose handling raised -----------------------------------------------------------
def test_2_a_watchdog_that_raises_fails_the_session_and_cancels_its_timers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Any, ev: Any) -> None:
        raise OverflowError("date value out of range")

    monkeypatch.setattr(TencentRecorder, "client_gone", broken)
    records: list[Record] = []
    rt = Runtime(ManualClock(T0), tracer=records.append)
    start_recording(rt)
    rt.advance(T0 + 120)  # the watchdog (60 s without data) fell due and raised
    session = rt.sessions[KEY]
    assert session.state == "failed"
    assert rt.timers.for_session(KEY) == []  # the rollover does not go on opening files
    codes = [r.data["code"] for r in records if r.kind == "error" and r.data]
    assert codes[-2:] == ["exception", "timer-failed"]
    assert [r.data for r in records if r.kind == "transition"][-1] == {
        "src": "recording", "dst": "failed"}
    rt.advance(T0 + 6 * 3600)
    assert sum(1 for r in records if r.kind == "file" and r.name == "opened") == 1


def test_2_a_rollover_that_raises_stops_rolling_even_with_no_failed_state(
        monkeypatch: pytest.MonkeyPatch, tv: Any) -> None:
    records: list[Record] = []
    rt = Runtime(ManualClock(T0), tracer=records.append)

    def broken(self: Any, ev: Any) -> None:
        raise ValueError("cannot name the next file")

    monkeypatch.setattr(tv.Phone, "roll", broken)
    rt.dispatch(tv.Dial(t=T0, session="a", number="1"))
    rt.dispatch(tv.Answer(t=T0, session="a"))
    rt.advance(T0 + 100)  # rollover every 10 s: the first one raised
    assert rt.sessions["a"].state == "talking"  # the phone machine has no 'failed'
    assert len(rt.timers.for_session("a")) == 0
    failed = [r for r in records if r.kind == "error" and r.data
              and r.data["code"] == "timer-failed"]
    assert len(failed) == 1
    assert "no 'failed' state" in failed[0].data["message"]
    assert sum(1 for r in records if r.kind == "error" and r.data
               and r.data["code"] == "exception") == 1


# ---- 8. unroutable inputs in a full trace -------------------------------------------------------
def test_8_a_full_trace_with_an_unroutable_input_replays_clean(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    trace.write_text("\n".join(json.dumps(x) for x in [
        {"t": T0, "vendor": "tencent", "name": "enterRoom", "session": KEY,
         "data": {**ROOM, "user": "bob"}},
        {"t": T0 + 1, "vendor": "tencent", "name": "mediaData", "data": {}},
        {"t": T0 + 2, "vendor": "netease", "name": "hangup", "data": {}},
    ]) + "\n")
    full = tmp_path / "full.jsonl"
    first = replay(trace, out=full)
    assert len(first.unrouted) == 2
    lines = [json.loads(x) for x in full.read_text().splitlines()]
    assert [(x["name"], x.get("kind", "event")) for x in lines[1:]] == [
        ("mediaData", "event"), ("mediaData", "error"), ("hangup", "event"),
        ("hangup", "error")]
    again = replay(full)
    assert again.mismatches == []
    assert len(again.unrouted) == 2


# ---- 13. restore: validated, all or nothing; same-instant timers in their global order ------
def snapshot_of_a_recording() -> dict[str, Any]:
    rt = Runtime(ManualClock(T0))
    start_recording(rt)
    return rt.snapshot(KEY)


@pytest.mark.parametrize(("change", "words"), [
    (lambda s: s.update(state="flying"), "state 'flying'"),
    (lambda s: s.update(vendor="nobody"), "vendor"),
    (lambda s: s.update(machine="tencent.nothing"), "machine"),
    (lambda s: s["timers"][0].update(due=math.nan), "due"),
    (lambda s: s["timers"][0].update(due="soon"), "due"),
    (lambda s: s["timers"][-1].update(every=-5.0), "every"),
    (lambda s: s["timers"].append({"due": T0}), "name"),
    (lambda s: s["timers"].append("rollover"), "timer"),
    (lambda s: s.update(timers={"x": 1}), "timers"),
    (lambda s: s.update(context={"user": 7}), "context"),
    (lambda s: s.update(files=[{"id": 1}]), "files"),
    (lambda s: s.update(recording=None), "recording"),
    (lambda s: s.pop("key"), "key"),
])
def test_13_a_bad_snapshot_is_refused_and_nothing_is_restored(change: Any, words: str) -> None:
    snap = snapshot_of_a_recording()
    assert len(snap["timers"]) >= 2
    change(snap)
    rt = Runtime(ManualClock(T0 + 5))
    with pytest.raises(RestoreError, match=words):
        rt.restore(snap)
    assert rt.sessions == {}
    assert len(rt.timers) == 0


def test_13_restored_sessions_fire_same_instant_timers_in_their_original_order() -> None:
    def run(cut: float | None) -> list[bytes]:
        records: list[Record] = []
        rt = Runtime(ManualClock(T0), tracer=records.append)
        # three rooms whose watchdogs and rollovers fall due at the same instants
        keys = [f"1:{room}:bob{room}" for room in (3, 1, 2)]
        for key in keys:
            room = {"relationId": 1, "roomId": int(key.split(":")[1])}
            user = key.split(":")[2]
            rt.dispatch(parse_event("tencent", "enterRoom", T0, {**room, "user": user}, key))
            rt.dispatch(parse_event("tencent", "requestMultiVideoRecorderStart", T0,
                                    {"roomInfo": room, "param": {"fileName": user}}, key))
        rt.advance(T0 + 1)
        for key in keys:
            rt.dispatch(parse_event("tencent", "requestMultiVideoRecorderStart:ok", T0 + 1,
                                    {}, key))
        if cut is not None:
            rt.advance(cut)
            snaps = [rt.snapshot(k) for k in sorted(rt.sessions, reverse=True)]
            rt = Runtime(ManualClock(cut), tracer=records.append)
            for snap in snaps:  # restored in another order than they were made
                rt.restore(snap)
        rt.advance(T0 + 3600)
        return [r.dumps() for r in records]

    assert run(T0 + 30) == run(None)
