"""The store contract, the same for every store: a real SQLite file and the real Redis at
127.0.0.1:6379 (a unique key prefix per test), and the in-memory one."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recstate.stores import (
    Commit,
    Conflict,
    MemoryStore,
    OutboxRow,
    SQLiteStore,
    Store,
    StoreError,
    TrackedDict,
    open_store,
)
from recstate.stores.base import ABSENT, NEW, SharedConflict
from recstate.stores.redis import RedisStore

T0 = 1_700_000_000.0


def redis_url(prefix: str) -> str:
    return f"redis://127.0.0.1:6379/0?prefix={prefix}"


@pytest.fixture
def redis_store() -> Iterator[RedisStore]:
    store = RedisStore(redis_url(f"test-{uuid.uuid4().hex}"), journal=True, partitions=4)
    try:
        yield store
    finally:
        store.drop()
        store.close()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore(journal=True)
    elif request.param == "sqlite":
        s = SQLiteStore(tmp_path / "store.db", journal=True)
        yield s
        s.close()
    else:
        yield request.getfixturevalue("redis_store")


def snap(key: str, state: str, timers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"key": key, "vendor": "testv", "machine": "testv.Phone", "state": state,
            "recording": "idle", "context": {"n": 1}, "files": [], "timers": timers or []}


def test_a_commit_writes_the_session_its_key_and_its_outbox_together(store: Store) -> None:
    ob = OutboxRow("a:1:0", "a", "testv", "startRecording", T0, {"room": 7})
    v = store.commit(Commit(session="a", snapshot=snap("a", "ringing"), version=0,
                            applied=["cb-1"], outbox=[ob], journal=[(3, b'{"x":1}')]))
    assert v == 1
    loaded = store.load()
    assert [(r.key, r.version, r.snapshot["state"], r.applied) for r in loaded.sessions] == [
        ("a", 1, "ringing", {"cb-1"})]
    assert [o.to_dict() for o in loaded.outbox] == [ob.to_dict()]
    assert store.journal() == [(3, b'{"x":1}')]
    row = store.get("a")
    assert row is not None
    assert row.version == 1
    assert row.applied == {"cb-1"}
    assert store.keys() == ["a"]
    assert store.get("nobody") is None


def made(store: Store, key: str, state: str = "idle", **kwargs: Any) -> int:
    """Make session ``key`` (version 1); its incarnation, as the store tells the commit."""
    commit = Commit(session=key, snapshot=snap(key, state), version=0, **kwargs)
    store.commit(commit)
    assert commit.incarnation > 0
    return commit.incarnation


def test_an_update_on_a_stale_version_is_refused(store: Store) -> None:
    i = made(store, "a", "ringing")
    assert store.commit(Commit(session="a", snapshot=snap("a", "talking"), version=1,
                               incarnation=i)) == 2
    with pytest.raises(Conflict) as caught:
        store.commit(Commit(session="a", snapshot=snap("a", "ended"), version=1, incarnation=i,
                            applied=["late"], outbox=[OutboxRow("x", "a", "testv", "n", T0, {})]))
    assert (caught.value.expected, caught.value.found) == (1, 2)
    # nothing of the refused commit was written
    row = store.get("a")
    assert row is not None
    assert row.snapshot["state"] == "talking"
    assert row.applied == set()
    assert store.load().outbox == []
    with pytest.raises(Conflict):  # a second creator of the same session loses too
        store.commit(Commit(session="a", snapshot=snap("a", "ringing"), version=0))


def test_a_delete_on_a_stale_version_is_refused(store: Store) -> None:
    """A session closed or retired is deleted only as its deleter saw it: a process holding
    an old copy (version 1) must not delete what another process has written since (a
    revived session, version 2). In a group too, where it refuses the whole group."""
    i = made(store, "a", "ended")
    store.commit(Commit(session="a", snapshot=snap("a", "ringing"), version=1, incarnation=i))
    with pytest.raises(Conflict) as caught:
        store.commit(Commit(session="a", delete=True, version=1, incarnation=i))
    assert (caught.value.session, caught.value.expected, caught.value.found) == ("a", 1, 2)
    row = store.get("a")
    assert row is not None
    assert (row.version, row.snapshot["state"]) == (2, "ringing")  # nothing deleted
    with pytest.raises(Conflict):  # the group's other writes are refused with it
        store.commit_many([Commit(session="b", snapshot=snap("b", "idle"), version=0),
                           Commit(session="a", delete=True, version=1, incarnation=i)])
    assert store.keys() == ["a"]
    # a group's own handlings of the session count: its version after them is the one held
    # (and a session made in the group is of incarnation NEW to the commits after it)
    again = Commit(session="a", snapshot=snap("a", "idle"), version=0)
    assert store.commit_many([Commit(session="a", snapshot=snap("a", "ended"), version=2,
                                     incarnation=i),
                              Commit(session="a", delete=True, version=3, incarnation=i),
                              again,
                              Commit(session="a", snapshot=snap("a", "idle"), version=1,
                                     incarnation=NEW)]
                             ) == [3, 0, 1, 2]
    assert again.incarnation > i  # the store told the commit that made it
    row = store.get("a")
    assert row is not None
    assert (row.version, row.incarnation, row.snapshot["state"]) == (
        2, again.incarnation, "idle")  # made anew after it
    assert store.commit(Commit(session="a", delete=True, version=2,
                               incarnation=again.incarnation)) == 0
    assert store.get("a") is None
    assert store.keys() == []
    # a session never stored is deleted as version 0 (closed before its first commit)
    assert store.commit(Commit(session="c", delete=True, version=0)) == 0


def test_sent_outbox_rows_are_deleted(store: Store) -> None:
    rows = [OutboxRow(f"a:1:{i}", "a", "testv", "n", T0, {"i": i}) for i in range(3)]
    i = made(store, "a", "s", outbox=rows)
    store.commit(Commit(session="a", snapshot=snap("a", "s"), version=1, incarnation=i,
                        sent=["a:1:0"]))
    assert [o.id for o in store.load().outbox] == ["a:1:1", "a:1:2"]
    store.mark_sent(["a:1:1"])
    assert [o.id for o in store.load().outbox] == ["a:1:2"]


def test_shared_index_changes_and_metadata(store: Store) -> None:
    shared = TrackedDict()
    users = shared.setdefault("busy_users", {})
    users["alice"] = "1001:7:alice"
    users["bob"] = "1001:8:bob"
    del users["bob"]
    store.commit(Commit(shared=[("tencent.recorder", p, v) for p, v in shared.changes],
                        meta={"cursor": 12}))
    loaded = store.load()
    assert loaded.shared == {"tencent.recorder": {"busy_users": {"alice": "1001:7:alice"}}}
    assert loaded.meta == {"cursor": 12}


def test_an_input_keeps_all_its_keys(store: Store) -> None:
    keys = ["#12", "netease:6290/6290-bob.aac/", "netease:6290/6290-mix.mp4/"]
    store.commit(Commit(session="a", snapshot=snap("a", "s"), version=0, applied=keys))
    row = store.get("a")
    assert row is not None
    assert row.applied == set(keys)


def test_an_input_that_reached_no_session_keeps_its_key_runtime_wide(store: Store) -> None:
    store.commit(Commit(applied=["#4"], journal=[(4, b"{}")]))
    assert store.load().applied == {"#4"}


def test_tracked_dict_logs_paths() -> None:
    d = TrackedDict()
    d.setdefault("busy", {})["u"] = "k"
    d["busy"].pop("u")
    d["flat"] = 3
    assert d.changes == [("busy", {}), ("busy\x1fu", "k"), ("busy\x1fu", None), ("flat", 3)]
    assert d.plain() == {"busy": {}, "flat": 3}


def test_sqlite_is_one_wal_file_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    s = SQLiteStore(path)
    s.commit(Commit(session="a", snapshot=snap("a", "talking", [
        {"session": "a", "name": "watchdog", "due": T0 + 60, "payload": None,
         "every": None}]), version=0))
    assert s.due(T0 + 59) == []
    assert s.due(T0 + 60) == [("a", T0 + 60)]
    s.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    db.close()
    again = SQLiteStore(path)
    assert [r.snapshot["state"] for r in again.load().sessions] == ["talking"]
    again.close()


def test_store_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(open_store("memory:"), MemoryStore)
    monkeypatch.chdir(tmp_path)
    rel = open_store("sqlite:///rel.db")
    assert isinstance(rel, SQLiteStore)
    assert rel.path == Path("rel.db")
    assert (tmp_path / "rel.db").exists()
    absolute = open_store(f"sqlite:///{tmp_path}/abs.db")  # four slashes: /tmp/...
    assert isinstance(absolute, SQLiteStore)
    assert absolute.path == tmp_path / "abs.db"
    prefix = f"test-{uuid.uuid4().hex}"
    r = open_store(redis_url(prefix))
    assert isinstance(r, RedisStore)
    assert r.prefix == prefix
    r.drop()
    with pytest.raises(StoreError, match="unknown store URL 'postgres://x'"):
        open_store("postgres://x")
    with pytest.raises(StoreError, match="cannot open the sqlite store"):
        open_store(f"sqlite:///{tmp_path}/no/such/dir/x.db")


def test_redis_timers_are_claimed_by_one_worker(redis_store: RedisStore) -> None:
    p = 2
    for key, due in (("a", T0 + 10), ("b", T0 + 20), ("c", T0 + 30)):
        redis_store.commit(Commit(session=key, partition=p, version=0, snapshot=snap(
            key, "talking", [{"session": key, "name": "w", "due": due, "payload": None,
                              "every": None}])))
    assert redis_store.next_due(p) == T0 + 10
    assert redis_store.timers_due(T0 + 20) == 2
    first = redis_store.claim_due(p, T0 + 20, lease_until=T0 + 1000)
    assert redis_store.next_seen == T0 + 30  # the partition's earliest score after it
    second = redis_store.claim_due(p, T0 + 20, lease_until=T0 + 1000)
    assert ([c.key for c in first], second) == (["a", "b"], [])
    # each claim carries the session as stored (the claimer reads none of them again)
    assert [(c.partition, c.row) for c in first] == [(p, redis_store.get(k, p))
                                                     for k in ("a", "b")]
    # a claim whose worker died comes due again at the lease's end
    assert [c.key for c in redis_store.claim_due(p, T0 + 1000, lease_until=T0 + 2000)
            ] == ["c", "a", "b"]
    assert redis_store.next_seen == T0 + 2000


def test_a_redis_claim_answers_each_claimed_sessions_row_in_its_one_round_trip(
        redis_store: RedisStore) -> None:
    """What the freshness read would have answered, for every session claimed: its version,
    snapshot, delivery mark and applied keys; None for a member whose session is gone."""
    timer = {"session": "a", "name": "w", "due": T0 + 10, "payload": None, "every": None}
    made = Commit(session="a", partition=3, version=0, applied=["id-1", "id-2"],
                  delivered=7, snapshot=snap("a", "talking", [timer]))
    redis_store.commit(made)  # (the store gives the new session its incarnation here)
    redis_store.commit(Commit(session="a", partition=3, version=1, applied=["id-3"],
                              snapshot=snap("a", "held", [timer]),
                              incarnation=made.incarnation))
    redis_store.commit(Commit(session="b", partition=1, version=0, snapshot=snap(
        "b", "talking", [{**timer, "session": "b", "due": T0 + 50}])))
    redis_store.redis.zadd(redis_store.pk(3, "timers"), {"gone": T0 + 5})  # no session
    trips = redis_store.round_trips
    claims = redis_store.claim_due_all(T0 + 20, lease_until=T0 + 100)
    assert redis_store.round_trips == trips + 1
    assert [(c.partition, c.key) for c in claims] == [(3, "gone"), (3, "a")]
    row = claims[1].row
    assert row is not None
    assert (row.version, row.snapshot["state"], row.applied, row.delivered) == (
        2, "held", {"id-1", "id-2", "id-3"}, 7)
    assert row.incarnation == made.incarnation > 0  # the claim's rows carry it too
    assert row == redis_store.get("a", 3)
    assert claims[0].row is None
    assert redis_store.next_seen == T0 + 50  # b's, the earliest score left unclaimed
    assert redis_store.claim_due_all(T0 + 20, lease_until=T0 + 100) == []
    assert redis_store.next_seen == T0 + 50
    redis_store.drop()
    assert redis_store.claim_due_all(T0 + 20, lease_until=T0 + 100) == []
    assert redis_store.next_seen is None  # no timer at all: nothing to look at again


def test_redis_leases_and_streams(redis_store: RedisStore) -> None:
    assert redis_store.acquire(0, "w1", ttl=30)
    assert not redis_store.acquire(0, "w2", ttl=30)
    assert redis_store.acquire(0, "w1", ttl=30)  # renewing, or reclaiming after a restart
    assert redis_store.owner(0) == "w1"
    redis_store.release(0, "w1")
    assert redis_store.acquire(0, "w2", ttl=30)
    redis_store.ensure_group(1)
    redis_store.append([(1, {b"n": b"1"}), (1, {b"n": b"2"})])
    got = redis_store.read(1, "w1", count=10)
    assert [f[b"n"] for _, f in got] == [b"1", b"2"]
    redis_store.ack(1, got[0][0])
    assert [f[b"n"] for _, f in redis_store.read(1, "w1", pending=True)] == [b"2"]
    taken = redis_store.reclaim(1, "w2")  # w1 died: w2 takes its unacknowledged entry
    assert [f[b"n"] for _, f in taken] == [b"2"]
    redis_store.commit(Commit(partition=1), ack=(1, taken[0][0]))
    assert redis_store.backlog(1) == 0


def test_redis_partition_count_is_fixed_per_prefix(redis_store: RedisStore) -> None:
    with pytest.raises(StoreError, match="made with 4 partitions, not 8"):
        RedisStore(redis_url(redis_store.prefix), partitions=8)


def test_delayed_deliveries_are_kept_until_handled(store: Store) -> None:
    def delivery(n: int, due: float) -> dict[str, Any]:
        return {"name": f"deliver#{n}", "due": due, "seq": n,
                "event": {"vendor": "netease", "name": "call:ok", "t": due, "session": "c",
                          "id": None, "data": {"cid": None}}}

    store.commit(Commit(deliveries=[delivery(1, T0 + 2), delivery(2, T0 + 1)]))
    assert sorted(d["name"] for d in store.load().deliveries) == ["deliver#1", "deliver#2"]
    # armed and handled in the same transaction: set first, then deleted
    store.commit(Commit(deliveries=[delivery(3, T0 + 3)],
                        deliveries_done=["deliver#1", "deliver#3"]))
    assert store.load().deliveries == [delivery(2, T0 + 1)]


M = "tencent.recorder"
ALICE = "busy_users\x1falice"


def test_tracked_dict_logs_the_entries_a_handling_read_before_writing_them() -> None:
    d = TrackedDict({"busy_users": {"alice": "1001:7:alice"}})
    users = d.setdefault("busy_users", {})  # a nested dict: no entry read
    assert d.reads == {}
    assert users.get("alice") == "1001:7:alice"
    assert "bob" not in users
    users["carol"] = "1001:9:carol"
    assert users["carol"] == "1001:9:carol"  # its own write: nothing to check
    assert users.pop("dave", None) is None
    assert users.get("alice") == "1001:7:alice"  # read once: the first value seen
    assert d.reads == {ALICE: "1001:7:alice", "busy_users\x1fbob": ABSENT,
                       "busy_users\x1fdave": ABSENT}
    d.clear_log()
    assert (d.reads, d.changes) == ({}, [])
    d.refresh({ALICE: ABSENT, "busy_users\x1fbob": "1001:8:bob", "busy_users": {}})
    assert d.plain() == {"busy_users": {"bob": "1001:8:bob", "carol": "1001:9:carol"}}
    assert (d.reads, d.changes) == ({}, [])  # a refresh is no change and no read


def test_a_commit_whose_shared_reads_moved_is_refused_whole(store: Store) -> None:
    store.commit(Commit(shared=[(M, ALICE, "1001:7:alice")]))
    i = made(store, "b")
    refused = Commit(session="b", snapshot=snap("b", "starting"), version=1, incarnation=i,
                     shared=[(M, ALICE, "1001:8:alice")], shared_read=[(M, ALICE, ABSENT)])
    with pytest.raises(SharedConflict) as caught:
        store.commit(refused)
    assert caught.value.current == {(M, ALICE): "1001:7:alice"}
    with pytest.raises(SharedConflict):  # in a group too: nothing of the group is written
        store.commit_many([Commit(session="c", snapshot=snap("c", "idle"), version=0),
                           refused])
    row = store.get("b")
    assert row is not None
    assert (row.version, row.snapshot["state"]) == (1, "idle")
    assert store.get("c") is None
    assert store.shared_values([(M, ALICE), (M, "busy_users\x1fbob")]) == {
        (M, ALICE): "1001:7:alice", (M, "busy_users\x1fbob"): ABSENT}
    # read as stored: written
    assert store.commit(Commit(session="b", snapshot=snap("b", "idle"), version=1,
                               incarnation=i, shared_read=[(M, ALICE, "1001:7:alice")])) == 2


def test_fresh_gives_the_sessions_another_process_moved(store: Store) -> None:
    a = made(store, "a", applied=["#1"], delivered=3)
    b = made(store, "b")
    store.commit(Commit(session="a", snapshot=snap("a", "ringing"), version=1, incarnation=a))
    moved = store.fresh({"a": (1, a), "b": (1, b), "c": (0, 0), "gone": (4, 9)})
    assert sorted(moved) == ["a", "gone"]
    row = moved["a"]
    assert row is not None
    assert (row.version, row.snapshot["state"], row.applied, row.delivered) == (
        2, "ringing", {"#1"}, 3)
    assert moved["gone"] is None
    assert store.fresh({"a": (2, a), "b": (1, b)}) == {}


def test_a_key_deleted_and_made_again_is_another_session_at_the_same_version(
        store: Store) -> None:
    """ABA: process A holds session K at version 2; process B retires K (deletes it), makes
    it again under the same key (Tencent's relation:room:user when the user records in the
    room again) and brings it to version 2 too. A's copy is of the old life: the freshness
    read gives the new one, A's commit and A's version-checked delete are refused, and a
    commit on the new life goes through."""
    old = made(store, "k", "recording")
    store.commit(Commit(session="k", snapshot=snap("k", "stopped"), version=1,
                        incarnation=old))
    held = (2, old)  # process A's copy
    store.commit(Commit(session="k", delete=True, version=2, incarnation=old))  # B retires
    new = made(store, "k", "ringing")  # B makes it again
    assert new != old
    store.commit(Commit(session="k", snapshot=snap("k", "recording"), version=1,
                        incarnation=new))
    row = store.get("k")
    assert row is not None
    assert row.held == (2, new)  # the same version as A's copy
    moved = store.fresh({"k": held})
    assert list(moved) == ["k"]
    assert moved["k"] is not None
    assert (moved["k"].held, moved["k"].snapshot["state"]) == ((2, new), "recording")
    with pytest.raises(Conflict) as caught:  # A's handling on its stale copy
        store.commit(Commit(session="k", snapshot=snap("k", "ended"), version=2,
                            incarnation=old, applied=["late"]))
    assert (caught.value.expected, caught.value.found, caught.value.incarnations) == (
        2, 2, (old, new))
    with pytest.raises(Conflict):  # in a group too
        store.commit_many([Commit(session="z", snapshot=snap("z", "idle"), version=0),
                           Commit(session="k", snapshot=snap("k", "ended"), version=2,
                                  incarnation=old)])
    with pytest.raises(Conflict):  # A's retirement of its copy deletes nothing
        store.commit(Commit(session="k", delete=True, version=2, incarnation=old))
    with pytest.raises(Conflict):
        store.commit_many([Commit(session="k", delete=True, version=2, incarnation=old)])
    row = store.get("k")
    assert row is not None
    assert (row.held, row.snapshot["state"], row.applied) == ((2, new), "recording", set())
    assert store.get("z") is None
    # A takes the fresh row and handles the input again: written
    assert store.commit(Commit(session="k", snapshot=snap("k", "ended"), version=2,
                               incarnation=new)) == 3
    assert store.fresh({"k": (3, new)}) == {}
    assert [(r.key, r.held) for r in store.load().sessions] == [("k", (3, new))]


def test_incarnations_never_repeat_for_a_key(store: Store) -> None:
    """The incarnation comes from a store-wide counter that never goes back, whatever is
    deleted: no tombstone is kept, and a key made N times has N different incarnations."""
    seen = []
    for _ in range(4):
        i = made(store, "k")
        seen.append(i)
        store.commit(Commit(session="k", delete=True, version=1, incarnation=i))
    assert seen == sorted(set(seen))
    assert store.keys() == []
