"""The Redis store on a REAL Redis Cluster (three ``redis-server --cluster-enabled yes``
processes started by the test, ``tests/redis_cluster.py``), through redis-py's cluster
client and the URL ``redis+cluster://host:port?prefix=NAME``.

Every key a script touches lies in one slot (the partition's hash tag ``P:{p}:``), passed
in KEYS but for the sessions a timer claim finds in its zset, so the cluster runs every
commit and claim; the partitions spread over the nodes; a replay on the cluster gives the
report of a replay in memory, with one process and with ``--workers 2``; a prefix of the
older, untagged layout is refused with what to do."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis_cluster import redis_cluster

from recstate.replay import replay
from recstate.stores import Commit, Conflict, StoreError, open_store
from recstate.stores.redis import RedisStore
from recstate.workload import write_mixed

ROOT = Path(__file__).resolve().parent.parent
TRACES = sorted((ROOT / "examples" / "traces").glob("*.jsonl"))
RECSTATE = Path(sys.executable).parent / "recstate"


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """``redis+cluster://127.0.0.1:<port of one node>`` (no prefix)."""
    with redis_cluster(3) as ports:
        yield f"redis+cluster://127.0.0.1:{ports[0]}"


@pytest.fixture
def url(cluster: str) -> Iterator[str]:
    url = f"{cluster}?prefix=cl-{uuid.uuid4().hex}"
    yield url
    store = RedisStore(url)
    store.drop()
    store.close()


def snap(key: str, state: str, due: float | None = None) -> dict[str, object]:
    timers = [] if due is None else [{"session": key, "name": "t", "due": due,
                                      "payload": None, "every": None, "seq": 1}]
    return {"key": key, "vendor": "testv", "machine": "testv.Phone", "state": state,
            "recording": "idle", "context": {}, "files": [], "timers": timers}


def test_a_partition_is_one_slot_and_partitions_spread_over_the_nodes(url: str) -> None:
    store = open_store(url, journal=True)
    assert isinstance(store, RedisStore)
    assert store.cluster
    r = store.redis
    for p in range(store.partitions):  # a commit of every partition, written by the cluster
        key = f"s{p}"
        store.commit(Commit(session=key, snapshot=snap(key, "idle", due=10.0 + p),
                            partition=p, applied=[f"#{p}"], journal=[(p, b"{}")],
                            shared=[("testv.Phone", f"busy\x1f{key}", key)], meta={"m": p}))
        slots = {r.keyslot(k) for k in store._script_args(
            Commit(session=key, snapshot=snap(key, "idle"), partition=p), (p, "0-1"))[0]}
        assert len(slots) == 1, f"partition {p}'s commit touches slots {slots}"
    nodes = {r.get_node_from_key(store.pk(p, "s", "x")).port for p in range(store.partitions)}
    assert len(nodes) == 3  # 16 partitions' slots fall on every node of the three
    loaded = store.load()
    assert [row.key for row in loaded.sessions] == sorted(f"s{p}" for p in range(16))
    assert loaded.shared == {"testv.Phone": {"busy": {f"s{p}": f"s{p}" for p in range(16)}}}
    assert store.journal_length() == 16
    assert [line for line, _ in store.journal()] == list(range(16))  # in writing order
    # due timers: claimed with their sessions' rows (the claim scripts read the sessions of
    # the members they find, keys not in KEYS but in the partition's slot: the node runs it)
    trips = store.round_trips
    claims = store.claim_due_all(12.5, 100.0)
    assert [(c.partition, c.key) for c in claims] == [(0, "s0"), (1, "s1"), (2, "s2")]
    assert store.round_trips == trips + 1 + 3  # one pipelined look, a claim a partition due
    assert [c.row for c in claims] == [store.get(f"s{p}", p) for p in range(3)]
    assert store.next_seen == 13.0  # s3's due time: nothing more to look at to know it
    store.close()


def test_a_group_spanning_partitions_is_refused_on_a_cluster(url: str) -> None:
    store = RedisStore(url)
    with pytest.raises(StoreError, match="spans partitions"):
        store.commit_many([Commit(session="a", snapshot=snap("a", "idle"), partition=1),
                           Commit(session="b", snapshot=snap("b", "idle"), partition=2)])
    assert store.keys() == []
    store.close()


@pytest.mark.parametrize("trace", TRACES, ids=[t.stem for t in TRACES])
def test_a_replay_on_the_cluster_gives_the_report_in_memory(trace: Path, url: str) -> None:
    want = replay(trace).dumps()
    assert replay(trace, store=url).dumps() == want
    assert replay(trace, store=url).dumps() == want  # again: resumes at the end


def test_workers_on_the_cluster_give_the_single_process_report(url: str,
                                                               tmp_path: Path) -> None:
    trace = write_mixed(tmp_path / "mixed.jsonl", sessions=6, minutes=15)
    want = subprocess.run([str(RECSTATE), "replay", "--json", str(trace)],
                          capture_output=True, text=True, check=True).stdout
    got = subprocess.run([str(RECSTATE), "replay", "--json", str(trace), "--store", url,
                          "--workers", "2"], capture_output=True, text=True, check=False)
    assert got.returncode == 0, got.stderr
    assert got.stdout == want


def test_an_older_key_layout_is_refused_with_what_to_do() -> None:
    prefix = f"old-{uuid.uuid4().hex}"
    old = RedisStore(f"redis://127.0.0.1:6379/0?prefix={prefix}")
    old.redis.hdel(f"{prefix}:config", "layout")  # as the untagged layout left it
    old.close()
    try:
        with pytest.raises(StoreError, match=r"older recstate \(key layout 1.*another prefix"):
            RedisStore(f"redis://127.0.0.1:6379/0?prefix={prefix}")
    finally:
        import redis

        redis.Redis().delete(f"{prefix}:config")


def test_a_serve_fleet_on_the_cluster_refuses_a_busy_user_and_fires_timers_once(
        url: str) -> None:
    from contextlib import ExitStack

    from test_serve_fleet import (
        ROOM_A,
        ROOM_B,
        START,
        T0,
        A,
        B,
        busy_refusals,
        enter,
        ev,
        fired,
        fleet,
        post,
        recordings,
        start,
        states,
        stored,
    )
    with ExitStack() as stack:
        p1, p2 = fleet(url, 2, stack)
        post(p1, enter(T0, A, ROOM_A))
        post(p2, enter(T0, B, ROOM_B))
        post(p1, start(T0 + 1, A, ROOM_A))
        post(p1, ev(T0 + 1, A, f"{START}:ok", {}))
        post(p2, start(T0 + 1, B, ROOM_B))  # p2 never saw A start
        assert busy_refusals(p2) == 1
        assert states(p2) == {A: "recording", B: "idle"}
        for i, body in enumerate(recordings(40)):
            post((p1, p2)[i % 2], body)
        p1.post("/clock", json={"to": T0 + 100})
        p2.post("/clock", json={"to": T0 + 100})
        assert fired(p1) + fired(p2) == 41  # the 40 recordings' watchdogs and A's
    got = stored(url)
    assert {k: v for k, v in got.items() if k not in (A, B)} == {
        f"2000:{i}:u{i}": ("stopped", 4) for i in range(40)}
    assert got[A] == ("stopped", 4)


def test_a_failover_loses_no_commit_and_keeps_every_check() -> None:
    """A primary hands its slots to its replica (``CLUSTER FAILOVER``, run on the replica: it
    takes over once it has everything the primary acknowledged). The same client goes on:
    every session committed before is there at its version, a commit on the partition the
    failover moved goes to the new primary, a stale one is still refused, and timers are
    still claimed once."""
    import redis

    with redis_cluster(3, replicas=1) as ports:
        url = f"redis+cluster://127.0.0.1:{ports[0]}?prefix=fo-{uuid.uuid4().hex}"
        store = RedisStore(url)
        for p in range(store.partitions):
            key = f"s{p}"
            store.commit(Commit(session=key, snapshot=snap(key, "idle", due=10.0 + p),
                                partition=p, applied=[f"#{p}"]))
        primary = store.redis.get_node_from_key(store.pk(0, "s", "s0")).port
        (replica,) = [port for port in ports  # ROLE: slave, its primary's host and port
                      if redis.Redis(port=port).execute_command("ROLE")[:3]
                      == [b"slave", b"127.0.0.1", primary]]
        failover(replica)
        assert redis.Redis(port=primary).execute_command("ROLE")[0] == b"slave"
        # the same client: what was committed is all there, at its version
        loaded = store.load()
        assert [(row.key, row.version, row.applied) for row in loaded.sessions] == sorted(
            (f"s{p}", 1, {f"#{p}"}) for p in range(16))
        # partition 0 now lives on the old replica: a commit goes there, a stale one fails
        life = loaded.sessions[0].incarnation  # s0's
        assert store.commit(Commit(session="s0", snapshot=snap("s0", "ringing"), version=1,
                                   incarnation=life, partition=0)) == 2
        with pytest.raises(Conflict):
            store.commit(Commit(session="s0", snapshot=snap("s0", "ended"), version=1,
                                incarnation=life, partition=0))
        assert store.redis.get_node_from_key(store.pk(0, "s", "s0")).port == replica
        row = store.get("s0", 0)
        assert row is not None
        assert (row.version, row.snapshot["state"]) == (2, "ringing")
        # due timers: claimed once, wherever their partition's primary now is
        other = RedisStore(url)
        assert [(c.partition, c.key) for c in store.claim_due_all(12.5, 100.0)] == [
            (1, "s1"), (2, "s2")]
        assert other.claim_due_all(12.5, 100.0) == []
        other.close()
        store.drop()
        store.close()


def failover(replica: int) -> None:
    """``CLUSTER FAILOVER`` on ``replica``, until it is its primary's successor. A manual
    failover the primary does not take up (a replica it has not yet learnt of through the
    cluster bus, just after the cluster was made) is dropped after 5 s (Redis' manual
    failover timeout): it is asked again then, as an operator would. Up to 180 s: on a loaded
    machine an attempt whose election timed out is followed by refused votes (a primary votes
    for a replica of the same primary once every 2 x the node timeout, 30 s by default)."""
    import redis

    client = redis.Redis(port=replica)
    deadline = time.monotonic() + 180
    while True:
        assert client.execute_command("CLUSTER FAILOVER")
        asked = time.monotonic()
        while time.monotonic() < asked + 6:
            if client.execute_command("ROLE")[0] == b"master":
                client.close()
                return
            time.sleep(0.05)
        assert time.monotonic() < deadline, "the replica did not take over within 180 s"


def test_a_key_made_again_is_another_life_on_the_cluster_too(url: str) -> None:
    """ABA on a cluster (the freshness read there is two pipelines, not the FRESH script):
    process A holds s at version 2; process B deletes it, makes it again and brings it to
    version 2. A's read takes the new life; A's commit and delete on its copy are refused;
    the incarnation counter is the partition's (its hash tag: the commit's slot)."""
    a, b = RedisStore(url), RedisStore(url)
    p = 5
    first = Commit(session="s", snapshot=snap("s", "idle"), partition=p)
    a.commit(first)
    a.commit(Commit(session="s", snapshot=snap("s", "busy"), version=1,
                    incarnation=first.incarnation, partition=p))
    held = (2, first.incarnation)
    b.commit(Commit(session="s", delete=True, version=2, incarnation=first.incarnation,
                    partition=p))
    second = Commit(session="s", snapshot=snap("s", "idle"), partition=p)
    b.commit(second)
    b.commit(Commit(session="s", snapshot=snap("s", "again"), version=1,
                    incarnation=second.incarnation, partition=p))
    assert second.incarnation != first.incarnation
    moved = a.fresh({"s": held}, {"s": p})
    assert moved["s"] is not None
    assert (moved["s"].held, moved["s"].snapshot["state"]) == (
        (2, second.incarnation), "again")
    with pytest.raises(Conflict):
        a.commit(Commit(session="s", snapshot=snap("s", "late"), version=2,
                        incarnation=first.incarnation, partition=p))
    with pytest.raises(Conflict):
        a.commit_many([Commit(session="s", delete=True, version=2,
                              incarnation=first.incarnation, partition=p)])
    row = a.get("s", p)
    assert row is not None
    assert (row.held, row.snapshot["state"]) == ((2, second.incarnation), "again")
    assert a.fresh({"s": row.held}, {"s": p}) == {}
    assert a.redis.keyslot(a.pk(p, "inc")) == a.redis.keyslot(a.pk(p, "s", "s"))
    a.close()
    b.close()
