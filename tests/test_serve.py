"""``recstate serve`` over real HTTP on loopback: uvicorn on a pre-bound socket, a real SQLite
file or the real Redis. Events in, sessions out, the NetEase 抄送 endpoint with its CheckSum,
health and Prometheus metrics; a restart keeps everything; two processes on one Redis are one
service; the CLI starts it with one command."""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from uvicorn_loopback import Uvicorn

from recstate.clock import ManualClock
from recstate.serve import create_app
from recstate.stores import SQLiteStore, Store
from recstate.stores.redis import RedisStore

T0 = 1_700_000_000.0
KEY = "1001:7:alice"
ROOM = {"relationId": 1001, "roomId": 7}
CID = "6290737000999815988"
SECRET = "s3cr3t-AppSecret-9f1c"


@contextlib.contextmanager
def Served(app: Any) -> Iterator[httpx.Client]:
    """The app under uvicorn on loopback, and an httpx client for it (closed first)."""
    with Uvicorn(app) as base, httpx.Client(base_url=base) as client:
        yield client


def lines(*records: dict[str, Any]) -> bytes:
    return b"\n".join(orjson.dumps(r) for r in records) + b"\n"


def tencent(t: float, name: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"t": t, "vendor": "tencent", "name": name, "session": KEY}
    if data is not None:
        out["data"] = data
    return out


RECORDING = [
    tencent(T0, "enterRoom", {**ROOM, "roomType": "multi", "user": "alice"}),
    tencent(T0, "requestMultiVideoRecorderStart",
            {"roomInfo": ROOM, "param": {"fileName": "class-42", "classId": 1}}),
    tencent(T0 + 1, "requestMultiVideoRecorderStart:ok", {}),
]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "serve.db"


def app_on(store: Store, t: float = T0 + 1) -> Any:
    return create_app(store, clock=ManualClock(t))


def test_events_in_sessions_out_and_metrics(db: Path) -> None:
    with Served(app_on(SQLiteStore(db))) as http:
        answer = http.post("/events", content=lines(*RECORDING),
                           headers={"content-type": "application/x-ndjson"})
        assert answer.status_code == 200
        assert answer.json() == {"applied": 3}
        one = http.get(f"/sessions/{KEY}").json()
        assert (one["state"], one["recording"]) == ("recording", "recording")
        assert [(f["id"], f["status"], f["start"]) for f in one["files"]] == [
            ("class-42#1", "open", T0 + 1)]
        # 002 §6: the watchdog 60 s after the start (no data yet), the rollover at 90 min
        assert {t["name"]: t["due"] for t in one["timers"]}["rollover"] == T0 + 1 + 5400
        assert [s["session"] for s in http.get("/sessions").json()["sessions"]] == [KEY]
        assert http.get("/sessions/nobody").status_code == 404
        health = http.get("/healthz")
        assert health.status_code == 200
        assert health.json()["sessions"] == 1
        metrics = http.get("/metrics").text
        assert 'recstate_events_handled_total{vendor="tencent"} 3.0' in metrics
        assert "recstate_handling_seconds_count 3.0" in metrics
        assert "recstate_live_sessions 1.0" in metrics


def test_a_bad_line_is_a_400_naming_it_and_nothing_is_applied(db: Path) -> None:
    bad = tencent(T0, "requestMultiVideoRecorderStart",
                  {"roomInfo": {"relationId": 1001, "roomId": "7"}})
    with Served(app_on(SQLiteStore(db))) as http:
        answer = http.post("/events", content=lines(RECORDING[0], bad))
        assert answer.status_code == 400
        body = answer.json()
        assert (body["line"], body["applied"]) == (2, 0)
        assert "roomId" in body["field"]
        assert http.get("/sessions").json() == {"sessions": []}
        array = http.post("/events", content=orjson.dumps([RECORDING[0], {"t": T0}]))
        assert array.status_code == 400
        assert (array.json()["line"], array.json()["field"]) == (2, "vendor")


def signed(body: bytes, *, secret: str = SECRET) -> dict[str, str]:
    md5 = hashlib.md5(body).hexdigest()
    cur = str(int(T0 + 700))
    return {"AppKey": "app", "CurTime": cur, "MD5": md5, "Content-Type": "application/json",
            "CheckSum": hashlib.sha1((secret + md5 + cur).encode()).hexdigest()}


def test_the_netease_callback_endpoint_checks_its_checksum(
        db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSTATE_NETEASE_APP_SECRET", SECRET)
    call = [{"t": T0, "vendor": "netease", "name": "beCalling",
             "data": {"caller": "alice", "cid": CID, "type": 1}},
            {"t": T0 + 4, "vendor": "netease", "name": "accept", "session": CID,
             "data": {"record": {"recordType": "2", "recordAudio": True}, "account": "bob"}},
            {"t": T0 + 4.2, "vendor": "netease", "name": "response:ok", "session": CID},
            {"t": T0 + 4.9, "vendor": "netease", "name": "startRtc:ok", "session": CID},
            {"t": T0 + 605, "vendor": "netease", "name": "hangup",
             "data": {"account": "alice", "cid": CID}}]
    items = [{"caller": caller, "channelid": CID, "filename": f"{CID}-{user}.aac",
              "md5": "0" * 32, "mix": False, "size": "1024", "type": "aac",
              "url": f"https://nos.example/{CID}-{user}.aac", "user": user, "vid": "1"}
             for user, caller in (("alice", True), ("bob", False))]
    body = orjson.dumps({"eventType": "6", "fileinfo": orjson.dumps(items).decode()})
    with Served(app_on(SQLiteStore(db), T0 + 700)) as http:
        assert http.post("/events", content=lines(*call)).status_code == 200
        before = http.get(f"/sessions/{CID}").json()
        assert before["state"] == "awaiting_files"
        forged = http.post("/netease/callback", content=body,
                           headers=signed(body, secret="guess"))
        assert forged.status_code == 401
        assert SECRET not in forged.text
        assert http.get(f"/sessions/{CID}").json() == before  # nothing changed
        good = http.post("/netease/callback", content=body, headers=signed(body))
        assert good.status_code == 200
        after = http.get(f"/sessions/{CID}").json()
        assert after["state"] == "complete"
        assert sorted(f["url"] for f in after["files"]) == sorted(i["url"] for i in items)


def test_a_restart_keeps_every_session(db: Path) -> None:
    with Served(app_on(SQLiteStore(db))) as http:
        http.post("/events", content=lines(*RECORDING))
    with Served(app_on(SQLiteStore(db), T0 + 30)) as http:
        assert http.get("/healthz").json()["sessions"] == 1  # recovered at startup
        answer = http.post("/events", content=lines(tencent(T0 + 30, "mediaData")))
        assert answer.status_code == 200
        assert http.get(f"/sessions/{KEY}").json()["version"] == 4


@pytest.fixture
def redis_url() -> Iterator[str]:
    prefix = f"serve-{uuid.uuid4().hex}"
    yield f"redis://127.0.0.1:6379/0?prefix={prefix}"
    store = RedisStore(f"redis://127.0.0.1:6379/0?prefix={prefix}")
    store.drop()
    store.close()


def test_two_processes_on_one_redis_are_one_service(redis_url: str) -> None:
    with Served(app_on(RedisStore(redis_url))) as a, Served(app_on(RedisStore(redis_url))) as b:
        assert a.post("/events", content=lines(RECORDING[0])).status_code == 200
        assert b.post("/events", content=lines(RECORDING[1])).status_code == 200
        assert a.post("/events", content=lines(RECORDING[2])).status_code == 200
        for http in (a, b):
            one = http.get(f"/sessions/{KEY}").json()
            assert (one["state"], one["version"]) == ("recording", 3)
            assert len(one["files"]) == 1


def test_the_cli_serves_with_one_command(db: Path) -> None:
    recstate = Path(sys.executable).parent / "recstate"
    proc = subprocess.Popen([str(recstate), "serve", "--store", f"sqlite:///{db}",
                             "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("recstate serve: listening on http://127.0.0.1:")
        url = first.split("listening on ", 1)[1].split()[0]
        with httpx.Client(base_url=url) as http:
            assert http.get("/healthz").json()["status"] == "ok"
            assert http.post("/events", content=lines(*RECORDING)).json() == {"applied": 3}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert SQLiteStore(db).get(KEY) is not None
