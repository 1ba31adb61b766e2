"""Invariants of the CloudRoom mixer over generated runs (hypothesis), with the simulator
playing the SDK:

- no output of a destroyed mixer is still open;
- a failed output never stops another;
- a file's duration and size never decrease while it is written (a report that says so is a
  violation, and its figures are ignored);
- after a crash exactly the ts and flv files are kept (003: only flv and ts survive).
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recstate import ManualClock, Runtime
from recstate.adapters.cloudroom import CloudRoomSimulator
from recstate.adapters.cloudroom.scenarios import MIXER_CFG, PICTURE_IN_PICTURE, SIDE_BY_SIDE
from recstate.events.cloudroom import (
    FORMATS,
    AddLocMixerOutput,
    AppCrashed,
    CreateLocMixer,
    DestroyLocMixer,
    LocMixerOutputInfo,
    OutputInfo,
    RmLocMixerOutput,
    UpdateLocMixerContent,
)
from recstate.trace import Record

T0 = 1_700_000_000.0
OPEN = {"added", "created", "writing"}
FAIL_CODES = (900, 902, 903, 904, 905, 906, 907, 908)
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def start(strict: bool = True, interval: float = 7.0) -> tuple[Runtime, CloudRoomSimulator]:
    rt = Runtime(ManualClock(T0), strict=strict)
    # The SDK's 8-hour limit moved to 40 minutes: the runs are shorter, and the simulator
    # schedules every report of an output up to the limit when the output is added.
    sim = CloudRoomSimulator(rt, interval=interval, bytes_per_second=1000,
                             max_seconds=2400.0)
    rt.dispatch(CreateLocMixer(t=T0, mixerID="m", mixerCfg=MIXER_CFG,
                               mixerContent=SIDE_BY_SIDE))
    return rt, sim


def file_output(i: int, fmt: str) -> dict[str, Any]:
    return {"type": 0, "filename": f"D:/rec/{i}.{fmt}"}


ops = st.lists(st.one_of(
    st.tuples(st.just("add"), st.lists(st.sampled_from((*FORMATS, "live")), min_size=1,
                                       max_size=3)),
    st.tuples(st.just("fail"), st.tuples(st.integers(0, 20), st.sampled_from(FAIL_CODES))),
    st.tuples(st.just("rm"), st.integers(0, 20)),
    st.tuples(st.just("layout"), st.booleans()),
    st.tuples(st.just("wait"), st.floats(0.5, 120)),
), max_size=14)


@SETTINGS
@given(ops)
def test_no_output_of_a_destroyed_mixer_is_still_open(steps: list[tuple[str, Any]]) -> None:
    rt, sim = start()
    names: list[str] = []
    t = T0
    for kind, arg in steps:
        t += 1.0
        rt.advance(t)
        if kind == "add":
            outputs = []
            for fmt in arg:
                i = len(names)
                outputs.append({"type": 1, "liveUrl": f"rtmp://live/{i}"} if fmt == "live"
                               else file_output(i, fmt))
                names.append(outputs[-1].get("filename") or outputs[-1]["liveUrl"])
            rt.dispatch(AddLocMixerOutput(t=t, mixerID="m", outputs=outputs))
        elif kind == "fail" and names:
            sim.fail_output(names[arg[0] % len(names)], arg[1], at=t + 0.5)
        elif kind == "rm" and names:
            rt.dispatch(RmLocMixerOutput(t=t, mixerID="m", outputs=(names[arg % len(names)],)))
        elif kind == "layout":
            rt.dispatch(UpdateLocMixerContent(t=t, mixerID="m", mixerContent=(
                PICTURE_IN_PICTURE if arg else SIDE_BY_SIDE)))
        elif kind == "wait":
            t += arg
            rt.advance(t)
    rt.dispatch(DestroyLocMixer(t=t + 1, mixerID="m"))
    rt.advance(t + 60)
    session = rt.sessions["m"]
    assert session.state == "destroyed"
    assert [f.id for f in session.files if f.status == "open"] == []
    assert [o.name for o in session.context.outputs.values() if o.state in OPEN] == []


@SETTINGS
@given(formats=st.lists(st.sampled_from(FORMATS), min_size=2, max_size=6),
       failures=st.lists(st.tuples(st.integers(0, 5), st.sampled_from(FAIL_CODES),
                                   st.floats(1, 299)), max_size=4),
       end=st.floats(300, 900))
def test_a_failed_output_never_stops_another(formats: list[str],
                                             failures: list[tuple[int, int, float]],
                                             end: float) -> None:
    rt, sim = start()
    names = [f"D:/rec/{i}.{fmt}" for i, fmt in enumerate(formats)]
    failed: set[str] = set()
    for index, code, at in failures:
        name = names[index % len(names)]
        sim.fail_output(name, code, at=T0 + at)
        failed.add(name)
    rt.dispatch(AddLocMixerOutput(t=T0, mixerID="m",
                                  outputs=[{"type": 0, "filename": n} for n in names]))
    rt.advance(T0 + end)
    rt.dispatch(DestroyLocMixer(t=T0 + end, mixerID="m"))
    rt.advance(T0 + end + 1)
    session = rt.sessions["m"]
    for f in session.files:
        out = session.context.outputs[f.id]
        if f.id in failed:
            assert f.status == "failed"
            assert out.errCode in FAIL_CODES
        else:
            assert f.status == "closed", f"{f.id} was stopped by another output's failure"
            assert out.duration == round(end * 1000), "it recorded until the mixer ended"
            assert f.end == T0 + end


reports = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 10_000)), min_size=1,
                   max_size=25)


@SETTINGS
@given(reports)
def test_duration_and_size_never_decrease_while_written(figures: list[tuple[int, int]]) -> None:
    records: list[Record] = []
    rt = Runtime(ManualClock(T0), tracer=records.append)
    rt.dispatch(CreateLocMixer(t=T0, mixerID="m", mixerCfg=MIXER_CFG,
                               mixerContent=SIDE_BY_SIDE))
    rt.dispatch(AddLocMixerOutput(t=T0, mixerID="m", outputs=[file_output(0, "ts")]))
    out = rt.sessions["m"].context.outputs["D:/rec/0.ts"]
    best, refused, seen = (0, 0), 0, (0, 0)
    for i, (duration, size) in enumerate(figures):
        t = T0 + i + 1
        rt.advance(t)
        rt.dispatch(LocMixerOutputInfo(t=t, mixerID="m", nameOrUrl="D:/rec/0.ts",
                                       outputInfo=OutputInfo(state=1, duration=duration,
                                                             fileSize=size, errCode=0)))
        if duration >= best[0] and size >= best[1]:
            best = (duration, size)
        else:
            refused += 1
        now = (out.duration, out.fileSize)
        assert now[0] >= seen[0]
        assert now[1] >= seen[1]
        seen = now
    assert seen == best
    violations = [r for r in records if r.kind == "error" and r.data
                  and r.data["code"] == "violation"]
    assert len(violations) == refused


@SETTINGS
@given(formats=st.lists(st.sampled_from(FORMATS), min_size=1, max_size=8),
       ended_early=st.sets(st.integers(0, 7), max_size=3),
       crash_at=st.floats(20, 600))
def test_after_a_crash_exactly_the_ts_and_flv_files_are_kept(
        formats: list[str], ended_early: set[int], crash_at: float) -> None:
    rt, sim = start(interval=10.0)
    names = [f"D:/rec/{i}.{fmt}" for i, fmt in enumerate(formats)]
    early = {names[i] for i in ended_early if i < len(names)}
    for name in early:
        sim.fail_output(name, 905, at=T0 + 5)
    rt.dispatch(AddLocMixerOutput(t=T0, mixerID="m",
                                  outputs=[{"type": 0, "filename": n} for n in names]))
    sim.crash(["m"], at=T0 + crash_at)
    rt.advance(T0 + crash_at + 1)
    session = rt.sessions["m"]
    assert session.state == "crashed"
    status = {f.id: f.status for f in session.files}
    open_at_crash = [n for n in names if n not in early]
    kept = {n for n in open_at_crash if status[n] == "closed"}
    assert kept == {n for n in open_at_crash if n.endswith((".ts", ".flv"))}
    assert all(status[n] == "lost" for n in open_at_crash if n not in kept)
    assert all(status[n] == "failed" for n in early), "what ended before stays as it was"
    # Reports every 10 s from T0; the crash stops those due at or after it.
    last_report = max(T0 + 10 * k for k in range(0, 61) if T0 + 10 * k < T0 + crash_at)
    for f in session.files:
        if f.id in kept:
            assert f.end == last_report, "kept up to its last LocMixerOutputInfo"


def test_a_crash_after_destroy_changes_nothing() -> None:
    rt, _ = start()
    rt.dispatch(AddLocMixerOutput(t=T0, mixerID="m", outputs=[file_output(0, "mp4")]))
    rt.dispatch(DestroyLocMixer(t=T0, mixerID="m"))
    rt.dispatch(AppCrashed(t=T0, mixerID="m"))
    assert rt.sessions["m"].files[0].status == "closed"
    assert rt.sessions["m"].state == "destroyed"
