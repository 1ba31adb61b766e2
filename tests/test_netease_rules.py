"""The NetEase netcall's rules one by one, with expected values from document 000 and the
抄送 field table (eventType 6).

000: the caller calls ``startRtc`` in ``callAccepted``; the callee ``response`` then
``startRtc``; a channel records through ``joinChannel``'s parameters; per participant an
``.aac`` and (video call) an ``.mp4``, with mixing a mixed file; the files' addresses come
after the call through the callback service. The deadlines (60 s to answer, 30 min for the
files, a 300 s ``CurTime`` window) are the project's defaults as docs/architecture.md states
them; the values below are written from there, never read back from the code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from test_netease_callback import SECRET, body_of, signed
from test_netease_machine import Harness
from test_netease_shapes import body, item

from recstate.adapters.netease import CallbackReceiver, CallbackRejected
from recstate.clock import ManualClock

T0 = 1_700_000_000.0
CID = "6290737000999815988"
AV0 = {"recordType": "0", "recordAudio": True, "recordVideo": True}
FIVE_FILES = ["caller.aac", "caller.mp4", "callee.aac", "callee.mp4", "mix.mp4"]


@pytest.fixture
def h() -> Iterator[Harness]:
    harness = Harness()
    yield harness
    harness.close()


@pytest.fixture
def lenient() -> Iterator[Harness]:
    harness = Harness(strict=False)
    yield harness
    harness.close()


def alice_calls_bob(h: Harness, *, connect: bool = True, type_: int = 2,
                    record: dict[str, Any] | None = None) -> None:
    h.at(0, "call", {"callee": "bob", "type": type_, "account": "alice",
                     "record": AV0 if record is None else record})
    h.at(1, "callAccepted", {"account": "bob", "cid": CID})
    if connect:
        h.at(2, "startRtc:ok")


def statuses(h: Harness) -> dict[str, str]:
    return {f.id.split("/", 1)[1]: f.status for f in h.session.files}


def notices(h: Harness, code: Any) -> list[tuple[str, str]]:
    """(message, level) of each notice with ``code``."""
    return [(m, level) for _, c, m, level in h.notices if c == code]


def codes(h: Harness) -> list[Any]:
    return [c for _, c, _, _ in h.notices]


# ---- the caller ------------------------------------------------------------------------------

def test_a_video_call_starts_rtc_in_audio_video_mode_an_audio_call_audio_only(h: Harness) -> None:
    alice_calls_bob(h, connect=False, type_=1, record={"recordAudio": True})
    [(_, rtc)] = [c for c in h.commands if c[1].name == "startRtc"]
    assert rtc.payload()["mode"] == "NETCALL_MODE_ONLY_AUDIO"


def test_no_answer_in_60_s_hangs_up(h: Harness) -> None:
    h.at(0, "call", {"callee": "bob", "type": 2, "record": AV0})
    h.at(0.5, "call:ok", {"cid": CID})
    h.runtime.advance(T0 + 59.99)
    assert h.session.state == "calling"
    h.runtime.advance(T0 + 60.0)
    assert h.session.state == "ended"
    assert [(c.name, c.payload()) for _, c in h.commands][-1] == ("hangup", {"cid": CID})
    assert notices(h, "no-answer")[0][1] == "info"


def test_a_rejected_call_is_noticed_and_sends_nothing_more(h: Harness) -> None:
    h.at(0, "call", {"callee": "bob", "type": 2, "record": AV0})
    h.at(3, "callRejected", {"account": "bob"})
    assert h.session.state == "ended"
    assert h.names() == ["call"]
    [(message, level)] = notices(h, "rejected")
    assert level == "info"
    assert "bob" in message


def test_the_first_cid_learnt_is_kept(h: Harness) -> None:
    h.at(0, "call", {"callee": "bob", "type": 2, "record": AV0})
    h.at(0.5, "call:ok", {"cid": CID})
    h.at(1, "callAccepted", {"account": "bob", "cid": "999"})
    h.at(2, "hangup")
    assert [c.payload() for _, c in h.commands if c.name == "hangup"] == [{"cid": CID}]


def test_a_cid_the_app_gives_with_the_call_is_the_one_its_hangup_names(h: Harness) -> None:
    """Call: the app may give ``cid`` when it already has it (CALL_NEEDS_SESSION); the first
    cid learnt is kept, so no answer within 60 s hangs up that channel."""
    h.at(0, "call", {"callee": "bob", "type": 2, "record": AV0, "cid": CID})
    h.runtime.advance(T0 + 60.0)
    assert h.session.state == "ended"
    assert [(c.name, c.payload()) for _, c in h.commands if c.name == "hangup"] == [
        ("hangup", {"cid": CID})]


# ---- hang-ups: whose, and the hangup command --------------------------------------------

def test_a_local_hangup_while_connecting_sends_hangup_and_expects_the_files(h: Harness) -> None:
    alice_calls_bob(h, connect=False)  # startRtc sent, not yet confirmed
    h.at(5, "hangup")
    assert h.names() == ["call", "startRtc", "hangup"]
    assert [c.payload() for _, c in h.commands if c.name == "hangup"] == [{"cid": CID}]
    assert h.session.state == "awaiting_files"
    assert statuses(h) == dict.fromkeys(FIVE_FILES, "expected")
    assert "hangup" not in codes(h), "a recorded call's end is no 'before connected' notice"


def test_the_peers_hangup_while_connecting_sends_nothing(h: Harness) -> None:
    alice_calls_bob(h, connect=False)
    h.at(5, "hangup", {"account": "bob"})
    assert h.names() == ["call", "startRtc"]
    assert h.session.state == "awaiting_files"


def test_a_hangup_naming_the_local_user_is_the_local_users(h: Harness) -> None:
    alice_calls_bob(h)
    h.at(5, "hangup", {"account": "alice"})
    assert h.names() == ["call", "startRtc", "hangup"]


def test_the_files_name_both_sides(h: Harness) -> None:
    alice_calls_bob(h)
    h.at(100, "hangup", {"account": "bob"})
    who = {f.id.split("/", 1)[1]: f.participant for f in h.session.files}
    assert who == {"caller.aac": "alice", "caller.mp4": "alice", "callee.aac": "bob",
                   "callee.mp4": "bob", "mix.mp4": None}


def test_a_callee_hanging_up_while_ringing_is_noticed_with_nothing_recorded(h: Harness) -> None:
    h.at(0, "beCalling", {"caller": "alice", "cid": CID, "type": 2})
    h.at(1, "hangup", {"account": "alice"})  # the caller gave up
    assert h.session.state == "ended"
    assert h.commands == []
    [(message, level)] = notices(h, "hangup")
    assert level == "info"
    assert "alice hung up" in message


def test_a_callee_refusing_by_hanging_up_sends_hangup(h: Harness) -> None:
    h.at(0, "beCalling", {"caller": "alice", "cid": CID, "type": 2})
    h.at(1, "hangup")
    assert h.names() == ["hangup"]
    assert h.session.files == []


def test_a_repeated_becalling_for_the_same_cid_changes_nothing(lenient: Harness) -> None:
    h = lenient
    h.at(0, "beCalling", {"caller": "alice", "cid": CID, "type": 2})
    h.at(1, "beCalling", {"caller": "alice", "cid": CID, "type": 2})
    assert (h.session.state, h.violations) == ("ringing", [])
    h.at(2, "beCalling", {"caller": "carol", "cid": "777", "type": 2}, session=CID)
    assert h.session.state == "ringing"
    assert len(h.violations) == 1, "another cid on this session is refused"


# ---- late events after the end ---------------------------------------------------------------

@pytest.mark.parametrize("late", ["startRtc:ok", "startRtc:error"])
def test_a_late_start_rtc_answer_after_a_hangup_while_connecting_changes_nothing(
        h: Harness, late: str) -> None:
    alice_calls_bob(h, connect=False)
    h.at(5, "hangup")
    h.at(6, late, {"code": 408, "desc": "timeout"} if late.endswith("error") else None)
    assert h.session.state == "awaiting_files"
    assert [level for _, level in notices(h, "late-answer")] == ["info"]
    assert statuses(h) == dict.fromkeys(FIVE_FILES, "expected")


def test_a_second_start_rtc_answer_after_a_connected_call_ended_is_a_violation(
        lenient: Harness) -> None:
    h = lenient
    alice_calls_bob(h)
    h.at(100, "hangup")
    h.at(101, "startRtc:ok")
    assert len(h.violations) == 1
    assert "late-answer" not in codes(h)


def test_hangups_and_call_ok_after_the_end_are_ignored(lenient: Harness) -> None:
    h = lenient
    alice_calls_bob(h)
    h.at(100, "hangup")
    sent = h.names()
    h.at(101, "hangup", {"account": "bob"})
    h.at(102, "hangup")
    h.at(103, "call:ok", {"cid": CID})
    assert h.names() == sent
    assert h.violations == []
    assert h.session.state == "awaiting_files"


def test_a_failed_reject_is_a_warning_and_the_call_stays_over(h: Harness) -> None:
    h.at(0, "beCalling", {"caller": "alice", "cid": CID, "type": 2})
    h.at(1, "reject")
    h.at(2, "response:error", {"code": 408, "desc": "timeout"})
    assert h.session.state == "ended"
    [(message, level)] = notices(h, 408)
    assert level == "warning"
    assert "timeout" in message


def test_a_file_after_the_deadline_is_still_taken_with_a_warning(h: Harness) -> None:
    alice_calls_bob(h, type_=1, record={"recordType": "2", "recordAudio": True})
    h.at(100, "hangup")
    h.at(200, "callback", body(item("alice", "aac", caller=True)))
    h.runtime.advance(T0 + 100 + 1799.9)
    assert h.session.state == "awaiting_files"
    h.runtime.advance(T0 + 100 + 1800)
    assert (h.session.state, statuses(h)) == (
        "complete", {"caller.aac": "ready", "callee.aac": "lost"})
    [(message, level)] = notices(h, "files-missing")
    assert level == "error", "the call connected: a file the server made never came"
    assert "1800 s" in message
    assert "never confirmed" not in message
    h.at(2000, "callback", body(item("bob", "aac")))
    assert statuses(h) == {"caller.aac": "ready", "callee.aac": "ready"}
    assert [level for _, level in notices(h, "file-late")] == ["warning"]
    h.at(2001, "callback", body(item("bob", "aac")))  # and again: counted once, quietly
    assert len(h.session.files) == 2
    assert [level for _, level in notices(h, "file-late")] == ["warning"]


def test_nothing_after_a_hangup_while_connecting_is_a_warning_not_an_error(h: Harness) -> None:
    alice_calls_bob(h, connect=False)
    h.at(5, "hangup")
    h.runtime.advance(T0 + 5 + 1800)
    assert h.session.state == "complete"
    [(message, level)] = notices(h, "files-missing")
    assert level == "warning"
    assert "never confirmed" in message
    assert statuses(h) == dict.fromkeys(FIVE_FILES, "lost")


def test_a_late_piece_after_the_deadline_replaces_its_lost_slot(h: Harness) -> None:
    alice_calls_bob(h, type_=1, record={"recordType": "2", "recordAudio": True})
    h.at(100, "hangup")
    h.runtime.advance(T0 + 100 + 1800)
    h.at(2000, "callback", body(item("bob", "aac", piece=0)))
    assert statuses(h) == {"caller.aac": "lost", "callee.0.aac": "ready"}
    assert [level for _, level in notices(h, "file-late")] == ["warning"]


# ---- files -----------------------------------------------------------------------------------

def test_a_redelivered_body_counts_once_and_says_nothing(h: Harness) -> None:
    alice_calls_bob(h, type_=1, record={"recordType": "2", "recordAudio": True})
    h.at(100, "hangup")
    h.at(200, "callback", body(item("alice", "aac", caller=True)))
    assert h.session.state == "awaiting_files", "bob's file is still expected"
    before = len(h.notices)
    h.at(201, "callback", body(item("alice", "aac", caller=True)))
    # At most the runtime's info that the input was applied already: nothing about files.
    assert [(c, level) for _, c, _, level in h.notices[before:]] in ([], [("duplicate", "info")])
    assert statuses(h) == {"caller.aac": "ready", "callee.aac": "expected"}
    h.at(202, "callback", body(item("bob", "aac")))
    assert h.session.state == "complete"


def test_pieces_name_their_participant_and_a_later_piece_declares_the_earlier_ones(
        h: Harness) -> None:
    alice_calls_bob(h, type_=1, record={"recordType": "0", "recordAudio": True})
    h.at(4000, "hangup")
    h.at(4060, "callback", body(item("bob", "aac", piece=2),
                                item("x", "aac", mix=True, piece=0)))
    files = {f.id.split("/", 1)[1]: f for f in h.session.files}
    assert {k: (f.status, f.participant) for k, f in files.items()} == {
        "caller.aac": ("expected", "alice"),
        "callee.0.aac": ("expected", "bob"), "callee.1.aac": ("expected", "bob"),
        "callee.2.aac": ("ready", "bob"), "mix.0.aac": ("ready", None)}


def test_whiteboard_data_is_kept_as_whiteboard(h: Harness) -> None:
    alice_calls_bob(h)
    h.at(100, "hangup")
    h.at(200, "callback", body(item("alice", "gz", name="wb.gz")))
    [wb] = [f for f in h.session.files if f.format == "gz"]
    assert (wb.id, wb.kind, wb.status, wb.participant) == (f"{CID}/wb.gz", "whiteboard",
                                                           "ready", "alice")
    assert [level for _, level in notices(h, "whiteboard-file")] == ["info"]


def test_items_of_another_channel_are_not_taken_and_are_reported(h: Harness) -> None:
    alice_calls_bob(h, type_=1, record={"recordType": "2", "recordAudio": True})
    h.at(100, "hangup")
    h.at(200, "callback", body(item("alice", "aac", caller=True),
                               item("zed", "aac", channel="555")))
    assert statuses(h) == {"caller.aac": "ready", "callee.aac": "expected"}
    [(message, level)] = notices(h, "other-channel")
    assert level == "warning"
    assert "555" in message


def test_a_file_the_parameters_do_not_make_is_kept_with_a_warning_saying_why(h: Harness) -> None:
    alice_calls_bob(h, type_=1, record={"recordType": "2", "recordAudio": True})
    h.at(100, "hangup")
    h.at(200, "callback", body(item("alice", "mp4", caller=True)))  # an audio call's video
    assert statuses(h)[f"{CID}-alice-0.mp4"] == "ready"
    [(message, level)] = notices(h, "unexpected-file")
    assert level == "warning"
    assert "recordType 2, recordAudio 1, recordVideo 0, call type 1" in message


def test_files_to_a_call_that_did_not_record_are_kept_with_a_warning(h: Harness) -> None:
    alice_calls_bob(h, record={})  # records nothing
    assert h.session.state == "in_call"
    h.at(100, "callback", body(item("alice", "aac", caller=True)))
    assert h.session.state == "in_call"
    [(message, level)] = notices(h, "unexpected-file")
    assert level == "warning"
    assert "did not record" in message


def test_another_members_file_in_a_recorded_channel_is_noted_at_info(h: Harness) -> None:
    h.at(0, "joinChannel", {"channelName": CID, "recordAudio": 1, "recordType": 0,
                            "account": "carol"})
    h.at(1, "joinChannel:ok")
    h.at(60, "leaveChannel")
    assert statuses(h) == {"self.aac": "expected", "mix.aac": "expected"}
    h.at(100, "callback", body(item("carol", "aac"), item("dave", "aac"),
                               item("0", "aac", mix=True)))
    assert h.session.state == "complete"
    assert statuses(h)["self.aac"] == "ready"
    assert [level for _, level in notices(h, "member-file")] == ["info"]
    assert "unexpected-file" not in codes(h)


def test_files_before_the_end_of_a_channel_end_it_and_leave_the_channel(h: Harness) -> None:
    # recordType 2 and no account: nothing can be named, so only the deadline completes it.
    h.at(0, "joinChannel", {"channelName": CID, "recordAudio": 1, "recordType": 2})
    h.at(1, "joinChannel:ok")
    h.at(100, "callback", body(item("dave", "aac")))
    assert h.session.state == "awaiting_files"
    assert h.names() == ["joinChannel", "leaveChannel"]
    assert [level for _, level in notices(h, "ended-by-files")] == ["warning"]
    assert [c.payload()["channelName"] for _, c in h.commands if c.name == "leaveChannel"] \
        == [CID]


def test_leaving_a_channel_sends_leave_channel(h: Harness) -> None:
    h.at(0, "joinChannel", {"channelName": CID, "recordAudio": 1, "account": "carol"})
    h.at(1, "joinChannel:ok")
    h.at(60, "leaveChannel")
    assert [(c.name, c.payload()["channelName"]) for _, c in h.commands][-1] == (
        "leaveChannel", CID)


# ---- the callback's CurTime window (300 s), at its edges ------------------------------------

@pytest.mark.parametrize(("now", "cur", "ms", "accepted"), [
    (T0, T0 - 300, False, True),
    (T0, T0 + 300, False, True),
    (T0 + 0.5, T0 - 300, False, False),
    (T0 - 0.5, T0 + 300, False, False),
    (T0, T0 - 301, False, False),
    (T0, T0 + 301, False, False),
    (T0, T0 - 300, True, True),
    (T0, T0 - 300.001, True, False),
    (T0, T0 + 300.001, True, False),
])
def test_the_callback_time_window_at_its_edges(now: float, cur: float, ms: bool,
                                               accepted: bool) -> None:
    receiver = CallbackReceiver(SECRET, clock=ManualClock(now))
    data = body_of(CID)
    headers = signed(data, cur=cur, ms=ms)
    if ms:  # signed() truncates: write the milliseconds exactly
        cur_time = str(round(cur * 1000))
        md5 = hashlib.md5(data).hexdigest()
        headers["CurTime"] = cur_time
        headers["CheckSum"] = hashlib.sha1((SECRET + md5 + cur_time).encode()).hexdigest()
    if accepted:
        assert [e.session for e in receiver(headers, data)] == [CID]
    else:
        with pytest.raises(CallbackRejected) as info:
            receiver(headers, data)
        assert info.value.status == 401
        assert "300 s window" in info.value.reason


def test_a_channel_named_by_the_app_leaves_the_channel_by_its_channel_name(h: Harness) -> None:
    # The app keys the session "room-7"; NetEase knows the channel by its channelName.
    h.at(0, "joinChannel", {"channelName": CID, "recordAudio": 1, "account": "carol"},
         session="room-7")
    h.at(1, "joinChannel:ok", session="room-7")
    h.at(60, "hangup", session="room-7")  # the local member's own hang-up
    assert h.runtime.sessions["room-7"].state == "awaiting_files"
    assert [(c.name, c.payload()["channelName"]) for _, c in h.commands] == [
        ("joinChannel", CID), ("leaveChannel", CID)]


# ---- ways out (issue 9): the server's call record, the maximum duration -------------------------

def server_record(**fields: Any) -> dict[str, Any]:
    """NetEase's 抄送 eventType 5 (音视频时长) body, strings for numbers as it writes them."""
    return {"eventType": "5", "channelId": CID, "createtime": str(int(T0 * 1000)),
            "status": "SUCCESS", "type": "AUDIO", **fields}


@pytest.mark.parametrize(("duration", "code", "level"), [
    ("358", "server-record", "info"),  # 298 s here, 60 s apart: agrees
    ("359", "server-duration", "warning"),  # 61 s apart
    ("238", "server-record", "info"),
    ("237", "server-duration", "warning"),
])
def test_the_servers_call_record_after_the_end_is_compared_within_60_s(
        h: Harness, duration: str, code: str, level: str) -> None:
    alice_calls_bob(h, type_=1, record={"recordType": "2", "recordAudio": True})
    h.at(300, "hangup")  # connected at 2: 298 s here
    h.at(301, "callback", server_record(duration=duration), session=None)
    assert [c for c in codes(h) if str(c).startswith("server")] == [code]
    [(message, got)] = notices(h, code)
    assert got == level
    assert f"duration {duration} s" in message
    assert "298 s" in message


def test_a_call_record_without_a_duration_is_noted_as_unknown(h: Harness) -> None:
    alice_calls_bob(h, type_=1, record={"recordType": "2", "recordAudio": True})
    h.at(300, "hangup")
    h.at(301, "callback", server_record(), session=None)
    [(message, level)] = notices(h, "server-record")
    assert level == "info"
    assert "duration unknown" in message


def test_the_servers_call_record_ends_a_channel_and_leaves_it(h: Harness) -> None:
    h.at(0, "joinChannel", {"channelName": CID, "recordAudio": 1, "account": "carol"})
    h.at(1, "joinChannel:ok")
    h.at(300, "callback", server_record(duration="299"), session=None)
    assert h.session.state == "awaiting_files"
    assert h.names() == ["joinChannel", "leaveChannel"]
    assert [level for _, level in notices(h, "ended-by-server")] == ["warning"]


@pytest.mark.parametrize("bad", [True, "60", 0, -5, float("inf")])
def test_max_call_duration_is_positive_finite_seconds(bad: Any) -> None:
    from recstate.machines.netease import NetEaseOptions

    with pytest.raises(ValueError, match="max_call_duration"):
        NetEaseOptions(max_call_duration=bad)
    assert NetEaseOptions(max_call_duration=0.5).max_call_duration == 0.5


def test_a_call_ringing_60_s_unanswered_ends_with_an_info_notice(h: Harness) -> None:
    h.at(0, "beCalling", {"caller": "alice", "cid": CID, "type": 2})
    h.runtime.advance(T0 + 60)
    assert h.session.state == "ended"
    [(message, level)] = notices(h, "no-answer")
    assert level == "info"
    assert "60 s" in message


def test_a_callback_of_another_event_type_changes_nothing_and_says_so(h: Harness) -> None:
    alice_calls_bob(h, type_=1, record={"recordType": "2", "recordAudio": True})
    h.at(100, "hangup")
    h.at(200, "callback", {"eventType": "1", "fileinfo": "[]"})
    assert statuses(h) == {"caller.aac": "expected", "callee.aac": "expected"}
    assert [level for _, level in notices(h, "callback-ignored")] == ["info"]
