"""gc.freeze() after warm-up (issue 12): on when asked, at 1,000 sessions created and at
each doubling; off by default; the CLI's setting does not outlive the command."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from recstate import gcfreeze
from recstate.cli import main
from recstate.clock import ManualClock
from recstate.runtime import Runtime

T0 = 1_700_000_000.0


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def create(rt: Runtime, tv, start: int, stop: int) -> None:
    for i in range(start, stop):
        rt.dispatch(tv.Dial(t=T0, number=f"n{i}"))


def test_a_runtime_with_gc_freeze_freezes_after_warm_up_and_at_each_doubling(tv, unfrozen):
    rt = Runtime(ManualClock(T0), gc_freeze=True)
    create(rt, tv, 0, 999)
    assert gc.get_freeze_count() == 0
    create(rt, tv, 999, 1000)  # the 1,000th session
    first = gc.get_freeze_count()
    assert first > 0
    create(rt, tv, 1000, 1999)
    assert gc.get_freeze_count() == first  # nothing more until 2,000
    create(rt, tv, 1999, 2000)
    assert gc.get_freeze_count() > first


def test_no_freeze_by_default(tv, unfrozen):
    rt = Runtime(ManualClock(T0))
    create(rt, tv, 0, 1000)
    assert gc.get_freeze_count() == 0


def test_the_process_setting_turns_it_on_and_gc_freeze_false_keeps_it_off(tv, unfrozen):
    with gcfreeze.on():
        on, off = Runtime(ManualClock(T0)), Runtime(ManualClock(T0), gc_freeze=False)
    assert not gcfreeze.enabled()
    create(off, tv, 0, 1000)
    assert gc.get_freeze_count() == 0
    create(on, tv, 0, 1000)
    assert gc.get_freeze_count() > 0


def test_recstate_replay_run_in_process_leaves_the_setting_as_it_was(tmp_path: Path,
                                                                      capsys, unfrozen):
    trace = tmp_path / "t.jsonl"
    trace.write_text('{"t": 1700000000, "vendor": "tencent", "name": "enterRoom", '
                     '"session": "9:1:u", "data": {"relationId": 9, "roomId": 1, '
                     '"user": "u"}}\n')
    assert main(["replay", str(trace)]) == 0
    assert not gcfreeze.enabled()
