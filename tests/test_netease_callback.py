"""The NetEase callback (抄送) receiver: verification, and its ASGI app over real HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

import httpx
import orjson
import pytest
from uvicorn_loopback import Uvicorn

from recstate import signals
from recstate.adapters.netease import (
    CallbackApp,
    CallbackReceiver,
    CallbackRejected,
    deliver_to,
)
from recstate.clock import ManualClock
from recstate.events import Event, parse_event
from recstate.runtime import Runtime

SECRET = "s3cr3t-AppSecret-9f1c"
T0 = 1_700_000_000.0
CID = "6290737000999815988"


def body_of(*channels: str) -> bytes:
    items = [{"caller": caller, "channelid": ch, "filename": f"{ch}-{user}.aac",
              "md5": "0" * 32, "mix": False, "size": "100", "type": "aac",
              "url": f"https://nos.example/{ch}-{user}.aac", "user": user, "vid": "1"}
             for ch in channels for user, caller in (("ann", True), ("bob", False))]
    return orjson.dumps({"eventType": "6", "fileinfo": orjson.dumps(items).decode()})


def signed(body: bytes, *, cur: float = T0, secret: str = SECRET, ms: bool = False
           ) -> dict[str, str]:
    md5 = hashlib.md5(body).hexdigest()
    cur_time = str(int(cur * 1000) if ms else int(cur))
    checksum = hashlib.sha1((secret + md5 + cur_time).encode()).hexdigest()
    return {"AppKey": "app", "CurTime": cur_time, "MD5": md5, "CheckSum": checksum,
            "Content-Type": "application/json"}


@pytest.fixture
def receiver() -> CallbackReceiver:
    return CallbackReceiver(SECRET, clock=ManualClock(T0), window=300)


def test_a_signed_body_becomes_one_event_per_channel(receiver: CallbackReceiver) -> None:
    body = body_of("111", "222")
    events = receiver(signed(body), body)
    assert [(e.name, e.session) for e in events] == [("callback", "111"), ("callback", "222")]
    assert all(e.t == T0 for e in events)


def test_curtime_in_milliseconds_is_accepted(receiver: CallbackReceiver) -> None:
    body = body_of(CID)
    assert len(receiver(signed(body, cur=T0 - 10, ms=True), body)) == 1


@pytest.mark.parametrize(("tamper", "status", "words"), [
    ("body", 400, "MD5"),
    ("secret", 401, "CheckSum"),
    ("stale", 401, "window"),
    ("future", 401, "window"),
    ("missing", 401, "CheckSum header is missing"),
    ("json", 400, "not JSON"),
    ("shape", 400, "fileinfo"),
])
def test_bad_requests_are_refused_with_a_reason(receiver: CallbackReceiver, tamper: str,
                                                status: int, words: str) -> None:
    body = body_of(CID)
    headers = signed(body)
    if tamper == "body":
        body = body.replace(b"100", b"999")
    elif tamper == "secret":
        headers = signed(body, secret="wrong")
    elif tamper == "stale":
        headers = signed(body, cur=T0 - 301)
    elif tamper == "future":
        headers = signed(body, cur=T0 + 301)
    elif tamper == "missing":
        del headers["CheckSum"]
    elif tamper == "json":
        body = b"{not json"
        headers = signed(body)
    else:
        body = orjson.dumps({"eventType": "6", "fileinfo": "[{\"channelid\": \"1\"}]"})
        headers = signed(body)
    with pytest.raises(CallbackRejected) as info:
        receiver(headers, body)
    assert info.value.status == status
    assert words in info.value.reason
    assert SECRET not in str(info.value)


def test_the_secret_is_never_shown(receiver: CallbackReceiver) -> None:
    assert SECRET not in repr(receiver)
    assert "***" in repr(receiver)
    with pytest.raises(ValueError, match="AppSecret"):
        CallbackReceiver("")


# ---- over HTTP on loopback --------------------------------------------------------------------

def Served(app: CallbackApp) -> Uvicorn:
    """The receiver's ASGI app under uvicorn on loopback; the block gets its callback URL."""
    return Uvicorn(app, "/netease/callback")


@pytest.fixture
def runtime() -> Runtime:
    """A runtime with the call of CID ended and its two .aac expected."""
    rt = Runtime(ManualClock(T0 - 100), strict=True)
    for t, name, data in ((T0 - 100, "beCalling", {"caller": "ann", "cid": CID, "type": 1}),
                          (T0 - 99, "accept", {"record": {"recordType": "2",
                                                          "recordAudio": True}}),
                          (T0 - 98, "response:ok", None), (T0 - 97, "startRtc:ok", None),
                          (T0 - 50, "hangup", None)):
        rt.advance(t)
        rt.dispatch(parse_event("netease", name, t, data, CID))
    rt.advance(T0)
    assert rt.sessions[CID].state == "awaiting_files"
    return rt


def test_http_200_only_after_the_runtime_has_the_events(runtime: Runtime,
                                                        caplog: pytest.LogCaptureFixture
                                                        ) -> None:
    receiver = CallbackReceiver(SECRET, clock=runtime.clock)
    caplog.set_level(logging.DEBUG)
    with Served(CallbackApp(receiver, deliver_to(runtime))) as url:
        body = body_of(CID)
        answer = httpx.post(url, content=body, headers=signed(body))
        assert answer.status_code == 200
        # Answered after the handling: the call is complete when the answer arrives.
        assert runtime.sessions[CID].state == "complete"
        assert {f.status for f in runtime.sessions[CID].files} == {"ready"}
        # A retried delivery changes nothing.
        assert httpx.post(url, content=body, headers=signed(body)).status_code == 200
        assert len(runtime.sessions[CID].files) == 2
        refused = [
            httpx.post(url, content=body + b" ", headers=signed(body)),
            httpx.post(url, content=body, headers=signed(body, secret="guess")),
            httpx.post(url, content=body, headers=signed(body, cur=T0 - 3600)),
            httpx.post(url, content=b"[]", headers=signed(b"[]")),
            httpx.get(url),
        ]
        assert [r.status_code for r in refused] == [400, 401, 401, 400, 405]
        assert "MD5" in refused[0].json()["error"]
        assert "CheckSum" in refused[1].json()["error"]
        assert "window" in refused[2].json()["error"]
        assert "object" in refused[3].json()["error"]
    assert any("refused" in r.getMessage() for r in caplog.records)
    assert all(SECRET not in r.getMessage() for r in caplog.records)
    assert SECRET not in caplog.text


def test_http_500_when_the_events_cannot_be_handed_over() -> None:
    clock = ManualClock(T0)
    calls: list[list[Event]] = []

    async def broken(events: list[Event]) -> None:
        calls.append(events)
        await asyncio.sleep(0)
        raise RuntimeError("store down")

    with Served(CallbackApp(CallbackReceiver(SECRET, clock=clock), broken)) as url:
        body = body_of(CID)
        answer = httpx.post(url, content=body, headers=signed(body))
    assert answer.status_code == 500
    assert "deliver again" in answer.json()["error"]
    assert len(calls) == 1


def test_multi_channel_body_over_http_reaches_each_call() -> None:
    rt = Runtime(ManualClock(T0), strict=False)
    got: list[Any] = []

    def deliver(events: list[Event]) -> None:
        got.extend(events)
        deliver_to(rt)(events)

    with Served(CallbackApp(CallbackReceiver(SECRET, clock=rt.clock), deliver)) as url:
        body = body_of("111", "222")
        assert httpx.post(url, content=body, headers=signed(body)).status_code == 200
    assert sorted(rt.sessions) == ["111", "222"]
    assert [len(e.items()) for e in got] == [2, 2]


# ---- other eventTypes (B3) ------------------------------------------------------------------

def test_another_event_type_gives_no_event(receiver: CallbackReceiver,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="recstate.adapters.netease")
    body = orjson.dumps({"eventType": "2", "accid": "t3"})
    assert receiver(signed(body), body) == []
    [record] = caplog.records
    assert record.levelno == logging.INFO
    assert "'2'" in record.getMessage()
    assert SECRET not in caplog.text
    # A call record (eventType 5) that names no channel gives none either (issue 9).
    body = orjson.dumps({"eventType": "5", "members": "[]"})
    assert receiver(signed(body), body) == []


def test_another_event_type_over_http_is_acknowledged_by_a_strict_runtime(
        caplog: pytest.LogCaptureFixture) -> None:
    """B3: NetEase posts every eventType to one URL; a strict runtime must not answer 500
    (NetEase would deliver it again forever)."""
    rt = Runtime(ManualClock(T0), strict=True)
    errors: list[dict[str, Any]] = []

    def on_error(sender: Any, **kwargs: Any) -> None:
        errors.append(kwargs)

    signals.error.connect(on_error, sender=rt)
    caplog.set_level(logging.INFO, logger="recstate.adapters.netease")
    try:
        with Served(CallbackApp(CallbackReceiver(SECRET, clock=rt.clock),
                                deliver_to(rt))) as url:
            body = orjson.dumps({"eventType": "2", "accid": "t3"})
            answer = httpx.post(url, content=body, headers=signed(body))
            # A call record of a channel no session knows is acknowledged, not handed over.
            body = orjson.dumps({"eventType": "5", "channelId": CID, "status": "SUCCESS"})
            record = httpx.post(url, content=body, headers=signed(body))
    finally:
        signals.error.disconnect(on_error, sender=rt)
    assert answer.status_code == 200
    assert answer.json() == {"code": 200, "events": 0}
    assert record.status_code == 200
    assert errors == []
    assert rt.sessions == {}
    assert any(r.levelno == logging.INFO and "eventType" in r.getMessage()
               for r in caplog.records)
    assert SECRET not in caplog.text


# ---- a caller's files reach the call named by the app (G1) ------------------------------------

def test_a_callers_files_reach_the_call_that_learnt_their_cid_over_http() -> None:
    """The call is keyed by the app's call id; call:ok names the cid; NetEase's body names
    only the cid (channelid); deliver_to routes it to the call."""
    rt = Runtime(ManualClock(T0 - 100), strict=True)
    deliver = deliver_to(rt)  # before the call: its routes learn from the transitions
    for t, name, data in ((T0 - 100, "call", {"callee": "bob", "type": 1, "account": "ann",
                                              "record": {"recordType": "2",
                                                         "recordAudio": True}}),
                          (T0 - 99.8, "call:ok", {"cid": CID}),
                          (T0 - 95, "callAccepted", {"account": "bob"}),
                          (T0 - 94, "startRtc:ok", None),
                          (T0 - 50, "hangup", {"account": "bob"})):
        rt.advance(t)
        rt.dispatch(parse_event("netease", name, t, data, "call-1"))
    rt.advance(T0)
    assert rt.sessions["call-1"].state == "awaiting_files"
    with Served(CallbackApp(CallbackReceiver(SECRET, clock=rt.clock), deliver)) as url:
        body = body_of(CID)
        assert httpx.post(url, content=body, headers=signed(body)).status_code == 200
    assert sorted(rt.sessions) == ["call-1"]
    call = rt.sessions["call-1"]
    assert call.state == "complete"
    assert {f.id: (f.status, f.participant) for f in call.files} == {
        "call-1/caller.aac": ("ready", "ann"), "call-1/callee.aac": ("ready", "bob")}
