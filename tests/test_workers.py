"""replay --workers on the real Redis: the same workload over one or two worker processes
gives the report of a single-process replay; a worker killed with SIGKILL mid-run has its
partitions taken over by the other once its lease expires, and the report is still the same
(no timer fired twice, no update lost)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import orjson
import pytest

from recstate.stores.redis import RedisStore
from recstate.workers import build_report, feed
from recstate.workload import write_mixed

ROOT = Path(__file__).resolve().parent.parent
RECSTATE = Path(sys.executable).parent / "recstate"
CHILD = ROOT / "tests" / "crash_child.py"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=ROOT,
                          check=False, timeout=300)


@pytest.fixture
def url():
    prefix = f"workers-{uuid.uuid4().hex}"
    yield f"redis://127.0.0.1:6379/0?prefix={prefix}"
    store = RedisStore(f"redis://127.0.0.1:6379/0?prefix={prefix}")
    store.drop()
    store.close()


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    trace = write_mixed(tmp_path_factory.mktemp("w") / "workload.jsonl", sessions=8,
                        minutes=20)
    reference = run(RECSTATE, "replay", "--json", trace)
    assert reference.returncode == 0, reference.stderr
    return trace, reference.stdout


@pytest.mark.parametrize("workers", [1, 2])
def test_workers_give_the_single_process_report(workload: tuple[Path, str], url: str,
                                                workers: int) -> None:
    trace, reference = workload
    got = run(RECSTATE, "replay", "--json", trace, "--store", url, "--workers", str(workers))
    assert got.returncode == 0, got.stderr
    assert got.stdout == reference
    report = json.loads(got.stdout)
    # 10 sessions: alice's 200-minute recording, the NetEase call, 8 more recordings
    assert len(report["sessions"]) == 10


def test_a_killed_workers_partitions_are_finished_by_the_other(
        workload: tuple[Path, str], url: str) -> None:
    trace, reference = workload
    store = RedisStore(url, journal=True)
    from recstate.replay import claim_store

    claim_store(store, str(trace))
    report, logged = feed(store, trace, until=None, skip_bad_lines=False)
    # w0 is killed after its 40th commit; w1 works through, then takes w0's partitions
    # over once w0's 1-second lease has expired.
    w0 = subprocess.Popen([sys.executable, str(CHILD), "40", "3", "worker", url,
                           "--worker", "0", "--of", "2", "--lease", "1"], cwd=ROOT)
    # w1 starts once w0 holds its partitions (else, on a loaded machine, w1 could take
    # every partition while w0 is still starting, and w0 would have nothing to die in)
    deadline = time.monotonic() + 120
    while store.owner(0) != "w0" and w0.poll() is None:
        assert time.monotonic() < deadline, "w0 took no partition"
        time.sleep(0.05)  # waiting for a subprocess to start, not timing the code
    w1 = subprocess.Popen([sys.executable, "-m", "recstate.workers", url, "--worker", "1",
                           "--of", "2", "--lease", "1"], cwd=ROOT)
    assert w0.wait(timeout=300) == -signal.SIGKILL
    assert w1.wait(timeout=300) == 0
    # w0's own partitions (even) had work, and it died early: w1 finished them.
    from recstate.stores.base import partition_of

    keys = [row.key for row in store.load().sessions]
    assert any(partition_of(k.split(":", 2)[-1] if k.count(":") == 2 else k,
                            store.partitions) % 2 == 0 for k in keys)
    final = build_report(store, report, logged)
    assert final.dumps().decode() + "\n" == reference
    # no timer fired twice: each session's watchdog notice and rollover appear once each
    notices = Counter((r.session, r.t, (r.data or {}).get("code"))
                      for _, raw in store.journal()
                      if (r := _record(raw)).kind == "error")
    assert max(notices.values()) == 1
    store.close()


def _record(raw: bytes):  # type: ignore[no-untyped-def]
    from recstate.trace import parse_line

    return parse_line(raw)


def test_worker_entries_are_json(url: str, tmp_path: Path) -> None:
    """The stream entries keep the trace's data verbatim (what a worker dispatches)."""
    trace = write_mixed(tmp_path / "w.jsonl", sessions=1, minutes=2)
    store = RedisStore(url, journal=True)
    feed(store, trace, until=None, skip_bad_lines=False)
    entries = []
    for p in range(store.partitions):
        entries += [f for _, f in store.stream(p)]
    inputs = [e for e in entries if b"end" not in e]
    first = json.loads(Path(trace).read_text().splitlines()[1])
    assert any(orjson.loads(e[b"data"]) == first.get("data") and e[b"name"].decode()
               == first["name"] for e in inputs)
    assert sum(1 for e in entries if b"end" in e) == store.partitions
    store.close()


def test_all_workers_killed_then_the_same_command_resumes_at_once(
        workload: tuple[Path, str], url: str) -> None:
    """Both workers die holding 10-minute leases; the same command run again starts workers
    with the same names, which take their partitions back without waiting for the leases
    (the run would otherwise wait 10 minutes, past the timeout)."""
    trace, reference = workload
    store = RedisStore(url, journal=True)
    from recstate.replay import claim_store

    claim_store(store, str(trace))
    feed(store, trace, until=None, skip_bad_lines=False)
    dead = [subprocess.Popen([sys.executable, str(CHILD), str(after), "5", "worker", url,
                              "--worker", str(i), "--of", "2", "--lease", "600"], cwd=ROOT)
            for i, after in ((0, 30), (1, 50))]
    assert [p.wait(timeout=300) for p in dead] == [-signal.SIGKILL] * 2
    assert {store.owner(p) for p in range(store.partitions)} >= {"w0", "w1"}
    again = subprocess.run([str(RECSTATE), "replay", "--json", str(trace), "--store", url,
                            "--workers", "2"], capture_output=True, text=True, cwd=ROOT,
                           check=False, timeout=300)
    assert again.returncode == 0, again.stderr
    assert again.stdout == reference
    store.close()


def test_workers_out_is_written_whole_through_an_output_file(
        workload: tuple[Path, str], url: str, tmp_path: Path) -> None:
    """``--workers N --out FILE`` writes as every other ``--out`` does (an OutputFile):
    an existing file is refused without --force before anything runs, replaced (never
    appended to) with it, and no temporary file is left beside it."""
    trace, _ = workload
    single = tmp_path / "single.jsonl"
    ref = run(RECSTATE, "replay", "--json", trace, "--out", single)
    assert ref.returncode == 0, ref.stderr
    want = sorted(single.read_text().splitlines())
    assert len(want) > 500

    out = tmp_path / "out.jsonl"
    out.write_text("an earlier file\n")
    refused = run(RECSTATE, "replay", "--json", trace, "--store", url, "--workers", "1",
                  "--out", out)
    assert refused.returncode == 2
    assert "exists; pass --force" in refused.stderr
    assert out.read_text() == "an earlier file\n"
    store = RedisStore(url)
    try:  # refused before anything ran: nothing fed, nothing claimed
        assert store.load().meta == {}
    finally:
        store.close()

    for _ in range(2):  # the second run finds the store complete and writes the file again
        got = run(RECSTATE, "replay", "--json", trace, "--store", url, "--workers", "2",
                  "--out", out, "--force")
        assert got.returncode == 0, got.stderr
        assert sorted(out.read_text().splitlines()) == want  # replaced, not appended to
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "single.jsonl"]

    assert run(RECSTATE, "replay", "--json", trace, "--store", url, "--workers", "1",
               "--out", trace, "--force").returncode == 2  # never over the trace read
