"""pytest fixtures for the NetEase vendor (``pytest11`` entry point ``recstate-netease``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from recstate.adapters.netease import NetEaseSimulator
from recstate.runtime import Runtime


@pytest.fixture
def recstate_netease(recstate_runtime: Runtime) -> Iterator[NetEaseSimulator]:
    """A :class:`NetEaseSimulator` answering ``recstate_runtime``'s NetEase commands (the
    callee accepts; the callback service delivers every file 60 s after a recorded call);
    closed after the test."""
    simulator = NetEaseSimulator(recstate_runtime)
    yield simulator
    simulator.close()
