"""Named Juphoon scenarios, run end to end on a manual clock with the simulator (the
``recstate simulate juphoon <name>`` command)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import IO, Final

from recstate.adapters.juphoon.simulator import JuphoonSimulator
from recstate.clock import ManualClock
from recstate.events.juphoon import (
    ON_LEAVE,
    EnableRecord,
    Join,
    JoinParam,
    Leave,
    QiniuRecordParam,
    build_qiniu_record_param,
)
from recstate.runtime import Runtime
from recstate.trace import TraceWriter

__all__ = ["CHANNEL", "SCENARIOS", "run_scenario"]

CHANNEL: Final = "lesson-42"
BUCKET: Final = "class-recordings"
#: Look like real Qiniu keys (40 characters), and are not: a trace must show neither.
ACCESS_KEY: Final = "SIMak3Vq9XwT2pLm8RzY4uN6bC1dE0fGhJkLmNoP"
SECRET_KEY: Final = "SIMsk7Hq2WxR5tYu8IoP1aSd4FgH6jKl9ZxCvBnM"  # noqa: S105 - simulated
MINUTE: Final = 60.0

#: Scenario name -> what it shows.
SCENARIOS: Final[dict[str, str]] = {
    "two-files": "join with record parameters, enable, record 10 min, disable, enable again "
                 "with a new file name, record 5 min, disable, leave: two files, both ready "
                 "after Qiniu stat",
    "audio-only": "audio-only parameters (video false): 20 min recorded, ended by leave: one "
                  "m4a file, ready",
    "join-refused": "the join is refused (onJoin:error 10, JCMediaChannelReasonFull): the "
                    "session fails with the code; nothing recorded",
    "enable-no-answer": "enableRecord(true) is never answered by a property change: after "
                        "30 s an error, nothing recorded, the channel still Ready",
    "dropped-leave": "onLeave never comes after leave: after 30 s the channel is taken as "
                     "left (a warning); the file is ready",
    "file-lost": "the recording never appears in the bucket: stat answers 612 six times, "
                 "then the file is lost (a warning)",
}


def params(file_name: str, video: bool = True) -> QiniuRecordParam:
    return build_qiniu_record_param(video, BUCKET, SECRET_KEY, ACCESS_KEY, file_name)


def run_scenario(name: str, *, out: IO[bytes] | str | os.PathLike[str] | None = None,
                 start: float = 1_700_000_000.0, strict: bool = False) -> Runtime:
    """Run scenario ``name`` (one of :data:`SCENARIOS`) on a ManualClock at ``start`` with a
    :class:`JuphoonSimulator`, writing the full trace to ``out``; return the runtime."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; expected one of {', '.join(SCENARIOS)}")
    writer = TraceWriter(out) if out is not None else None
    runtime = Runtime(ManualClock(start), strict=strict, tracer=writer)
    sim = JuphoonSimulator(runtime)
    try:
        _RUNNERS[name](runtime, sim, start)
    finally:
        sim.disconnect()
        if writer is not None:
            writer.close()
    return runtime


def _join(rt: Runtime, t: float, record: QiniuRecordParam | None) -> None:
    rt.dispatch(Join(t=t, channelId=CHANNEL, joinParam=JoinParam(record=record)))
    rt.advance(to=t + 1)  # onJoin:ok and Ready


def _enable(rt: Runtime, t: float, enable: bool, record: QiniuRecordParam | None = None
            ) -> None:
    rt.advance(to=t)
    rt.dispatch(EnableRecord(t=t, channelId=CHANNEL, enable=enable, recordParam=record))


def _leave(rt: Runtime, t: float, until: float) -> None:
    rt.advance(to=t)
    rt.dispatch(Leave(t=t, channelId=CHANNEL))
    rt.advance(to=until)


def _two_files(rt: Runtime, sim: JuphoonSimulator, t0: float) -> None:
    _join(rt, t0, params("lesson-42-part1.mp4"))
    _enable(rt, t0 + 2, True)
    _enable(rt, t0 + 2 + 10 * MINUTE, False)
    _enable(rt, t0 + 3 + 11 * MINUTE, True, params("lesson-42-part2.mp4"))
    _enable(rt, t0 + 3 + 16 * MINUTE, False)
    _leave(rt, t0 + 4 + 17 * MINUTE, t0 + 20 * MINUTE)


def _audio_only(rt: Runtime, sim: JuphoonSimulator, t0: float) -> None:
    _join(rt, t0, params("podcast-7", video=False))
    _enable(rt, t0 + 2, True)
    _leave(rt, t0 + 2 + 20 * MINUTE, t0 + 25 * MINUTE)


def _join_refused(rt: Runtime, sim: JuphoonSimulator, t0: float) -> None:
    sim.fail_next("join", 10, "the channel is full")  # JCMediaChannelReasonFull
    _join(rt, t0, params("never.mp4"))
    _enable(rt, t0 + 2, True)  # refused locally: not in a channel


def _enable_no_answer(rt: Runtime, sim: JuphoonSimulator, t0: float) -> None:
    sim.never_answer_next("enableRecord")
    _join(rt, t0, params("silent.mp4"))
    _enable(rt, t0 + 2, True)
    _leave(rt, t0 + 2 + MINUTE, t0 + 2 * MINUTE)


def _dropped_leave(rt: Runtime, sim: JuphoonSimulator, t0: float) -> None:
    sim.drop_next(ON_LEAVE)
    _join(rt, t0, params("no-goodbye.mp4"))
    _enable(rt, t0 + 2, True)
    _leave(rt, t0 + 2 + 5 * MINUTE, t0 + 10 * MINUTE)


def _file_lost(rt: Runtime, sim: JuphoonSimulator, t0: float) -> None:
    sim.lose_next_file()
    _join(rt, t0, params("vanished.mp4"))
    _enable(rt, t0 + 2, True)
    _enable(rt, t0 + 2 + 3 * MINUTE, False)
    _leave(rt, t0 + 3 + 3 * MINUTE, t0 + 20 * MINUTE)


_RUNNERS: Final[dict[str, Callable[[Runtime, JuphoonSimulator, float], None]]] = {
    "two-files": _two_files,
    "audio-only": _audio_only,
    "join-refused": _join_refused,
    "enable-no-answer": _enable_no_answer,
    "dropped-leave": _dropped_leave,
    "file-lost": _file_lost,
}
