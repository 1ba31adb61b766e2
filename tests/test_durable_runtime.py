"""The runtime with a store (recstate.durable), on a real SQLite file: timers survive a crash
and fire at their original due times, commands reach the adapter at least once with a stable
id and take effect once, and an input delivered again is skipped and said so.

Expected values come from the Tencent documents: 002 §6 (a new MP4 every 90 minutes; the
server ends the recording 1 minute after its last data)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from recstate import signals
from recstate.clock import ManualClock
from recstate.events.tencent import (
    EnterRoom,
    MediaData,
    RecordParam,
    RoomInfo,
    StartOk,
    StartRecording,
)
from recstate.runtime import Runtime
from recstate.stores import SQLiteStore

T0 = 1_700_000_000.0
KEY = "1001:7:alice"
ROOM = RoomInfo(relationId=1001, roomId=7)
MIN = 60.0


def start(rt: Runtime, *, answer: bool = True) -> None:
    rt.dispatch(EnterRoom(t=T0, session=KEY, relationId=1001, roomId=7, user="alice"))
    rt.dispatch(StartRecording(t=T0, session=KEY, roomInfo=ROOM,
                               param=RecordParam(fileName="class-42", classId=1)))
    if answer:
        rt.advance(T0 + 1)
        rt.dispatch(StartOk(t=T0 + 1, session=KEY))


def data(rt: Runtime, first: float, until: float) -> float:
    """A heartbeat every 30 s from ``first`` up to ``until``; the time of the last one."""
    t = last = first
    while t <= until:
        rt.advance(t)
        rt.dispatch(MediaData(t=t, session=KEY))
        last, t = t, t + 30
    return last


def durable(path: Path, now: float) -> Runtime:
    rt = Runtime(ManualClock(now), strict=True, store=SQLiteStore(path))
    rt.recover()
    return rt


def test_a_rollover_due_after_a_restart_still_ends_the_file_at_90_minutes(tmp_path: Path
                                                                           ) -> None:
    db = tmp_path / "r.db"
    first = durable(db, T0)
    start(first)
    data(first, T0 + 31, T0 + 50 * MIN)
    del first  # the process dies: nothing is closed, nothing more is written
    again = durable(db, T0 + 50 * MIN + 15)
    assert again.sessions[KEY].state == "recording"
    last = data(again, T0 + 50 * MIN + 30, T0 + 100 * MIN)
    again.advance(T0 + 110 * MIN)
    files = again.sessions[KEY].files
    assert [(f.start, f.end) for f in files] == [
        (T0 + 1, T0 + 1 + 90 * MIN),  # 002 §6: a new file every 90 minutes
        (T0 + 1 + 90 * MIN, last)]    # ended at the last data by the watchdog


def test_a_watchdog_that_fell_due_while_down_ends_the_file_at_the_last_data(tmp_path: Path
                                                                             ) -> None:
    db = tmp_path / "w.db"
    notices: list[tuple[str, float]] = []
    first = durable(db, T0)
    start(first)
    last = data(first, T0 + 31, T0 + 20 * MIN)
    del first
    # Down for an hour: the watchdog (last data + 60 s) fell due long ago.
    again = Runtime(ManualClock(T0 + 80 * MIN), store=SQLiteStore(db))

    def on_error(sender: Any, *, code: Any, t: float, **_: Any) -> None:
        notices.append((code, t))

    signals.error.connect(on_error, sender=again)
    try:
        again.recover()
        again.run_due()
    finally:
        signals.error.disconnect(on_error, sender=again)
    session = again.sessions[KEY]
    assert session.recording == "stopped"
    assert [(f.start, f.end) for f in session.files] == [(T0 + 1, last)]
    assert notices == [("no-data", last + 60)]  # at its due time, not at the restart


def test_a_command_reaches_the_adapter_at_least_once_and_takes_effect_once(tmp_path: Path
                                                                            ) -> None:
    db = tmp_path / "c.db"
    handed: list[tuple[str, str]] = []

    def adapter(sender: Any, *, command: Any, command_id: str, **_: Any) -> None:
        handed.append((command.name, command_id))

    first = durable(db, T0)
    signals.commands("tencent").connect(adapter, sender=first)
    start(first, answer=False)
    signals.commands("tencent").disconnect(adapter, sender=first)
    assert handed == [("requestMultiVideoRecorderStart", f"{KEY}/2/0")]
    # The process dies after the commit and the hand-over, before it could note the
    # hand-over in the store: on recovery, the command is handed over again, same id.
    del first
    again = Runtime(ManualClock(T0 + 1), store=SQLiteStore(db))
    signals.commands("tencent").connect(adapter, sender=again)
    try:
        again.recover()
    finally:
        signals.commands("tencent").disconnect(adapter, sender=again)
    assert handed == [("requestMultiVideoRecorderStart", f"{KEY}/2/0")] * 2
    # The adapter answers each hand-over; the answer carries the command's id: one applies.
    errors: list[str] = []
    signals.error.connect(lambda s, **kw: errors.append(kw["code"]), sender=again, weak=False)
    for _ in range(2):
        again.dispatch(StartOk(t=T0 + 1, session=KEY, id=f"{KEY}/2/0"))
    assert again.sessions[KEY].state == "recording"
    assert len(again.sessions[KEY].files) == 1
    assert errors == ["duplicate"]
    # The hand-over was noted this time: a third life hands nothing over.
    third = Runtime(ManualClock(T0 + 2), store=SQLiteStore(db))
    assert third.recover().outbox == []


def test_a_store_written_by_another_process_is_a_conflict(tmp_path: Path) -> None:
    from recstate.stores import Conflict

    db = tmp_path / "x.db"
    one, two = durable(db, T0), durable(db, T0)
    start(one, answer=False)
    with pytest.raises(Conflict, match="expected version 0"):
        start(two, answer=False)


def test_a_conflict_says_whether_it_refused_an_input_or_a_timer(tmp_path: Path) -> None:
    """A refused handling tells its caller whether to hand the input over again: an
    input's (``input``), not a timer's (the timer fires again from the reloaded session)."""
    from recstate.stores import Conflict

    db = tmp_path / "x.db"
    one = durable(db, T0)
    start(one)
    two, three = durable(db, T0 + 1), durable(db, T0 + 1)  # both hold version 3
    one.advance(T0 + 30)
    one.dispatch(MediaData(t=T0 + 30, session=KEY))  # one moves it to 4
    with pytest.raises(Conflict, match="expected version 3") as timer:
        two.advance(T0 + 1 + 61)  # two's watchdog (due 60 s after the start:ok) fires
    assert timer.value.input is False
    with pytest.raises(Conflict, match="expected version 3") as heartbeat:
        three.dispatch(MediaData(t=T0 + 30, session=KEY))
    assert heartbeat.value.input is True


def test_without_a_store_a_closed_session_leaves_nothing_to_write(tmp_path: Path) -> None:
    """The store's side of closing a session (its row deleted in the group's order) is
    only for a runtime with a store: without one, closing it only forgets it."""
    rt = Runtime(ManualClock(T0), strict=True)
    start(rt)
    closed = rt.close_session(KEY)
    assert closed is not None
    assert closed.state == "recording"
    assert KEY not in rt.sessions
    assert list(rt.timers) == []
    start(rt)  # the same key again: a new session
    assert rt.sessions[KEY].state == "recording"


def test_an_unroutable_input_with_an_id_keeps_its_key_runtime_wide(tmp_path: Path) -> None:
    """An input no session can take (a heartbeat naming none) still has its idempotency
    key kept, runtime-wide in the store (no session holds it), and a restart knows it."""
    from recstate.events import parse_event

    db = tmp_path / "u.db"
    rt = Runtime(ManualClock(T0), store=SQLiteStore(db))  # not strict: an unroutable is told
    rt.recover()
    codes: list[str] = []
    signals.error.connect(lambda s, **kw: codes.append(kw["code"]), sender=rt, weak=False)
    rt.dispatch(parse_event("tencent", "mediaData", T0, {}, None, id="beat-1"))
    assert codes == ["unroutable"]
    assert rt.sessions == {}
    loaded = SQLiteStore(db).load()
    assert loaded.applied == {"beat-1"}
    assert loaded.sessions == []


def test_a_trace_file_with_a_store_is_the_one_without(tmp_path: Path) -> None:
    """With a store, a TraceWriter is told each handling's lines once it is committed, as
    the runtime encoded them for the journal: the file is byte for byte the one a runtime
    without a store writes."""
    from recstate.trace import TraceWriter

    with_store, without = TraceWriter(tmp_path / "a.jsonl"), TraceWriter(tmp_path / "b.jsonl")
    rt = Runtime(ManualClock(T0), store=SQLiteStore(tmp_path / "a.db"), tracer=with_store)
    rt.recover()
    plain = Runtime(ManualClock(T0), tracer=without)
    for each in (rt, plain):
        start(each)
        data(each, T0 + 30, T0 + 120)
        each.close()
    with_store.close()
    without.close()
    written = (tmp_path / "a.jsonl").read_bytes()
    assert written == (tmp_path / "b.jsonl").read_bytes()
    assert len(written.splitlines()) == 11  # the start: 3 inputs and what they made (7); 4 beats


def test_a_timer_after_an_input_with_an_id_keeps_only_its_own_keys(tmp_path: Path) -> None:
    """An input's idempotency key goes with its own handling's commit: a timer of another
    session handled next does not take it (its session's applied keys stay its own)."""
    db = tmp_path / "k.db"
    rt = durable(db, T0)
    bob = "1001:8:bob"
    start(rt)
    rt.dispatch(EnterRoom(t=T0 + 1, session=bob, relationId=1001, roomId=8, user="bob"))
    rt.dispatch(StartRecording(t=T0 + 1, session=bob, roomInfo=RoomInfo(relationId=1001,
                                                                         roomId=8),
                               param=RecordParam(fileName="class-43", classId=1)))
    rt.dispatch(StartOk(t=T0 + 1, session=bob))  # bob's watchdog: due at T0 + 61
    rt.advance(T0 + 30)
    rt.dispatch(MediaData(t=T0 + 30, session=KEY, id="beat-a"))  # alice's: due at T0 + 90
    rt.advance(T0 + 61)  # bob's watchdog fires: its handling is committed alone
    assert rt.sessions[bob].state != "recording"
    applied = {row.key: row.applied for row in SQLiteStore(db).load().sessions}
    assert applied == {KEY: {"beat-a"}, bob: set()}


def test_a_simulated_run_stopped_midway_resumes_its_delayed_deliveries(tmp_path: Path
                                                                        ) -> None:
    """In-process, what tests/test_crash.py does with SIGKILL: NetEase calls whose every
    answer is the simulator's delayed delivery (each callback body twice), the process
    gone after some inputs (its runtime dropped, nothing flushed), and a new one on the
    same store: the deliveries pending then come back in their places, so the journal
    and the sessions are those of a run never stopped."""
    import math
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from simulated_run import script

    from recstate.adapters.netease import NetEaseSimulator
    from recstate.events import parse_event

    lines = script(4)

    def run(db: Path, upto: int) -> Runtime:
        store = SQLiteStore(db, journal=True)
        rt = Runtime(ManualClock(-math.inf), store=store, retention=None)
        rt.keys_from_lines = True
        sim = NetEaseSimulator(rt, duplicate=True)
        loaded = rt.recover()
        cursor = max([loaded.delivered, *(row.delivered for row in loaded.sessions)])
        for n, (t, name, payload, cid) in enumerate(lines, start=1):
            if n > upto:
                sim.close()
                return rt  # gone: what was committed is all that is left
            if n < cursor:
                continue
            rt.advance(max(t, rt.clock.now()))
            rt.dispatch(parse_event("netease", name, t, payload, cid), line=n)
        rt.advance(max(lines[-1][0] + 600, rt.clock.now()))
        rt.flush_store()
        sim.close()
        return rt

    whole = run(tmp_path / "whole.db", len(lines))
    for upto in (1, 3, 5):  # after a call (its call:ok and accept pending), after more
        run(tmp_path / "cut.db", upto)
    pending = SQLiteStore(tmp_path / "cut.db").load().deliveries
    assert pending  # the simulator's answers were waiting in the store
    resumed = run(tmp_path / "cut.db", len(lines))
    assert list(SQLiteStore(tmp_path / "cut.db").journal()) == list(
        SQLiteStore(tmp_path / "whole.db").journal())
    assert {k: resumed.snapshot(k) for k in resumed.sessions} == {
        k: whole.snapshot(k) for k in whole.sessions}
    assert sum(len(s.files) for s in whole.sessions.values()) >= 4  # every call got files


def test_without_a_store_the_store_calls_do_nothing_or_say_why() -> None:
    """A runtime without a store has nothing to freshen, nothing stale and nothing to
    flush; recovering or reloading is refused with what it needs."""
    rt = Runtime(ManualClock(T0), strict=True)
    start(rt)
    assert rt.freshen([KEY]) == []
    assert rt.stale(KEY) is False
    rt.flush_store()
    assert rt.version(KEY) == 0
    with pytest.raises(TypeError, match="needs a runtime made with a store"):
        rt.recover()
    with pytest.raises(TypeError, match="needs a runtime made with a store"):
        rt.reload(KEY)
    assert rt.sessions[KEY].state == "recording"


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_recovery_hands_over_no_command_whose_session_or_kind_it_does_not_know(
        tmp_path: Path, kind: str) -> None:
    """An outbox row whose session is no longer stored (ended meanwhile) or whose command
    this version does not know (a store written by a newer one) is left alone on recovery:
    nothing is handed over for it, and the rest of the recovery goes on."""
    from recstate.stores import Commit, MemoryStore, OutboxRow

    store = MemoryStore() if kind == "memory" else SQLiteStore(tmp_path / "o.db")
    handed: list[str] = []

    def adapter(sender: Any, *, command: Any, command_id: str, **_: Any) -> None:
        handed.append(command_id)

    first = Runtime(ManualClock(T0), store=store)
    start(first, answer=False)  # KEY is stored, its start command handed over
    store.commit(Commit(outbox=[
        OutboxRow("gone/2/0", "1400:7:gone", "tencent", "requestMultiVideoRecorderStop",
                  T0, {"roomInfo": {"relationId": 1400, "roomId": 7}}),
        OutboxRow(f"{KEY}/9/0", KEY, "tencent", "aCommandOfANewerVersion", T0, {}),
        OutboxRow(f"{KEY}/9/1", KEY, "tencent", "requestMultiVideoRecorderStop", T0,
                  {"roomInfo": {"relationId": 1400, "roomId": 7}})]))
    again = Runtime(ManualClock(T0 + 1), store=store)
    signals.commands("tencent").connect(adapter, sender=again)
    try:
        again.recover()
    finally:
        signals.commands("tencent").disconnect(adapter, sender=again)
    # the start (its hand-over not yet noted: at least once) and the known stop
    assert sorted(handed) == [f"{KEY}/2/0", f"{KEY}/9/1"]
    assert again.sessions[KEY].state == "starting"


def test_a_clean_stop_notes_every_hand_over_so_a_restart_hands_nothing_again(
        tmp_path: Path) -> None:
    """``flush_store`` (a clean stop) writes what is gathered and notes the commands handed
    over since the last commit: at-least-once hands a command again only after a crash."""
    db = tmp_path / "f.db"
    first = durable(db, T0)
    start(first, answer=False)  # the start command handed over after its commit
    first.flush_store()
    again = Runtime(ManualClock(T0 + 1), store=SQLiteStore(db))
    assert again.recover().outbox == []
