"""Secrets inside a nested attrs payload (issue 8): an event whose field is another attrs
class with a secret-named field must not be marked clean, or the trace would skip the scan
that writes the secret as ``***``."""

from __future__ import annotations

import attrs
import orjson
import pytest

from recstate import ManualClock, Runtime
from recstate.errors import TraceError
from recstate.events import Event, event
from recstate.trace import REDACTED, Record, TraceWriter, may_hold_secret, parse_line

T0 = 1_700_000_000.0


@attrs.frozen(kw_only=True)
class Credentials:
    user: str = ""
    accessToken: str = ""


@attrs.frozen(kw_only=True)
class Envelope:
    room: str = ""
    creds: Credentials = attrs.field(factory=Credentials)


@event("testv", "nestedLogin")
@attrs.frozen(kw_only=True)
class NestedLogin(Event):
    envelope: Envelope = attrs.field(factory=Envelope)


@event("testv", "nestedPlain")
@attrs.frozen(kw_only=True)
class NestedPlain(Event):
    room: str = ""
    inner: tuple[int, ...] = ()


def test_a_secret_two_attrs_levels_down_is_written_as_stars(tmp_path):
    assert may_hold_secret(NestedLogin)  # through Envelope, then Credentials.accessToken
    assert not may_hold_secret(NestedPlain)  # strings, ints and a tuple of ints only
    path = tmp_path / "t.jsonl"
    with TraceWriter(path) as writer:
        rt = Runtime(ManualClock(T0), tracer=writer)
        rt.dispatch(NestedLogin(t=T0, session="s1", envelope=Envelope(
            room="r1", creds=Credentials(user="alice", accessToken="AT-CLEAR-777"))))
    text = path.read_text()
    assert "AT-CLEAR-777" not in text
    assert f'"accessToken":"{REDACTED}"' in text
    assert '"user":"alice"' in text
    assert '"room":"r1"' in text


def test_a_signed_url_in_a_list_of_strings_is_redacted():
    """A list of addresses (a vendor's file URLs) each signed with a token in its query."""
    record = Record(T0, "testv", "files", "s1",
                    {"urls": ["https://cdn.example/a.mp4?size=1&token=TK-CLEAR-9"]}, "event")
    line = record.dumps().decode()
    assert "TK-CLEAR-9" not in line
    assert f"token={REDACTED}" in line
    assert "size=1" in line


def test_flush_every_n_records_flushes_after_each_nth(tmp_path):
    flushed: list[int] = []
    writer = TraceWriter(tmp_path / "t.jsonl", flush_every=2, flush_interval=None,
                         on_flush=lambda: flushed.append(1))
    for i in range(5):
        writer(Record(T0 + i, "testv", "ping", "s1", {"seq": i}))
    assert len(flushed) == 2  # after the 2nd and the 4th
    writer.close()


def test_a_trace_is_rotated_when_it_reaches_rotate_bytes_exactly(tmp_path):
    record = Record(T0, "testv", "ping", "s1", {"seq": 1})
    size = len(record.dumps()) + 1  # its line, newline included
    writer = TraceWriter(tmp_path / "t.jsonl", rotate_bytes=size, flush_interval=None)
    writer(record)
    assert len(writer.rotated) == 1
    writer.close()


@pytest.mark.parametrize(("length", "shown"), [(40, "k" * 40), (41, "k" * 40 + "...")])
def test_an_unknown_field_is_named_whole_up_to_40_characters(length, shown):
    with pytest.raises(TraceError) as caught:
        parse_line(orjson.dumps({"t": 1, "vendor": "testv", "name": "ping",
                                 "k" * length: 1}))
    assert caught.value.field == shown


@pytest.mark.parametrize(("length", "cut"), [(38, False), (39, True)])
def test_a_bad_time_is_quoted_whole_up_to_40_characters(length, cut):
    """A bad value is quoted enough to find it in the line, and no more (its repr: the
    quotes count)."""
    value = "x" * length
    with pytest.raises(TraceError) as caught:
        parse_line(orjson.dumps({"t": value, "vendor": "testv", "name": "ping"}))
    message = str(caught.value)
    if cut:
        assert f"'{'x' * 39}... ({length + 2} characters)" in message
        assert repr(value) not in message
    else:
        assert repr(value) in message
        assert "characters)" not in message


def test_a_bad_idempotency_key_is_quoted_in_at_most_200_characters():
    """A hostile id (a huge array) is not copied into the error whole."""
    ident = list(range(1000))
    with pytest.raises(TraceError) as caught:
        parse_line(orjson.dumps({"t": 1, "vendor": "testv", "name": "ping", "id": ident}))
    assert caught.value.field == "id"
    expected = (f"expected the input's idempotency key, a non-empty string, got "
                f"{ident!r}")[:200]
    assert expected in str(caught.value)
    assert expected + "," not in str(caught.value)  # cut exactly there


def test_numbers_and_nulls_in_a_payload_are_passed_over_by_the_secret_scan():
    """Only text can hold a secret: numbers, booleans and nulls beside it, in objects
    and in arrays, are neither redacted nor in the scan's way."""
    record = Record(1.0, "testv", "ping", "s1",
                    {"n": 1, "ok": True, "none": None, "xs": [1, 2.5, None, False],
                     "notes": ["https://cdn.example/a.mp4?token=TK-9", 3]})
    data = orjson.loads(record.dumps())["data"]
    assert data["n"] == 1
    assert data["xs"] == [1, 2.5, None, False]
    assert data["notes"] == [f"https://cdn.example/a.mp4?token={REDACTED}", 3]
    plain = Record(1.0, "testv", "ping", "s1", {"xs": [1, 2.5, None]})
    assert orjson.loads(plain.dumps())["data"] == {"xs": [1, 2.5, None]}
