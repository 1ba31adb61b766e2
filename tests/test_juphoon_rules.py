"""Juphoon rules that mutation testing (tools/mutate.py, issue 8) found unpinned, each with its
expected values written from 001 or from the options' documented defaults, not from output:
the Qiniu stat schedule, the formats a file name gives, the refusal hints, the stat answers."""

from __future__ import annotations

import pytest
from test_juphoon_machine import T0, C, Channel, params, recording_channel

from recstate.events.juphoon import EnableRecord, StatError, StatOk

#: JuphoonOptions' documented default: a stat 5 s after the close, then again after 15, 30,
#: 60, 120 and 300 s while Qiniu answers 612 (not there yet); six stats in all, then lost.
SCHEDULE = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0)


def closed_at_10(name: str = "gone.mp4") -> Channel:
    ch = recording_channel(name)
    ch.enable(10, False)
    ch.state(10.2, "Ready")  # the file closes at T0 + 10.2
    return ch


def stat_times(ch: Channel) -> list[float]:
    return [round(c.t - T0, 6) for c in ch.commands("stat")]


def test_the_stat_schedule_is_5_15_30_60_120_300_s_then_lost() -> None:
    ch = closed_at_10()
    answered = 10.2
    expected = []
    for delay in SCHEDULE:
        asked = answered + delay
        expected.append(round(asked, 6))
        ch.rt.advance(T0 + asked - 0.01)
        assert len(ch.commands("stat")) == len(expected) - 1, f"not before {asked}"
        ch.rt.advance(T0 + asked)
        assert len(ch.commands("stat")) == len(expected), f"asked at {asked}"
        answered = asked + 1  # Qiniu answers 612 a second later
        ch.at(answered, StatError, fileId="gone.mp4", key="gone.mp4", code=612,
              desc="no such file or directory")
    assert stat_times(ch) == expected
    ch.rt.advance(T0 + answered + 3600)
    assert len(ch.commands("stat")) == 6  # no seventh
    f = ch.session.files[0]
    assert f.status == "lost"
    assert ch.codes()[-1] == "file-lost"
    # sum of the delays: 5 + 15 + 30 + 60 + 120 + 300 = 530 s
    assert "after 6 stats over 530 s" in ch.errors("file-lost")[0]
    # each 612 before the last says how many were asked, of six
    infos = ch.errors(612)
    assert len(infos) == 5
    assert [m.split("(")[-1] for m in infos] == [f"{n} of 6 asked)" for n in range(1, 6)]


def test_a_stat_failing_otherwise_leaves_the_file_closed_without_an_address() -> None:
    ch = closed_at_10("err.mp4")
    answered = 10.2
    for delay in SCHEDULE:
        ch.rt.advance(T0 + answered + delay)
        answered += delay + 1
        ch.at(answered, StatError, fileId="err.mp4", key="err.mp4", code=401,
              desc="bad token")
    f = ch.session.files[0]
    assert (f.status, f.url) == ("closed", None)  # not lost: Qiniu never said 612
    assert "file-lost" not in ch.codes()
    last = ch.errors(401)[-1]
    assert "qiniu://bkt/err.mp4: stat failed: 401 bad token, 6 times" in last
    assert len(ch.commands("stat")) == 6


def test_a_stat_answer_for_a_file_not_asked_about_changes_nothing() -> None:
    ch = closed_at_10("a.mp4")
    ch.at(11, StatError, fileId="a.mp4", key="a.mp4", code=612, desc="")  # not asked yet
    ch.rt.advance(T0 + 15.2)  # the first stat, still at close + 5 s
    assert stat_times(ch) == [15.2]
    assert ch.errors(612) == []


def test_a_stat_found_answer_makes_the_file_ready_once_and_ends_the_schedule() -> None:
    ch = closed_at_10("a.mp4")
    ch.rt.advance(T0 + 15.2)
    ch.at(16, StatOk, fileId="a.mp4", key="a.mp4", fsize=10, hash="Fh", url="https://d/a.mp4")
    ch.at(17, StatOk, fileId="a.mp4", key="a.mp4", fsize=10, hash="Fh", url="https://d/a.mp4")
    updates = [r for r in ch.records if r.kind == "file" and r.name == "ready"]
    assert len(updates) == 1
    ch.rt.advance(T0 + 10_000)
    assert len(ch.commands("stat")) == 1


def test_a_stat_for_an_open_or_unknown_file_is_ignored_with_a_warning() -> None:
    ch = recording_channel("open.mp4")
    ch.at(5, StatOk, fileId="open.mp4", key="open.mp4", fsize=1, hash="h", url="u")
    ch.at(6, StatOk, fileId="other.mp4", key="other.mp4", fsize=1, hash="h", url="u")
    msgs = ch.errors("unknown-file")
    assert len(msgs) == 2
    assert "still being recorded" in msgs[0]
    assert "a file this channel does not have" in msgs[1]
    assert ch.session.files[0].status == "open"


@pytest.mark.parametrize(("name", "video", "kind", "fmt"), [
    ("a.mp4", True, "video", "mp4"),
    ("a.flv", True, "video", "flv"),
    ("a.MKV", True, "video", "mkv"),
    ("a.webm", True, "video", "webm"),
    ("a.avi", True, "video", "mp4"),  # not a format Qiniu's recording names: mp4
    ("talk", True, "video", "mp4"),
    ("talk.aac", False, "audio", "aac"),
    ("talk.mp4", False, "audio", "m4a"),  # audio-only: the audio_format option
    ("talk", False, "audio", "m4a"),
])
def test_the_file_format_follows_the_name_and_the_kind(name: str, video: bool, kind: str,
                                                       fmt: str) -> None:
    ch = Channel()
    ch.join(0, params(name, video=video))
    ch.state(0.4, "Ready")
    ch.enable(1, True)
    ch.state(1.2, "Running")
    (f,) = ch.session.files
    assert (f.id, f.kind, f.format) == (name, kind, fmt)


def test_a_file_name_used_twice_gets_a_second_entry_and_a_warning() -> None:
    ch = recording_channel("same.mp4")
    ch.enable(10, False)
    ch.state(10.2, "Ready")
    ch.enable(20, True)
    ch.state(20.2, "Running")
    assert [f.id for f in ch.session.files] == ["same.mp4", "same.mp4#2"]
    assert len(ch.errors("file-name-reused")) == 1
    assert ch.session.context.spans == 2


def test_a_span_without_record_parameters_is_named_after_the_channel_and_never_stated() -> None:
    """Joined without joinParam.record, yet the vendor reports Ready and Running: the file is
    followed, named after the channel, and with no bucket nothing is asked of Qiniu."""
    ch = Channel()
    ch.join(0, None)
    ch.state(0.4, "Ready")
    ch.enable(1, True)
    ch.state(1.2, "Running")
    ch.enable(5, False)
    ch.state(5.2, "Ready")
    ch.rt.advance(T0 + 3600)
    assert [(f.id, f.status) for f in ch.session.files] == [(C, "closed")]
    assert ch.commands("stat") == []
    assert ch.errors("file-name-reused") == []


# ---- the record state going None while enableRecord(true) waits (001 §获取录制状态: None,
# 无法进行视频录制): the channel cannot record; nothing was recorded by that enable ----------------
def test_none_while_the_first_enable_waits_goes_back_to_joined() -> None:
    ch = Channel()
    ch.join(0, params("a.mp4"))
    ch.state(0.4, "Ready")
    ch.enable(1, True)
    assert ch.session.state == "enabling"
    ch.state(2, "None")
    assert ch.session.state == "joined"  # in the channel, nothing recorded yet
    assert ch.session.context.record_state == "None"
    assert ch.session.context.asked is None
    assert len(ch.errors("enable-ended")) == 1
    assert ch.session.files == []
    ch.rt.advance(T0 + 1 + 60)  # the enable's 30 s deadline is gone with the state
    assert ch.errors("no-property-change") == []
    assert ch.session.state == "joined"


def test_none_while_an_enable_waits_after_one_recording_goes_back_to_stopped() -> None:
    ch = recording_channel("a.mp4")  # one span: Running at 1.2
    ch.enable(10, False)
    ch.state(10.2, "Ready")
    assert ch.session.state == "stopped"
    ch.enable(20, True, params("b.mp4"))
    assert ch.session.state == "enabling"
    ch.state(21, "None")
    assert ch.session.state == "stopped"  # a recording has ended in this channel
    assert ch.changes[-1] == ("starting", "stopped")
    assert [f.id for f in ch.session.files] == ["a.mp4"]


def test_an_enable_unanswered_after_one_recording_goes_back_to_stopped() -> None:
    ch = recording_channel("a.mp4")
    ch.enable(10, False)
    ch.state(10.2, "Ready")
    ch.enable(20, True, params("b.mp4"))
    ch.rt.advance(T0 + 20 + 30)  # enable_timeout: 30 s
    assert ch.session.state == "stopped"
    assert len(ch.errors("no-property-change")) == 1


# ---- a second join (001: one channel per MediaChannel) ---------------------------------------
def test_a_second_join_is_refused_saying_to_leave_first_or_to_wait_for_on_leave() -> None:
    from recstate.events.juphoon import Join, JoinParam, Leave

    ch = Channel()
    ch.join(0, params("a.mp4"))
    ch.at(1, Join, joinParam=JoinParam(record=params("b.mp4")))
    ch.at(2, Leave)
    assert ch.session.state == "leaving"
    ch.at(3, Join, joinParam=JoinParam(record=params("b.mp4")))
    first, second = ch.errors("already-joined")
    assert "(joined); leave it first, then join again" in first
    assert "(leaving); wait for onLeave, then join again" in second
    assert [c.name for c in ch.commands()] == ["join", "leave"]


def test_a_join_without_record_parameters_says_so_once_at_on_join() -> None:
    """001 §设置录制参数: the parameters are given before joining (在加入频道之前 ... 传入录制参数);
    a join without them is allowed, and said (info) when onJoin accepts it."""
    ch = Channel()
    ch.join(0, None)
    (notice,) = [r.data for r in ch.kind("error")
                 if r.data is not None and r.data["code"] == "no-record-params"]
    assert notice["level"] == "info"
    assert "joinParam.record" in notice["message"]
    with_params = Channel()
    with_params.join(0, params("a.mp4"))
    assert with_params.errors("no-record-params") == []


def test_an_enable_refused_while_another_waits_names_the_one_waiting() -> None:
    ch = Channel()
    ch.join(0, params())
    ch.state(0.4, "Ready")
    ch.enable(1, True)
    ch.enable(2, False)  # enabling: the true is waiting
    ch.state(3, "Running")
    ch.enable(4, False)
    ch.enable(5, True)  # disabling: the false is waiting
    while_enabling, while_disabling = ch.errors("enable-refused")
    assert "(enabling)" in while_enabling
    assert "enableRecord(true) is waiting for the vendor's onMediaChannelPropertyChange; wait " \
           "for it (at most 30 s)" in while_enabling
    assert "(disabling)" in while_disabling
    assert "enableRecord(false) is waiting for the vendor's onMediaChannelPropertyChange" \
           in while_disabling
    assert [c.data["enable"] for c in ch.commands("enableRecord")] == [  # type: ignore[index]
        True, False]


def test_the_limit_says_whether_it_sends_the_stop_or_awaits_the_one_asked() -> None:
    sends = Channel(max_record_duration=3600)
    sends.join(0, params())
    sends.state(0.4, "Ready")
    sends.enable(1, True)
    sends.state(1.2, "Running")
    sends.rt.advance(T0 + 1.2 + 3600)
    (sent,) = sends.errors("max-duration")
    assert "3600 s" in sent
    assert "enableRecord(false) is sent" in sent
    awaits = Channel(max_record_duration=3600)
    awaits.join(0, params())
    awaits.state(0.4, "Ready")
    awaits.enable(1, True)
    awaits.state(1.2, "Running")
    awaits.enable(3600, False)  # asked 1.2 s before the limit, unanswered
    awaits.rt.advance(T0 + 1.2 + 3600)
    (awaited,) = awaits.errors("max-duration")
    assert "the enableRecord(false) already asked is awaited" in awaited
    assert len(awaits.commands("enableRecord")) == 2  # no second false


def test_ready_after_the_disable_deadline_is_followed_late_and_closes_the_file_then() -> None:
    ch = recording_channel("a.mp4")
    ch.enable(10, False)
    ch.rt.advance(T0 + 10 + 30)  # enable_timeout: the vendor still says Running
    assert ch.session.state == "recording"
    ch.state(45, "Ready")
    assert ch.session.state == "stopped"
    (late,) = ch.errors("late-property-change")
    assert "Ready reported after the 30 s deadline of enableRecord(false)" in late
    assert ch.kind("violation") == []  # it was asked: late, not unasked
    (f,) = ch.session.files
    assert (f.end, f.status) == (T0 + 45, "closed")


def test_a_closed_recording_leaves_no_timer_behind() -> None:
    """The span's max_record_duration watch ends with the span: once Qiniu has the file,
    nothing is due any more."""
    ch = recording_channel("a.mp4")  # max_record_duration: 12 h by default
    ch.enable(10, False)
    ch.state(10.2, "Ready")
    ch.rt.advance(T0 + 15.2)
    ch.at(16, StatOk, fileId="a.mp4", key="a.mp4", fsize=10, hash="Fh", url="https://d/a.mp4")
    assert ch.rt.next_deadline() is None


def test_two_closed_files_are_each_asked_5_s_after_their_own_close() -> None:
    ch = recording_channel("a.mp4")
    ch.enable(10, False)
    ch.state(10.2, "Ready")  # a.mp4 closes: asked at 15.2
    ch.enable(11, True, params("b.mp4"))
    ch.state(11.2, "Running")
    ch.at(12, EnableRecord, channelId=C, enable=False)
    ch.state(12.5, "Ready")  # b.mp4 closes: asked at 17.5
    ch.rt.advance(T0 + 20)  # nobody answers yet
    assert [(c.data["key"], round(c.t - T0, 6)) for c in ch.commands("stat")] == [  # type: ignore[index]
        ("a.mp4", 15.2), ("b.mp4", 17.5)]


def test_a_stat_error_after_the_file_was_found_changes_nothing() -> None:
    ch = closed_at_10("a.mp4")
    ch.rt.advance(T0 + 15.2)
    ch.at(16, StatOk, fileId="a.mp4", key="a.mp4", fsize=10, hash="Fh", url="https://d/a.mp4")
    ch.at(17, StatError, fileId="a.mp4", key="a.mp4", code=612, desc="late, out of order")
    ch.rt.advance(T0 + 3600)
    f = ch.session.files[0]
    assert (f.status, f.url) == ("ready", "https://d/a.mp4")
    assert len(ch.commands("stat")) == 1
    assert ch.errors(612) == []


def test_a_612_after_the_file_was_given_up_as_lost_changes_nothing() -> None:
    ch = closed_at_10("gone.mp4")
    answered = 10.2
    for delay in SCHEDULE:
        ch.rt.advance(T0 + answered + delay)
        answered += delay + 1
        ch.at(answered, StatError, fileId="gone.mp4", key="gone.mp4", code=612, desc="")
    assert ch.session.files[0].status == "lost"
    ch.at(answered + 1, StatError, fileId="gone.mp4", key="gone.mp4", code=612, desc="again")
    ch.rt.advance(T0 + answered + 3600)
    assert len(ch.errors("file-lost")) == 1
    assert len(ch.commands("stat")) == 6
    assert len([r for r in ch.records if r.kind == "file" and r.name == "lost"]) == 1
