"""The CloudRoom simulator (reports as 003 describes them, numbered by platform; faults) and
``recstate simulate cloudroom`` run as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from recstate.adapters.cloudroom import SCENARIOS, CloudRoomSimulator
from recstate.clock import ManualClock
from recstate.events.cloudroom import (
    AddLocMixerOutput,
    CreateLocMixer,
    DestroyLocMixer,
    RmLocMixerOutput,
)
from recstate.replay import replay
from recstate.runtime import Runtime
from recstate.trace import Record

T0 = 1_700_000_000.0
CFG = {"width": 320, "height": 240, "frameRate": 15, "bitRate": 300000}
CONTENT = [{"type": 0, "left": 0, "top": 0, "width": 320, "height": 240,
            "param": {"camid": "u.1"}}]


def rig(platform: str = "windows", **kw: Any) -> tuple[Runtime, CloudRoomSimulator,
                                                       list[Record]]:
    records: list[Record] = []
    rt = Runtime(ManualClock(T0), strict=True, tracer=records.append)
    sim = CloudRoomSimulator(rt, **kw)
    rt.dispatch(CreateLocMixer(t=T0, mixerID="m", mixerCfg=CFG, mixerContent=CONTENT,
                               platform=platform))
    return rt, sim, records


def infos(records: list[Record], name: str | None = None) -> list[tuple[float, dict[str, Any]]]:
    return [(r.t, r.data["outputInfo"]) for r in records  # type: ignore[index]
            if r.kind == "event" and r.name == "LocMixerOutputInfo"
            and (name is None or r.data["nameOrUrl"] == name)]  # type: ignore[index]


def test_writing_every_interval_with_growing_duration_and_size() -> None:
    rt, _sim, records = rig(interval=10.0, bytes_per_second=1000)
    rt.dispatch(AddLocMixerOutput(t=T0, mixerID="m", outputs=[{"type": 0,
                                                               "filename": "D:/1.mp4"}]))
    rt.advance(T0 + 35)
    got = [(t - T0, i["state"], i["duration"], i["fileSize"]) for t, i in infos(records)]
    assert got == [(0, 0, 0, 0), (10, 1, 10_000, 10_000), (20, 1, 20_000, 20_000),
                   (30, 1, 30_000, 30_000)]
    rt.dispatch(RmLocMixerOutput(t=T0 + 35, mixerID="m", outputs=("D:/1.mp4",)))
    rt.advance(T0 + 100)
    assert [(t - T0, i["state"], i["duration"]) for t, i in infos(records)][-1] == (
        35, 2, 35_000)
    assert len(infos(records)) == 5, "nothing after CLOSED"


def test_android_reports_with_its_own_numbers_and_uploads() -> None:
    rt, _sim, records = rig("android", interval=60.0)
    rt.dispatch(AddLocMixerOutput(t=T0, mixerID="m", outputs=[
        {"type": 0, "filename": "/sdcard/1.mp4", "isUploadOnRecording": 1}]))
    rt.advance(T0 + 120)
    rt.dispatch(DestroyLocMixer(t=T0 + 120, mixerID="m"))
    rt.advance(T0 + 130)
    assert [i["state"] for _, i in infos(records)] == [1, 2, 2, 3, 5, 6]
    assert rt.sessions["m"].files[0].status == "ready"


def test_an_injected_error_stops_that_output_only() -> None:
    rt, sim, records = rig(interval=10.0)
    sim.fail_output("D:/1.mp4", 905, at=T0 + 25)
    rt.dispatch(AddLocMixerOutput(t=T0, mixerID="m", outputs=[
        {"type": 0, "filename": "D:/1.mp4"}, {"type": 0, "filename": "D:/1.ts"}]))
    rt.advance(T0 + 60)
    mp4 = [(t - T0, i["state"], i["errCode"]) for t, i in infos(records, "D:/1.mp4")]
    assert mp4[-1] == (25, 3, 905)
    assert all(t <= 25 for t, _, _ in mp4)
    assert infos(records, "D:/1.ts")[-1][0] == T0 + 60


def test_a_full_disk_fails_every_file_but_not_a_live_stream() -> None:
    rt, sim, records = rig(interval=10.0)
    rt.dispatch(AddLocMixerOutput(t=T0, mixerID="m", outputs=[
        {"type": 0, "filename": "D:/1.mp4"}, {"type": 1, "liveUrl": "rtmp://x/live/1"}]))
    sim.disk_full(at=T0 + 15)
    rt.advance(T0 + 40)
    assert infos(records, "D:/1.mp4")[-1][1]["errCode"] == 902
    assert rt.sessions["m"].files[0].status == "failed"
    assert rt.sessions["m"].context.outputs["rtmp://x/live/1"].state == "writing"


def test_a_crash_stops_the_reports_and_tells_the_machine() -> None:
    rt, sim, records = rig(interval=10.0)
    rt.dispatch(AddLocMixerOutput(t=T0, mixerID="m", outputs=[
        {"type": 0, "filename": "D:/1.flv"}]))
    sim.crash(["m"], at=T0 + 25)
    rt.advance(T0 + 100)
    assert infos(records)[-1][0] == T0 + 20
    f = rt.sessions["m"].files[0]
    assert (f.status, f.end) == ("closed", T0 + 20)
    assert rt.sessions["m"].state == "crashed"


def test_eight_hours_end_with_901() -> None:
    rt, _sim, records = rig(interval=3600.0)
    rt.dispatch(AddLocMixerOutput(t=T0, mixerID="m", outputs=[
        {"type": 0, "filename": "D:/1.ts"}]))
    rt.advance(T0 + 9 * 3600)
    last_t, last = infos(records)[-1]
    assert (last_t, last["state"], last["errCode"], last["duration"]) == (
        T0 + 8 * 3600, 3, 901, 8 * 3600 * 1000)
    assert len(infos(records)) == 1 + 7 + 1
    assert rt.sessions["m"].files[0].status == "closed"


def test_a_slow_failing_upload() -> None:
    rt, sim, _records = rig(interval=10.0, upload_seconds=30.0)
    sim.fail_upload(times=1)
    rt.dispatch(AddLocMixerOutput(t=T0, mixerID="m", outputs=[
        {"type": 0, "filename": "D:/1.mp4", "isUploadOnRecording": 1}]))
    rt.dispatch(DestroyLocMixer(t=T0, mixerID="m"))
    rt.advance(T0 + 29)
    assert rt.sessions["m"].files[0].status == "uploading"
    rt.advance(T0 + 30 + 2 + 30)
    f = rt.sessions["m"].files[0]
    assert (f.status, f.url) == ("ready", "https://record.example.com/upload/1.mp4")


# ---- the CLI ----------------------------------------------------------------------------------
def recstate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recstate.cli", *map(str, args)],
                          capture_output=True, text=True, check=False, timeout=120)


def test_simulate_cloudroom_crash_reports_the_kept_flv(tmp_path: Path) -> None:
    out = tmp_path / "crash.jsonl"
    done = recstate("simulate", "cloudroom", "crash", "--json", "--out", out)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    [session] = report["sessions"]
    assert {f["id"]: f["status"] for f in session["files"]} == {
        "D:/record/1.flv": "closed", "D:/record/1.mp4": "lost"}
    assert replay(out).mismatches == []


def test_simulate_cloudroom_names_its_scenarios_when_one_is_unknown() -> None:
    done = recstate("simulate", "cloudroom", "nope")
    assert done.returncode == 2
    for name in SCENARIOS:
        assert name in done.stderr


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_replays_clean(name: str, tmp_path: Path) -> None:
    from recstate.adapters.cloudroom import run_scenario

    out = tmp_path / f"{name}.jsonl"
    run_scenario(name, out=out)
    report = replay(out)
    assert report.exit_status == 0
    assert report.mismatches == []


def test_machines_lists_the_cloudroom_mixer() -> None:
    done = recstate("machines")
    assert done.returncode == 0
    assert "cloudroom.mixer" in done.stdout
    assert "LocMixerOutputInfo: in crashed, created, destroyed" in done.stdout
