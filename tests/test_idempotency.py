"""Idempotency keys (issue 11): a trace line's generic ``id`` and NetEase's channelid +
filename + pieceindex. An input whose keys were all applied is acknowledged, skipped, and the
trace says so (an ``info`` notice ``duplicate``); with or without a store, the same report."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from recstate.errors import TraceError
from recstate.events.netease import Callback, idempotency_keys
from recstate.replay import replay
from recstate.stores import MemoryStore
from recstate.trace import parse_line

T0 = 1_700_000_000
KEY = "1001:7:alice"
ROOM = {"relationId": 1001, "roomId": 7}


def line(t: float, name: str, data: dict | None = None, **extra: object) -> str:
    out: dict = {"t": t, "vendor": "tencent", "name": name, "session": KEY, **extra}
    if data is not None:
        out["data"] = data
    return json.dumps(out)


def test_a_line_delivered_twice_with_its_id_is_applied_once(tmp_path: Path) -> None:
    trace = tmp_path / "dup.jsonl"
    trace.write_text("\n".join([
        line(T0, "enterRoom", {**ROOM, "roomType": "multi", "user": "alice"}),
        line(T0, "requestMultiVideoRecorderStart", {"roomInfo": ROOM,
                                                    "param": {"fileName": "c"}}),
        line(T0 + 1, "requestMultiVideoRecorderStart:ok", {}, id="cb-77"),
        line(T0 + 3, "requestMultiVideoRecorderStart:ok", {}, id="cb-77"),  # redelivered
    ]) + "\n")
    for report in (replay(trace), replay(trace, store=MemoryStore(journal=True))):
        session = report.sessions[0]
        assert session["state"] == "recording"
        assert report.violations == 0  # the second start:ok never reached the machine
        assert [(e["code"], e["level"], e["t"]) for e in session["errors"]] == [
            ("duplicate", "info", T0 + 3)]
        assert "cb-77" in session["errors"][0]["message"]
        assert len(session["files"]) == 1


def test_the_id_field_is_checked() -> None:
    record = parse_line('{"t": 1, "vendor": "tencent", "name": "mediaData", "id": "x-1"}')
    assert record is not None
    assert record.id == "x-1"
    assert orjson.loads(record.dumps())["id"] == "x-1"
    with pytest.raises(TraceError) as caught:
        parse_line('{"t": 1, "vendor": "tencent", "name": "mediaData", "id": 7}', line=3)
    assert (caught.value.line, caught.value.field) == (3, "id")


def test_netease_keys_are_channel_filename_and_piece() -> None:
    items = [{"caller": True, "channelid": "629", "filename": "629-a.aac", "md5": "m",
              "mix": False, "size": "1", "type": "aac", "url": "u", "user": "a",
              "pieceindex": 2},
             {"caller": False, "channelid": "629", "filename": "629-b.aac", "md5": "m",
              "mix": False, "size": "1", "type": "aac", "url": "u", "user": "b"}]
    ev = Callback(t=T0, eventType="6", fileinfo=orjson.dumps(items).decode())
    assert idempotency_keys(ev) == ("netease:629/629-a.aac/2", "netease:629/629-b.aac/")
    assert idempotency_keys(Callback(t=T0, eventType="5")) == ()


def test_an_unroutable_input_repeated_with_its_id_is_skipped_with_a_store_or_without(
        tmp_path: Path) -> None:
    """An input no rule can route is still an applied input: its repeat (same ``id``) is
    acknowledged and skipped, and the report is the same with a store and without."""
    trace = tmp_path / "unroutable-dup.jsonl"
    unroutable = {"t": T0 + 1, "vendor": "tencent", "name": "mediaData", "id": "hb-9"}
    trace.write_text("\n".join([
        line(T0, "enterRoom", {**ROOM, "roomType": "multi", "user": "alice"}),
        json.dumps(unroutable),
        json.dumps({**unroutable, "t": T0 + 2}),  # redelivered
    ]) + "\n")
    outs = [tmp_path / "plain.jsonl", tmp_path / "stored.jsonl"]
    plain = replay(trace, out=outs[0])
    stored = replay(trace, out=outs[1], store=MemoryStore(journal=True))
    assert plain.to_json() == stored.to_json()
    assert outs[0].read_bytes() == outs[1].read_bytes()
    assert [u["line"] for u in plain.unrouted] == [2]  # the repeat is not unroutable again
    notices = [r for r in map(orjson.loads, outs[0].read_bytes().splitlines())
               if r.get("kind") == "error"]
    assert [(n["data"]["code"], n["data"]["level"], n["t"]) for n in notices] == [
        ("unroutable", "error", T0 + 1), ("duplicate", "info", T0 + 2)]
    assert "hb-9" in notices[1]["data"]["message"]
