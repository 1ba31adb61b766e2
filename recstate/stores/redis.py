"""RedisStore: many workers on one Redis, on Redis' own primitives.

Layout under ``prefix`` (``P``), with sessions spread over a fixed number of partitions
(``P:config`` keeps the count, so every worker agrees):

- ``P:s:<key>``: hash ``snap`` (the snapshot, JSON) and ``v`` (its version);
  ``P:a:<key>``: set of applied idempotency keys (``P:a:`` for inputs that reached none);
  ``P:sessions:<p>``: set of the partition's session keys.
- ``P:timers:<p>``: sorted set, member a session, score its next due time. Workers claim due
  members atomically (:meth:`RedisStore.claim_due` moves the score to a lease deadline, so a
  claim whose worker dies comes due again).
- ``P:ob:<p>``: hash, the partition's outbox (command id -> row).
- ``P:shared:<machine>``: hash, path -> value, a machine's shared indexes.
- ``P:meta``: hash, runtime metadata (each partition's clock ``clock:<p>``, a replay's
  cursor); ``P:journal``: list, what handlings produced (replay); ``P:deliveries``: hash,
  delayed deliveries armed and not yet handled (simulators' answers).
- ``P:in:<p>``: stream of inputs, consumed through the consumer group ``recstate``;
  ``P:lease:<p>``: the worker owning the partition, with an expiry (SET PX).

Every handled input is ONE script call (:data:`COMMIT`): the session's snapshot is written
only if its version is still the one read (optimistic), together with its next due time,
outbox rows, idempotency key, shared-index changes, metadata, journal rows and the stream
entry's acknowledgement. One round trip per handling; none to read while the worker owns
the partition (its sessions are in its memory, their versions known).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from recstate.stores.base import (
    ABSENT,
    DELETED,
    Commit,
    Conflict,
    Loaded,
    OutboxRow,
    SessionRow,
    SharedConflict,
    StoreError,
    apply_changes,
    partition_of,
)

__all__ = ["GROUP", "RedisStore", "partition_of"]

GROUP = "recstate"
DEFAULT_PARTITIONS = 16

#: KEYS: 1 session hash, 2 applied set, 3 timers zset, 4 outbox hash, 5 partition's
#: sessions set, 6 meta hash, 7 journal list, 8 delayed deliveries hash.
#: ARGV: 1 expected version, 2 snapshot or "", 3 idempotency keys ("\x1f"-joined) or "",
#: 4 next due or "",
#: 5 session key, 6 JSON of the rest, 7 delivery mark (trace line) or "", 8 handlings (the
#: version moves by as many), 9 "1" to delete the session first (closed or retired),
#: 10 the shared entries the handling read, JSON [[hash, path, JSON seen or "" (absent)]],
#: or "": ``check`` returns their stored values if one differs (nothing may be written).
#: One handling's (or one session's group) write, as a Lua function of its KEYS and ARGV.
_APPLY = """
local function check(A)
  if A[10] == '' then return nil end
  local cur, bad = {}, false
  for i, r in ipairs(cjson.decode(A[10])) do
    local v = redis.call('HGET', r[1], r[2]) or ''
    cur[i] = v
    if v ~= r[3] then bad = true end
  end
  if bad then return cur end
  return nil
end
local function apply(K, A)
  local newv = 0
  if A[9] == '1' then
    redis.call('DEL', K[1], K[2])
    redis.call('SREM', K[5], A[5])
    redis.call('ZREM', K[3], A[5])
  end
  if A[2] ~= '' then
    local cur = redis.call('HGET', K[1], 'v')
    cur = cur and tonumber(cur) or 0
    if cur ~= tonumber(A[1]) then return {-1, cur} end
    newv = cur + tonumber(A[8])
    redis.call('HSET', K[1], 'snap', A[2], 'v', newv)
    if A[7] ~= '' then redis.call('HSET', K[1], 'd', A[7]) end
    redis.call('SADD', K[5], A[5])
    if A[4] ~= '' then
      redis.call('ZADD', K[3], A[4], A[5])
    else
      redis.call('ZREM', K[3], A[5])
    end
  end
  if A[2] == '' and A[7] ~= '' then
    local d = redis.call('HGET', K[6], 'delivered')
    if (not d) or tonumber(d) < tonumber(A[7]) then
      redis.call('HSET', K[6], 'delivered', A[7])
    end
  end
  if A[3] ~= '' then
    for k in string.gmatch(A[3], '[^\\31]+') do redis.call('SADD', K[2], k) end
  end
  if A[6] ~= '' then
    local rest = cjson.decode(A[6])
    for _, o in ipairs(rest.o or {}) do redis.call('HSET', K[4], o[1], o[2]) end
    for _, i in ipairs(rest.x or {}) do redis.call('HDEL', K[4], i) end
    for _, c in ipairs(rest.sh or {}) do
      if c[3] == false then
        redis.call('HDEL', c[1], c[2])
      else
        redis.call('HSET', c[1], c[2], c[3])
      end
    end
    for _, m in ipairs(rest.m or {}) do redis.call('HSET', K[6], m[1], m[2]) end
    for _, j in ipairs(rest.j or {}) do redis.call('RPUSH', K[7], j) end
    for _, d in ipairs(rest.dl or {}) do redis.call('HSET', K[8], d[1], d[2]) end
    for _, n in ipairs(rest.dx or {}) do redis.call('HDEL', K[8], n) end
    if rest.ack then redis.call('XACK', rest.ack[1], rest.ack[2], rest.ack[3]) end
  end
  return {newv, 0}
end
"""

COMMIT = _APPLY + """
local cur = check(ARGV)
if cur then return {-2, 0, unpack(cur)} end
return apply(KEYS, ARGV)
"""

#: A group's commits in ONE script: every version is checked first (a session deleted then
#: made again in the group counts from 0), and if one moved nothing is written; otherwise
#: each is applied in order. KEYS and ARGV: each commit's 8 keys and 10 arguments in turn.
#: Returns each commit's new version, or {-1, found, index} for the first that conflicts,
#: or {-2, index, stored values...} for the first whose shared entries read were changed.
COMMIT_MANY = _APPLY + """
local n = #KEYS / 8
local seen = {}
for i = 0, n - 1 do
  local key, a = ARGV[i * 10 + 5], i * 10
  if ARGV[a + 10] ~= '' then
    local r = {}
    r[10] = ARGV[a + 10]
    local cur = check(r)
    if cur then return {-2, i, unpack(cur)} end
  end
  if ARGV[a + 9] == '1' then seen[key] = 0 end
  if ARGV[a + 2] ~= '' then
    local cur = seen[key]
    if cur == nil then
      cur = redis.call('HGET', KEYS[i * 8 + 1], 'v')
      cur = cur and tonumber(cur) or 0
    end
    if cur ~= tonumber(ARGV[a + 1]) then return {-1, cur, i} end
    seen[key] = cur + tonumber(ARGV[a + 8])
  end
end
local out = {}
for i = 0, n - 1 do
  local k, a = {}, {}
  for j = 1, 8 do k[j] = KEYS[i * 8 + j] end
  for j = 1, 10 do a[j] = ARGV[i * 10 + j] end
  out[i + 1] = apply(k, a)[1]
end
return out
"""

#: Due members of a timers zset, their scores moved to a lease deadline (atomically: one
#: worker claims each). KEYS: 1 zset. ARGV: 1 now, 2 lease deadline, 3 limit.
CLAIM_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, m in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[2], m) end
return due
"""

#: A session as stored if its version is not the one a process holds (a serve process's
#: read before handling): {} when it is, {0} when the session is not stored (and was
#: held), else {version, snapshot, delivery mark, applied keys...}. KEYS: 1 session hash,
#: 2 applied set (one slot: the session's). ARGV: 1 the version held.
FRESH = """
local got = redis.call('HMGET', KEYS[1], 'v', 'snap', 'd')
local v = got[1] and tonumber(got[1]) or 0
if v == tonumber(ARGV[1]) then return {} end
if not got[1] then return {0} end
local out = {v, got[2], got[3] or '0'}
for _, a in ipairs(redis.call('SMEMBERS', KEYS[2])) do out[#out + 1] = a end
return out
"""

#: Give a claim back (the claimer fired what was due, or found nothing to fire): the
#: member's score goes back to the session's next due time (none: removed), unless it is no
#: longer the claim's deadline (a commit already set it). KEYS: 1 zset. ARGV: 1 member,
#: 2 the claim's deadline, 3 next due or "".
UNCLAIM = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (not score) or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] == '' then redis.call('ZREM', KEYS[1], ARGV[1])
else redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1]) end
return 1
"""

#: Take or renew a partition's lease: free, expired, or already ours. KEYS: 1 lease.
#: ARGV: 1 worker id, 2 ttl ms.
ACQUIRE = """
local owner = redis.call('GET', KEYS[1])
if owner == false or owner == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisStore:
    """A store on Redis (redis-py). ``url``: ``redis://host:port/db?prefix=...``."""

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", *, prefix: str | None = None,
                 partitions: int | None = None, journal: bool = False) -> None:
        try:
            import redis
        except ImportError:  # pragma: no cover - the redis extra is not installed
            raise StoreError("the redis store needs redis-py: pip install 'recstate[redis]'"
                             ) from None
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        self.prefix = prefix or query.get("prefix", ["recstate"])[0]
        self.url = parts._replace(query="").geturl()
        self.journal_enabled = journal
        # Any: redis-py types every reply as bytes | str; this client always gets bytes.
        self.redis: Any = redis.Redis.from_url(self.url)
        self._redis_error = redis.RedisError
        try:
            self.redis.ping()
        except redis.RedisError as exc:
            raise StoreError(f"cannot reach the redis store at {self._safe_url()}: {exc}; "
                             "start redis-server or fix the URL") from None
        want = partitions or int(query.get("partitions", [0])[0]) or None
        config_key = f"{self.prefix}:config"
        self.redis.hsetnx(config_key, "partitions", want or DEFAULT_PARTITIONS)
        stored = int(self.redis.hget(config_key, "partitions") or DEFAULT_PARTITIONS)
        if want is not None and want != stored:
            raise StoreError(f"redis store {self.prefix!r} was made with {stored} partitions, "
                             f"not {want}; use the same count (or another prefix)")
        self.partitions = stored
        self._commit = self.redis.register_script(COMMIT)
        self._commit_many = self.redis.register_script(COMMIT_MANY)
        self._claim = self.redis.register_script(CLAIM_DUE)
        self._fresh = self.redis.register_script(FRESH)
        self._unclaim = self.redis.register_script(UNCLAIM)
        #: Requests sent to Redis by the hot paths of this client (a pipeline or a script
        #: call is one): what ``recstate serve`` reports as round trips.
        self.round_trips = 0
        self._acquire = self.redis.register_script(ACQUIRE)
        self._release = self.redis.register_script(RELEASE)

    def _safe_url(self) -> str:
        parts = urlsplit(self.url)
        if parts.password:
            return parts._replace(netloc=f"{parts.username or ''}:***@{parts.hostname}:"
                                  f"{parts.port or 6379}").geturl()
        return self.url

    def k(self, *parts: object) -> str:
        return ":".join((self.prefix, *(str(p) for p in parts)))

    # ---- reading ---------------------------------------------------------------------------
    def load(self, partitions: Iterable[int] | None = None) -> Loaded:
        """Everything (or only the sessions and outboxes of ``partitions``)."""
        r = self.redis
        which = list(range(self.partitions)) if partitions is None else list(partitions)
        keys: list[str] = []
        for p in which:
            keys += sorted(k.decode() for k in r.smembers(self.k("sessions", p)))
        pipe = r.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(self.k("s", key), "snap", "v", "d")
            pipe.smembers(self.k("a", key))
        got = pipe.execute()
        sessions = []
        for i, key in enumerate(keys):
            (snap, v, d), applied = got[2 * i], got[2 * i + 1]
            if snap is not None:
                sessions.append(SessionRow(key, orjson.loads(snap), int(v),
                                           {a.decode() for a in applied}, int(d or 0)))
        outbox = []
        for p in which:
            for raw in r.hvals(self.k("ob", p)):
                outbox.append(OutboxRow.from_dict(orjson.loads(raw)))
        outbox.sort(key=lambda o: (o.t, o.id))
        shared: dict[str, dict[str, Any]] = {}
        for hkey in r.scan_iter(match=self.k("shared", "*"), count=1000):
            machine = hkey.decode()[len(self.k("shared", "")):]
            items = sorted((f.decode(), orjson.loads(v)) for f, v in r.hgetall(hkey).items())
            apply_changes(shared.setdefault(machine, {}), items)
        meta = {k.decode(): orjson.loads(v) for k, v in r.hgetall(self.k("meta")).items()}
        applied = {a.decode() for a in r.smembers(self.k("a", ""))}
        deliveries = sorted((orjson.loads(v) for v in r.hvals(self.k("deliveries"))),
                            key=lambda d: (d["due"], d["seq"]))
        return Loaded(sessions=sessions, applied=applied,
                      delivered=int(meta.pop("delivered", 0)), shared=shared, outbox=outbox,
                      meta=meta, deliveries=deliveries)

    def get(self, key: str) -> SessionRow | None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hmget(self.k("s", key), "snap", "v", "d")
        pipe.smembers(self.k("a", key))
        (snap, v, d), applied = pipe.execute()
        if snap is None:
            return None
        return SessionRow(key, orjson.loads(snap), int(v), {a.decode() for a in applied},
                          int(d or 0))

    def fresh(self, known: Mapping[str, int]) -> dict[str, SessionRow | None]:
        """The sessions of ``known`` whose stored version moved, as stored now (None: gone):
        one round trip (a pipeline of one :data:`FRESH` script call per session, each on its
        own session's keys)."""
        if not known:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        keys = list(known)
        for key in keys:
            self._fresh(keys=[self.k("s", key), self.k("a", key)], args=[known[key]],
                        client=pipe)
        self.round_trips += 1
        out: dict[str, SessionRow | None] = {}
        for key, got in zip(keys, pipe.execute(), strict=True):
            if not got:
                continue
            if len(got) == 1:
                out[key] = None
                continue
            out[key] = SessionRow(key, orjson.loads(got[1]), int(got[0]),
                                  {a.decode() for a in got[3:]}, int(got[2]))
        return out

    def version(self, key: str) -> int:
        """The stored version of ``key`` (0: none), in one read (HMGET: a command the
        scripts never run, so ``INFO commandstats`` counts these reads alone)."""
        got = self.redis.hmget(self.k("s", key), "v")[0]
        return int(got) if got is not None else 0

    def keys(self) -> list[str]:
        pipe = self.redis.pipeline(transaction=False)
        for p in range(self.partitions):
            pipe.smembers(self.k("sessions", p))
        return sorted(k.decode() for members in pipe.execute() for k in members)

    def journal(self) -> list[tuple[int | None, bytes]]:
        rows = self.redis.lrange(self.k("journal"), 0, -1)
        out: list[tuple[int | None, bytes]] = []
        for raw in rows:
            line, _, rec = raw.partition(b"\t")
            out.append((int(line) if line else None, rec))
        return out

    # ---- the one write -----------------------------------------------------------------------
    def commit(self, commit: Commit, *, ack: tuple[int, str] | None = None) -> int:
        """Write ``commit`` in one script call; ``ack``: (partition, stream entry id) to
        acknowledge in the same call."""
        keys, args = self._script_args(commit, ack)
        result = self._commit(keys=keys, args=args)
        self.round_trips += 1
        if int(result[0]) == -2:
            raise self._shared_conflict(commit, result[2:])
        return self._result(commit, result)

    def commit_many(self, commits: Iterable[Commit]) -> list[int]:
        """The commits in one script call: all or nothing (a MULTI/EXEC would run the
        scripts after one whose version check failed), one round trip for the group
        (each snapshot encoded as it comes)."""
        keys: list[str] = []
        args: list[Any] = []
        sent: list[tuple[str | None, int]] = []
        reads: dict[int, list[tuple[str, str, Any]]] = {}
        for commit in commits:
            k, a = self._script_args(commit, None)
            if commit.shared_read:
                reads[len(sent)] = commit.shared_read
            keys += k
            args += a
            sent.append((commit.session, commit.version))
        if not sent:
            return []
        result = self._commit_many(keys=keys, args=args)
        self.round_trips += 1
        if int(result[0]) == -2:
            raise self._shared_conflict(Commit(shared_read=reads[int(result[1])]), result[2:])
        if int(result[0]) < 0 and len(result) == 3 and len(sent) > 0:
            key, version = sent[int(result[2])]
            raise Conflict(key or "", version, int(result[1]))
        return [int(v) for v in result]

    @staticmethod
    def _shared_conflict(commit: Commit, stored: list[bytes]) -> SharedConflict:
        return SharedConflict({(m, path): orjson.loads(v) if v else ABSENT
                               for (m, path, _), v in zip(commit.shared_read, stored,
                                                          strict=True)})

    def shared_values(self, entries: Iterable[tuple[str, str]]
                      ) -> dict[tuple[str, str], Any]:
        """The stored values of shared entries, in one round trip (a pipeline)."""
        entries = list(entries)
        pipe = self.redis.pipeline(transaction=False)
        for m, path in entries:
            pipe.hget(self.k("shared", m), path)
        self.round_trips += 1
        return {e: ABSENT if v is None else orjson.loads(v)
                for e, v in zip(entries, pipe.execute(), strict=True)}

    @staticmethod
    def _result(commit: Commit, result: Any) -> int:
        newv, found = int(result[0]), int(result[1])
        if newv < 0:
            raise Conflict(commit.session or "", commit.version, found)
        return newv

    def _script_args(self, commit: Commit, ack: tuple[int, str] | None
                     ) -> tuple[list[str], list[Any]]:
        key = commit.session or ""
        snap = commit.snapshot
        p = commit.partition
        next_due = ""
        snap_text = b""
        if snap is not None:
            timers = snap.get("timers")
            if timers:
                next_due = repr(min(t["due"] for t in timers))
            snap_text = orjson.dumps(snap)
        rest: dict[str, Any] = {}
        if commit.outbox:
            rest["o"] = [[o.id, orjson.dumps(o.to_dict()).decode()] for o in commit.outbox]
        if commit.sent:
            rest["x"] = commit.sent
        if commit.shared:
            rest["sh"] = [[self.k("shared", m), path,
                           False if v is DELETED else orjson.dumps(v).decode()]
                          for m, path, v in commit.shared]
        meta = dict(commit.meta)
        if meta:
            rest["m"] = [[k, orjson.dumps(v).decode()] for k, v in meta.items()]
        if self.journal_enabled and commit.journal:
            rest["j"] = [(b"" if line is None else str(line).encode()) + b"\t" + rec
                         for line, rec in commit.journal]
            rest["j"] = [j.decode() for j in rest["j"]]
        if commit.deliveries:
            rest["dl"] = [[d["name"], orjson.dumps(d).decode()] for d in commit.deliveries]
        if commit.deliveries_done:
            rest["dx"] = commit.deliveries_done
        if ack is not None:
            rest["ack"] = [self.k("in", ack[0]), GROUP, ack[1]]
        return ([self.k("s", key), self.k("a", key), self.k("timers", p), self.k("ob", p),
                 self.k("sessions", p), self.k("meta"), self.k("journal"),
                 self.k("deliveries")],
                [commit.version, snap_text, "\x1f".join(commit.applied), next_due, key,
                 orjson.dumps(rest) if rest else "",
                 "" if commit.delivered is None else commit.delivered, commit.handlings,
                 "1" if commit.delete else "",
                 orjson.dumps([[self.k("shared", m), path,
                                "" if seen is ABSENT else orjson.dumps(seen).decode()]
                               for m, path, seen in commit.shared_read])
                 if commit.shared_read else ""])

    def mark_sent(self, ids: Iterable[str], partition: int | None = None) -> None:
        ids = list(ids)
        if not ids:
            return
        pipe = self.redis.pipeline(transaction=False)
        for p in ([partition] if partition is not None else range(self.partitions)):
            pipe.hdel(self.k("ob", p), *ids)
        pipe.execute()

    # ---- workers: timers, streams, leases ---------------------------------------------------
    def claim_due(self, partition: int, now: float, lease_until: float,
                  limit: int = 1000) -> list[str]:
        """Sessions of ``partition`` with a timer due at ``now``, claimed until
        ``lease_until`` (a commit sets their real next due time)."""
        got = self._claim(keys=[self.k("timers", partition)], args=[now, lease_until, limit])
        return [g.decode() for g in got]

    def claim_due_all(self, now: float, lease_until: float, limit: int = 32
                      ) -> list[tuple[int, str]]:
        """(partition, session) of every partition's sessions with a timer due at ``now``,
        at most ``limit`` a partition, claimed until ``lease_until``: one round trip (a
        pipeline of one claim script call a partition)."""
        pipe = self.redis.pipeline(transaction=False)
        for p in range(self.partitions):
            self._claim(keys=[self.k("timers", p)], args=[now, lease_until, limit],
                        client=pipe)
        self.round_trips += 1
        return [(p, m.decode()) for p, got in enumerate(pipe.execute()) for m in got]

    def unclaim(self, claims: Iterable[tuple[int, str, float | None]], lease_until: float
                ) -> None:
        """Give claims back: (partition, session, its next due time or None), each set
        only if its score is still the claim's deadline ``lease_until``; one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        n = 0
        for p, key, due in claims:
            self._unclaim(keys=[self.k("timers", p)],
                          args=[key, lease_until, "" if due is None else repr(due)],
                          client=pipe)
            n += 1
        if n:
            pipe.execute()
            self.round_trips += 1

    def next_due_all(self) -> float | None:
        """The earliest score of every partition's timers (a due time, or a claim's
        deadline): one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for p in range(self.partitions):
            pipe.zrange(self.k("timers", p), 0, 0, withscores=True)
        self.round_trips += 1
        scores = [float(got[0][1]) for got in pipe.execute() if got]
        return min(scores) if scores else None

    def next_due(self, partition: int) -> float | None:
        got = self.redis.zrange(self.k("timers", partition), 0, 0, withscores=True)
        return float(got[0][1]) if got else None

    def timers_due(self, now: float) -> int:
        """How many sessions have a timer due at ``now`` (a metric)."""
        pipe = self.redis.pipeline(transaction=False)
        for p in range(self.partitions):
            pipe.zcount(self.k("timers", p), "-inf", now)
        return int(sum(pipe.execute()))

    def ensure_group(self, partition: int) -> None:
        try:
            self.redis.xgroup_create(self.k("in", partition), GROUP, id="0", mkstream=True)
        except self._redis_error as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def append(self, entries: Iterable[tuple[int, dict[str, bytes]]]) -> None:
        """Add inputs to their partitions' streams (pipelined)."""
        pipe = self.redis.pipeline(transaction=False)
        for n, (partition, fields) in enumerate(entries, start=1):
            pipe.xadd(self.k("in", partition), fields)
            if n % 1000 == 0:
                pipe.execute()
        pipe.execute()

    def read(self, partition: int, consumer: str, count: int = 200,
             pending: bool = False) -> list[tuple[str, dict[bytes, bytes]]]:
        """New entries of the partition's stream for ``consumer`` (``pending``: those
        delivered to it and not acknowledged: what it had before a crash)."""
        got = self.redis.xreadgroup(GROUP, consumer, {self.k("in", partition):
                                                       "0" if pending else ">"}, count=count)
        if not got:
            return []
        return [(i.decode(), f) for i, f in got[0][1] if f]

    def reclaim(self, partition: int, consumer: str, count: int = 200
                ) -> list[tuple[str, dict[bytes, bytes]]]:
        """Entries another consumer was given and did not acknowledge (it died), taken
        over by ``consumer`` (XAUTOCLAIM: the lease says the old owner is gone)."""
        out: list[tuple[str, dict[bytes, bytes]]] = []
        start = "0-0"
        while True:
            got = self.redis.xautoclaim(self.k("in", partition), GROUP, consumer,
                                        min_idle_time=0, start_id=start, count=count)
            start = got[0].decode() if isinstance(got[0], bytes) else str(got[0])
            out += [(i.decode(), f) for i, f in got[1] if f]
            if start == "0-0":
                return out

    def ack(self, partition: int, entry: str) -> None:
        self.redis.xack(self.k("in", partition), GROUP, entry)

    def backlog(self, partition: int) -> int:
        """Entries of the partition not yet acknowledged (pending + never delivered)."""
        groups = self.redis.xinfo_groups(self.k("in", partition))
        for g in groups:
            if g["name"] in (GROUP, GROUP.encode()):
                lag = g.get("lag") or 0
                return int(g["pending"]) + int(lag)
        return int(self.redis.xlen(self.k("in", partition)))

    def acquire(self, partition: int, worker: str, ttl: float) -> bool:
        return bool(self._acquire(keys=[self.k("lease", partition)],
                                  args=[worker, int(ttl * 1000)]))

    def release(self, partition: int, worker: str) -> None:
        self._release(keys=[self.k("lease", partition)], args=[worker])

    def owner(self, partition: int) -> str | None:
        got = self.redis.get(self.k("lease", partition))
        return got.decode() if got is not None else None

    def drop(self) -> None:
        """Delete every key under the prefix (tests, and ``--fresh``)."""
        for key in self.redis.scan_iter(match=f"{self.prefix}:*", count=1000):
            self.redis.delete(key)

    def close(self) -> None:
        self.redis.close()

    def __repr__(self) -> str:
        return f"RedisStore({self._safe_url()!r}, prefix={self.prefix!r})"
