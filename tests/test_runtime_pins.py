"""Runtime's own checks, pinned where a mutation run on the merged code found them loose
(issue 8): a snapshot's context and files are each refused under their own name, and a
retention of 0 (retire a finished session at once) is a valid setting."""

from __future__ import annotations

from typing import Any

import pytest

from recstate.clock import ManualClock
from recstate.errors import RestoreError
from recstate.runtime import Runtime

T0 = 1_700_000_000.0


def snapshot(tv: Any) -> dict[str, Any]:
    rt = Runtime(ManualClock(T0), strict=True)
    rt.dispatch(tv.Dial(t=T0, number="a"))
    rt.dispatch(tv.Answer(t=T0, session="a"))
    data = rt.snapshot("a")
    assert data["files"], "an answered Phone call has its first file open"
    return data


def refused_field(snap: dict[str, Any]) -> str:
    rt = Runtime(ManualClock(T0), strict=True)
    with pytest.raises(RestoreError) as caught:
        rt.restore(snap)
    assert rt.sessions == {}
    return caught.value.field


def test_a_context_value_of_the_wrong_type_is_refused_as_the_context(tv):
    snap = snapshot(tv)
    snap["context"] = {**snap["context"], "data": {"not": "an int"}}
    assert refused_field(snap) == "context"


def test_a_file_record_that_cannot_be_read_is_refused_as_the_files(tv):
    snap = snapshot(tv)
    snap["files"] = [{"id": "a-1"}]  # a mapping, but no start, kind or state
    assert refused_field(snap) == "files"


def test_a_retention_of_zero_seconds_is_taken_and_a_negative_one_refused():
    assert Runtime(ManualClock(T0), retention=0).retention == 0
    with pytest.raises(ValueError, match=r"seconds >= 0"):
        Runtime(ManualClock(T0), retention=-0.5)
