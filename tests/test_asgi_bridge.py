"""The ASGI kit mounts the client bridge: ``mount_bridge(app, secret)`` in a Starlette or
FastAPI app run by the kit's ``lifespan``, served by uvicorn on loopback, with a real
WebSocket client as the app. A Tencent recording (002 §2): the app's start intent becomes
the ``requestMultiVideoRecorderStart`` command on its socket, its ``:ok`` starts the
recording, and the live view says so."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from uvicorn_loopback import Uvicorn
from websockets.sync.client import ClientConnection, connect

from recstate.asgi import lifespan, mount_bridge
from recstate.bridge import Bridge, Tokens
from recstate.runtime import Runtime
from recstate.trace import Record

SECRET = "asgi-bridge-secret-0123456789abcdef"
ALICE = "1001:7:alice"
ROOM = {"relationId": 1001, "roomId": 7}
START = "requestMultiVideoRecorderStart"


def recv(ws: ClientConnection) -> dict[str, Any]:
    return orjson.loads(ws.recv(timeout=20))  # type: ignore[no-any-return]


def until(ws: ClientConnection, kind: str, **match: Any) -> dict[str, Any]:
    while True:
        msg = recv(ws)
        if msg["type"] == kind and all(msg.get(k) == v for k, v in match.items()):
            return msg


def event(ws: ClientConnection, id_: str, name: str, data: dict[str, Any],
          **extra: Any) -> None:
    ws.send(orjson.dumps({"type": "event", "id": id_, "vendor": "tencent", "name": name,
                          "session": ALICE, "data": data, **extra}).decode())


def record_through_the_bridge(ws_url: str) -> None:
    """The app's side of a recording, over the bridge."""
    with connect(ws_url, open_timeout=20, close_timeout=5) as ws:
        ws.send(orjson.dumps({"type": "hello", "token": Tokens(SECRET).issue("shop", ttl=60),
                              "sessions": [ALICE]}).decode())
        welcome = recv(ws)
        assert (welcome["type"], welcome["app"]) == ("welcome", "shop")
        event(ws, "e1", "enterRoom", {**ROOM, "user": "alice"})
        assert until(ws, "ack") == {"type": "ack", "id": "e1"}
        event(ws, "e2", START, {"roomInfo": ROOM, "param": {"fileName": "kit"}, "user": "alice"})
        command = until(ws, "command")
        assert (command["name"], command["session"]) == (START, ALICE)
        assert command["data"]["param"]["fileName"] == "kit"
        ws.send(orjson.dumps({"type": "ack", "id": command["id"]}).decode())
        event(ws, "e3", f"{START}:ok", {}, command=command["id"])
        # the ack says the event was handed to the runtime (runtime.submit: queued); the
        # live view follows its handling, pushed as each change happens
        assert until(ws, "ack") == {"type": "ack", "id": "e3"}
        live = until(ws, "state", state="recording", recording="recording")
        while not live["files"]:  # the file opens last in that handling
            live = until(ws, "state")
        assert (live["state"], live["recording"]) == ("recording", "recording")
        assert [(f["id"], f["status"]) for f in live["files"]] == [("kit#1", "open")]


def test_a_starlette_app_with_the_kit_lifespan_mounts_the_bridge() -> None:
    records: list[Record] = []
    app = Starlette(lifespan=lifespan(lambda: Runtime(tracer=records.append)))
    mount_bridge(app, SECRET)  # the runtime the kit's lifespan makes at startup
    server = Uvicorn(app, join_timeout=20)
    with server as base:
        host = server.host
        with httpx.Client(base_url=base, timeout=20) as http:
            assert http.get("/bridge/client/index.js").status_code == 200
            for path in ("/bridge/demo/", "/bridge/demo/token"):  # no demo unless asked
                assert http.get(path).status_code == 404
        bridge = app.state.bridge
        assert isinstance(bridge, Bridge)
        assert bridge.runtime is app.state.runtime
        record_through_the_bridge(f"ws://{host}/bridge/ws")
    inputs = [r.name for r in records if r.kind == "event"]
    assert inputs == ["enterRoom", START, f"{START}:ok"]
    assert [r.name for r in records if r.kind == "command"] == [START]
    assert SECRET not in repr(bridge)


def test_a_fastapi_app_mounts_the_bridge_on_its_runtime_with_the_demo() -> None:
    runtime = Runtime()
    app = FastAPI(lifespan=lifespan(runtime))
    mount_bridge(app, SECRET, path="/apps", runtime=runtime, demo=True, hold=5.0)
    server = Uvicorn(app, join_timeout=20)
    with server as base:
        host = server.host
        with httpx.Client(base_url=base, timeout=20) as http:
            assert http.get("/apps/demo/").status_code == 200
            token = http.get("/apps/demo/token").json()["token"]
        assert app.state.bridge.hold == 5.0
        with connect(f"ws://{host}/apps/ws", open_timeout=20, close_timeout=5) as ws:
            ws.send(orjson.dumps({"type": "hello", "token": token, "sessions": []}).decode())
            assert recv(ws)["app"] == "demo"
        record_through_the_bridge(f"ws://{host}/apps/ws")
    assert runtime.sessions[ALICE].state == "recording"


@pytest.mark.parametrize(("secret", "path", "words"), [
    ("short", "/bridge", "at least 16 bytes"),
    (SECRET, "bridge", "starts with '/'"),
    (SECRET, "/bridge/", "does not end with one"),
])
def test_mount_bridge_refuses_a_bad_secret_or_path_at_once(secret: str, path: str,
                                                          words: str) -> None:
    app = Starlette()
    with pytest.raises(ValueError, match=words) as raised:
        mount_bridge(app, secret, path=path)
    assert "short" not in str(raised.value)
    assert app.router.routes == []


def test_without_a_runtime_the_app_does_not_start() -> None:
    app = Starlette()  # no recstate.asgi.lifespan: nothing put a runtime in app.state
    mount_bridge(app, SECRET)

    async def start() -> None:
        async with app.router.lifespan_context(app):
            pass
    with pytest.raises(RuntimeError, match="lifespan\\(runtime\\), or pass runtime="):
        asyncio.run(start())
