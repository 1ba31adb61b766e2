"""Named Tencent scenarios, run end to end on a manual clock with the simulator (the
``recstate simulate tencent <name>`` command)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import IO, Final

from recstate.adapters.tencent.simulator import TencentSimulator
from recstate.clock import ManualClock
from recstate.events.tencent import (
    START,
    EnterRoom,
    ExitRoom,
    RecordParam,
    RoomInfo,
    StartRecording,
    StopRecording,
)
from recstate.runtime import Runtime
from recstate.trace import TraceWriter

__all__ = ["SCENARIOS", "run_scenario"]

RELATION: Final = 15000  # 002 §2.3's example relation_id
USER: Final = "alice"

#: Scenario name -> what it shows. Each ends with every recording closed.
SCENARIOS: Final[dict[str, str]] = {
    "200min": "record 200 minutes and stop: 3 files (90, 90, 20 min), all ready after "
              "SearchMedia (002 §6 (1))",
    "crash": "the client crashes at minute 100: the 60 s watchdog closes the recording, "
             "2 files (90 min, and up to the last data) (002 §6 (2)), found in VOD by the "
             "file name and ready (002 §4 (3))",
    "retry": "start fails twice with 30000208 (retry, 004 §5) and succeeds on the third "
             "attempt; 10 minutes recorded; 1 file ready",
    "retry-already-recording": "start times out (30000208) but got through; the retry is "
                               "answered 30000415: the session records; 10 minutes; "
                               "1 file ready",
    "duplicate-start": "alice records in room 1, then asks to record in room 2: 30000415 "
                       "(one recording per user, 002 §2); room 1 keeps recording: 1 file",
    "stop-while-starting": "stop asked before start answered: the stop is sent once start "
                           "succeeds; 1 short file ready",
}


def _room(room_id: int) -> RoomInfo:
    return RoomInfo(relationId=RELATION, roomId=room_id)


def _key(room_id: int, user: str = USER) -> str:
    return f"{RELATION}:{room_id}:{user}"


def run_scenario(name: str, *, out: IO[bytes] | str | os.PathLike[str] | None = None,
                 start: float = 1_700_000_000.0, strict: bool = False) -> Runtime:
    """Run scenario ``name`` (one of :data:`SCENARIOS`) on a ManualClock at ``start`` with a
    :class:`TencentSimulator`, writing the full trace to ``out`` (a path, appended to, or a
    binary file); return the runtime, its sessions as the scenario left them."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; expected one of {', '.join(SCENARIOS)}")
    writer = TraceWriter(out) if out is not None else None
    clock = ManualClock(start)
    runtime = Runtime(clock, strict=strict, tracer=writer)
    sim = TencentSimulator(runtime)
    try:
        _SCENARIO_RUNNERS[name](runtime, sim, start)
    finally:
        sim.disconnect()
        if writer is not None:
            writer.close()
    return runtime


def _enter_and_start(rt: Runtime, t: float, room_id: int = 1, file_name: str = "") -> None:
    rt.dispatch(EnterRoom(t=t, relationId=RELATION, roomId=room_id, user=USER))
    rt.dispatch(StartRecording(t=t, roomInfo=_room(room_id), user=USER,
                               param=RecordParam(fileName=file_name or f"rec_{room_id}")))


def _stop(rt: Runtime, t: float, room_id: int = 1) -> None:
    rt.dispatch(StopRecording(t=t, roomInfo=_room(room_id), user=USER))


def _scenario_200min(rt: Runtime, sim: TencentSimulator, t0: float) -> None:
    _enter_and_start(rt, t0)
    rt.advance(to=t0 + 200 * 60)
    _stop(rt, t0 + 200 * 60)
    rt.advance(to=t0 + 200 * 60 + 5)


def _scenario_crash(rt: Runtime, sim: TencentSimulator, t0: float) -> None:
    _enter_and_start(rt, t0)
    sim.crash(_key(1), at=t0 + 100 * 60)
    end = t0 + 100 * 60 + 2 * sim.no_data_timeout
    rt.advance(to=end)
    # The room sees the crashed user gone. (An input at the end also lets a replay reach the
    # watchdog: replay() advances only to the last input unless given ``until``.)
    rt.dispatch(ExitRoom(t=end, relationId=RELATION, roomId=1, user=USER))


def _scenario_retry(rt: Runtime, sim: TencentSimulator, t0: float) -> None:
    sim.fail_next(START, 30000208, times=2)
    _enter_and_start(rt, t0)
    rt.advance(to=t0 + 10 * 60)
    _stop(rt, t0 + 10 * 60)
    rt.advance(to=t0 + 10 * 60 + 5)


def _scenario_retry_already_recording(rt: Runtime, sim: TencentSimulator, t0: float) -> None:
    sim.fail_next(START, 30000208, got_through=True)
    _enter_and_start(rt, t0)
    rt.advance(to=t0 + 10 * 60)
    _stop(rt, t0 + 10 * 60)
    rt.advance(to=t0 + 10 * 60 + 5)


def _scenario_duplicate_start(rt: Runtime, sim: TencentSimulator, t0: float) -> None:
    _enter_and_start(rt, t0, room_id=1)
    rt.advance(to=t0 + 60)
    _enter_and_start(rt, t0 + 60, room_id=2)
    rt.advance(to=t0 + 10 * 60)
    _stop(rt, t0 + 10 * 60, room_id=1)
    rt.advance(to=t0 + 10 * 60 + 5)


def _scenario_stop_while_starting(rt: Runtime, sim: TencentSimulator, t0: float) -> None:
    _enter_and_start(rt, t0)
    rt.advance(to=t0 + 0.1)
    _stop(rt, t0 + 0.1)
    rt.advance(to=t0 + 5)


_SCENARIO_RUNNERS: Final[dict[str, Callable[[Runtime, TencentSimulator, float], None]]] = {
    "200min": _scenario_200min,
    "crash": _scenario_crash,
    "retry": _scenario_retry,
    "retry-already-recording": _scenario_retry_already_recording,
    "duplicate-start": _scenario_duplicate_start,
    "stop-while-starting": _scenario_stop_while_starting,
}
