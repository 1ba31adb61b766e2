"""What a durable runtime writes, and when: a group commit writes each session once, with the
state its last handling left and a version moved by its handlings; a session closed or
retired is deleted from the store (SQLite and the real Redis), so a service that runs for a
month keeps only the sessions it has not retired.

Expected values come from the Tencent documents (002 §6: the server ends a recording 1
minute after its last data, so the watchdog is due 60 s after each heartbeat) and from the
retention rule of issue 10 (a finished session leaves after ``retention`` seconds)."""

from __future__ import annotations

import glob
import sqlite3
import types
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from recstate.clock import ManualClock
from recstate.events import converter
from recstate.events.tencent import (
    EnterRoom,
    MediaData,
    RecordParam,
    RoomInfo,
    StartOk,
    StartRecording,
)
from recstate.replay import replay
from recstate.runtime import Runtime
from recstate.session import _unstructure
from recstate.stores import Conflict, SQLiteStore, Store, StoreError
from recstate.stores.redis import RedisStore

T0 = 1_700_000_000.0
ROOT = Path(__file__).resolve().parent.parent


def key(i: int) -> str:
    return f"1001:{i}:u{i}"


def start(rt: Runtime, i: int, t: float = T0) -> None:
    """enterRoom, the start request and its start:ok: three handlings."""
    rt.dispatch(EnterRoom(t=t, session=key(i), relationId=1001, roomId=i, user=f"u{i}"))
    rt.dispatch(StartRecording(t=t, session=key(i), roomInfo=RoomInfo(relationId=1001,
                                                                      roomId=i),
                               param=RecordParam(fileName=f"rec-{i}", classId=1)))
    rt.dispatch(StartOk(t=t, session=key(i)))


def statements(store: SQLiteStore) -> list[str]:
    seen: list[str] = []
    store._db.set_trace_callback(seen.append)
    return seen


def test_a_group_writes_a_session_once_with_the_state_its_last_handling_left(
        tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "g.db")
    rt = Runtime(ManualClock(T0), strict=True, store=store)
    rt.group_commits = 8
    sql = statements(store)
    start(rt, 1)
    for beat in range(1, 5):  # 3 + 4 handlings: not yet a group
        rt.advance(T0 + 30 * beat)
        rt.dispatch(MediaData(t=T0 + 30 * beat, session=key(1)))
    assert store.get(key(1)) is None  # nothing is written (nor told) before the group is
    rt.advance(T0 + 150)
    rt.dispatch(MediaData(t=T0 + 150, session=key(1)))  # the 8th handling
    row = store.get(key(1))
    assert row is not None
    assert row.version == 8  # one version per handling
    written = [s for s in sql if "INTO sessions" in s or "UPDATE sessions" in s]
    assert len(written) == 1  # ... in one write of the row
    assert sum(s == "BEGIN IMMEDIATE" for s in sql) == 1
    # the state after the last handling: the watchdog 60 s after the last data, the next
    # file 90 minutes after the start (002 §6)
    assert [(t["name"], t["due"]) for t in row.snapshot["timers"]] == [
        ("watchdog", T0 + 150 + 60), ("rollover", T0 + 90 * 60)]
    assert row.snapshot["context"]["last_data"] == T0 + 150
    assert row.snapshot == rt.snapshot(key(1))


def test_a_group_waits_for_eight_handlings_a_session(tmp_path: Path) -> None:
    """With group commits, a group holds at least 8 handlings per session it touched (each
    session is written once a group: the write is shared by its handlings)."""
    store = SQLiteStore(tmp_path / "g.db")
    rt = Runtime(ManualClock(T0), strict=True, store=store)
    rt.group_commits = 4
    assert rt.group_per_session == 8
    for i in range(3):
        start(rt, i)  # 9 handlings, 3 sessions
    for beat in range(5):
        for i in range(3):
            if (beat, i) != (4, 2):
                rt.dispatch(MediaData(t=T0, session=key(i)))  # 23
    assert store.keys() == []
    rt.dispatch(MediaData(t=T0, session=key(2)))  # 24 = 8 x 3 sessions
    rows = [store.get(k) for k in (key(0), key(1), key(2))]
    assert [row.version if row is not None else None for row in rows] == [8, 8, 8]


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_a_conflict_in_a_group_writes_nothing_of_it(tmp_path: Path, kind: str) -> None:
    """All or nothing: a group in which one session moved under it writes none of its
    sessions, journal rows or anything else (on Redis too, where a MULTI/EXEC would have run
    the other scripts)."""
    prefix = f"groups-{uuid.uuid4().hex}"

    def opened() -> Store:
        if kind == "sqlite":
            return SQLiteStore(tmp_path / "c.db", journal=True)
        return RedisStore(f"redis://127.0.0.1:6379/0?prefix={prefix}", journal=True)

    first, second, reader = opened(), opened(), opened()
    try:
        one = Runtime(ManualClock(T0), store=first)
        two = Runtime(ManualClock(T0), store=second)
        one.group_commits = 100
        start(one, 1)
        start(one, 2)
        start(two, 2)  # another process writes session 2 first
        two.flush_store()
        journal = reader.journal()
        assert {orjson.loads(r)["session"] for _, r in journal} == {key(2)}  # two's
        with pytest.raises(Conflict, match="expected version 0"):
            one.flush_store()
        assert reader.keys() == [key(2)]  # session 1 was in the refused group
        assert reader.get(key(2)).version == 3  # type: ignore[union-attr]
        assert reader.journal() == journal  # nothing of the refused group's records
        assert {o.session for o in reader.load().outbox} <= {key(2)}
    finally:
        if isinstance(reader, RedisStore):
            reader.drop()
        for s in (first, second, reader):
            s.close()


def test_an_older_sqlite_file_is_refused_with_what_to_do(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    db = sqlite3.connect(old)
    db.execute("CREATE TABLE sessions (key TEXT PRIMARY KEY)")
    db.execute("CREATE TABLE journal (seq INTEGER PRIMARY KEY, line INTEGER, record BLOB)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match=r"old\.db was made by another version of recstate "
                       r"\(schema 0, this one reads 3\).*use a new file"):
        SQLiteStore(old)
    SQLiteStore(tmp_path / "new.db").close()
    assert SQLiteStore(tmp_path / "new.db").keys() == []  # a file of this schema reopens


def test_snapshots_encode_every_vendor_context_as_cattrs_does() -> None:
    """The compiled unstructure of a context gives cattrs' own result (values, types, key
    order) for every session of every example trace, all four vendors."""
    seen: set[str] = set()
    for path in sorted(glob.glob(str(ROOT / "examples" / "traces" / "*.jsonl"))):
        runtimes: list[Runtime] = []
        replay(path, skip_bad_lines=True, observe=runtimes.append)
        for rt in runtimes:
            for session in rt:
                ctx = session.context
                want = converter.unstructure(ctx)
                got = _unstructure(type(ctx))(ctx)
                assert orjson.dumps(got) == orjson.dumps(want), (path, session.key)
                assert got == want
                seen.add(session.vendor)
    assert seen == {"tencent", "netease", "juphoon", "cloudroom"}


# ---- retention and close_session delete from the store ------------------------------------
@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = SQLiteStore(tmp_path / "r.db")
        yield s
        s.close()
        return
    r = RedisStore(f"redis://127.0.0.1:6379/0?prefix=groups-{uuid.uuid4().hex}",
                   partitions=4)
    try:
        yield r
    finally:
        r.drop()
        r.close()


def left_of(store: Store, session: str) -> list[str]:
    """What the store still holds of ``session``, wherever it keeps it."""
    if isinstance(store, SQLiteStore):
        db = store._db
        out = [f"sessions:{k}" for (k,) in db.execute(
            "SELECT key FROM sessions WHERE key = ?", (session,))]
        return out + [f"applied:{k}" for (k,) in db.execute(
            "SELECT key FROM applied WHERE session = ?", (session,))]
    assert isinstance(store, RedisStore)
    r = store.redis
    out = [k.decode() for k in r.scan_iter(match=f"{store.prefix}:*:{session}")]
    for p in range(store.partitions):
        if r.sismember(store.pk(p, "sessions"), session):
            out.append(f"sessions:{p}")
        if r.zscore(store.pk(p, "timers"), session) is not None:
            out.append(f"timers:{p}")
    return out


def test_a_retired_session_is_deleted_from_the_store(store: Store, tv: types.SimpleNamespace
                                                     ) -> None:
    rt = Runtime(ManualClock(T0), strict=True, store=store, retention=600)
    rt.dispatch(tv.Dial(number="a", id="dial-a"))
    rt.advance(T0 + 10)
    rt.dispatch(tv.Hangup(session="a"))  # ended at T0 + 10, no timer left
    assert store.get("a").version == 2  # type: ignore[union-attr]
    assert left_of(store, "a")
    rt.advance(T0 + 609)
    assert store.get("a") is not None
    rt.advance(T0 + 610)  # the retention period is over
    assert "a" not in rt.sessions
    assert store.get("a") is None
    assert store.keys() == []
    assert left_of(store, "a") == []  # its row, applied keys, timers and index entries
    # a new session under the same key starts from nothing, in the store too
    rt.dispatch(tv.Dial(number="a", id="dial-a2"))
    assert store.get("a").version == 1  # type: ignore[union-attr]
    again = Runtime(ManualClock(T0 + 700), store=store, retention=600)
    assert [row.key for row in again.recover().sessions] == ["a"]


def test_close_session_deletes_it_from_the_store(store: Store, tv: types.SimpleNamespace
                                                 ) -> None:
    rt = Runtime(ManualClock(T0), strict=True, store=store)
    rt.dispatch(tv.Dial(number="b", id="dial-b"))
    rt.dispatch(tv.Dial(number="c"))
    assert store.keys() == ["b", "c"]
    assert rt.close_session("b") is not None
    assert store.keys() == ["c"]
    assert left_of(store, "b") == []
    fresh = Runtime(ManualClock(T0), store=store)
    assert [(row.key, row.applied) for row in fresh.recover().sessions] == [("c", set())]
    assert list(fresh.sessions) == ["c"]


def test_a_month_of_calls_keeps_only_the_last_hour_in_the_store(
        tmp_path: Path, tv: types.SimpleNamespace) -> None:
    """A call every 20 minutes for 30 days (2,160 sessions), each ended 5 minutes after it
    began, with the default one-hour retention: the store never holds more than the calls
    of the last hour and five minutes (4), and the retired calls' idempotency keys leave
    with them."""
    store = SQLiteStore(tmp_path / "month.db")
    rt = Runtime(ManualClock(T0), store=store, retention=3600)
    most = 0
    for n in range(30 * 72):
        t = T0 + n * 1200
        rt.advance(t)
        rt.dispatch(tv.Dial(number=f"call-{n}", id=f"dial-{n}"))
        most = max(most, len(store.keys()))
        rt.advance(t + 300)
        rt.dispatch(tv.Hangup(session=f"call-{n}"))
        most = max(most, len(store.keys()))
    assert most == 4  # calls n-3..n when call n is dialled; n-3 retires 3,900 s after it began
    rt.advance(T0 + 2159 * 1200 + 300 + 3599)  # a second before the last call retires
    assert store.keys() == ["call-2159"]
    assert store._db.execute("SELECT key FROM applied").fetchall() == [("dial-2159",)]


def test_a_group_is_written_at_its_stretch_whatever_its_sessions(tmp_path: Path) -> None:
    """A group waits for 8 handlings per session it touched, but never for more than
    ``group_commits`` x GROUP_STRETCH (8) handlings: with 3 sessions and groups of 2, the
    16th handling writes it (24 would be 8 per session)."""
    store = SQLiteStore(tmp_path / "g.db")
    rt = Runtime(ManualClock(T0), strict=True, store=store)
    rt.group_commits = 2
    for i in range(3):
        start(rt, i)  # 9 handlings
    for n in range(6):
        rt.dispatch(MediaData(t=T0, session=key(n % 3)))  # 15
    assert store.keys() == []
    rt.dispatch(MediaData(t=T0, session=key(0)))  # the 16th
    assert [store.get(key(i)).version for i in range(3)] == [6, 5, 5]  # type: ignore[union-attr]
