"""The client bridge over a real WebSocket (uvicorn on loopback, a Python WebSocket client):
tokens, bad messages, at-least-once delivery both ways, and a command whose app never comes."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from bridge_harness import Served
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from recstate.bridge import REFUSED, Bridge, Tokens, bridge_app
from recstate.clock import ManualClock
from recstate.runtime import Runtime
from recstate.trace import Record

SECRET = "bridge-secret-0123456789abcdef"
T0 = 1_700_000_000.0
ALICE = "1001:7:alice"
ROOM = {"relationId": 1001, "roomId": 7}
START = "requestMultiVideoRecorderStart"
STOP = "requestMultiVideoRecorderStop"


@pytest.fixture
def served() -> Iterator[Served]:
    rt = Runtime(ManualClock(T0))
    app = bridge_app(rt, SECRET, hold=10.0)
    with Served(rt, app) as s:
        s.bridge = app.state.bridge  # type: ignore[attr-defined]
        yield s
    app.state.bridge.close()


def hub(served: Served) -> Bridge:
    return served.bridge  # type: ignore[attr-defined,no-any-return]


def open_ws(served: Served) -> ClientConnection:
    ws = connect(f"{served.ws}/ws", open_timeout=20, close_timeout=5)
    return ws.__enter__()


def recv(ws: ClientConnection) -> dict[str, Any]:
    return orjson.loads(ws.recv(timeout=20))  # type: ignore[no-any-return]


def send(ws: ClientConnection, **msg: Any) -> None:
    ws.send(orjson.dumps(msg).decode())


def until(ws: ClientConnection, kind: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read up to the first message of ``kind``: (it, what came before)."""
    before = []
    while (msg := recv(ws))["type"] != kind:
        before.append(msg)
    return msg, before


def hello(served: Served, token: str | None, sessions: list[str]) -> tuple[
        ClientConnection, dict[str, Any]]:
    ws = open_ws(served)
    msg: dict[str, Any] = {"type": "hello", "sessions": sessions}
    if token is not None:
        msg["token"] = token
    send(ws, **msg)
    return ws, recv(ws)


def inputs(served: Served, name: str | None = None) -> list[Record]:
    return served.call(lambda: [r for r in served.records if r.kind == "event"
                                and (name is None or r.name == name)])


# ---- tokens ----

def test_a_valid_token_opens_a_connection_serving_the_declared_sessions(served: Served) -> None:
    token = hub(served).tokens.issue("shop-app", ttl=60)
    ws, welcome = hello(served, token, [ALICE])
    with ws:
        assert welcome["type"] == "welcome"
        assert welcome["app"] == "shop-app"
        assert welcome["sessions"] == [ALICE]
        assert welcome["resume"] != token
        assert served.call(hub(served).served) == {ALICE: "shop-app"}


@pytest.mark.parametrize("case", ["none", "wrong", "tampered", "expired", "replayed"])
def test_a_bad_token_is_refused_and_changes_nothing(served: Served, case: str,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    bridge = hub(served)
    served.call(lambda: served.runtime.dispatch(_enter(T0)))
    served.call(lambda: served.runtime.dispatch(_start(T0)))
    assert [o.name for o in bridge.pending.values()] == [START]  # waiting for its app
    token: str | None = bridge.tokens.issue("shop-app", ttl=60)
    expected = {"none": "no-token", "wrong": "wrong-token", "tampered": "wrong-token",
                "expired": "expired-token", "replayed": "replayed-token"}[case]
    if case == "none":
        token = None
    elif case == "wrong":
        token = Tokens("another-secret-0123456789", ManualClock(T0)).issue("shop-app")
    elif case == "tampered":  # the payload changed (another app), the signature kept
        assert token is not None
        head, _, sig = token.split(".")
        forged = Tokens("x" * 16, ManualClock(T0)).issue("evil-app", ttl=60).split(".")[1]
        token = f"{head}.{forged}.{sig}"
    elif case == "expired":
        token = bridge.tokens.issue("shop-app", ttl=5)
        served.advance(T0 + 5)  # valid while now < expiry; the command is still held
    elif case == "replayed":
        first, welcome = hello(served, token, [])
        first.close()
        assert welcome["type"] == "welcome"
        served.wait(lambda: not bridge.served() and all(o.conn is None or o.conn.closed
                                                       for o in bridge.pending.values()),
                    "the first connection to be dropped")
    ws, answer = hello(served, token, [ALICE])
    assert answer["type"] == "refused"
    assert answer["code"] == expected
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=20)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == REFUSED
    # nothing changed: the command still waits, nobody serves the session, no input came in
    assert served.call(bridge.served) == {}
    assert [o.name for o in bridge.pending.values()] == [START]
    assert [r.name for r in inputs(served)] == ["enterRoom", START]
    if token is not None:
        assert token not in caplog.text
        assert token not in answer["reason"]
    assert SECRET not in caplog.text
    assert SECRET not in repr(bridge)
    assert SECRET not in repr(bridge.tokens)


def test_the_resume_token_reopens_once(served: Served) -> None:
    ws, welcome = hello(served, hub(served).tokens.issue("shop-app", ttl=60), [ALICE])
    ws.close()
    again, second = hello(served, welcome["resume"], [ALICE])
    again.close()
    third, refused = hello(served, welcome["resume"], [ALICE])
    third.close()
    assert second["type"] == "welcome"
    assert refused["type"] == "refused"
    assert refused["code"] == "replayed-token"


def test_a_token_limited_to_sessions_refuses_others(served: Served) -> None:
    token = hub(served).tokens.issue("shop-app", ttl=60, sessions=[ALICE])
    ws, answer = hello(served, token, ["1001:7:bob"])
    ws.close()
    assert answer["type"] == "refused"
    assert answer["code"] == "session-not-allowed"
    ws, welcome = hello(served, token, [ALICE])
    with ws:
        assert welcome["type"] == "welcome"
        send(ws, type="serve", sessions=["1001:7:bob"])
        error = recv(ws)
        assert error["type"] == "error"
        assert error["field"] == "sessions"


# ---- bad messages ----

@pytest.mark.parametrize(("message", "field", "words"), [
    ("not json", "", "not JSON"),
    ([1, 2], "", "JSON object"),
    ({"type": "shout"}, "type", "unknown message type"),
    ({"type": "event", "vendor": "tencent", "name": f"{START}:error", "session": ALICE,
      "data": {"code": 1}}, "id", "non-empty string"),
    ({"type": "event", "id": "e1", "vendor": "tencent", "name": f"{START}:error",
      "session": ALICE, "data": {"code": "30000208"}}, "data.code", "expected int"),
    ({"type": "event", "id": "e2", "vendor": "tencent", "name": "requestMultiVideoRecorderGo",
      "session": ALICE, "data": {}}, "name", "unknown event"),
    ({"type": "event", "id": "e3", "vendor": "tencent", "name": "enterRoom",
      "session": ALICE, "data": {"relationId": 1001, "roomId": 7}}, "data.user", "required"),
    ({"type": "event", "id": "e4", "vendor": "tencent", "name": "enterRoom",
      "session": "1001:7:mallory", "data": {**ROOM, "user": "mallory"}}, "session",
     "not served"),
    ({"type": "event", "id": "e5", "vendor": "tencent", "name": "enterRoom",
      "session": ALICE, "data": "alice"}, "data", "JSON object"),
    ({"type": "event", "id": "e6", "vendor": "nosuch", "name": "enterRoom",
      "session": ALICE, "data": {}}, "vendor", "no events are registered"),
    ({"type": "ack"}, "id", "non-empty string"),
    ({"type": "serve", "sessions": "1001:7:bob"}, "sessions", "JSON array"),
])
def test_a_bad_message_gets_an_error_naming_the_field_and_the_connection_stays_up(
        served: Served, message: Any, field: str, words: str) -> None:
    ws, _ = hello(served, hub(served).tokens.issue("shop-app", ttl=60), [ALICE])
    with ws:
        ws.send(message if isinstance(message, str) else orjson.dumps(message).decode())
        error, _ = until(ws, "error")
        assert error["field"] == field
        assert words in error["message"]
        if isinstance(message, dict) and "id" in message:
            assert error["id"] == message["id"]
        assert inputs(served) == []  # nothing was handed to the runtime
        # still up: a good event goes through
        send(ws, type="event", id="good-1", vendor="tencent", name="enterRoom", session=ALICE,
             data={**ROOM, "user": "alice"})
        ack, _ = until(ws, "ack")
        assert ack == {"type": "ack", "id": "good-1"}
        served.wait(lambda: served.state_now(ALICE) is not None, "enterRoom to be handled")
        assert [r.name for r in inputs(served)] == ["enterRoom"]


# ---- at-least-once, both ways ----

def _enter(t: float) -> Any:
    from recstate.events.tencent import EnterRoom
    return EnterRoom(t=t, relationId=1001, roomId=7, user="alice", session=ALICE)


def _start(t: float) -> Any:
    from recstate.events.tencent import RecordParam, RoomInfo, StartRecording
    return StartRecording(t=t, roomInfo=RoomInfo(1001, 7), param=RecordParam(fileName="rec-a"),
                          user="alice", session=ALICE)


def test_an_unacknowledged_command_is_sent_again_after_a_reconnect_and_events_count_once(
        served: Served) -> None:
    bridge = hub(served)
    ws, welcome = hello(served, bridge.tokens.issue("shop-app", ttl=60), [ALICE])
    served.call(lambda: served.runtime.dispatch(_enter(T0)))
    served.call(lambda: served.runtime.dispatch(_start(T0)))
    command, _ = until(ws, "command")
    assert command["name"] == START
    assert command["session"] == ALICE
    assert command["vendor"] == "tencent"
    assert command["data"] == {"roomInfo": ROOM, "param": {
        "fileName": "rec-a", "tags": [], "classId": 0, "sdkType": 0, "isTransCode": False,
        "isScreenShot": False, "isWaterMark": False, "recordDataType": 0}}
    ws.close()  # the app went away before acknowledging
    again, _ = hello(served, welcome["resume"], [ALICE])
    with again:
        resent, _ = until(again, "command")
        assert resent == command  # the same id: an app that took it already acks it again
        send(again, type="ack", id=command["id"])
        outcome = {"type": "event", "id": "app-1", "vendor": "tencent", "name": f"{START}:ok",
                   "session": ALICE, "data": {}, "command": command["id"]}
        for _ in range(2):  # the second is a resend: the ack was lost
            send(again, **outcome)
        first, _ = until(again, "ack")
        second, _ = until(again, "ack")
        assert first == {"type": "ack", "id": "app-1"}
        assert second == {"type": "ack", "id": "app-1", "duplicate": True}
        served.wait(lambda: served.state_now(ALICE) == "recording", "the recording to start")
        assert len(inputs(served, f"{START}:ok")) == 1
        assert bridge.pending == {}
    # a third connection gets nothing again: it was acknowledged
    third, _ = hello(served, bridge.tokens.issue("shop-app", ttl=60), [ALICE])
    with third:
        send(third, type="ping")
        _, before = until(third, "pong")
        assert [m["type"] for m in before] == ["state"]
        assert before[0]["state"] == "recording"


def test_the_newest_connection_serving_a_session_gets_its_commands(served: Served) -> None:
    bridge = hub(served)
    old, _ = hello(served, bridge.tokens.issue("shop-app", ttl=60), [ALICE])
    new, _ = hello(served, bridge.tokens.issue("shop-app", ttl=60), [ALICE])
    with old, new:
        served.call(lambda: served.runtime.dispatch(_enter(T0)))
        served.call(lambda: served.runtime.dispatch(_start(T0)))
        command, _ = until(new, "command")
        assert command["name"] == START
        send(old, type="ping")
        _, before = until(old, "pong")
        assert "command" not in [m["type"] for m in before]


# ---- an app that never connects ----

def test_a_command_whose_app_never_connects_is_withdrawn_and_the_answer_deadline_ends_it(
        served: Served) -> None:
    """hold = 10 s; Tencent's answer deadline (30 s, 004's SDK callback never comes) sends the
    stop; its deadline ends the recording. Neither command is ever sent late."""
    bridge = hub(served)
    served.call(lambda: served.runtime.dispatch(_enter(T0)))
    served.call(lambda: served.runtime.dispatch(_start(T0)))
    served.advance(T0 + 9.5)
    assert [o.name for o in bridge.pending.values()] == [START]  # still within the bound
    served.advance(T0 + 30)  # the answer deadline: the machine stops what it cannot know
    assert served.state(ALICE) == "stopping"
    assert bridge.withdrawn[0][1:] == (ALICE, START)
    assert [o.name for o in bridge.pending.values()] == [STOP]
    served.advance(T0 + 60)
    assert served.state(ALICE) == "stopped"
    assert [w[1:] for w in bridge.withdrawn] == [(ALICE, START), (ALICE, STOP)]
    assert bridge.pending == {}
    commands = served.call(lambda: [(r.name, r.t) for r in served.records
                                    if r.kind == "command"])
    assert commands[:2] == [(START, T0), (STOP, T0 + 30)]
    # the app comes late: no stale command reaches it
    ws, _ = hello(served, bridge.tokens.issue("shop-app", ttl=60), [ALICE])
    with ws:
        send(ws, type="ping")
        _, before = until(ws, "pong")
        assert [m["type"] for m in before] == ["state"]
        assert before[0]["state"] == "stopped"


# ---- which commands go to apps ---------------------------------------------------------------

def test_the_bridge_carries_the_sdk_calls_and_leaves_service_side_apis_to_adapters() -> None:
    """002: the recorder calls are the app SDK's; VOD's SearchMedia is a server API. 000: the
    netcall calls run in the mini-program. 001: join / leave / enableRecord are the JC SDK's;
    Qiniu's stat is a server API. 003: the CRVideo_*LocMixer* calls run in the client; the
    upload after close is the service's own HTTP PUT."""
    from recstate.events import Command
    from recstate.vendors import get_vendor

    rt = Runtime(ManualClock(T0))
    bridge = Bridge(rt, SECRET)
    try:
        carried = {}
        for vendor in ("tencent", "netease", "juphoon", "cloudroom"):
            get_vendor(vendor)
            for cls in Command.__subclasses__():
                if cls.vendor == vendor:
                    carried[(vendor, cls.name)] = cls.sdk
        assert {k for k, v in carried.items() if v} == {
            ("tencent", START), ("tencent", STOP),
            ("netease", "call"), ("netease", "response"), ("netease", "startRtc"),
            ("netease", "joinChannel"), ("netease", "hangup"), ("netease", "leaveChannel"),
            ("juphoon", "join"), ("juphoon", "leave"), ("juphoon", "enableRecord"),
            ("cloudroom", "CreateLocMixer"), ("cloudroom", "AddLocMixerOutput"),
            ("cloudroom", "RmLocMixerOutput"), ("cloudroom", "UpdateLocMixerContent"),
            ("cloudroom", "DestroyLocMixer")}
        assert {k for k, v in carried.items() if not v} == {
            ("tencent", "SearchMedia"), ("juphoon", "stat"), ("cloudroom", "UploadRecordFile")}
    finally:
        bridge.close()
    only_start = Bridge(rt, SECRET, commands={"tencent": [START]})
    try:
        from recstate.events.tencent import RoomInfo, StopCommand
        assert not only_start.carries(StopCommand(RoomInfo(1, 2)))
    finally:
        only_start.close()


def test_a_command_from_a_timer_fired_late_is_held_from_now_not_from_its_due_time(
        served: Served) -> None:
    """A timer that fell due while the service could not run it (a restart: timers fire at
    their own due time, durable.py) fires late; the command it sends waits ``hold`` (10 s)
    from when the bridge got it. 004: the start's 30 s answer deadline sends the stop."""
    bridge = hub(served)
    ws, _ = hello(served, bridge.tokens.issue("shop-app", ttl=600), [ALICE])
    with ws:
        served.call(lambda: served.runtime.dispatch(_enter(T0)))
        served.call(lambda: served.runtime.dispatch(_start(T0)))
        start, _ = until(ws, "command")
        send(ws, type="ack", id=start["id"])  # taken; its callback never comes

        def late() -> None:
            clock = served.runtime.clock
            assert isinstance(clock, ManualClock)
            clock.set(T0 + 100)  # the deadline (T0 + 30) is 70 s behind now
            served.runtime.run_due()
        served.call(late)
        stop, _ = until(ws, "command")
        assert stop["name"] == STOP
        assert bridge.withdrawn == []
        commands = served.call(lambda: [(r.name, r.t) for r in served.records
                                        if r.kind == "command"])
        assert commands == [(START, T0), (STOP, T0 + 30)]  # the machine's time: the due time
