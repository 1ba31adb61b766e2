"""Replay streams (issue 12): bounded lists with counts of what was left out, the diff on a
sliding window, --out written as it goes, and the data-only fast path, byte for byte.

Expected values come from the issue and the documented rules: a list keeps its first
entries and says how many it left out; the windowed diff gives what the whole diff gives for
lines within the window; a heartbeat replayed on the fast path writes the trace and the
report the full path writes; a line whose data might hide a secret takes the full path.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from recstate.errors import DefinitionError
from recstate.machine import DataOnly, Machine, on, state
from recstate.replay import replay
from recstate.report import LISTED, WINDOW, Conformance, compare
from recstate.scenario import parse_scenario, run_scenario_file, scenario_text
from recstate.trace import Record

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_700_000_000


def recstate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recstate.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, check=False, timeout=300)


def tencent(t: float, name: str, data: dict[str, Any] | None = None,
            session: str = "1:2:bob") -> str:
    line: dict[str, Any] = {"t": t, "vendor": "tencent", "name": name, "session": session}
    if data is not None:
        line["data"] = data
    return json.dumps(line)


def recordings(tmp_path: Path, users: int, minutes: float) -> Path:
    """The full trace of ``users`` Tencent recordings with a heartbeat every 3 s, from the
    simulator (what a live run logs)."""
    steps: list[dict[str, Any]] = []
    for i in range(users):
        room = {"relationId": 15000, "roomId": i + 1}
        steps += [
            {"at": i, "event": "enterRoom", "data": {**room, "user": f"u{i}"}},
            {"at": i, "event": "requestMultiVideoRecorderStart",
             "data": {"roomInfo": room, "user": f"u{i}", "param": {"fileName": "r"}}},
            {"at": minutes * 60, "event": "requestMultiVideoRecorderStop",
             "data": {"roomInfo": room, "user": f"u{i}"}}]
    text = scenario_text({"vendor": "tencent", "until": minutes * 60 + 5,
                          "simulator": {"data_interval": 3.0}, "steps": steps})
    path = tmp_path / "full.jsonl"
    run_scenario_file(parse_scenario(text, "toml"), out=path)
    return path


# ---- the data-only fast path ------------------------------------------------------------------
def test_heartbeats_on_the_fast_path_give_the_full_paths_trace_and_report(tmp_path: Path
                                                                          ) -> None:
    trace = recordings(tmp_path, 3, 100)  # a rollover at 90 minutes, a stop, VOD
    fast_out, full_out = tmp_path / "fast.jsonl", tmp_path / "full-path.jsonl"
    fast = replay(trace, out=fast_out)
    # watched (observe), a replay takes the full path for every line
    full = replay(trace, out=full_out, observe=lambda runtime: None)
    assert fast_out.read_bytes() == full_out.read_bytes() == trace.read_bytes()
    assert fast.dumps() == full.dumps()
    assert fast.exit_status == 0
    assert fast.mismatches == []
    assert fast.events == sum(1 for x in trace.read_text().splitlines() if '"kind"' not in x)


def recording_bob(tmp_path: Path, heartbeats: list[str]) -> Path:
    """A trace in which bob records in room 2 from T0 + 1, then the given heartbeat lines."""
    room = {"relationId": 1, "roomId": 2}
    trace = tmp_path / "t.jsonl"
    trace.write_text("\n".join([
        tencent(T0, "enterRoom", {**room, "user": "bob"}),
        tencent(T0, "requestMultiVideoRecorderStart", {"roomInfo": room,
                                                       "param": {"fileName": "x"}}),
        tencent(T0 + 1, "requestMultiVideoRecorderStart:ok", {}),
        *heartbeats,
    ]) + "\n")
    return trace


def test_a_heartbeat_whose_data_may_hide_a_secret_takes_the_full_path(tmp_path: Path) -> None:
    trace = recording_bob(tmp_path, [
        tencent(T0 + 2, "mediaData", {"user": "https://h/p?sign=abcdef123"}),
        tencent(T0 + 3, "mediaData", {"user": "bob", "token": "tok-98765"}),
        tencent(T0 + 4, "mediaData", {"user": "bob", "bytes": 10}),
    ])
    out = tmp_path / "out.jsonl"
    assert replay(trace, out=out).exit_status == 0
    heartbeats = [json.loads(x) for x in out.read_text().splitlines() if "mediaData" in x]
    assert [h["data"] for h in heartbeats] == [
        {"user": "https://h/p?sign=***"}, {"user": "bob", "token": "***"},
        {"user": "bob", "bytes": 10}]
    assert "abcdef123" not in out.read_text()
    assert "tok-98765" not in out.read_text()


def test_a_heartbeat_with_data_of_the_wrong_type_is_a_bad_line(tmp_path: Path) -> None:
    trace = recording_bob(tmp_path, [tencent(T0 + 2, "mediaData", {"bytes": "many"})])
    result = recstate("replay", trace)
    assert result.returncode == 2
    assert f"{trace}:4" in result.stderr
    assert "data.bytes" in result.stderr


def canonical(t: float, data: dict[str, Any], session: str = "1:2:bob") -> str:
    """A heartbeat line as recstate writes it (keys sorted, no spaces)."""
    return orjson.dumps({"t": float(t), "vendor": "tencent", "name": "mediaData",
                         "session": session, "data": data},
                        option=orjson.OPT_SORT_KEYS).decode()


BEAT = {"bytes": 300, "relationId": 1, "roomId": 2, "user": "bob"}


def both_ways(trace: Path, tmp_path: Path, **options: Any) -> tuple[bytes, bytes]:
    """The --out and the JSON report of the fast path, checked equal to the full path's
    (a watched replay takes the full path for every line); returned for more checks."""
    fast_out, full_out = tmp_path / "fast.jsonl", tmp_path / "full-path.jsonl"
    for stale in (fast_out, full_out):
        stale.unlink(missing_ok=True)
    fast = replay(trace, out=fast_out, **options)
    full = replay(trace, out=full_out, observe=lambda runtime: None, **options)
    assert fast_out.read_bytes() == full_out.read_bytes()
    assert fast.dumps() == full.dumps()
    assert replay(trace, **options).dumps() == fast.dumps()  # and without --out
    return fast_out.read_bytes(), fast.dumps()


def test_heartbeats_written_any_way_replay_as_on_the_full_path(tmp_path: Path) -> None:
    """A session's heartbeat lines that are the same but for the time are recognised from
    their bytes; any other way of writing one (spaces, another number form, an integer or
    ISO time, another key order, another payload, an extra field) is read in full, and the
    trace and the report are the full path's."""
    changed = {**BEAT, "bytes": 301}
    lines = [canonical(T0 + 2 + i * 3, BEAT) for i in range(5)]  # a template, then matches
    lines += [
        canonical(T0 + 20, BEAT).replace('"t":1700000020.0', '"t":1700000020.50'),
        canonical(T0 + 21, BEAT).replace('"t":1700000021.0', '"t":17000000.21e2'),
        canonical(T0 + 22, BEAT).replace('"t":1700000022.0', '"t":1700000022'),
        canonical(T0 + 23, BEAT).replace('"t":1700000023.0', '"t":"2023-11-14T22:13:43Z"'),
        canonical(T0 + 24, BEAT).replace(",", ", "),
        json.dumps({"vendor": "tencent", "t": T0 + 25.0, "name": "mediaData",
                    "session": "1:2:bob", "data": BEAT}),
        canonical(T0 + 26, changed), canonical(T0 + 27, changed),  # the new template
        canonical(T0 + 28, BEAT),
        canonical(T0 + 29, BEAT)[:-1] + ',"id":"beat-29"}',
        canonical(T0 + 30, {"bytes": 302}),
        canonical(T0 + 31, changed),
    ]
    trace = recording_bob(tmp_path, lines)
    out, report = both_ways(trace, tmp_path)
    written = out.decode().splitlines()
    beats = [orjson.loads(x) for x in written if "mediaData" in x]
    assert [b["t"] for b in beats] == [T0 + 2 + i * 3 for i in range(5)] + [
        T0 + 20.5, T0 + 21, T0 + 22, T0 + 23, T0 + 24, T0 + 25, T0 + 26, T0 + 27, T0 + 28,
        T0 + 29, T0 + 30, T0 + 31]
    # canonical lines are written as read; the others as recstate writes them
    assert [x for x in written if "mediaData" in x][:5] == lines[:5]
    assert canonical(T0 + 20.5, BEAT) in written
    assert canonical(T0 + 25, BEAT) in written
    assert json.loads(report)["events"] == 3 + len(lines)


def test_a_template_heartbeat_of_an_earlier_time_is_refused_as_on_the_full_path(
        tmp_path: Path) -> None:
    trace = recording_bob(tmp_path, [canonical(T0 + 5, BEAT), canonical(T0 + 8, BEAT),
                                     canonical(T0 + 6, BEAT)])
    result = recstate("replay", trace)
    assert result.returncode == 2
    assert f"{trace}:6" in result.stderr
    assert "time goes back" in result.stderr


def test_heartbeats_after_until_are_left_out_as_on_the_full_path(tmp_path: Path) -> None:
    trace = recording_bob(tmp_path, [canonical(T0 + 2 + i, BEAT) for i in range(10)])
    _, report = both_ways(trace, tmp_path, until=T0 + 6.5)
    assert (json.loads(report)["until"], json.loads(report)["after_until"]) == (T0 + 6.5, 5)


def test_a_heartbeat_outside_recording_or_of_another_session_takes_the_full_path(
        tmp_path: Path) -> None:
    stop = tencent(T0 + 10, "requestMultiVideoRecorderStop", {"roomInfo": {
        "relationId": 1, "roomId": 2}})
    lines = [canonical(T0 + 2, BEAT), canonical(T0 + 3, BEAT),
             canonical(T0 + 4, BEAT, session="1:2:eve"),  # no such session: unroutable
             stop, canonical(T0 + 11, BEAT), canonical(T0 + 12, BEAT),  # stopping
             tencent(T0 + 13, "requestMultiVideoRecorderStop:ok", {}),
             canonical(T0 + 200, BEAT)]  # stopped, after the watchdog's time
    trace = recording_bob(tmp_path, lines)
    _, report = both_ways(trace, tmp_path)
    session = json.loads(report)["sessions"][0]
    assert session["state"] == "stopped"


def test_the_payload_check_accepts_what_building_the_event_accepts() -> None:
    """Exact types (an int is no float's bool, a bool no int), a float field takes an
    int, None only where the type says so, a missing field only where it has a default,
    no field the class lacks, and no text a redaction could change."""
    import attrs

    from recstate.replay import payload_check

    @attrs.define
    class Beat:
        count: int
        level: float | None
        user: str = "x"
        on: bool | None = None

    check = payload_check(Beat)
    assert check is not None
    good: list[dict[str, Any]] = [
        {"count": 1, "level": 1.5}, {"count": 1, "level": None}, {"count": 0, "level": 2},
        {"count": 1, "level": 0.0, "user": "bob", "on": True},
        {"count": 1, "level": 0.0, "on": None}, {"count": -5, "level": 1e9, "on": False}]
    bad: list[Any] = [
        None, [], "x", {}, {"level": 1.0}, {"count": 1}, {"count": True, "level": 1.0},
        {"count": 1.0, "level": 1.0}, {"count": None, "level": 1.0},
        {"count": 1, "level": "1"}, {"count": 1, "level": True},
        {"count": 1, "level": 1.0, "user": None}, {"count": 1, "level": 1.0, "user": 3},
        {"count": 1, "level": 1.0, "user": "a=b"}, {"count": 1, "level": 1.0, "user": 'a"b'},
        {"count": 1, "level": 1.0, "on": 1}, {"count": 1, "level": 1.0, "other": 1},
        {"count": 1, "level": 1.0, "t": 5.0}]
    assert [check(d) for d in good] == [True] * len(good)
    assert [check(d) for d in bad] == [False] * len(bad)


def test_a_class_that_may_hold_a_secret_or_converts_has_no_payload_check() -> None:
    import attrs

    from recstate.replay import payload_check

    @attrs.define
    class Signed:
        token: str

    @attrs.define
    class Nested:
        items: list[int]

    @attrs.define
    class Converted:
        n: int = attrs.field(converter=int)

    @attrs.define
    class Plain:
        n: int

    assert [payload_check(c) for c in (Signed, Nested, Converted)] == [None, None, None]
    assert payload_check(Plain) is not None


def test_data_only_must_be_an_unguarded_internal_transition() -> None:
    import attrs

    @attrs.define
    class Ctx:
        last: float | None = None

    with pytest.raises(DefinitionError, match="data_only 'beat'"):
        class Guarded(Machine):  # a guard could refuse the beat: not data-only
            vendor = "test-data-only"
            states = ("idle", state("on", timers={"dog": 60}))
            initial = "idle"
            context = Ctx
            transitions = (on("go", "idle", "on"),
                           on("beat", "on", None, conditions="ok", after="feed"),
                           on("dog", "on", "idle"))
            data_only = {"beat": DataOnly("on", "last", "dog", 60)}

            def ok(self, ev: Any) -> bool:
                return True

            def feed(self, ev: Any) -> None:
                pass


# ---- bounded lists ---------------------------------------------------------------------------
def test_a_session_lists_its_first_violations_and_counts_the_rest(tmp_path: Path) -> None:
    extra = 7
    lines = [tencent(T0, "enterRoom", {"relationId": 1, "roomId": 2, "user": "bob"})]
    # not accepted in idle: each one a violation
    lines += [tencent(T0 + 1 + i, "requestMultiVideoRecorderStop:ok", {})
              for i in range(LISTED + extra)]
    trace = tmp_path / "t.jsonl"
    trace.write_text("\n".join(lines) + "\n")
    result = recstate("replay", "--json", trace)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    session = report["sessions"][0]
    assert len(session["violations"]) == 1000
    assert session["violations"][0]["line"] == 2
    assert session["left_out"] == {"violations": 7}
    assert report["violations"] == 1007
    text = recstate("replay", trace).stdout
    assert "... and 7 more violations left out of the report" in text
    assert "1007 violations" in text


def test_nothing_left_out_means_no_left_out_key(tmp_path: Path) -> None:
    report = json.loads(recstate("replay", "--json",
                                 ROOT / "examples/traces/tencent-crash.jsonl").stdout)
    assert "left_out" not in report
    assert all("left_out" not in s for s in report["sessions"])


def test_the_diff_keeps_its_first_mismatches_in_report_order() -> None:
    produced = [Record(T0 + i, "tencent", "x", s, {"n": i}, "command")
                for s in ("b", "a") for i in range(5)]
    logged = [Record(r.t, r.vendor, r.name, r.session, {"n": -1}, "command", 10 + k)
              for k, r in enumerate(produced)]
    diff = Conformance(limit=3)
    for r in logged:
        diff.logged(r)
    for r in produced:
        diff.produced(r)
    found = diff.finish()
    # session "a" first, in time order; 10 differences, 3 listed
    assert [(m["session"], m["what"], m["got"]["t"]) for m in found] == [
        ("a", "differs", T0), ("a", "differs", T0 + 1), ("a", "differs", T0 + 2)]
    assert diff.left_out == 7


# ---- the sliding window ----------------------------------------------------------------------
def scrambled(seed: int) -> tuple[list[Record], list[Record]]:
    """Produced output lines of three sessions over two hours, and a logged copy with lines
    dropped, altered, added and swapped with a neighbour (seconds apart at most)."""
    rng = random.Random(seed)
    produced: list[Record] = []
    t = float(T0)
    for _ in range(600):
        t += rng.choice((0.0, 0.0, 1.0, 5.0, 30.0))
        produced.append(Record(t, "tencent", rng.choice(("a", "b")), rng.choice("xyz"),
                               {"v": rng.randrange(3)}, rng.choice(("command", "file"))))
    logged: list[Record] = []
    for r in produced:
        roll = rng.random()
        if roll < 0.05:
            continue
        copy = Record(r.t, r.vendor, r.name, r.session, dict(r.data or {}), r.kind)
        if roll < 0.10:
            copy.data = {"v": 9}
        logged.append(copy)
        if roll > 0.97:
            logged.append(Record(r.t, r.vendor, "extra", r.session, {}, "error"))
    for k in range(0, len(logged) - 1, 37):
        if logged[k + 1].t - logged[k].t < 60:
            logged[k], logged[k + 1] = logged[k + 1], logged[k]
    for n, r in enumerate(logged, start=1):
        r.line = n
    return logged, produced


@pytest.mark.parametrize("seed", range(6))
def test_the_windowed_diff_is_the_whole_diff(seed: int) -> None:
    logged, produced = scrambled(seed)
    whole = compare(logged, produced)
    assert whole, "the scrambling made differences"
    diff = Conformance(window=120.0)
    # as a replay feeds it: what was logged up to each instant, what was produced by then
    at = 0
    for r in produced:
        while at < len(logged) and logged[at].t <= r.t:
            diff.logged(logged[at])
            at += 1
        diff.produced(r)
        diff.settle(r.t)
    for r in logged[at:]:
        diff.logged(r)
    assert orjson.dumps(diff.finish()) == orjson.dumps(whole)


def test_a_line_logged_further_than_the_window_from_its_time_is_not_paired() -> None:
    early = Record(T0, "tencent", "start", "s", {}, "command")
    late = Record(T0 + 2 * WINDOW, "tencent", "stop", "s", {}, "command")
    diff = Conformance()
    diff.produced(early)
    diff.logged(late)
    diff.produced(late)
    diff.settle(T0 + 2 * WINDOW + 1)  # the first instant is compared and gone
    diff.logged(Record(T0, "tencent", "start", "s", {}, "command", 99))
    assert [(m["what"], m["line"]) for m in diff.finish()] == [
        ("logged but not produced", 99), ("produced but not logged", None)]


# ---- --out as it goes ----------------------------------------------------------------------------
def test_out_is_written_while_the_replay_runs(tmp_path: Path) -> None:
    trace = recordings(tmp_path, 2, 120)
    out = tmp_path / "out.jsonl"
    sizes: list[int] = []

    def progress(lines: int) -> None:
        if lines == 2000:
            sizes.extend(p.stat().st_size for p in tmp_path.glob(".out.jsonl.*.part"))

    replay(trace, out=out, progress=progress)
    assert sizes, "the temporary file was there"
    assert sizes[0] > 100_000, "half the lines were on disk before the end"
    assert out.read_bytes() == trace.read_bytes()
