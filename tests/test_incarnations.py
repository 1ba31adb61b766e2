"""ABA on a reused key: a session deleted (closed, retired) and made again under the same key
counts its version from 0 again, so a process holding a copy of its first life at version N
can meet the second life at version N. Tencent's key ``relation:room:user`` is reused when
the same user records in the same room again (NetEase keys by channel). Each stored session
carries an incarnation, given by the store when it makes the session from a counter that
never goes back, and every check compares it with the version: the freshness read, every
commit's and delete's check, the fleet's timer claims.

Two runtimes ("processes") share one store: the in-memory one (one object), a real SQLite
file (a connection each) and the real Redis (a client each, one prefix); on Redis also two
``serve`` services, whose timer task claims due sessions from the store."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from recstate.clock import ManualClock
from recstate.events import parse_event
from recstate.runtime import Runtime
from recstate.serve import Service
from recstate.stores import Commit, Conflict, MemoryStore, SQLiteStore, Store, StoreError
from recstate.stores.redis import RedisStore

T0 = 1_700_000_000.0
START = "requestMultiVideoRecorderStart"
ROOM = {"relationId": 1001, "roomId": 7}
K = "1001:7:alice"


@pytest.fixture(params=["memory", "sqlite", "redis"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """Makes a store per process, all on the same data."""
    made: list[Store] = []
    if request.param == "memory":
        shared = MemoryStore()

        def one() -> Store:
            return shared
    elif request.param == "sqlite":
        def one() -> Store:
            made.append(SQLiteStore(tmp_path / "fleet.db"))
            return made[-1]
    else:
        url = f"redis://127.0.0.1:6379/0?prefix=aba-{uuid.uuid4().hex}"

        def one() -> Store:
            made.append(RedisStore(url))
            return made[-1]
    yield one
    for s in made:
        if isinstance(s, RedisStore):
            s.drop()
        s.close()


class Process:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.clock = ManualClock(T0)
        self.rt = Runtime(self.clock, store=store)
        self.rt.recover()

    def send(self, t: float, name: str, data: dict[str, Any] | None) -> None:
        if t > self.clock.now():
            self.clock.set(t)
        self.rt.dispatch(parse_event("tencent", name, t, data, K))

    def record(self, t: float, filename: str) -> None:
        """Enter the room and ask for a recording: the session at version 2, ``starting``,
        its answer deadline 30 s on."""
        self.send(t, "enterRoom", {**ROOM, "roomType": "multi", "user": "alice"})
        self.send(t + 1, START, {"roomInfo": ROOM, "param": {"fileName": filename}})


def stored(store: Store) -> tuple[tuple[int, int], str, str]:
    row = store.get(K, 0) if not isinstance(store, RedisStore) else store.get(K)
    assert row is not None
    return row.held, row.snapshot["state"], row.snapshot["context"]["param"]["fileName"]


def remake(a: Process, b: Process) -> tuple[int, int]:
    """A holds K's first life at version 2; B takes it, deletes it (closes it) and makes K
    again, to version 2 too. Returns (A's incarnation, the new one)."""
    a.record(T0, "first")
    old = a.rt.held(K)
    assert old[0] == 2
    assert b.rt.freshen([K], {K: "tencent"}) == [K]
    b.rt.close_session(K)
    b.rt.flush_store()
    assert b.store.keys() == []
    b.record(T0 + 50, "second")
    new = b.rt.held(K)
    assert new[0] == 2
    assert new[1] != old[1]
    assert a.rt.held(K) == old  # the same version: only the incarnation tells
    assert stored(a.store) == (new, "starting", "second")
    return old[1], new[1]


def test_a_freshness_read_takes_the_session_made_again(stores: Callable[[], Store]) -> None:
    a, b = Process(stores()), Process(stores())
    _, new = remake(a, b)
    assert a.rt.stale(K)
    assert a.rt.freshen([K]) == [K]
    assert a.rt.held(K) == (2, new)
    assert a.rt.snapshot(K)["context"]["param"]["fileName"] == "second"
    assert [t["due"] for t in a.rt.snapshot(K)["timers"]] == [T0 + 81]  # the new deadline
    assert not a.rt.stale(K)


def test_a_commit_on_the_old_life_is_refused_and_redone_on_the_new(
        stores: Callable[[], Store]) -> None:
    a, b = Process(stores()), Process(stores())
    old, new = remake(a, b)
    with pytest.raises(Conflict) as caught:  # start:ok handled on A's stale copy
        a.send(T0 + 2, f"{START}:ok", {})
    assert caught.value.input
    assert (caught.value.expected, caught.value.found) == (2, 2)
    assert caught.value.incarnations == (old, new)
    assert stored(a.store) == ((2, new), "starting", "second")  # nothing written
    a.rt.reload(K)
    assert a.rt.held(K) == (2, new)
    a.send(T0 + 2, f"{START}:ok", {})
    assert stored(a.store) == ((3, new), "recording", "second")


def test_a_delete_of_the_old_life_leaves_the_new_one(stores: Callable[[], Store]) -> None:
    a, b = Process(stores()), Process(stores())
    _, new = remake(a, b)
    with pytest.raises(Conflict):  # A closes its copy: version-checked, refused
        a.rt.close_session(K)
    assert stored(a.store) == ((2, new), "starting", "second")
    assert a.store.keys() == [K]
    assert a.rt.freshen([K], {K: "tencent"}) == [K]  # taken back
    a.rt.close_session(K)  # on the new life: deleted
    assert a.store.keys() == []


def test_a_timer_of_the_old_life_is_refused_and_the_new_lifes_fires(
        stores: Callable[[], Store]) -> None:
    """A's copy holds the first life's answer deadline (T0 + 31): firing it on the stale copy
    commits nothing (a timer's commit, refused); A takes the new life, whose deadline (T0 +
    81) fires once, on it."""
    a, b = Process(stores()), Process(stores())
    _, new = remake(a, b)
    a.clock.set(T0 + 40)
    with pytest.raises(Conflict) as caught:
        a.rt.run_due()
    assert not caught.value.input  # a timer's handling lost
    assert a.rt.fired == {}
    assert stored(a.store) == ((2, new), "starting", "second")
    a.rt.reload(K)
    a.rt.run_due()  # nothing of the new life is due yet
    assert a.rt.fired == {}
    a.clock.set(T0 + 90)
    a.rt.run_due()
    assert a.rt.fired == {"answer": 1}
    assert stored(a.store) == ((3, new), "stopping", "second")


# ---- a serve fleet on Redis: the timer claimed fires on the new life ------------------------
@pytest.fixture
def redis_url() -> Iterator[str]:
    url = f"redis://127.0.0.1:6379/0?prefix=aba-serve-{uuid.uuid4().hex}"
    yield url
    store = RedisStore(url)
    store.drop()
    store.close()


def handle(svc: Service, t: float, name: str, data: dict[str, Any]) -> None:
    svc.handle(parse_event("tencent", name, t, data, K))


def test_a_timer_claimed_by_a_fleet_process_fires_on_the_new_life_only(redis_url: str) -> None:
    """Service 1 asked for the first recording (its copy: version 2, answer deadline T0 +
    31); service 2 closed it and made K again (version 2, deadline T0 + 81). At T0 + 85
    service 1's timer task claims K (due in the store at T0 + 81), reads it (another life:
    taken) and fires the new life's deadline, once; the first life's never fires."""
    s1 = Service(RedisStore(redis_url), clock=ManualClock(T0))
    s2 = Service(RedisStore(redis_url), clock=ManualClock(T0))
    handle(s1, T0, "enterRoom", {**ROOM, "roomType": "multi", "user": "alice"})
    handle(s1, T0, START, {"roomInfo": ROOM, "param": {"fileName": "first"}})
    old = s1.runtime.held(K)
    s2.runtime.freshen([K], {K: "tencent"})
    s2.runtime.close_session(K)
    s2.runtime.flush_store()
    s2.advance(T0 + 50)
    handle(s2, T0 + 50, "enterRoom", {**ROOM, "roomType": "multi", "user": "alice"})
    handle(s2, T0 + 50, START, {"roomInfo": ROOM, "param": {"fileName": "second"}})
    new = s2.runtime.held(K)
    assert new[0] == old[0] == 2
    assert new[1] != old[1]
    store = s1.store
    assert isinstance(store, RedisStore)
    earliest = [store.redis.zrange(store.pk(p, "timers"), 0, 0, withscores=True)
                for p in range(store.partitions)]
    assert min(got[0][1] for got in earliest if got) == T0 + 80  # the new life's
    s1.advance(T0 + 85)
    assert s1.runtime.fired == {"answer": 1}
    assert s1.runtime.held(K) == (3, new[1])
    assert stored(store) == ((3, new[1]), "stopping", "second")
    assert s2.runtime.fired == {}


# ---- rows stored before incarnations ---------------------------------------------------------
#: The sessions table of schema 2 (before incarnations).
SCHEMA_2_SESSIONS = """
CREATE TABLE sessions (
    key TEXT PRIMARY KEY, vendor TEXT NOT NULL, machine TEXT NOT NULL, state TEXT NOT NULL,
    version INTEGER NOT NULL, snapshot BLOB NOT NULL, next_due REAL,
    delivered INTEGER NOT NULL DEFAULT 0)"""


def snap(key: str, state: str) -> dict[str, Any]:
    return {"key": key, "vendor": "testv", "machine": "testv.Phone", "state": state,
            "recording": "idle", "context": {"n": 1}, "files": [], "timers": []}


def test_a_sqlite_file_of_schema_2_is_upgraded_its_sessions_of_incarnation_0(
        tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute(SCHEMA_2_SESSIONS)
    db.execute("INSERT INTO sessions VALUES ('a', 'testv', 'testv.Phone', 'idle', 3, ?, "
               "NULL, 0)", (b'{"key":"a","vendor":"testv","machine":"testv.Phone",'
                            b'"state":"idle","context":{},"files":[],"timers":[]}',))
    db.execute("PRAGMA user_version=2")
    db.commit()
    db.close()
    store = SQLiteStore(path)
    row = store.get("a")
    assert row is not None
    assert row.held == (3, 0)
    assert [r.held for r in store.load().sessions] == [(3, 0)]
    assert store.fresh({"a": (3, 0)}) == {}
    assert store.commit(Commit(session="a", snapshot=snap("a", "ringing"), version=3)) == 4
    assert store.commit(Commit(session="a", delete=True, version=4)) == 0
    again = Commit(session="a", snapshot=snap("a", "idle"), version=0)
    store.commit(again)
    assert again.incarnation == 1  # the counter starts above the old rows' 0
    store.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone() == (3,)
    reopened = SQLiteStore(path)
    assert [r.held for r in reopened.load().sessions] == [(1, 1)]
    reopened.close()


def test_a_newer_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    SQLiteStore(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=4")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match=r"schema 4, this one reads 3"):
        SQLiteStore(path)


def test_a_redis_session_stored_without_an_incarnation_is_of_incarnation_0(
        redis_url: str) -> None:
    """Layout 2 before incarnations: a session hash without ``i``. It loads, is read fresh
    and is written as incarnation 0; made again, it is given one from the counter."""
    store = RedisStore(redis_url, partitions=2)
    store.redis.hset(store.pk(1, "s", "a"), mapping={
        "snap": b'{"key":"a","vendor":"testv","machine":"testv.Phone","state":"idle",'
                b'"context":{},"files":[],"timers":[]}', "v": 3, "d": 0})
    store.redis.sadd(store.pk(1, "sessions"), "a")
    assert [r.held for r in store.load().sessions] == [(3, 0)]
    row = store.get("a", 1)
    assert row is not None
    assert row.held == (3, 0)
    assert store.fresh({"a": (3, 0)}, {"a": 1}) == {}
    assert store.commit(Commit(session="a", snapshot=snap("a", "ringing"), version=3,
                               partition=1)) == 4
    assert store.fresh({"a": (4, 0)}, {"a": 1}) == {}
    store.commit(Commit(session="a", delete=True, version=4, partition=1))
    again = Commit(session="a", snapshot=snap("a", "idle"), version=0, partition=1)
    store.commit(again)
    assert again.incarnation == 1
    assert store.fresh({"a": (1, 0)}, {"a": 1})["a"] is not None  # another life
    store.close()


STOP = "requestMultiVideoRecorderStop"


def life(svc: Service, t: float, filename: str) -> None:
    """One recording of alice in room 7, from entering to stopped: version 5."""
    for dt, name, data in ((0, "enterRoom", {**ROOM, "roomType": "multi", "user": "alice"}),
                           (1, START, {"roomInfo": ROOM, "param": {"fileName": filename}}),
                           (2, f"{START}:ok", {}), (3, STOP, {"roomInfo": ROOM}),
                           (4, f"{STOP}:ok", {})):
        svc.advance(t + dt)
        handle(svc, t + dt, name, data)


def test_a_tencent_key_reused_after_retirement_is_taken_by_the_other_process(
        redis_url: str) -> None:
    """Alice records in room 7 via service 1; service 2 reads the session (stopped, version
    5). Service 1 retires it and alice records in room 7 again via service 1: the key
    relation:room:user again, stopped at version 5 again. Her next start goes to service 2,
    whose copy is of the first recording at the same version: it takes the second life from
    the store and starts on it (its files are the second recording's), and its own
    retirement of the first life deletes nothing."""
    s1 = Service(RedisStore(redis_url), clock=ManualClock(T0))
    s2 = Service(RedisStore(redis_url), clock=ManualClock(T0))
    s1.runtime.retention = s2.runtime.retention = 100.0
    life(s1, T0, "first")
    assert s2.runtime.freshen([K], {K: "tencent"}) == [K]
    first = s2.runtime.held(K)
    assert first[0] == 5
    s1.advance(T0 + 110)
    s1.run_due()  # its retirement of the finished session
    assert s1.store.keys() == []
    life(s1, T0 + 120, "second")
    second = s1.runtime.held(K)
    assert second[0] == 5
    assert second[1] != first[1]
    assert s2.runtime.held(K) == first  # the same version
    s2.advance(T0 + 130)
    s2.run_due()  # its copy's retirement (due T0 + 104): refused, nothing deleted
    assert s2.store.keys() == [K]
    handle(s2, T0 + 130, START, {"roomInfo": ROOM, "param": {"fileName": "third"}})
    row = s2.store.get(K)
    assert row is not None
    assert row.held == (6, second[1])
    assert (row.snapshot["state"], row.snapshot["context"]["param"]["fileName"]) == (
        "starting", "third")
    assert [f["id"] for f in row.snapshot["files"]] == ["second#1"]


def test_rows_a_claim_brought_are_taken_only_for_sessions_not_held_as_stored(
        stores: Callable[[], Store]) -> None:
    """``take_moved`` (a fleet's timer claim answered these rows): a session held as stored
    is left alone; one of another life at the same version is taken; a row of None (no
    longer stored) drops the session held and leaves it held as (0, 0), as never seen;
    None for a session this process never held takes nothing."""
    a, b = Process(stores()), Process(stores())
    _, new = remake(a, b)
    row = a.store.get(K, 0) if not isinstance(a.store, RedisStore) else a.store.get(K)
    assert row is not None
    assert b.rt.take_moved({K: row}) == []  # B holds what is stored: nothing to take
    assert b.rt.take_moved({"1001:7:nobody": None}) == []  # never held, not stored
    assert a.rt.take_moved({K: row}) == [K]  # A's copy is the first life at version 2
    assert a.rt.held(K) == (2, new)
    assert a.rt.snapshot(K)["context"]["param"]["fileName"] == "second"
    assert a.rt.take_moved({K: None}) == [K]  # gone from the store since
    assert K not in a.rt.sessions
    assert a.rt.held(K) == (0, 0)
    assert a.rt.take_moved({K: None}) == []  # and nothing left to take
