"""The runtime writes a TraceWriter's lines without Record objects (``trace.encode`` and the
per-class ``line_encoder``s): the bytes must be those ``Record.dumps()`` gives, secrets
redacted the same way, for every record the runtime makes.

Each example trace's inputs are dispatched live twice, once to a TraceWriter (the encoders)
and once to a tracer that keeps the Records (``Record.dumps``), and the two files compared.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recstate import ManualClock, Runtime
from recstate.events import Command, command, parse_event
from recstate.trace import Record, TraceWriter, encode, line_encoder, read_trace

TRACES = Path(__file__).resolve().parent.parent / "examples" / "traces"


def live(path: Path, tracer: Any) -> Runtime:
    records = [r for r in read_trace(path) if r.kind == "event"]
    runtime = Runtime(ManualClock(records[0].t), tracer=tracer)
    for r in records:
        runtime.advance(max(r.t, runtime.clock.now()))
        runtime.dispatch(parse_event(r.vendor, r.name, r.t, r.data, r.session, id=r.id))
    return runtime


@pytest.mark.parametrize("name", sorted(p.name for p in TRACES.glob("*.jsonl")))
def test_live_trace_lines_are_what_the_records_dump(name: str) -> None:
    buffer = io.BytesIO()
    writer = TraceWriter(buffer, flush_interval=None)
    live(TRACES / name, writer)
    writer.close()
    kept: list[Record] = []
    live(TRACES / name, kept.append)
    expected = b"".join(r.dumps() + b"\n" for r in kept)
    assert buffer.getvalue() == expected
    assert len(kept) > 0


@command("encode-test", "callApi")
@attrs.frozen
class CallApi(Command):
    """A command whose payload holds a secret by its field's name."""

    url: str
    token: str
    size: int = 0


def test_a_secret_in_a_command_payload_is_redacted_by_its_encoder() -> None:
    line = line_encoder(CallApi, "command")
    cmd = CallApi(url="https://h/x?sign=S1GN&a=1", token="T0KEN", size=3)
    out = line(cmd, 10.0, "encode-test", "s1")
    assert b"T0KEN" not in out
    assert b"S1GN" not in out
    assert out == (b'{"data":{"size":3,"token":"***","url":"https://h/x?sign=***&a=1"},'
                   b'"kind":"command","name":"callApi","session":"s1","t":10.0,'
                   b'"vendor":"encode-test"}\n')
    assert out == Record(10.0, "encode-test", "callApi", "s1", cmd.payload(), "command"
                         ).dumps() + b"\n"


_text = st.text(max_size=12)
_scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), _text,
                    st.sampled_from(["https://x/a?sign=abc&b=1", "token=zz", "Bearer q"]))
_key = st.one_of(_text, st.sampled_from(["token", "secretKey", "url", "src", "dst", "sign"]))
_data = st.recursive(st.dictionaries(_key, _scalar, max_size=4),
                     lambda inner: st.dictionaries(_key, st.one_of(_scalar, inner,
                                                                   st.lists(inner, max_size=2)),
                                                   max_size=3), max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(t=st.floats(0, 4e9, allow_nan=False), vendor=_text, name=_text,
       session=st.one_of(st.none(), _text), data=st.one_of(st.none(), _data),
       kind=st.sampled_from(["event", "command", "transition", "file", "error"]),
       line=st.one_of(st.none(), st.integers(1, 10**6)), clean=st.booleans(),
       ident=st.one_of(st.none(), _text))
def test_encode_gives_the_bytes_of_record_dumps(t: float, vendor: str, name: str,
                                                session: str | None, data: Any, kind: str,
                                                line: int | None, clean: bool,
                                                ident: str | None) -> None:
    record = Record(t, vendor, name, session, data, kind, line, clean, ident)
    assert encode(t, vendor, name, session, data, kind, line, clean, ident) == (
        record.dumps() + b"\n")


def test_an_input_with_an_id_or_its_data_as_read_is_written_as_its_record_dumps() -> None:
    from recstate.events.tencent import MediaData

    def run(tracer: Any) -> None:
        rt = Runtime(ManualClock(100.0), tracer=tracer)
        rt.dispatch(MediaData(session="r1", bytes=5, id="delivery-1"))  # an idempotency key
        rt.dispatch(MediaData(session="r1", bytes=6), line=7,  # as read from a trace
                    data={"bytes": 6, "note": "https://h/x?token=T0KEN"})

    buffer = io.BytesIO()
    writer = TraceWriter(buffer, flush_interval=None)
    run(writer)
    writer.close()
    kept: list[Record] = []
    run(kept.append)
    written = buffer.getvalue()
    assert written == b"".join(r.dumps() + b"\n" for r in kept)
    lines = written.splitlines()
    assert lines[0].startswith(b'{"data":{"bytes":5,"relationId":null,"roomId":null,'
                               b'"user":null},"id":"delivery-1","name":"mediaData"')
    assert b"T0KEN" not in written  # data as read is scanned: anything may be in it
    assert b'"note":"https://h/x?token=***"' in written
