"""Pins for the trace's redaction rules (found unpinned by mutation testing, bench/MUTATION.md).

Expected values come from the rule as documented in trace.py and the README: a secret-named
field is written as ``"***"`` at any depth, in dicts and in lists; an empty or absent secret
stays as it is (nothing to hide, and "no key given" stays visible); a payload class that can
hold no secret is written without a scan, one that can is always scanned.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs
import orjson
import pytest

from recstate.trace import REDACTED, Record, may_hold_secret, redact


@attrs.frozen
class Plain:
    name: str
    count: int
    ratio: float
    ok: bool
    maybe: str | None
    mode: Literal["a", "b"]


@attrs.frozen
class WithSecret:
    secretKey: str


@attrs.frozen
class HoldsNestedSecret:
    inner: WithSecret


@attrs.frozen
class HoldsNestedPlain:
    inner: Plain
    items: tuple[Plain, ...]


@attrs.frozen
class HoldsSecretsInATuple:
    items: tuple[WithSecret, ...]


@attrs.frozen
class HoldsAnOptionalSecret:
    inner: WithSecret | None


@attrs.frozen
class HoldsAListOfSecrets:
    items: list[WithSecret]


@attrs.frozen
class HoldsADict:
    extra: dict[str, str]


@attrs.frozen
class HoldsAny:
    extra: Any


@attrs.frozen
class HoldsEllipsisTuple:
    names: tuple[str, ...]


@pytest.mark.parametrize("cls", [Plain, HoldsNestedPlain, HoldsEllipsisTuple])
def test_a_class_of_plain_fields_cannot_hold_a_secret(cls):
    assert may_hold_secret(cls) is False


@pytest.mark.parametrize("cls", [WithSecret, HoldsNestedSecret, HoldsSecretsInATuple,
                                 HoldsAnOptionalSecret, HoldsAListOfSecrets, HoldsADict,
                                 HoldsAny])
def test_a_class_with_a_secret_field_or_open_keys_can_hold_one(cls):
    assert may_hold_secret(cls) is True


def test_an_empty_or_absent_secret_is_written_as_it_is():
    assert redact({"token": "", "secretKey": None, "password": "p"}) == {
        "token": "", "secretKey": None, "password": REDACTED}


def test_secrets_in_lists_of_objects_are_redacted():
    assert redact({"a": [{"token": "t1"}, {"name": "x"}], "b": ({"AppSecret": "s"},)}) == {
        "a": [{"token": REDACTED}, {"name": "x"}], "b": [{"AppSecret": REDACTED}]}


def test_a_record_scans_lists_for_secrets_before_writing():
    record = Record(t=1.0, vendor="v", name="n", data={"items": [{"name": "a"},
                                                                  {"signature": "sig"}]})
    assert orjson.loads(record.dumps())["data"] == {"items": [{"name": "a"},
                                                              {"signature": REDACTED}]}


def test_a_record_whose_data_has_no_secret_is_written_unchanged():
    data = {"items": [{"name": "a"}], "n": 1}
    assert orjson.loads(Record(t=1.0, vendor="v", name="n", data=data).dumps())["data"] == data


def test_session_and_kind_are_written_only_when_set():
    bare = orjson.loads(Record(t=1.0, vendor="v", name="n").dumps())
    assert bare == {"t": 1.0, "vendor": "v", "name": "n"}
    full = orjson.loads(Record(t=1.0, vendor="v", name="n", session="s", data={},
                               kind="command").dumps())
    assert full == {"t": 1.0, "vendor": "v", "name": "n", "session": "s", "data": {},
                    "kind": "command"}
