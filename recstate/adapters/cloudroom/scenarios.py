"""Named CloudRoom scenarios, run end to end on a manual clock with the simulator (the
``recstate simulate cloudroom <name>`` command). The layouts are 003's own: side by side
(§1, 左右布局) and picture in picture (§4, 画中画布局) on a 640 x 360 canvas."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import IO, Any, Final

from recstate.adapters.cloudroom.simulator import CloudRoomSimulator
from recstate.clock import ManualClock
from recstate.events.cloudroom import (
    AddLocMixerOutput,
    CreateLocMixer,
    DestroyLocMixer,
    UpdateLocMixerContent,
)
from recstate.machines.cloudroom import CloudRoomOptions
from recstate.runtime import Runtime
from recstate.scenario import ScenarioHooks
from recstate.trace import TraceWriter

__all__ = ["MIXER_CFG", "PICTURE_IN_PICTURE", "SCENARIOS", "SCENARIO_HOOKS", "SIDE_BY_SIDE",
           "random_scenario", "run_scenario"]

MINUTE: Final = 60.0
#: Faults happen at their time (as a scenario file's do), so a built-in and its file in
#: examples/scenarios write the same trace.
MIXER: Final = "1"

#: 003 §1: 640 x 360, 8 fps, 350 kbps, QP 28, an I frame every 120 frames.
MIXER_CFG: Final[dict[str, Any]] = {"width": 640, "height": 360, "frameRate": 8,
                                    "bitRate": 350000, "defaultQP": 28, "gop": 120}


def _camera(left: int, top: int, width: int, height: int, camid: str) -> dict[str, Any]:
    return {"type": 0, "left": left, "top": top, "width": width, "height": height,
            "param": {"camid": camid}, "keepAspectRatio": 1}


#: 003 §1: user1's camera 1 on the left, user2's on the right, each 320 x 180, centred.
SIDE_BY_SIDE: Final = [_camera(0, 90, 320, 180, "user1.1"), _camera(320, 90, 320, 180, "user2.1")]
#: 003 §4: user1 fills the canvas; user2 160 x 90, 5 px from the right and bottom edges.
PICTURE_IN_PICTURE: Final = [_camera(0, 0, 640, 360, "user1.1"),
                             _camera(475, 265, 160, 90, "user2.1")]

#: Scenario name -> what it shows.
SCENARIOS: Final[dict[str, str]] = {
    "side-by-side-to-pip": "record D:/record/1.mp4 side by side, switch to picture in picture "
                           "at minute 10, destroy at minute 20: one closed file, two layouts",
    "disk-full": "D:/record/1.ts and E:/record/1.mp4; the mp4 fails with 902 (disk full) at "
                 "minute 5, the ts goes on until the mixer is destroyed at minute 10",
    "crash": "D:/record/1.flv and D:/record/1.mp4; the app crashes at 7 min 5 s: the flv is "
             "kept up to its last report (minute 7), the mp4 is lost",
    "invalid-mixer": "a mixer 650 x 360 at 60 fps with a camera outside the canvas and one "
                     "without camid: refused with every problem listed; nothing sent",
    "android": "an Android mixer (CREATED 1, WRITING 2, CLOSED 3, ERR 4, UPLOADING 5, "
               "UPLOADSUCCESS 6) uploading /sdcard/record/1.mp4 as it records; "
               "/sdcard/record/2.ts fails with 905 at 3 min 30 s; destroyed at minute 5",
    "eight-hours": "a recording that reaches the 8-hour maximum: 901 closes the file normally",
    "upload-retry": "D:/record/1.mp4 asks for upload; the upload fails twice with 1202 and "
                    "succeeds on the third attempt (after 2 s, then 4 s)",
    "upload-fails": "D:/record/1.mp4 asks for upload; every attempt fails with 1202: the file "
                    "is failed after 3 retries",
}


def run_scenario(name: str, *, out: IO[bytes] | str | os.PathLike[str] | None = None,
                 start: float = 1_700_000_000.0, strict: bool = False) -> Runtime:
    """Run scenario ``name`` (one of :data:`SCENARIOS`) on a ManualClock at ``start`` with a
    :class:`CloudRoomSimulator`, writing the full trace to ``out``; return the runtime."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; expected one of {', '.join(SCENARIOS)}")
    writer = TraceWriter(out) if out is not None else None
    runtime = Runtime(ManualClock(start), strict=strict, tracer=writer,
                      options={"cloudroom": CloudRoomOptions()})
    interval = 600.0 if name == "eight-hours" else 60.0
    sim = CloudRoomSimulator(runtime, interval=interval)
    try:
        _RUNNERS[name](runtime, sim, start)
    finally:
        sim.disconnect()
        if writer is not None:
            writer.close()
    return runtime


def _create(rt: Runtime, t: float, content: Any = SIDE_BY_SIDE, **kw: Any) -> None:
    rt.dispatch(CreateLocMixer(t=t, mixerID=MIXER, mixerCfg=MIXER_CFG, mixerContent=content,
                               **kw))


def _add(rt: Runtime, t: float, *outputs: dict[str, Any]) -> None:
    rt.dispatch(AddLocMixerOutput(t=t, mixerID=MIXER, outputs=list(outputs)))


def _destroy(rt: Runtime, t: float) -> None:
    rt.advance(t)
    rt.dispatch(DestroyLocMixer(t=t, mixerID=MIXER))


def _file(name: str, **kw: Any) -> dict[str, Any]:
    return {"type": 0, "filename": name, **kw}


def _side_by_side_to_pip(rt: Runtime, sim: CloudRoomSimulator, t0: float) -> None:
    _create(rt, t0)
    _add(rt, t0, _file("D:/record/1.mp4"))
    rt.advance(t0 + 10 * MINUTE)
    rt.dispatch(UpdateLocMixerContent(t=t0 + 10 * MINUTE, mixerID=MIXER,
                                      mixerContent=PICTURE_IN_PICTURE))
    _destroy(rt, t0 + 20 * MINUTE)
    rt.advance(t0 + 20 * MINUTE + 1)


def _disk_full(rt: Runtime, sim: CloudRoomSimulator, t0: float) -> None:
    _create(rt, t0)
    _add(rt, t0, _file("D:/record/1.ts"), _file("E:/record/1.mp4"))
    rt.advance(t0 + 5 * MINUTE + 30)
    sim.full_disk(["E:/record/1.mp4"])
    _destroy(rt, t0 + 10 * MINUTE)
    rt.advance(t0 + 10 * MINUTE + 1)


def _crash(rt: Runtime, sim: CloudRoomSimulator, t0: float) -> None:
    _create(rt, t0)
    _add(rt, t0, _file("D:/record/1.flv"), _file("D:/record/1.mp4"))
    rt.advance(t0 + 7 * MINUTE + 5)
    sim.crash_now([MIXER])
    rt.advance(t0 + 8 * MINUTE)


def _invalid_mixer(rt: Runtime, sim: CloudRoomSimulator, t0: float) -> None:
    rt.dispatch(CreateLocMixer(
        t=t0, mixerID=MIXER,
        mixerCfg={**MIXER_CFG, "width": 650, "frameRate": 60},
        mixerContent=[_camera(0, 90, 320, 180, "user1.1"),
                      {"type": 0, "left": 500, "top": 90, "width": 320, "height": 180,
                       "param": {}, "keepAspectRatio": 1}]))
    rt.advance(t0 + 1)
    _add(rt, t0 + 1, _file("D:/record/1.mp4"))


def _android(rt: Runtime, sim: CloudRoomSimulator, t0: float) -> None:
    _create(rt, t0, platform="android")
    _add(rt, t0, _file("/sdcard/record/1.mp4", isUploadOnRecording=1,
                       serverPathFileName="/2023-11-14/1.mp4"), _file("/sdcard/record/2.ts"))
    rt.advance(t0 + 3 * MINUTE + 30)
    sim.output_error("/sdcard/record/2.ts", 905)
    _destroy(rt, t0 + 5 * MINUTE)
    rt.advance(t0 + 5 * MINUTE + 5)


def _eight_hours(rt: Runtime, sim: CloudRoomSimulator, t0: float) -> None:
    _create(rt, t0)
    _add(rt, t0, _file("D:/record/long.ts"))
    _destroy(rt, t0 + 8 * 3600 + MINUTE)
    rt.advance(t0 + 8 * 3600 + MINUTE + 1)


def _upload(rt: Runtime, sim: CloudRoomSimulator, t0: float, failures: int) -> None:
    sim.fail_upload(failures)
    _create(rt, t0)
    _add(rt, t0, _file("D:/record/1.mp4", isUploadOnRecording=1,
                       serverPathFileName="/2023-11-14/1.mp4"))
    _destroy(rt, t0 + 5 * MINUTE)
    rt.advance(t0 + 5 * MINUTE + 60)


_RUNNERS: Final[dict[str, Callable[[Runtime, CloudRoomSimulator, float], None]]] = {
    "side-by-side-to-pip": _side_by_side_to_pip,
    "disk-full": _disk_full,
    "crash": _crash,
    "invalid-mixer": _invalid_mixer,
    "android": _android,
    "eight-hours": _eight_hours,
    "upload-retry": lambda rt, sim, t0: _upload(rt, sim, t0, 2),
    "upload-fails": lambda rt, sim, t0: _upload(rt, sim, t0, 4),
}


def random_scenario(rng: random.Random) -> dict[str, Any]:
    """A random scenario in the file's shape (``recstate fuzz cloudroom``): one to three
    mixers (Windows or Android), side by side or picture in picture, one to three file
    outputs each (some uploaded as they record), layouts switched, outputs removed, the mixer
    destroyed or not; faults: output errors, a full disk, a crash, an app gone silent, an
    output gone silent, failing uploads."""
    steps: list[dict[str, Any]] = []
    faults: list[dict[str, Any]] = []

    def at(t: float) -> float:
        return round(max(t, 0.0), 1)

    for n in range(rng.randint(1, 3)):
        mixer = str(n + 1)
        android = rng.random() < 0.3
        root = "/sdcard/record" if android else "D:/record"
        t = rng.uniform(0, 300)
        create: dict[str, Any] = {"mixerID": mixer, "mixerCfg": MIXER_CFG,
                                  "mixerContent": rng.choice((SIDE_BY_SIDE,
                                                              PICTURE_IN_PICTURE))}
        if android:
            create["platform"] = "android"
        steps.append({"at": at(t), "event": "CreateLocMixer", "data": create})
        # one output a format: fuzz's invariant wants no two files of one kind and format
        # of a session to overlap, and a mixer's outputs all record at once
        names = [f"{root}/{mixer}-{k}.{ext}" for k, ext in enumerate(
            rng.sample(("mp4", "ts", "flv"), rng.randint(1, 3)))]
        outputs: list[dict[str, Any]] = []
        for name in names:
            item: dict[str, Any] = {"type": 0, "filename": name}
            if rng.random() < 0.4:
                item.update(isUploadOnRecording=1,
                            serverPathFileName="/" + name.rsplit("/", 1)[-1])
            outputs.append(item)
        steps.append({"at": at(t), "event": "AddLocMixerOutput",
                      "data": {"mixerID": mixer, "outputs": outputs}})
        if rng.random() < 0.2:
            faults.append({"at": at(t), "kind": "upload_fails",
                           "times": rng.randint(1, 4)})
        for _ in range(rng.randint(0, 3)):
            t += rng.choice((30.0, 600.0, 3600.0)) * rng.uniform(0.5, 1.5)
            roll = rng.random()
            if roll < 0.4:
                steps.append({"at": at(t), "event": "UpdateLocMixerContent",
                              "data": {"mixerID": mixer, "mixerContent": rng.choice(
                                  (SIDE_BY_SIDE, PICTURE_IN_PICTURE))}})
            elif roll < 0.55:
                steps.append({"at": at(t), "event": "RmLocMixerOutput",
                              "data": {"mixerID": mixer, "outputs": [rng.choice(names)]}})
            elif roll < 0.7:
                faults.append({"at": at(t), "kind": "error", "name": rng.choice(names),
                               "code": rng.choice((902, 903, 905))})
            elif roll < 0.8:
                faults.append({"at": at(t), "kind": "disk_full"})
            elif roll < 0.9:
                faults.append({"at": at(t), "kind": "crash", "mixers": [mixer]})
            elif roll < 0.95:
                faults.append({"at": at(t), "kind": "silent", "mixers": [mixer]})
            else:
                faults.append({"at": at(t), "kind": "output_silent",
                               "names": [rng.choice(names)], "mixer": mixer})
        if rng.random() < 0.85:
            t += rng.uniform(1, 3600)
            steps.append({"at": at(t), "event": "DestroyLocMixer", "data": {"mixerID": mixer}})
    last = max(s["at"] for s in steps)
    return {"vendor": "cloudroom", "start": 1_700_000_000, "until": at(last + 3600),
            "simulator": {"interval": 60.0}, "steps": steps, "faults": faults}


#: ``recstate simulate FILE``: the simulator, and its faults by the name a scenario gives
#: them (each happens at the fault's ``at``).
SCENARIO_HOOKS = ScenarioHooks(
    simulator=CloudRoomSimulator, close="disconnect",
    faults={"error": "output_error", "disk_full": "full_disk", "crash": "crash_now",
            "silent": "silent_now", "output_silent": "outputs_silent_now",
            "upload_fails": "fail_upload"},
    random=random_scenario)
