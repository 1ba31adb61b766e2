"""TencentContext keeps the start's RecordParam as its file name alone when every other
field is at its default (``recstate.sparse.Compact``; issue 12: 96 bytes of every idle
recording session), and reads it back as an equal RecordParam. Any other param is kept as
it is; everything outside the class sees the param it was given: its constructor,
equality, repr, copies, checkpoints, pickles, snapshots, store rows and the commands that
resend it."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest

from recstate import ManualClock, Runtime, signals
from recstate.events import converter
from recstate.events.tencent import (
    START,
    EnterRoom,
    MediaData,
    RecordParam,
    RoomInfo,
    StartError,
    StartOk,
    StartRecording,
    StopOk,
    StopRecording,
)
from recstate.machines.tencent import TencentContext
from recstate.stores import SQLiteStore
from recstate.undo import checkpoint, clone

T0 = 1_700_000_000.0
KEY = "9:1:alice"
#: The snapshot of RecordParam(fileName="r1"), as main wrote it.
ROW = {"fileName": "r1", "tags": [], "classId": 0, "sdkType": 0, "isTransCode": False,
       "isScreenShot": False, "isWaterMark": False, "recordDataType": 0}
#: A value of each field but fileName other than its default; and values equal to the
#: default but of another type (a snapshot shows them as they are).
OTHERS: list[dict[str, Any]] = [
    {"tags": ("a",)}, {"classId": 3}, {"sdkType": 1}, {"isTransCode": True},
    {"isScreenShot": True}, {"isWaterMark": True}, {"recordDataType": 1},
    {"classId": False}, {"sdkType": 0.0}, {"isTransCode": 0}, {"recordDataType": False},
    {"tags": []}]


class _Param(RecordParam):
    """A subclass: kept whole (it may mean more than its fields)."""


class _Name(str):
    __slots__ = ()


def test_the_file_name_alone_is_kept_when_the_rest_is_default() -> None:
    name = "".join(["r", "1"])
    param = RecordParam(fileName=name)
    ctx = TencentContext(param=param)
    assert ctx._param is name  # the file name itself: no RecordParam, no new string
    first, second = ctx.param, ctx.param
    assert first == param
    assert type(first) is RecordParam
    assert first is not second  # a new one each read
    assert first.fileName is name
    assert "param" not in TencentContext.__slots__


@pytest.mark.parametrize("other", OTHERS, ids=repr)
def test_a_param_with_any_other_field_set_is_kept_whole(other: dict[str, Any]) -> None:
    param = RecordParam(fileName="r1", **other)
    ctx = TencentContext(param=param)
    assert ctx._param is param
    assert ctx.param is param
    got = converter.unstructure(ctx)["param"]
    want = converter.unstructure(param)
    assert got == want
    assert [type(v) for v in got.values()] == [type(v) for v in want.values()]


@pytest.mark.parametrize("param", [
    _Param(fileName="r1"), RecordParam(fileName=_Name("r1")),
    RecordParam(fileName=7),  # type: ignore[arg-type]
    None], ids=repr)
def test_a_subclass_a_name_not_a_str_or_none_is_kept_as_it_is(param: Any) -> None:
    ctx = TencentContext(param=param)
    assert ctx._param is param
    assert ctx.param is param


def test_a_str_given_as_the_whole_param_reads_back_as_that_str() -> None:
    """Not a RecordParam (a caller's mistake): it reads, prints and snapshots as before."""
    ctx = TencentContext(param="r1")  # type: ignore[arg-type]
    assert ctx.param == "r1"
    assert type(ctx.param) is str
    assert "param='r1'" in repr(ctx)
    assert pickle.loads(pickle.dumps(ctx)).param == "r1"
    assert clone(ctx).param == "r1"


def test_setting_the_attribute_compacts_or_keeps_it_each_time() -> None:
    ctx = TencentContext()
    assert ctx._param is None
    assert ctx.param is None
    ctx.param = RecordParam(fileName="a")
    assert ctx._param == "a"
    tagged = RecordParam(fileName="a", tags=("t",))
    ctx.param = tagged
    assert ctx._param is tagged
    ctx.param = RecordParam(fileName="b")
    assert ctx._param == "b"
    assert ctx.param == RecordParam(fileName="b")
    ctx.param = None
    assert ctx._param is None


def test_the_context_prints_and_compares_with_its_param() -> None:
    ctx = TencentContext(user="alice", param=RecordParam(fileName="r1"))
    assert repr(ctx) == (
        "TencentContext(relationId=None, roomId=None, user='alice', roomType='multi', "
        "in_room=False, room=None, param=RecordParam(fileName='r1', tags=(), classId=0, "
        "sdkType=0, isTransCode=False, isScreenShot=False, isWaterMark=False, "
        "recordDataType=0), retries=0, stop_pending=False, start_unanswered=False, "
        "started_at=None, attempt_sent=None, timed_out_at=None, stop_sent=None, "
        "last_data=None, file_seq=0, open_file=None, search_prefix='', search_ids=[], "
        "search_files=[], search_named=False, search_after=None, searches=0, "
        "recording_files=[])")
    assert ctx == TencentContext(user="alice", param=RecordParam(fileName="r1"))
    assert ctx != TencentContext(user="alice", param=RecordParam(fileName="r2"))
    assert ctx != TencentContext(user="alice", param=RecordParam(fileName="r1", classId=1))
    assert ctx != TencentContext(user="alice")
    with pytest.raises(TypeError, match="unhashable"):
        hash(ctx)


@pytest.mark.parametrize("param", [RecordParam(fileName="r1"),
                                   RecordParam(fileName="r1", tags=("a",))], ids=repr)
def test_copies_pickles_and_checkpoints_keep_the_param(param: RecordParam) -> None:
    ctx = TencentContext(user="alice", param=param)
    for other in (clone(ctx), copy.deepcopy(ctx), pickle.loads(pickle.dumps(ctx))):
        assert other == ctx
        assert other.param == param
        assert type(other._param) is type(ctx._param)
    assert clone(ctx)._param is ctx._param  # immutable: shared
    save, restore = checkpoint(TencentContext)
    saved = save(ctx)
    ctx.param = RecordParam(fileName="other", classId=2)
    assert restore(ctx, saved) == TencentContext(user="alice", param=param)
    assert type(ctx._param) is type(TencentContext(param=param)._param)
    ctx.param = None
    restore(ctx, saved)
    assert ctx.param == param


def start(rt: Runtime, param: RecordParam) -> None:
    rt.dispatch(EnterRoom(t=T0, session=KEY, relationId=9, roomId=1, user="alice"))
    rt.dispatch(StartRecording(t=T0, session=KEY, roomInfo=RoomInfo(9, 1), param=param,
                               user="alice"))


def test_an_idle_recording_session_keeps_the_file_name_alone() -> None:
    rt = Runtime(ManualClock(T0), strict=True)
    param = RecordParam(fileName="r1")
    start(rt, param)
    rt.dispatch(StartOk(t=T0, session=KEY))
    rt.dispatch(MediaData(t=T0 + 1, session=KEY, bytes=1))
    session = rt.sessions[KEY]
    assert session.state == "recording"
    assert session.context._param is param.fileName
    [f] = session.files
    assert (f.id, f.kind) == ("r1#1", "video")


def test_a_screen_recording_keeps_its_param_whole_and_its_file_is_a_screen() -> None:
    rt = Runtime(ManualClock(T0), strict=True)
    param = RecordParam(fileName="r1", recordDataType=1)
    start(rt, param)
    rt.dispatch(StartOk(t=T0, session=KEY))
    session = rt.sessions[KEY]
    assert session.context._param is param
    [f] = session.files
    assert (f.id, f.kind) == ("r1#1", "screen")


@pytest.mark.parametrize("param", [RecordParam(fileName="r1"),
                                   RecordParam(fileName="r1", tags=("a", "b"), classId=4)],
                         ids=repr)
def test_the_retry_resends_the_same_param(param: RecordParam) -> None:
    rt = Runtime(ManualClock(T0), strict=True)
    sent: list[Any] = []
    signals.commands("tencent").connect(
        lambda sender, **kw: sent.append(kw["command"]), sender=rt, weak=False)
    start(rt, param)
    rt.dispatch(StartError(t=T0 + 0.5, session=KEY, code=30000401))
    rt.advance(T0 + 1.5)
    first, again = [c for c in sent if c.name == START]
    assert again.param == param == first.param
    assert type(again.param) is RecordParam
    assert converter.unstructure(again) == converter.unstructure(first)


def test_the_vod_search_looks_for_the_file_name() -> None:
    rt = Runtime(ManualClock(T0), strict=True)
    start(rt, RecordParam(fileName="r1"))
    rt.dispatch(StartOk(t=T0, session=KEY))
    rt.dispatch(StopRecording(t=T0 + 5, session=KEY, roomInfo=RoomInfo(9, 1), user="alice"))
    rt.dispatch(StopOk(t=T0 + 6, session=KEY, fileIds=("v1",)))
    assert rt.sessions[KEY].context.search_prefix == "r1"


@pytest.mark.parametrize("param", [RecordParam(fileName="r1"),
                                   RecordParam(fileName="r1", tags=("a",), isWaterMark=True)],
                         ids=repr)
def test_a_snapshot_shows_the_param_as_before_and_restores_it(param: RecordParam) -> None:
    rt = Runtime(ManualClock(T0), strict=True)
    start(rt, param)
    snap = orjson.loads(orjson.dumps(rt.snapshot(KEY)))
    row = snap["context"]["param"]
    assert row == {**ROW, **converter.unstructure(param)}
    assert list(row) == list(ROW)
    back = Runtime(ManualClock(T0), strict=True)
    back.restore(snap)
    ctx = back.sessions[KEY].context
    assert ctx.param == param
    assert ctx == rt.sessions[KEY].context
    assert type(ctx._param) is type(rt.sessions[KEY].context._param)
    assert back.snapshot(KEY) == rt.snapshot(KEY)


def test_a_snapshot_row_of_main_loads_compact() -> None:
    rt = Runtime(ManualClock(T0), strict=True)
    start(rt, RecordParam(fileName="x"))
    snap = orjson.loads(orjson.dumps(rt.snapshot(KEY)))
    snap["context"]["param"] = dict(ROW)
    back = Runtime(ManualClock(T0), strict=True)
    back.restore(snap)
    assert back.sessions[KEY].context._param == "r1"
    assert back.snapshot(KEY)["context"]["param"] == ROW


def test_two_snapshots_share_no_list() -> None:
    ctx = TencentContext(param=RecordParam(fileName="r1"))
    one, two = converter.unstructure(ctx), converter.unstructure(ctx)
    one["param"]["tags"].append("x")
    assert two["param"]["tags"] == []
    assert converter.unstructure(ctx)["param"] == ROW


@pytest.mark.parametrize("param", [RecordParam(fileName="r1"),
                                   RecordParam(fileName="r1", classId=5)], ids=repr)
def test_the_param_round_trips_through_a_sqlite_store(tmp_path: Path,
                                                      param: RecordParam) -> None:
    db = tmp_path / "r.db"
    first = Runtime(ManualClock(T0), strict=True, store=SQLiteStore(db))
    first.recover()
    start(first, param)
    first.dispatch(StartOk(t=T0 + 1, session=KEY))
    want = first.snapshot(KEY)
    kept = type(first.sessions[KEY].context._param)
    del first
    again = Runtime(ManualClock(T0 + 1.5), strict=True, store=SQLiteStore(db))
    again.recover()
    ctx = again.sessions[KEY].context
    assert ctx.param == param
    assert type(ctx._param) is kept
    assert again.snapshot(KEY) == want


def test_the_param_field_stays_a_field_of_the_constructor_and_the_snapshot() -> None:
    """The slot is ``_param``; the constructor, the snapshot class and the repr still name
    ``param`` in its place."""
    assert "_param" in attrs.fields_dict(TencentContext)
    ctx = TencentContext(None, None, None, "multi", False, None, RecordParam(fileName="p"))
    assert ctx.param == RecordParam(fileName="p")
    assert list(converter.unstructure(ctx))[6] == "param"
