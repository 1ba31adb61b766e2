"""``recstate serve --bridge``: the client bridge mounted in the service, run as the CLI in a
subprocess on loopback, with a real WebSocket client. A Tencent recording's start command
(004, ``requestMultiVideoRecorderStart``) reaches the app that serves the session, and the
app's ``:ok`` brings the session to ``recording``; a wrong token is refused; no secret in the
environment is a clear refusal to start."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from serve_process import RECSTATE, environment, recstate_serve
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from recstate.bridge import REFUSED, Tokens

SECRET = "serve-bridge-secret-0123456789abcdef"
KEY = "1001:7:alice"
ROOM = {"relationId": 1001, "roomId": 7}
START = "requestMultiVideoRecorderStart"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """The service's base URL (the bridge without its demo); stopped afterwards."""
    with recstate_serve(f"sqlite:///{tmp_path / 's.db'}", "--bridge",
                        env=environment(RECSTATE_BRIDGE_SECRET=SECRET)) as (url, banner):
        assert SECRET not in banner
        assert "demo" not in banner
        yield url


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
        # the JS client is served beside the socket; the demo page and its open token
        # endpoint are not (no --bridge-demo), nor is the virtual clock
        assert http.get("/client/index.js").status_code == 200
        for path in ("/demo/", "/demo", "/demo/token", "/demo/index.html", "/clock"):
            assert http.get(path).status_code == 404, path


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
                          env=environment(RECSTATE_BRIDGE_SECRET=secret), timeout=60)
    assert done.returncode == 2
    assert "RECSTATE_BRIDGE_SECRET" in done.stderr
    assert "listening" not in done.stdout
    if secret:
        assert "16 bytes" in done.stderr
        assert secret not in done.stderr


# ---- the demo page only with --bridge-demo ------------------------------------------------

def test_bridge_demo_serves_the_page_and_its_token_endpoint(tmp_path: Path) -> None:
    with recstate_serve(f"sqlite:///{tmp_path / 's.db'}", "--bridge-demo",
                        env=environment(RECSTATE_BRIDGE_SECRET=SECRET)) as (url, banner), \
            httpx.Client(base_url=url) as http:
        assert "not for production" in banner
        assert f"demo at {url}/demo/" in banner
        page = http.get("/demo/")
        assert page.status_code == 200
        assert "<script" in page.text
        answer = http.get("/demo/token")
        assert answer.headers["cache-control"] == "no-store"
        token = answer.json()["token"]
        ws, welcome = hello(url, token, [KEY])  # the page's token opens a connection
        ws.close()
        assert (welcome["type"], welcome["app"]) == ("welcome", "demo")


def test_bridge_demo_needs_the_secret_too(tmp_path: Path) -> None:
    done = subprocess.run([RECSTATE, "serve", "--store", f"sqlite:///{tmp_path / 's.db'}",
                           "--port", "0", "--bridge-demo"], capture_output=True, text=True,
                          env=environment(), timeout=60)
    assert done.returncode == 2
    assert "--bridge-demo needs" in done.stderr
    assert "RECSTATE_BRIDGE_SECRET" in done.stderr


# ---- tokens from the secret's holder ------------------------------------------------------

def issue(*args: str, secret: str | None = SECRET) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recstate.bridge", "token", *args],
                          capture_output=True, text=True, timeout=60,
                          env=environment(RECSTATE_BRIDGE_SECRET=secret))


def test_the_token_command_issues_tokens_the_service_accepts(served: str) -> None:
    done = issue("shop-app", "--ttl", "60", "--session", KEY)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token.startswith("v1.")
    assert SECRET not in done.stdout + done.stderr
    ws, welcome = hello(served, token, [KEY])
    ws.close()
    assert (welcome["type"], welcome["app"], welcome["sessions"]) == ("welcome", "shop-app",
                                                                      [KEY])
    # the token's session list holds: another session is refused
    other = issue("shop-app", "--ttl", "60", "--session", KEY).stdout.strip()
    ws, refused = hello(served, other, ["1001:7:bob"])
    ws.close()
    assert (refused["type"], refused["code"]) == ("refused", "session-not-allowed")
    # a token of another secret is wrong
    forged = issue("shop-app", secret="not-the-service-secret-0123456789").stdout.strip()
    ws, refused = hello(served, forged, [KEY])
    ws.close()
    assert (refused["type"], refused["code"]) == ("refused", "wrong-token")


@pytest.mark.parametrize(("secret", "words"), [(None, "set RECSTATE_BRIDGE_SECRET"),
                                               ("short", "at least 16 bytes")])
def test_the_token_command_without_a_usable_secret_says_so(secret: str | None,
                                                          words: str) -> None:
    done = issue("shop-app", secret=secret)
    assert done.returncode == 2
    assert words in done.stderr
    assert done.stdout == ""
    if secret:
        assert secret not in done.stderr


# ---- a command's hold counts from when the bridge got it ----------------------------------

def test_an_event_posted_late_with_an_old_t_still_reaches_the_app(tmp_path: Path) -> None:
    """hold 5 s; the start is POSTed with a ``t`` 12 s old (a queued request): the hold counts
    from when the service handled it, so its command goes to the app connected for the
    session rather than being withdrawn on arrival."""
    with recstate_serve(f"sqlite:///{tmp_path / 's.db'}", "--bridge", "--bridge-hold", "5",
                        env=environment(RECSTATE_BRIDGE_SECRET=SECRET)) as (url, _), \
            httpx.Client(base_url=url) as http:
        ws, welcome = hello(url, Tokens(SECRET).issue("shop-app", ttl=60), [KEY])
        with ws:
            assert welcome["type"] == "welcome"
            old = time.time() - 12
            body = [{"t": old, "vendor": "tencent", "name": "enterRoom", "session": KEY,
                     "data": {**ROOM, "user": "alice"}},
                    {"t": old, "vendor": "tencent", "name": START, "session": KEY,
                     "data": {"roomInfo": ROOM, "param": {"fileName": "late"}}}]
            assert http.post("/events", content=orjson.dumps(body)).json() == {"applied": 2}
            command, _ = until(ws, "command")
            assert (command["name"], command["data"]["param"]["fileName"]) == (START, "late")
            ws.send(orjson.dumps({"type": "ack", "id": command["id"]}).decode())
            send_ping = orjson.dumps({"type": "ping"}).decode()
            ws.send(send_ping)
            until(ws, "pong")  # the ack was read before the ping
            metrics = http.get("/metrics").text
            assert 'recstate_bridge{what="withdrawn"} 0.0' in metrics
            assert 'recstate_bridge{what="pending"} 0.0' in metrics


@pytest.mark.parametrize("hold", ["0", "-1"])
def test_a_hold_that_is_not_a_positive_duration_is_refused(tmp_path: Path, hold: str) -> None:
    done = subprocess.run([RECSTATE, "serve", "--store", f"sqlite:///{tmp_path / 's.db'}",
                           "--port", "0", "--bridge", f"--bridge-hold={hold}"],
                          capture_output=True, text=True,
                          env=environment(RECSTATE_BRIDGE_SECRET=SECRET), timeout=60)
    assert done.returncode == 2
    assert "--bridge-hold" in done.stderr


# ---- a command whose app never connects ---------------------------------------------------

def test_a_netease_callee_whose_app_never_connects_ends_by_the_api_deadline(
        tmp_path: Path) -> None:
    """hold 10 s, on a virtual clock. 000: the callee accepts (``accept``), the service sends
    ``response`` for the app to perform; no app serves the call. The command is withdrawn at
    10 s, never sent late; the machine's ``api_timeout`` (30 s: the SDK's callback never comes
    from a client that is gone) hangs up and fails the call; that ``hangup`` is withdrawn in
    turn. An app that connects afterwards gets the final state and no stale command."""
    from recstate.clock import ManualClock

    t0 = 1_700_000_000.0
    cid = "6290737000999815988"
    with recstate_serve(f"sqlite:///{tmp_path / 's.db'}", "--bridge", "--bridge-hold", "10",
                        "--virtual-clock", str(t0),
                        env=environment(RECSTATE_BRIDGE_SECRET=SECRET)) as (url, _), \
            httpx.Client(base_url=url) as http:
        def bridge(what: str) -> str:
            line = f'recstate_bridge{{what="{what}"}} '
            found = [x for x in http.get("/metrics").text.splitlines() if x.startswith(line)]
            return found[0].removeprefix(line) if found else "absent"

        def clock(to: float) -> None:
            assert http.post("/clock", json={"to": to}).json()["now"] == to

        body = [{"t": t0, "vendor": "netease", "name": "beCalling", "session": cid,
                 "data": {"caller": "ann", "cid": cid, "type": 2}},
                {"t": t0, "vendor": "netease", "name": "accept", "session": cid,
                 "data": {"record": {"recordType": "0", "recordAudio": 1,
                                     "recordVideo": 1}}}]
        assert http.post("/events", content=orjson.dumps(body)).json() == {"applied": 2}
        assert http.get(f"/sessions/{cid}").json()["state"] == "responding"
        assert (bridge("pending"), bridge("withdrawn")) == ("1.0", "0.0")
        clock(t0 + 9.9)
        assert (bridge("pending"), bridge("withdrawn")) == ("1.0", "0.0")
        clock(t0 + 10)  # the hold: the response is withdrawn, the call still waits
        assert (bridge("pending"), bridge("withdrawn")) == ("0.0", "1.0")
        assert http.get(f"/sessions/{cid}").json()["state"] == "responding"
        clock(t0 + 30)  # api_timeout: hang up, failed
        view = http.get(f"/sessions/{cid}").json()
        assert (view["state"], view["recording"]) == ("failed", "failed")
        assert (bridge("pending"), bridge("withdrawn")) == ("1.0", "1.0")  # the hangup
        clock(t0 + 40)
        assert (bridge("pending"), bridge("withdrawn")) == ("0.0", "2.0")
        token = Tokens(SECRET, ManualClock(t0 + 40)).issue("late-app", ttl=60)
        ws, welcome = hello(url, token, [cid])
        with ws:
            assert welcome["type"] == "welcome"
            ws.send(orjson.dumps({"type": "ping"}).decode())
            _, before = until(ws, "pong")
            assert [(m["type"], m.get("state")) for m in before] == [("state", "failed")]


@pytest.mark.parametrize(("case", "code"), [("valid", None), ("wrong", "wrong-token"),
                                            ("expired", "expired-token"),
                                            ("replayed", "replayed-token")])
def test_tokens_at_the_service_on_its_virtual_clock(tmp_path: Path, case: str,
                                                    code: str | None) -> None:
    """A token is checked against the service's clock: valid while now < expiry; each opens
    one connection; another secret's is wrong. A refusal changes nothing."""
    from recstate.clock import ManualClock

    t0 = 1_700_000_000.0
    with recstate_serve(f"sqlite:///{tmp_path / 's.db'}", "--bridge", "--virtual-clock",
                        str(t0), env=environment(RECSTATE_BRIDGE_SECRET=SECRET)) as (url, _), \
            httpx.Client(base_url=url) as http:
        secret = "another-secret-0123456789abcdef" if case == "wrong" else SECRET
        token = Tokens(secret, ManualClock(t0)).issue("shop-app", ttl=5)
        if case == "expired":
            http.post("/clock", json={"to": t0 + 5})
        elif case == "replayed":
            first, welcome = hello(url, token, [KEY])
            first.close()
            assert welcome["type"] == "welcome"
        else:
            http.post("/clock", json={"to": t0 + 4.9})
        ws, answer = hello(url, token, [KEY])
        with ws:
            if code is None:
                assert (answer["type"], answer["app"]) == ("welcome", "shop-app")
                return
            assert (answer["type"], answer["code"]) == ("refused", code)
            assert token not in answer["reason"]
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=20)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == REFUSED
        assert http.get("/sessions").json() == {"sessions": []}
