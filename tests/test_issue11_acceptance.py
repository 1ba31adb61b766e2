"""Issue 11's contracts as a user meets them (black box): the ``recstate`` CLI as a
subprocess, real SQLite files in tmp_path, the real Redis on 127.0.0.1:6379 under a prefix of
our own (deleted afterwards), ``recstate serve`` as a subprocess on a loopback port.

Expected values come from the issue, the README and the vendor documents (002 §6: a new MP4
every 90 minutes, 1 minute without data closes the recording; 000: the 抄送 callback and its
fields; NetEase's CheckSum = SHA1(AppSecret + MD5 + CurTime)), never from the code.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from recstate.examples import path_of, traces

RECSTATE = str(Path(sys.executable).parent / "recstate")
REDIS = "redis://127.0.0.1:6379/0"
T0 = 1_700_000_000  # the example traces' epoch (2023-11-14T22:13:20Z)
KEY = "1001:7:alice"
START_OK = T0 + 1  # tencent-200min: requestMultiVideoRecorderStart:ok, the first file opens
SECRET = "acceptance-AppSecret-0b9e"
EXAMPLES = traces()


# ---- helpers -----------------------------------------------------------------------------------
def example(name: str) -> Path:
    return path_of(name)


def recstate(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None,
             timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RECSTATE, *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def report(*args: str | Path, cwd: Path | None = None) -> dict[str, Any]:
    """``recstate replay --json ARGS``'s report; the run must not fail to read (status 2)."""
    done = recstate("replay", "--json", *args, cwd=cwd)
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def write_trace(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return path


def versions(db: Path) -> dict[str, int]:
    """Each session's version in a SQLite store (docs/architecture.md, Stores: the
    ``sessions`` row, its version checked in the UPDATE)."""
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT key, version FROM sessions").fetchall())


@pytest.fixture
def prefix() -> Iterator[str]:
    """A Redis key prefix of our own; every key under it is deleted afterwards."""
    name = f"acc11-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(REDIS)
    keys = list(client.scan_iter(match=f"{name}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def redis_keys(prefix: str) -> list[bytes]:
    client = redis.Redis.from_url(REDIS)
    try:
        return list(client.scan_iter(match=f"{prefix}:*", count=1000))
    finally:
        client.close()


def serve_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RECSTATE_BRIDGE_SECRET", "RECSTATE_NETEASE_APP_SECRET")}
    env.update(extra)
    return env


@contextmanager
def serving(store: str, *args: str, cwd: Path, env: dict[str, str] | None = None
            ) -> Iterator[httpx.Client]:
    """``recstate serve --store STORE --host 127.0.0.1 --port 0 ARGS`` in ``cwd``; a client on
    the URL its banner names; SIGTERM and wait at the end."""
    with serving_process(store, *args, cwd=cwd, env=env) as (_, client):
        yield client


@contextmanager
def serving_process(store: str, *args: str, cwd: Path, env: dict[str, str] | None = None
                    ) -> Iterator[tuple[subprocess.Popen[str], httpx.Client]]:
    """As :func:`serving`, with the process (a test may kill it first)."""
    proc = subprocess.Popen([RECSTATE, "serve", "--store", store, "--host", "127.0.0.1",
                             "--port", "0", *args], cwd=cwd, env=env or serve_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        if not banner.startswith("recstate serve: listening on http://127.0.0.1:"):
            proc.kill()
            _, err = proc.communicate(timeout=30)
            pytest.fail(f"serve did not start: {banner!r} {err}")
        url = banner.split("listening on ", 1)[1].split()[0]
        with httpx.Client(base_url=url, timeout=60) as client:
            yield proc, client
    finally:
        killed = proc.poll() is not None
        proc.terminate()
        _, err = proc.communicate(timeout=60)
        assert killed or "Traceback" not in (err or ""), err


# ---- store URLs --------------------------------------------------------------------------------
def test_the_examples_command_lists_every_shipped_trace() -> None:
    done = subprocess.run([sys.executable, "-m", "recstate.examples"], capture_output=True,
                          text=True, check=False)
    listed = done.stdout + done.stderr
    assert len(EXAMPLES) >= 20
    for name in EXAMPLES:
        assert name in listed


def test_python_m_recstate_is_the_cli(tmp_path: Path) -> None:
    trace = example("tencent-crash.jsonl")
    by_module = subprocess.run([sys.executable, "-m", "recstate", "replay", "--json",
                                str(trace), "--store", "sqlite:///m.db"], cwd=tmp_path,
                               capture_output=True, text=True, check=False)
    assert by_module.returncode == 0, by_module.stderr
    assert json.loads(by_module.stdout) == report(trace)


def test_memory_url(tmp_path: Path) -> None:
    trace = example("tencent-200min.jsonl")
    assert report(trace, "--store", "memory:", cwd=tmp_path) == report(trace, cwd=tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing written anywhere


def test_sqlite_relative_url_is_relative_to_the_working_directory(tmp_path: Path) -> None:
    trace = example("tencent-200min.jsonl")
    (tmp_path / "sub").mkdir()
    got = report(trace, "--store", "sqlite:///sub/relative.db", cwd=tmp_path)
    assert got == report(trace)
    assert (tmp_path / "sub" / "relative.db").is_file()
    assert list(versions(tmp_path / "sub" / "relative.db")) == [KEY]


def test_sqlite_absolute_url_has_four_slashes(tmp_path: Path) -> None:
    trace = example("tencent-200min.jsonl")
    db = tmp_path / "abs" / "path.db"
    db.parent.mkdir()
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    assert str(db).startswith("/")
    got = report(trace, "--store", f"sqlite:///{db}", cwd=elsewhere)  # sqlite:////tmp/...
    assert got == report(trace)
    assert db.is_file()
    assert list(elsewhere.iterdir()) == []


def test_redis_url_with_db_and_prefix(tmp_path: Path, prefix: str) -> None:
    trace = example("tencent-200min.jsonl")
    got = report(trace, "--store", f"redis://127.0.0.1:6379/0?prefix={prefix}", cwd=tmp_path)
    assert got == report(trace)
    keys = redis_keys(prefix)
    assert keys, "the redis store wrote nothing under its prefix"
    assert all(k.startswith(f"{prefix}:".encode()) for k in keys)


BAD = "acc11-badurl"  # a prefix nothing else uses: a bad URL must write nothing under it
BAD_URLS = [
    "sqlite://relative.db",  # two slashes: not SQLAlchemy's form
    "sqlite:/relative.db",
    "sqlite:///",  # no file
    "postgres://127.0.0.1/recstate",
    "memory:anything",
    "mysql:///x.db",
    f"redis://127.0.0.1:6379/notadb?prefix={BAD}",
    f"redis://127.0.0.1:99999/0?prefix={BAD}",
    f"redis://127.0.0.1:port/0?prefix={BAD}",
    f"redis://127.0.0.1:6379/0?prefix={BAD}&partitions=many",
    f"redis://[::1/0?prefix={BAD}",
]


@pytest.fixture
def bad_prefix() -> Iterator[str]:
    """BAD, empty before the test and after it."""
    def clear() -> None:
        client = redis.Redis.from_url(REDIS)
        keys = list(client.scan_iter(match=f"{BAD}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()

    clear()
    yield BAD
    clear()


@pytest.mark.parametrize("url", BAD_URLS)
@pytest.mark.usefixtures("bad_prefix")
def test_a_bad_store_url_is_a_clear_error(tmp_path: Path, url: str) -> None:
    done = recstate("replay", example("tencent-crash.jsonl"), "--store", url, cwd=tmp_path)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stdout == ""
    assert url in done.stderr  # it names the URL as given
    for form in ("memory:", "sqlite:///", "redis://"):  # and what is accepted
        assert form in done.stderr, done.stderr
    assert redis_keys(BAD) == []
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("url", [u for u in BAD_URLS if u.startswith("redis")])
@pytest.mark.usefixtures("bad_prefix")
def test_a_bad_redis_url_with_workers_is_a_clear_error(tmp_path: Path, url: str) -> None:
    done = recstate("replay", example("tencent-crash.jsonl"), "--store", url, "--workers", "2",
                    cwd=tmp_path)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    assert url in done.stderr
    assert redis_keys(BAD) == []


@pytest.mark.parametrize("url", ["sqlite://relative.db", "redis://127.0.0.1:99999/0"])
def test_serve_refuses_a_bad_store_url_clearly(tmp_path: Path, url: str) -> None:
    done = recstate("serve", "--store", url, "--port", "0", cwd=tmp_path, timeout=120)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    assert url in done.stderr
    assert "memory:" in done.stderr
    assert "sqlite:///" in done.stderr


@pytest.mark.usefixtures("bad_prefix")
def test_a_password_in_a_redis_url_never_shows(tmp_path: Path) -> None:
    url = f"redis://:hunter2-secret@127.0.0.1:1/0?prefix={BAD}"  # nothing listens on :1
    done = recstate("replay", example("tencent-crash.jsonl"), "--store", url, cwd=tmp_path)
    assert done.returncode == 2
    assert "hunter2-secret" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_serve_shows_no_redis_password(tmp_path: Path, prefix: str) -> None:
    url = f"redis://:hunter2-secret@127.0.0.1:6379/0?prefix={prefix}"
    proc = subprocess.Popen([RECSTATE, "serve", "--store", url, "--port", "0"], cwd=tmp_path,
                            env=serve_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        said = banner
        if banner.startswith("recstate serve: listening on "):
            base = banner.split("listening on ", 1)[1].split()[0]
            said += httpx.get(f"{base}/healthz", timeout=60).text
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert "hunter2-secret" not in said + err, said + err


# ---- replay with a store: resume, and the same report -----------------------------------------
@pytest.mark.parametrize("name", EXAMPLES)
def test_replay_on_sqlite_twice_equals_replay_without_a_store(tmp_path: Path, name: str
                                                              ) -> None:
    trace = example(name)
    plain = recstate("replay", "--json", trace, cwd=tmp_path)
    first = recstate("replay", "--json", trace, "--store", "sqlite:///r.db", cwd=tmp_path)
    after_first = versions(tmp_path / "r.db")
    second = recstate("replay", "--json", trace, "--store", "sqlite:///r.db", cwd=tmp_path)
    for done in (plain, first, second):
        assert done.returncode in (0, 1), done.stderr
    assert first.stdout == plain.stdout
    assert second.stdout == plain.stdout  # byte for byte
    assert first.returncode == second.returncode == plain.returncode
    # the second run applied nothing again: no session moved
    assert versions(tmp_path / "r.db") == after_first
    assert after_first, "the store kept no session"


def many_recordings(path: Path, users: int = 40, beats: int = 200) -> Path:
    """``users`` Tencent recordings, each with ``beats`` data heartbeats 30 s apart."""
    lines: list[dict[str, Any]] = []
    for user in range(users):
        room = {"relationId": 1001, "roomId": user}
        lines += [
            {"t": T0, "vendor": "tencent", "name": "enterRoom", "session": f"1001:{user}:u{user}",
             "data": {**room, "roomType": "multi", "user": f"u{user}"}},
            {"t": T0, "vendor": "tencent", "name": "requestMultiVideoRecorderStart",
             "session": f"1001:{user}:u{user}",
             "data": {"roomInfo": room, "param": {"fileName": f"f{user}"}}},
        ]
    lines += [{"t": START_OK, "vendor": "tencent", "name": "requestMultiVideoRecorderStart:ok",
               "session": f"1001:{u}:u{u}", "data": {}} for u in range(users)]
    for k in range(1, beats):
        lines += [{"t": START_OK + 30 * k, "vendor": "tencent", "name": "mediaData",
                   "session": f"1001:{u}:u{u}"} for u in range(users)]
    return write_trace(path, lines)


def test_a_killed_replay_resumes_and_reports_the_same(tmp_path: Path) -> None:
    """SIGKILL once the store holds something, run again: the report of a run never killed."""
    trace = many_recordings(tmp_path / "many.jsonl")
    expected = recstate("replay", "--json", trace, cwd=tmp_path)
    assert expected.returncode == 0, expected.stderr
    assert len(json.loads(expected.stdout)["sessions"]) == 40
    db = tmp_path / "k.db"
    proc = subprocess.Popen([RECSTATE, "replay", "--json", str(trace), "--store",
                             f"sqlite:///{db}"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:  # wait (bounded) for the first commits, then kill without warning
        for _ in range(20_000):
            if proc.poll() is not None:
                break
            try:
                if versions(db):
                    break
            except sqlite3.Error:
                pass
    finally:
        proc.kill()
        proc.wait(timeout=60)
    again = recstate("replay", "--json", trace, "--store", f"sqlite:///{db}", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout == expected.stdout


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def journaled(client: redis.Redis, prefix: str) -> bool:
    """Whether a handling was committed under ``prefix`` (docs/architecture.md, Redis design:
    the journal, one list per partition ``P:{p}:journal``, 16 partitions by default)."""
    keys = [f"{prefix}:{{{p}}}:journal" for p in range(16)] + [f"{prefix}:journal"]
    return bool(client.exists(*keys))


def test_a_worker_killed_mid_run_changes_nothing(tmp_path: Path, prefix: str) -> None:
    trace = many_recordings(tmp_path / "many.jsonl", beats=300)
    expected = recstate("replay", "--json", trace, cwd=tmp_path)
    assert expected.returncode == 0, expected.stderr
    proc = subprocess.Popen([RECSTATE, "replay", "--json", str(trace), "--store",
                             f"redis://127.0.0.1:6379/0?prefix={prefix}", "--workers", "2"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    client = redis.Redis.from_url(REDIS)
    killed = None
    try:  # once the workers run and have committed something, SIGKILL one of them
        for _ in range(100_000):
            if proc.poll() is not None:
                break
            workers = children(proc.pid)
            if len(workers) == 2 and journaled(client, prefix):
                killed = workers[0]
                os.kill(killed, 9)
                break
        out, err = proc.communicate(timeout=600)
    finally:
        client.close()
        if proc.poll() is None:
            proc.kill()
    assert killed is not None, "the workers finished before one could be killed"
    assert proc.returncode == 0, err
    assert json.loads(out) == json.loads(expected.stdout)


@pytest.mark.parametrize("name", ["tencent-200min.jsonl", "netease-pieces.jsonl",
                                  "juphoon-two-files.jsonl", "cloudroom-crash.jsonl"])
def test_replay_on_redis_twice_equals_replay_without_a_store(tmp_path: Path, prefix: str,
                                                             name: str) -> None:
    trace = example(name)
    url = f"redis://127.0.0.1:6379/0?prefix={prefix}"
    plain = recstate("replay", "--json", trace, cwd=tmp_path)
    first = recstate("replay", "--json", trace, "--store", url, cwd=tmp_path)
    second = recstate("replay", "--json", trace, "--store", url, cwd=tmp_path)
    assert plain.returncode in (0, 1), plain.stderr
    assert first.stdout == second.stdout == plain.stdout
    assert first.returncode == second.returncode == plain.returncode


# ---- many workers on Redis ---------------------------------------------------------------------
def test_workers_all_killed_then_run_again_give_the_same_report(tmp_path: Path,
                                                               prefix: str) -> None:
    trace = many_recordings(tmp_path / "many.jsonl", beats=300)
    expected = recstate("replay", "--json", trace, cwd=tmp_path)
    assert expected.returncode == 0, expected.stderr
    args = [RECSTATE, "replay", "--json", str(trace), "--store",
            f"redis://127.0.0.1:6379/0?prefix={prefix}", "--workers", "2"]
    proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    client = redis.Redis.from_url(REDIS)
    killed = False
    try:  # once the workers have committed something, SIGKILL the command and its workers
        for _ in range(100_000):
            if proc.poll() is not None:
                break
            workers = children(proc.pid)
            if len(workers) == 2 and journaled(client, prefix):
                for pid in [proc.pid, *workers]:
                    os.kill(pid, 9)
                killed = True
                break
    finally:
        client.close()
        proc.kill()
        proc.wait(timeout=60)
    assert killed, "the workers finished before they could be killed"
    again = recstate(*args[1:], cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == json.loads(expected.stdout)


def test_no_worker_shows_the_store_password_on_its_command_line(tmp_path: Path,
                                                                prefix: str) -> None:
    """A process's command line is anyone's to read (ps): the URL's password stays off it."""
    trace = many_recordings(tmp_path / "many.jsonl", beats=300)
    url = f"redis://:hunter2-secret@127.0.0.1:6379/0?prefix={prefix}"  # (no AUTH asked)
    proc = subprocess.Popen([RECSTATE, "replay", "--json", str(trace), "--store", url,
                             "--workers", "2"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    seen: list[str] = []
    try:
        for _ in range(100_000):
            if proc.poll() is not None:
                break
            seen = []
            for pid in children(proc.pid):  # (a child not yet exec'd shows our own line)
                with contextlib.suppress(OSError):
                    line = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
                    if "recstate.workers" in line:
                        seen.append(line)
            if len(seen) == 2:
                break
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert len(seen) == 2, "the workers finished before their command lines could be read"
    assert not any("hunter2-secret" in line for line in seen), seen
    assert "hunter2-secret" not in out + err


def test_every_worker_killed_is_said_clearly_and_the_command_resumes(tmp_path: Path,
                                                                    prefix: str) -> None:
    trace = many_recordings(tmp_path / "many.jsonl", beats=300)
    expected = recstate("replay", "--json", trace, cwd=tmp_path)
    assert expected.returncode == 0, expected.stderr
    args = ["replay", "--json", str(trace), "--store",
            f"redis://127.0.0.1:6379/0?prefix={prefix}", "--workers", "2"]
    proc = subprocess.Popen([RECSTATE, *args], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    client = redis.Redis.from_url(REDIS)
    killed = False
    try:  # the workers die (SIGKILL), the command that started them lives on
        for _ in range(100_000):
            if proc.poll() is not None:
                break
            workers = children(proc.pid)
            if len(workers) == 2 and journaled(client, prefix):
                for pid in workers:
                    os.kill(pid, 9)
                killed = True
                break
        out, err = proc.communicate(timeout=600)
    finally:
        client.close()
        if proc.poll() is None:
            proc.kill()
    assert killed, "the workers finished before they could be killed"
    assert proc.returncode == 2, (proc.returncode, err)
    assert "Traceback" not in err, err
    assert "run the same command again" in err
    assert out == ""
    again = recstate(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == json.loads(expected.stdout)


@pytest.mark.parametrize(("name", "workers"), [("tencent-200min.jsonl", 2),
                                                ("netease-multiparty-channel.jsonl", 2),
                                                ("tencent-duplicate-start.jsonl", 3),
                                                ("cloudroom-eight-hours.jsonl", 2)])
def test_workers_on_redis_give_the_single_process_report(tmp_path: Path, prefix: str,
                                                         name: str, workers: int) -> None:
    trace = example(name)
    single = recstate("replay", "--json", trace, "--out", "single.jsonl", cwd=tmp_path)
    spread = recstate("replay", "--json", trace, "--store",
                      f"redis://127.0.0.1:6379/0?prefix={prefix}", "--workers", str(workers),
                      "--out", "spread.jsonl", cwd=tmp_path)
    assert spread.returncode == single.returncode, spread.stderr
    assert json.loads(spread.stdout) == json.loads(single.stdout)
    assert (tmp_path / "spread.jsonl").read_bytes() == (tmp_path / "single.jsonl").read_bytes()


def test_workers_on_a_mixed_trace_of_many_sessions(tmp_path: Path, prefix: str) -> None:
    lines: list[dict[str, Any]] = []
    for name in ("tencent-200min.jsonl", "tencent-crash.jsonl", "netease-pieces.jsonl",
                 "juphoon-two-files.jsonl", "cloudroom-crash.jsonl"):
        lines += records(example(name))
    lines.sort(key=lambda r: r["t"] if isinstance(r["t"], (int, float)) else 0)
    if any(not isinstance(r["t"], (int, float)) for r in lines):
        pytest.skip("an example uses ISO times; mixed ordering not needed")
    trace = write_trace(tmp_path / "mixed.jsonl", lines)
    single = recstate("replay", "--json", trace, cwd=tmp_path)
    spread = recstate("replay", "--json", trace, "--store",
                      f"redis://127.0.0.1:6379/0?prefix={prefix}", "--workers", "2",
                      cwd=tmp_path)
    assert single.returncode in (0, 1), single.stderr
    assert spread.returncode == single.returncode, spread.stderr
    assert json.loads(spread.stdout) == json.loads(single.stdout)


@pytest.mark.parametrize("store", [None, "memory:", "sqlite:///w.db"])
def test_workers_without_redis_are_refused(tmp_path: Path, store: str | None) -> None:
    args: list[str | Path] = ["replay", example("tencent-crash.jsonl"), "--workers", "2"]
    if store is not None:
        args += ["--store", store]
    done = recstate(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "--workers" in done.stderr
    assert "redis" in done.stderr
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


@pytest.mark.parametrize("args", [["--strict", "--workers", "2"],
                                  ["--html", "r.html", "--workers", "2"],
                                  ["--html", "r.html"]])
def test_options_a_store_or_workers_cannot_honour_are_refused(tmp_path: Path, prefix: str,
                                                              args: list[str]) -> None:
    """Not silently ignored: --strict on workers reported every violation; --html ran
    without the store."""
    done = recstate("replay", example("tencent-crash.jsonl"), *args, "--store",
                    f"redis://127.0.0.1:6379/0?prefix={prefix}", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert args[0] in done.stderr
    assert list(tmp_path.iterdir()) == []
    assert redis_keys(prefix) == []


@pytest.mark.parametrize("count", ["0", "-1"])
def test_a_worker_count_below_one_is_refused(tmp_path: Path, prefix: str, count: str) -> None:
    done = recstate("replay", example("tencent-crash.jsonl"), "--workers", count,
                    "--store", f"redis://127.0.0.1:6379/0?prefix={prefix}", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "--workers" in done.stderr


# ---- idempotency -------------------------------------------------------------------------------
def _duplicates(rep: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for s in rep["sessions"] for e in s["errors"] if e["code"] == "duplicate"]


@pytest.mark.parametrize("store", [None, "sqlite:///i.db"])
def test_a_redelivered_netease_callback_is_acknowledged_and_skipped(tmp_path: Path,
                                                                    store: str | None) -> None:
    lines = records(example("netease-pieces.jsonl"))
    piece0 = next(r for r in lines if r["name"] == "callback")
    again = {**piece0, "t": T0 + 5000}  # the same body (channelid+filename+pieceindex) later
    trace = write_trace(tmp_path / "again.jsonl", [*lines, again])
    extra = ["--store", store] if store else []
    base = report(example("netease-pieces.jsonl"), cwd=tmp_path)
    got = report(trace, "--out", tmp_path / "full.jsonl", *extra, cwd=tmp_path)
    assert got["sessions"][0]["files"] == base["sessions"][0]["files"]  # nothing applied twice
    assert got["sessions"][0]["state"] == base["sessions"][0]["state"]
    assert sum(s["violations"] if isinstance(s["violations"], int) else len(s["violations"])
               for s in got["sessions"]) == 0
    new = [e for e in _duplicates(got) if e["t"] == T0 + 5000]
    assert len(new) == 1
    assert new[0]["level"] == "info"
    # the trace says so too
    notes = [r for r in records(tmp_path / "full.jsonl")
             if r.get("t") == T0 + 5000 and "duplicate" in json.dumps(r)
             and r.get("kind") not in (None, "event")]
    assert notes, "the --out trace does not say the redelivery was skipped"


@pytest.mark.parametrize("store", [None, "sqlite:///i.db"])
def test_a_repeated_generic_id_is_acknowledged_and_skipped(tmp_path: Path,
                                                           store: str | None) -> None:
    lines = records(example("tencent-200min.jsonl"))
    stop_ok = next(i for i, r in enumerate(lines)
                   if r["name"] == "requestMultiVideoRecorderStop:ok")
    lines[stop_ok] = {**lines[stop_ok], "id": "stop-ok-1"}
    repeat = {**lines[stop_ok], "t": lines[stop_ok]["t"] + 1}  # same id, delivered again
    trace = write_trace(tmp_path / "ids.jsonl", [*lines[:stop_ok + 1], repeat,
                                                 *lines[stop_ok + 1:]])
    extra = ["--store", store] if store else []
    base = report(example("tencent-200min.jsonl"), cwd=tmp_path)
    done = recstate("replay", "--json", trace, *extra, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:]
    got = json.loads(done.stdout)
    assert got["sessions"][0]["files"] == base["sessions"][0]["files"]
    dup = _duplicates(got)
    assert len(dup) == 1
    assert dup[0]["level"] == "info"
    assert dup[0]["t"] == repeat["t"]


# ---- recstate serve ------------------------------------------------------------------------------
def tencent(t: float, name: str, data: dict[str, Any] | None = None, key: str = KEY
            ) -> dict[str, Any]:
    out: dict[str, Any] = {"t": t, "vendor": "tencent", "name": name, "session": key}
    if data is not None:
        out["data"] = data
    return out


ROOM = {"relationId": 1001, "roomId": 7}
ENTER = tencent(T0, "enterRoom", {**ROOM, "roomType": "multi", "user": "alice"})
START = tencent(T0, "requestMultiVideoRecorderStart",
                {"roomInfo": ROOM, "param": {"fileName": "class-42", "classId": 1}})
STARTED = tencent(START_OK, "requestMultiVideoRecorderStart:ok", {})


def jsonl(*lines: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in lines)


def test_serve_takes_an_object_an_array_and_json_lines(tmp_path: Path) -> None:
    with serving("sqlite:///s.db", "--virtual-clock", str(T0), cwd=tmp_path) as http:
        assert http.get("/healthz").status_code == 200
        assert http.get("/sessions").json()["sessions"] == []
        r = http.post("/events", json=ENTER)  # one JSON object
        assert r.status_code == 200, r.text
        assert http.get(f"/sessions/{KEY}").json()["state"] == "idle"
        r = http.post("/events", json=[START, STARTED])  # a JSON array
        assert r.status_code == 200, r.text
        view = http.get(f"/sessions/{KEY}").json()
        assert view["state"] == "recording"
        assert view["recording"] == "recording"  # the canonical (unified) state
        assert [(f["start"], f["end"], f["status"]) for f in view["files"]] == [
            (START_OK, None, "open")]
        # 002 §6: a new MP4 every 90 minutes; 1 minute without data closes the recording
        assert sorted((t["name"], t["due"]) for t in view["timers"]) == [
            ("rollover", START_OK + 5400), ("watchdog", START_OK + 60)]
        data = jsonl(tencent(START_OK + 30, "mediaData"), tencent(START_OK + 50, "mediaData"))
        r = http.post("/events", content=data,  # JSON Lines
                      headers={"content-type": "application/x-ndjson"})
        assert r.status_code == 200, r.text
        view = http.get(f"/sessions/{KEY}").json()
        assert dict((t["name"], t["due"]) for t in view["timers"])["watchdog"] == START_OK + 110
        listed = http.get("/sessions").json()["sessions"]
        assert [s["session"] for s in listed] == [KEY]
        assert listed[0]["state"] == "recording"
        assert http.get("/sessions/no:such:key").status_code == 404
        health = http.get("/healthz")
        assert health.status_code == 200


def test_serve_keeps_its_sessions_across_a_restart(tmp_path: Path) -> None:
    with serving("sqlite:///s.db", "--virtual-clock", str(T0), cwd=tmp_path) as http:
        assert http.post("/events", json=[ENTER, START, STARTED]).status_code == 200
        before = http.get(f"/sessions/{KEY}").json()
    with serving("sqlite:///s.db", "--virtual-clock", str(START_OK + 10), cwd=tmp_path) as http:
        assert http.get(f"/sessions/{KEY}").json() == before


@pytest.mark.parametrize(("body", "line", "field"), [
    # line 2 lacks its time; line 1 is fine and must not be applied either
    (jsonl(ENTER, {k: v for k, v in START.items() if k != "t"}), 2, "t"),
    (jsonl(ENTER, {**START, "vendor": "nosuchvendor"}), 2, "vendor"),
    (jsonl(ENTER, STARTED, {**STARTED, "t": "yesterday"}), 3, "t"),
    (json.dumps([ENTER, {**START, "data": {"roomInfo": "seven"}}]).encode(), 2, "roomInfo"),
])
def test_a_bad_line_is_a_400_naming_it_and_nothing_is_applied(tmp_path: Path, body: bytes,
                                                              line: int, field: str) -> None:
    with serving("sqlite:///s.db", "--virtual-clock", str(T0), cwd=tmp_path) as http:
        before = http.get("/sessions").json()
        r = http.post("/events", content=body)
        assert r.status_code == 400, r.text
        answer = r.json()
        assert answer["line"] == line
        assert field in str(answer["field"]), answer
        assert http.get("/sessions").json() == before == {"sessions": []}


def _netease_call(http: httpx.Client) -> tuple[str, dict[str, Any]]:
    """alice calls bob (000), recorded; the call ends. (session key, the piece-0 callback)."""
    lines = records(example("netease-pieces.jsonl"))
    callback = next(r for r in lines if r["name"] == "callback")
    before = [r for r in lines if r["t"] < callback["t"]]
    r = http.post("/events", content=jsonl(*before))
    assert r.status_code == 200, r.text
    return lines[0]["session"], callback


def _signed(body: bytes, cur: int, secret: str = SECRET) -> dict[str, str]:
    md5 = hashlib.md5(body).hexdigest()
    checksum = hashlib.sha1((secret + md5 + str(cur)).encode()).hexdigest()
    return {"AppKey": "appkey-1", "CurTime": str(cur), "MD5": md5, "CheckSum": checksum,
            "Content-Type": "application/json"}


def test_the_netease_callback_checks_its_checksum(tmp_path: Path) -> None:
    env = serve_env(RECSTATE_NETEASE_APP_SECRET=SECRET)
    with serving("sqlite:///s.db", "--virtual-clock", str(T0), cwd=tmp_path, env=env) as http:
        key, callback = _netease_call(http)
        body = json.dumps(callback["data"]).encode()
        cur = int(callback["t"])
        http.post("/clock", json={"to": cur})
        before = http.get(f"/sessions/{key}").json()
        assert all(f["status"] != "ready" for f in before["files"])
        bad = _signed(body, cur, secret="not-the-AppSecret")
        r = http.post("/netease/callback", content=body, headers=bad)
        assert r.status_code == 401, r.text
        assert SECRET not in r.text
        assert http.get(f"/sessions/{key}").json() == before  # nothing changed
        r = http.post("/netease/callback", content=body, headers=_signed(body, cur))
        assert r.status_code == 200, r.text
        after = http.get(f"/sessions/{key}").json()
        ready = sorted(f["url"] for f in after["files"] if f["status"] == "ready")
        assert ready == sorted(item["url"] for item in json.loads(callback["data"]["fileinfo"]))
        # redelivered (same channelid + filename + pieceindex): acknowledged, applied once
        r = http.post("/netease/callback", content=body, headers=_signed(body, cur))
        assert r.status_code == 200, r.text
        assert http.get(f"/sessions/{key}").json()["files"] == after["files"]


def test_metrics_name_the_families_the_issue_asks_for(tmp_path: Path) -> None:
    with serving("memory:", "--virtual-clock", str(T0), cwd=tmp_path) as http:
        assert http.post("/events", json=[ENTER, START, STARTED]).status_code == 200
        r = http.get("/metrics")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        text = r.text
    families = {line.split()[2].removesuffix("_total") for line in text.splitlines()
                if line.startswith("# TYPE")}
    for family in ("recstate_events_handled", "recstate_violations", "recstate_errors",
                   "recstate_live_sessions", "recstate_timers_due",
                   "recstate_handling_seconds"):
        assert family in families, sorted(families)
    samples = dict(line.rsplit(" ", 1) for line in text.splitlines()
                   if line and not line.startswith("#"))
    assert float(samples['recstate_events_handled_total{vendor="tencent"}']) >= 3
    assert float(samples["recstate_live_sessions"]) >= 1
    assert float(samples["recstate_handling_seconds_count"]) >= 3


@pytest.mark.parametrize(("body", "headers"), [
    (b"[" * 200_000 + b"]" * 200_000, {"content-type": "application/json"}),
    (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, {"content-type": "application/json"}),
    (b'{"t": 1700000000, "vendor": "tencent", "name": "enterRoom", "session": "\xff\xfe"}',
     {"content-type": "application/json"}),
    (b"\xc3\x28\xa0\xa1", {}),
    (b"<events><event/></events>", {"content-type": "application/xml"}),
    (b"--b\r\nContent-Disposition: form-data; name=x\r\n\r\n1\r\n--b--\r\n",
     {"content-type": "multipart/form-data; boundary=b"}),
    (b"null", {"content-type": "application/json"}),
    (b"42", {"content-type": "application/json"}),
])
def test_a_hostile_body_is_a_clear_4xx_and_the_service_goes_on(
        tmp_path: Path, body: bytes, headers: dict[str, str]) -> None:
    with serving("sqlite:///s.db", "--virtual-clock", str(T0), cwd=tmp_path) as http:
        r = http.post("/events", content=body, headers=headers)
        assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
        assert r.json()["error"]  # says what
        assert http.get("/sessions").json() == {"sessions": []}
        assert http.get("/healthz").status_code == 200
        assert http.post("/events", json=ENTER).status_code == 200  # and it carries on
        assert http.get(f"/sessions/{KEY}").json()["state"] == "idle"


@pytest.mark.parametrize("kind", ["application/xml", "multipart/form-data; boundary=b",
                                  "application/x-www-form-urlencoded"])
def test_a_body_of_another_type_is_told_what_is_taken(tmp_path: Path, kind: str) -> None:
    with serving("memory:", cwd=tmp_path) as http:
        r = http.post("/events", content=b"a=1&b=<x/>", headers={"content-type": kind})
        assert r.status_code == 400, r.text
        assert "JSON Lines" in r.json()["error"]
        assert kind.split(";")[0] in r.json()["error"]


@pytest.mark.parametrize("chunked", [False, True])
def test_a_huge_body_is_refused_without_being_applied(tmp_path: Path, chunked: bool) -> None:
    # a valid line after 64 MiB of JSON Lines whitespace: a bound stops it, with a 413,
    # whether the size is said up front (Content-Length) or not (chunked)
    big = jsonl(ENTER) + b" " * (64 * 1024 * 1024) + jsonl(ENTER)

    def pieces() -> Iterator[bytes]:
        for at in range(0, len(big), 1 << 20):
            yield big[at:at + (1 << 20)]

    with serving("sqlite:///s.db", "--virtual-clock", str(T0), cwd=tmp_path) as http:
        try:
            r = http.post("/events", content=pieces() if chunked else big)
        except httpx.TransportError:  # it may hang up before reading the rest: that is fine
            r = None
        if r is not None:
            assert r.status_code == 413, (r.status_code, r.text[:300])
            assert r.json()["error"]
        assert http.get("/sessions").json() == {"sessions": []}
        assert http.get("/healthz").status_code == 200
        assert http.post("/events", json=ENTER).status_code == 200


# ---- timers that fell due while the service was down -----------------------------------------
def _recording_until(last_data: int) -> list[dict[str, Any]]:
    """tencent-200min's recording up to ``last_data`` (its heartbeats every 30 s)."""
    return [r for r in records(example("tencent-200min.jsonl")) if r["t"] <= last_data]


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_a_rollover_due_while_down_fires_at_its_own_time_on_restart(tmp_path: Path,
                                                                    prefix: str,
                                                                    kind: str) -> None:
    store = ("sqlite:///d.db" if kind == "sqlite"
             else f"redis://127.0.0.1:6379/0?prefix={prefix}")
    lines = _recording_until(START_OK + 5370)  # data up to 5370 s into the recording
    with serving(store, "--virtual-clock", str(T0), cwd=tmp_path) as http:
        assert http.post("/events", content=jsonl(*lines)).status_code == 200
        view = http.get(f"/sessions/{KEY}").json()
        assert [f["end"] for f in view["files"]] == [None]
    # down from +5370 to +5420: the 90-minute rollover (+5400) falls due meanwhile
    restart = START_OK + 5420
    with serving(store, "--virtual-clock", str(restart), cwd=tmp_path) as http:
        http.post("/clock", json={"to": restart})  # whatever is due has fired now
        view = http.get(f"/sessions/{KEY}").json()
    files = [(f["start"], f["end"], f["status"]) for f in view["files"]]
    assert files == [(START_OK, START_OK + 5400, "closed"), (START_OK + 5400, None, "open")]
    assert view["state"] == "recording"
    # the watchdog still counts from the last data (+5370 + 60), not from the restart
    assert dict((t["name"], t["due"]) for t in view["timers"])["watchdog"] == START_OK + 5430


def test_a_watchdog_due_while_down_ends_the_file_at_the_last_data(tmp_path: Path) -> None:
    lines = _recording_until(START_OK + 1800)  # the client's data stops at +1800 s
    with serving("sqlite:///d.db", "--virtual-clock", str(T0), cwd=tmp_path) as http:
        assert http.post("/events", content=jsonl(*lines)).status_code == 200
    restart = START_OK + 4000  # down for more than the 60 s watchdog
    with serving("sqlite:///d.db", "--virtual-clock", str(restart), cwd=tmp_path) as http:
        http.post("/clock", json={"to": restart})
        view = http.get(f"/sessions/{KEY}").json()
    assert view["files"][0]["start"] == START_OK
    assert view["files"][0]["end"] == START_OK + 1800  # 002 §6: ends at the last data
    assert len(view["files"]) == 1
    assert view["recording"] != "recording"


def test_a_store_written_by_replay_is_taken_up_by_serve(tmp_path: Path) -> None:
    """One process (replay) writes the store; the next (serve) recovers its timers."""
    trace = write_trace(tmp_path / "part.jsonl", _recording_until(START_OK + 5370))
    first = report(trace, "--store", "sqlite:///h.db", cwd=tmp_path)
    assert first["sessions"][0]["files"][0]["end"] is None
    restart = START_OK + 5420
    with serving("sqlite:///h.db", "--virtual-clock", str(restart), cwd=tmp_path) as http:
        http.post("/clock", json={"to": restart})
        view = http.get(f"/sessions/{KEY}").json()
    assert [(f["start"], f["end"]) for f in view["files"]] == [
        (START_OK, START_OK + 5400), (START_OK + 5400, None)]


# ---- more of serve, and of a store's claims -----------------------------------------------------
def test_two_serve_processes_on_one_redis_are_one_service(tmp_path: Path, prefix: str) -> None:
    store = f"redis://127.0.0.1:6379/0?prefix={prefix}"
    with serving(store, "--virtual-clock", str(T0), cwd=tmp_path) as one, \
            serving(store, "--virtual-clock", str(T0), cwd=tmp_path) as two:
        assert one.post("/events", json=ENTER).status_code == 200
        assert two.post("/events", json=START).status_code == 200  # the other process
        assert one.post("/events", json=STARTED).status_code == 200
        for http in (one, two):
            view = http.get(f"/sessions/{KEY}").json()
            assert view["state"] == "recording"
            assert [f["start"] for f in view["files"]] == [START_OK]


def test_a_serve_process_that_dies_leaves_its_timers_to_the_others(tmp_path: Path,
                                                                   prefix: str) -> None:
    store = f"redis://127.0.0.1:6379/0?prefix={prefix}"
    with serving_process(store, "--virtual-clock", str(T0), cwd=tmp_path) as (one, a), \
            serving(store, "--virtual-clock", str(T0), cwd=tmp_path) as b:
        assert a.post("/events", json=[ENTER, START, STARTED]).status_code == 200
        one.kill()  # SIGKILL: the process that handled the recording is gone
        one.wait(timeout=60)
        # 002 §6: a minute without data closes the recording; the survivor's clock passes it
        assert b.post("/clock", json={"to": START_OK + 100}).status_code == 200
        view = b.get(f"/sessions/{KEY}").json()
    assert view["recording"] != "recording", view
    assert [f["end"] for f in view["files"]] == [START_OK]  # no data came: ends at its start


def alice_asks_to_record_in_room_8(client: Any) -> Any:
    """alice, recording in room 7, enters room 8 and asks to record there; the session view
    of room 8 after it (002/004: one recording per user at a time, 30000415)."""
    room8 = {"relationId": 1001, "roomId": 8}
    key8 = "1001:8:alice"
    client.post("/events", json=[
        tencent(START_OK + 10, "enterRoom", {**room8, "roomType": "multi", "user": "alice"},
                key=key8),
        tencent(START_OK + 10, "requestMultiVideoRecorderStart",
                {"roomInfo": room8, "param": {"fileName": "other"}}, key=key8)])
    return client.get(f"/sessions/{key8}").json()


def test_one_recording_per_user_holds_across_serve_processes(tmp_path: Path,
                                                             prefix: str) -> None:
    store = f"redis://127.0.0.1:6379/0?prefix={prefix}"
    with serving(store, "--virtual-clock", str(T0), cwd=tmp_path) as a, \
            serving(store, "--virtual-clock", str(T0), cwd=tmp_path) as b:
        assert a.post("/events", json=[ENTER, START, STARTED]).status_code == 200
        # alice, recording in room 7 (through a), asks to record in room 8 (through b):
        # 002/004, one recording per user at a time (30000415), so it does not start
        view = alice_asks_to_record_in_room_8(b)
    assert view["recording"] not in ("starting", "recording"), view


def test_one_recording_per_user_holds_in_one_serve_process_across_a_restart(
        tmp_path: Path) -> None:
    with serving("sqlite:///s.db", "--virtual-clock", str(T0), cwd=tmp_path) as a:
        assert a.post("/events", json=[ENTER, START, STARTED]).status_code == 200
    # the shared index is in the store: the next process knows alice is busy
    with serving("sqlite:///s.db", "--virtual-clock", str(START_OK), cwd=tmp_path) as a:
        view = alice_asks_to_record_in_room_8(a)
    assert view["recording"] not in ("starting", "recording"), view


def test_serve_skips_an_input_whose_id_was_applied(tmp_path: Path) -> None:
    with serving("sqlite:///s.db", "--virtual-clock", str(T0), cwd=tmp_path) as http:
        assert http.post("/events", json=[ENTER, START, STARTED]).status_code == 200
        stop = tencent(START_OK + 40, "requestMultiVideoRecorderStop", {"roomInfo": ROOM})
        stop_ok = tencent(START_OK + 41, "requestMultiVideoRecorderStop:ok",
                          {"fileIds": ["5285890781763144364"]})
        stop_ok["id"] = "stop-ok-7"
        assert http.post("/events", json=[stop, stop_ok]).status_code == 200
        once = http.get(f"/sessions/{KEY}").json()
        r = http.post("/events", json={**stop_ok, "t": START_OK + 42})  # delivered again
        assert r.status_code == 200, r.text  # acknowledged
        again = http.get(f"/sessions/{KEY}").json()
        assert again["state"] == once["state"]
        assert again["files"] == once["files"]
        metrics = http.get("/metrics").text
    assert 'recstate_violations_total{vendor="tencent"}' not in metrics


def test_the_netease_endpoint_without_its_secret_says_what_to_set(tmp_path: Path) -> None:
    with serving("memory:", cwd=tmp_path) as http:
        body = b'{"eventType":"6","fileinfo":"[]"}'
        r = http.post("/netease/callback", content=body, headers=_signed(body, T0))
        assert r.status_code == 503, r.text
        assert "RECSTATE_NETEASE_APP_SECRET" in r.text


def test_a_store_kept_for_one_trace_refuses_another(tmp_path: Path) -> None:
    report(example("tencent-crash.jsonl"), "--store", "sqlite:///one.db", cwd=tmp_path)
    done = recstate("replay", example("tencent-200min.jsonl"), "--store", "sqlite:///one.db",
                    cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "tencent-crash" in done.stderr or "another" in done.stderr, done.stderr


def test_the_readme_serve_command_keeps_its_file_in_the_working_directory(tmp_path: Path
                                                                          ) -> None:
    with serving("sqlite:///recstate.db", cwd=tmp_path) as http:  # README: one command
        assert http.get("/healthz").json()["status"] == "ok"
    assert (tmp_path / "recstate.db").is_file()


def test_metrics_count_violations_errors_and_sessions(tmp_path: Path) -> None:
    with serving("memory:", "--virtual-clock", str(T0), cwd=tmp_path) as http:
        assert http.post("/events", json=[ENTER, START, STARTED]).status_code == 200
        # a second success of the start, once recording: not accepted (a violation)
        http.post("/events", json=tencent(START_OK + 5, "requestMultiVideoRecorderStart:ok",
                                          {}))
        # no data for a minute (002 §6): the watchdog closes the recording, an error notice
        assert http.post("/clock", json={"to": START_OK + 120}).status_code == 200
        text = http.get("/metrics").text
        view = http.get(f"/sessions/{KEY}").json()
    assert view["recording"] != "recording"
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    assert samples['recstate_violations_total{vendor="tencent"}'] == 1
    errors = {k: v for k, v in samples.items() if k.startswith("recstate_errors_total{")}
    assert sum(errors.values()) >= 1, errors
    assert samples["recstate_live_sessions"] == 1
    assert samples["recstate_timers_due"] == 0  # whatever fell due has fired


def test_an_applied_id_is_remembered_across_a_restart(tmp_path: Path) -> None:
    stop = tencent(START_OK + 40, "requestMultiVideoRecorderStop", {"roomInfo": ROOM})
    stop_ok = {**tencent(START_OK + 41, "requestMultiVideoRecorderStop:ok",
                         {"fileIds": ["5285890781763144364"]}), "id": "stop-ok-8"}
    with serving("sqlite:///s.db", "--virtual-clock", str(T0), cwd=tmp_path) as http:
        assert http.post("/events", json=[ENTER, START, STARTED, stop, stop_ok]
                         ).status_code == 200
        once = http.get(f"/sessions/{KEY}").json()
    with serving("sqlite:///s.db", "--virtual-clock", str(START_OK + 41), cwd=tmp_path) as http:
        r = http.post("/events", json={**stop_ok, "t": START_OK + 50})
        assert r.status_code == 200, r.text
        again = http.get(f"/sessions/{KEY}").json()
        metrics = http.get("/metrics").text
    assert (again["state"], again["files"]) == (once["state"], once["files"])
    assert 'recstate_violations_total{vendor="tencent"}' not in metrics


def test_serve_on_the_system_clock_fires_what_fell_due_and_keeps_the_session(tmp_path: Path
                                                                              ) -> None:
    """A store written in 2023 (replay) taken up by serve on today's clock: every timer fell
    due while 'down'. Each fires at its own due time (002 §6: the 90-minute rollover, then the
    watchdog closing the recording at the last data), and the finished session stays to be
    seen (it was retired at once: its retention counted from 2023)."""
    last = START_OK + 5370
    trace = write_trace(tmp_path / "part.jsonl", _recording_until(last))
    report(trace, "--store", "sqlite:///h.db", cwd=tmp_path)
    with serving("sqlite:///h.db", cwd=tmp_path) as http:
        for _ in range(500):  # the timers run at startup; look until they have
            r = http.get(f"/sessions/{KEY}")
            assert r.status_code == 200, r.text
            view = r.json()
            if view["recording"] != "recording":
                break
    assert view["state"] == "stopped"
    files = [(f["start"], f["end"], f["status"]) for f in view["files"]]
    # the data stopped 30 s before the rollover: the first file ends at the last data, and
    # the one the rollover opened has nothing in it
    assert files == [(START_OK, last, "closed"), (START_OK + 5400, START_OK + 5400, "lost")]
