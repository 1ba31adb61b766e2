"""``recstate replay --store``: every example trace gives the report of a replay without a
store, on memory, on a real SQLite file (and again on the same file: everything applied,
nothing done twice) and on the real Redis; ``--out`` is the same trace."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from recstate.replay import replay
from recstate.stores import MemoryStore, StoreError
from recstate.stores.redis import RedisStore

ROOT = Path(__file__).resolve().parent.parent
TRACES = sorted((ROOT / "examples" / "traces").glob("*.jsonl"))
RECSTATE = Path(sys.executable).parent / "recstate"


@pytest.mark.parametrize("trace", TRACES, ids=[t.stem for t in TRACES])
def test_every_example_trace_gives_the_same_report_with_a_store(trace: Path,
                                                               tmp_path: Path) -> None:
    want = replay(trace).dumps()
    assert replay(trace, store=MemoryStore(journal=True)).dumps() == want
    url = f"sqlite:///{tmp_path}/r.db"
    assert replay(trace, store=url).dumps() == want
    assert replay(trace, store=url).dumps() == want  # run again: resumes at the end
    redis = RedisStore(f"redis://127.0.0.1:6379/0?prefix=rs-{uuid.uuid4().hex}",
                       journal=True)
    try:
        assert replay(trace, store=redis).dumps() == want
    finally:
        redis.drop()
        redis.close()


def test_out_is_the_same_with_a_store_and_replays_clean(tmp_path: Path) -> None:
    trace = ROOT / "examples" / "traces" / "tencent-crash.jsonl"
    plain, stored = tmp_path / "plain.jsonl", tmp_path / "stored.jsonl"
    replay(trace, out=plain)
    replay(trace, out=stored, store=f"sqlite:///{tmp_path}/o.db")
    assert stored.read_bytes() == plain.read_bytes()
    again = replay(stored)
    assert again.mismatches == []


def test_a_store_holds_one_trace(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/one.db"
    replay(TRACES[0], store=url)
    with pytest.raises(StoreError, match="holds the replay of"):
        replay(TRACES[1], store=url)
    got = subprocess.run([str(RECSTATE), "replay", str(TRACES[1]), "--store", url],
                         capture_output=True, text=True, check=False)
    assert got.returncode == 2
    assert "holds the replay of" in got.stderr


def test_workers_need_redis(tmp_path: Path) -> None:
    got = subprocess.run([str(RECSTATE), "replay", str(TRACES[0]), "--workers", "2",
                          "--store", f"sqlite:///{tmp_path}/w.db"],
                         capture_output=True, text=True, check=False)
    assert got.returncode == 2
    assert "--workers needs a redis store" in got.stderr
