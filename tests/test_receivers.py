"""A runtime remembers each signal's receivers between sends (issue 12): what it calls must
still be what blinker would call after every connect, disconnect, and a weak receiver's
death."""

from __future__ import annotations

import gc
import weakref
from typing import Any

from recstate import signals
from recstate.runtime import Runtime

T0 = 1_700_000_000.0


def dial_and_answer(rt: Runtime, tv: Any, key: str) -> None:
    rt.dispatch(tv.Dial(t=T0, number=key))
    rt.dispatch(tv.Answer(t=T0, session=key))


def test_a_receiver_connected_after_sends_is_called_and_one_disconnected_is_not(runtime, tv):
    first: list[str] = []
    later: list[str] = []

    def one(sender: Any, *, name: str, **_: Any) -> None:
        first.append(name)

    def two(sender: Any, *, name: str, **_: Any) -> None:
        later.append(name)

    signals.transition.connect(one, sender=runtime)
    dial_and_answer(runtime, tv, "a")
    assert first == ["dial", "answer"]
    signals.transition.connect(two, sender=runtime)
    dial_and_answer(runtime, tv, "b")
    assert first == ["dial", "answer", "dial", "answer"]
    assert later == ["dial", "answer"]
    signals.transition.disconnect(one, sender=runtime)
    dial_and_answer(runtime, tv, "c")
    assert first == ["dial", "answer", "dial", "answer"]
    assert later == ["dial", "answer", "dial", "answer"]
    signals.transition.disconnect(two)


def test_a_receiver_for_another_runtime_is_not_called(runtime, tv, manual_clock):
    other = Runtime(manual_clock)
    heard: list[str] = []

    def record(sender: Any, *, name: str, **_: Any) -> None:
        heard.append(name)

    dial_and_answer(runtime, tv, "a")  # cached with no receiver for this runtime
    signals.transition.connect(record, sender=other)
    dial_and_answer(runtime, tv, "b")
    assert heard == []
    dial_and_answer(other, tv, "c")
    assert heard == ["dial", "answer"]
    signals.transition.disconnect(record)


def test_a_weakly_connected_receiver_still_dies_with_its_owner(runtime, tv):
    heard: list[str] = []

    class Adapter:
        def on_transition(self, sender: Any, *, name: str, **_: Any) -> None:
            heard.append(name)

    adapter = Adapter()
    signals.transition.connect(adapter.on_transition, sender=runtime)  # weak (the default)
    dial_and_answer(runtime, tv, "a")
    assert heard == ["dial", "answer"]
    gone = weakref.ref(adapter)
    del adapter
    gc.collect()
    assert gone() is None  # the runtime's cache did not keep it alive
    dial_and_answer(runtime, tv, "b")
    assert heard == ["dial", "answer"]


class Counter:
    """A receiver that cannot be weakly referenced (slots, no __weakref__)."""

    __slots__ = ("names",)

    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, sender: Any, *, name: str, **_: Any) -> None:
        self.names.append(name)


def test_a_receiver_that_cannot_be_weakly_referenced_is_called(runtime, tv):
    counter = Counter()
    signals.transition.connect(counter, sender=runtime, weak=False)
    dial_and_answer(runtime, tv, "a")
    assert counter.names == ["dial", "answer"]
    signals.transition.disconnect(counter)
    dial_and_answer(runtime, tv, "b")
    assert counter.names == ["dial", "answer"]
