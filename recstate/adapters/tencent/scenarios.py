"""Named Tencent scenarios, run end to end on a manual clock with the simulator (the
``recstate simulate tencent <name>`` command)."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import IO, Any, Final

from recstate.adapters.tencent.simulator import TencentSimulator
from recstate.clock import ManualClock
from recstate.events.tencent import (
    START,
    STOP,
    EnterRoom,
    ExitRoom,
    RecordParam,
    RoomInfo,
    StartRecording,
    StopRecording,
)
from recstate.runtime import Runtime
from recstate.trace import TraceWriter

__all__ = ["SCENARIOS", "random_scenario", "run_scenario"]

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


# ---- random scenarios (recstate fuzz tencent) ----------------------------------------------------
_START_CODES: Final = (30000208, 30000401, 30000409, 30000415)  # 004 §5: retried or not
_STOP_CODES: Final = (30000208, 30000412, 30000409)


def random_scenario(rng: random.Random) -> dict[str, Any]:
    """A random scenario in the file's shape: one to three users, each entering a room
    (sometimes a two-person one), starting (sometimes with a bad parameter, sometimes in a
    second room too), and ending by a stop, a room exit or a crash, over up to four hours;
    faults drawn from 004 §5's codes, dropped, duplicated and delayed callbacks."""
    steps: list[dict[str, Any]] = []
    faults: list[dict[str, Any]] = []

    def at(t: float) -> float:
        return round(max(t, 0.0), 1)

    for u in range(rng.randint(1, 3)):
        user, room = f"u{u}", rng.randint(1, 3)
        info = {"relationId": RELATION, "roomId": room}
        t = rng.uniform(0, 600)
        pair = rng.random() < 0.1
        steps.append({"at": at(t), "event": "enterRoom",
                      "data": {"relationId": RELATION, "roomId": room, "user": user,
                               "roomType": "pair" if pair else "multi"}})
        param: dict[str, Any] = {"fileName": "" if rng.random() < 0.05 else f"{user}-r{room}",
                                 "recordDataType": 5 if rng.random() < 0.05 else
                                 rng.choice((0, 1))}
        start = t + rng.uniform(0, 5)
        for _ in range(rng.choice((0, 0, 1, 2))):
            kind = rng.choice(("fail", "drop", "duplicate", "delay"))
            when = at(start - rng.uniform(0, 1))
            if kind == "fail":
                faults.append({"at": when, "kind": "fail", "command_name": START,
                               "code": rng.choice(_START_CODES), "times": rng.randint(1, 3)})
            elif kind == "delay":
                faults.append({"at": when, "kind": "delay", "command": START,
                               "seconds": round(rng.uniform(0, 45), 1)})
            else:
                faults.append({"at": when, "kind": kind, "callback_name": rng.choice(
                    (f"{START}:ok", f"{START}:error"))})
        steps.append({"at": at(start), "event": START,
                      "data": {"roomInfo": info, "user": user, "param": param}})
        if rng.random() < 0.2:  # the same user in a second room (002 §2: refused)
            other = room % 3 + 1
            steps.append({"at": at(start + 30), "event": "enterRoom",
                          "data": {"relationId": RELATION, "roomId": other, "user": user}})
            steps.append({"at": at(start + 31), "event": START, "data": {
                "roomInfo": {"relationId": RELATION, "roomId": other}, "user": user,
                "param": {"fileName": f"{user}-r{other}"}}})
        end = start + rng.choice((20.0, 600.0, 5400.0, 6000.0, 14400.0)) * rng.uniform(0.5, 1.2)
        how = rng.choices(("stop", "exit", "crash"), weights=(6, 2, 2))[0]
        if how == "crash":
            faults.append({"at": at(end), "kind": "crash",
                           "session_key": f"{RELATION}:{room}:{user}"})
            continue
        for _ in range(rng.choice((0, 0, 1))):
            kind = rng.choice(("fail", "drop", "delay", "search"))
            when = at(end - rng.uniform(0, 1))
            if kind == "fail":
                faults.append({"at": when, "kind": "fail", "command_name": STOP,
                               "code": rng.choice(_STOP_CODES)})
            elif kind == "drop":
                faults.append({"at": when, "kind": "drop", "callback_name": f"{STOP}:ok"})
            elif kind == "delay":
                faults.append({"at": when, "kind": "delay", "command": STOP,
                               "seconds": round(rng.uniform(0, 45), 1)})
            else:
                faults.append({"at": when, "kind": "fail", "command_name": "SearchMedia",
                               "code": "InternalError"})
        if how == "stop":
            steps.append({"at": at(end), "event": "requestMultiVideoRecorderStop",
                          "data": {"roomInfo": info, "user": user}})
        else:
            steps.append({"at": at(end), "event": "exitRoom",
                          "data": {"relationId": RELATION, "roomId": room, "user": user}})
    last = max(s["at"] for s in steps)
    return {"vendor": "tencent", "start": 1_700_000_000, "until": at(last + 3 * 3600),
            "steps": steps, "faults": faults}
