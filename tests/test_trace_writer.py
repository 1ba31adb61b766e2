"""TraceWriter's flush policy and rotation (issue 10, point 9), with a real SIGKILL of a
subprocess: what was flushed is on disk, what was not is lost, and nothing else."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import orjson
import pytest
from freezegun import freeze_time

from recstate.trace import Record, TraceReader, TraceWriter

CHILD = textwrap.dedent("""
    import sys
    from recstate.trace import Record, TraceWriter
    policy = eval(sys.argv[2])  # the keyword arguments, as a dict literal
    if policy.pop("report_flush", False):
        policy["on_flush"] = lambda: print("flushed", flush=True)
    writer = TraceWriter(sys.argv[1], **policy)
    for i in range(25):
        writer(Record(1_700_000_000.0 + i, "tencent", "mediaData", "15000:7:alice",
                      {"bytes": i}))
    print("wrote", flush=True)
    sys.stdin.read()  # blocks until killed
""")


def killed_after(path, policy: str, wait_for: str) -> list[int]:
    """Run the child, read its stdout up to ``wait_for``, SIGKILL it; the records on disk."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), policy],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if line.strip() == wait_for:
                break
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        child.stdin.close()  # type: ignore[union-attr]
        child.stdout.close()  # type: ignore[union-attr]
    return [orjson.loads(x)["data"]["bytes"] for x in path.read_bytes().splitlines()]


def test_flush_every_record_loses_nothing_on_kill_9(tmp_path):
    assert killed_after(tmp_path / "t.jsonl", "{'flush_every': 1, 'flush_interval': None}",
                        "wrote") == list(range(25))


def test_flush_every_10_loses_at_most_the_last_9_on_kill_9(tmp_path):
    assert killed_after(tmp_path / "t.jsonl", "{'flush_every': 10, 'flush_interval': None}",
                        "wrote") == list(range(20))


def test_no_flush_policy_loses_the_buffer_on_kill_9(tmp_path):
    assert killed_after(tmp_path / "t.jsonl", "{'flush_interval': None}", "wrote") == []


def test_the_default_policy_flushes_within_a_second_without_being_asked(tmp_path):
    assert TraceWriter.__init__.__kwdefaults__["flush_interval"] == 1.0
    # the child's periodic flush reports itself; then it is killed: all 25 are on disk
    assert killed_after(tmp_path / "t.jsonl", "{'report_flush': True}", "flushed") == list(
        range(25))


def rec(i: int) -> Record:
    return Record(1_700_000_000.0 + i, "tencent", "mediaData", "15000:7:alice", {"bytes": i})


def test_rotation_by_size_keeps_every_record_whole_and_in_order(tmp_path):
    path = tmp_path / "trace.jsonl"
    with freeze_time("2024-01-01T00:00:00Z"):
        writer = TraceWriter(path, rotate_bytes=400, flush_interval=None)
        for i in range(30):
            writer(rec(i))
        writer.close()
    assert len(writer.rotated) >= 3
    assert writer.rotated[0].name == "trace.20240101T000000Z.jsonl"
    assert writer.rotated[1].name == "trace.20240101T000000Z-1.jsonl"
    got = [r.data["bytes"] for f in [*writer.rotated, path] for r in TraceReader(f)]
    assert got == list(range(30))
    assert all(f.stat().st_size < 400 + 200 for f in writer.rotated)


def test_rotation_by_time(tmp_path):
    path = tmp_path / "trace.jsonl"
    with freeze_time("2024-01-01T00:00:00Z") as frozen:
        writer = TraceWriter(path, rotate_interval=3600, flush_interval=None)
        writer(rec(0))
        frozen.tick(3599)
        writer(rec(1))
        assert writer.rotated == []
        frozen.tick(1)
        writer(rec(2))  # an hour since the file was opened: this record ends it
        writer(rec(3))
        writer.close()
    [done] = writer.rotated
    assert done.name == "trace.20240101T010000Z.jsonl"
    assert [r.data["bytes"] for r in TraceReader(done)] == [0, 1, 2]
    assert [r.data["bytes"] for r in TraceReader(path)] == [3]


def test_bad_policies_are_refused(tmp_path):
    with pytest.raises(ValueError, match="flush_every"):
        TraceWriter(tmp_path / "a", flush_every=0)
    with pytest.raises(ValueError, match="flush_interval"):
        TraceWriter(tmp_path / "a", flush_interval=0)
    with open(tmp_path / "b", "wb") as f, pytest.raises(ValueError, match="rotation needs"):
        TraceWriter(f, rotate_bytes=10)


def test_a_stream_that_cannot_say_whether_it_seeks_is_written_and_flushed_without_seeking():
    """A pipe-like stream whose seekable() fails (a closed descriptor underneath, a wrapper
    that does not know) is treated as one that cannot seek: its position is never asked."""
    import io

    class Unsure(io.BytesIO):
        def seekable(self) -> bool:
            raise OSError("cannot tell")

        def tell(self) -> int:
            raise OSError("no position here")

    stream = Unsure()
    writer = TraceWriter(stream, flush_interval=None)
    writer(Record(1.0, "testv", "ping", "s1"))
    writer.flush()
    assert stream.getvalue() == Record(1.0, "testv", "ping", "s1").dumps() + b"\n"
