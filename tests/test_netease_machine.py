"""The NetEase netcall machine: lifecycle, files, bad input, and (hypothesis) its invariants."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from recstate import signals
from recstate.adapters.netease import ChannelRoutes, NetEaseSimulator
from recstate.clock import ManualClock
from recstate.errors import TraceError, Violation
from recstate.events import Command, parse_event
from recstate.events.netease import RecordParams, RecordTypeCode, Switch, expected_files
from recstate.machines.netease import NetEaseCall, NetEaseOptions
from recstate.runtime import Runtime

T0 = 1_700_000_000.0
CID = "6290737000999815988"


class Harness:
    """A runtime on a manual clock, its commands and notices, and a terse way to send events."""

    def __init__(self, *, strict: bool = True, options: NetEaseOptions | None = None) -> None:
        self.clock = ManualClock(T0)
        self.runtime = Runtime(self.clock, strict=strict,
                               options={"netease": options} if options else None)
        self.commands: list[tuple[str, Command]] = []
        self.notices: list[tuple[str, Any, str, str]] = []
        self.violations: list[Violation] = []
        signals.commands("netease").connect(self._command, sender=self.runtime, weak=False)
        signals.error.connect(self._notice, sender=self.runtime, weak=False)
        signals.violation.connect(self._violation, sender=self.runtime, weak=False)

    def close(self) -> None:
        signals.commands("netease").disconnect(self._command, sender=self.runtime)
        signals.error.disconnect(self._notice, sender=self.runtime)
        signals.violation.disconnect(self._violation, sender=self.runtime)

    def _command(self, sender: Any, *, session: Any, command: Command, t: float) -> None:
        self.commands.append((session.key, command))

    def _notice(self, sender: Any, *, session: Any, name: str, code: Any, message: str,
                level: str, t: float) -> None:
        self.notices.append((name, code, message, level))

    def _violation(self, sender: Any, *, violation: Violation, session: Any) -> None:
        self.violations.append(violation)

    def at(self, dt: float, name: str, data: dict[str, Any] | None = None,
           session: str | None = CID) -> None:
        t = T0 + dt
        self.runtime.advance(t)
        self.runtime.dispatch(parse_event("netease", name, t, data, session))

    def names(self) -> list[str]:
        return [c.name for _, c in self.commands]

    @property
    def session(self) -> Any:
        return self.runtime.sessions[CID]

    def files(self) -> dict[str, str]:
        return {f.id.split("/", 1)[1]: f.status for f in self.session.files}


@pytest.fixture
def h() -> Iterator[Harness]:
    harness = Harness()
    yield harness
    harness.close()


AV0 = {"recordType": "0", "recordAudio": True, "recordVideo": True}


def fileinfo(*items: tuple[str, bool, str, bool], channel: str = CID) -> dict[str, Any]:
    """A callback body; items are (user, caller, format, mix)."""
    raw = [{"caller": caller, "channelid": channel, "filename": f"{user}-{mix}.{fmt}",
            "md5": "d41d8cd98f00b204e9800998ecf8427e", "mix": mix, "size": "4096",
            "type": fmt, "url": f"https://nos.example/{user}-{mix}.{fmt}", "user": user,
            "vid": "9"} for user, caller, fmt, mix in items]
    return {"eventType": "6", "fileinfo": orjson.dumps(raw).decode()}


def connect_caller(h: Harness, *, type_: int = 2, record: dict[str, Any] | None = None) -> None:
    h.at(0, "call", {"callee": "bob", "type": type_, "record": record or AV0})
    h.at(1, "callAccepted", {"account": "bob"})
    h.at(2, "startRtc:ok")


# ---- caller ------------------------------------------------------------------------------

def test_caller_sends_start_rtc_after_call_accepted(h: Harness) -> None:
    h.at(0, "call", {"callee": "bob", "type": 2, "record": AV0})
    assert h.session.state == "calling"
    assert h.names() == ["call"]
    h.at(3, "callAccepted", {"account": "bob", "cid": CID})
    assert h.names() == ["call", "startRtc"]
    assert h.commands[1][1].payload() == {"recordType": "0", "recordAudio": 1,
                                          "recordVideo": 1, "mode": "NETCALL_MODE_AUDIO_VIDEO"}
    h.at(4, "startRtc:ok")
    assert (h.session.state, h.session.recording) == ("recording", "recording")


def test_no_answer_within_the_timeout_ends_the_call(h: Harness) -> None:
    h.at(0, "call", {"callee": "bob", "type": 2})
    h.runtime.advance(T0 + 59.9)
    assert h.session.state == "calling"
    h.runtime.advance(T0 + 60)
    assert h.session.state == "ended"
    assert h.names() == ["call", "hangup"]
    assert any(code == "no-answer" for _, code, _, _ in h.notices)


def test_answer_timeout_is_configurable() -> None:
    h = Harness(options=NetEaseOptions(answer_timeout=10))
    try:
        h.at(0, "call", {"callee": "bob", "type": 1})
        h.runtime.advance(T0 + 10)
        assert h.session.state == "ended"
    finally:
        h.close()


@pytest.mark.parametrize(("name", "data", "commands"), [
    ("callRejected", {"account": "bob"}, ["call"]),
    ("hangup", {}, ["call", "hangup"]),
    ("hangup", {"account": "bob"}, ["call"]),
])
def test_call_ends_before_acceptance_without_start_rtc(h: Harness, name: str,
                                                       data: dict[str, Any],
                                                       commands: list[str]) -> None:
    h.at(0, "call", {"callee": "bob", "type": 2, "record": AV0})
    h.at(5, name, data)
    assert h.session.state == "ended"
    assert h.names() == commands
    h.runtime.advance(T0 + 120)  # the answer timer was cancelled
    assert h.names() == commands


def test_accepted_twice_is_a_violation_and_no_second_start_rtc() -> None:
    h = Harness(strict=False)
    try:
        h.at(0, "call", {"callee": "bob", "type": 2})
        h.at(1, "callAccepted")
        h.at(2, "callAccepted")
        assert h.names().count("startRtc") == 1
        assert len(h.violations) == 1
    finally:
        h.close()


# ---- callee ------------------------------------------------------------------------------

def test_callee_accepts_then_starts_rtc(h: Harness) -> None:
    h.at(0, "beCalling", {"caller": "alice", "cid": int(CID), "type": 1})
    assert h.session.state == "ringing"
    h.at(1, "beCalling", {"caller": "alice", "cid": CID, "type": 1})  # a retried delivery
    assert h.session.state == "ringing"
    assert h.commands == []
    h.at(2, "accept", {"record": {"recordType": 2, "recordAudio": 1}})
    assert [c.payload() for _, c in h.commands] == [
        {"caller": "alice", "accepted": True, "type": 1, "cid": CID}]
    h.at(3, "response:ok")
    assert h.names() == ["response", "startRtc"]
    assert h.commands[1][1].payload()["mode"] == "NETCALL_MODE_ONLY_AUDIO"
    h.at(4, "startRtc:ok")
    assert h.session.state == "recording"


def test_callee_rejects(h: Harness) -> None:
    h.at(0, "beCalling", {"caller": "alice", "cid": CID, "type": 2})
    h.at(1, "reject")
    assert h.session.state == "ended"
    assert h.commands[0][1].payload() == {"caller": "alice", "accepted": False, "type": 2,
                                          "cid": CID}
    h.at(2, "response:ok")
    assert h.names() == ["response"]


@pytest.mark.parametrize(("api", "setup"), [
    ("startRtc", "callee"), ("response", "callee"), ("joinChannel", "channel"),
    ("startRtc", "caller"), ("call", "caller"),
])
def test_api_errors_fail_the_call_with_code_and_message(h: Harness, api: str,
                                                        setup: str) -> None:
    if setup == "callee":
        h.at(0, "beCalling", {"caller": "alice", "cid": CID, "type": 2})
        h.at(1, "accept", {"record": AV0})
        if api == "startRtc":
            h.at(2, "response:ok")
    elif setup == "caller":
        h.at(0, "call", {"callee": "bob", "type": 2, "record": AV0})
        if api == "startRtc":
            h.at(1, "callAccepted")
    else:
        h.at(0, "joinChannel", {"channelName": CID, "recordAudio": 1})
    h.at(5, f"{api}:error", {"code": 417, "desc": "channel closed"})
    assert (h.session.state, h.session.recording) == ("failed", "failed")
    [(_, _, message, level)] = [n for n in h.notices if n[1] == 417]
    assert level == "error"
    assert "417" in message
    assert "channel closed" in message
    assert api in message


def test_record_nothing_is_the_default(h: Harness) -> None:
    h.at(0, "beCalling", {"caller": "alice", "cid": CID, "type": 2})
    h.at(1, "accept")
    h.at(2, "response:ok")
    assert h.commands[1][1].payload() == {"recordType": "0", "recordAudio": 0,
                                          "recordVideo": 0, "mode": "NETCALL_MODE_AUDIO_VIDEO"}
    h.at(3, "startRtc:ok")
    assert (h.session.state, h.session.recording) == ("in_call", "idle")
    h.at(60, "hangup")
    assert h.session.state == "ended"
    assert h.session.files == []


# ---- files ---------------------------------------------------------------------------------

def test_hangup_declares_the_expected_files(h: Harness) -> None:
    connect_caller(h)
    h.at(100, "hangup", {"account": "bob"})
    assert h.session.state == "awaiting_files"
    assert h.files() == dict.fromkeys(
        ["caller.aac", "caller.mp4", "callee.aac", "callee.mp4", "mix.mp4"], "expected")


def test_files_arrive_count_once_and_unexpected_ones_are_kept(h: Harness) -> None:
    connect_caller(h, type_=1, record={"recordType": "2", "recordAudio": True})
    h.at(100, "hangup")
    h.at(200, "callback", fileinfo(("me", True, "aac", False), ("me", True, "aac", False)))
    assert h.files() == {"caller.aac": "ready", "callee.aac": "expected"}
    h.at(300, "callback", fileinfo(("bob", False, "aac", False), ("me", True, "mp4", True),
                                   ("me", True, "aac", False)))
    assert h.session.state == "complete"
    assert h.files() == {"caller.aac": "ready", "callee.aac": "ready",
                         "me-True.mp4": "ready"}
    [unexpected] = [n for n in h.notices if n[1] == "unexpected-file"]
    assert unexpected[3] == "warning"
    assert "recordType 2" in unexpected[2]
    ready = next(f for f in h.session.files if f.id.endswith("callee.aac"))
    assert (ready.participant, ready.size, ready.url) == ("bob", 4096,
                                                         "https://nos.example/bob-False.aac")
    assert ready.md5 == "d41d8cd98f00b204e9800998ecf8427e"


def test_missing_files_are_lost_at_the_deadline_and_a_late_one_still_counts(
        h: Harness) -> None:
    connect_caller(h, type_=1, record={"recordType": "1", "recordAudio": True})
    h.at(100, "hangup")
    assert h.files() == {"mix.aac": "expected"}
    h.runtime.advance(T0 + 100 + 1800)
    assert h.session.state == "complete"
    assert h.files() == {"mix.aac": "lost"}
    assert any(n[1] == "files-missing" and "mix.aac" in n[2] for n in h.notices)
    h.at(4000, "callback", fileinfo(("me", True, "aac", True)))
    assert h.files() == {"mix.aac": "ready"}


def test_files_deadline_is_configurable() -> None:
    h = Harness(options=NetEaseOptions(files_deadline=60))
    try:
        connect_caller(h)
        h.at(100, "hangup")
        h.runtime.advance(T0 + 160)
        assert h.session.state == "complete"
        assert set(h.files().values()) == {"lost"}
    finally:
        h.close()


def test_files_before_the_hangup_end_the_call(h: Harness) -> None:
    connect_caller(h, type_=1, record={"recordType": "2", "recordAudio": True})
    h.at(50, "callback", fileinfo(("a", True, "aac", False), ("b", False, "aac", False)))
    assert h.session.state == "complete"
    assert h.files() == {"caller.aac": "ready", "callee.aac": "ready"}
    assert any(n[1] == "ended-by-files" for n in h.notices)


@pytest.mark.parametrize(("record", "call_type", "expected"), [
    ({"recordType": 0, "recordAudio": True, "recordVideo": True}, 2,
     ["caller.aac", "caller.mp4", "callee.aac", "callee.mp4", "mix.mp4"]),
    ({"recordType": 0, "recordAudio": True, "recordVideo": True}, 1,
     ["caller.aac", "callee.aac", "mix.aac"]),
    ({"recordType": 1, "recordAudio": True, "recordVideo": True}, 2, ["mix.mp4"]),
    ({"recordType": 2, "recordAudio": True, "recordVideo": True}, 1,
     ["caller.aac", "callee.aac"]),
    ({"recordType": 2, "recordAudio": False, "recordVideo": True}, 2,
     ["caller.mp4", "callee.mp4"]),
    ({"recordType": 0, "recordAudio": False, "recordVideo": False}, 2, []),
    # G4: a video call recording audio only has no audio-video file: the mix is an .aac.
    ({"recordType": 0, "recordAudio": True, "recordVideo": False}, 2,
     ["caller.aac", "callee.aac", "mix.aac"]),
    ({"recordType": 1, "recordAudio": True, "recordVideo": False}, 2, ["mix.aac"]),
])
def test_expected_files_table(record: dict[str, Any], call_type: int,
                              expected: list[str]) -> None:
    params = RecordParams(recordType=RecordTypeCode(record["recordType"]),
                          recordAudio=Switch(record["recordAudio"]),
                          recordVideo=Switch(record["recordVideo"]))
    got = expected_files(params, call_type, ("caller", "callee"))
    assert [f"{f.slot}.{f.format}" for f in got] == expected


# ---- bad input -----------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "data", "field", "words"), [
    ("call", {"callee": "bob", "type": 2, "cid": CID, "record": {"recordType": "3"}},
     "data.record.recordType", "recordType 0"),
    ("call", {"callee": "bob", "type": 2, "cid": CID, "record": {"recordAudio": "yes"}},
     "data.record.recordAudio", "true/false or 1/0"),
    ("call", {"callee": "bob", "type": 2}, "field 'session'", "give this call a 'session'"),
    ("beCalling", {"caller": "alice", "cid": CID, "type": 3}, "data.type", "call type"),
    ("beCalling", {"caller": "alice", "type": 2}, "data.cid", "missing"),
    ("joinChannel", {"channelName": "c", "recordVideo": 2}, "data.recordVideo", "1/0"),
    ("callback", {"eventType": "6", "fileinfo": "[{]"}, "data", "data.fileinfo"),
    ("callback", {"eventType": "6"}, "data", "data.fileinfo"),
    ("callback", {"eventType": "6", "fileinfo": "[{\"caller\": true}]"}, "data",
     "data.fileinfo[0]"),
])
def test_bad_input_names_the_field(name: str, data: dict[str, Any], field: str,
                                   words: str) -> None:
    with pytest.raises(TraceError) as info:
        parse_event("netease", name, T0, data, None, source="t.jsonl", line=7)
    text = str(info.value)
    assert "t.jsonl:7" in text
    assert field in text
    assert words in text


def test_bad_size_in_fileinfo() -> None:
    body = fileinfo(("a", True, "aac", False))
    body["fileinfo"] = body["fileinfo"].replace('"4096"', '"4k"')
    with pytest.raises(TraceError, match=r"fileinfo\[0\]\.size"):
        parse_event("netease", "callback", T0, body)


def test_snapshot_and_restore_keep_the_expected_files_and_the_deadline(h: Harness) -> None:
    connect_caller(h)
    h.at(100, "hangup")
    snap = h.runtime.snapshot(CID)
    other = Runtime(ManualClock(T0 + 100), strict=True)
    restored = other.restore(orjson.loads(orjson.dumps(snap)))
    assert restored.context.record.recordType == 0
    other.advance(T0 + 1900)
    assert restored.state == "complete"
    assert {f.status for f in restored.files} == {"lost"}


def test_definition_has_the_documented_states_and_order_of_calls() -> None:
    """The states of the module docstring; startRtc only after callAccepted (caller) or an
    accepting response (callee) (000: 在callAccepted事件中调用startRTC / 调用reponse方法后，
    再调用startRTC): ``connecting`` is entered from ``calling`` and ``responding`` only."""
    definition = NetEaseCall.definition()
    assert list(definition.states) == [
        "idle", "calling", "ringing", "responding", "joining", "connecting", "in_call",
        "recording", "awaiting_files", "complete", "ended", "failed"]
    into_connecting = sorted({t.source for event in definition.events.values()
                              for ts in event.transitions.values() for t in ts
                              if t.dest == "connecting"})
    assert into_connecting == ["calling", "responding"]
    triggers = NetEaseCall.triggers()
    assert triggers["callAccepted"] == ["calling"]
    assert triggers["accept"] == ["ringing"]
    assert triggers["joinChannel"] == ["idle"]
    assert "idle" not in triggers["startRtc:ok"]
    assert "startRtc" not in triggers, "startRtc is a command the machine sends, not an event"


def test_simulator_end_to_end_with_a_dropped_file(h: Harness) -> None:
    sim = NetEaseSimulator(h.runtime, drop=("callee",), duplicate=True)
    try:
        h.at(0, "call", {"callee": "bob", "type": 2, "account": "me", "record": AV0})
        h.runtime.advance(T0 + 10)
        assert h.session.state == "recording"
        h.at(100, "hangup")
        h.runtime.advance(T0 + 100 + 1800)
        assert h.session.state == "complete"
        assert h.files() == {"caller.aac": "ready", "caller.mp4": "ready",
                             "callee.aac": "lost", "callee.mp4": "lost", "mix.mp4": "ready"}
    finally:
        sim.close()


# ---- hang-ups: whose is it (B4, B5) ---------------------------------------------------------

@pytest.mark.parametrize(("account", "local"), [("bob", True), ("alice", False), (None, True)])
def test_callee_without_account_tells_its_own_hangup_from_the_peers(
        h: Harness, account: str | None, local: bool) -> None:
    """B4: accept named no account; bob's own hang-up is local (the hangup command goes
    out), alice's (the caller, the peer) is remote."""
    h.at(0, "beCalling", {"caller": "alice", "cid": CID, "type": 2})
    h.at(1, "accept", {"record": AV0})
    h.at(2, "response:ok")
    h.at(3, "startRtc:ok")
    h.at(60, "hangup", {} if account is None else {"account": account})
    assert h.session.state == "awaiting_files"
    assert h.names() == ["response", "startRtc", *(["hangup"] if local else [])]


@pytest.mark.parametrize(("account", "local"), [("me", True), ("bob", False)])
def test_caller_without_account_tells_its_own_hangup_from_the_peers(
        h: Harness, account: str, local: bool) -> None:
    """B4, the caller's side: only the callee (bob) is the peer."""
    connect_caller(h)
    h.at(60, "hangup", {"account": account})
    assert h.session.state == "awaiting_files"
    assert h.names() == ["call", "startRtc", *(["hangup"] if local else [])]


@pytest.mark.parametrize("account", ["carol", None])
def test_another_members_hangup_does_not_end_the_channel(h: Harness,
                                                         account: str | None) -> None:
    """B5: dave hanging up leaves carol's channel and recording going; her own hang-up (or
    leaveChannel) ends it."""
    h.at(0, "joinChannel", {"channelName": CID, "recordAudio": 1, "recordVideo": 1,
                            **({"account": account} if account else {})})
    h.at(1, "joinChannel:ok")
    h.at(60, "hangup", {"account": "dave"})
    assert (h.session.state, h.session.recording) == ("recording", "recording")
    assert h.names() == ["joinChannel"]
    [(_, _, message, level)] = [n for n in h.notices if n[1] == "member-hangup"]
    assert level == "info"
    assert "dave" in message
    h.at(90, "hangup", {"account": account} if account else {})
    assert h.session.state == "awaiting_files"
    assert h.names() == ["joinChannel", "leaveChannel"]


# ---- a recorded channel without account (B6) -----------------------------------------------

def test_recorded_single_only_channel_without_account_takes_members_files(h: Harness) -> None:
    """B6: recordType 2 and no account: it records (from the parameters), goes through
    awaiting_files, takes every member's files as they come and completes at the deadline."""
    h.at(0, "joinChannel", {"channelName": CID, "recordAudio": 1, "recordType": 2})
    h.at(1, "joinChannel:ok")
    assert (h.session.state, h.session.recording) == ("recording", "recording")
    h.at(60, "leaveChannel")
    assert h.session.state == "awaiting_files"
    assert h.files() == {}
    h.at(100, "callback", fileinfo(("carol", False, "aac", False),
                                   ("dave", False, "aac", False)))
    assert h.session.state == "awaiting_files"  # who else recorded is unknown: the deadline
    assert h.files() == {"carol-False.aac": "ready", "dave-False.aac": "ready"}
    assert [n[3] for n in h.notices if n[1] == "member-file"] == ["info", "info"]
    h.runtime.advance(T0 + 60 + 1800)
    assert (h.session.state, h.session.recording) == ("complete", "stopped")
    assert not any(n[1] == "files-missing" for n in h.notices)


def test_recorded_mixing_channel_without_account_expects_the_mix(h: Harness) -> None:
    """B6: with mixing, the mix is expected by name; its arrival completes the recording."""
    h.at(0, "joinChannel", {"channelName": CID, "recordAudio": 1, "recordVideo": 1})
    h.at(1, "joinChannel:ok")
    h.at(60, "leaveChannel")
    assert h.files() == {"mix.mp4": "expected"}
    h.at(100, "callback", fileinfo(("carol", False, "mp4", True),
                                   ("carol", False, "aac", False)))
    assert h.session.state == "complete"
    assert h.files() == {"mix.mp4": "ready", "carol-False.aac": "ready"}


def test_recorded_channel_without_account_warns_when_nothing_arrives(h: Harness) -> None:
    h.at(0, "joinChannel", {"channelName": CID, "recordAudio": 1, "recordType": 2})
    h.at(1, "joinChannel:ok")
    h.at(60, "leaveChannel")
    h.runtime.advance(T0 + 60 + 1800)
    assert h.session.state == "complete"
    [(_, _, message, level)] = [n for n in h.notices if n[1] == "files-missing"]
    assert level == "warning"
    assert "no account" in message


# ---- retried deliveries, keyed on filename (c) -----------------------------------------------

def test_a_retried_delivery_with_a_new_signed_url_counts_once(h: Harness) -> None:
    connect_caller(h, type_=1, record={"recordType": "2", "recordAudio": True})
    h.at(100, "hangup")
    first = fileinfo(("me", True, "aac", False))
    h.at(200, "callback", first)
    url = "https://nos.example/me-False.aac"
    retried = {**first, "fileinfo": first["fileinfo"].replace(url, url + "?Signature=2")}
    assert orjson.loads(retried["fileinfo"])[0]["url"] == url + "?Signature=2"
    h.at(260, "callback", retried)
    assert h.files() == {"caller.aac": "ready", "callee.aac": "expected"}
    assert not any(n[1] == "unexpected-file" for n in h.notices)
    snap = orjson.loads(orjson.dumps(h.runtime.snapshot(CID)))
    assert snap["context"]["delivered"] == {f"{CID}/caller.aac": "me-False.aac"}


def test_another_file_in_the_same_slot_is_kept_and_reported(h: Harness) -> None:
    """Same slot, another filename: not a retry but a second file."""
    connect_caller(h, type_=1, record={"recordType": "2", "recordAudio": True})
    h.at(100, "hangup")
    h.at(200, "callback", fileinfo(("me", True, "aac", False)))
    h.at(260, "callback", fileinfo(("me2", True, "aac", False)))
    assert h.files() == {"caller.aac": "ready", "callee.aac": "expected",
                         "me2-False.aac": "ready"}
    assert [n[1] for n in h.notices].count("unexpected-file") == 1


# ---- a hang-up while connecting (d) --------------------------------------------------------

def test_hangup_while_connecting_expects_the_files(h: Harness) -> None:
    """startRtc was sent: the server may have recorded, so the files are expected; if none
    arrives, the notice is a warning (the call may never have connected)."""
    h.at(0, "call", {"callee": "bob", "type": 1,
                     "record": {"recordType": "2", "recordAudio": True}})
    h.at(1, "callAccepted")
    h.at(2, "hangup")
    assert h.session.state == "awaiting_files"
    assert h.files() == {"caller.aac": "expected", "callee.aac": "expected"}
    h.at(3, "startRtc:ok")  # the SDK's late answer: noted, not a violation (strict)
    assert h.session.state == "awaiting_files"
    assert any(n[1] == "late-answer" and n[3] == "info" for n in h.notices)
    h.runtime.advance(T0 + 2 + 1800)
    assert h.session.state == "complete"
    [(_, _, message, level)] = [n for n in h.notices if n[1] == "files-missing"]
    assert level == "warning"
    assert "never confirmed" in message


def test_hangup_while_connecting_without_recording_ends(h: Harness) -> None:
    h.at(0, "call", {"callee": "bob", "type": 2})
    h.at(1, "callAccepted")
    h.at(2, "hangup")
    assert (h.session.state, h.session.files) == ("ended", [])


# ---- the simulator delivers whoever hung up (B9) --------------------------------------------

def test_simulator_delivers_files_after_the_peer_hangs_up(h: Harness) -> None:
    sim = NetEaseSimulator(h.runtime)
    try:
        h.at(0, "call", {"callee": "bob", "type": 2, "account": "me", "record": AV0})
        h.runtime.advance(T0 + 10)
        assert h.session.state == "recording"
        h.at(100, "hangup", {"account": "bob"})
        assert "hangup" not in h.names()
        h.runtime.advance(T0 + 100 + 60)
        assert h.session.state == "complete"
        assert set(h.files().values()) == {"ready"}
        assert len(h.files()) == 5
    finally:
        sim.close()


# ---- a caller's call without a cid (G1) -----------------------------------------------------

def test_a_call_without_session_or_cid_is_refused_saying_what_to_do() -> None:
    with pytest.raises(TraceError) as info:
        parse_event("netease", "call", T0, {"callee": "bob", "type": 2}, None,
                    source="t.jsonl", line=3)
    text = str(info.value)
    assert "field 'session'" in text
    assert "call:ok" in text
    assert "same 'session'" in text


def test_a_call_named_by_the_app_is_reached_by_its_cid(h: Harness) -> None:
    """G1: the call is keyed by the app's call id; call:ok names the cid; events and the
    callback that carry only the cid reach the call through ChannelRoutes."""
    routes = ChannelRoutes(h.runtime)
    try:
        h.at(0, "call", {"callee": "bob", "type": 1,
                         "record": {"recordType": "2", "recordAudio": True}},
             session="call-1")
        h.at(0.3, "call:ok", {"cid": CID}, session="call-1")
        call = h.runtime.sessions["call-1"]
        assert call.context.cid == CID
        for t, name, data in ((2, "callAccepted", {"account": "bob", "cid": CID}),
                              (3, "startRtc:ok", None),
                              (60, "hangup", {"account": "bob", "cid": CID})):
            h.runtime.advance(T0 + t)
            ev = parse_event("netease", name, T0 + t, data,
                             "call-1" if name == "startRtc:ok" else None)
            routes.dispatch(ev)
        assert call.state == "awaiting_files"
        h.runtime.advance(T0 + 100)
        routes.dispatch(parse_event("netease", "callback", T0 + 100,
                                    fileinfo(("me", True, "aac", False),
                                             ("bob", False, "aac", False))))
        assert call.state == "complete"
        assert {f.id: f.status for f in call.files} == {"call-1/caller.aac": "ready",
                                                         "call-1/callee.aac": "ready"}
        assert sorted(h.runtime.sessions) == ["call-1"]
        assert routes.aliases == {CID: "call-1"}
    finally:
        routes.close()


def test_channel_routes_are_per_runtime(h: Harness) -> None:
    other = Harness()
    routes, other_routes = ChannelRoutes(h.runtime), ChannelRoutes(other.runtime)
    try:
        h.at(0, "call", {"callee": "bob", "type": 2}, session="call-1")
        h.at(1, "callAccepted", {"cid": CID}, session="call-1")
        assert routes.aliases == {CID: "call-1"}  # learnt from the transition, no search
        assert routes.key(CID) == "call-1"
        assert other_routes.key(CID) == CID
        assert other_routes.aliases == {}
    finally:
        routes.close()
        other_routes.close()
        other.close()


# ---- properties ----------------------------------------------------------------------------

ROLES = st.sampled_from(["caller", "callee", "channel"])
RECORDS = st.fixed_dictionaries({
    "recordType": st.sampled_from([0, 1, 2, "0", "1", "2"]),
    "recordAudio": st.sampled_from([True, False, 0, 1]),
    "recordVideo": st.sampled_from([True, False, 0, 1]),
})
# Everything that may reach a call after it started, in any order, any number of times.
NOISE = st.sampled_from([
    ("callAccepted", {}), ("callRejected", {}), ("response:ok", {}), ("response:error",
                                                                       {"code": 1}),
    ("startRtc:ok", {}), ("startRtc:error", {"code": 2}), ("joinChannel:ok", {}),
    ("accept", {}), ("reject", {}), ("hangup", {}), ("hangup", {"account": "peer"}),
    ("leaveChannel", {}), ("beCalling", {"caller": "peer", "cid": CID, "type": 2}),
    ("call:ok", {}),
])


def _start(h: Harness, role: str, record: dict[str, Any], call_type: int,
           account: bool = True) -> None:
    if role == "caller":
        h.at(0, "call", {"callee": "peer", "type": call_type, "record": record})
    elif role == "callee":
        h.at(0, "beCalling", {"caller": "peer", "cid": CID, "type": call_type})
    else:
        h.at(0, "joinChannel", {"channelName": CID, "type": call_type, **record,
                                **({"account": "me"} if account else {})})


#: The files a P2P call expects, by (recordType, recordAudio, recordVideo, call type), written
#: out by hand from 000 (per participant an .aac when audio is recorded and an .mp4 when video
#: is recorded in a video call, for recordType 0 混单 and 2 只单; a mixed file for 0 and 1 只混,
#: an .mp4 with video, else an .aac with audio; an audio call has no audio-video file).
P2P_FILES: dict[tuple[int, bool, bool, int], set[str]] = {
    (0, True, True, 2): {"caller.aac", "caller.mp4", "callee.aac", "callee.mp4", "mix.mp4"},
    (0, True, False, 2): {"caller.aac", "callee.aac", "mix.aac"},
    (0, False, True, 2): {"caller.mp4", "callee.mp4", "mix.mp4"},
    (0, False, False, 2): set(),
    (1, True, True, 2): {"mix.mp4"},
    (1, True, False, 2): {"mix.aac"},
    (1, False, True, 2): {"mix.mp4"},
    (1, False, False, 2): set(),
    (2, True, True, 2): {"caller.aac", "caller.mp4", "callee.aac", "callee.mp4"},
    (2, True, False, 2): {"caller.aac", "callee.aac"},
    (2, False, True, 2): {"caller.mp4", "callee.mp4"},
    (2, False, False, 2): set(),
    (0, True, True, 1): {"caller.aac", "callee.aac", "mix.aac"},
    (0, True, False, 1): {"caller.aac", "callee.aac", "mix.aac"},
    (0, False, True, 1): set(),
    (0, False, False, 1): set(),
    (1, True, True, 1): {"mix.aac"},
    (1, True, False, 1): {"mix.aac"},
    (1, False, True, 1): set(),
    (1, False, False, 1): set(),
    (2, True, True, 1): {"caller.aac", "callee.aac"},
    (2, True, False, 1): {"caller.aac", "callee.aac"},
    (2, False, True, 1): set(),
    (2, False, False, 1): set(),
}


def _p2p_files(record: dict[str, Any], call_type: int) -> set[str]:
    return P2P_FILES[(int(record["recordType"]), bool(record["recordAudio"]),
                      bool(record["recordVideo"]), call_type)]


def _named(role: str, record: dict[str, Any], call_type: int, account: bool) -> set[str]:
    """The files expected by name, from the table above: a channel member's own files are the
    caller's row under the slot ``self`` (only when joinChannel names the account)."""
    want = _p2p_files(record, call_type)
    if role != "channel":
        return set(want)
    return {n.replace("caller.", "self.") for n in want
            if n.startswith("mix.") or (account and n.startswith("caller."))}


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(role=ROLES, record=RECORDS, call_type=st.sampled_from([1, 2]),
       steps=st.lists(st.tuples(NOISE, st.floats(0.1, 700)), max_size=14))
def test_start_rtc_only_after_acceptance_once_per_call(
        role: str, record: dict[str, Any], call_type: int,
        steps: list[tuple[tuple[str, dict[str, Any]], float]]) -> None:
    h = Harness(strict=False)
    try:
        _start(h, role, record, call_type)
        t = 0.0
        seen: list[str] = []
        for (name, data), dt in steps:
            t += dt
            before = h.names().count("startRtc")
            if role == "callee" and name == "accept":
                data = {"record": record}
            h.at(t, name, data)
            seen.append(name)
            if h.names().count("startRtc") > before:
                # Sent right on the event that allows it, and only then.
                if role == "caller":
                    assert name == "callAccepted"
                else:
                    assert name == "response:ok"
                    accepted = [c for _, c in h.commands if c.name == "response"]
                    assert accepted
                    assert accepted[-1].payload()["accepted"] is True
        assert h.names().count("startRtc") <= 1
        if role == "channel":
            assert "startRtc" not in h.names()
        assert h.names().count("joinChannel") == (1 if role == "channel" else 0)
    finally:
        h.close()


@settings(max_examples=100, deadline=None, derandomize=True)
@given(record=RECORDS, call_type=st.sampled_from([1, 2]))
def test_expected_files_follow_from_the_record_parameters(record: dict[str, Any],
                                                          call_type: int) -> None:
    h = Harness()
    try:
        h.at(0, "call", {"callee": "peer", "type": call_type, "record": record})
        h.at(1, "callAccepted")
        h.at(2, "startRtc:ok")
        h.at(9, "hangup")
        want = _p2p_files(record, call_type)
        assert set(h.files()) == want
        assert h.session.state == ("awaiting_files" if want else "ended")
        assert all(s == "expected" for s in h.files().values())
    finally:
        h.close()


@settings(max_examples=150, deadline=None, derandomize=True)
@example(role="channel", record={"recordType": 2, "recordAudio": True, "recordVideo": False},
         call_type=1, account=False, delivered=[], call_len=1.0, late=0.0)
@example(role="channel", record={"recordType": 0, "recordAudio": False, "recordVideo": True},
         call_type=2, account=False, delivered=["self", "mix"], call_len=1.0, late=10.0)
@given(role=ROLES, record=RECORDS, call_type=st.sampled_from([1, 2]), account=st.booleans(),
       delivered=st.lists(st.sampled_from(["caller", "callee", "self", "mix", "dup"]),
                          max_size=6),
       call_len=st.floats(1, 5000), late=st.floats(0, 4000))
def test_every_ended_recorded_call_is_complete_by_its_deadline(
        role: str, record: dict[str, Any], call_type: int, account: bool,
        delivered: list[str], call_len: float, late: float) -> None:
    # Whether the call records, from the parameters alone (000): audio recorded, or video
    # recorded in a video call; every recordType produces single or mixed files.
    records = bool(record["recordAudio"]) or (bool(record["recordVideo"]) and call_type == 2)
    h = Harness()
    try:
        _start(h, role, record, call_type, account)
        if role == "caller":
            h.at(1, "callAccepted")
            h.at(2, "startRtc:ok")
        elif role == "callee":
            h.at(1, "accept", {"record": record})
            h.at(1.5, "response:ok")
            h.at(2, "startRtc:ok")
        else:
            h.at(2, "joinChannel:ok")
        assert h.session.state == ("recording" if records else "in_call")
        end = 2 + call_len
        h.at(end, "leaveChannel" if role == "channel" else "hangup")
        assert h.session.state == ("awaiting_files" if records else "ended")
        named = _named(role, record, call_type, account)
        assert set(h.files()) == named
        fmt = "mp4" if call_type == 2 and bool(record["recordVideo"]) else "aac"
        for i, slot in enumerate(delivered):
            user = {"caller": "peer", "callee": "me", "self": "me"}.get(slot, "me")
            item = (user, slot == "caller", fmt, slot in ("mix", "dup"))
            h.at(end + late * (i + 1) / (len(delivered) + 1), "callback", fileinfo(item))
        h.runtime.advance(T0 + end + 1800)
        if records:
            assert h.session.state == "complete"
            assert h.session.recording == "stopped"
            assert named <= set(h.files())
            assert all(f.status in ("ready", "lost") for f in h.session.files)
        else:
            assert h.session.state == "ended"
            assert h.session.recording == "idle"
    finally:
        h.close()
