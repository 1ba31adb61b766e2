"""``recstate serve --bridge``: the client bridge mounted in the service, run as the CLI in a
subprocess on loopback, with a real WebSocket client. A Tencent recording's start command
(004, ``requestMultiVideoRecorderStart``) reaches the app that serves the session, and the
app's ``:ok`` brings the session to ``recording``; a wrong token is refused; no secret in the
environment is a clear refusal to start."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from recstate.bridge import REFUSED, Tokens

SECRET = "serve-bridge-secret-0123456789abcdef"
KEY = "1001:7:alice"
ROOM = {"relationId": 1001, "roomId": 7}
START = "requestMultiVideoRecorderStart"
RECSTATE = str(Path(sys.executable).parent / "recstate")


def _env(secret: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RECSTATE_BRIDGE_SECRET"}
    if secret is not None:
        env["RECSTATE_BRIDGE_SECRET"] = secret
    return env


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """The service's base URL; the process is stopped afterwards."""
    proc = subprocess.Popen([RECSTATE, "serve", "--store", f"sqlite:///{tmp_path / 's.db'}",
                             "--port", "0", "--bridge"], stdout=subprocess.PIPE, text=True,
                            env=_env(SECRET))
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("recstate serve: listening on http://127.0.0.1:"), first
        assert SECRET not in first
        yield first.split("listening on ", 1)[1].split()[0].rstrip(",")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def recv(ws: ClientConnection) -> dict[str, Any]:
    return orjson.loads(ws.recv(timeout=20))  # type: ignore[no-any-return]


def until(ws: ClientConnection, kind: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read up to the first message of ``kind``: (it, what came before)."""
    before = []
    while (msg := recv(ws))["type"] != kind:
        before.append(msg)
    return msg, before


def hello(url: str, token: str, sessions: list[str]) -> tuple[ClientConnection, dict[str, Any]]:
    ws = connect(url.replace("http", "ws", 1) + "/ws", open_timeout=20,
                 close_timeout=5).__enter__()
    ws.send(orjson.dumps({"type": "hello", "token": token, "sessions": sessions}).decode())
    return ws, recv(ws)


def test_a_start_command_goes_to_the_app_and_its_ok_starts_the_recording(served: str) -> None:
    ws, welcome = hello(served, Tokens(SECRET).issue("shop-app", ttl=60), [KEY])
    with ws, httpx.Client(base_url=served) as http:
        assert welcome["type"] == "welcome"
        assert welcome["sessions"] == [KEY]
        now = time.time()  # the service runs on the system clock: events of now
        body = [{"t": now, "vendor": "tencent", "name": "enterRoom", "session": KEY,
                 "data": {**ROOM, "roomType": "multi", "user": "alice"}},
                {"t": now, "vendor": "tencent", "name": START, "session": KEY,
                 "data": {"roomInfo": ROOM, "param": {"fileName": "class-42"}}}]
        assert http.post("/events", content=orjson.dumps(body)).json() == {"applied": 2}
        command, _ = until(ws, "command")
        assert command["id"]
        assert (command["vendor"], command["session"], command["name"]) == (
            "tencent", KEY, START)
        assert command["data"]["roomInfo"] == ROOM
        assert command["data"]["param"]["fileName"] == "class-42"
        assert http.get(f"/sessions/{KEY}").json()["state"] != "recording"
        ws.send(orjson.dumps({"type": "ack", "id": command["id"]}).decode())
        ws.send(orjson.dumps({"type": "event", "id": "app-1", "vendor": "tencent",
                              "name": f"{START}:ok", "session": KEY, "data": {},
                              "command": command["id"]}).decode())
        ack, before = until(ws, "ack")
        assert ack == {"type": "ack", "id": "app-1"}
        # the event is handled and committed before its ack: the store has it now
        view = http.get(f"/sessions/{KEY}").json()
        assert (view["state"], view["recording"]) == ("recording", "recording")
        assert [f["id"] for f in view["files"]] == ["class-42#1"]
        # the live view reached the app too, before the ack
        assert [(m["session"], m["state"]) for m in before if m["type"] == "state"][-1] == (
            KEY, "recording")
        # the demo page and the JS client are served beside the socket
        assert http.get("/demo/").status_code == 200
        assert http.get("/client/index.js").status_code == 200


def test_a_wrong_token_is_refused_and_changes_nothing(served: str) -> None:
    forged = Tokens("another-secret-0123456789abcdef").issue("shop-app", ttl=60)
    ws, answer = hello(served, forged, [KEY])
    with ws:
        assert answer["type"] == "refused"
        assert answer["code"] == "wrong-token"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=20)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == REFUSED
    with httpx.Client(base_url=served) as http:
        assert http.get("/sessions").json() == {"sessions": []}


@pytest.mark.parametrize("secret", [None, "", "short"])
def test_bridge_without_a_usable_secret_refuses_to_start(tmp_path: Path,
                                                         secret: str | None) -> None:
    done = subprocess.run([RECSTATE, "serve", "--store", f"sqlite:///{tmp_path / 's.db'}",
                           "--port", "0", "--bridge"], capture_output=True, text=True,
                          env=_env(secret), timeout=60)
    assert done.returncode == 2
    assert "RECSTATE_BRIDGE_SECRET" in done.stderr
    assert "listening" not in done.stdout
    if secret:
        assert "16 bytes" in done.stderr
        assert secret not in done.stderr
