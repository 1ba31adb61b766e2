"""pytest plugin: fixtures for a manual clock and a strict runtime on it."""

from __future__ import annotations

import pytest

from recstate.clock import ManualClock
from recstate.runtime import Runtime


@pytest.fixture
def manual_clock() -> ManualClock:
    """A clock at 1,700,000,000 (2023-11-14T22:13:20Z) that moves only when told."""
    return ManualClock(1_700_000_000.0)


@pytest.fixture
def runtime(manual_clock: ManualClock) -> Runtime:
    """A strict Runtime on ``manual_clock``: violations and handler errors raise."""
    return Runtime(manual_clock, strict=True)
