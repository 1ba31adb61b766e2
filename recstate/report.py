"""What a replay reports, gathered as it goes: memory flat with the trace's length.

A replay of a day's trace must not keep every record it read or produced. The report keeps,
per session, its summary (state, files: :class:`FileRows` over the session's packed files
rather than a copy of each, the machine's own summary) and bounded lists (the
first :data:`LISTED` commands, errors and violations, with the count of those left out); the
conformance diff (:class:`Conformance`) compares what was logged with what was produced per
session on a sliding window of trace time, and keeps the first :data:`LISTED_TOP`
mismatches in report order. Where nothing is left out, the report is what comparing whole
lists gives, byte for byte.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final, overload

import orjson

from recstate.recording import PackedFiles
from recstate.trace import OUTPUT_KINDS, Record, redact

__all__ = ["LISTED", "LISTED_TOP", "WINDOW", "Conformance", "FileRows", "Listed",
           "SessionNotes", "compare", "json_default", "line_key", "mismatch_key"]

#: Entries of one session's list (commands, errors, violations) the report shows; the
#: rest are counted in the session's ``left_out``.
LISTED: Final = 1000
#: Entries of a report-wide list (mismatches, unrouted inputs, bad lines) it shows.
LISTED_TOP: Final = 10_000
#: Trace seconds a logged line may be out of its place in time and still be compared with
#: what was produced around it (the diff's sliding window).
WINDOW: Final = 600.0


class Listed:
    """A list that keeps its first ``limit`` entries and counts the others."""

    __slots__ = ("items", "left_out", "limit")

    def __init__(self, limit: int = LISTED) -> None:
        self.items: list[dict[str, Any]] = []
        self.left_out = 0
        self.limit = limit

    def append(self, item: dict[str, Any]) -> None:
        if len(self.items) < self.limit:
            self.items.append(item)
        else:
            self.left_out += 1

    def __len__(self) -> int:
        return len(self.items) + self.left_out


class FileRows(Sequence[dict[str, Any]]):
    """A session's ``files`` in the report, made from its packed files each time they are
    read: every file, the same rows as a list of ``redact(f.to_dict())`` (and equal to
    one), without a second copy of every file held in the report beside the session's.
    Read-only; :func:`json_default` writes it as that list."""

    __slots__ = ("_packed",)

    def __init__(self, packed: PackedFiles) -> None:
        self._packed = packed

    def rows(self) -> list[dict[str, Any]]:
        return [redact(d) for d in self._packed.dicts()]

    def __len__(self) -> int:
        return self._packed.count

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        return self.rows()[index]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FileRows):
            return self.rows() == other.rows()
        if isinstance(other, list):
            return self.rows() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self.rows())


def json_default(value: Any) -> Any:
    """orjson's ``default`` for a report holding :class:`FileRows`: the rows as a list."""
    if isinstance(value, FileRows):
        return value.rows()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class SessionNotes:
    """Per session: the commands it sent, its errors and notices, its violations."""

    def __init__(self, limit: int = LISTED) -> None:
        self.limit = limit
        self.commands: dict[str | None, Listed] = {}
        self.errors: dict[str | None, Listed] = {}
        self.violations: dict[str | None, Listed] = {}
        #: Handling errors (code ``exception``), counted whether listed or not.
        self.exceptions = 0

    def _list(self, lists: dict[str | None, Listed], key: str | None) -> Listed:
        found = lists.get(key)
        if found is None:
            found = lists[key] = Listed(self.limit)
        return found

    def record(self, record: Record) -> None:
        """Note a produced record (only commands and errors are listed)."""
        kind = record.kind
        if kind == "command":
            data = (record.data if record.clean else redact(record.data)
                    ) if record.data is not None else {}
            self._list(self.commands, record.session).append(
                {"t": record.t, "name": record.name, "data": data})
        elif kind == "error":
            raw = record.data if record.data is not None else {}
            if raw.get("code") == "violation":
                return
            data = redact(raw)
            if data.get("code") == "exception":
                self.exceptions += 1
            self._list(self.errors, record.session).append(
                {"t": record.t, "code": data.get("code"), "message": data.get("message"),
                 "level": data.get("level", "error")})

    def violation(self, session: str, entry: dict[str, Any]) -> None:
        self._list(self.violations, session).append(entry)

    def listed(self, key: str) -> tuple[dict[str, Any], dict[str, int]]:
        """The session's lists for its report, and what was left out of each."""
        lists: dict[str, Any] = {}
        left: dict[str, int] = {}
        for name, by_session in (("commands", self.commands), ("errors", self.errors),
                                 ("violations", self.violations)):
            found = by_session.get(key)
            lists[name] = found.items if found is not None else []
            if found is not None and found.left_out:
                left[name] = found.left_out
        return lists, left


def line_key(record: Record) -> bytes:
    """What the diff compares of a line: kind, session, name, time and redacted data.

    A copy of orjson's bytes: the object orjson returns keeps the whole buffer it wrote
    into (4 KiB at least, whatever the line's length), and these wait in the window."""
    data = redact(record.data) if record.data is not None else None
    return memoryview(orjson.dumps([record.kind, record.session, record.name, record.t, data],
                                   option=orjson.OPT_SORT_KEYS)).tobytes()


def _show(record: Record) -> dict[str, Any]:
    shown = record.to_json()
    shown["kind"] = record.kind
    return shown


def mismatch_key(session: str | None) -> str:
    """Sessions in the order the report lists them (no session first)."""
    return session or ""


#: One line waiting in the window: (t, its index among its session's logged or produced
#: lines, its comparison key, kind, name, the line it was read from, and what a mismatch
#: shows of it as JSON). Not the Record: its data as objects is several times the bytes,
#: and a burst of file records (every recording ending at once) waits here together.
_Entry = tuple[float, int, bytes, str, str, int | None, bytes]


def _entry(record: Record, index: int, key: bytes) -> _Entry:
    return (record.t, index, key, record.kind, record.name, record.line,
            memoryview(orjson.dumps(_show(record))).tobytes())


class Conformance:
    """Every difference between the logged output lines and the produced ones, per session:
    a logged line not produced, a produced line not logged, one that differs, or one that
    came in another order.

    Keyed alignment, linear in the lines: the k-th logged copy of a line pairs with the k-th
    produced copy of the same bytes; what is left pairs by (kind, name, t) as ``differs``;
    the rest is logged but not produced, or produced but not logged. Exact pairs whose order
    disagrees (outside the longest run in the same order) are ``out of order``.

    The lines of a session wait in a window until the replay is ``window`` trace seconds past
    them (:meth:`settle`); then a prefix of them, earlier than everything after it, is
    compared and dropped. A key holds the time, so only lines of one instant pair, and
    comparing such prefixes one after another gives what comparing the whole lists gives.
    A logged line more than ``window`` seconds out of its place in time arrives after its
    instant was compared: it is reported as logged but not produced (and what was produced
    then as produced but not logged). The first ``limit`` mismatches in report order are
    kept (by session, then time), the others counted in ``left_out``.

    A trace that logged no output line is not compared (an input-only trace); what was
    produced before the first logged line and settled is then only counted, and reported as
    left out should a logged line come after all."""

    def __init__(self, *, window: float = WINDOW, limit: int = LISTED_TOP) -> None:
        self.window = window
        self.limit = limit
        self._logged: dict[str | None, deque[_Entry]] = defaultdict(deque)
        self._produced: dict[str | None, deque[_Entry]] = defaultdict(deque)
        self._counts: dict[str | None, list[int]] = defaultdict(lambda: [0, 0])
        self._found: list[tuple[tuple[str, float, int, int], dict[str, Any]]] = []
        self.left_out = 0
        self.waiting = 0
        self.any_logged = False
        self._unlogged = 0  # produced, settled before any line was logged

    def logged(self, record: Record) -> None:
        self.any_logged = True
        session = record.session
        counts = self._counts[session]
        index = counts[0]
        counts[0] = index + 1
        key = line_key(record)
        if not self._paired(session, key, self._produced, self._logged):
            self._logged[session].append(_entry(record, index, key))
            self.waiting += 1

    def produced(self, record: Record) -> None:
        if record.kind not in OUTPUT_KINDS:
            return
        session = record.session
        counts = self._counts[session]
        index = counts[1]
        counts[1] = index + 1
        key = line_key(record)
        if not self.any_logged or not self._paired(session, key, self._logged,
                                                   self._produced):
            self._produced[session].append(_entry(record, index, key))
            self.waiting += 1

    def _paired(self, session: str | None, key: bytes, other: dict[str | None, deque[_Entry]],
                mine: dict[str | None, deque[_Entry]]) -> bool:
        """Whether the line of ``key`` pairs at once with the first line waiting on the
        other side: the same key, and nothing waiting before it on its own side. Such a
        pair, first in both lists, is an exact pair in order in the whole diff whatever
        follows (the k-th copies of a key pair, and it comes before every other pair in
        both lists), and the rest of the diff is the same without it: it is dropped, and
        a conforming replay keeps its window nearly empty."""
        theirs = other.get(session)
        if theirs and theirs[0][2] == key and not mine.get(session):
            theirs.popleft()
            self.waiting -= 1
            return True
        return False

    def settle(self, now: float) -> None:
        """Compare what is more than ``window`` seconds before ``now``."""
        horizon = now - self.window
        for session in [s for s, q in self._logged.items() if q] + [
                s for s, q in self._produced.items() if q and not self._logged.get(s)]:
            self._settle(session, horizon)

    def _settle(self, session: str | None, cut: float) -> None:
        a, b = self._logged.get(session, deque()), self._produced.get(session, deque())
        while True:  # prefixes all earlier than whatever stays
            na = _prefix(a, cut)
            nb = _prefix(b, cut)
            rest = min([a[k][0] for k in range(na, len(a))] + [b[k][0] for k in range(
                nb, len(b))], default=math.inf)
            if rest >= cut:
                break
            cut = rest
        if not na and not nb:
            return
        first = [a.popleft() for _ in range(na)]
        second = [b.popleft() for _ in range(nb)]
        self.waiting -= na + nb
        if not self.any_logged:
            self._unlogged += nb
            return
        self._compare(session, first, second)

    def finish(self) -> list[dict[str, Any]]:
        """Compare all that waits; the mismatches in report order."""
        if not self.any_logged:
            self._produced.clear()
            return []
        for session in set(self._logged) | set(self._produced):
            self._settle(session, math.inf)
        self.left_out += self._unlogged
        self._unlogged = 0
        self._trim()
        self._found.sort(key=lambda m: m[0])
        return [m for _, m in self._found]

    def _add(self, session: str | None, what: str, expected: _Entry | None,
             actual: _Entry | None) -> None:
        if expected is not None:
            order = (mismatch_key(session), expected[0], 0, expected[1])
        else:
            assert actual is not None
            order = (mismatch_key(session), actual[0], 1, actual[1])
        self._found.append((order, {
            "line": expected[5] if expected is not None else None,
            "session": session,
            "what": what,
            "expected": orjson.loads(expected[6]) if expected is not None else None,
            "got": orjson.loads(actual[6]) if actual is not None else None,
        }))
        if len(self._found) >= 2 * self.limit:
            self._trim()

    def _trim(self) -> None:
        if len(self._found) > self.limit:
            self._found.sort(key=lambda m: m[0])
            self.left_out += len(self._found) - self.limit
            del self._found[self.limit:]

    def _compare(self, session: str | None, a: list[_Entry], b: list[_Entry]) -> None:
        copies: dict[bytes, deque[int]] = defaultdict(deque)
        for j, entry in enumerate(b):
            copies[entry[2]].append(j)
        pairs: list[tuple[int, int]] = []
        left: list[int] = []
        taken = [False] * len(b)
        for i, entry in enumerate(a):
            queue = copies.get(entry[2])
            if queue:
                j = queue.popleft()
                taken[j] = True
                pairs.append((i, j))
            else:
                left.append(i)
        in_order = _longest_increasing(pairs)
        for i, j in pairs:
            if (i, j) not in in_order:
                self._add(session, "out of order", a[i], b[j])
        same: dict[tuple[str, str, float], deque[int]] = defaultdict(deque)
        for j, entry in enumerate(b):
            if not taken[j]:
                same[(entry[3], entry[4], entry[0])].append(j)
        for i in left:
            queue = same.get((a[i][3], a[i][4], a[i][0]))
            if queue:
                j = queue.popleft()
                taken[j] = True
                self._add(session, "differs", a[i], b[j])
            else:
                self._add(session, "logged but not produced", a[i], None)
        for j, entry in enumerate(b):
            if not taken[j]:
                self._add(session, "produced but not logged", None, entry)


def _prefix(entries: deque[_Entry], cut: float) -> int:
    n = 0
    for entry in entries:
        if entry[0] >= cut:
            break
        n += 1
    return n


def compare(logged: Iterable[Record], produced: Iterable[Record]) -> list[dict[str, Any]]:
    """The whole diff of two lists at once (no window)."""
    diff = Conformance(window=math.inf, limit=2**62)
    for record in logged:
        diff.logged(record)
    for record in produced:
        diff.produced(record)
    return diff.finish()


def _longest_increasing(pairs: list[tuple[int, int]]) -> set[tuple[int, int]]:
    """The pairs (in ``i`` order) on a longest run whose ``j`` increase too: O(n log n)."""
    if all(pairs[k][1] < pairs[k + 1][1] for k in range(len(pairs) - 1)):
        return set(pairs)  # the usual case: everything in order
    tails: list[int] = []  # tails[L] = index in pairs of the smallest tail of a run of L + 1
    parent = [-1] * len(pairs)
    for k, (_, j) in enumerate(pairs):
        at = _bisect(pairs, tails, j)
        if at > 0:
            parent[k] = tails[at - 1]
        if at == len(tails):
            tails.append(k)
        else:
            tails[at] = k
    keep: set[tuple[int, int]] = set()
    k = tails[-1] if tails else -1
    while k >= 0:
        keep.add(pairs[k])
        k = parent[k]
    return keep


def _bisect(pairs: list[tuple[int, int]], tails: list[int], j: int) -> int:
    lo, hi = 0, len(tails)
    while lo < hi:
        mid = (lo + hi) // 2
        if pairs[tails[mid]][1] < j:
            lo = mid + 1
        else:
            hi = mid
    return lo
