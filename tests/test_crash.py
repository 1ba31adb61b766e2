"""Crash tests: ``recstate replay --store`` on a mixed workload (the Tencent 200-minute
recording, a NetEase call with its callback, more recordings with heartbeats) is killed with
SIGKILL at no fewer than 20 points drawn by a seeded generator (the K-th function call of the
run: inside a transaction, between commits, while loading), restarted each time, and
finally finishes: its report equals that of a run never killed and of a run without a store.

No wall clock: a kill point is a count of calls, not a time."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from recstate.stores.redis import RedisStore
from recstate.workload import write_mixed

ROOT = Path(__file__).resolve().parent.parent
RECSTATE = Path(sys.executable).parent / "recstate"
CHILD = ROOT / "tests" / "crash_child.py"
KILLS = 20


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=ROOT,
                          check=False, timeout=300)


def progress(url: str) -> int:
    """How far the store has got: its journal rows."""
    if url.startswith("sqlite:"):
        path = url.removeprefix("sqlite:///")
        if not Path(path).exists():
            return 0
        db = sqlite3.connect(path)
        try:
            return int(db.execute("SELECT coalesce(sum(records), 0) FROM journal"
                                  ).fetchone()[0])
        except sqlite3.OperationalError:
            return 0
        finally:
            db.close()
    store = RedisStore(url)
    try:
        return store.journal_length()
    finally:
        store.close()


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/crash.db"
        return
    prefix = f"crash-{uuid.uuid4().hex}"
    yield f"redis://127.0.0.1:6379/0?prefix={prefix}"
    store = RedisStore(f"redis://127.0.0.1:6379/0?prefix={prefix}")
    store.drop()
    store.close()


def test_replay_killed_at_random_points_finishes_with_the_unkilled_report(
        store_url: str, tmp_path: Path) -> None:
    trace = write_mixed(tmp_path / "workload.jsonl", sessions=8, minutes=25)
    reference = run(RECSTATE, "replay", "--json", trace)
    assert reference.returncode == 0, reference.stderr
    assert '"violations": 0' in reference.stdout

    # The length of a whole run with a store (on a scratch store of the same kind).
    scratch = (f"sqlite:///{tmp_path}/scratch.db" if store_url.startswith("sqlite:")
               else f"{store_url}-scratch")
    whole = run(sys.executable, CHILD, "0", "0", "replay", "--json", trace, "--store", scratch)
    assert whole.returncode == 0, whole.stderr
    assert whole.stdout == reference.stdout  # a store changes nothing in the report
    counts = dict(x.split("=") for x in whole.stderr.split()[-2:])
    commits, rows = int(counts["commits"]), progress(scratch)
    if not store_url.startswith("sqlite:"):
        RedisStore(scratch).drop()

    rng = random.Random(20261202)
    kills, seen = 0, []
    for _ in range(100):
        if kills >= KILLS:
            break
        done = progress(store_url)
        left = commits * (rows - done) // rows  # commits still to make, about
        after = rng.randint(0, max(1, left))
        point = rng.randint(1, 400)  # a call within the commit, or shortly after it
        got = run(sys.executable, CHILD, str(after), str(point), "replay", "--json", trace,
                  "--store", store_url)
        if got.returncode == -signal.SIGKILL:
            kills += 1
            seen.append(done)
        else:  # the run was shorter than the point: it finished, and must be right
            assert got.returncode == 0, got.stderr
            assert got.stdout == reference.stdout
    assert kills >= KILLS
    # killed at several stages of the store (group commits write 256 handlings at a time),
    # and the rest while resuming, catching up and reporting
    assert len(set(seen)) >= 4, f"the kills did not land at different stages: {seen}"
    assert sum(1 for done in seen if 0 < done < rows) >= 3, seen

    final = run(RECSTATE, "replay", "--json", trace, "--store", store_url)
    assert final.returncode == 0, final.stderr
    assert final.stdout == reference.stdout


SIMULATED = ROOT / "tests" / "simulated_run.py"


def test_a_simulated_run_killed_at_random_points_resumes_its_delayed_deliveries(
        store_url: str, tmp_path: Path) -> None:
    """NetEase calls whose every answer is a simulator's delayed delivery (call:ok, the
    callee's accept, the callback service's files 60 s after the hang-up, each body twice),
    killed with SIGKILL at 20 seeded points and run again each time: the deliveries pending
    at each kill come back from the store, so the final journal and sessions equal those
    of a run never killed (a lost delivery leaves a call unanswered or its files missing;
    one delivered twice adds a duplicate notice)."""
    calls = "8"
    scratch = (f"sqlite:///{tmp_path}/scratch.db" if store_url.startswith("sqlite:")
               else f"{store_url}-scratch")
    whole = run(sys.executable, CHILD, "0", "0", "simulated", scratch, calls)
    assert whole.returncode == 0, whole.stderr
    reference = whole.stdout
    assert reference.count('"complete"') == 8  # every call got its files
    counts = dict(x.split("=") for x in whole.stderr.split()[-2:])
    commits, rows = int(counts["commits"]), progress(scratch)
    if not store_url.startswith("sqlite:"):
        RedisStore(scratch).drop()

    rng = random.Random(20261203)
    kills, stages = 0, set()
    for _ in range(100):
        if kills >= KILLS:
            break
        left = commits * (rows - progress(store_url)) // rows  # commits still to make
        after = rng.randint(0, max(1, left // 4))  # so that the kills land all along
        point = rng.randint(1, 300)
        got = run(sys.executable, CHILD, str(after), str(point), "simulated", store_url,
                  calls)
        if got.returncode == -signal.SIGKILL:
            kills += 1
            stages.add(progress(store_url))
        else:  # it finished before the point: it must be right
            assert got.returncode == 0, got.stderr
            assert got.stdout == reference
    assert kills >= KILLS
    assert len(stages) >= 4, stages  # killed at several stages of the run
    final = run(sys.executable, SIMULATED, store_url, calls)
    assert final.returncode == 0, final.stderr
    assert final.stdout == reference
