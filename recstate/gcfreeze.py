"""``gc.freeze()`` after warm-up, for a process that is one long-lived runtime.

The cyclic collector's full passes walk every tracked object; in a runtime most of them are
long-lived (modules, engines, the sessions under way), so the passes cost more the more
sessions there are (creating a session cost about twice as much at 300k sessions as at 10k,
and replay ran 11% faster with the collector off: issue 12). ``gc.freeze()`` moves what is
alive into a generation the collector never walks; objects freed by reference counting are
still freed, only cyclic garbage among frozen objects would stay.

A runtime with ``gc_freeze`` on freezes once it has created :data:`WARM_UP` sessions and
again each time the number it created doubles, so what is left for the collector stays a
bounded share of the heap for one freeze per doubling. ``gc.freeze()`` acts on the whole
process: it is off by default, and on for the processes that are a runtime and nothing else
(``recstate replay`` and ``recstate serve`` run under :func:`on`); a service embedding the
Runtime turns it on with ``Runtime(gc_freeze=True)``.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["WARM_UP", "enable", "enabled", "freeze", "on"]

#: Sessions created before the first freeze.
WARM_UP = 1000

_enabled = False


def enable(on: bool = True) -> None:
    """Runtimes made afterwards in this process freeze after warm-up unless told otherwise."""
    global _enabled
    _enabled = on


@contextmanager
def on() -> Iterator[None]:
    """:func:`enable` for the time of a block (a CLI command run in-process by a test leaves
    the process as it was)."""
    before = _enabled
    enable()
    try:
        yield
    finally:
        enable(before)


def enabled() -> bool:
    return _enabled


def freeze() -> None:
    gc.freeze()
