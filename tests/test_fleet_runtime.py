"""The runtime's side of a ``serve`` fleet, in one test process: two runtimes ("processes")
on one real Redis prefix, each with its own client, as two ``serve`` processes are.

Tencent allows one recording per user at a time across rooms (002 §2: 30000415
"用户正在录制") and closes a recording that gets no data for 60 s (002 §6). A runtime's
busy-users index is a cache: a commit whose handling read an entry another runtime changed is
refused whole (``SharedConflict``), the runtime takes the stored values, and the input
handled again decides on them. A runtime keeps no stale session (``freshen``), and in a
fleet fires only the timers of the sessions it was given (``firing``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import generate_latest

from recstate.clock import ManualClock
from recstate.events import parse_event
from recstate.runtime import Runtime
from recstate.serve import Service
from recstate.stores.base import Conflict, SharedConflict, TrackedDict
from recstate.stores.redis import RedisStore
from recstate.trace import Record

T0 = 1_700_000_000.0
START = "requestMultiVideoRecorderStart"
ROOM_A, ROOM_B = {"relationId": 1001, "roomId": 7}, {"relationId": 1001, "roomId": 8}
A, B = "1001:7:alice", "1001:8:alice"
BUSY = "tencent.recorder"


class Process:
    """A runtime on its own client of the prefix, and the notices it committed."""

    def __init__(self, url: str) -> None:
        self.store = RedisStore(url)
        self.notices: list[Any] = []
        self.rt = Runtime(ManualClock(T0), store=self.store, tracer=self._traced)
        self.rt.recover()

    def _traced(self, record: Record) -> None:
        if record.kind == "error" and record.data is not None:
            self.notices.append((record.session, record.data.get("code")))

    def send(self, t: float, key: str, name: str, data: dict[str, Any]) -> None:
        self.rt.dispatch(parse_event("tencent", name, t, data, key))


@pytest.fixture
def url() -> Iterator[str]:
    url = f"redis://127.0.0.1:6379/0?prefix=fleetrt-{uuid.uuid4().hex}"
    yield url
    store = RedisStore(url)
    store.drop()
    store.close()


def enter(p: Process, key: str, room: dict[str, int]) -> None:
    p.send(T0, key, "enterRoom", {**room, "roomType": "multi", "user": "alice"})


def start(p: Process, t: float, key: str, room: dict[str, int]) -> None:
    p.send(t, key, START, {"roomInfo": room, "param": {"fileName": f"f{room['roomId']}"}})


def test_a_start_decided_on_a_stale_busy_index_is_refused_whole_and_redone(url: str) -> None:
    p1, p2 = Process(url), Process(url)
    enter(p1, A, ROOM_A)
    enter(p2, B, ROOM_B)
    start(p1, T0 + 1, A, ROOM_A)
    cache = p2.rt.engine(p2.rt.sessions[B].machine).model.shared
    assert isinstance(cache, TrackedDict)
    assert "alice" not in cache.plain().get("busy_users", {})  # p2's cache: alice is free
    with pytest.raises(SharedConflict) as caught:
        start(p2, T0 + 2, B, ROOM_B)
    conflict = caught.value
    assert conflict.current == {(BUSY, "busy_users\x1falice"): A}
    assert conflict.sessions == [B]
    assert conflict.session == B
    # the refusal carries B as stored (Redis' answer), so that taking it back reads nothing
    assert {k: (r.snapshot["state"], r.version) for k, r in conflict.rows.items()
            if r is not None} == {B: ("idle", 1)}
    assert conflict.input  # the input's own handling lost: it is handled again
    shared = p2.rt.engine(p2.rt.sessions[B].machine).model.shared
    assert isinstance(shared, TrackedDict)
    assert shared.plain()["busy_users"]["alice"] == A  # the stored value, taken
    assert (shared.changes, shared.reads) == ([], {})
    assert p2.notices == []  # nothing of the refused handling was told
    row = p2.store.get(B, p2.rt.partition_for(B, "tencent"))
    assert row is not None
    assert (row.snapshot["state"], row.version) == ("idle", 1)  # nothing written
    taken = p2.rt.reload(B)
    assert taken is p2.rt.sessions[B]
    assert taken.state == "idle"
    start(p2, T0 + 2, B, ROOM_B)
    assert p2.notices == [(B, 30000415)]
    assert p2.rt.sessions[B].state == "idle"
    assert p2.store.shared_values([(BUSY, "busy_users\x1falice")]) == {
        (BUSY, "busy_users\x1falice"): A}


def test_freshen_takes_what_another_process_moved_and_nothing_else(url: str) -> None:
    p1, p2 = Process(url), Process(url)
    p1.rt.dispatch(parse_event("tencent", "enterRoom", T0,
                               {**ROOM_A, "roomType": "multi", "user": "alice"}, A,
                               id="enter-1"))
    assert not p1.rt.stale(A)
    trips = p2.store.round_trips
    assert p2.rt.freshen([A], {A: "tencent"}) == [A]  # never seen here
    # its vendor says where it is: one round trip (without, one more to look for it)
    assert p2.store.round_trips == trips + 1
    assert p2.rt.sessions[A].state == "idle"
    assert p2.rt.version(A) == 1
    start(p1, T0 + 1, A, ROOM_A)
    assert p2.rt.stale(A)
    assert p2.rt.freshen([A]) == [A]
    assert (p2.rt.sessions[A].state, p2.rt.version(A)) == ("starting", 2)
    # taken as stored: re-entering it in p2's busy-users cache is nothing for p2 to write
    cache = p2.rt.engine(p2.rt.sessions[A].machine).model.shared
    assert isinstance(cache, TrackedDict)
    assert cache.plain()["busy_users"]["alice"] == A
    assert (cache.changes, cache.reads) == ([], {})
    assert p2.rt.freshen([A]) == []  # as stored: nothing read but the version
    assert not p2.rt.stale(A)
    p1.rt.close_session(A)
    p1.rt.flush_store()
    assert p2.rt.freshen([A]) == [A]  # gone from the store: gone here
    assert A not in p2.rt.sessions
    assert p2.rt.version(A) == 0
    # and so are the inputs it applied: a new session under the key takes that id anew
    p2.rt.dispatch(parse_event("tencent", "enterRoom", T0 + 5,
                               {**ROOM_A, "roomType": "multi", "user": "alice"}, A,
                               id="enter-1"))
    assert (A, "duplicate") not in p2.notices
    assert (p2.rt.sessions[A].state, p2.rt.version(A)) == ("idle", 1)


def test_in_a_fleet_a_runtime_fires_only_the_timers_it_was_given(url: str) -> None:
    p1, p2 = Process(url), Process(url)
    enter(p1, A, ROOM_A)
    start(p1, T0 + 1, A, ROOM_A)
    p1.send(T0 + 2, A, f"{START}:ok", {})
    p2.rt.freshen([A], {A: "tencent"})
    assert p2.rt.sessions[A].state == "recording"
    p2.rt.firing = set()  # not given A: its watchdog (T0 + 62) is not p2's to fire
    assert isinstance(p2.rt.clock, ManualClock)
    p2.rt.clock.set(T0 + 100)
    p2.rt.run_due()
    assert A not in p2.rt.sessions  # evicted: the store has it
    assert p2.rt.version(A) == 0
    assert p2.rt.fired == {}
    p1.rt.firing = {A}
    assert isinstance(p1.rt.clock, ManualClock)
    p1.rt.clock.set(T0 + 100)
    p1.rt.run_due()
    assert p1.rt.fired == {"watchdog": 1}
    assert p1.rt.sessions[A].state == "stopped"
    row = p1.store.get(A)
    assert row is not None
    assert (row.snapshot["state"], row.version) == ("stopped", 4)
    assert (A, "no-data") in p1.notices
    assert p2.rt.freshen([A], {A: "tencent"}) == [A]  # the next input takes it from there
    assert p2.rt.sessions[A].state == "stopped"


def test_a_timer_fired_by_two_processes_commits_once(url: str) -> None:
    p1, p2 = Process(url), Process(url)
    enter(p1, A, ROOM_A)
    start(p1, T0 + 1, A, ROOM_A)
    p1.send(T0 + 2, A, f"{START}:ok", {})
    p2.rt.freshen([A], {A: "tencent"})
    for p in (p1, p2):
        p.rt.firing = {A}
        assert isinstance(p.rt.clock, ManualClock)
        p.rt.clock.set(T0 + 100)
    p1.rt.run_due()
    with pytest.raises(Conflict) as caught:  # p2 fired the same watchdog: refused
        p2.rt.run_due()
    assert caught.value.session == A
    assert not caught.value.input  # a timer's handling lost, not an input's
    assert p2.rt.fired == {}
    p2.rt.reload(A)
    p2.rt.run_due()  # nothing left to fire: the stored session has no watchdog
    assert p2.rt.fired == {}
    assert p1.rt.fired == {"watchdog": 1}
    row = p1.store.get(A)
    assert row is not None
    assert row.version == 4


def test_a_session_is_kept_in_its_users_partition(url: str) -> None:
    """Tencent partitions by user (a user records once across rooms: 002 §2), so a user's
    sessions in every room are in one partition, found from the key and vendor alone
    (``partition_for``: where a process reads a session it does not hold), and written
    there."""
    store = RedisStore(f"{url}&partitions=2")
    rt = Runtime(ManualClock(T0), store=store)
    rt.recover()
    where = {user: rt.partition_for(f"1001:7:{user}", "tencent")
             for user in ("alice", "bob", "carol", "dave")}
    assert where == {"alice": 1, "bob": 0, "carol": 1, "dave": 0}  # CRC-32 of the user, mod 2
    assert rt.partition_for("1001:8:alice", "tencent") == where["alice"]
    rt.dispatch(parse_event("tencent", "enterRoom", T0, {**ROOM_A, "roomType": "multi",
                                                        "user": "alice"}, A))
    assert store.get(A, partition=1) is not None
    assert store.get(A, partition=0) is None


def test_a_store_of_one_partition_keeps_every_session_in_it(url: str) -> None:
    """``partitions=1``: every session is in partition 0, where a recovering runtime reads."""
    one = f"{url}&partitions=1"
    rt = Runtime(ManualClock(T0), store=RedisStore(one))
    rt.recover()
    rt.dispatch(parse_event("tencent", "enterRoom", T0, {**ROOM_A, "roomType": "multi",
                                                        "user": "alice"}, A))
    assert rt.partition_for(A, "tencent") == 0
    again = Runtime(ManualClock(T0), store=RedisStore(one))
    loaded = again.recover()
    assert [row.key for row in loaded.sessions] == [A]
    assert again.sessions[A].state == rt.sessions[A].state


STOP = "requestMultiVideoRecorderStop"


def test_a_retirement_deletes_only_the_session_as_its_process_saw_it(url: str) -> None:
    """A fleet's retention runs in the process that saw the session finish. If another
    process has revived the session since (a new recording in the room), that process's
    retirement must not delete it: the delete is version-checked, refused (Conflict,
    nothing deleted), and the serve process takes the session back from the store."""
    svc = Service(RedisStore(url), clock=ManualClock(T0))
    svc.runtime.retention = 100.0
    p2 = Process(url)
    p2.rt.retention = 100.0
    for t, name, data in ((T0, "enterRoom", {**ROOM_A, "roomType": "multi", "user": "alice"}),
                          (T0 + 1, START, {"roomInfo": ROOM_A, "param": {"fileName": "f"}}),
                          (T0 + 2, f"{START}:ok", {}), (T0 + 3, STOP, {"roomInfo": ROOM_A}),
                          (T0 + 4, f"{STOP}:ok", {})):
        svc.handle(parse_event("tencent", name, t, data, A))
    assert (svc.runtime.sessions[A].state, svc.runtime.version(A)) == ("stopped", 5)
    # process 2 revives it: a new recording in room A
    assert p2.rt.freshen([A], {A: "tencent"}) == [A]
    assert isinstance(p2.rt.clock, ManualClock)
    p2.rt.clock.set(T0 + 90)  # within its own retention period of what it took (T0 + 100)
    start(p2, T0 + 90, A, ROOM_A)
    assert p2.rt.version(A) == 6
    assert isinstance(svc.clock, ManualClock)
    svc.clock.set(T0 + 110)  # process 1's retention period of its copy is over
    svc.run_due()  # its retirement's delete is refused: the session is taken back
    assert metric(svc, 'recstate_conflicts_total{kind="version"}') == 1
    assert (svc.runtime.sessions[A].state, svc.runtime.version(A)) == ("starting", 6)
    row = p2.store.get(A)
    assert row is not None
    assert (row.snapshot["state"], row.version) == ("starting", 6)  # nothing deleted
    assert p2.store.keys() == [A]
    # finished again via process 2, and retired by it: its delete has the stored version
    p2.send(T0 + 91, A, f"{START}:ok", {})
    p2.send(T0 + 92, A, STOP, {"roomInfo": ROOM_A})
    p2.send(T0 + 93, A, f"{STOP}:ok", {})
    assert (p2.rt.sessions[A].state, p2.rt.version(A)) == ("stopped", 9)
    p2.rt.clock.set(T0 + 300)
    p2.rt.run_due()
    assert A not in p2.rt.sessions
    assert p2.store.get(A) is None
    assert p2.store.keys() == []


def metric(svc: Service, name: str) -> float:
    for line in generate_latest(svc.metrics.registry).decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def test_a_fleet_timer_task_wakes_for_the_stores_deadlines_not_a_stale_copys(
        url: str) -> None:
    """Process 1 handled the start (its answer deadline, T0 + 30), process 2 the start:ok
    (the answer deadline cancelled, the watchdog armed: T0 + 60). Process 1's copy still
    holds the gone deadline: its timer task must look again at the store's T0 + 60, and an
    input of another session must not wake it for T0 + 30 (each wake is a claim pass, a
    round trip that fires nothing)."""
    s1, s2 = Service(RedisStore(url), clock=ManualClock(T0)), Service(
        RedisStore(url), clock=ManualClock(T0))
    s1.handle(parse_event("tencent", "enterRoom", T0, {**ROOM_A, "roomType": "multi",
                                                       "user": "alice"}, A))
    s1.handle(parse_event("tencent", START, T0, {"roomInfo": ROOM_A,
                                                 "param": {"fileName": "f"}}, A))
    s2.handle(parse_event("tencent", f"{START}:ok", T0, {}, A))
    assert s1.runtime.next_deadline() == T0 + 30  # process 1's stale copy
    trips = s1.store.round_trips  # type: ignore[attr-defined]
    assert s1.fleet_pass() == T0 + 60  # the store's watchdog
    assert s1.store.round_trips == trips + 1  # type: ignore[attr-defined]  # one claim
    s1._asleep_until = T0 + 60  # the timer task sleeps until then
    s1._wake.clear()
    s1.handle(parse_event("tencent", "enterRoom", T0, {**ROOM_B, "roomType": "multi",
                                                       "user": "bob"}, "1001:8:bob"))
    assert not s1._wake.is_set()  # B armed nothing; A's stale deadline wakes nothing
    s1.handle(parse_event("tencent", START, T0, {"roomInfo": ROOM_B,
                                                 "param": {"fileName": "g"}}, "1001:8:bob"))
    assert s1._wake.is_set()  # B's answer deadline (T0 + 30) is before T0 + 60


def test_a_lost_shared_race_costs_one_more_commit_and_no_read(url: str) -> None:
    """Alice stops in room A via process 1 and starts in room B via process 2, whose cache
    still says she records in A: the start is refused locally, on a stale entry; the
    commit is refused (the entry moved), and its answer carries the stored entry and B's
    stored row, so the start handled again costs one more commit and no read: the request
    is 3 round trips (the freshness read, the refused commit, the commit)."""
    s1, s2 = Service(RedisStore(url), clock=ManualClock(T0)), Service(
        RedisStore(url), clock=ManualClock(T0))
    for t, name, data in ((T0, "enterRoom", {**ROOM_A, "roomType": "multi", "user": "alice"}),
                          (T0, START, {"roomInfo": ROOM_A, "param": {"fileName": "f"}}),
                          (T0, f"{START}:ok", {})):
        s1.handle(parse_event("tencent", name, t, data, A))
    s2.handle(parse_event("tencent", "enterRoom", T0, {**ROOM_B, "roomType": "multi",
                                                       "user": "alice"}, B))
    s2.freshen([parse_event("tencent", "mediaData", T0, None, A)])  # takes A: busy here
    s1.handle(parse_event("tencent", STOP, T0 + 1, {"roomInfo": ROOM_A}, A))
    s1.handle(parse_event("tencent", f"{STOP}:ok", T0 + 1, {}, A))
    trips = s2.store.round_trips  # type: ignore[attr-defined]
    ev = parse_event("tencent", START, T0 + 2, {"roomInfo": ROOM_B,
                                                "param": {"fileName": "g"}}, B)
    s2.freshen([ev])
    s2.handle(ev, fresh=True)
    assert s2.store.round_trips == trips + 3  # type: ignore[attr-defined]
    assert metric(s2, 'recstate_conflicts_total{kind="shared"}') == 1
    assert s2.runtime.sessions[B].state == "starting"
    assert metric(s2, 'recstate_errors_total{code="30000415",vendor="tencent"}') == 0


def test_a_lone_timer_costs_its_claim_and_its_commit_the_claim_carrying_the_moved_session(
        url: str) -> None:
    """Process 1 handled the start and its answer (its copy's watchdog: T0 + 60), process 2
    a heartbeat since (the stored watchdog: T0 + 70, the stored version one more). Process
    1's pass at T0 + 71 claims A, takes it from the claim's answer (no read of its own),
    fires the stored watchdog and commits: 2 round trips, and no race lost (a stale copy
    fired would have lost one: a refused commit, a read, a commit again)."""
    s1, s2 = Service(RedisStore(url), clock=ManualClock(T0)), Service(
        RedisStore(url), clock=ManualClock(T0))
    for t, name, data in ((T0, "enterRoom", {**ROOM_A, "roomType": "multi", "user": "alice"}),
                          (T0 + 1, START, {"roomInfo": ROOM_A, "param": {"fileName": "f"}}),
                          (T0 + 2, f"{START}:ok", {})):
        s1.handle(parse_event("tencent", name, t, data, A))
    assert isinstance(s2.clock, ManualClock)
    s2.clock.set(T0 + 10)
    s2.handle(parse_event("tencent", "mediaData", T0 + 10, None, A))
    assert (s1.runtime.version(A), s2.runtime.version(A)) == (3, 4)
    assert s1.runtime.next_deadline() == T0 + 60  # process 1's stale copy
    assert isinstance(s1.clock, ManualClock)
    s1.clock.set(T0 + 71)
    trips = s1.store.round_trips  # type: ignore[attr-defined]
    s1.fleet_pass()
    assert s1.store.round_trips == trips + 2  # type: ignore[attr-defined]
    assert s1.runtime.fired == {"watchdog": 1}
    assert metric(s1, 'recstate_conflicts_total{kind="version"}') == 0
    row = s2.store.get(A)
    assert row is not None
    assert (row.snapshot["state"], row.version) == ("stopped", 5)
    s2.clock.set(T0 + 71)
    s2.fleet_pass()
    assert s2.runtime.fired == {}  # fired once: nothing left for process 2


def test_a_requests_read_looks_at_the_timers_so_the_timer_task_makes_no_idle_pass(
        url: str) -> None:
    """A request's freshness read, when the last look at the store's timers is half
    FLEET_WAKE old, also looks at them (in its one round trip): the timer task, waking at
    the end of its sleep or woken by an input, then knows the store's next due time without
    a pass of its own, and wakes for a deadline this process committed after that look
    too. A look FLEET_WAKE old, or one that saw a timer due, is a pass again."""
    p2 = Process(url)  # another process: A's watchdog (T0 + 60) is in the store
    enter(p2, A, ROOM_A)
    start(p2, T0 + 1, A, ROOM_A)
    p2.send(T0 + 2, A, f"{START}:ok", {})
    s = Service(RedisStore(url), clock=ManualClock(T0))
    clock, store = s.clock, s.store
    assert isinstance(clock, ManualClock)
    assert isinstance(store, RedisStore)
    trips = store.round_trips
    assert s.fleet_wake() == T0 + 60  # no look yet: a pass
    assert store.round_trips == trips + 1
    s._asleep_until = T0 + 5  # the timer task sleeps
    clock.set(T0 + 3)  # half FLEET_WAKE after the pass's look
    bob = "1001:8:bob"
    ev = parse_event("tencent", "enterRoom", T0 + 3, {**ROOM_B, "roomType": "multi",
                                                      "user": "bob"}, bob)
    trips = store.round_trips
    s.freshen([ev])
    s.handle(ev, fresh=True)
    assert store.round_trips == trips + 2  # its read (which looked) and its commit
    clock.set(T0 + 5)
    s._asleep_until = T0 + 10
    assert s.fleet_wake() == T0 + 60  # what the request's read saw
    assert store.round_trips == trips + 2  # no pass
    s.handle(parse_event("tencent", START, T0 + 5, {"roomInfo": ROOM_B,
                                                    "param": {"fileName": "g"}}, bob))
    assert not s._wake.is_set()  # its answer deadline (T0 + 35) is after the sleep's end
    trips = store.round_trips
    assert s.fleet_wake() == T0 + 35  # committed after the look: woken for
    assert store.round_trips == trips
    s._asleep_until = T0 + 4.5  # its sleep is over, the event loop late to wake it
    s.handle(parse_event("tencent", "mediaData", T0 + 5, None, A))  # A's is T0 + 65 now
    assert s._wake.is_set()
    assert s.fleet_wake() == T0 + 35  # a wake, not a pass: the look still says when
    assert store.round_trips == trips + 2  # A's read (taking it here) and its commit
    clock.set(T0 + 8)  # the look is FLEET_WAKE old: a pass
    assert s.fleet_wake() == T0 + 35
    assert store.round_trips == trips + 3
    s._asleep_until = T0 + 13
    clock.set(T0 + 66)  # a read's look now sees the deadlines due: a pass fires them
    ev = parse_event("tencent", "mediaData", T0 + 66, None, bob)
    s.freshen([ev])
    s.handle(ev, fresh=True)
    assert s.runtime.fired.get("watchdog", 0) == 0
    s.fleet_wake()
    assert s.runtime.fired["watchdog"] == 1  # A's, by the pass
    row = store.get(A)
    assert row is not None
    assert row.snapshot["state"] == "stopped"


def test_a_session_closed_or_evicted_leaves_nothing_of_it_behind(url: str) -> None:
    """A service runs for months: what a process keeps per session (its version,
    incarnation, applied keys, delivery mark, and its partition, worked out once) goes
    when the session is closed or evicted, or the process grows with every session it
    ever saw."""
    store = RedisStore(f"{url}&partitions=2")
    rt = Runtime(ManualClock(T0), store=store)
    rt.recover()
    for key, room in ((A, ROOM_A), (B, ROOM_B)):
        rt.dispatch(parse_event("tencent", "enterRoom", T0, {**room, "roomType": "multi",
                                                            "user": "alice"}, key))
    rt.flush_store()
    kept = (rt._versions, rt._incarnations, rt._partition_cache)
    assert all(A in d and B in d for d in kept)
    rt.close_session(A)
    rt.flush_store()
    rt.evict(B)
    assert [d for d in (*kept, rt._applied, rt._delivered) if A in d or B in d] == []
    assert rt.held(A) == rt.held(B) == (0, 0)
    assert store.get(A, partition=1) is None  # A deleted; B left in the store as it was
    assert store.get(B, partition=1) is not None
