"""Pins on recstate/trace.py's documented behaviour that the rest of the suite left loose:
the longest line, redaction of a bare string, depth of a scalar, a Record's repr, a bare
event's encoder, the reader's kept and counted bad lines, its read errors' line numbers and
its giving up on an endless line, TraceWriter's ownership, size and flush bookkeeping, and
OutputFile's force rule and its commit/discard being final."""

from __future__ import annotations

import errno
import io
import os
import select
import threading
from pathlib import Path
from typing import Any

import attrs
import pytest

from recstate.errors import OutputError, TraceError
from recstate.events import Event, event
from recstate.trace import (
    OutputFile,
    Record,
    TraceReader,
    TraceWriter,
    depth,
    line_encoder,
    parse_line,
    redact,
)

MIB = 1024 * 1024


def _line_of(size: int) -> str:
    """A valid trace line (no newline) of exactly ``size`` characters."""
    head, tail = '{"t":1,"vendor":"v","name":"n","data":{"pad":"', '"}}'
    return head + "x" * (size - len(head) - len(tail)) + tail


def test_a_line_of_8_mib_is_read_and_one_byte_more_is_refused() -> None:
    record = parse_line(_line_of(8 * MIB))
    assert record is not None
    assert len(record.data["pad"]) == 8 * MIB - 49
    with pytest.raises(TraceError, match="line longer than 8388608 bytes"):
        parse_line(_line_of(8 * MIB + 1), line=4)


def test_redact_of_a_string_redacts_a_signed_url_in_it() -> None:
    assert redact("https://h/a.mp4?sign=S1&b=2") == "https://h/a.mp4?sign=***&b=2"
    assert redact("no secret here") == "no secret here"


def test_depth_of_a_scalar_is_0_and_of_an_empty_object_1() -> None:
    assert depth(5) == 0
    assert depth("text") == 0
    assert depth(None) == 0
    assert depth({}) == 1
    assert depth({"a": [{"b": 1}]}) == 3


def test_a_record_repr_shows_its_data_redacted_and_none_as_none() -> None:
    assert repr(Record(t=1.0, vendor="v", name="n")) == (
        "Record(t=1.0, vendor='v', name='n', session=None, data=None, kind='event', line=None)"
    )
    shown = repr(
        Record(t=2.0, vendor="v", name="n", session="s", data={"token": "T0K", "a": 1}, line=7)
    )
    assert shown == (
        "Record(t=2.0, vendor='v', name='n', session='s', "
        "data={'token': '***', 'a': 1}, kind='event', line=7)"
    )
    deep: dict[str, Any] = {}
    for _ in range(70):
        deep = {"d": deep}
    assert "data='<nested over 64 levels>'" in repr(Record(t=1.0, vendor="v", name="n", data=deep))


@event("pins-test", "beat")
@attrs.frozen(kw_only=True)
class Beat(Event):
    """A heartbeat: no field of its own."""


class _Counting:
    """A Beat whose payload calls are counted."""

    def __init__(self) -> None:
        self.calls = 0

    def payload(self) -> dict[str, Any]:
        self.calls += 1
        return {}


def test_a_bare_events_encoder_writes_empty_data_unasked_after_its_first_line() -> None:
    first = line_encoder(Beat, "event")(Beat(t=1.0, session="s"), 1.0, "pins-test", "s")
    assert first == b'{"data":{},"name":"beat","session":"s","t":1.0,"vendor":"pins-test"}\n'
    spy = _Counting()
    again = line_encoder(Beat, "event")(spy, 2.0, "pins-test", "s")
    assert again == b'{"data":{},"name":"beat","session":"s","t":2.0,"vendor":"pins-test"}\n'
    assert spy.calls == 0


def test_bad_lines_past_10000_are_counted_not_kept(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"not json\n" * 10_003)
    reader = TraceReader(path, skip_bad=True)
    assert list(reader) == []
    assert len(reader.errors) == 10_000
    assert reader.errors[-1].line == 10_000
    assert reader.errors_left_out == 3
    assert reader.lines == 10_003


class _FailingHandle(io.BytesIO):
    """Two good lines, then an I/O error."""

    def readline(self, size: int | None = -1) -> bytes:
        if self.tell() >= self.fail_at:
            raise OSError(errno.EIO, "Input/output error")
        return super().readline(size)


class _FailingPath:
    def __init__(self, content: bytes, fail_at: int) -> None:
        self.content, self.fail_at = content, fail_at

    def open(self, mode: str) -> _FailingHandle:
        handle = _FailingHandle(self.content)
        handle.fail_at = self.fail_at  # type: ignore[attr-defined]
        return handle

    def __str__(self) -> str:
        return "flaky.jsonl"


def test_a_read_error_names_the_line_it_could_not_read() -> None:
    good = b'{"t":1,"vendor":"v","name":"n"}\n'
    reader = TraceReader("unused")
    reader.path = _FailingPath(good * 3, fail_at=2 * len(good))  # type: ignore[assignment]
    read: list[Record] = []
    with pytest.raises(TraceError) as caught:
        read.extend(reader)
    assert [r.line for r in read] == [1, 2]
    assert caught.value.line == 3
    assert str(caught.value) == "flaky.jsonl:3: cannot read the trace: Input/output error"


def test_an_over_long_line_is_skipped_to_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    path.write_bytes(b"x" * (3 * MIB) + b"\n" + b'{"t":1,"vendor":"v","name":"n"}\n')
    reader = TraceReader(path, skip_bad=True, max_line=1024)
    assert [r.line for r in reader] == [2]
    assert [e.line for e in reader.errors] == [1]


def test_a_line_running_on_past_64_mib_stops_the_reader(tmp_path: Path) -> None:
    path = tmp_path / "endless.jsonl"
    with path.open("wb") as f:
        f.write(b"x" * 2048)
        f.truncate(70 * MIB)  # zeros (sparse), no newline, then the end of the file
    reader = TraceReader(path, skip_bad=True, max_line=1024)
    with pytest.raises(TraceError) as caught:
        list(reader)
    assert caught.value.line == 1
    assert "runs on for over 67108864 bytes without a newline" in str(caught.value)
    assert [e.line for e in reader.errors] == [1]
    assert "line longer than 1024 bytes" in str(reader.errors[0])


def _record(n: int) -> Record:
    return Record(t=float(n), vendor="v", name="n", session="s", data={"n": n})


def test_a_reopened_trace_counts_the_bytes_already_in_it_towards_rotation(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    first, second = _record(1).dumps() + b"\n", _record(2).dumps() + b"\n"
    assert len(first) == len(second)
    with TraceWriter(path, flush_interval=None) as writer:
        writer(_record(1))
    with TraceWriter(path, flush_interval=None, rotate_bytes=len(first) + 1) as writer:
        writer(_record(2))
        assert len(writer.rotated) == 1
        assert writer.rotated[0].read_bytes() == first + second
    assert path.read_bytes() == b""


def test_close_closes_a_file_the_writer_opened(tmp_path: Path) -> None:
    writer = TraceWriter(tmp_path / "t.jsonl", flush_interval=None)
    writer(_record(1))
    writer.close()
    assert (tmp_path / "t.jsonl").read_bytes() == _record(1).dumps() + b"\n"
    with pytest.raises(ValueError, match="closed file"):
        writer.write_line(b"{}\n")


def test_close_without_a_flush_thread_flushes_and_leaves_the_file_open() -> None:
    buffer = io.BytesIO()
    writer = TraceWriter(buffer, flush_interval=None)
    writer(_record(1))
    writer.close()
    assert not buffer.closed
    assert buffer.getvalue() == _record(1).dumps() + b"\n"


def test_the_flush_thread_flushes_a_pipe_it_cannot_seek() -> None:
    r, w = os.pipe()
    target = open(w, "wb")  # noqa: SIM115 - the test's own, closed below
    flushed = threading.Event()
    writer = TraceWriter(target, flush_interval=0.005, on_flush=flushed.set)
    try:
        assert not target.seekable()
        writer(_record(1))
        # The line reaches the pipe's other end by the writer's periodic flush alone.
        ready, _, _ = select.select([r], [], [], 10.0)
        assert ready == [r]
        assert os.read(r, 4096) == _record(1).dumps() + b"\n"
        assert flushed.wait(10.0)
    finally:
        writer.close()
        assert not target.closed
        target.close()
        os.close(r)


def test_an_empty_existing_file_may_be_replaced_and_force_replaces_a_full_one(
    tmp_path: Path,
) -> None:
    empty, full = tmp_path / "empty.jsonl", tmp_path / "full.jsonl"
    empty.write_bytes(b"")
    full.write_bytes(b"old\n")
    with pytest.raises(OutputError, match="exists; pass --force"):
        OutputFile(full)
    for path in (empty, full):
        with OutputFile(path, force=path is full) as out:
            out.temp.write_bytes(b"new\n")
        assert path.read_bytes() == b"new\n"


def test_commit_is_done_once(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with OutputFile(path) as out:
        out.temp.write_bytes(b"line\n")
        out.commit()
        assert path.read_bytes() == b"line\n"
        out.commit()  # again, and once more on leaving the block: nothing to do
    out.discard()
    assert path.read_bytes() == b"line\n"
    assert list(tmp_path.iterdir()) == [path]


def test_a_discarded_output_is_never_committed(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    out = OutputFile(path)
    out.temp.write_bytes(b"line\n")
    out.discard()
    out.commit()
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []
