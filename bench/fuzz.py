"""Fuzz harness (issue 9): hostile input through the trace reader, replay, the report, the CLI
and the NetEase callback receiver, with hypothesis.

    python3 dev.py fuzz                          # 20,000 cases, seed 0
    python3 dev.py fuzz --cases 2000 --seed 7    # fewer cases, another seed
    .venv/bin/python bench/fuzz.py --markdown    # the summary as Markdown, for RESULTS.md

Cases are split over five targets, each a hypothesis property run for its share of the cases
(``@seed(S)``, no example database: the same seed gives the same cases):

- ``reader``: an example trace with its lines mutated (a value anywhere replaced by a hostile
  one: out-of-range times, huge numbers, deep nesting, odd unicode, wrong types; lines cut,
  duplicated, swapped, bytes inserted) read by ``TraceReader``, strict and skipping;
- ``replay``: the same through ``replay()`` with ``out=`` a fresh path, random ``until``,
  ``strict`` and ``skip_bad_lines``, secrets planted under secret names and in signed URLs;
  then the report, as text and JSON;
- ``cli``: ``recstate replay`` with hostile ``--until`` and ``--out`` (the input itself, a
  directory, a missing directory, ``/dev/full``, an existing file with and without
  ``--force``), run in-process through ``recstate.cli.main``;
- ``receiver``: signed and forged callback requests (hostile ``CurTime``, ``MD5``,
  ``CheckSum``, bodies with many channels and mutated ``fileinfo``) through
  ``CallbackReceiver``, the events it gives dispatched into a runtime through ChannelRoutes.

A case fails as a *traceback* (any exception but the clean ones: ``TraceError`` and
``OutputError`` from replay, exit 2 from the CLI, ``CallbackRejected`` from the receiver), a
*hang* (over 10 s, cut by SIGALRM), or a *leak* (a planted secret in the full trace, the
report, an error message, a log line, or the CLI's output). The harness counts them and goes
on; the first few of each are printed with their input.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import logging
import math
import os
import platform
import re
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from recstate.adapters.netease import CallbackReceiver, CallbackRejected, ChannelRoutes
from recstate.clock import ManualClock
from recstate.errors import OutputError, TraceError
from recstate.replay import format_report, replay
from recstate.runtime import Runtime
from recstate.trace import TraceReader

ROOT = Path(__file__).resolve().parent.parent
TRACES = sorted((ROOT / "examples" / "traces").glob("*.jsonl"))
#: The example traces' lines, read once (a case draws from what the run started with).
LINES = {path.name: path.read_bytes().splitlines() for path in TRACES}
HANG = 10  # seconds
MARK = "PLANTEDxSECRETx"  # every planted secret starts with it; no output may hold it
APP_SECRET = MARK + "AppSecret-7d"
SECRET_NAMES = ("secretKey", "SecretId", "token", "sign", "sig", "privateMapKey", "apiKey",
                "x-api-key", "pwd", "passphrase", "cookie", "Authorization", "ticket",
                "EncodingAESKey", "userSig", "password", "AppSecret", "CheckSum")
TARGETS = ("reader", "replay", "cli", "receiver")


class Hang(Exception):
    """A case ran past :data:`HANG` seconds."""


def _alarm(signum: int, frame: Any) -> None:
    raise Hang(f"over {HANG} s")


# ---- hostile values and mutations ---------------------------------------------------------------
#: Values orjson cannot write (deep nesting, integers past 64 bits, NaN): a token string in
#: the object, replaced by the raw JSON text once the line is written.
RAW: dict[str, bytes] = {}


def _raw(text: str) -> str:
    token = f"@@RAW{hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:12]}@@"
    RAW[token] = text.encode()
    return token


def _deep(n: int) -> str:
    return _raw("[" * n + "1" + "]" * n)


def _dumps(obj: Any) -> bytes:
    line = orjson.dumps(obj)
    if b"@@RAW" in line:
        line = _TOKEN.sub(lambda m: RAW[m[1].decode()], line)
    return line


_TOKEN = re.compile(rb'"(@@RAW[0-9a-f]{12}@@)"')


hostile_values = st.one_of(
    st.sampled_from([
        "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1969-12-31T23:59:59Z",
        "2023-11-14T22:13:20", "2023-11-14T22:13:20Z", "", "²", "٣٣", "\u202e", "\x00",
        "NaN", "Infinity", "-1", "1e400", None, True, False, 0, -1, 2**63 - 1, -(2**63),
        _raw(str(2**64)), _raw("1" * 400), _raw("NaN"), _raw("1e400"), _raw("-0"), 1e300,
        -1e300, 1_700_000_000_000, 5e-324, [], {}, [None], {"": None},
        "netease", "tencent", "event", "command", "transition", "file", "error",
        "x" * 5000, "multi", "pair", "6", "0", "1", "2",
    ]),
    st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.integers(min_value=30, max_value=1500).map(_deep),
    st.dictionaries(st.text(max_size=8), st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8),
                    max_size=4),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _set(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _set(value[head], rest, new)}
    copy = list(value)
    copy[head] = _set(copy[head], rest, new)
    return copy


def _signed_url(n: int) -> str:
    return (f"https://b.nos.example/f{n}.aac?NOSAccessKeyId={MARK}ak{n}&Expires=9"
            f"&Signature={MARK}sig{n}")


@st.composite
def mutated_trace(draw: st.DrawFn) -> tuple[str, list[bytes]]:
    """(trace name, its lines mutated): the inputs of ``reader`` and ``replay``."""
    name = draw(st.sampled_from(sorted(LINES)))
    lines = list(LINES[name])
    if len(lines) > 60:  # the long traces: a window of them
        start = draw(st.integers(0, len(lines) - 60))
        lines = lines[start:start + 60]
    for _ in range(draw(st.integers(0, 4))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["value", "value", "value", "plant", "plant", "url",
                                   "cut", "bytes", "dup", "swap", "drop", "kind", "deep"]))
        try:
            obj = orjson.loads(lines[i])
        except orjson.JSONDecodeError:
            obj = None
        if op in ("value", "plant", "url", "kind", "deep") and isinstance(obj, dict):
            if op == "value":
                paths = list(_paths(obj))[1:]
                where = draw(st.sampled_from(paths)) if paths else ("t",)
                obj = _set(obj, where, draw(hostile_values))
            elif op == "plant":
                name = draw(st.sampled_from(SECRET_NAMES))
                data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
                secret: Any = f"{MARK}{name}"
                if draw(st.booleans()):
                    secret = {"inner": [secret]}
                obj = {**obj, "data": {**data, name: secret}}
            elif op == "url":
                data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
                key = draw(st.sampled_from(["url", "fileinfo", "MediaUrl", "note"]))
                obj = {**obj, "data": {**data, key: _signed_url(i)}}
            elif op == "kind":
                obj = {**obj, "kind": draw(st.sampled_from(["command", "transition", "file",
                                                           "error", "event", MARK + "k"]))}
            else:
                obj = {**obj, "data": {"x": _deep(draw(st.integers(60, 2000)))}}
            with contextlib.suppress(TypeError):  # deeper than orjson writes: keep the line
                lines[i] = _dumps(obj)
        elif op == "cut":
            lines[i] = lines[i][:draw(st.integers(0, max(0, len(lines[i]) - 1)))]
        elif op == "bytes":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(st.binary(min_size=1, max_size=8)) + lines[i][at:]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "drop":
            del lines[i]
    return name, lines


# ---- the checks ---------------------------------------------------------------------------------
class Tally:
    """What the run found, per target."""

    def __init__(self) -> None:
        self.cases: Counter[str] = Counter()
        self.clean_errors: Counter[str] = Counter()
        self.tracebacks: Counter[str] = Counter()
        self.hangs: Counter[str] = Counter()
        self.leaks: Counter[str] = Counter()
        self.slowest = 0.0
        self.examples: list[str] = []

    def problem(self, kind: str, target: str, detail: str) -> None:
        getattr(self, kind)[target] += 1
        if len(self.examples) < 10:
            self.examples.append(f"[{kind} in {target}] {detail}")

    @property
    def total(self) -> int:
        return sum(self.cases.values())

    @property
    def failed(self) -> int:
        return (sum(self.tracebacks.values()) + sum(self.hangs.values())
                + sum(self.leaks.values()))


class LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.text: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.text.append(self.format(record))


def _case(tally: Tally, target: str, body: Callable[[], list[str]], describe: Callable[[], str]
          ) -> None:
    """Run one case under the alarm; ``body`` returns the texts the case showed (checked
    for the planted secrets) and raises only for a traceback."""
    tally.cases[target] += 1
    capture = LogCapture()
    root = logging.getLogger()
    root.addHandler(capture)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    started = time.perf_counter()
    signal.setitimer(signal.ITIMER_REAL, HANG)
    try:
        shown = body()
    except Hang:
        tally.problem("hangs", target, describe())
        return
    except Exception:
        tally.problem("tracebacks", target, f"{describe()}\n{traceback.format_exc()}")
        return
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        root.removeHandler(capture)
        root.setLevel(old_level)
        tally.slowest = max(tally.slowest, time.perf_counter() - started)
    for text in [*shown, *capture.text]:
        if MARK in text:
            at = text.index(MARK)
            tally.problem("leaks", target, f"{describe()}\n...{text[max(0, at - 200):at + 60]}")
            return


def _write(tmp: Path, lines: list[bytes]) -> Path:
    path = tmp / "trace.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _fresh(tmp: Path) -> Path:
    for child in tmp.iterdir():
        if child.is_dir() and not child.is_symlink():
            for inner in child.iterdir():
                inner.unlink()
            child.rmdir()
        else:
            child.unlink()
    return tmp


def target_reader(tally: Tally, tmp: Path, drawn: tuple[str, list[bytes]], skip: bool) -> None:
    name, lines = drawn

    def body() -> list[str]:
        path = _write(_fresh(tmp), lines)
        reader = TraceReader(path, skip_bad=skip)
        shown = []
        try:
            shown = [repr(r) for r in reader]
        except TraceError as error:
            tally.clean_errors["reader"] += 1
            shown.append(str(error))
        return shown + [str(e) for e in reader.errors]

    _case(tally, "reader", body, lambda: f"{name}: {lines!r:.2000}")


def target_replay(tally: Tally, tmp: Path, drawn: tuple[str, list[bytes]], skip: bool,
                  strict: bool, until: float | None) -> None:
    name, lines = drawn

    def body() -> list[str]:
        path = _write(_fresh(tmp), lines)
        out = tmp / "full.jsonl"
        try:
            report = replay(path, out=out, skip_bad_lines=skip, strict=strict, until=until)
        except (TraceError, OutputError) as error:
            tally.clean_errors["replay"] += 1
            return [str(error)]
        shown = [format_report(report), report.dumps().decode()]
        if out.exists():
            shown.append(out.read_text(errors="replace"))
        return shown

    _case(tally, "replay", body, lambda: f"{name} skip={skip} strict={strict} "
          f"until={until}: {lines!r:.2000}")


def target_cli(tally: Tally, tmp: Path, drawn: tuple[str, list[bytes]], until: str | None,
               out_kind: str, force: bool, as_json: bool) -> None:
    from recstate.cli import main

    name, lines = drawn

    def body() -> list[str]:
        path = _write(_fresh(tmp), lines)
        args = ["replay", str(path), "--skip-bad-lines"]
        if as_json:
            args.append("--json")
        if until is not None:
            args += [f"--until={until}"]
        out = {"none": None, "fresh": tmp / "full.jsonl", "input": path, "dir": tmp,
               "missing": tmp / "no" / "such" / "full.jsonl", "devfull": Path("/dev/full"),
               "existing": tmp / "old.jsonl"}[out_kind]
        if out_kind == "existing":
            (tmp / "old.jsonl").write_text("old\n")
        if out is not None:
            args += ["--out", str(out)]
        if force:
            args.append("--force")
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                status = main(args)
            except SystemExit as exit_:  # argparse: a usage error is exit 2
                status = exit_.code if isinstance(exit_.code, int) else 2
        if status not in (0, 1, 2):
            raise AssertionError(f"exit status {status}")
        if status == 2:
            tally.clean_errors["cli"] += 1
        shown = [stdout.getvalue(), stderr.getvalue()]
        if out_kind == "input" and path.read_bytes() != b"\n".join(lines) + b"\n":
            raise AssertionError("--out wrote over the input")
        if out is not None and out_kind in ("fresh", "existing") and out.exists():
            shown.append(out.read_text(errors="replace"))
        return shown

    _case(tally, "cli", body, lambda: f"{name} --until={until} --out={out_kind} force={force}:"
          f" {lines!r:.2000}")


curtimes = st.one_of(
    st.sampled_from(["", "²", "1700000000²", "٣٣٣٣٣٣٣٣٣٣", "9" * 400, "9" * 5000,
                     "17000\udc800000", "-1", "1.7e9", " 0x10", "1700000000", "1700000000000",
                     "0", "99999999999999"]),
    st.text(max_size=20), st.integers(0, 10**14).map(str))


@st.composite
def callback_request(draw: st.DrawFn) -> tuple[dict[str, str], bytes, str]:
    """(headers, body, what was done to it): signed with the right AppSecret or not."""
    channels = draw(st.lists(st.sampled_from(["111", "222", "6290737000999815990", "c"])
                             | st.text(max_size=6), min_size=0, max_size=6))
    if draw(st.integers(0, 30)) == 0:
        channels = [str(n) for n in range(draw(st.integers(90, 400)))]
    items = [{"caller": n % 2 == 0, "channelid": ch, "filename": f"{ch}-{n}.aac",
              "md5": "0" * 32, "mix": False, "size": "100", "type": "aac",
              "url": _signed_url(n), "user": f"u{n}", "vid": "1"}
             for n, ch in enumerate(channels)]
    for _ in range(draw(st.integers(0, 3))):
        if not items:
            break
        k = draw(st.integers(0, len(items) - 1))
        if draw(st.booleans()):  # a secret under a secret name: it must show nowhere
            items[k][draw(st.sampled_from(SECRET_NAMES))] = MARK + "item"
        else:
            items[k][draw(st.sampled_from(sorted(items[k])))] = draw(hostile_values)
    try:
        fileinfo = _dumps(items).decode()
    except TypeError:
        fileinfo = "[]"
    body_obj: Any = {"eventType": draw(st.sampled_from(["6", "6", "5", "1", 6, None])),
                     "fileinfo": fileinfo}
    if body_obj["eventType"] == "5":  # the call record: its channel, duration and status
        body_obj = {"eventType": "5", "channelId": channels[0] if channels else "c",
                    "duration": draw(st.sampled_from(["300", 300, "x", "-1", "1e9"])),
                    "status": "SUCCESS", "members": "[]"}
    how = draw(st.sampled_from(["ok", "ok", "ok", "body", "value", "raw", "secret"]))
    if how == "value":
        path = draw(st.sampled_from(list(_paths(body_obj))[1:]))
        body_obj = _set(body_obj, path, draw(hostile_values))
    try:
        body = _dumps(body_obj)
    except TypeError:
        body = b"{}"
    if how == "raw":
        body = draw(st.binary(max_size=64))
    md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()
    cur = "1700000000" if draw(st.integers(0, 3)) else draw(curtimes)
    secret = APP_SECRET if how != "secret" else "wrong"
    checksum = hashlib.sha1((secret + md5 + cur).encode("utf-8", "surrogatepass"),
                            usedforsecurity=False).hexdigest()
    headers = {"AppKey": "app", "CurTime": cur, "MD5": md5, "CheckSum": checksum}
    if how == "body":
        body = body + b" "
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        name = draw(st.sampled_from(["AppKey", "CurTime", "MD5", "CheckSum"]))
        headers[name] = draw(st.sampled_from([headers[name] + "\udc80", "", headers[name][:5],
                                              headers[name].upper(), "²" * 3]))
    return headers, body, how


def target_receiver(tally: Tally, request: tuple[dict[str, str], bytes, str]) -> None:
    headers, body, how = request

    def body_() -> list[str]:
        clock = ManualClock(1_700_000_000.0)
        receiver = CallbackReceiver(APP_SECRET, clock=clock, window=300)
        shown = [repr(receiver)]
        try:
            events = receiver(headers, body)
        except CallbackRejected as rejected:
            tally.clean_errors["receiver"] += 1
            if APP_SECRET in str(rejected) or APP_SECRET in repr(rejected.args):
                raise AssertionError("the AppSecret is in the rejection") from None
            return [str(rejected), repr(rejected.args)]
        records: list[Any] = []
        runtime = Runtime(clock, tracer=records.append)
        routes = ChannelRoutes(runtime)
        for ev in events:
            routes.dispatch(ev)
        routes.close()
        shown += [r.dumps().decode() for r in records] + [repr(e) for e in events]
        return shown

    _case(tally, "receiver", body_, lambda: f"{how}: headers={headers!r} body={body!r:.1500}")


# ---- the run ------------------------------------------------------------------------------------
def run(cases: int, seed_: int, *, quiet: bool = True) -> Tally:
    """``cases`` cases over the targets from ``seed_``; the tally of what they found."""
    tally = Tally()
    old = signal.signal(signal.SIGALRM, _alarm)
    share = {t: cases // len(TARGETS) + (1 if i < cases % len(TARGETS) else 0)
             for i, t in enumerate(TARGETS)}
    common = {"database": None, "deadline": None, "derandomize": False,
              "suppress_health_check": list(HealthCheck), "phases": [Phase.generate],
              "print_blob": False}
    with tempfile.TemporaryDirectory(prefix="recstate-fuzz-") as tmp_name:
        tmp = Path(tmp_name)

        @seed(seed_)
        @settings(max_examples=share["reader"], **common)
        @given(mutated_trace(), st.booleans())
        def reader(drawn: tuple[str, list[bytes]], skip: bool) -> None:
            target_reader(tally, tmp, drawn, skip)

        untils = st.none() | st.floats(1_699_999_000, 1_700_100_000) | st.sampled_from(
            [0.0, 32_503_680_000.0])

        @seed(seed_ + 1)
        @settings(max_examples=share["replay"], **common)
        @given(mutated_trace(), st.booleans(), st.booleans(), untils)
        def replays(drawn: tuple[str, list[bytes]], skip: bool, strict: bool,
                    until: float | None) -> None:
            target_replay(tally, tmp, drawn, skip, strict, until)

        until_texts = st.none() | st.sampled_from(
            ["nan", "inf", "-inf", "NaN", "1e400", "-5", "0", "1700000100", "1699999000",
             "2023-11-14T22:20:00Z", "0001-01-01T00:00:00+01:00", "2023-11-14T22:20:00",
             "tomorrow", "", "²"]) | st.text(max_size=12)

        @seed(seed_ + 2)
        @settings(max_examples=share["cli"], **common)
        @given(mutated_trace(), until_texts,
               st.sampled_from(["none", "fresh", "input", "dir", "missing", "devfull",
                                "existing"]), st.booleans(), st.booleans())
        def cli(drawn: tuple[str, list[bytes]], until: str | None, out_kind: str,
                force: bool, as_json: bool) -> None:
            target_cli(tally, tmp, drawn, until, out_kind, force, as_json)

        @seed(seed_ + 3)
        @settings(max_examples=share["receiver"], **common)
        @given(callback_request())
        def receiver(request: tuple[dict[str, str], bytes, str]) -> None:
            target_receiver(tally, request)

        for name, prop in (("reader", reader), ("replay", replays), ("cli", cli),
                           ("receiver", receiver)):
            if share[name]:
                if not quiet:
                    print(f"fuzz: {name}: {share[name]} cases...", flush=True)
                prop()
    signal.signal(signal.SIGALRM, old)
    return tally


def summary(tally: Tally, cases: int, seed_: int, seconds: float, *, markdown: bool) -> str:
    rows = [("target", "cases", "clean errors", "tracebacks", "hangs > 10 s", "leaks")]
    for t in TARGETS:
        rows.append((t, str(tally.cases[t]), str(tally.clean_errors[t]),
                     str(tally.tracebacks[t]), str(tally.hangs[t]), str(tally.leaks[t])))
    rows.append(("all", str(tally.total), str(sum(tally.clean_errors.values())),
                 str(sum(tally.tracebacks.values())), str(sum(tally.hangs.values())),
                 str(sum(tally.leaks.values()))))
    head = (f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n"
            f"- machine: {platform.machine()}, {os.cpu_count()} CPUs; CPython "
            f"{platform.python_version()}\n"
            f"- run: `python3 dev.py fuzz --cases {cases} --seed {seed_}`, {seconds:.0f} s; "
            f"slowest case {tally.slowest:.2f} s\n")
    if markdown:
        lines = ["| " + " | ".join(r) + " |" for r in rows]
        lines.insert(1, "|---|" + "---:|" * (len(rows[0]) - 1))
        return head + "\n" + "\n".join(lines) + "\n"
    width = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return head + "\n".join("  ".join(c.rjust(w) for c, w in zip(r, width, strict=True))
                            for r in rows) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    if args.cases < 0 or not math.isfinite(args.cases):
        parser.error("--cases: a count")
    started = time.perf_counter()
    tally = run(args.cases, args.seed, quiet=False)
    print(summary(tally, args.cases, args.seed, time.perf_counter() - started,
                  markdown=args.markdown))
    for example in tally.examples:
        print(example, file=sys.stderr)
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
