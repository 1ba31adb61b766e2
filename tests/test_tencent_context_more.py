"""TencentContext keeps its rarely set fields (the room's type, the retry and timeout
bookkeeping, the VOD search) in a TencentMore made only when one of them is set to
something else (issue 12: an idle recording session's memory). Everything outside the
class sees the 24 fields it had: its constructor, equality, repr, copies, checkpoints,
snapshots and store rows."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import orjson
import pytest

from recstate import ManualClock, Runtime
from recstate.events.tencent import (
    EnterRoom,
    MediaData,
    RecordParam,
    RoomInfo,
    StartError,
    StartOk,
    StartRecording,
)
from recstate.machines.tencent import NO_IDS, TencentContext, TencentMore
from recstate.stores import SQLiteStore
from recstate.undo import checkpoint, clone

T0 = 1_700_000_000.0
KEY = "9:1:alice"
RARE = {"roomType": "pair", "retries": 2, "stop_pending": True, "start_unanswered": True,
        "timed_out_at": 5.0, "stop_sent": 6.0, "search_prefix": "r1", "search_ids": ["a"],
        "search_files": ["b"], "search_named": True, "search_after": 7.0, "searches": 3}
#: A snapshot's context as main wrote it before TencentMore (a store row of then).
OLD_ROW = {"relationId": 9, "roomId": 1, "user": "alice", "roomType": "multi",
           "in_room": True, "room": {"relationId": 9, "roomId": 1},
           "param": {"fileName": "r1", "tags": [], "classId": 0, "sdkType": 0,
                     "isTransCode": False, "isScreenShot": False, "isWaterMark": False,
                     "recordDataType": 0},
           "retries": 1, "stop_pending": False, "start_unanswered": False,
           "started_at": T0, "attempt_sent": T0 + 1.0, "timed_out_at": None,
           "stop_sent": None, "last_data": None, "file_seq": 0, "open_file": None,
           "search_prefix": "", "search_ids": [], "search_files": [], "search_named": False,
           "search_after": None, "searches": 0, "recording_files": []}


def start(rt: Runtime, t: float = T0) -> None:
    rt.dispatch(EnterRoom(t=t, session=KEY, relationId=9, roomId=1, user="alice"))
    rt.dispatch(StartRecording(t=t, session=KEY, roomInfo=RoomInfo(9, 1),
                               param=RecordParam(fileName="r1"), user="alice"))


def test_the_rare_fields_read_as_their_defaults_and_setting_a_default_makes_nothing() -> None:
    ctx = TencentContext()
    assert ctx._more is None
    assert ctx.roomType == "multi"
    assert (ctx.retries, ctx.stop_pending, ctx.start_unanswered, ctx.timed_out_at,
            ctx.stop_sent, ctx.search_prefix, ctx.search_named, ctx.search_after,
            ctx.searches) == (0, False, False, None, None, "", False, None, 0)
    assert ctx.search_ids is NO_IDS
    assert ctx.search_files is NO_IDS
    ctx.retries, ctx.stop_pending, ctx.timed_out_at, ctx.search_prefix = 0, False, None, ""
    ctx.search_ids = NO_IDS
    assert ctx._more is None
    ctx.retries = 1
    assert isinstance(ctx._more, TencentMore)
    assert ctx.retries == 1
    assert ctx._more.retries == 1
    ctx.retries = 0  # back to the default: kept where it is, read the same
    assert ctx.retries == 0
    assert ctx == TencentContext()


@pytest.mark.parametrize(("name", "value"), [("retries", False), ("stop_pending", 0),
                                             ("search_prefix", None), ("searches", 0.0),
                                             ("search_ids", [])])
def test_a_value_equal_to_the_default_but_not_it_is_kept(name: str, value: object) -> None:
    """0.0 is not 0 in a snapshot: only the default itself (or one of its type and value)
    goes unstored."""
    ctx = TencentContext()
    setattr(ctx, name, value)
    assert ctx._more is not None
    assert getattr(ctx, name) is value


def test_every_rare_field_reads_back_what_was_set_from_the_constructor_too() -> None:
    ctx = TencentContext(**RARE)  # type: ignore[arg-type]
    assert {name: getattr(ctx, name) for name in RARE} == RARE
    other = TencentContext()
    for name, value in RARE.items():
        setattr(other, name, value)
    assert other == ctx
    assert TencentContext(retries=1) != TencentContext(retries=2)
    assert TencentContext(searches=1) != TencentContext()


def test_the_context_prints_compares_and_hashes_as_the_attrs_class_it_was() -> None:
    ctx = TencentContext(user="alice", retries=1)
    assert repr(ctx) == (
        "TencentContext(relationId=None, roomId=None, user='alice', roomType='multi', "
        "in_room=False, room=None, param=None, retries=1, stop_pending=False, "
        "start_unanswered=False, started_at=None, attempt_sent=None, timed_out_at=None, "
        "stop_sent=None, last_data=None, file_seq=0, open_file=None, search_prefix='', "
        "search_ids=[], search_files=[], search_named=False, search_after=None, "
        "searches=0, recording_files=[])")
    with pytest.raises(TypeError, match="unhashable"):
        hash(ctx)
    assert (ctx == "x") is False
    assert (ctx != "x") is True
    assert ctx != TencentContext(user="alice")


def test_copies_and_checkpoints_keep_the_rare_fields_and_share_nothing() -> None:
    ctx = TencentContext(search_ids=["a"], retries=2)
    for other in (clone(ctx), copy.deepcopy(ctx), pickle.loads(pickle.dumps(ctx))):
        assert other == ctx
        assert other._more is not ctx._more
        assert other.search_ids is not ctx.search_ids
    save, restore = checkpoint(TencentContext)
    saved = save(ctx)
    ctx.retries = 3
    ctx.search_ids = ["b"]
    fresh = TencentContext()
    fresh_saved = save(fresh)
    fresh.searches = 4
    assert restore(ctx, saved) == TencentContext(search_ids=["a"], retries=2)
    assert restore(fresh, fresh_saved) == TencentContext()
    assert fresh._more is None


def test_an_idle_recording_session_has_no_more_and_a_retry_makes_it(tmp_path: Path) -> None:
    rt = Runtime(ManualClock(T0), strict=True)
    start(rt)
    rt.dispatch(StartOk(t=T0, session=KEY))
    rt.dispatch(MediaData(t=T0 + 1, session=KEY, bytes=1))
    assert rt.sessions[KEY].state == "recording"
    assert rt.sessions[KEY].context._more is None
    other = Runtime(ManualClock(T0), strict=True)
    start(other)
    other.dispatch(StartError(t=T0 + 1, session=KEY, code=30000401))
    ctx = other.sessions[KEY].context
    assert other.sessions[KEY].state == "retry_wait"
    assert ctx.retries == 1
    assert ctx._more is not None


def test_a_snapshot_has_the_24_fields_in_their_order_and_old_rows_load() -> None:
    rt = Runtime(ManualClock(T0), strict=True)
    start(rt)
    rt.dispatch(StartError(t=T0 + 1, session=KEY, code=30000401))
    snap = orjson.loads(orjson.dumps(rt.snapshot(KEY)))
    assert list(snap["context"]) == list(OLD_ROW)
    assert snap["context"]["retries"] == 1
    back = Runtime(ManualClock(T0 + 1), strict=True)
    back.restore(snap)
    assert back.sessions[KEY].context == rt.sessions[KEY].context
    assert back.snapshot(KEY) == rt.snapshot(KEY)
    old = {**snap, "context": OLD_ROW}
    again = Runtime(ManualClock(T0 + 1), strict=True)
    again.restore(old)
    ctx = again.sessions[KEY].context
    assert ctx.retries == 1
    assert ctx.attempt_sent == T0 + 1.0
    assert ctx.room == RoomInfo(9, 1)
    assert again.snapshot(KEY)["context"] == OLD_ROW
    idle = {**OLD_ROW, "retries": 0}
    assert again.restore({**snap, "key": "9:1:bob", "context": idle}) is not None
    restored = again.sessions["9:1:bob"].context
    assert restored._more is None
    assert restored.search_ids is NO_IDS
    assert restored.recording_files is NO_IDS


def test_a_context_with_its_more_round_trips_through_a_sqlite_store(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    first = Runtime(ManualClock(T0), strict=True, store=SQLiteStore(db))
    first.recover()
    start(first)
    first.dispatch(StartError(t=T0 + 1, session=KEY, code=30000401))
    want = first.snapshot(KEY)
    del first
    again = Runtime(ManualClock(T0 + 1.5), strict=True, store=SQLiteStore(db))
    again.recover()
    ctx = again.sessions[KEY].context
    assert ctx.retries == 1
    assert ctx._more is not None
    assert again.snapshot(KEY) == want
