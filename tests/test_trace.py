"""Trace format v1: writing (redaction, fixed bytes), reading (errors that name the file, the
line and the field), and determinism (the same inputs give byte-identical traces)."""

from __future__ import annotations

import io
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from recstate.clock import ManualClock
from recstate.errors import TraceError, UnknownEventError
from recstate.events import parse_event
from recstate.runtime import Runtime
from recstate.trace import (
    REDACTED,
    Record,
    TraceReader,
    TraceWriter,
    is_secret_key,
    parse_time,
    read_trace,
    redact,
)

T0 = 1_700_000_000.0
SECRETS = ("sk-CLEAR-1", "ak-CLEAR-2", "tok-CLEAR-3", "sig-CLEAR-4", "app-CLEAR-5",
           "nested-CLEAR-6", "listed-CLEAR-7")


# ---- redaction ---------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["secretKey", "accessKey", "token", "signature", "AppSecret",
                                 "SecretId", "access_key", "userSig", "Authorization",
                                 "x-signature", "refreshToken"])
def test_secret_field_names_are_recognised(key):
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["user", "bucket", "fileName", "roomId", "key", "access"])
def test_ordinary_field_names_are_not_secrets(key):
    assert not is_secret_key(key)


def test_redact_replaces_secrets_at_any_depth_and_leaves_the_input_alone():
    data = {"user": "u", "secretKey": "s", "param": {"bucket": "b", "accessKey": "a",
                                                      "more": [{"token": "t", "n": 1}]},
            "empty": {"signature": ""}, "absent": {"token": None}}
    assert redact(data) == {"user": "u", "secretKey": REDACTED,
                            "param": {"bucket": "b", "accessKey": REDACTED,
                                      "more": [{"token": REDACTED, "n": 1}]},
                            "empty": {"signature": ""}, "absent": {"token": None}}
    assert data["param"]["more"][0]["token"] == "t"


def login(tv: Any, t: float = T0, session: str = "a") -> Any:
    return tv.Login(t=t, session=session, user="alice", secretKey=SECRETS[0],
                    accessKey=SECRETS[1], token=SECRETS[2], signature=SECRETS[3],
                    AppSecret=SECRETS[4], auth={"inner": {"secretKey": SECRETS[5]}},
                    keys=[{"id": "k1", "token": SECRETS[6]}])


def test_secrets_in_events_and_commands_are_written_as_stars(manual_clock, tv, tmp_path):
    path = tmp_path / "live.jsonl"
    with TraceWriter(path) as writer:
        rt = Runtime(manual_clock, tracer=writer)
        rt.dispatch(login(tv))
    text = path.read_bytes()
    for secret in SECRETS:
        assert secret.encode() not in text
    event_line, command_line = (orjson.loads(line) for line in text.splitlines())
    assert event_line["data"] == {
        "user": "alice", "secretKey": "***", "accessKey": "***", "token": "***",
        "signature": "***", "AppSecret": "***", "auth": {"inner": {"secretKey": "***"}},
        "keys": [{"id": "k1", "token": "***"}]}
    assert command_line["kind"] == "command"
    assert command_line["data"] == {"user": "alice", "secretKey": "***", "token": "***",
                                    "auth": {"inner": {"secretKey": "***"}}}


def test_a_record_made_with_secrets_is_redacted_whatever_the_caller_passes():
    record = Record(T0, "testv", "x", "a", {"deep": [[{"AppSecret": "clear"}]]}, "error")
    assert b"clear" not in record.dumps()
    assert orjson.loads(record.dumps())["data"] == {"deep": [[{"AppSecret": "***"}]]}
    assert record.data == {"deep": [[{"AppSecret": "clear"}]]}  # the record itself untouched


def test_record_lines_have_sorted_keys_and_omit_defaults():
    assert Record(1.5, "testv", "dial", None, None).dumps() == (
        b'{"name":"dial","t":1.5,"vendor":"testv"}')
    assert Record(1.5, "testv", "ring", "a", {"b": 1, "a": 2}, "command").dumps() == (
        b'{"data":{"a":2,"b":1},"kind":"command","name":"ring","session":"a","t":1.5,'
        b'"vendor":"testv"}')


# ---- reading ------------------------------------------------------------------------------------
def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "trace.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = '{"t": 1700000000, "vendor": "testv", "name": "dial", "data": {"number": "a"}}'


def test_reader_skips_blank_and_comment_lines_and_keeps_line_numbers(tmp_path):
    path = write(tmp_path, "# a comment", "", GOOD,
                 '{"t": "2023-11-14T22:13:21Z", "vendor": "testv", "name": "answer", '
                 '"session": "a"}',
                 '{"t": 1700000002.5, "vendor": "testv", "name": "ring", "session": "a", '
                 '"kind": "command", "data": {"number": "a"}}')
    records = read_trace(path)
    assert [(r.line, r.t, r.name, r.kind, r.session) for r in records] == [
        (3, T0, "dial", "event", None), (4, T0 + 1, "answer", "event", "a"),
        (5, T0 + 2.5, "ring", "command", "a")]


def read_error(tmp_path: Path, bad: str, **reader: Any) -> TraceError:
    path = write(tmp_path, GOOD, "# fine so far", bad, GOOD)
    with pytest.raises(TraceError) as info:
        list(TraceReader(path, **reader))
    error = info.value
    assert error.source == str(path)
    assert error.line == 3
    assert str(error).startswith(f"{path}:3")
    return error


@pytest.mark.parametrize(("bad", "field", "reason"), [
    ('{"t": 1700000000, "vendor": "testv", "name": ', None, "not valid JSON"),
    ("[1, 2]", None, "expected a JSON object, got list"),
    ('{"vendor": "testv", "name": "dial"}', "t", "required field is missing"),
    ('{"t": 1700000000, "name": "dial"}', "vendor", "required field is missing"),
    ('{"t": 1700000000, "vendor": "testv"}', "name", "required field is missing"),
    ('{"t": "yesterday", "vendor": "testv", "name": "dial"}', "t",
     "expected Unix seconds or an ISO-8601 time, got 'yesterday'"),
    ('{"t": true, "vendor": "testv", "name": "dial"}', "t", "expected Unix seconds"),
    ('{"t": [1], "vendor": "testv", "name": "dial"}', "t", "got list"),
    ('{"t": "2023-11-14T22:13:20", "vendor": "testv", "name": "dial"}', "t",
     "ISO-8601 time '2023-11-14T22:13:20' has no offset"),
    ('{"t": 1700000000, "vendor": "testv", "name": "dial", "kind": "output"}', "kind",
     "unknown kind (a 6-character string); expected one of: event, command, transition, "
     "file, error"),
    ('{"t": 1700000000, "vendor": 7, "name": "dial"}', "vendor",
     "unknown vendor (a JSON number, not a string)"),
    ('{"t": 1700000000, "vendor": "testv", "name": ""}', "name", "non-empty string"),
    ('{"t": 1700000000, "vendor": "testv", "name": "dial", "session": 5}', "session",
     "expected a string session key"),
    ('{"t": 1700000000, "vendor": "testv", "name": "dial", "data": [1]}', "data",
     "expected a JSON object, got list"),
    ('{"t": 1700000000, "vendor": "testv", "name": "dial", "extra": 1}', "extra",
     "unknown fields ['extra']"),
])
def test_a_bad_line_names_the_file_the_line_and_the_field(tmp_path, bad, field, reason):
    error = read_error(tmp_path, bad)
    assert error.field == field
    assert reason in error.reason
    if field is not None:
        assert f"field {field!r}" in str(error)


def test_an_unknown_vendor_is_a_bad_line_when_the_reader_knows_the_vendors(tmp_path):
    error = read_error(tmp_path, '{"t": 1700000000, "vendor": "acme", "name": "dial"}',
                       vendors=frozenset({"testv", "tencent"}))
    assert error.field == "vendor"
    assert error.reason == ("unknown vendor (a 4-character string); expected one of: tencent, "
                            "testv")
    typo = read_error(tmp_path, '{"t": 1700000000, "vendor": "tencnet", "name": "dial"}',
                      vendors=frozenset({"testv", "tencent"}))
    assert "did you mean 'tencent'?" in typo.reason


def test_a_line_that_is_not_utf8_is_a_bad_line(tmp_path):
    path = tmp_path / "trace.jsonl"
    path.write_bytes(GOOD.encode() + b"\n" + b'{"name": "\xff"}\n')
    with pytest.raises(TraceError, match=":2: not UTF-8 text") as info:
        read_trace(path)
    assert info.value.line == 2


def test_a_missing_trace_file_is_a_trace_error_naming_it(tmp_path):
    with pytest.raises(TraceError, match="cannot open the trace") as info:
        read_trace(tmp_path / "nope.jsonl")
    assert info.value.source == str(tmp_path / "nope.jsonl")


def test_skip_bad_collects_bad_lines_and_goes_on(tmp_path):
    path = write(tmp_path, GOOD, "{oops", '{"t": 1, "vendor": "testv"}', GOOD)
    reader = TraceReader(path, skip_bad=True)
    records = list(reader)
    assert [r.line for r in records] == [1, 4]
    assert [(e.line, e.field) for e in reader.errors] == [(2, None), (3, "name")]
    assert reader.lines == 4


@pytest.mark.parametrize(("value", "expected"), [
    (T0, T0), (1700000000, T0), ("2023-11-14T22:13:20Z", T0),
    ("2023-11-15T06:13:20+08:00", T0), ("2023-11-14T22:13:20.250+00:00", T0 + 0.25)])
def test_parse_time_takes_unix_seconds_or_iso_8601_with_an_offset(value, expected):
    assert parse_time(value) == expected


def test_parse_time_refuses_a_time_that_is_not_finite():
    with pytest.raises(TraceError, match="finite") as info:
        parse_time(float("nan"), line=9)
    assert (info.value.line, info.value.field) == (9, "t")


# ---- lines to typed events ----------------------------------------------------------------------
def test_a_trace_line_becomes_a_typed_event(tv):
    ev = parse_event("testv", "schedule", T0, {"names": ["alarm_a"], "delays": [1, 2.5]}, "s")
    assert ev == tv.Schedule(t=T0, session="s", names=["alarm_a"], delays=[1.0, 2.5])


def test_an_unknown_event_name_names_the_line_and_the_known_names(tv):
    with pytest.raises(UnknownEventError) as info:
        parse_event("testv", "dail", T0, {}, source="x.jsonl", line=4)
    error = info.value
    assert (error.source, error.line, error.field) == ("x.jsonl", 4, "name")
    assert "unknown event 'dail' for vendor 'testv'" in str(error)
    assert "dial" in str(error)  # the known names are listed


def test_an_unknown_vendor_names_the_vendor_field(tv):
    with pytest.raises(UnknownEventError) as info:
        parse_event("acme", "dial", T0, {}, source="x.jsonl", line=2)
    error = info.value
    assert (error.line, error.field) == (2, "vendor")
    assert "no events are registered for vendor 'acme'" in str(error)


@pytest.mark.parametrize(("name", "data", "field", "expected"), [
    ("dial", {"number": 555}, "data.number", "expected str"),
    ("mediaData", {"size": "12"}, "data.size", "expected int"),
    ("mediaData", {"size": True}, "data.size", "expected int"),
    ("mediaData", {"size": 1.5}, "data.size", "expected int"),
    ("schedule", {"names": ["a"], "delays": ["soon"]}, "data.delays[0]", "expected float"),
    ("schedule", {"names": ["a"], "delays": [1], "every": "often"}, "data.every", ""),
])
def test_a_payload_field_of_the_wrong_type_names_the_line_and_the_field(tv, name, data, field,
                                                                      expected):
    with pytest.raises(TraceError) as info:
        parse_event("testv", name, T0, data, source="x.jsonl", line=7)
    error = info.value
    assert (error.source, error.line, error.field) == ("x.jsonl", 7, field)
    assert expected in error.reason


def test_a_string_where_a_list_is_expected_is_a_wrong_type(tv):
    with pytest.raises(TraceError) as info:
        parse_event("testv", "schedule", T0, {"names": "alarm_a", "delays": [1]}, line=5)
    assert (info.value.line, info.value.field) == (5, "data.names")


def test_a_payload_that_is_not_an_object_names_the_data_field(tv):
    with pytest.raises(TraceError) as info:
        parse_event("testv", "dial", T0, ["a"], line=3)  # type: ignore[arg-type]
    assert (info.value.line, info.value.field) == (3, "data")


def test_unknown_payload_fields_are_tolerated(tv):
    ev = parse_event("testv", "dial", T0, {"number": "a", "newField": 1})
    assert ev == tv.Dial(t=T0, number="a")


# ---- determinism --------------------------------------------------------------------------------
def scenario(tv: Any) -> list[tuple[float, Any]]:
    return [
        (T0, tv.Dial(t=T0, number="a")),
        (T0, tv.Dial(t=T0, number="b")),
        (T0 + 1, tv.Answer(t=T0 + 1, session="a")),
        (T0 + 2, login(tv, T0 + 2, "b")),
        (T0 + 5, tv.MediaData(t=T0 + 5, session="a", size=100)),
        (T0 + 6, tv.MediaData(t=T0 + 6, session="b", size=1)),  # a violation: b is ringing
        (T0 + 7, tv.Boom(t=T0 + 7, session="b")),  # a handling error
        (T0 + 8, tv.Answer(t=T0 + 8, session="b")),
        (T0 + 31, tv.Schedule(t=T0 + 31, session="b", names=["alarm_b", "alarm_a"],
                              delays=[3, 3])),
        (T0 + 95, tv.Hangup(t=T0 + 95, session="b")),
    ]


def run_live(tv: Any) -> bytes:
    buf = io.BytesIO()
    clock = ManualClock(T0)
    rt = Runtime(clock, tracer=TraceWriter(buf))
    for t, ev in scenario(tv):
        rt.advance(t)
        rt.dispatch(ev)
    rt.advance(T0 + 200)
    return buf.getvalue()


def test_the_same_inputs_through_two_fresh_runtimes_give_byte_identical_traces(tv):
    first, second = run_live(tv), run_live(tv)
    assert first == second
    kinds = {orjson.loads(line).get("kind", "event") for line in first.splitlines()}
    assert kinds == {"event", "command", "transition", "file", "error"}  # it covers them all


def test_a_trace_written_live_replays_its_inputs_to_the_same_trace(tv, tmp_path):
    live = tmp_path / "live.jsonl"
    live.write_bytes(run_live(tv))
    buf = io.BytesIO()
    clock = ManualClock(T0)
    rt = Runtime(clock, tracer=TraceWriter(buf))
    for record in read_trace(live):
        if record.kind != "event":
            continue
        rt.advance(record.t)
        rt.dispatch(parse_event(record.vendor, record.name, record.t, record.data,
                                record.session, source=str(live), line=record.line),
                    line=record.line, data=record.data)
    rt.advance(T0 + 200)
    assert buf.getvalue() == live.read_bytes()


def test_a_secret_field_is_masked_in_the_repr_and_redacted_in_the_trace(tmp_path):
    import attrs as _attrs

    from recstate.events import Event, event, secret
    from recstate.trace import Record, TraceWriter

    @event("secretv", "enableRecord")
    @_attrs.frozen(kw_only=True)
    class EnableRecord(Event):
        bucketName: str
        secretKey: str = secret()
        accessKey: str = secret("")

    ev = EnableRecord(t=1.0, bucketName="b", secretKey="SK-very-secret-1", accessKey="AK-2")
    assert "SK-very-secret-1" not in repr(ev)
    assert "AK-2" not in repr(ev)
    assert "bucketName='b'" in repr(ev)
    path = tmp_path / "t.jsonl"
    with TraceWriter(path) as writer:
        writer(Record(1.0, "secretv", ev.name, "s", ev.payload()))
    text = path.read_text()
    assert "SK-very-secret-1" not in text
    assert "AK-2" not in text
    assert '"secretKey":"***"' in text


def test_payloads_that_can_hold_secrets_are_still_redacted_through_the_runtime(tmp_path):
    """The trace skips the secret scan only for classes that cannot hold one."""
    import attrs as _attrs

    from recstate import ManualClock, Runtime
    from recstate.events import Event, event, secret
    from recstate.trace import TraceWriter, may_hold_secret

    @event("testv", "vendorBlob")
    @_attrs.frozen(kw_only=True)
    class VendorBlob(Event):
        blob: dict[str, typing.Any] = _attrs.field(factory=dict)
        accessKey: str = secret("")

    @event("testv", "plainNote")
    @_attrs.frozen(kw_only=True)
    class PlainNote(Event):
        text: str = ""

    assert may_hold_secret(VendorBlob)
    assert not may_hold_secret(PlainNote)
    path = tmp_path / "t.jsonl"
    with TraceWriter(path) as writer:
        rt = Runtime(ManualClock(1.0), tracer=writer)
        rt.dispatch(VendorBlob(t=1.0, session="s1", blob={"nested": {"token": "TOK-123456"}},
                               accessKey="AK-654321"))
        rt.dispatch(PlainNote(t=1.0, session="s2", text="hello"))
    text = path.read_text()
    assert "TOK-123456" not in text
    assert "AK-654321" not in text
    assert '"token":"***"' in text
    assert '"text":"hello"' in text


# ---- the reader's edges, and text redaction (issue 12's reader) ------------------------------
def test_a_last_line_without_a_newline_is_read(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"t":1700000000.0,"vendor":"tencent","name":"a"}\n'
                     b'{"t":1700000001.0,"vendor":"tencent","name":"b"}')
    reader = TraceReader(path)
    assert [(r.line, r.name) for r in reader] == [(1, "a"), (2, "b")]
    assert reader.lines == 2


def test_lines_a_fast_path_takes_are_counted_and_not_yielded(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"".join(b'{"t":%d.0,"vendor":"tencent","name":"n%d"}\n' % (T0 + i, i)
                              for i in range(2500)))
    seen: list[int] = []
    runs: list[tuple[int, int]] = []

    def even_lines(readline: Callable[[int], bytes], number: int, upto: int
                   ) -> tuple[bytes | None, int]:
        """Takes the even lines; the odd ones and the end go back to the reader."""
        runs.append((number, upto))
        while number < upto:
            raw = readline(1 << 20)
            if not raw:
                return raw, number
            number += 1
            if number % 2 or not raw.endswith(b"}\n"):
                return raw, number
        return None, number

    reader = TraceReader(path)
    reader.fast = even_lines
    reader.progress = seen.append
    assert [r.line for r in reader][:3] == [1, 3, 5]
    assert reader.lines == 2500
    assert seen == [1000, 2000]
    # each run goes no further than the next thousandth line, from where the last one stopped
    assert runs[:3] == [(0, 1000), (1, 1000), (3, 1000)]
    assert all(upto == number - number % 1000 + 1000 for number, upto in runs)


def test_a_line_over_the_cap_running_on_for_megabytes_is_skipped_to_its_end(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    good = b'{"t":1700000000.0,"vendor":"tencent","name":"a"}\n'
    path.write_bytes(b"x" * (3 * 1024 * 1024) + b"\n" + good)
    reader = TraceReader(path, skip_bad=True, max_line=1000)
    assert [r.line for r in reader] == [2]
    assert [e.line for e in reader.errors] == [1]


def test_a_line_of_exactly_the_longest_length_is_read() -> None:
    from recstate.trace import MAX_LINE, parse_line

    head = b'{"t":1700000000.0,"vendor":"tencent","name":"a","data":{"pad":"'
    tail = b'"}}'
    line = head + b"x" * (MAX_LINE - len(head) - len(tail)) + tail
    assert len(line) == MAX_LINE
    record = parse_line(line)
    assert record is not None
    assert record.data is not None
    assert len(record.data["pad"]) == MAX_LINE - len(head) - len(tail)
    assert parse_line(line + b"\n") is not None  # the newline is not the line's
    with pytest.raises(TraceError, match="longer than"):
        parse_line(line[:-3] + b'x"}}')


def test_text_redaction_of_urls_json_texts_and_messages() -> None:
    from recstate.trace import redact_message, redact_text

    assert redact_text("https://h/v.mp4?sign=abc123&t=5") == "https://h/v.mp4?sign=***&t=5"
    assert redact_text("https://h/v.mp4?sign=abc123") == "https://h/v.mp4?sign=***"
    assert redact_text("https://h/v.mp4?a=1&b=2") == "https://h/v.mp4?a=1&b=2"
    assert redact_text('{"token": "abc123", "n": 1}') == '{"token": "***", "n": 1}'
    assert redact_text('{"user": "bob", "n": 1}') == '{"user": "bob", "n": 1}'
    assert redact_message("login failed: password=hunter2") == "login failed: password=***"


def test_a_writer_may_flush_after_every_record(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    writer = TraceWriter(path, flush_every=1, flush_interval=None)
    writer(Record(T0, "tencent", "a"))
    assert path.read_bytes() == b'{"name":"a","t":1700000000.0,"vendor":"tencent"}\n'
    writer.close()
    with pytest.raises(ValueError, match="flush_every"):
        TraceWriter(path, flush_every=0)


def test_scalars_pass_redaction_unchanged_and_an_unreadable_class_is_scanned() -> None:
    import attrs

    from recstate.trace import may_hold_secret

    assert [redact(v) for v in (5, 1.5, None, True)] == [5, 1.5, None, True]

    @attrs.define
    class Odd:
        x: NoSuchType  # type: ignore[name-defined]  # noqa: F821 - cannot be resolved

    assert may_hold_secret(Odd)


def test_an_output_file_is_readable_by_others_once_written_and_discarding_twice_is_fine(
        tmp_path: Path) -> None:
    import os
    import stat

    from recstate.trace import OutputFile

    done = OutputFile(tmp_path / "out.jsonl")
    done.temp.write_bytes(b"x\n")
    done.commit()
    assert stat.S_IMODE(os.stat(tmp_path / "out.jsonl").st_mode) == 0o644
    gone = OutputFile(tmp_path / "other.jsonl")
    gone.temp.unlink()  # removed behind its back: discarding is still quiet
    gone.discard()
    assert not (tmp_path / "other.jsonl").exists()
