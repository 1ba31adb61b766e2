"""NetEase against its documented shapes (issue 7, points 1 to 5).

The 抄送 field table of eventType 6 (音视频/白板文件下载信息): ``caller`` is true for the
caller's files and otherwise absent ("若是则为true，若不是则没有此字段"); ``user`` is ``"0"`` for
a mixed file; ``size``, ``vid``, ``pieceindex`` are strings; ``type`` is aac (audio), mp4
(video), flv (interactive live) or gz (whiteboard, no vid); ``pieceindex`` is the slice index
of a recording longer than the slice length. The console checks the 抄送 address with a signed
POST whose body is ``{}`` (or empty) and wants 200.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_netease_callback import SECRET, Served, signed
from test_netease_machine import Harness

from recstate.adapters.netease import (
    CallbackApp,
    CallbackReceiver,
    CallbackRejected,
    NetEaseSimulator,
    deliver_to,
)
from recstate.clock import ManualClock
from recstate.events import parse_event
from recstate.events.netease import FileInfo, RecordParams, Switch, expected_files
from recstate.runtime import Runtime

T0 = 1_700_000_000.0
CID = "6290737000999815988"
AV0 = {"recordType": "0", "recordAudio": True, "recordVideo": True}
AUDIO2 = {"recordType": "2", "recordAudio": True}


def item(user: str, fmt: str, *, caller: bool = False, mix: bool = False,
         piece: int | None = None, channel: str = CID, name: str | None = None
         ) -> dict[str, Any]:
    """One fileinfo item as NetEase writes it: ``caller`` only when true, ``user`` "0" on a
    mix, no ``vid`` on whiteboard data, strings for numbers."""
    filename = name or f"{channel}-{user}-{piece or 0}{'-mix' if mix else ''}.{fmt}"
    out: dict[str, Any] = {
        "channelid": channel, "filename": filename,
        "md5": hashlib.md5(filename.encode()).hexdigest(), "mix": mix, "size": "4096",
        "type": fmt, "url": f"https://nim-nosdn.netease.im/record/{filename}",
        "user": "0" if mix else user}
    if fmt != "gz":
        out["vid"] = "342748"
    if caller:
        out["caller"] = True
    if piece is not None:
        out["pieceindex"] = str(piece)
        out["timestamp"] = "1700000000123"
    return out


def body(*items: dict[str, Any]) -> dict[str, Any]:
    return {"eventType": "6", "fileinfo": orjson.dumps(list(items)).decode()}


@pytest.fixture
def h() -> Iterator[Harness]:
    harness = Harness()
    yield harness
    harness.close()


def caller_call(h: Harness, *, type_: int = 2, record: dict[str, Any] | None = None) -> None:
    """alice calls bob (the local user is the caller, alice)."""
    h.at(0, "call", {"callee": "bob", "type": type_, "account": "alice",
                     "record": record or AV0})
    h.at(1, "callAccepted", {"account": "bob"})
    h.at(2, "startRtc:ok")


def by_id(h: Harness) -> dict[str, Any]:
    return {f.id.split("/", 1)[1]: f for f in h.session.files}


def codes(h: Harness) -> list[Any]:
    return [n[1] for n in h.notices]


# ---- 1. an absent caller means false ---------------------------------------------------------

def test_an_item_without_caller_is_not_the_callers(h: Harness) -> None:
    caller_call(h)
    h.at(100, "hangup")
    h.at(200, "callback", body(item("alice", "aac", caller=True),
                               item("alice", "mp4", caller=True),
                               item("bob", "aac"), item("bob", "mp4"),
                               item("alice", "mp4", mix=True)))
    assert h.session.state == "complete"
    files = by_id(h)
    assert {k: f.status for k, f in files.items()} == dict.fromkeys(
        ["caller.aac", "caller.mp4", "callee.aac", "callee.mp4", "mix.mp4"], "ready")
    assert files["callee.aac"].participant == "bob"
    assert files["caller.mp4"].participant == "alice"
    assert files["mix.mp4"].participant is None
    assert "unexpected-file" not in codes(h)


def test_fileinfo_fields_read_as_the_table_says() -> None:
    [bare] = parse_event("netease", "callback", T0, body(item("bob", "aac"))).items()
    assert (bare.caller, bare.mix, bare.size, bare.pieceindex) == (False, False, 4096, None)
    text = dict(item("alice", "aac", piece=3), caller="true")
    [got] = parse_event("netease", "callback", T0, body(text)).items()
    assert (got.caller, got.pieceindex) == (True, 3)
    [board] = parse_event("netease", "callback", T0, body(item("alice", "gz"))).items()
    assert (board.type, board.vid) == ("gz", None)
    assert FileInfo.__attrs_attrs__.caller.default is False  # type: ignore[attr-defined]


def test_the_simulator_writes_bodies_in_netease_shape(h: Harness) -> None:
    sim = NetEaseSimulator(h.runtime, whiteboard=True)
    try:
        h.at(0, "call", {"callee": "bob", "type": 2, "account": "alice", "record": AV0})
        h.runtime.advance(T0 + 10)
        h.at(100, "hangup")
        h.runtime.advance(T0 + 200)
    finally:
        sim.close()
    [callback] = [e for e in sim.delivered if e.name == "callback"]
    raw = orjson.loads(callback.payload()["fileinfo"])
    by_user = {(i["user"], i["type"], i["mix"]): i for i in raw}
    assert by_user[("alice", "aac", False)]["caller"] is True
    assert "caller" not in by_user[("bob", "aac", False)]
    assert "caller" not in by_user[("0", "mp4", True)]  # the mix: user "0", no caller
    assert "vid" not in by_user[("alice", "gz", False)]
    assert all(isinstance(i["size"], str) for i in raw)
    assert h.session.state == "complete"
    assert by_id(h)["mix.mp4"].status == "ready"


# ---- 2. pieces -------------------------------------------------------------------------------

def test_a_piece_during_the_call_does_not_end_it(h: Harness) -> None:
    caller_call(h, type_=1, record=AUDIO2)
    h.at(1900, "callback", body(item("alice", "aac", caller=True, piece=0),
                                item("bob", "aac", piece=0)))
    assert (h.session.state, h.session.recording) == ("recording", "recording")
    assert "ended-by-files" not in codes(h)
    assert {k: f.status for k, f in by_id(h).items()} == {"caller.0.aac": "ready",
                                                          "callee.0.aac": "ready"}
    h.at(2500, "hangup")  # the user's own hang-up still goes out
    assert h.names() == ["call", "startRtc", "hangup"]
    assert h.session.state == "awaiting_files"
    assert {k: f.status for k, f in by_id(h).items()} == {
        "caller.0.aac": "ready", "callee.0.aac": "ready",
        "caller.1.aac": "expected", "callee.1.aac": "expected"}
    h.at(2560, "callback", body(item("alice", "aac", caller=True, piece=1),
                                item("bob", "aac", piece=1)))
    assert h.session.state == "complete"
    files = by_id(h)
    assert {k: f.status for k, f in files.items()} == dict.fromkeys(
        ["caller.0.aac", "caller.1.aac", "callee.0.aac", "callee.1.aac"], "ready")
    for key, who in (("caller.1.aac", "alice"), ("callee.0.aac", "bob")):
        assert (files[key].participant, files[key].kind, files[key].format) == (
            who, "audio", "aac")


def test_the_files_deadline_runs_from_the_end_of_the_call(h: Harness) -> None:
    caller_call(h, type_=1, record=AUDIO2)
    h.at(100, "callback", body(item("alice", "aac", caller=True, piece=0)))
    h.runtime.advance(T0 + 100 + 1800)
    assert h.session.state == "recording"
    h.at(5000, "hangup", {"account": "bob"})
    h.runtime.advance(T0 + 5000 + 1799)
    assert h.session.state == "awaiting_files"
    h.runtime.advance(T0 + 5000 + 1800)
    assert h.session.state == "complete"
    assert {k: f.status for k, f in by_id(h).items()} == {
        "caller.0.aac": "ready", "caller.1.aac": "lost", "callee.aac": "lost"}


def test_pieces_after_the_call_complete_the_slot_when_all_are_there(h: Harness) -> None:
    caller_call(h, type_=1, record=AUDIO2)
    h.at(4000, "hangup")
    h.at(4060, "callback", body(item("alice", "aac", caller=True, piece=0),
                                item("alice", "aac", caller=True, piece=1),
                                item("bob", "aac", piece=1)))
    # bob's piece 1 came, piece 0 did not: his slot is not complete.
    assert h.session.state == "awaiting_files"
    assert {k: f.status for k, f in by_id(h).items()} == {
        "caller.0.aac": "ready", "caller.1.aac": "ready", "callee.1.aac": "ready",
        "callee.0.aac": "expected"}
    h.at(4100, "callback", body(item("bob", "aac", piece=0)))
    assert h.session.state == "complete"
    # A retried delivery of a piece counts once.
    h.at(4200, "callback", body(item("bob", "aac", piece=0)))
    assert len(h.session.files) == 4
    assert "unexpected-file" not in codes(h)


def test_the_simulator_cuts_pieces_during_a_long_call(h: Harness) -> None:
    sim = NetEaseSimulator(h.runtime, piece_length=600, files_after=30)
    try:
        h.at(0, "call", {"callee": "bob", "type": 1, "account": "alice", "record": AUDIO2})
        h.runtime.advance(T0 + 700)
        assert h.session.state == "recording"
        assert set(by_id(h)) == {"caller.0.aac", "callee.0.aac"}
        h.at(1500, "hangup")
        assert "hangup" in h.names()
        h.runtime.advance(T0 + 1500 + 60)
    finally:
        sim.close()
    assert h.session.state == "complete"
    assert {k: f.status for k, f in by_id(h).items()} == dict.fromkeys(
        [f"{who}.{p}.aac" for who in ("caller", "callee") for p in (0, 1, 2)], "ready")
    # No cut after the end was delivered.
    assert max(e.t for e in sim.delivered if e.name == "callback") == T0 + 1500 + 30


# ---- 3. kinds: flv (rtmpRecord) and gz (whiteboard) --------------------------------------------

def test_whiteboard_data_is_its_own_kind_and_not_a_warning(h: Harness) -> None:
    caller_call(h, type_=1, record=AUDIO2)
    h.at(100, "hangup")
    h.at(200, "callback", body(item("alice", "aac", caller=True), item("bob", "aac"),
                               item("alice", "gz", caller=True)))
    assert h.session.state == "complete"
    [board] = [f for f in h.session.files if f.format == "gz"]
    assert (board.kind, board.status, board.participant) == ("whiteboard", "ready", "alice")
    assert "unexpected-file" not in codes(h)
    assert [n[3] for n in h.notices if n[1] == "whiteboard-file"] == ["info"]


def test_rtmp_record_expects_an_flv(h: Harness) -> None:
    h.at(0, "joinChannel", {"channelName": CID, "rtmpRecord": 1, "account": "carol"})
    h.at(1, "joinChannel:ok")
    assert (h.session.state, h.session.recording) == ("recording", "recording")
    h.at(900, "leaveChannel")
    assert {k: f.status for k, f in by_id(h).items()} == {"live.flv": "expected"}
    h.at(1000, "callback", body(item("carol", "flv")))
    assert h.session.state == "complete"
    live = by_id(h)["live.flv"]
    assert (live.kind, live.format, live.participant, live.status) == (
        "video", "flv", "carol", "ready")
    assert "unexpected-file" not in codes(h)


def test_a_mixed_flv_is_the_live_recording_too(h: Harness) -> None:
    h.at(0, "joinChannel", {"channelName": CID, "rtmpRecord": True, "recordAudio": 1,
                            "recordType": 2})
    h.at(1, "joinChannel:ok")
    h.at(900, "leaveChannel")
    assert set(by_id(h)) == {"live.flv"}  # no account: the own .aac cannot be named
    h.at(1000, "callback", body(item("x", "flv", mix=True), item("carol", "aac")))
    assert h.session.state == "complete"
    assert (by_id(h)["live.flv"].kind, by_id(h)["live.flv"].participant) == ("video", None)
    assert [n[1] for n in h.notices if n[3] != "info"] == []


def test_expected_files_of_a_channel_with_rtmp_record() -> None:
    record = RecordParams(recordAudio=Switch(True), rtmpRecord=Switch(True))
    got = expected_files(record, 2, ("self",), channel=True)
    assert [f"{f.slot}.{f.format}:{f.kind}" for f in got] == [
        "self.aac:audio", "mix.aac:mixed", "live.flv:video"]
    # startRtc (P2P) takes no rtmpRecord: nothing live is expected of a call.
    assert "live" not in {f.slot for f in expected_files(record, 2, ("caller", "callee"))}


# ---- 5. an audio call's mixed file ---------------------------------------------------------

def test_an_audio_call_with_mixing_gives_a_mixed_aac(h: Harness) -> None:
    caller_call(h, type_=1, record={"recordType": 0, "recordAudio": 1, "recordVideo": 1})
    h.at(100, "hangup")
    assert set(by_id(h)) == {"caller.aac", "callee.aac", "mix.aac"}
    h.at(200, "callback", body(item("alice", "aac", caller=True), item("bob", "aac"),
                               item("x", "aac", mix=True)))
    assert h.session.state == "complete"
    assert (by_id(h)["mix.aac"].kind, by_id(h)["mix.aac"].participant) == ("mixed", None)


def test_a_video_calls_audio_copy_of_the_mix_is_noted_not_warned(h: Harness) -> None:
    caller_call(h, record={"recordType": 1, "recordAudio": 1, "recordVideo": 1})
    h.at(100, "hangup")
    h.at(200, "callback", body(item("x", "mp4", mix=True), item("x", "aac", mix=True)))
    assert h.session.state == "complete"
    assert "unexpected-file" not in codes(h)
    assert [n[3] for n in h.notices if n[1] == "mix-audio"] == ["info"]


# ---- over HTTP: the receiver on loopback -----------------------------------------------------

def _recording_call() -> Runtime:
    rt = Runtime(ManualClock(T0 - 100), strict=True)
    for t, name, data in ((T0 - 100, "beCalling", {"caller": "ann", "cid": CID, "type": 1}),
                          (T0 - 99, "accept", {"record": AUDIO2, "account": "me"}),
                          (T0 - 98, "response:ok", None), (T0 - 97, "startRtc:ok", None)):
        rt.advance(t)
        rt.dispatch(parse_event("netease", name, t, data, CID))
    rt.advance(T0)
    return rt


def post(url: str, raw: bytes, **kw: Any) -> httpx.Response:
    return httpx.post(url, content=raw, headers=signed(raw, **kw))


def test_real_shaped_bodies_and_pieces_over_http() -> None:
    rt = _recording_call()
    with Served(CallbackApp(CallbackReceiver(SECRET, clock=rt.clock), deliver_to(rt))) as url:
        piece = orjson.dumps(body(item("ann", "aac", caller=True, piece=0),
                                  item("me", "aac", piece=0)))
        assert post(url, piece).status_code == 200
        call = rt.sessions[CID]
        assert call.state == "recording"  # a piece during the call
        rt.dispatch(parse_event("netease", "hangup", T0, None, CID))
        assert call.state == "awaiting_files"
        last = orjson.dumps(body(item("ann", "aac", caller=True, piece=1),
                                 item("me", "aac", piece=1), item("ann", "gz")))
        answer = post(url, last)
        assert (answer.status_code, answer.json()) == (200, {"code": 200, "events": 1})
    assert call.state == "complete"
    assert {f.id.split("/", 1)[1]: (f.kind, f.participant) for f in call.files} == {
        "caller.0.aac": ("audio", "ann"), "callee.0.aac": ("audio", "me"),
        "caller.1.aac": ("audio", "ann"), "callee.1.aac": ("audio", "me"),
        f"{CID}-ann-0.gz": ("whiteboard", "ann")}


# ---- 4. the console's address check ----------------------------------------------------------

@pytest.mark.parametrize("raw", [b"", b"{}", b" { } "])
def test_the_address_check_is_answered_with_no_event(raw: bytes) -> None:
    receiver = CallbackReceiver(SECRET, clock=ManualClock(T0))
    assert receiver(signed(raw, cur=T0), raw) == []
    with pytest.raises(CallbackRejected) as info:
        receiver(signed(raw, cur=T0, secret="guess"), raw)
    assert info.value.status == 401


def test_the_address_check_over_http_gets_200_and_changes_nothing() -> None:
    rt = _recording_call()
    before = (rt.sessions[CID].state, list(rt.sessions[CID].files))
    with Served(CallbackApp(CallbackReceiver(SECRET, clock=rt.clock), deliver_to(rt))) as url:
        answers = [post(url, b"{}"), post(url, b""),
                   httpx.post(url, content=b"{}", headers=signed(b"{}", secret="guess"))]
    assert [a.status_code for a in answers] == [200, 200, 401]
    assert answers[0].json() == {"code": 200, "events": 0}
    assert sorted(rt.sessions) == [CID]
    assert (rt.sessions[CID].state, list(rt.sessions[CID].files)) == before


# ---- pieces, whatever the order and the grouping (hypothesis) --------------------------------

@settings(max_examples=120, deadline=None, derandomize=True)
@given(counts=st.tuples(st.integers(1, 4), st.integers(1, 4)), data=st.data())
def test_every_piece_is_kept_once_and_the_call_completes(counts: tuple[int, int],
                                                         data: st.DataObject) -> None:
    """Per slot n pieces, each slot's in the order they are cut; some of the first n-1 come
    during the call; the rest come after the hang-up, the slots interleaved in any way and
    grouped into bodies in any way, some twice. In the end every piece is its own ready file,
    nothing else is kept, nothing is warned about, and the call is complete."""
    slots = {"caller": ("alice", True), "callee": ("bob", False)}
    during: list[dict[str, Any]] = []
    rest: dict[str, list[dict[str, Any]]] = {}
    for (slot, (user, is_caller)), n in zip(slots.items(), counts, strict=True):
        early = data.draw(st.integers(0, n - 1), label=f"{slot} pieces during the call")
        pieces = [item(user, "aac", caller=is_caller, piece=p) for p in range(n)]
        during += pieces[:early]
        rest[slot] = pieces[early:]
    turns = data.draw(st.permutations([s for s, left in rest.items() for _ in left]),
                      label="whose piece comes next after the end")
    after = [rest[slot].pop(0) for slot in turns]
    after += data.draw(st.lists(st.sampled_from(after), max_size=3), label="retried")
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(after) - 1)), max_size=3),
                            label="bodies"))
    h = Harness()
    try:
        caller_call(h, type_=1, record=AUDIO2)
        for i, piece in enumerate(during):
            h.at(100 + i, "callback", body(piece))
            assert h.session.state == "recording"
        h.at(1000, "hangup")
        bounds = [0, *cuts, len(after)]
        for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
            if lo < hi:
                h.at(1100 + i, "callback", body(*after[lo:hi]))
        assert h.session.state == "complete"
        h.runtime.advance(T0 + 1000 + 1800)
        want = {f"{slot}.{p}.aac" for slot, n in zip(slots, counts, strict=True)
                for p in range(n)}
        assert {k: f.status for k, f in by_id(h).items()} == dict.fromkeys(want, "ready")
        assert all(f.kind == "audio" and f.format == "aac" for f in h.session.files)
        assert [n for n in h.notices if n[3] != "info"] == []
    finally:
        h.close()


def test_a_piece_after_its_slot_was_taken_complete_is_kept_and_a_gap_is_lost(
        h: Harness) -> None:
    """NetEase never says how many pieces a slot has: once piece 0 of each slot came after the
    end, the call is complete; a piece 2 after that is kept, and the piece 1 it shows missing
    is lost at once (nothing waits any more), with a warning; if it comes, it is late."""
    caller_call(h, type_=1, record=AUDIO2)
    h.at(1000, "hangup")
    h.at(1100, "callback", body(item("alice", "aac", caller=True, piece=0),
                                item("bob", "aac", piece=0)))
    assert h.session.state == "complete"
    h.at(1200, "callback", body(item("bob", "aac", piece=2)))
    assert {k: f.status for k, f in by_id(h).items()} == {
        "caller.0.aac": "ready", "callee.0.aac": "ready", "callee.2.aac": "ready",
        "callee.1.aac": "lost"}
    [(_, _, message, level)] = [n for n in h.notices if n[1] == "files-missing"]
    assert (level, "callee.1.aac" in message) == ("warning", True)
    h.at(1300, "callback", body(item("bob", "aac", piece=1)))
    assert by_id(h)["callee.1.aac"].status == "ready"
    assert "file-late" in codes(h)


# ---- pinned where mutation testing found them loose (issue 8) -------------------------------

def test_an_item_without_pieceindex_is_a_retry_of_a_piece_or_the_piece_still_awaited(
        h: Harness) -> None:
    """docs/architecture.md, Pieces: an item without ``pieceindex`` for a slot already cut
    into pieces is the lowest piece that slot still waits for (the last one), or a retry of
    one already taken: not an unexpected file beside a piece."""
    caller_call(h, type_=1, record=AUDIO2)
    h.at(1900, "callback", body(item("alice", "aac", caller=True, piece=0),
                                item("bob", "aac", piece=0)))
    h.at(2500, "hangup")
    # piece 0 of alice delivered again without its pieceindex (same filename): a retry
    h.at(2550, "callback", body(item("alice", "aac", caller=True)))
    assert {k: f.status for k, f in by_id(h).items()} == {
        "caller.0.aac": "ready", "callee.0.aac": "ready",
        "caller.1.aac": "expected", "callee.1.aac": "expected"}
    # the last pieces, cut at the end, without pieceindex: the pieces 1 awaited
    h.at(2560, "callback", body(item("alice", "aac", caller=True, name="a-last.aac"),
                                item("bob", "aac", name="b-last.aac")))
    assert h.session.state == "complete"
    files = by_id(h)
    assert {k: f.status for k, f in files.items()} == dict.fromkeys(
        ["caller.0.aac", "callee.0.aac", "caller.1.aac", "callee.1.aac"], "ready")
    assert (files["caller.1.aac"].url, files["callee.1.aac"].url) == (
        "https://nim-nosdn.netease.im/record/a-last.aac",
        "https://nim-nosdn.netease.im/record/b-last.aac")
    assert "unexpected-file" not in codes(h)


def test_a_retried_delivery_with_another_signed_url_is_the_same_file(h: Harness) -> None:
    """An item delivered again (NetEase retries until it gets 200) in a body that also
    brings a new one: a signed URL may differ between deliveries, so the same filename is
    the same file, nothing new (docs/architecture.md: a body mixing new and old items is
    handled, and the machine takes the new ones)."""
    caller_call(h, type_=1, record=AUDIO2)
    h.at(100, "hangup")
    alice = item("alice", "aac", caller=True)
    h.at(200, "callback", body(alice))
    assert h.session.state == "awaiting_files"
    resigned = {**alice, "url": alice["url"] + "?Expires=1700003600&Signature=b2"}
    h.at(300, "callback", body(resigned, item("bob", "aac")))
    assert h.session.state == "complete"
    assert {k: f.status for k, f in by_id(h).items()} == {"caller.aac": "ready",
                                                          "callee.aac": "ready"}
    assert "unexpected-file" not in codes(h)


def test_another_members_flv_is_not_the_live_recording_and_is_kept_as_theirs(
        h: Harness) -> None:
    """A channel joined with rtmpRecord expects ``live.flv``, the local member's (carol);
    another member's flv (dave's) is not it: it is kept as a file of dave's."""
    h.at(0, "joinChannel", {"channelName": CID, "rtmpRecord": 1, "account": "carol"})
    h.at(1, "joinChannel:ok")
    h.at(900, "leaveChannel")
    h.at(1000, "callback", body(item("dave", "flv"), item("carol", "flv")))
    assert h.session.state == "complete"
    files = by_id(h)
    live = files.pop("live.flv")
    assert (live.participant, live.status, live.url) == (
        "carol", "ready", f"https://nim-nosdn.netease.im/record/{CID}-carol-0.flv")
    [(name, dave)] = files.items()
    assert name == f"{CID}-dave-0.flv"
    assert (dave.participant, dave.kind, dave.format, dave.status) == (
        "dave", "video", "flv", "ready")
