"""A ``recstate serve`` fleet: several real ``recstate serve`` processes (subprocesses on
loopback) on the real Redis, one prefix each test, behave as one process would.

Tencent allows one recording per user at a time, across rooms (002 §2: 30000415
"用户正在录制"); the machine checks it in the busy-users index (``Machine.shared``), which
every process of the fleet caches. A start in room B via process 2, while the same user
records in room A via process 1, must be refused with 30000415 as in one process."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from serve_process import environment, recstate_serve
from uvicorn_loopback import Uvicorn

from recstate import signals
from recstate.clock import ManualClock
from recstate.serve import RETRIES, create_app
from recstate.stores.base import Commit, partition_of
from recstate.stores.redis import RedisStore

T0 = 1_700_000_000.0
START = "requestMultiVideoRecorderStart"
STOP = "requestMultiVideoRecorderStop"
ROOM_A = {"relationId": 1001, "roomId": 7}
ROOM_B = {"relationId": 1001, "roomId": 8}
A, B = "1001:7:alice", "1001:8:alice"


@pytest.fixture
def redis_url() -> Iterator[str]:
    prefix = f"fleet-{uuid.uuid4().hex}"
    url = f"redis://127.0.0.1:6379/0?prefix={prefix}"
    yield url
    store = RedisStore(url)
    store.drop()
    store.close()


def fleet(url: str, n: int, stack: ExitStack, *args: str) -> list[httpx.Client]:
    """``n`` serve processes on ``url``, each on a virtual clock at T0."""
    clients = []
    for _ in range(n):
        base, _banner = stack.enter_context(recstate_serve(
            url, "--virtual-clock", str(T0), *args, env=environment()))
        clients.append(stack.enter_context(httpx.Client(base_url=base, timeout=30)))
    return clients


def ev(t: float, key: str, name: str, data: dict[str, Any] | None = None) -> bytes:
    line: dict[str, Any] = {"t": t, "vendor": "tencent", "name": name, "session": key}
    if data is not None:
        line["data"] = data
    return orjson.dumps(line)


def enter(t: float, key: str, room: dict[str, int]) -> bytes:
    return ev(t, key, "enterRoom", {**room, "roomType": "multi", "user": "alice"})


def start(t: float, key: str, room: dict[str, int]) -> bytes:
    return ev(t, key, START, {"roomInfo": room, "param": {"fileName": f"f{room['roomId']}"}})


def busy_refusals(http: httpx.Client) -> float:
    """recstate_errors_total{vendor="tencent",code="30000415"} of one process."""
    text = http.get("/metrics").text
    m = re.search(r'recstate_errors_total\{code="30000415",vendor="tencent"\} (\S+)', text)
    return float(m.group(1)) if m else 0.0


def post(http: httpx.Client, body: bytes) -> None:
    answer = http.post("/events", content=body)
    assert answer.status_code == 200, answer.text


def states(http: httpx.Client) -> dict[str, str]:
    return {s["session"]: s["state"] for s in http.get("/sessions").json()["sessions"]}


def test_one_recording_per_user_holds_across_two_processes(redis_url: str) -> None:
    with ExitStack() as stack:
        p1, p2 = fleet(redis_url, 2, stack)
        post(p1, enter(T0, A, ROOM_A))
        post(p2, enter(T0, B, ROOM_B))
        post(p1, start(T0 + 1, A, ROOM_A))
        post(p1, ev(T0 + 2, A, f"{START}:ok", {}))
        # process 2 has never seen A start: its cache says alice is free
        post(p2, start(T0 + 3, B, ROOM_B))
        assert busy_refusals(p2) == 1
        assert states(p2) == {A: "recording", B: "idle"}
        conflicts = re.search(r'recstate_conflicts_total\{kind="shared"\} (\S+)',
                              p2.get("/metrics").text)
        assert conflicts is not None
        assert float(conflicts.group(1)) == 1
        # A stops via process 1; process 2's cache still says alice records in A
        post(p1, ev(T0 + 10, A, STOP, {"roomInfo": ROOM_A}))
        post(p1, ev(T0 + 11, A, f"{STOP}:ok", {}))
        post(p2, start(T0 + 12, B, ROOM_B))
        assert busy_refusals(p2) == 1  # not refused again
        assert states(p1) == {A: "stopped", B: "starting"}


def test_a_fleet_refuses_as_one_process_does(redis_url: str) -> None:
    """The same inputs, spread over two processes or sent to one, leave the same sessions
    and the same refusals."""
    steps = [(0, enter(T0, A, ROOM_A)), (1, enter(T0, B, ROOM_B)),
             (0, start(T0 + 1, A, ROOM_A)), (1, start(T0 + 2, B, ROOM_B)),
             (0, ev(T0 + 3, A, f"{START}:ok", {})), (1, start(T0 + 4, B, ROOM_B))]
    views = []
    refusals = []
    for n, url in ((1, redis_url.replace("prefix=", "prefix=one-")), (2, redis_url)):
        with ExitStack() as stack:
            procs = fleet(url, n, stack)
            for who, body in steps:
                post(procs[who % n], body)
            views.append(procs[0].get("/sessions").json())
            refusals.append(sum(busy_refusals(p) for p in procs))
        if n == 1:
            store = RedisStore(url)
            store.drop()
            store.close()
    assert views[0] == views[1]
    assert refusals == [2, 2]


# ---- timers: each fires once across the fleet ---------------------------------------------
#: Tencent closes a recording that gets no data for 60 s (002 §6: 1分钟没收到数据会自动关闭录制):
#: the machine's watchdog, armed when the recording starts.
RECORDINGS = 300
CHILD = str(Path(__file__).parent / "crash_child.py")


def recordings(n: int) -> list[bytes]:
    """n recordings of n users in n rooms, each started at T0 + 1 and sent no data."""
    out = []
    for i in range(n):
        room, key = {"relationId": 2000, "roomId": i}, f"2000:{i}:u{i}"
        out.append(b"[" + b",".join([
            ev(T0, key, "enterRoom", {**room, "roomType": "multi", "user": f"u{i}"}),
            ev(T0, key, START, {"roomInfo": room, "param": {"fileName": f"r{i}"}}),
            ev(T0 + 1, key, f"{START}:ok", {})]) + b"]")
    return out


def fired(http: httpx.Client, timer: str = "watchdog") -> float:
    m = re.search(rf'recstate_timers_fired_total\{{timer="{timer}"\}} (\S+)',
                  http.get("/metrics").text)
    return float(m.group(1)) if m else 0.0


def stored(url: str) -> dict[str, tuple[str, int]]:
    store = RedisStore(url)
    try:
        return {row.key: (row.snapshot["state"], row.version)
                for row in store.load().sessions}
    finally:
        store.close()


def test_300_watchdogs_fire_once_each_across_two_processes(redis_url: str) -> None:
    with ExitStack() as stack:
        procs = fleet(redis_url, 2, stack)
        for i, body in enumerate(recordings(RECORDINGS)):
            post(procs[i % 2], body)
        assert fired(procs[0]) + fired(procs[1]) == 0
        # both clocks pass the watchdogs' due time (T0 + 61) at once
        with ThreadPoolExecutor(2) as pool:
            moved = list(pool.map(lambda h: h.post("/clock", json={"to": T0 + 100}), procs))
        assert [m.status_code for m in moved] == [200, 200]
        assert fired(procs[0]) + fired(procs[1]) == RECORDINGS
    # each session: enterRoom, start, start:ok, and ONE watchdog (a second would be a 5th)
    assert stored(redis_url) == {f"2000:{i}:u{i}": ("stopped", 4) for i in range(RECORDINGS)}


def test_a_process_killed_while_firing_leaves_its_timers_to_the_other(
        redis_url: str) -> None:
    handled = RECORDINGS * 3
    # process 1 is SIGKILLed when its 51st watchdog handling begins to commit: 50 fired
    killed = subprocess.Popen(
        [sys.executable, CHILD, str(handled + 51), "1", "serve", "--store", redis_url,
         "--port", "0", "--virtual-clock", str(T0), "--timer-lease", "30"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment())
    try:
        assert killed.stdout is not None
        banner = killed.stdout.readline()
        assert "listening on " in banner, banner + (killed.stderr.read() if killed.stderr
                                                    else "")
        base = banner.split("listening on ", 1)[1].split()[0]
        with ExitStack() as stack:
            p1 = stack.enter_context(httpx.Client(base_url=base, timeout=60))
            (p2,) = fleet(redis_url, 1, stack, "--timer-lease", "30")
            for body in recordings(RECORDINGS):
                post(p1, body)
            with pytest.raises(httpx.TransportError):  # killed while firing
                p1.post("/clock", json={"to": T0 + 100})
            assert killed.wait(timeout=60) == -signal.SIGKILL
            states_now = stored(redis_url)
            assert sum(1 for s, _ in states_now.values() if s == "stopped") == 50
            # the dead process's claims last until its clock + lease (T0 + 130)
            p2.post("/clock", json={"to": T0 + 129})
            assert fired(p2) == 0
            p2.post("/clock", json={"to": T0 + 131})
            assert fired(p2) == RECORDINGS - 50
    finally:
        if killed.poll() is None:
            killed.kill()
            killed.wait()
    assert stored(redis_url) == {f"2000:{i}:u{i}": ("stopped", 4) for i in range(RECORDINGS)}


# ---- a hot session: RETRIES races lost in a row ---------------------------------------------
def test_an_input_that_loses_every_race_is_a_503_and_nothing_of_it_is_applied(
        redis_url: str) -> None:
    """Another process writes the session between this one's read and its commit, every
    time (a second real Redis client of the prefix commits the session from a receiver of
    the transition signal, which the handling tells before its commit): the input is
    handled again on each fresh read, :data:`RETRIES` times, then refused with a 503 saying
    what to do; nothing of it is applied, and sent again once the race is over it is."""
    other = RedisStore(redis_url)
    writes: list[int] = []
    hot = {"on": True}

    def write_first(runtime: Any, session: Any, **_: Any) -> None:
        if not hot["on"] or session.key != A:
            return
        p = runtime.partition_for(A, "tencent")
        row = other.get(A, p)
        assert row is not None
        writes.append(other.commit(Commit(session=A, snapshot=row.snapshot,
                                          version=row.version, incarnation=row.incarnation,
                                          partition=p)))

    store = RedisStore(redis_url)
    app = create_app(store, clock=ManualClock(T0))
    try:
        with (Uvicorn(app) as base, httpx.Client(base_url=base, timeout=30) as http,
              signals.transition.connected_to(write_first)):
            post(http, b"[" + enter(T0, A, ROOM_A) + b"," + enter(T0, B, ROOM_B) + b"]")
            body = orjson.dumps([{"t": T0 + 1, "vendor": "tencent", "name": "enterRoom",
                                  "session": B, "id": "b-again",
                                  "data": {**ROOM_B, "roomType": "multi", "user": "alice"}},
                                 {"t": T0 + 1, "vendor": "tencent", "name": START,
                                  "session": A, "id": "start-a",
                                  "data": {"roomInfo": ROOM_A, "param": {"fileName": "f"}}}])
            answer = http.post("/events", content=body)
            assert answer.status_code == 503
            refusal = answer.json()
            assert (refusal["line"], refusal["applied"]) == (2, 1)  # the first line was
            assert f"lost {RETRIES} races in a row" in refusal["error"]
            assert "not applied; send it again" in refusal["error"]
            assert A in refusal["error"]
            assert len(writes) == RETRIES  # each attempt read the session anew, and lost
            metrics = http.get("/metrics").text
            assert f'recstate_conflicts_total{{kind="version"}} {RETRIES}.0' in metrics
            row = other.get(A, store_partition(other, A))
            assert row is not None
            # nothing of the start: the state, its id, its command, its notices
            assert (row.snapshot["state"], row.version) == ("idle", 1 + RETRIES)
            assert "start-a" not in row.applied
            assert other.load().outbox == []
            assert http.get(f"/sessions/{A}").json()["state"] == "idle"
            hot["on"] = False  # the race is over: the same request is applied
            assert http.post("/events", content=body).json() == {"applied": 2}
            assert http.get(f"/sessions/{A}").json()["state"] == "starting"
            # "b-again" was applied by the refused request: sent again, it is a duplicate
            # (acknowledged, its notice committed), not a second enterRoom
            row = other.get(B, store_partition(other, B))
            assert row is not None
            assert (row.version, row.applied) == (3, {"b-again"})
    finally:
        other.close()


def store_partition(store: RedisStore, key: str) -> int:
    """Tencent partitions by user (the key's last part)."""
    return partition_of(key.rsplit(":", 1)[1], store.partitions)
