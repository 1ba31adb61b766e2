"""pytest fixtures for the Tencent vendor (``pytest11`` entry point ``recstate-tencent``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from recstate.adapters.tencent.simulator import TencentSimulator
from recstate.runtime import Runtime


@pytest.fixture
def recstate_tencent(recstate_runtime: Runtime) -> Iterator[TencentSimulator]:
    """A :class:`TencentSimulator` answering ``recstate_runtime``'s Tencent commands (0.2 s
    after each, data every 10 s while recording); disconnected after the test."""
    simulator = TencentSimulator(recstate_runtime)
    yield simulator
    simulator.disconnect()
