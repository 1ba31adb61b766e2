"""CloudRoom rules that mutation testing (tools/mutate.py, issue 8) found unpinned, each with its
expected values written from 003, CloudRoom's Constant.md or the options' documented defaults,
not from output: the default upload retries, what an upload's answers do to the file."""

from __future__ import annotations

from typing import Any

from test_cloudroom_acceptance import RATE, T0, Live, add, create, f, info, line, writing


def upload_err(t: float, name: str, code: int = 1202) -> dict[str, Any]:
    # Constant.md: 1202 上传失败 (retryable); 1201 录制文件不存在
    return line(t, "UploadRecordFile:error", {"mixerID": "1", "filename": name, "code": code,
                                              "desc": "HTTP 503"})


def uploads(live: Live) -> list[tuple[float, int]]:
    return [(round(r.t - T0, 6), r.data["attempt"]) for r in live.of("command")
            if r.name == "UploadRecordFile" and r.data is not None]


def test_by_default_a_1202_is_retried_3_times_after_2_4_and_8_s() -> None:
    """CloudRoomOptions: upload_retries 3, upload_backoff 2 s, doubling: attempts at the
    close (61), then 2 s, 4 s and 8 s after each failure; the fourth failure is final."""
    live = Live()
    live.feed(create(0), add(0, f("D:/1.mp4", isUploadOnRecording=1)),
              writing(60, "D:/1.mp4", 60), info(61, "D:/1.mp4", 2, 61_000, 61 * RATE))
    assert uploads(live) == [(61, 1)]
    live.feed(upload_err(62, "D:/1.mp4"))
    live.at(63.9)
    assert uploads(live) == [(61, 1)]
    live.at(64)
    live.feed(upload_err(65, "D:/1.mp4"))
    live.at(68.9)
    assert len(uploads(live)) == 2
    live.at(69)
    live.feed(upload_err(70, "D:/1.mp4"))
    live.at(77.9)
    assert len(uploads(live)) == 3
    live.at(78)
    assert uploads(live) == [(61, 1), (64, 2), (69, 3), (78, 4)]
    assert live.file("D:/1.mp4").status == "uploading"
    live.feed(upload_err(79, "D:/1.mp4"))
    live.at(3600)
    assert len(uploads(live)) == 4
    assert live.file("D:/1.mp4").status == "failed"
    messages = [e["message"] for e in live.errors()]
    assert [m.split("; ")[-1] for m in messages[:3]] == [
        "retry 1 of 3 in 2 s", "retry 2 of 3 in 4 s", "retry 3 of 3 in 8 s"]
    assert "the upload failed after 4 attempts" in messages[3]
    assert [e["level"] for e in live.errors()] == ["warning", "warning", "warning", "error"]


def test_an_upload_that_succeeds_on_a_retry_makes_the_file_ready_with_its_url() -> None:
    live = Live()
    live.feed(create(0), add(0, f("D:/1.ts", isUploadOnRecording=1)),
              info(30, "D:/1.ts", 2, 30_000, 30 * RATE), upload_err(31, "D:/1.ts"))
    live.at(33)  # 31 + 2 s
    live.feed(line(34, "UploadRecordFile:ok", {"mixerID": "1", "filename": "D:/1.ts",
                                               "url": "https://files.example.com/1.ts"}))
    x = live.file("D:/1.ts")
    assert (x.status, x.url, x.size, x.end) == ("ready", "https://files.example.com/1.ts",
                                                30 * RATE, T0 + 30)
    assert live.session().context.outputs["D:/1.ts"].retry_at is None
    live.at(3600)
    assert len(uploads(live)) == 2  # nothing more


def test_an_upload_answer_while_a_retry_waits_is_a_violation_and_changes_nothing() -> None:
    live = Live()
    live.feed(create(0), add(0, f("D:/1.ts", isUploadOnRecording=1)),
              info(30, "D:/1.ts", 2, 30_000, 30 * RATE), upload_err(31, "D:/1.ts"),
              line(32, "UploadRecordFile:ok", {"mixerID": "1", "filename": "D:/1.ts",
                                               "url": "https://x/1.ts"}))
    assert len(live.violations()) == 1
    assert "not being uploaded" in live.violations()[0]
    assert live.file("D:/1.ts").status == "uploading"


def test_android_none_is_said_and_changes_nothing() -> None:
    """Android's MIXER_OUTPUT_STATE numbers NONE (没有创建) 0, CREATED 1: a NONE report is
    said (info) and the output stays as it was, still open."""
    live = Live()
    live.feed(create(0, platform="android"), add(0, f("/sdcard/1.mp4")),
              info(1, "/sdcard/1.mp4", 0))
    (none,) = [e for e in live.errors() if e["code"] == "output-none"]
    assert none["level"] == "info"
    assert "NONE" in none["message"]
    assert live.session().context.outputs["/sdcard/1.mp4"].state == "added"
    assert live.file("/sdcard/1.mp4").status == "open"
    assert live.violations() == []
    live.feed(info(2, "/sdcard/1.mp4", 1, 0, 0))  # CREATED on Android
    assert live.session().context.outputs["/sdcard/1.mp4"].state == "created"


def test_a_crash_ends_a_live_stream_and_names_it_apart_from_the_files() -> None:
    """003 功能介绍: a crash keeps flv and ts, loses mp4; a live stream is no file: it ends."""
    rtmp = "rtmp://live.example.com/app/stream"
    live = Live()
    live.feed(create(0), add(0, {"type": 1, "liveUrl": rtmp}, f("D:/1.mp4"), f("D:/1.flv")),
              writing(10, "D:/1.flv", 10), writing(10, "D:/1.mp4", 10),
              info(10, rtmp, 1, 10_000, 1000), line(20, "appCrashed", {"mixerID": "1"}))
    assert live.session().state == "crashed"
    outputs = live.session().context.outputs
    assert (outputs[rtmp].state, outputs[rtmp].closed_by) == ("closed", "crash")
    (crash,) = [e["message"] for e in live.errors() if e["code"] == "app-crashed"]
    assert crash.endswith(f"; live streams ended: {[rtmp]}")
    assert f"files kept (flv/ts survive a crash, 003): {['D:/1.flv']}" in crash
    assert f"lost (mp4/avi/mp3 are unusable after a crash): {['D:/1.mp4']}" in crash
    assert [x.id for x in live.session().files] == ["D:/1.mp4", "D:/1.flv"]


def test_a_mixer_writing_nothing_is_taken_as_gone_after_the_silence_since_the_apps_word() -> None:
    """No output open, so no LocMixerOutputInfo to wait for: the mixer waits silence_timeout
    from the app's last word (here the removal at 10 s), and says how long that was."""
    from recstate.machines.cloudroom import CloudRoomOptions

    live = Live(CloudRoomOptions(silence_timeout=60))
    live.feed(create(0), add(0, f("D:/1.mp4")),
              line(10, "RmLocMixerOutput", {"mixerID": "1", "outputs": ["D:/1.mp4"]}))
    live.at(69.9)
    assert live.session().state == "created"
    live.at(70)
    assert live.session().state == "crashed"
    (gone,) = [e["message"] for e in live.errors() if e["code"] == "app-silent"]
    assert "which writes no output, for 60 s (silence_timeout 60 s)" in gone


def test_removing_an_unknown_output_names_it_and_a_known_one_is_not_called_unknown() -> None:
    live = Live()
    live.feed(create(0), add(0, f("D:/1.mp4")),
              line(10, "RmLocMixerOutput", {"mixerID": "1", "outputs": ["D:/9.mp4"]}))
    (unknown,) = [e["message"] for e in live.errors() if e["code"] == "unknown-output"]
    assert "['D:/9.mp4'] are not outputs of mixer '1'" in unknown
    live.feed(line(20, "RmLocMixerOutput", {"mixerID": "1", "outputs": ["D:/1.mp4"]}))
    assert len([e for e in live.errors() if e["code"] == "unknown-output"]) == 1
    assert live.commands().count("RmLocMixerOutput") == 1  # the unknown one sent nothing


def test_the_sdks_closed_after_a_removal_gives_the_file_its_final_size() -> None:
    """003 §5 / RmLocMixerOutput: the output ends at the app's call; the SDK's CLOSED that
    follows carries the final figures, which the file takes."""
    live = Live()
    live.feed(create(0), add(0, f("D:/1.mp4")), writing(30, "D:/1.mp4", 30),
              line(30, "RmLocMixerOutput", {"mixerID": "1", "outputs": ["D:/1.mp4"]}),
              info(30, "D:/1.mp4", 2, 30_500, 31 * RATE))  # CLOSED, at the same instant
    x = live.file("D:/1.mp4")
    assert (x.status, x.end, x.size) == ("closed", T0 + 30, 31 * RATE)


def test_every_open_output_silent_is_a_gone_app_even_after_a_layout_change() -> None:
    """A layout change is the app's word, not the SDK's report: when every open output has
    been silent for silence_timeout the app is taken as gone all the same."""
    from test_cloudroom_acceptance import PIP

    from recstate.machines.cloudroom import CloudRoomOptions

    live = Live(CloudRoomOptions(silence_timeout=60))
    live.feed(create(0), add(0, f("D:/1.ts")), writing(10, "D:/1.ts", 10),
              line(65, "UpdateLocMixerContent", {"mixerID": "1", "mixerContent": PIP}))
    live.at(70)  # 60 s after the last report
    assert live.session().state == "crashed"
    assert [e["code"] for e in live.errors()].count("app-silent") == 1
    x = live.file("D:/1.ts")
    assert (x.status, x.end, x.size) == ("closed", T0 + 10, 10 * RATE)


def test_the_sdks_closed_after_a_removal_ends_the_file_at_that_report() -> None:
    live = Live()
    live.feed(create(0), add(0, f("D:/1.mp4")), writing(20, "D:/1.mp4", 20),
              line(30, "RmLocMixerOutput", {"mixerID": "1", "outputs": ["D:/1.mp4"]}))
    assert live.file("D:/1.mp4").end == T0 + 20  # the last report, until the SDK says more
    live.feed(info(35, "D:/1.mp4", 2, 20_000, 20 * RATE))  # CLOSED, same figures, later
    x = live.file("D:/1.mp4")
    assert (x.status, x.end, x.size) == ("closed", T0 + 35, 20 * RATE)


def test_an_upload_answer_for_a_file_the_mobile_sdk_uploads_is_a_violation_and_retries_nothing(
) -> None:
    """Android record.md: with isUploadOnRecording the SDK uploads the file itself and says so
    (UPLOADING 5, UPLOADSUCCESS 6, UPLOADERR 7); recstate sends no UploadRecordFile for it, so
    an UploadRecordFile answer for that file answers nothing recstate asked: a violation, no
    retry ever sent, and the file goes on following the SDK's own upload."""
    name = "/sdcard/1.mp4"
    live = Live()
    live.feed(create(0, platform="android"), add(0, f(name, isUploadOnRecording=1)),
              info(1, name, 1, 0, 0), info(30, name, 3, 30_000, 30 * RATE),
              info(31, name, 5, 30_000, 30 * RATE), upload_err(32, name))
    assert len(live.violations()) == 1
    assert "not being uploaded" in live.violations()[0]
    assert [e for e in live.errors() if e["code"] == 1202] == []
    live.at(3600)  # past every default retry (2, 4, 8 s)
    assert uploads(live) == []
    assert live.file(name).status == "uploading"
    live.feed(line(3601, "UploadRecordFile:ok", {"mixerID": "1", "filename": name,
                                                 "url": "https://x/1.mp4"}))
    assert len(live.violations()) == 2
    assert live.file(name).status == "uploading"
    live.feed(info(3602, name, 6, 30_000, 30 * RATE))  # UPLOADSUCCESS: the SDK's own word
    assert (live.file(name).status, live.file(name).url) == ("ready", name)


# ---- the watchdog's deadline, as a snapshot keeps it (docs/architecture.md, Ways out) -------
def silence_due(live: Live) -> list[float]:
    """When the session's silence watchdog is due, in seconds from T0 (the snapshot's timers:
    what a store keeps and a restart re-arms)."""
    return [t["due"] - T0 for t in live.rt.snapshot("1")["timers"] if t["name"] == "silence"]


def test_the_silence_watchdog_runs_from_each_outputs_add_or_last_report() -> None:
    """silence_timeout counts from an output's last report, or its add if it never reported;
    with several outputs open the earliest is due first; destroy cancels the watchdog."""
    from recstate.machines.cloudroom import CloudRoomOptions

    live = Live(CloudRoomOptions(silence_timeout=60))
    live.feed(create(0))
    assert silence_due(live) == [60]  # no output: from the app's word
    live.feed(add(50, f("D:/1.ts")))
    assert silence_due(live) == [110]  # from the add
    live.feed(writing(80, "D:/1.ts", 30))
    assert silence_due(live) == [140]  # from the report
    live.feed(add(90, f("D:/2.ts")))
    assert silence_due(live) == [140]  # 1.ts (80 + 60) before 2.ts (90 + 60)
    live.feed(line(100, "DestroyLocMixer", {"mixerID": "1"}))
    assert silence_due(live) == []
    live.at(1000)
    assert [e["code"] for e in live.errors() if e["code"] in ("app-silent", "output-silent")] == []


def test_a_silent_app_names_its_live_streams_only_when_it_had_some() -> None:
    """A silent app is taken as gone as in a crash: flv/ts kept, mp4 lost, live streams
    ended; the warning names the live streams when there are some, and says nothing of
    them otherwise."""
    from recstate.machines.cloudroom import CloudRoomOptions

    rtmp = "rtmp://live.example.com/app/stream"
    for outputs, tail in (([f("D:/1.ts")], "[]"),
                          ([f("D:/1.ts"), {"type": 1, "liveUrl": rtmp}],
                           f"[]; live streams ended: {[rtmp]}")):
        live = Live(CloudRoomOptions(silence_timeout=60))
        live.feed(create(0), add(0, *outputs))
        live.at(60)
        assert live.session().state == "crashed"
        (gone,) = [e["message"] for e in live.errors() if e["code"] == "app-silent"]
        assert gone.endswith(f"they are on the device): {tail}")


# ---- reports that say what cannot be ---------------------------------------------------------
def test_a_report_with_a_negative_or_backward_figure_does_not_move_the_output() -> None:
    """A negative duration or size, or one going backwards, is a violation and the report's
    figures are ignored; only CLOSED and ERR still end the output: a CREATED or WRITING
    with such figures leaves the output where it was."""
    live = Live()
    live.feed(create(0), add(0, f("D:/1.ts"), f("D:/2.ts")),
              info(1, "D:/1.ts", 0, 0, -1))  # CREATED with fileSize -1
    outputs = live.session().context.outputs
    assert outputs["D:/1.ts"].state == "added"
    assert "outputInfo.fileSize = -1" in live.violations()[0]
    live.feed(info(2, "D:/2.ts", 0, 5_000, 5 * RATE),  # CREATED with figures: taken
              info(3, "D:/2.ts", 1, 3_000, 3 * RATE))  # WRITING going backwards
    assert (outputs["D:/2.ts"].state, outputs["D:/2.ts"].duration) == ("created", 5_000)
    assert "duration 5000 -> 3000 ms" in live.violations()[1]


def test_removing_an_output_that_had_ended_says_so_and_sends_nothing() -> None:
    live = Live()
    live.feed(create(0), add(0, f("D:/1.ts"), f("D:/2.ts")),
              info(30, "D:/1.ts", 2, 30_000, 30 * RATE),  # CLOSED by the SDK
              line(40, "RmLocMixerOutput", {"mixerID": "1", "outputs": ["D:/1.ts"]}))
    (said,) = [e for e in live.errors() if e["code"] == "output-ended"]
    assert (said["level"], said["message"]) == (
        "info", "RmLocMixerOutput: ['D:/1.ts'] had ended already")
    assert live.commands().count("RmLocMixerOutput") == 0
    assert live.session().context.outputs["D:/2.ts"].state == "added"


def test_an_err_without_errcode_fails_the_output_with_code_0() -> None:
    """Constant.md: 0 is CRVideo_NOERR, the errCode of an output that has none; an ERR whose
    errCode is missing is not 901, so the output fails, and its code is said as 0."""
    from recstate.machines.cloudroom import CloudRoomMixer

    live = Live()
    live.feed(create(0), add(0, f("D:/1.ts"), f("D:/2.ts")),
              writing(10, "D:/1.ts", 10), info(20, "D:/1.ts", 3, 20_000, 20 * RATE),
              info(30, "D:/2.ts", 2, 30_000, 30 * RATE))
    assert live.file("D:/1.ts").status == "failed"
    assert [e["code"] for e in live.errors()] == [0]
    summary = CloudRoomMixer.summary(live.session())
    assert summary is not None
    assert {o["name"]: (o["state"], o["errCode"]) for o in summary["outputs"]} == {
        "D:/1.ts": ("error", 0), "D:/2.ts": ("closed", 0)}


# ---- the SDK's upload on mobile, and ours -----------------------------------------------------
def test_an_sdk_upload_done_while_recording_closes_the_file_at_that_report() -> None:
    """Android record.md, 边录边传: UPLOADSUCCESS (6) while the output is still being written
    means the file is complete: it closes at that report with the size last reported, then
    is ready at serverPathFileName."""
    name = "/sdcard/1.mp4"
    live = Live()
    live.feed(create(0, platform="android"),
              add(0, f(name, isUploadOnRecording=1, serverPathFileName="/d/1.mp4")),
              info(1, name, 1, 0, 0), info(10, name, 2, 10_000, 10 * RATE),
              info(12, name, 6))
    x = live.file(name)
    assert (x.status, x.url, x.end, x.size) == ("ready", "/d/1.mp4", T0 + 12, 10 * RATE)
    assert [r.name for r in live.of("file")] == ["opened", "closed", "ready"]


def test_a_final_upload_error_on_the_first_attempt_names_no_attempt_count() -> None:
    """1201 (the file does not exist) is final: the first upload fails, said without 'after N
    attempts' (there was one), and nothing is retried."""
    live = Live()
    live.feed(create(0), add(0, f("D:/1.mp4", isUploadOnRecording=1)),
              info(30, "D:/1.mp4", 2, 30_000, 30 * RATE), upload_err(31, "D:/1.mp4", 1201))
    (failed,) = [e["message"] for e in live.errors() if e["code"] == 1201]
    assert failed.startswith("'D:/1.mp4': the upload failed: ")
    live.at(3600)
    assert uploads(live) == [(30, 1)]


def test_each_outputs_upload_retry_goes_out_at_its_own_time() -> None:
    """Two files failing one second apart are each retried 2 s after their own failure (the
    default backoff), not together, and the later one is not forgotten."""
    live = Live()
    live.feed(create(0), add(0, f("D:/a.mp4", isUploadOnRecording=1),
                             f("D:/b.mp4", isUploadOnRecording=1), f("D:/c.mp4")),
              info(30, "D:/a.mp4", 2, 30_000, 30 * RATE),
              info(30, "D:/b.mp4", 2, 30_000, 30 * RATE),
              upload_err(31, "D:/a.mp4"), upload_err(32, "D:/b.mp4"))
    live.at(33)
    assert [(r.data["filename"], r.data["attempt"]) for r in live.of("command")
            if r.name == "UploadRecordFile" and r.data is not None] == [
        ("D:/a.mp4", 1), ("D:/b.mp4", 1), ("D:/a.mp4", 2)]
    live.at(34)
    assert [(round(r.t - T0, 6), r.data["filename"], r.data["attempt"])
            for r in live.of("command")
            if r.name == "UploadRecordFile" and r.data is not None][2:] == [
        (33, "D:/a.mp4", 2), (34, "D:/b.mp4", 2)]
