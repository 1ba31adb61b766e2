"""``Runtime.restore`` checks a snapshot whole before anything changes (its docstring: the
vendor, machine, a state the machine has, the context, the files, every timer's name, finite
due time and period) and names the field it refuses; ``close_session`` forgets a session and
says so. Pinned where mutation testing found the checks loose (issue 8): each boundary is
tried on both sides."""

from __future__ import annotations

import math
from typing import Any

import pytest

from recstate import signals
from recstate.clock import ManualClock
from recstate.errors import RestoreError
from recstate.runtime import Runtime

T0 = 1_700_000_000.0


def snapshot(tv: Any) -> dict[str, Any]:
    """A talking Phone: rollover (every 10 s, due T0+10) and watchdog (due T0+60) armed."""
    rt = Runtime(ManualClock(T0), strict=True)
    rt.dispatch(tv.Dial(t=T0, number="a"))
    rt.dispatch(tv.Answer(t=T0, session="a"))
    data = rt.snapshot("a")
    assert [t["name"] for t in data["timers"]] == ["rollover", "watchdog"]
    return data


def timer(name: str, due: float, **more: Any) -> dict[str, Any]:
    return {"session": "a", "name": name, "due": due, "payload": None, "every": None, **more}


@pytest.mark.parametrize(("change", "field"), [
    (lambda s: s.update(key=""), "key"),
    (lambda s: s.update(key=7), "key"),
    (lambda s: s.update(recording=3), "recording"),
    (lambda s: s.update(context=["number", "a"]), "context"),
    (lambda s: s.update(context={**s["context"], "data": {"not": "an int"}}), "context"),
    (lambda s: s.update(files="a-1"), "files"),
    (lambda s: s.update(files=[["a-1"]]), "files"),
    (lambda s: s.update(files=[{**s["files"][0], "id": 12}]), "files"),
    (lambda s: s.update(files=[{"id": "a-1"}]), "files"),  # no start, kind or state
    (lambda s: s.update(timers="rollover"), "timers"),
    (lambda s: s["timers"].append(["alarm_a", T0]), "timers[2]"),
    (lambda s: s["timers"][0].update(name=""), "timers[0].name"),
    (lambda s: s["timers"][0].update(name=5), "timers[0].name"),
    (lambda s: s["timers"][1].update(due=True), "timers[1].due"),
    (lambda s: s["timers"][1].update(due=math.inf), "timers[1].due"),
    (lambda s: s["timers"][1].update(due="soon"), "timers[1].due"),
    (lambda s: s["timers"][0].update(every=0), "timers[0].every"),
    (lambda s: s["timers"][0].update(every=-0.5), "timers[0].every"),
    (lambda s: s["timers"][0].update(every=True), "timers[0].every"),
    (lambda s: s["timers"][0].update(every=math.inf), "timers[0].every"),
    (lambda s: s["timers"][0].update(every="10"), "timers[0].every"),
    (lambda s: s["timers"][0].update(seq=-1), "timers[0].seq"),
    (lambda s: s["timers"][0].update(seq=True), "timers[0].seq"),
    (lambda s: s["timers"][0].update(seq=1.0), "timers[0].seq"),
])
def test_a_bad_field_is_refused_by_name_and_nothing_changes(tv, change, field):
    snap = snapshot(tv)
    change(snap)
    rt = Runtime(ManualClock(T0), strict=True)
    with pytest.raises(RestoreError) as caught:
        rt.restore(snap)
    assert caught.value.field == field
    assert f": {field}: " in str(caught.value)
    assert rt.sessions == {}
    assert len(rt.timers) == 0


def test_a_snapshot_that_is_not_a_mapping_is_refused():
    rt = Runtime(ManualClock(T0))
    with pytest.raises(RestoreError, match="expected a mapping, got list"):
        rt.restore([("key", "a")])  # type: ignore[arg-type]


@pytest.mark.parametrize(("every", "seq"), [(0.5, 0), (1, 0), (1e-3, 7)])
def test_the_smallest_valid_period_and_arming_order_are_taken(tv, every, seq):
    """Any period > 0 and any arming order >= 0 (0 is the first timer a runtime arms)."""
    snap = snapshot(tv)
    snap["timers"][0].update(every=every, seq=seq)
    rt = Runtime(ManualClock(T0), strict=True)
    rt.restore(snap)
    rollover = rt.timers.get("a", "rollover")
    assert rollover is not None
    assert (rollover.every, rollover.seq, rollover.due) == (every, seq, T0 + 10)


def test_a_snapshot_without_files_or_timers_restores_with_none(tv):
    snap = snapshot(tv)
    del snap["files"], snap["timers"]
    rt = Runtime(ManualClock(T0), strict=True)
    session = rt.restore(snap)
    assert session.files == []
    assert rt.timers.for_session("a") == []
    assert rt.sessions["a"] is session


def test_timers_without_an_arming_order_come_after_those_with_one(tv):
    """Two alarms due at the same instant: the one with its place (seq) fires first, the one
    without (an older snapshot) after it, whatever the order they are listed in."""
    snap = snapshot(tv)
    snap["timers"] = [timer("alarm_b", T0 + 5), timer("alarm_a", T0 + 5, seq=40)]
    rt = Runtime(ManualClock(T0), strict=True)
    rt.restore(snap)
    rt.advance(T0 + 5)
    assert rt.sessions["a"].context.log == [f"alarm_a@{T0 + 5}", f"alarm_b@{T0 + 5}"]


def test_restore_replaces_a_session_already_there_and_its_timers(tv):
    snap = snapshot(tv)
    snap["timers"] = [timer("alarm_a", T0 + 5)]
    rt = Runtime(ManualClock(T0), strict=True)
    rt.dispatch(tv.Schedule(t=T0, session="a", names=["alarm_c"], delays=[3]))
    rt.restore(snap)
    assert [t.name for t in rt.timers.for_session("a")] == ["alarm_a"]
    rt.advance(T0 + 10)
    assert rt.sessions["a"].context.log == [f"alarm_a@{T0 + 5}"]  # alarm_c went with the old


def test_a_restored_finished_session_is_retired_after_the_retention_period(tv):
    rt = Runtime(ManualClock(T0), strict=True)
    rt.dispatch(tv.Dial(t=T0, number="a"))
    rt.dispatch(tv.Hangup(t=T0, session="a"))
    snap = rt.snapshot("a")
    assert snap["state"] == "ended"
    assert snap["timers"] == []
    kept = Runtime(ManualClock(T0 + 100), strict=True, retention=50)
    kept.restore(snap)
    kept.advance(T0 + 149)
    assert "a" in kept.sessions  # 50 s from the restore, not from the hang-up
    kept.advance(T0 + 150)
    assert "a" not in kept.sessions
    forever = Runtime(ManualClock(T0 + 100), strict=True, retention=None)
    forever.restore(snap)
    forever.advance(T0 + 100_000)
    assert "a" in forever.sessions


def test_a_restored_session_still_running_is_not_retired(tv):
    snap = snapshot(tv)
    snap["timers"] = []
    rt = Runtime(ManualClock(T0), strict=True, retention=50)
    rt.restore(snap)
    rt.advance(T0 + 1000)
    assert rt.sessions["a"].state == "talking"


def test_close_session_cancels_its_timers_and_tells_session_closed(tv, listen):
    rt = Runtime(ManualClock(T0), strict=True)
    closed = listen(signals.session_closed, rt)
    rt.dispatch(tv.Dial(t=T0, number="a"))
    rt.dispatch(tv.Answer(t=T0, session="a"))
    session = rt.close_session("a")
    assert session is not None
    assert session.key == "a"
    assert [(c["session"].key, c["reason"], c["t"]) for c in closed] == [("a", "closed", T0)]
    assert rt.timers.for_session("a") == []
    assert rt.close_session("a") is None  # unknown now: nothing told
    assert len(closed) == 1


def test_the_defaults_are_lenient_and_compiled(tv):
    rt = Runtime(ManualClock(T0))
    assert (rt.strict, rt.compiled, rt.restore_context, rt.closed) == (False, True, True, False)
    rt.dispatch(tv.Kick(t=T0, session="a"))  # not accepted: recorded, not raised
    assert isinstance(Runtime().clock.now(), float)
