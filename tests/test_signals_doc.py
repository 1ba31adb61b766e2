"""Signals documented where a user looks (issue 10, point 6): each signal's doc names every
keyword argument it is sent with; a file whose id is replaced carries the previous id."""

from __future__ import annotations

import re

from recstate import signals
from recstate.adapters.tencent import TencentSimulator
from recstate.events.tencent import (
    EnterRoom,
    RecordParam,
    RoomInfo,
    StartRecording,
    StopRecording,
    key_for,
)
from recstate.testing import SignalRecorder

T0 = 1_700_000_000.0
KEY = key_for(15000, 7, "alice")


async def test_every_keyword_sent_is_named_with_its_type_in_the_signals_doc(
        recstate_clock, tv):
    from recstate import Runtime

    rt = Runtime(recstate_clock, retention=60)  # lenient: violations are sent, not raised
    heard = SignalRecorder(rt)
    TencentSimulator(rt)
    rt.dispatch(EnterRoom(relationId=15000, roomId=7, user="alice"))
    rt.dispatch(StartRecording(roomInfo=RoomInfo(relationId=15000, roomId=7),
                               param=RecordParam(fileName="alice"), user="alice"))
    await rt.settle(until=T0 + 100 * 60)
    rt.dispatch(EnterRoom(relationId=15000, roomId=8, user="alice"))
    rt.dispatch(StartRecording(roomInfo=RoomInfo(relationId=15000, roomId=8),  # 30000415
                               param=RecordParam(fileName="alice-8"), user="alice"))
    rt.dispatch(StopRecording(session=KEY))
    rt.dispatch(tv.Kick(session="z"))  # the Phone takes no kick: a violation
    await rt.settle(until=T0 + 200 * 60)  # ... and closed after retention
    rt.close()
    sent: dict[str, set[str]] = {}
    for name, kwargs in heard.sent:
        sent.setdefault(name, set()).update(kwargs)
    assert set(sent) == {"transition", "violation", "error", "recording-changed",
                         "file-changed", "session-closed", "tencent.command"}
    by_name = {s.name: s for s in signals.all_signals()}
    for name, keywords in sent.items():
        doc = by_name[name].__doc__ or ""
        for keyword in keywords:  # "name (type...": each keyword with its type
            assert re.search(rf"\b{keyword} \(", doc), (name, keyword, doc)
    assert "Session" in (signals.commands("tencent").__doc__ or "")
    assert "t (float" in (signals.commands("tencent").__doc__ or "")


async def test_a_file_whose_local_id_is_replaced_by_the_vendors_carries_the_previous_id(
        recstate_runtime, recstate_tencent, recstate_signals):
    recstate_runtime.dispatch(EnterRoom(relationId=15000, roomId=7, user="alice"))
    recstate_runtime.dispatch(StartRecording(roomInfo=RoomInfo(relationId=15000, roomId=7),
                                             param=RecordParam(fileName="alice"), user="alice"))
    await recstate_runtime.settle(until=T0 + 60)
    [opened] = [kw for kw in recstate_signals.of("file-changed") if kw["change"] == "opened"]
    local_id = opened["file"].id
    assert opened["previous_id"] is None
    recstate_runtime.dispatch(StopRecording(session=KEY))
    await recstate_runtime.settle(until=T0 + 120)
    replaced = [kw for kw in recstate_signals.of("file-changed")
                if kw["previous_id"] is not None]
    assert [kw["previous_id"] for kw in replaced] == [local_id]
    assert replaced[0]["file"].id != local_id  # the file ID from stop's answer (002 §3)
    assert replaced[0]["file"].id in recstate_tencent.answered[-2].fileIds  # type: ignore[attr-defined]
