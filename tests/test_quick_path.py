"""What the runtime does without the engine (Engine.quick, issue 12): a Tencent heartbeat in
``recording`` (002 §6: the recorder stops a recording whose client sent no data for 60 s)
notes the time and pushes the watchdog back; an event a state ignores changes nothing. Both
as the machine would: the answer of ``send``, the context, the timer, the trace, and secrets
redacted in the records the runtime writes to a TraceWriter."""

from __future__ import annotations

import io

import attrs

from recstate import ManualClock, Runtime
from recstate.events import Event, event
from recstate.events.tencent import (
    EnterRoom,
    MediaData,
    RecordParam,
    RoomInfo,
    StartOk,
    StartRecording,
    key_for,
)
from recstate.machine import DataOnly, Machine, on
from recstate.routing import DataSlot
from recstate.trace import Record, TraceWriter
from recstate.vendors import Vendor

T0 = 1_700_000_000.0
KEY = key_for(1400, 7, "alice")


def recording(rt: Runtime) -> None:
    info = RoomInfo(relationId=1400, roomId=7)
    rt.dispatch(EnterRoom(relationId=1400, roomId=7, user="alice"))
    rt.dispatch(StartRecording(roomInfo=info, param=RecordParam(fileName="f"), user="alice"))
    rt.dispatch(StartOk(session=KEY))


def test_a_heartbeat_notes_its_time_and_pushes_the_watchdog_back() -> None:
    clock = ManualClock(T0)
    rt = Runtime(clock)
    recording(rt)
    clock.set(T0 + 45)
    rt.dispatch(MediaData(session=KEY, bytes=100))
    assert rt.sessions[KEY].context.last_data == T0 + 45
    assert rt.timers.get(KEY, "watchdog").due == T0 + 45 + 60  # no_data_timeout: 60 s
    rt.advance(T0 + 104)
    assert rt.sessions[KEY].state == "recording"
    rt.advance(T0 + 105)
    assert rt.sessions[KEY].state == "stopped"  # the client is gone


def test_send_answers_a_heartbeat_with_its_session_and_state() -> None:
    clock = ManualClock(T0)
    rt = Runtime(clock)
    recording(rt)
    answer = rt.send_sync(MediaData(session=KEY, bytes=1))
    assert answer.status == "accepted"
    assert (answer.session, answer.state) == (KEY, "recording")
    assert answer.commands == ()


def test_send_answers_an_ignored_heartbeat_with_the_state_it_left_alone() -> None:
    clock = ManualClock(T0)
    rt = Runtime(clock)
    rt.dispatch(EnterRoom(relationId=1400, roomId=7, user="alice"))
    answer = rt.send_sync(MediaData(session=KEY, bytes=1))  # idle ignores mediaData
    assert answer.status == "accepted"
    assert (answer.session, answer.state) == (KEY, "idle")
    assert rt.sessions[KEY].context.last_data is None


VENDOR = "quick-test"


@event(VENDOR, "finish")
@attrs.frozen(kw_only=True)
class Finish(Event):
    url: str = ""


@attrs.define
class FileContext:
    n: int = 0


class Uploader(Machine):
    """Opens a file, gives it a signed address and says so in a notice."""

    vendor = VENDOR
    states = ("idle", "done")
    initial = "idle"
    context = FileContext
    transitions = (on("finish", "idle", "done", after="publish"),)

    def publish(self, ev: Finish) -> None:
        f = self.open_file(id="a.mp4", kind="video", format="mp4")
        self.update_file(f, "ready", url=ev.url, status="ready")
        self.notice("uploaded", f"ready at {ev.url}", level="info")


#: Handed to each Runtime (``vendors=``), not registered: the registry is every installed
#: vendor's (test_scenarios looks for their adapters).
UPLOADER = {VENDOR: Vendor(name=VENDOR, machines=(Uploader,), machine_for=lambda ev: Uploader,
                           session_key=lambda ev: ev.session)}


def test_file_and_notice_records_written_as_lines_are_redacted_as_records_are() -> None:
    url = "https://cdn.example/a.mp4?sign=S3CRET&t=1"
    buffer = io.BytesIO()
    writer = TraceWriter(buffer, flush_interval=None)
    rt = Runtime(ManualClock(T0), tracer=writer, vendors=UPLOADER)
    rt.dispatch(Finish(session="u1", url=url))
    writer.close()
    kept: list[Record] = []
    rt2 = Runtime(ManualClock(T0), tracer=kept.append, vendors=UPLOADER)
    rt2.dispatch(Finish(session="u1", url=url))
    written = buffer.getvalue()
    assert b"S3CRET" not in written
    assert written.count(b"sign=***") == 3  # the input, the file made ready, the notice
    assert written == b"".join(r.dumps() + b"\n" for r in kept)


def test_send_answers_the_notices_of_a_refused_start() -> None:
    rt = Runtime(ManualClock(T0))
    rt.dispatch(EnterRoom(relationId=1400, roomId=7, user="alice", roomType="pair"))
    answer = rt.send_sync(StartRecording(roomInfo=RoomInfo(relationId=1400, roomId=7),
                                         param=RecordParam(fileName="f"), user="alice"))
    assert answer.commands == ()  # 004 §4: a two-person room cannot record
    assert [(n.code, n.level) for n in answer.notices] == [("pair-room", "error")]
    assert answer.notices[0].message.startswith("start refused: a two-person room")


def test_note_data_notes_a_heartbeat_without_its_event() -> None:
    clock = ManualClock(T0)
    buffer = io.BytesIO()
    writer = TraceWriter(buffer, flush_interval=None)
    rt = Runtime(clock, tracer=writer)
    recording(rt)
    clock.set(T0 + 30)
    assert rt.note_data("tencent", "mediaData", KEY, line=9, data={"bytes": 1})
    assert rt.sessions[KEY].context.last_data == T0 + 30
    assert rt.timers.get(KEY, "watchdog").due == T0 + 90
    writer.close()
    assert buffer.getvalue().splitlines()[-1] == (
        b'{"data":{"bytes":1},"name":"mediaData","session":"' + KEY.encode()
        + b'","t":1700000030.0,"vendor":"tencent"}')


def test_note_data_declines_what_dispatch_must_handle() -> None:
    clock = ManualClock(T0)
    rt = Runtime(clock)
    rt.dispatch(EnterRoom(relationId=1400, roomId=7, user="bob"))
    bob = key_for(1400, 7, "bob")
    recording(rt)
    assert not rt.note_data("tencent", "mediaData", "no-such-session")
    assert not rt.note_data("tencent", "mediaData", bob)  # idle: not data-only there
    assert not rt.note_data("tencent", "enterRoom", KEY)  # not a data-only event
    assert not rt.note_data("netease", "mediaData", KEY)  # not this session's vendor
    clock.set(T0 + 60)  # the watchdog falls due now: it fires first, so dispatch
    assert not rt.note_data("tencent", "mediaData", KEY)
    assert rt.sessions[KEY].context.last_data == T0
    assert rt.sessions[bob].context.last_data is None


def test_note_data_scans_data_it_is_not_told_is_clean() -> None:
    clock = ManualClock(T0)
    buffer = io.BytesIO()
    writer = TraceWriter(buffer, flush_interval=None)
    rt = Runtime(clock, tracer=writer)
    recording(rt)
    assert rt.note_data("tencent", "mediaData", KEY, data={"bytes": 1, "token": "T0K"})
    writer.close()
    assert b"T0K" not in buffer.getvalue()
    assert b'"token":"***"' in buffer.getvalue()


@attrs.define
class BeatContext:
    last: float | None = None


class Beats(Machine):
    vendor = "quick-keys"
    states = ("on",)
    initial = "on"
    context = BeatContext
    transitions = (on("beat", "on", None, after="feed"),)
    data_only = {"beat": DataOnly("on", "last", "dog", 60)}

    def feed(self, ev: Event) -> None:
        self.ctx.last = self.now
        self.arm("dog", 60)


@event("quick-keys", "beat")
@attrs.frozen(kw_only=True)
class Beat(Event):
    pass


KEYED = {"quick-keys": Vendor(name="quick-keys", machines=(Beats,),
                             machine_for=lambda ev: Beats, session_key=lambda ev: ev.session,
                             idempotency_keys=lambda ev: (f"beat@{ev.t}",))}


def test_note_data_declines_a_vendor_whose_inputs_have_idempotency_keys() -> None:
    rt = Runtime(ManualClock(T0), vendors=KEYED)
    rt.dispatch(Beat(session="b1"))
    assert rt.sessions["b1"].context.last == T0
    assert not rt.note_data("quick-keys", "beat", "b1")  # its key must be kept: dispatch


def test_an_input_keeps_the_time_it_was_given_and_one_without_gets_the_handlings() -> None:
    rt = Runtime(ManualClock(T0))
    recording(rt)
    given, bare = MediaData(session=KEY, bytes=1, t=5.0), MediaData(session=KEY, bytes=1)
    rt.dispatch(given)
    rt.dispatch(bare)
    assert (given.t, bare.t) == (5.0, T0)


def test_note_data_at_a_time_moves_a_manual_clock_and_declines_any_other_clock() -> None:
    """The replay's fast path hands the line's time in: only a clock it can set takes it."""
    clock = ManualClock(T0)
    rt = Runtime(clock)
    recording(rt)
    assert rt.note_data("tencent", "mediaData", KEY, at=T0 + 30)
    assert clock.now() == T0 + 30
    assert rt.timers.get(KEY, "watchdog").due == T0 + 90

    class Wall:  # a clock that is not a ManualClock: its time is not the trace's to set
        def now(self) -> float:
            return T0

    other = Runtime(Wall())
    recording(other)
    assert not other.note_data("tencent", "mediaData", KEY, at=T0 + 30)
    assert other.sessions[KEY].context.last_data == T0  # the start's, nothing noted


def recording_slot() -> tuple[ManualClock, Runtime, DataSlot]:
    """A runtime with KEY recording, and the data slot of its heartbeat (the replay's
    fast path looks it up once per session)."""
    clock = ManualClock(T0)
    rt = Runtime(clock)
    recording(rt)
    slot = rt.data_slot("tencent", "mediaData", KEY)
    assert slot is not None
    return clock, rt, slot


def test_data_slot_is_looked_up_only_for_what_note_data_at_may_take() -> None:
    from recstate.stores import MemoryStore

    clock, rt, slot = recording_slot()
    assert slot[0] is rt.sessions[KEY]
    assert slot[1] == KEY
    assert slot[2:6] == ("recording", "last_data", "watchdog", 60.0)
    assert slot[6] is clock
    assert rt.data_slot("tencent", "mediaData", "no-such-session") is None
    assert rt.data_slot("tencent", "enterRoom", KEY) is None  # not data-only
    assert rt.data_slot("netease", "mediaData", KEY) is None  # not its vendor
    stored = Runtime(ManualClock(T0), store=MemoryStore())
    recording(stored)
    assert stored.data_slot("tencent", "mediaData", KEY) is None  # a store journals it


def test_note_data_at_notes_the_time_and_pushes_the_watchdog_back() -> None:
    clock, rt, slot = recording_slot()
    assert rt.note_data_at(slot, T0 + 30)
    assert clock.now() == T0 + 30
    assert rt.sessions[KEY].context.last_data == T0 + 30
    assert rt.timers.get(KEY, "watchdog").due == T0 + 90
    # no watchdog to push back (cancelled): armed anew, at the time plus its 60 s
    rt.timers.cancel(KEY, "watchdog")
    assert rt.note_data_at(slot, T0 + 40)
    assert rt.timers.get(KEY, "watchdog").due == T0 + 100


def test_note_data_at_declines_what_the_full_path_must_handle() -> None:
    clock, rt, slot = recording_slot()
    assert rt.note_data_at(slot, T0 + 30)
    assert not rt.note_data_at(slot, T0 + 20)  # time going back: the full path says so
    assert not rt.note_data_at(slot, T0 + 90)  # the watchdog is due by then: it fires first
    assert rt.sessions[KEY].context.last_data == T0 + 30
    assert clock.now() == T0 + 30
    session = rt.sessions.pop(KEY)  # the session the slot was made for is gone
    assert not rt.note_data_at(slot, T0 + 40)
    rt.sessions[KEY] = session
    session.state = "stopping"  # no longer the state the heartbeat is data-only in
    assert not rt.note_data_at(slot, T0 + 40)
    assert session.context.last_data == T0 + 30
