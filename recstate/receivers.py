"""Each signal's receivers for one runtime, remembered between sends.

``Signal.receivers_for(sender)`` makes the sender's id, unions two sets and walks a generator
on every send: more than the rest of a handling that changes state. A runtime keeps, per
signal, the receivers it found last time, and looks again only when something connected or
disconnected since (blinker's per-signal ``receiver_connected`` / ``receiver_disconnected``,
counted here) or a weakly connected receiver died (blinker then drops it from
``signal.receivers`` without a signal: the count of receivers changes).

The cache holds receivers the way blinker does: weakly where it can (a receiver connected
weakly still dies with its owner), strongly only what cannot be weakly referenced (a builtin
such as ``list.append``, which blinker can only hold strongly).
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable
from types import MethodType
from typing import Any

from blinker import Signal

__all__ = ["ReceiverCache"]

#: Connects and disconnects seen on every signal a cache has looked at.
_changes = 0
_hooked: set[int] = set()


def _changed(*args: Any, **kwargs: Any) -> None:  # (sender=, receiver=, ...: any)
    global _changes
    _changes += 1


def _hook(signal: Signal) -> None:
    if id(signal) not in _hooked:
        _hooked.add(id(signal))
        signal.receiver_connected.connect(_changed, weak=False)
        signal.receiver_disconnected.connect(_changed, weak=False)


def _getter(receiver: Callable[..., Any]) -> Callable[[], Any]:
    """A call that gives the receiver back (None once a weakly held one is gone)."""
    try:
        if isinstance(receiver, MethodType):
            return weakref.WeakMethod(receiver)
        return weakref.ref(receiver)
    except TypeError:  # not weakly referenceable: blinker holds it strongly too
        return itertools.repeat(receiver).__next__


class ReceiverCache:
    """``get(signal, sender)``: the receivers ``signal`` calls for ``sender``, as getters."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[Signal, tuple[int, int, tuple[Callable[[], Any], ...]]] = {}

    def get(self, signal: Signal, sender: Any) -> tuple[Callable[[], Any], ...]:
        entry = self._entries.get(signal)
        if entry is not None and entry[0] == _changes and entry[1] == len(signal.receivers):
            return entry[2]
        _hook(signal)
        getters = tuple(_getter(r) for r in signal.receivers_for(sender))
        self._entries[signal] = (_changes, len(signal.receivers), getters)
        return getters
