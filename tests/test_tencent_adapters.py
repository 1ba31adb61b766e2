"""The Tencent simulator: whole runs in virtual time, each fault, and the named scenarios.

Rules from vendor-docs/002_1767472c9d961129.txt and 004_b06b9b45c1601df1.txt: one recording
per user at a time (30000415), a new MP4 every 90 minutes, a 60 s no-data watchdog, stop
answers one file ID per file, a repeated stop answers 30000412.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from recstate import signals
from recstate.adapters.tencent import (
    SCENARIOS,
    TencentSimulator,
    run_scenario,
)
from recstate.clock import ManualClock
from recstate.errors import Violation
from recstate.events.tencent import (
    ERRORS,
    EnterRoom,
    RecordParam,
    RoomInfo,
    StartRecording,
    StopRecording,
)
from recstate.recording import RecordingFile
from recstate.runtime import Runtime
from recstate.session import Session

T0 = 1_700_000_000.0
MIN = 60.0
KEY = "15000:1:alice"
START = "requestMultiVideoRecorderStart"
STOP = "requestMultiVideoRecorderStop"


def room(room_id: int = 1) -> RoomInfo:
    return RoomInfo(relationId=15000, roomId=room_id)


def enter_and_start(rt: Runtime, t: float, room_id: int = 1, user: str = "alice",
                    name: str = "lesson") -> None:
    rt.dispatch(EnterRoom(t=t, relationId=15000, roomId=room_id, user=user))
    rt.dispatch(StartRecording(t=t, roomInfo=room(room_id), user=user,
                               param=RecordParam(fileName=name)))


def stop(rt: Runtime, t: float, room_id: int = 1, user: str = "alice") -> None:
    rt.dispatch(StopRecording(t=t, roomInfo=room(room_id), user=user))


def minutes(files: list[RecordingFile]) -> list[float]:
    return [round((f.duration or 0.0) / MIN, 3) for f in files]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def rt(clock: ManualClock) -> Runtime:
    """Lenient (the default): violations are recorded, not raised."""
    return Runtime(clock)


@pytest.fixture
def sim(rt: Runtime) -> Iterator[TencentSimulator]:
    s = TencentSimulator(rt)
    yield s
    s.disconnect()


@pytest.fixture
def violations(rt: Runtime) -> Iterator[list[Violation]]:
    got: list[Violation] = []

    def on_violation(sender: Any, violation: Violation, session: Session | None) -> None:
        got.append(violation)

    signals.violation.connect(on_violation, sender=rt, weak=False)
    yield got
    signals.violation.disconnect(on_violation, sender=rt)


@pytest.fixture
def errors(rt: Runtime) -> Iterator[list[dict[str, Any]]]:
    got: list[dict[str, Any]] = []

    def on_error(sender: Any, **kw: Any) -> None:
        got.append(kw)

    signals.error.connect(on_error, sender=rt, weak=False)
    yield got
    signals.error.disconnect(on_error, sender=rt)


def commands_sent(rt: Runtime) -> list[tuple[float, str]]:
    got: list[tuple[float, str]] = []

    def on_command(sender: Any, *, command: Any, t: float, **_: Any) -> None:
        got.append((t, command.name))

    signals.commands("tencent").connect(on_command, sender=rt, weak=False)
    return got


# ---- whole runs ------------------------------------------------------------------------------
def test_200_minutes_make_three_files_90_90_20_all_ready(rt: Runtime, sim: TencentSimulator,
                                                         violations: list[Violation]) -> None:
    enter_and_start(rt, T0)
    rt.advance(to=T0 + 200 * MIN)
    assert rt.sessions[KEY].state == "recording"
    stop(rt, T0 + 200 * MIN)
    rt.advance(to=T0 + 200 * MIN + 5)

    session = rt.sessions[KEY]
    assert session.state == "stopped"
    files = session.files
    assert len(files) == 3
    assert [f.status for f in files] == ["ready"] * 3
    # Start answered after 0.2 s; files end when the stop was sent.
    assert files[0].duration == pytest.approx(90 * MIN)
    assert files[1].duration == pytest.approx(90 * MIN)
    assert files[2].duration == pytest.approx(20 * MIN, abs=0.5)
    assert [f.id for f in files] == [f.fileId for f in sim.vod_files]
    assert all(f.url and f.url.endswith(f"/{f.id}/f0.mp4") for f in files)
    # Size is deterministic from the duration (100 kB/s by default).
    assert [f.size for f in files] == [round(f.duration * 100_000)  # type: ignore[operator]
                                       for f in files]
    assert [v.name for v in sim.vod_files] == ["lesson_1", "lesson_2", "lesson_3"]
    assert violations == []


def test_a_recording_of_exactly_180_minutes_ends_with_two_files_and_no_violation(
        clock: ManualClock) -> None:
    # 002 §6: a file every 90 minutes, or at the end for what is under 90 minutes: a
    # recording that ends on a boundary has no third, empty file (on either side).
    rt = Runtime(clock, strict=True)
    sim = TencentSimulator(rt)
    enter_and_start(rt, T0)
    rt.advance(to=T0 + 1)
    start = rt.sessions[KEY].files[0].start
    assert start is not None
    end = start + 90 * MIN + 90 * MIN  # the rollover timer's own sum, to the last bit
    rt.advance(to=end)
    stop(rt, end)
    rt.advance(to=end + 5)  # strict: a count-mismatch violation would raise here

    session = rt.sessions[KEY]
    assert session.state == "stopped"
    assert len(sim.vod_files) == 2
    assert [v.size for v in sim.vod_files] == [round(90 * MIN * 100_000)] * 2
    kept = [f for f in session.files if f.status != "lost"]
    assert [f.status for f in kept] == ["ready", "ready"]
    assert [f.id for f in kept] == [v.fileId for v in sim.vod_files]
    assert minutes(kept) == [90.0, 90.0]
    sim.disconnect()


def test_vod_listing_delay_lists_the_file_only_on_the_second_search(
        clock: ManualClock) -> None:
    rt = Runtime(clock, strict=True)
    sim = TencentSimulator(rt, vod_listing_delay=20.0)
    enter_and_start(rt, T0)
    rt.advance(to=T0 + 10 * MIN)
    stop(rt, T0 + 10 * MIN)
    rt.advance(to=T0 + 10 * MIN + 5)  # stop:ok, the first SearchMedia and its answer
    searches = [e for e in sim.answered if e.name == "SearchMedia:ok"]
    assert [len(e.files) for e in searches] == [0]  # type: ignore[attr-defined]
    assert [f.status for f in rt.sessions[KEY].files] == ["closed"]
    assert sim.vod_files == []  # not listed yet: 20 s after the stop

    rt.advance(to=T0 + 10 * MIN + 31)  # the machine searches again 30 s later (search_delays)
    searches = [e for e in sim.answered if e.name == "SearchMedia:ok"]
    assert [len(e.files) for e in searches] == [0, 1]  # type: ignore[attr-defined]
    assert [f.status for f in rt.sessions[KEY].files] == ["ready"]
    assert [f.id for f in rt.sessions[KEY].files] == [v.fileId for v in sim.vod_files]
    sim.disconnect()


def test_media_data_arrives_every_data_interval_while_recording(rt: Runtime) -> None:
    sim = TencentSimulator(rt, data_interval=10.0)
    seen: list[float] = []
    rt.tracer = lambda r: seen.append(r.t) if r.name == "mediaData" else None
    enter_and_start(rt, T0)
    rt.advance(to=T0 + 65)
    assert seen == pytest.approx([T0 + 0.2 + 10 * k for k in range(1, 7)])
    stop(rt, T0 + 65)
    rt.advance(to=T0 + 200)
    assert len(seen) == 6  # nothing after the stop
    sim.disconnect()


def test_same_run_gives_the_same_file_ids() -> None:
    def ids() -> list[str]:
        rt = Runtime(ManualClock(T0))
        sim = TencentSimulator(rt)
        enter_and_start(rt, T0)
        rt.advance(to=T0 + 100 * MIN)
        stop(rt, T0 + 100 * MIN)
        rt.advance(to=T0 + 100 * MIN + 5)
        sim.disconnect()
        return [f.id for f in rt.sessions[KEY].files]

    first = ids()
    assert len(first) == 2
    assert first == ids()


def test_crash_at_minute_100_gives_two_files_the_second_ending_at_the_last_data(
        rt: Runtime, sim: TencentSimulator, errors: list[dict[str, Any]]) -> None:
    enter_and_start(rt, T0)
    sim.crash(KEY, at=T0 + 100 * MIN)
    last_data = T0 + 0.2 + 599 * 10  # the last 10 s tick before minute 100
    rt.advance(to=last_data + 59)
    assert rt.sessions[KEY].state == "recording"
    rt.advance(to=last_data + 61)

    session = rt.sessions[KEY]
    assert session.state == "stopped"  # the machine's own watchdog closed it
    files = session.files
    assert len(files) == 2
    assert files[0].duration == pytest.approx(90 * MIN)
    assert files[1].end == pytest.approx(last_data)
    assert any(e["code"] == "no-data" for e in errors)
    # The server closed it too: 2 files in VOD, the second up to the last data.
    vod = sim.vod_files
    assert len(vod) == 2
    assert vod[1].size == round((last_data - (T0 + 0.2 + 90 * MIN)) * 100_000)
    assert sim.recording_user("alice") is None
    # No stop, so no file IDs: found in VOD by the start's file name all the same (002 §4).
    assert [f.status for f in files] == ["ready", "ready"]
    assert [(f.id, f.url, f.size) for f in files] == [(v.fileId, v.url, v.size) for v in vod]


def test_stop_after_the_server_closed_a_crashed_recording_answers_30000412(
        rt: Runtime, sim: TencentSimulator) -> None:
    enter_and_start(rt, T0)
    rt.advance(to=T0 + 30)
    sim.crash(KEY)  # now
    # Before the watchdog fires (last data at 20.2 s) the app asks to stop; by the time the
    # stop reaches the server (after 80.2 s) the server has closed it.
    sim.delay(25.0, command=STOP)
    rt.advance(to=T0 + 60)
    stop(rt, T0 + 60)
    rt.advance(to=T0 + 200)
    answers = [e for e in sim.answered if e.name == f"{STOP}:error"]
    assert [e.code for e in answers] == [30000412]  # type: ignore[attr-defined]
    session = rt.sessions[KEY]
    assert session.state == "stopped"  # a repeated stop is not a failure (004 §5)
    # The file the server kept is found in VOD by the file name (002 §4 (3)).
    [vod] = sim.vod_files
    [f] = session.files
    assert (f.status, f.id, f.url, f.end) == ("ready", vod.fileId, vod.url, T0 + 20.2)


# ---- faults ----------------------------------------------------------------------------------
def test_retryable_start_error_is_retried_after_1_and_2_s_then_records(
        rt: Runtime, sim: TencentSimulator) -> None:
    sent = commands_sent(rt)
    sim.fail_next(START, 30000208, times=2)
    enter_and_start(rt, T0)
    rt.advance(to=T0 + 10)
    starts = [t - T0 for t, name in sent if name == START]
    assert starts == pytest.approx([0.0, 0.2 + 1.0, 1.4 + 2.0])
    assert rt.sessions[KEY].state == "recording"


@pytest.mark.parametrize("code", [30000208, 30000401, 30000402, 30000404])
def test_each_retryable_code_is_retried_three_times_then_fails(
        rt: Runtime, sim: TencentSimulator, code: int) -> None:
    sent = commands_sent(rt)
    sim.fail_next(START, code, times=4)
    enter_and_start(rt, T0)
    rt.advance(to=T0 + 20)
    starts = [round(t - T0, 3) for t, name in sent if name == START]
    assert starts == [0.0, 1.2, 3.4, 7.6]  # retries after 1, 2, 4 s
    assert rt.sessions[KEY].state == "failed"
    assert sim.recording_user("alice") is None


def test_non_retryable_start_error_fails_at_once(rt: Runtime, sim: TencentSimulator,
                                                 errors: list[dict[str, Any]]) -> None:
    sent = commands_sent(rt)
    sim.fail_next(START, 2)  # 用户点播余额不足
    enter_and_start(rt, T0)
    rt.advance(to=T0 + 30)
    assert [name for _, name in sent] == [START]
    assert rt.sessions[KEY].state == "failed"
    assert [e["code"] for e in errors if e["level"] == "error"] == [2]


def test_dropped_start_ok_leaves_the_machine_starting_while_the_server_records(
        rt: Runtime, sim: TencentSimulator) -> None:
    sim.drop_next(f"{START}:ok")
    enter_and_start(rt, T0)
    rt.advance(to=T0 + 20)
    # No callback: the machine cannot know the server started (nothing dropped silently by
    # the machine: it just never hears). Its own answer timeout, if any, decides later.
    assert rt.sessions[KEY].state == "starting"
    assert rt.sessions[KEY].files == []
    assert sim.recording_user("alice") == KEY
    assert not [e for e in sim.answered if e.name == f"{START}:ok"]


def test_duplicated_start_ok_is_recorded_as_a_violation(
        rt: Runtime, sim: TencentSimulator, violations: list[Violation]) -> None:
    sim.duplicate_next(f"{START}:ok")
    enter_and_start(rt, T0)
    rt.advance(to=T0 + 1)
    assert rt.sessions[KEY].state == "recording"
    assert len(violations) == 1
    assert violations[0].name == f"{START}:ok"
    assert violations[0].state == "recording"
    assert len(rt.sessions[KEY].files) == 1  # the duplicate opened nothing


def test_duplicated_callback_raises_in_strict_mode(clock: ManualClock) -> None:
    rt = Runtime(clock, strict=True)
    sim = TencentSimulator(rt)
    sim.duplicate_next(f"{START}:ok")
    enter_and_start(rt, T0)
    with pytest.raises(Violation, match="not accepted in state 'recording'"):
        rt.advance(to=T0 + 1)
    sim.disconnect()


def test_duplicate_start_for_a_user_recording_in_another_room_is_refused(
        rt: Runtime, sim: TencentSimulator, errors: list[dict[str, Any]]) -> None:
    enter_and_start(rt, T0, room_id=1)
    rt.advance(to=T0 + 60)
    enter_and_start(rt, T0 + 60, room_id=2)
    rt.advance(to=T0 + 70)
    assert rt.sessions["15000:1:alice"].state == "recording"
    # refused locally (issue 3): no command sent, the session stays where it was
    assert rt.sessions["15000:2:alice"].state == "idle"
    assert [e["code"] for e in errors if e["session"].key == "15000:2:alice"] == [30000415]
    assert [c for c in sim.answered if "15000:2:alice" in str(c)] == []
    # Another user may record in room 2 at the same time.
    enter_and_start(rt, T0 + 70, room_id=2, user="bob")
    rt.advance(to=T0 + 80)
    assert rt.sessions["15000:2:bob"].state == "recording"


def test_the_user_may_record_again_once_stopped(rt: Runtime, sim: TencentSimulator) -> None:
    enter_and_start(rt, T0, room_id=1)
    rt.advance(to=T0 + 60)
    stop(rt, T0 + 60, room_id=1)
    rt.advance(to=T0 + 61)
    enter_and_start(rt, T0 + 61, room_id=2)
    rt.advance(to=T0 + 62)
    assert rt.sessions["15000:2:alice"].state == "recording"


def test_delay_moves_the_answer(rt: Runtime, sim: TencentSimulator) -> None:
    sim.delay(3.0, command=START)
    enter_and_start(rt, T0)
    rt.advance(to=T0 + 2.9)
    assert rt.sessions[KEY].state == "starting"
    rt.advance(to=T0 + 3.0)
    assert rt.sessions[KEY].state == "recording"
    assert rt.sessions[KEY].files[0].start == pytest.approx(T0 + 3.0)


def test_stop_error_then_duplicated_stop_ok(rt: Runtime, sim: TencentSimulator,
                                            violations: list[Violation]) -> None:
    sent = commands_sent(rt)
    sim.fail_next(STOP, 30000401)  # retryable (004 §5): the stop is sent again after 1 s
    sim.duplicate_next(f"{STOP}:ok")
    enter_and_start(rt, T0)
    rt.advance(to=T0 + 60)
    stop(rt, T0 + 60)
    rt.advance(to=T0 + 63)
    assert [round(t - T0, 3) for t, name in sent if name == STOP] == [60.0, 61.2]
    assert [e.name for e in sim.answered if e.name.startswith(STOP)] == [
        f"{STOP}:error", f"{STOP}:ok", f"{STOP}:ok"]
    assert rt.sessions[KEY].state == "stopped"
    assert [f.status for f in rt.sessions[KEY].files] == ["ready"]
    # the second copy of :ok finds the recording stopped: one violation, nothing else
    assert [(v.name, v.state) for v in violations] == [(f"{STOP}:ok", "stopped")]


def test_simulator_errors_state_the_codes_meaning_once(
        rt: Runtime, sim: TencentSimulator, errors: list[dict[str, Any]]) -> None:
    sim.fail_next(START, 30000208)  # no desc given
    enter_and_start(rt, T0)
    rt.advance(to=T0 + 30)
    sim.crash(KEY)
    sim.delay(25.0, command=STOP)  # the server has closed the recording when the stop lands
    rt.advance(to=T0 + 60)
    stop(rt, T0 + 60)
    rt.advance(to=T0 + 200)
    by_code = {e["code"]: e["message"] for e in errors}
    for code in (30000208, 30000412):
        meaning = ERRORS[code][0]
        assert by_code[code].count(meaning) == 1, by_code[code]
    assert "'lesson' was already closed" in by_code[30000412]
    (start_error,) = [e for e in sim.answered if e.name == f"{START}:error"]
    assert start_error.desc == ""  # type: ignore[attr-defined]


def test_search_media_error_leaves_the_files_closed(rt: Runtime, sim: TencentSimulator,
                                                    errors: list[dict[str, Any]]) -> None:
    sim.fail_next("SearchMedia", "InternalError", desc="内部错误")
    enter_and_start(rt, T0)
    rt.advance(to=T0 + 60)
    stop(rt, T0 + 60)
    rt.advance(to=T0 + 61)
    assert [f.status for f in rt.sessions[KEY].files] == ["closed"]
    assert any(e["code"] == "InternalError" for e in errors)


def test_fault_injection_rejects_unknown_names(sim: TencentSimulator) -> None:
    with pytest.raises(ValueError, match="unknown Tencent command"):
        sim.fail_next("requestMultiVideoRecorderPause", 1)
    with pytest.raises(ValueError, match="unknown Tencent callback"):
        sim.drop_next("requestMultiVideoRecorderStart:okay")
    with pytest.raises(TypeError, match="ints"):
        sim.fail_next(START, "30000208")
    with pytest.raises(ValueError, match="in the past"):
        sim.crash(KEY, at=T0 - 1)


def test_disconnect_stops_answering(rt: Runtime) -> None:
    sim = TencentSimulator(rt)
    sim.disconnect()
    enter_and_start(rt, T0)
    rt.advance(to=T0 + 10)
    assert rt.sessions[KEY].state == "starting"
    assert sim.answered == []


# ---- scenarios -----------------------------------------------------------------------------
def test_scenario_200min_writes_a_trace_and_ends_with_three_ready_files() -> None:
    out = io.BytesIO()
    rt = run_scenario("200min", out=out, start=T0)
    session = rt.sessions["15000:1:alice"]
    assert session.state == "stopped"
    assert minutes(session.files) == pytest.approx([90, 90, 20], abs=0.01)
    assert [f.status for f in session.files] == ["ready"] * 3
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert {"event", "command", "transition", "file"} <= {x.get("kind", "event")
                                                           for x in lines}
    assert lines[-1]["name"] == "ready"


def test_scenario_crash_ends_stopped_with_two_ready_files() -> None:
    rt = run_scenario("crash", start=T0)
    session = rt.sessions["15000:1:alice"]
    assert session.state == "stopped"
    assert [f.status for f in session.files] == ["ready", "ready"]
    assert minutes(session.files) == pytest.approx([90, 9.833], abs=0.01)


def test_scenario_retry_records_after_two_retries() -> None:
    rt = run_scenario("retry", start=T0)
    session = rt.sessions["15000:1:alice"]
    assert session.state == "stopped"
    assert [f.status for f in session.files] == ["ready"]
    assert session.files[0].start == pytest.approx(T0 + 3.6)


def test_scenario_duplicate_start_refuses_the_second_room() -> None:
    rt = run_scenario("duplicate-start", start=T0)
    assert rt.sessions["15000:1:alice"].state == "stopped"
    assert [f.status for f in rt.sessions["15000:1:alice"].files] == ["ready"]
    assert rt.sessions["15000:2:alice"].state == "idle", "refused locally, nothing sent"
    assert rt.sessions["15000:2:alice"].files == []


def test_scenario_stop_while_starting_sends_the_stop_after_the_start() -> None:
    rt = run_scenario("stop-while-starting", start=T0)
    session = rt.sessions["15000:1:alice"]
    assert session.state == "stopped"
    assert [f.status for f in session.files] == ["ready"]


def test_scenario_traces_are_deterministic_and_written_to_a_path(tmp_path: Any) -> None:
    path = tmp_path / "crash.jsonl"
    run_scenario("crash", out=path, start=T0)
    again = io.BytesIO()
    run_scenario("crash", out=again, start=T0)
    assert path.read_bytes() == again.getvalue()


def test_every_scenario_replays_without_mismatch(tmp_path: Any) -> None:
    from recstate.replay import replay

    for name in SCENARIOS:
        path = tmp_path / f"{name}.jsonl"
        run_scenario(name, out=path, start=T0)
        report = replay(path)
        assert report.mismatches == [], name
        assert report.exit_status == 0, name


def test_unknown_scenario_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="200min"):
        run_scenario("nope")


def test_scenario_retry_already_recording_records_after_30000415() -> None:
    rt = run_scenario("retry-already-recording", start=T0)
    session = rt.sessions["15000:1:alice"]
    assert session.state == "stopped"
    assert [f.status for f in session.files] == ["ready"]
    [f] = session.files
    assert (f.start, f.end) == (T0, T0 + 10 * MIN), "from the attempt that timed out"
