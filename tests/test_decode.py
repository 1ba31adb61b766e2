"""The generated event decoders (issue 12) give what cattrs gives: on every input line of
every example trace the event is equal to the converter's, and a payload they are not sure
of goes to cattrs, so its error names the field path as before."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from recstate import vendors
from recstate.decode import Fallback, decoder
from recstate.errors import TraceError
from recstate.events import converter, event_class, parse_event
from recstate.events.tencent import MediaData, StartRecording
from recstate.trace import parse_time

TRACES = sorted((Path(__file__).parent.parent / "examples" / "traces").glob("*.jsonl"))


def _inputs(path: Path) -> list[dict]:
    rows = []
    for text in path.read_text().splitlines():
        if text.strip() and not text.lstrip().startswith("#"):
            row = orjson.loads(text)
            if row.get("kind", "event") == "event":
                rows.append(row)
    return rows


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.stem)
def test_every_example_input_decodes_to_what_cattrs_makes(path: Path):
    vendors.get_vendor(path.stem.split("-")[0])  # its events registered
    checked = 0
    for row in _inputs(path):
        cls = event_class(row["vendor"], row["name"])
        assert cls is not None, row["name"]
        data = row.get("data") or {}
        t, session, ident = parse_time(row["t"]), row.get("session"), row.get("id")
        want = converter.structure({**data, "t": t, "session": session, "id": ident}, cls)
        try:
            got = decoder(cls, converter)(data, t, session, ident)
        except Fallback:  # a class with a hook of its own (NetEase's call, callback)
            got = parse_event(row["vendor"], row["name"], t, data, session, id=ident)
        assert type(got) is cls
        assert got == want
        checked += 1
    assert checked > 0


@pytest.mark.parametrize("data", [
    {"bytes": True},            # a bool is not an int
    {"bytes": "1000"},          # nor is a string
    {"bytes": 1.5},             # nor a float
    {"user": 7},                # an int is not a str
])
def test_a_wrong_scalar_is_left_to_cattrs(data):
    with pytest.raises(Fallback):
        decoder(MediaData, converter)(data, 1.0, "k", None)


def test_a_missing_required_field_is_left_to_cattrs():
    with pytest.raises(Fallback):  # StartRecording needs roomInfo and param
        decoder(StartRecording, converter)({"user": "u"}, 1.0, None, None)


def test_a_float_field_takes_an_int_as_a_float_and_keys_beside_the_payload_win():
    ev = decoder(MediaData, converter)({"bytes": 5, "t": "no", "session": 3}, 2, "k", None)
    assert ev.t == 2.0
    assert type(ev.t) is float
    assert ev.session == "k"
    assert ev.bytes == 5


def test_errors_still_name_the_field_path():
    with pytest.raises(TraceError) as info:
        parse_event("tencent", "mediaData", 1.0, {"bytes": "1000"}, "k", line=4)
    assert info.value.field == "data.bytes"
    assert str(info.value) == ("<trace>:4: field 'data.bytes': tencent mediaData: invalid "
                               "value for type, expected int | None")  # as before
    with pytest.raises(TraceError) as info:
        parse_event("tencent", "requestMultiVideoRecorderStart", 1.0,
                    {"roomInfo": {"relationId": 1, "roomId": "x"}, "param": {}}, line=5)
    assert info.value.field.startswith("data.roomInfo.roomId")


def test_a_class_with_a_hook_of_its_own_is_always_left_to_that_hook():
    import attrs

    from recstate.events import Event, event

    @event("decodetest", "own-hook")
    @attrs.frozen(kw_only=True)
    class Custom(Event):
        n: int = 0

    converter.register_structure_hook(
        Custom, lambda d, _: Custom(t=d["t"], session=d["session"], n=len(d.get("s", ""))))
    with pytest.raises(Fallback):
        decoder(Custom, converter)({"n": 1}, 1.0, "k", None)
    ev = parse_event("decodetest", "own-hook", 1.0, {"s": "abc"}, "k")
    assert ev.n == 3
