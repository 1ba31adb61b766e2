"""RedisStore: many workers on one Redis (or a Redis Cluster), on Redis' own primitives.

Sessions are spread over a fixed number of partitions (``P:config`` keeps the count and the
key layout, so every process agrees). Every key but ``P:config`` belongs to a partition and
carries it as a hash tag, ``P:{p}:...``: on a Redis Cluster a partition's keys are in one
slot, so a script touching one partition runs on one node, and the partitions spread over
the nodes. Layout (2; a prefix made with the older, untagged layout is refused):

- ``P:{p}:s:<key>``: hash ``snap`` (the snapshot, JSON), ``v`` (its version), ``i`` (its
  incarnation: absent, 0, in a session stored before incarnations were), ``d`` (its
  delivery mark); ``P:{p}:a:<key>``: set of applied idempotency keys (``P:{p}:a:`` for
  inputs that reached none); ``P:{p}:sessions``: set of the partition's session keys;
  ``P:{p}:inc``: the partition's incarnation counter (a session made is given INCR of it,
  in the commit's script: never the same twice for a key, which stays in its partition).
- ``P:{p}:timers``: sorted set, member a session, score its next due time. Due members are
  claimed atomically (:meth:`RedisStore.claim_due` moves the score to a lease deadline, so a
  claim whose claimer dies comes due again), the claim answering with each claimed
  session's stored row (the claimer reads none of them again).
- ``P:{p}:ob``: hash, the partition's outbox (command id -> row).
- ``P:{p}:shared``: hash, ``<machine>\x1e<path>`` -> value: the entries of the machines'
  shared indexes written by the partition's sessions (the partition key is chosen so that a
  session's entries are its partition's: Tencent partitions by user, and its busy-users
  index is by user).
- ``P:{p}:meta``: hash, runtime metadata (partition 0 holds the store-wide entries: a
  replay's claim and cursor); ``P:{p}:journal``: list, what handlings produced (replay),
  each row ``seq<TAB>line<TAB>record`` (``seq``: this client's order of commits, so that
  :meth:`RedisStore.journal` gives one process's records in its order); ``P:{p}:deliveries``:
  hash, delayed deliveries armed and not yet handled (simulators' answers; one node only).
- ``P:{p}:in``: stream of inputs, consumed through the consumer group ``recstate``;
  ``P:{p}:lease``: the worker owning the partition, with an expiry (SET PX).

Every handled input (or group of them, all of one partition on a cluster) is ONE script call
(:data:`COMMIT`, :data:`COMMIT_MANY`), every key it touches passed in KEYS: the sessions'
snapshots are written only if their versions are still the ones read (optimistic), and the
shared entries the handlings read only if unchanged, together with next due times, outbox
rows, idempotency keys, shared-index changes, metadata, journal rows and the stream entry's
acknowledgement. One round trip per handling; none to read while a worker owns the
partition (its sessions are in its memory, their versions known).

URLs: ``redis://host:port/db?prefix=NAME`` (one node), ``redis+cluster://host:port?prefix=
NAME`` (a Redis Cluster, reached through any of its nodes; redis-py's cluster client).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple
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
    moved,
    partition_of,
)

__all__ = ["GROUP", "Claim", "RedisStore", "decode_row", "partition_of"]

GROUP = "recstate"
DEFAULT_PARTITIONS = 16

#: A stored session as one flat reply that :func:`decode_row` reads (every script answering
#: sessions answers them so): {version or '' (not stored), incarnation, snapshot, delivery
#: mark, applied keys "\31"-joined}. KEYS it reads: the session hash and its applied set.
_ROW = """
local function stored_row(hash, applied)
  local got = redis.call('HMGET', hash, 'v', 'i', 'snap', 'd')
  if not got[1] then return {'', '0', '', '0', ''} end
  return {got[1], got[2] or '0', got[3], got[4] or '0',
          table.concat(redis.call('SMEMBERS', applied), '\\31')}
end
"""

#: How many reply fields :data:`_ROW` makes of a session.
ROW_FIELDS = 5

class Claim(NamedTuple):
    """A session whose due timers a process claimed (:meth:`RedisStore.claim_due_all`): its
    partition, its key, and its row as stored when claimed (None: not stored)."""

    partition: int
    key: str
    row: SessionRow | None


#: KEYS (all of one partition): 1 session hash, 2 applied set, 3 timers zset, 4 outbox hash,
#: 5 partition's sessions set, 6 meta hash, 7 journal list, 8 delayed deliveries hash,
#: 9 shared-index hash, 10 input stream (for the acknowledgement), 11 the partition's
#: incarnation counter (INCR: a session made is given the next).
#: ARGV: 1 expected version, 2 snapshot or "", 3 idempotency keys ("\x1f"-joined) or "",
#: 4 next due or "",
#: 5 session key, 6 JSON of the rest, 7 delivery mark (trace line) or "", 8 handlings (the
#: version moves by as many), 9 "1" to delete the session first (closed or retired; only
#: if it is still stored at ARGV 1 and 11, the deleter's: a session another process moved
#: since, made anew say, is not deleted),
#: 10 the shared entries the handling read, JSON [[field, JSON seen or "" (absent)]],
#: or "": ``check`` returns their stored values if one differs (nothing may be written),
#: 11 the incarnation ARGV 1 is of (-1: the one made earlier in the same script).
#: One handling's (or one session's group) write, as a Lua function of its KEYS and ARGV.
_APPLY = _ROW + """
local function check(shared, reads)
  if reads == '' then return nil end
  local cur, bad = {}, false
  for i, r in ipairs(cjson.decode(reads)) do
    local v = redis.call('HGET', shared, r[1]) or ''
    cur[i] = v
    if v ~= r[2] then bad = true end
  end
  if bad then return cur end
  return nil
end
-- The stored (version, incarnation) of a session hash; (0, 0): not stored.
local function stored(hash)
  local got = redis.call('HMGET', hash, 'v', 'i')
  return got[1] and tonumber(got[1]) or 0, got[2] and tonumber(got[2]) or 0
end
-- Whether a session stored at (v, i) is the one a commit read at (version, incarnation):
-- the same version, and of a stored one the same life of its key.
local function same(v, i, version, incarnation)
  return v == tonumber(version) and (v == 0 or i == tonumber(incarnation))
end
-- Sessions this script made: key -> true (their incarnation is -1 to the commits after).
local made = {}
-- With a refusal for shared entries: the stored rows of the sessions the n commits write
-- (key, then ``stored_row``'s fields), so that the runtime takes them back from this
-- answer instead of reading them again.
local function rows(K, A, n, out)
  for i = 0, n - 1 do
    if A[i * 11 + 5] ~= '' and A[i * 11 + 2] ~= '' then
      out[#out + 1] = A[i * 11 + 5]
      for _, f in ipairs(stored_row(K[i * 11 + 1], K[i * 11 + 2])) do out[#out + 1] = f end
    end
  end
  return out
end
local function refused(i, cur, K, A, n)
  local out = {-2, i, #cur}
  for _, v in ipairs(cur) do out[#out + 1] = v end
  return rows(K, A, n, out)
end
local function apply(K, A)
  local newv, newi = 0, 0
  if A[9] == '1' then
    local v, i = stored(K[1])
    if made[A[5]] then i = -1 end
    if not same(v, i, A[1], A[11]) then return {-1, v, i} end
    redis.call('DEL', K[1], K[2])
    redis.call('SREM', K[5], A[5])
    redis.call('ZREM', K[3], A[5])
    made[A[5]] = nil
  end
  if A[2] ~= '' then
    local v, i = stored(K[1])
    if made[A[5]] then i = -1 end
    if not same(v, i, A[1], A[11]) then return {-1, v, i} end
    newv = v + tonumber(A[8])
    if v == 0 then
      newi = redis.call('INCR', K[11])
      made[A[5]] = true
      redis.call('HSET', K[1], 'snap', A[2], 'v', newv, 'i', newi)
    else
      redis.call('HSET', K[1], 'snap', A[2], 'v', newv)
    end
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
      if c[2] == false then
        redis.call('HDEL', K[9], c[1])
      else
        redis.call('HSET', K[9], c[1], c[2])
      end
    end
    for _, m in ipairs(rest.m or {}) do redis.call('HSET', K[6], m[1], m[2]) end
    for _, j in ipairs(rest.j or {}) do redis.call('RPUSH', K[7], j) end
    for _, d in ipairs(rest.dl or {}) do redis.call('HSET', K[8], d[1], d[2]) end
    for _, n in ipairs(rest.dx or {}) do redis.call('HDEL', K[8], n) end
    if rest.ack then redis.call('XACK', K[10], rest.ack[1], rest.ack[2]) end
  end
  return {newv, newi}
end
"""

#: One commit: {new version, the incarnation given (a session made) or 0}, or {-1, found
#: version, found incarnation} (the session moved), or the refusal of ``refused``.
COMMIT = _APPLY + """
local cur = check(KEYS[9], ARGV[10])
if cur then return refused(0, cur, KEYS, ARGV, 1) end
return apply(KEYS, ARGV)
"""

#: A group's commits in ONE script: every version and incarnation (a deletion's too) and
#: every shared entry read is checked first (a session deleted then made again in the group
#: counts from 0, of incarnation -1 to the commits after), and if one moved nothing is
#: written; otherwise each is applied in order. KEYS and ARGV: each commit's 11 keys and 11
#: arguments in turn (on a cluster, all of one partition: one slot).
#: Returns each commit's new version and given incarnation (or 0) in turn, or {-1, found
#: version, index, found incarnation} for the first that conflicts, or {-2, index, count,
#: stored values..., session rows...} for the first whose shared entries read were changed
#: (the rows: see ``rows``).
COMMIT_MANY = _APPLY + """
local n = #KEYS / 11
local seen = {}
local function held(i, key)
  local s = seen[key]
  if s == nil then return stored(KEYS[i * 11 + 1]) end
  return s[1], s[2]
end
for i = 0, n - 1 do
  local key, a = ARGV[i * 11 + 5], i * 11
  local cur = check(KEYS[i * 11 + 9], ARGV[a + 10])
  if cur then return refused(i, cur, KEYS, ARGV, n) end
  if ARGV[a + 9] == '1' then
    local v, inc = held(i, key)
    if not same(v, inc, ARGV[a + 1], ARGV[a + 11]) then return {-1, v, i, inc} end
    seen[key] = {0, 0}
  end
  if ARGV[a + 2] ~= '' then
    local v, inc = held(i, key)
    if not same(v, inc, ARGV[a + 1], ARGV[a + 11]) then return {-1, v, i, inc} end
    if v == 0 then inc = -1 end
    seen[key] = {v + tonumber(ARGV[a + 8]), inc}
  end
end
local out = {}
for i = 0, n - 1 do
  local k, a = {}, {}
  for j = 1, 11 do k[j] = KEYS[i * 11 + j] end
  for j = 1, 11 do a[j] = ARGV[i * 11 + j] end
  local r = apply(k, a)
  out[2 * i + 1] = r[1]
  out[2 * i + 2] = r[2]
end
return out
"""

#: Due members of a timers zset, their scores moved to a lease deadline (atomically: one
#: worker claims each), each with its stored row (:data:`_ROW`'s ``stored_row``, decoded by
#: :func:`decode_row` as every read of a session is: the claimer takes those another
#: process moved without reading them again); then the zset's earliest score after
#: the claims ('' if none). KEYS: 1 zset. ARGV: 1 now, 2 lease deadline, 3 limit, 4 the
#: partition's key prefix ``P:{p}:``: a member's session hash and applied set,
#: ``<prefix>s:<member>`` and ``<prefix>a:<member>``, are found in the zset, so are not in
#: KEYS, and share its slot (the partition's hash tag: a cluster node runs the script).
#: Returns {earliest score, member, row, member, row, ...}.
CLAIM_DUE = _ROW + """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
local out = {''}
for _, m in ipairs(due) do
  redis.call('ZADD', KEYS[1], ARGV[2], m)
  out[#out + 1] = m
  out[#out + 1] = stored_row(ARGV[4] .. 's:' .. m, ARGV[4] .. 'a:' .. m)
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if first[2] then out[1] = first[2] end
return out
"""

#: A session as stored if it is not the one a process holds (another version, or another
#: incarnation of a stored one: a serve process's read before handling): {} when it is,
#: else ``stored_row``'s fields (version '': no longer stored). KEYS: 1 session hash,
#: 2 applied set (one slot: the session's). ARGV: 1 the version held (0: none), 2 its
#: incarnation.
FRESH = _ROW + """
local got = redis.call('HMGET', KEYS[1], 'v', 'i')
local v, i = got[1] and tonumber(got[1]) or 0, got[2] and tonumber(got[2]) or 0
if v == tonumber(ARGV[1]) and (v == 0 or i == tonumber(ARGV[2])) then return {} end
return stored_row(KEYS[1], KEYS[2])
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


#: The key layout this code writes and reads (``P:config`` field ``layout``): 2, every key
#: of a partition hash-tagged with it. A prefix without it was made by an older recstate.
LAYOUT = "2"

#: Make the prefix's config once (partitions and layout together), and answer it.
#: KEYS: 1 config hash. ARGV: 1 partitions, 2 layout.
CONFIG = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'partitions', ARGV[1], 'layout', ARGV[2])
end
return redis.call('HMGET', KEYS[1], 'partitions', 'layout')
"""

#: Separates a machine's name from an entry's path in the field of ``P:{p}:shared``.
MACHINE_SEP = "\x1e"

#: The fields of a session hash a row is read from, in :func:`decode_row`'s order.
ROW_HASH_FIELDS = ("v", "i", "snap", "d")


def decode_row(key: str, fields: Sequence[Any]) -> SessionRow | None:
    """A session as Redis answers it: ``fields`` are (version, incarnation, snapshot,
    delivery mark) as HMGET of :data:`ROW_HASH_FIELDS` or a script's ``stored_row`` gives
    them, then its applied keys (a script's "\\x1f"-joined bytes, or SMEMBERS' set). None:
    not stored (no version). Every read of a session decodes it here, so that every row
    carries its incarnation (0: stored before incarnations were)."""
    v, i, snap, d, applied = fields
    if not v:
        return None
    keys = (applied.split(b"\x1f") if applied else []) if isinstance(applied, bytes) \
        else applied
    return SessionRow(key, orjson.loads(snap), int(v), {a.decode() for a in keys},
                      int(d or 0), int(i or 0))


class RedisStore:
    """A store on Redis (redis-py). ``url``: ``redis://host:port/db?prefix=...`` or
    ``redis+cluster://host:port?prefix=...`` (a Redis Cluster)."""

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", *, prefix: str | None = None,
                 partitions: int | None = None, journal: bool = False) -> None:
        try:
            import redis
            import redis.cluster
        except ImportError:  # pragma: no cover - the redis extra is not installed
            raise StoreError("the redis store needs redis-py: pip install 'recstate[redis]'"
                             ) from None
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        self.prefix = prefix or query.get("prefix", ["recstate"])[0]
        self.cluster = parts.scheme == "redis+cluster"
        if self.cluster and parts.path.strip("/") not in ("", "0"):
            raise StoreError(f"redis store {url.split('?')[0]!r}: a Redis Cluster has only "
                             "database 0; use redis+cluster://host:port?prefix=NAME")
        self.url = parts._replace(query="").geturl()
        self.journal_enabled = journal
        # Any: redis-py types every reply as bytes | str; this client always gets bytes.
        try:
            if self.cluster:
                self.redis: Any = redis.cluster.RedisCluster(
                    host=parts.hostname or "127.0.0.1", port=parts.port or 6379,
                    username=parts.username, password=parts.password)
            else:
                self.redis = redis.Redis.from_url(self.url)
            self.redis.ping()
        except redis.RedisError as exc:
            raise StoreError(f"cannot reach the redis store at {self._safe_url()}: {exc}; "
                             "start redis-server (or the cluster) or fix the URL") from None
        self._redis_error = redis.RedisError
        want = partitions or int(query.get("partitions", [0])[0]) or None
        config_key = f"{self.prefix}:config"
        stored_n, layout = self.redis.register_script(CONFIG)(
            keys=[config_key], args=[want or DEFAULT_PARTITIONS, LAYOUT])
        if layout is None or layout.decode() != LAYOUT:
            raise StoreError(f"redis store {self.prefix!r} was made by an older recstate "
                             f"(key layout {layout.decode() if layout else 1}; this one "
                             f"reads layout {LAYOUT}, every key of a partition hash-tagged "
                             "P:{p}:...); finish or replay it with that version, or use "
                             "another prefix")
        stored = int(stored_n)
        if want is not None and want != stored:
            raise StoreError(f"redis store {self.prefix!r} was made with {stored} partitions, "
                             f"not {want}; use the same count (or another prefix)")
        self.partitions = stored
        self._commit = self.redis.register_script(COMMIT)
        self._commit_many = self.redis.register_script(COMMIT_MANY)
        self._claim = self.redis.register_script(CLAIM_DUE)
        self._fresh = self.redis.register_script(FRESH)
        self._unclaim = self.redis.register_script(UNCLAIM)
        self._acquire = self.redis.register_script(ACQUIRE)
        self._release = self.redis.register_script(RELEASE)
        #: Requests sent to Redis by the hot paths of this client (a pipeline or a script
        #: call is one): what ``recstate serve`` reports as round trips.
        self.round_trips = 0
        #: The earliest timer score seen by the last claim (after it: :meth:`claim_due_all`
        #: looks at every partition, :meth:`claim_due` at its own), or None (no timer).
        self.next_seen: float | None = None
        #: Set by a fleet's serve process whose last look at the timers is getting old: the
        #: next freshness read (a request's) also looks at every partition's earliest
        #: timer score, in its own round trip (:attr:`next_seen`), so that the process's
        #: timer task need not look again to know when to wake (an idle pass).
        self.look_next = False
        #: Looks at every partition's earliest timer score made by this client (a claim of
        #: every partition, or a freshness read asked to): a caller tells a new look by it.
        self.looks = 0
        #: The order of this client's journal rows (continued from what is stored).
        self._seq = self._last_seq() if journal else 0

    def _safe_url(self) -> str:
        parts = urlsplit(self.url)
        if parts.password:
            return parts._replace(netloc=f"{parts.username or ''}:***@{parts.hostname}:"
                                  f"{parts.port or 6379}").geturl()
        return self.url

    def pk(self, partition: int, *parts: object) -> str:
        """A key of ``partition``: ``P:{p}:...`` (its hash tag puts the partition's keys in
        one cluster slot)."""
        return ":".join((f"{self.prefix}:{{{partition}}}", *(str(p) for p in parts)))

    def _pipe(self) -> Any:
        return self.redis.pipeline(transaction=False)

    def _last_seq(self) -> int:
        pipe = self._pipe()
        for p in range(self.partitions):
            pipe.lindex(self.pk(p, "journal"), -1)
        last = 0
        for raw in pipe.execute():
            if raw:
                last = max(last, int(raw.partition(b"\t")[0]))
        return last

    def _where(self, key: str) -> int | None:
        """The partition holding session ``key`` (one pipelined look at every partition),
        for callers that do not know the session's vendor (``GET /sessions/{key}``)."""
        pipe = self._pipe()
        for p in range(self.partitions):
            pipe.exists(self.pk(p, "s", key))
        self.round_trips += 1
        for p, found in enumerate(pipe.execute()):
            if found:
                return p
        return None

    # ---- reading ---------------------------------------------------------------------------
    def load(self, partitions: Iterable[int] | None = None) -> Loaded:
        """Everything (or only what ``partitions`` hold)."""
        r = self.redis
        which = list(range(self.partitions)) if partitions is None else list(partitions)
        pipe = self._pipe()
        for p in which:
            pipe.smembers(self.pk(p, "sessions"))
            pipe.hgetall(self.pk(p, "ob"))
            pipe.hgetall(self.pk(p, "shared"))
            pipe.hgetall(self.pk(p, "meta"))
            pipe.smembers(self.pk(p, "a", ""))
            pipe.hvals(self.pk(p, "deliveries"))
        got = pipe.execute()
        keys: list[tuple[int, str]] = []
        outbox: list[OutboxRow] = []
        shared: dict[str, dict[str, Any]] = {}
        meta: dict[str, Any] = {}
        delivered = 0
        applied: set[str] = set()
        deliveries: list[dict[str, Any]] = []
        for i, p in enumerate(which):
            members, ob, sh, mt, ap, dl = got[6 * i:6 * i + 6]
            keys += [(p, k) for k in sorted(m.decode() for m in members)]
            outbox += [OutboxRow.from_dict(orjson.loads(raw)) for raw in ob.values()]
            for field, value in sorted(sh.items()):
                machine, _, path = field.decode().partition(MACHINE_SEP)
                apply_changes(shared.setdefault(machine, {}), [(path, orjson.loads(value))])
            for name, value in mt.items():
                if name == b"delivered":
                    delivered = max(delivered, int(orjson.loads(value)))
                else:
                    meta[name.decode()] = orjson.loads(value)
            applied |= {a.decode() for a in ap}
            deliveries += [orjson.loads(v) for v in dl]
        pipe = r.pipeline(transaction=False)
        for p, key in keys:
            pipe.hmget(self.pk(p, "s", key), *ROW_HASH_FIELDS)
            pipe.smembers(self.pk(p, "a", key))
        rows = pipe.execute() if keys else []
        sessions = []
        for i, (_, key) in enumerate(keys):
            row = decode_row(key, [*rows[2 * i], rows[2 * i + 1]])
            if row is not None:
                sessions.append(row)
        sessions.sort(key=lambda row: row.key)
        outbox.sort(key=lambda o: (o.t, o.id))
        deliveries.sort(key=lambda d: (d["due"], d["seq"]))
        return Loaded(sessions=sessions, applied=applied, delivered=delivered, shared=shared,
                      outbox=outbox, meta=meta, deliveries=deliveries)

    def get(self, key: str, partition: int | None = None) -> SessionRow | None:
        """Session ``key`` as stored (``partition``: where it is, when the caller knows)."""
        p = partition if partition is not None else self._where(key)
        if p is None:
            return None
        pipe = self._pipe()
        pipe.hmget(self.pk(p, "s", key), *ROW_HASH_FIELDS)
        pipe.smembers(self.pk(p, "a", key))
        fields, applied = pipe.execute()
        self.round_trips += 1  # a lost race's reload, GET /sessions/{key}
        return decode_row(key, [*fields, applied])

    def fresh(self, known: Mapping[str, tuple[int, int]],
              partitions: Mapping[str, int] | None = None) -> dict[str, SessionRow | None]:
        """The sessions of ``known`` (key -> (version, incarnation) held) stored as another
        (another version, or another incarnation: made anew since), as stored now (None:
        gone):
        one round trip on one node (a pipeline of one :data:`FRESH` script call per session,
        each on its own session's keys); on a cluster, whose client pipelines no script,
        one pipelined read of the versions and one more of the sessions that moved.
        ``partitions``: where the sessions are (looked for where not given). With
        :attr:`look_next`, the first pipeline also looks at the timers."""
        if not known:
            return {}
        given = partitions or {}
        where: dict[str, int] = {}
        out: dict[str, SessionRow | None] = {}
        for key in known:
            p = given.get(key)
            if p is None:
                p = self._where(key)
            if p is not None:
                where[key] = p
            elif known[key][0] != 0:
                out[key] = None  # held here, stored nowhere: gone
        keys = list(where)
        if not keys:
            return out
        pipe = self._pipe()
        if not self.cluster:
            for key in keys:
                p = where[key]
                version, incarnation = known[key]
                self._fresh(keys=[self.pk(p, "s", key), self.pk(p, "a", key)],
                            args=[version, incarnation], client=pipe)
            self.round_trips += 1
            for key, got in zip(keys, self._with_look(pipe), strict=True):
                if got:
                    out[key] = decode_row(key, got)
            return out
        for key in keys:
            pipe.hmget(self.pk(where[key], "s", key), "v", "i")
        self.round_trips += 1
        changed = [key for key, (v, i) in zip(keys, self._with_look(pipe), strict=True)
                   if moved((int(v or 0), int(i or 0)), known[key])]
        if changed:
            pipe = self._pipe()
            for key in changed:
                pipe.hmget(self.pk(where[key], "s", key), *ROW_HASH_FIELDS)
                pipe.smembers(self.pk(where[key], "a", key))
            got = pipe.execute()
            self.round_trips += 1
            for i, key in enumerate(changed):
                out[key] = decode_row(key, [*got[2 * i], got[2 * i + 1]])
        return out

    def _with_look(self, pipe: Any) -> list[Any]:
        """Execute a freshness read's pipeline, with the look :attr:`look_next` asks for
        (each partition's earliest timer score) if it does; its answers, the look's
        taken off (into :attr:`next_seen`, counted in :attr:`looks`)."""
        if not self.look_next:
            return list(pipe.execute())
        for p in range(self.partitions):
            pipe.zrange(self.pk(p, "timers"), 0, 0, withscores=True)
        got = pipe.execute()
        scores = [float(first[0][1]) for first in got[-self.partitions:] if first]
        self.next_seen = min(scores) if scores else None
        self.looks += 1
        self.look_next = False
        return list(got[:-self.partitions])

    def version(self, key: str, partition: int = 0) -> int:
        """The stored version of ``key`` in ``partition`` (0: none), in one read."""
        got = self.redis.hmget(self.pk(partition, "s", key), "v")[0]
        return int(got) if got is not None else 0

    def keys(self) -> list[str]:
        pipe = self._pipe()
        for p in range(self.partitions):
            pipe.smembers(self.pk(p, "sessions"))
        return sorted(k.decode() for members in pipe.execute() for k in members)

    def journal(self) -> list[tuple[int | None, bytes]]:
        """The journal rows: each partition's in its order, merged by their writers'
        order (one process's rows come out as it wrote them)."""
        pipe = self._pipe()
        for p in range(self.partitions):
            pipe.lrange(self.pk(p, "journal"), 0, -1)
        lists = [[(int(seq), line, rec) for seq, line, rec in
                  (raw.split(b"\t", 2) for raw in rows)] for rows in pipe.execute()]
        return [(int(line) if line else None, rec)
                for _, line, rec in heapq.merge(*lists, key=lambda row: row[0])]

    def journal_length(self) -> int:
        pipe = self._pipe()
        for p in range(self.partitions):
            pipe.llen(self.pk(p, "journal"))
        return int(sum(pipe.execute()))

    def meta(self, name: str, partition: int = 0) -> Any:
        """One metadata entry of a partition (0: the store-wide ones), or None."""
        got = self.redis.hget(self.pk(partition, "meta"), name)
        return orjson.loads(got) if got is not None else None

    def meta_all(self, name: str) -> list[Any]:
        """The entry ``name`` of every partition's metadata, in partition order."""
        pipe = self._pipe()
        for p in range(self.partitions):
            pipe.hget(self.pk(p, "meta"), name)
        return [orjson.loads(v) if v is not None else None for v in pipe.execute()]

    # ---- the one write -----------------------------------------------------------------------
    def commit(self, commit: Commit, *, ack: tuple[int, str] | None = None) -> int:
        """Write ``commit`` in one script call; ``ack``: (partition, stream entry id) to
        acknowledge in the same call (the commit's own partition)."""
        if ack is not None and ack[0] != commit.partition:
            raise StoreError(f"a commit of partition {commit.partition} cannot acknowledge an "
                             f"entry of partition {ack[0]}: one script, one partition")
        keys, args = self._script_args(commit, ack)
        result = self._commit(keys=keys, args=args)
        self.round_trips += 1
        if int(result[0]) == -2:
            raise self._shared_conflict(commit, result)
        return self._result(commit, result)

    def commit_many(self, commits: Iterable[Commit]) -> list[int]:
        """The commits in one script call: all or nothing (a MULTI/EXEC would run the
        scripts after one whose version check failed), one round trip for the group
        (each snapshot encoded as it comes). On a cluster they must be of one partition."""
        keys: list[str] = []
        args: list[Any] = []
        sent: list[Commit] = []
        reads: dict[int, Commit] = {}
        partitions: set[int] = set()
        for commit in commits:
            k, a = self._script_args(commit, None)
            if commit.shared_read:
                reads[len(sent)] = commit
            partitions.add(commit.partition)
            keys += k
            args += a
            sent.append(commit)
        if not sent:
            return []
        if self.cluster and len(partitions) > 1:
            raise StoreError(f"a group of commits spans partitions {sorted(partitions)}: on a "
                             "Redis Cluster a group is written by one script in one slot, so "
                             "it must hold one partition's (the runtime groups them so)")
        result = self._commit_many(keys=keys, args=args)
        self.round_trips += 1
        if int(result[0]) == -2:
            raise self._shared_conflict(reads[int(result[1])], result)
        if int(result[0]) < 0:
            refused = sent[int(result[2])]
            raise Conflict(refused.session or "", refused.version, int(result[1]),
                           (refused.incarnation, int(result[3])))
        for commit, given in zip(sent, result[1::2], strict=True):
            if int(given):  # a session made: its incarnation
                commit.incarnation = int(given)
        return [int(v) for v in result[0::2]]

    @staticmethod
    def _shared_conflict(commit: Commit, result: list[Any]) -> SharedConflict:
        """The refusal of a script's answer ``{-2, index, count, values..., rows...}``: the
        stored values of the entries ``commit`` read, and the stored rows of the sessions
        the refused commits write (:attr:`SharedConflict.rows`: taken without a read)."""
        n = int(result[2])
        stored, tail = result[3:3 + n], result[3 + n:]
        conflict = SharedConflict({(m, path): orjson.loads(v) if v else ABSENT
                                   for (m, path, _), v in zip(commit.shared_read, stored,
                                                              strict=True)})
        for at in range(0, len(tail), 1 + ROW_FIELDS):
            name = tail[at].decode()
            conflict.rows[name] = decode_row(name, tail[at + 1:at + 1 + ROW_FIELDS])
        return conflict

    def shared_values(self, entries: Iterable[tuple[str, str]], partition: int = 0
                      ) -> dict[tuple[str, str], Any]:
        """The stored values of shared entries of ``partition``, in one round trip."""
        entries = list(entries)
        if not entries:
            return {}
        got = self.redis.hmget(self.pk(partition, "shared"),
                               [f"{m}{MACHINE_SEP}{path}" for m, path in entries])
        self.round_trips += 1
        return {e: ABSENT if v is None else orjson.loads(v)
                for e, v in zip(entries, got, strict=True)}

    @staticmethod
    def _result(commit: Commit, result: Any) -> int:
        newv = int(result[0])
        if newv < 0:
            raise Conflict(commit.session or "", commit.version, int(result[1]),
                           (commit.incarnation, int(result[2])))
        if int(result[1]):  # a session made: its incarnation
            commit.incarnation = int(result[1])
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
            rest["sh"] = [[f"{m}{MACHINE_SEP}{path}",
                           False if v is DELETED else orjson.dumps(v).decode()]
                          for m, path, v in commit.shared]
        meta = dict(commit.meta)
        if meta:
            rest["m"] = [[k, orjson.dumps(v).decode()] for k, v in meta.items()]
        if self.journal_enabled and commit.journal:
            rows = []
            for line, rec in commit.journal:
                self._seq += 1
                rows.append(b"%d\t%s\t%s" % (self._seq, b"" if line is None
                                               else str(line).encode(), rec))
            rest["j"] = [j.decode() for j in rows]
        if commit.deliveries:
            if self.cluster:
                raise StoreError("delayed deliveries (a simulator's answers) are kept on one "
                                 "redis node: run simulations on redis:// (or sqlite:), not "
                                 "on a cluster")
            rest["dl"] = [[d["name"], orjson.dumps(d).decode()] for d in commit.deliveries]
        if commit.deliveries_done:
            rest["dx"] = commit.deliveries_done
        if ack is not None:
            rest["ack"] = [GROUP, ack[1]]
        return ([self.pk(p, "s", key), self.pk(p, "a", key), self.pk(p, "timers"),
                 self.pk(p, "ob"), self.pk(p, "sessions"), self.pk(p, "meta"),
                 self.pk(p, "journal"), self.pk(p, "deliveries"), self.pk(p, "shared"),
                 self.pk(p, "in"), self.pk(p, "inc")],
                [commit.version, snap_text, "\x1f".join(commit.applied), next_due, key,
                 orjson.dumps(rest) if rest else "",
                 "" if commit.delivered is None else commit.delivered, commit.handlings,
                 "1" if commit.delete else "",
                 orjson.dumps([[f"{m}{MACHINE_SEP}{path}",
                                "" if seen is ABSENT else orjson.dumps(seen).decode()]
                               for m, path, seen in commit.shared_read])
                 if commit.shared_read else "", commit.incarnation])

    def mark_sent(self, ids: Iterable[str], partition: int | None = None) -> None:
        ids = list(ids)
        if not ids:
            return
        pipe = self._pipe()
        for p in ([partition] if partition is not None else range(self.partitions)):
            pipe.hdel(self.pk(p, "ob"), *ids)
        pipe.execute()

    # ---- workers: timers, streams, leases ---------------------------------------------------
    def claim_due(self, partition: int, now: float, lease_until: float,
                  limit: int = 1000) -> list[Claim]:
        """Sessions of ``partition`` with a timer due at ``now``, claimed until
        ``lease_until`` (a commit sets their real next due time), each with its stored row:
        one round trip (:attr:`next_seen`: the partition's earliest score after it)."""
        got = self._claim(keys=[self.pk(partition, "timers")],
                          args=[now, lease_until, limit, self.pk(partition, "")])
        self.round_trips += 1
        claims, self.next_seen = self._claimed(partition, got)
        return claims

    def _claimed(self, partition: int, got: list[Any]) -> tuple[list[Claim], float | None]:
        """:data:`CLAIM_DUE`'s answer: the claims, and the earliest score after them."""
        claims = []
        for m, row in zip(got[1::2], got[2::2], strict=True):
            key = m.decode()
            claims.append(Claim(partition, key, decode_row(key, row)))
        return claims, float(got[0]) if got[0] else None

    def claim_due_all(self, now: float, lease_until: float, limit: int = 32
                      ) -> list[Claim]:
        """Every partition's sessions with a timer due at ``now``, at most ``limit`` a
        partition, claimed until ``lease_until``, each with its stored row (so the claimer
        reads none of them again): one round trip on one node (a pipeline of one
        :data:`CLAIM_DUE` call a partition); on a cluster, whose client pipelines no script,
        one pipelined look at each partition's earliest score, then a claim in each
        partition with something due. :attr:`next_seen` is then the earliest score of all
        (a due time, or a claim's deadline), None if no timer is stored: the claimer need
        not look again to know when to."""
        scores: list[float] = []
        claims: list[Claim] = []
        if not self.cluster:
            pipe = self._pipe()
            for p in range(self.partitions):
                self._claim(keys=[self.pk(p, "timers")],
                            args=[now, lease_until, limit, self.pk(p, "")], client=pipe)
            self.round_trips += 1
            for p, got in enumerate(pipe.execute()):
                claimed, first = self._claimed(p, got)
                claims += claimed
                if first is not None:
                    scores.append(first)
        else:
            pipe = self._pipe()
            for p in range(self.partitions):
                pipe.zrange(self.pk(p, "timers"), 0, 0, withscores=True)
            self.round_trips += 1
            for p, first in enumerate(pipe.execute()):
                score = float(first[0][1]) if first else None
                if score is not None and score <= now:
                    claims += self.claim_due(p, now, lease_until, limit)
                    score = self.next_seen  # the partition's, after its claims
                if score is not None:
                    scores.append(score)
        self.next_seen = min(scores) if scores else None
        self.looks += 1
        return claims

    def unclaim(self, claims: Iterable[tuple[int, str, float | None]], lease_until: float
                ) -> None:
        """Give claims back: (partition, session, its next due time or None), each set
        only if its score is still the claim's deadline ``lease_until``; one round trip on
        one node (a call a claim on a cluster)."""
        claims = list(claims)
        if not claims:
            return
        pipe = None if self.cluster else self._pipe()
        for p, key, due in claims:
            self._unclaim(keys=[self.pk(p, "timers")],
                          args=[key, lease_until, "" if due is None else repr(due)],
                          client=pipe)
            if pipe is None:
                self.round_trips += 1
        if pipe is not None:
            pipe.execute()
            self.round_trips += 1

    def next_due(self, partition: int) -> float | None:
        got = self.redis.zrange(self.pk(partition, "timers"), 0, 0, withscores=True)
        return float(got[0][1]) if got else None

    def timers_due(self, now: float) -> int:
        """How many sessions have a timer due at ``now`` (a metric)."""
        pipe = self._pipe()
        for p in range(self.partitions):
            pipe.zcount(self.pk(p, "timers"), "-inf", now)
        return int(sum(pipe.execute()))

    def ensure_group(self, partition: int) -> None:
        try:
            self.redis.xgroup_create(self.pk(partition, "in"), GROUP, id="0", mkstream=True)
        except self._redis_error as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def append(self, entries: Iterable[tuple[int, dict[str, bytes]]]) -> None:
        """Add inputs to their partitions' streams (pipelined)."""
        pipe = self._pipe()
        for n, (partition, fields) in enumerate(entries, start=1):
            pipe.xadd(self.pk(partition, "in"), fields)
            if n % 1000 == 0:
                pipe.execute()
        pipe.execute()

    def stream(self, partition: int) -> list[tuple[str, dict[bytes, bytes]]]:
        """Every entry of the partition's stream (tests, and looking)."""
        return [(i.decode(), f) for i, f in self.redis.xrange(self.pk(partition, "in"))]

    def read(self, partition: int, consumer: str, count: int = 200,
             pending: bool = False) -> list[tuple[str, dict[bytes, bytes]]]:
        """New entries of the partition's stream for ``consumer`` (``pending``: those
        delivered to it and not acknowledged: what it had before a crash)."""
        got = self.redis.xreadgroup(GROUP, consumer, {self.pk(partition, "in"):
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
            got = self.redis.xautoclaim(self.pk(partition, "in"), GROUP, consumer,
                                        min_idle_time=0, start_id=start, count=count)
            start = got[0].decode() if isinstance(got[0], bytes) else str(got[0])
            out += [(i.decode(), f) for i, f in got[1] if f]
            if start == "0-0":
                return out

    def ack(self, partition: int, *entries: str) -> None:
        if entries:
            self.redis.xack(self.pk(partition, "in"), GROUP, *entries)

    def backlog(self, partition: int) -> int:
        """Entries of the partition not yet acknowledged (pending + never delivered)."""
        groups = self.redis.xinfo_groups(self.pk(partition, "in"))
        for g in groups:
            if g["name"] in (GROUP, GROUP.encode()):
                lag = g.get("lag") or 0
                return int(g["pending"]) + int(lag)
        return int(self.redis.xlen(self.pk(partition, "in")))

    def acquire(self, partition: int, worker: str, ttl: float) -> bool:
        return bool(self._acquire(keys=[self.pk(partition, "lease")],
                                  args=[worker, int(ttl * 1000)]))

    def release(self, partition: int, worker: str) -> None:
        self._release(keys=[self.pk(partition, "lease")], args=[worker])

    def owner(self, partition: int) -> str | None:
        got = self.redis.get(self.pk(partition, "lease"))
        return got.decode() if got is not None else None

    def drop(self) -> None:
        """Delete every key under the prefix (tests, and ``--fresh``)."""
        for key in list(self.redis.scan_iter(match=f"{self.prefix}:*", count=1000)):
            self.redis.delete(key)

    def close(self) -> None:
        self.redis.close()

    def __repr__(self) -> str:
        return f"RedisStore({self._safe_url()!r}, prefix={self.prefix!r})"
