"""Tencent ILVB (互动直播) recorder: one user's recordings in one room.

Rules, from ``vendor-docs/002_1767472c9d961129.txt`` and ``004_b06b9b45c1601df1.txt``:

- ``requestMultiVideoRecorderStart(roomInfo, param)`` then ``onSuccess`` / ``onError(code)``;
  one recording per user at a time ("录制同一个用户同一时刻只能发起一路录制请求", 002 §2);
  a two-person room cannot record ("双人音视频房间不支持录制功能", 004 §4).
- A new MP4 every 90 minutes of recording ("录制每隔90分钟...生成一个MP4录制文件", 002 §6).
- 1 minute without data closes the recording, keeping what was recorded up to the client's
  exit ("1分钟没收到数据会自动关闭录制，后端会录制用户异常退出前音视频", 002 §6).
- ``requestMultiVideoRecorderStop(roomInfo)`` answers the file IDs (002 §3).
- Error codes with their advice (004 §5): retry the network ones, refuse the rest with the
  vendor's advice; a repeated stop (30000412/30000413) is not a failure, nor is "the room does
  not exist" (30000410/30000411) to a stop sent after the user left the room.
- A start that timed out (30000208, "请求录制服务器超时") may have reached the server: a retry
  answered 30000415 ("用户正在录制") means it did, and the recording runs; a stop during the
  wait for the retry goes to the server.
- Whatever ended the recording (a stop, the 60 s watchdog, an unanswered or failed stop), its
  files are looked up in VOD by the start's file name (002 §4 (3)), narrowed to the stop's file
  IDs when it returned some; VOD files are matched by ID (``FileId`` or ``BasicInfo.Vid``),
  else by name and time; files never found end ``lost`` after the search schedule.

Room membership is context, not state, so that the states are exactly the recording's:
``idle``, ``starting`` (and ``retry_wait``, a start waiting to be retried), ``recording``,
``stopping``, ``stopped``, ``failed``.
"""

from __future__ import annotations

import inspect
import math
import re
import typing
from datetime import UTC, datetime
from typing import Any

import attrs

from recstate.events import Event, converter
from recstate.events.tencent import (
    ALREADY_RECORDING,
    RETRYABLE,
    ROOM_GONE,
    SEARCH,
    START,
    START_TIMEOUT,
    STOP,
    STOP_ALREADY_DONE,
    VENDOR,
    RecordParam,
    RoomInfo,
    SearchMediaCommand,
    StartCommand,
    StopCommand,
    VodFile,
    session_key,
    vendor_error,
)
from recstate.machine import DataOnly, Machine, SessionView, ignore, on, state
from recstate.recording import RecordingFile
from recstate.sparse import Compact, Rare
from recstate.vendors import Vendor

__all__ = ["NO_IDS", "VENDOR", "TencentContext", "TencentMore", "TencentOptions",
           "TencentRecorder"]


NOT_RECORDING = ("idle", "stopped", "failed")
BUSY = ("starting", "retry_wait", "recording", "stopping")


@attrs.define
class TencentOptions:
    """``retry_delays``: seconds before each automatic retry of a retryable code (1, 2, 4:
    three more attempts); ``file_seconds``: the rollover period; ``no_data_timeout``: the
    server's watchdog; ``answer_timeout``: how long a start or stop may go unanswered (the
    answer is a client SDK callback: a crashed client never delivers it); ``search_delays``:
    when to ask VOD again for files it does not list yet; ``sub_app_id``: the VOD application
    the recordings are stored in (``SubAppId``; VOD accounts opened since 2023-12-25 must
    name it), sent with every ``SearchMedia`` command."""

    retry_delays: tuple[float, ...] = (1.0, 2.0, 4.0)
    file_seconds: float = 90 * 60.0
    no_data_timeout: float = 60.0
    answer_timeout: float = 30.0
    search_delays: tuple[float, ...] = (30.0, 60.0, 120.0, 300.0, 600.0)
    sub_app_id: int | None = attrs.field(default=None)

    @sub_app_id.validator
    def _check_sub_app_id(self, attribute: Any, value: int | None) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value <= 0):
            raise ValueError(f"sub_app_id is a VOD application ID, a positive integer "
                             f"(SubAppId), got {value!r}")


class _NoIds(list[str]):
    """The empty list of file IDs every context starts with, shared: a recording in
    progress searches nothing yet, and three empty lists were 168 bytes of every session
    (issue 12). It reads, compares, copies and unstructures as ``[]``; the machine replaces
    it rather than adding to it, and so must anyone else: adding to it in place raises
    (``+=`` gives a new list)."""

    __slots__ = ()

    def _refuse(self, *args: Any) -> None:
        raise TypeError("this is the shared empty list of a TencentContext field, not "
                        "one of its own: assign a new list instead (ctx.field = [...])")

    append = extend = insert = __setitem__ = _refuse

    def __iadd__(self, other: Any) -> list[str]:  # type: ignore[override, misc]
        return list(other)

    def __copy__(self) -> _NoIds:
        return self

    def __deepcopy__(self, memo: Any) -> _NoIds:
        return self

    def __reduce__(self) -> str:
        return "NO_IDS"


#: The shared empty value of TencentContext's lists (:class:`_NoIds`).
NO_IDS: list[str] = _NoIds()


@attrs.define(slots=True, weakref_slot=False)
class TencentMore:
    """The fields of a :class:`TencentContext` that a recording under way leaves at their
    defaults: the room's type (``pair`` rooms record nothing), the retry and timeout
    bookkeeping and the VOD search. A context makes one the first time one of them is set
    to anything else (issue 12: eleven slots fewer in every idle session, 224 -> 136
    bytes); it reads, compares, copies and snapshots as the context's own fields, as
    before."""

    roomType: str = "multi"
    retries: int = 0
    stop_pending: bool = False
    start_unanswered: bool = False
    timed_out_at: float | None = None
    stop_sent: float | None = None
    search_prefix: str = ""
    search_ids: list[str] = NO_IDS
    search_files: list[str] = NO_IDS
    search_named: bool = False
    search_after: float | None = None
    searches: int = 0


@attrs.define(slots=True, weakref_slot=False, init=False, eq=False, repr=False)
class TencentContext:
    """One user in one room: the room, the recording under way, and its files. Its lists
    start as the shared empty :data:`NO_IDS`: replace them, do not add to them in place.

    The fields a recording under way leaves at their defaults (the room's type, the retry
    and timeout bookkeeping, the VOD search) are kept in a :class:`TencentMore` made when
    one of them is first set to something else (``_more``, None until then); the start's
    ``param`` is kept as its file name alone (``_param``) when every other field of it is
    at its default, as almost every start leaves them (:class:`~recstate.sparse.Compact`).
    They read and write as the others do, and the context compares, prints, copies and
    snapshots with all its fields in their order, as the attrs class it was."""

    relationId: int | None
    roomId: int | None
    user: str | None
    in_room: bool
    room: RoomInfo | None
    _param: RecordParam | str | None
    started_at: float | None
    attempt_sent: float | None
    last_data: float | None
    file_seq: int
    open_file: str | None
    recording_files: list[str]
    _more: TencentMore | None

    #: The start's parameters: in the slot as the file name alone when that is all that
    #: differs from the defaults (``RecordParam(fileName=...)``, a new one each read).
    param = Compact("_param", RecordParam, "fileName")
    roomType = Rare("roomType", "multi", TencentMore)
    retries = Rare("retries", 0, TencentMore)
    stop_pending = Rare("stop_pending", False, TencentMore)
    start_unanswered = Rare("start_unanswered", False, TencentMore)
    timed_out_at = Rare[float | None]("timed_out_at", None, TencentMore)
    stop_sent = Rare[float | None]("stop_sent", None, TencentMore)
    search_prefix = Rare("search_prefix", "", TencentMore)
    search_ids = Rare[list[str]]("search_ids", NO_IDS, TencentMore)
    search_files = Rare[list[str]]("search_files", NO_IDS, TencentMore)
    search_named = Rare("search_named", False, TencentMore)
    search_after = Rare[float | None]("search_after", None, TencentMore)
    searches = Rare("searches", 0, TencentMore)

    def __init__(self, relationId: int | None = None, roomId: int | None = None,  # noqa: N803
                 user: str | None = None, roomType: str = "multi", in_room: bool = False,  # noqa: N803
                 room: RoomInfo | None = None, param: RecordParam | None = None,
                 retries: int = 0, stop_pending: bool = False, start_unanswered: bool = False,
                 started_at: float | None = None, attempt_sent: float | None = None,
                 timed_out_at: float | None = None, stop_sent: float | None = None,
                 last_data: float | None = None, file_seq: int = 0,
                 open_file: str | None = None, search_prefix: str = "",
                 search_ids: list[str] = NO_IDS, search_files: list[str] = NO_IDS,
                 search_named: bool = False, search_after: float | None = None,
                 searches: int = 0, recording_files: list[str] = NO_IDS) -> None:
        self.relationId = relationId
        self.roomId = roomId
        self.user = user
        self.in_room = in_room
        self.room = room
        self.param = param
        self.started_at = started_at
        self.attempt_sent = attempt_sent
        self.last_data = last_data
        self.file_seq = file_seq
        self.open_file = open_file
        self.recording_files = recording_files
        self._more = None
        self.roomType = roomType
        self.retries = retries
        self.stop_pending = stop_pending
        self.start_unanswered = start_unanswered
        self.timed_out_at = timed_out_at
        self.stop_sent = stop_sent
        self.search_prefix = search_prefix
        self.search_ids = search_ids
        self.search_files = search_files
        self.search_named = search_named
        self.search_after = search_after
        self.searches = searches

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _FIELDS)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = None  # type: ignore[assignment]  # mutable, as the attrs class was

    def __repr__(self) -> str:
        return "TencentContext(" + ", ".join(
            f"{name}={getattr(self, name)!r}" for name in _FIELDS) + ")"


#: Every field of a TencentContext, in its order (the constructor's, the snapshot's, the
#: repr's and equality's).
_FIELDS = tuple(inspect.signature(TencentContext.__init__).parameters)[1:]


def _snapshot_class() -> type:
    """What a snapshot of a :class:`TencentContext` holds, each field in its place, with
    the constructor's types and defaults: the class cattrs structures one with (the
    context's own constructor then takes them), as it structured the flat attrs class the
    context was (named as the context, so that its errors name it)."""
    hints = typing.get_type_hints(TencentContext.__init__)
    defaults = inspect.signature(TencentContext.__init__).parameters
    return attrs.make_class("TencentContext", {
        name: attrs.field(type=hints[name], default=defaults[name].default)
        for name in _FIELDS}, slots=True)


_Snapshot = _snapshot_class()
_DEFAULTS = TencentMore()


def _structure_context(data: Any, _: type) -> TencentContext:
    """A context from its snapshot; an empty list is the shared :data:`NO_IDS` (so that a
    restored idle session makes no :class:`TencentMore` and no list of its own)."""
    flat: Any = converter.structure(data, _Snapshot)
    return TencentContext(*(_shared(getattr(flat, name)) for name in _FIELDS))


def _shared(value: Any) -> Any:
    return NO_IDS if type(value) is list and not value else value


def _unstructure_context(ctx: TencentContext) -> dict[str, Any]:
    """The snapshot's dict, keys in the fields' order, as cattrs gave it for the flat attrs
    class (``session.py`` takes a context class's own hook as it is)."""
    room, param = ctx.room, ctx.param
    more = ctx._more or _DEFAULTS
    return {"relationId": ctx.relationId, "roomId": ctx.roomId, "user": ctx.user,
            "roomType": more.roomType, "in_room": ctx.in_room,
            "room": None if room is None else _unstructure_room(room),
            "param": None if param is None else _unstructure_param(param),
            "retries": more.retries, "stop_pending": more.stop_pending,
            "start_unanswered": more.start_unanswered, "started_at": ctx.started_at,
            "attempt_sent": ctx.attempt_sent, "timed_out_at": more.timed_out_at,
            "stop_sent": more.stop_sent, "last_data": ctx.last_data,
            "file_seq": ctx.file_seq, "open_file": ctx.open_file,
            "search_prefix": more.search_prefix, "search_ids": list(more.search_ids),
            "search_files": list(more.search_files), "search_named": more.search_named,
            "search_after": more.search_after, "searches": more.searches,
            "recording_files": list(ctx.recording_files)}


_unstructure_room = converter.get_unstructure_hook(RoomInfo)
_unstructure_param = converter.get_unstructure_hook(RecordParam)
converter.register_structure_hook(TencentContext, _structure_context)
converter.register_unstructure_hook(TencentContext, _unstructure_context)


class TencentRecorder(Machine):
    """A user's recordings in one ILVB room (002 and 004; rules in the module docstring)."""

    vendor = VENDOR
    machine_name = "recorder"
    context = TencentContext
    options = TencentOptions
    initial = "idle"
    states = (
        "idle",
        state("starting", timers={"answer": "answer_timeout"}),
        "retry_wait",
        state("recording", timers={"watchdog": "no_data_timeout"}),
        state("stopping", timers={"answer": "answer_timeout"}),
        state("stopped", on_enter="release_user"),
        state("failed", on_enter="release_user"),
    )
    #: A heartbeat in ``recording`` only notes the time and resets the watchdog (``feed``).
    data_only = {"mediaData": DataOnly("recording", "last_data", "watchdog", "no_data_timeout")}
    recording_states = {"idle": "idle", "starting": "starting", "retry_wait": "starting",
                        "recording": "recording", "stopping": "stopping",
                        "stopped": "stopped", "failed": "failed"}
    transitions = (
        # The room.
        on("enterRoom", "*", None, after="enter_room"),
        on("exitRoom", "recording", "stopping", after=["leave_room", "send_stop"]),
        on("exitRoom", "starting", None, after=["leave_room", "defer_stop"]),
        on("exitRoom", "retry_wait", "stopping", conditions="timed_out",
           after=["leave_room", "stop_after_timeout"]),
        on("exitRoom", "retry_wait", "stopped", after=["leave_room", "abandon_start"]),
        on("exitRoom", ("idle", "stopped", "failed", "stopping"), None, after="leave_room"),
        # Start: refused locally, first matching rule wins, no command sent.
        on(START, NOT_RECORDING, None, unless="in_room", after="refuse_not_in_room"),
        on(START, NOT_RECORDING, None, conditions="pair_room", after="refuse_pair_room"),
        on(START, NOT_RECORDING, None, conditions="no_file_name", after="refuse_file_name"),
        on(START, NOT_RECORDING, None, conditions="bad_data_type", after="refuse_data_type"),
        on(START, NOT_RECORDING, None, conditions="recording_elsewhere",
           after="refuse_elsewhere"),
        on(START, NOT_RECORDING, "starting", after="send_start"),
        on(START, BUSY, None, after="refuse_duplicate"),
        # Start's outcome.
        on(f"{START}:ok", "starting", "stopping", conditions="stop_pending",
           after=["begin_recording", "send_stop"]),
        on(f"{START}:ok", "starting", "recording", after="begin_recording"),
        on(f"{START}:error", "starting", "stopping", conditions=["got_through", "stop_pending"],
           after=["begin_running", "send_stop"]),
        on(f"{START}:error", "starting", "recording", conditions="got_through",
           after="begin_running"),
        on(f"{START}:error", "starting", "stopping", conditions=["timeout", "stop_pending"],
           after=["note_timeout", "stop_after_timeout"]),
        on(f"{START}:error", "starting", "retry_wait", conditions="retryable",
           unless="stop_pending", after="schedule_start_retry"),
        on(f"{START}:error", "starting", "failed", after="start_failed"),
        on("retry", "retry_wait", "starting", after="resend_start"),
        on("answer", "starting", "stopping", after=["start_unanswered", "send_stop"]),
        # Recording.
        on("mediaData", "recording", None, after="feed"),
        ignore("mediaData", ("idle", "starting", "retry_wait", "stopping", "stopped",
                             "failed")),
        on("rollover", "recording", None, after="roll_file"),
        on("watchdog", "recording", "stopped", after="client_gone"),
        # Stop.
        on(STOP, "recording", "stopping", after="send_stop"),
        on(STOP, "starting", None, after="defer_stop"),
        on(STOP, "retry_wait", "stopping", conditions="timed_out", after="stop_after_timeout"),
        on(STOP, "retry_wait", "stopped", after="abandon_start"),
        on(STOP, "stopping", None, after="already_stopping"),
        on(STOP, NOT_RECORDING, None, after="nothing_to_stop"),
        on(f"{STOP}:ok", "stopping", "stopped", after="finish_stop"),
        on(f"{STOP}:error", "stopping", "stopped", conditions="already_stopped",
           after="stopped_already"),
        on(f"{STOP}:error", "stopping", "stopped", conditions="room_gone",
           unless="in_room", after="stopped_already"),
        on(f"{STOP}:error", "stopping", None, conditions="retryable", after="schedule_retry"),
        on(f"{STOP}:error", "stopping", "failed", after="stop_failed"),
        on("retry", "stopping", None, after="resend_stop"),
        on("answer", "stopping", "stopped", after="stop_unanswered"),
        # After the recording: the files' addresses from VOD (002 §4).
        on(f"{SEARCH}:ok", "*", None, after="files_found"),
        on(f"{SEARCH}:error", "*", None, after="search_failed"),
        on("search", "*", None, after="_search"),
    )

    ctx: TencentContext
    opts: TencentOptions

    # ---- guards ------------------------------------------------------------------------------
    def in_room(self, ev: Event) -> bool:
        return self.ctx.in_room

    def pair_room(self, ev: Event) -> bool:
        return self.ctx.roomType == "pair"

    def no_file_name(self, ev: Any) -> bool:
        return not ev.param.fileName

    def bad_data_type(self, ev: Any) -> bool:
        return ev.param.recordDataType not in (0, 1)

    def recording_elsewhere(self, ev: Event) -> bool:
        """One recording per user at a time (002 §2), across rooms: the session key holds
        the room, so the runtime-wide index of busy users answers."""
        owner = self._busy_users().get(self.ctx.user or "")
        return owner is not None and owner != self.session.key

    def _busy_users(self) -> dict[str, str]:
        users: dict[str, str] = self.shared.setdefault("busy_users", {})
        return users

    def release_user(self, ev: Event) -> None:
        users = self._busy_users()
        if self.ctx.user is not None and users.get(self.ctx.user) == self.session.key:
            del users[self.ctx.user]

    def restored(self, session: SessionView) -> None:
        if session.state in BUSY and session.context.user:
            self._busy_users()[session.context.user] = session.key

    def stop_pending(self, ev: Event) -> bool:
        return self.ctx.stop_pending

    def retryable(self, ev: Any) -> bool:
        return ev.code in RETRYABLE and self.ctx.retries < len(self.opts.retry_delays)

    def already_stopped(self, ev: Any) -> bool:
        return ev.code in STOP_ALREADY_DONE

    def room_gone(self, ev: Any) -> bool:
        return ev.code in ROOM_GONE

    def timeout(self, ev: Any) -> bool:
        return bool(ev.code == START_TIMEOUT)

    def timed_out(self, ev: Event) -> bool:
        """An attempt of this start timed out (30000208): it may have started recording."""
        return self.ctx.timed_out_at is not None

    def got_through(self, ev: Any) -> bool:
        """30000415 ("用户正在录制") to a retry after a timeout: the timed-out attempt started
        the recording (the user is recording nowhere else: that is refused locally)."""
        return bool(ev.code == ALREADY_RECORDING and self.ctx.timed_out_at is not None)

    # ---- the room ------------------------------------------------------------------------------
    def enter_room(self, ev: Any) -> None:
        ctx = self.ctx
        ctx.relationId, ctx.roomId, ctx.user = ev.relationId, ev.roomId, ev.user
        ctx.roomType = ev.roomType
        ctx.in_room = True

    def leave_room(self, ev: Event) -> None:
        self.ctx.in_room = False

    # ---- refusals ---------------------------------------------------------------------------
    def refuse_not_in_room(self, ev: Event) -> None:
        self.notice("not-in-room", "start refused: the user is not in the room; "
                    "enterRoom first (002 §2.4: 未进入房间)")

    def refuse_pair_room(self, ev: Event) -> None:
        self.notice("pair-room", "start refused: a two-person room cannot record "
                    "(004 §4: 双人音视频房间不支持录制功能); record in a multi-person room")

    def refuse_file_name(self, ev: Event) -> None:
        self.notice(30000002, f"start refused: {vendor_error(30000002)}")

    def refuse_data_type(self, ev: Any) -> None:
        self.notice(30000004, f"start refused: recordDataType {ev.param.recordDataType} is "
                    f"neither 0 (camera) nor 1 (aux stream): {vendor_error(30000004)}")

    def refuse_elsewhere(self, ev: Event) -> None:
        owner = self._busy_users()[self.ctx.user or ""]
        self.notice(30000415, f"start refused: one recording per user at a time, and "
                    f"{self.ctx.user} is already recording in session {owner}: "
                    f"{vendor_error(30000415)}")

    def refuse_duplicate(self, ev: Event) -> None:
        self.notice(30000415, f"start refused: one recording per user at a time, and this "
                    f"user's is {self.state}: {vendor_error(30000415)}")

    # ---- start ---------------------------------------------------------------------------------
    def send_start(self, ev: Any) -> None:
        ctx = self.ctx
        ctx.room, ctx.param = ev.roomInfo, ev.param
        ctx.retries = 0
        ctx.stop_pending = False
        ctx.start_unanswered = False
        ctx.timed_out_at = None
        ctx.started_at = ctx.attempt_sent = self.now
        ctx.recording_files = NO_IDS
        if ctx.user is not None:
            self._busy_users()[ctx.user] = self.session.key
        self.send(StartCommand(roomInfo=ev.roomInfo, param=ev.param))

    def note_timeout(self, ev: Any) -> None:
        if self.ctx.timed_out_at is None:
            self.ctx.timed_out_at = self.ctx.attempt_sent

    def schedule_start_retry(self, ev: Any) -> None:
        if ev.code == START_TIMEOUT:
            self.note_timeout(ev)
        self.schedule_retry(ev)

    def schedule_retry(self, ev: Any) -> None:
        ctx = self.ctx
        delay = self.opts.retry_delays[ctx.retries]
        ctx.retries += 1
        self.notice(ev.code, f"{vendor_error(ev.code, ev.desc)}; retry {ctx.retries} of "
                    f"{len(self.opts.retry_delays)} in {delay:g} s", level="warning")
        self.arm("retry", delay)

    def resend_start(self, ev: Event) -> None:
        ctx = self.ctx
        param = ctx.param
        assert ctx.room is not None
        assert param is not None
        ctx.attempt_sent = self.now
        self.send(StartCommand(roomInfo=ctx.room, param=param))

    def start_failed(self, ev: Any) -> None:
        tried = f" after {self.ctx.retries} retries" if self.ctx.retries else ""
        self.notice(ev.code, f"start failed{tried}: {vendor_error(ev.code, ev.desc)}")
        self.ctx.stop_pending = False

    def defer_stop(self, ev: Event) -> None:
        if not self.ctx.stop_pending:
            self.ctx.stop_pending = True
            self.notice("stop-deferred", "stop asked while starting: it is sent once the "
                        "start has succeeded", level="info")

    def stop_after_timeout(self, ev: Event) -> None:
        """A stop while a timed-out start may have got through: the server is asked, and
        its answer tells (file IDs: it recorded; 30000412/30000413: it never started)."""
        self.cancel("retry")
        self.ctx.start_unanswered = True
        self.notice("stop-after-timeout", f"stop asked after a start timed out "
                    f"({START_TIMEOUT}): the timed-out attempt may have started the recording, "
                    f"so {STOP} is sent", level="info")
        self.send_stop(ev)

    def abandon_start(self, ev: Event) -> None:
        self.cancel("retry")
        self.notice("start-abandoned", "stopped while waiting to retry the start: nothing "
                    "was recorded", level="info")

    # ---- recording ---------------------------------------------------------------------------
    def begin_recording(self, ev: Event, start: float | None = None) -> None:
        ctx = self.ctx
        ctx.last_data = self.now
        ctx.retries = 0
        at = self.now if start is None else start
        self._open_next(at)
        seconds = self.opts.file_seconds
        self.arm_at("rollover", at + seconds, every=seconds)

    def begin_running(self, ev: Any) -> None:
        """30000415 after a timeout: the recording runs since the timed-out attempt, whose
        sending is the earliest it can have started (its files and rollovers count from
        there)."""
        ctx = self.ctx
        since = ctx.timed_out_at if ctx.timed_out_at is not None else self.now
        self.notice(ALREADY_RECORDING, f"the retried start was answered "
                    f"{vendor_error(ev.code, ev.desc)}: after the timeout ({START_TIMEOUT}) of "
                    f"the attempt sent at {_iso(since)}, this means that attempt got through "
                    "and the recording runs; it is recorded from then, and the user stays busy "
                    "until it is stopped", level="warning")
        self.begin_recording(ev, start=since)

    def _open_next(self, start: float | None = None) -> None:
        ctx = self.ctx
        ctx.file_seq += 1
        param = ctx.param  # (one read: each makes a RecordParam of a compact one)
        assert param is not None
        f = self.open_file(id=f"{param.fileName}#{ctx.file_seq}",
                           kind="screen" if param.recordDataType == 1 else "video",
                           format="mp4", participant=ctx.user, start=start)
        ctx.open_file = f.id
        # (a list of its exact size: [*a, x] would leave room for three more)
        ctx.recording_files = ctx.recording_files + [f.id]  # noqa: RUF005

    def _current(self) -> RecordingFile | None:
        wanted = self.ctx.open_file
        return next((f for f in reversed(self.files) if f.id == wanted), None)

    def feed(self, ev: Event) -> None:
        self.ctx.last_data = self.now
        self.arm("watchdog", self.opts.no_data_timeout)

    def roll_file(self, ev: Event) -> None:
        current = self._current()
        if current is not None:
            self.close_file(current)
        self._open_next()

    def client_gone(self, ev: Event) -> None:
        """The server closed the recording at the last data (002 §6 (2)): the files end
        there. A rollover between the last data and the watchdog (data stopped less than 60 s
        before a 90-minute boundary) closed a file after the last data and opened one that
        holds nothing: the first is cut back to the last data, the second is lost."""
        ctx = self.ctx
        last = ctx.last_data if ctx.last_data is not None else self.now
        ctx.stop_sent = last
        kept = self._close_recording()
        self.notice("no-data", f"no data for {self.opts.no_data_timeout:g} s since "
                    f"{_iso(last)}: the client stopped sending, so the recording was closed "
                    "with what was recorded up to the last data (002 §6: "
                    "1分钟没收到数据会自动关闭录制)")
        self._begin_search((), [f.id for f in kept])

    # ---- stop ----------------------------------------------------------------------------------
    def send_stop(self, ev: Event) -> None:
        """The server stops writing when it takes the request: files end at this instant."""
        self.ctx.stop_pending = False
        self.ctx.stop_sent = self.now
        self.ctx.retries = 0
        self.cancel("rollover")
        assert self.ctx.room is not None
        self.send(StopCommand(roomInfo=self.ctx.room))

    def resend_stop(self, ev: Event) -> None:
        assert self.ctx.room is not None
        self.ctx.stop_sent = self.now  # the attempt that succeeds is the one that stops
        self.send(StopCommand(roomInfo=self.ctx.room))
        self.arm("answer", self.opts.answer_timeout)

    def start_unanswered(self, ev: Event) -> None:
        """A dropped callback leaves the server's side unknown: ask it to stop. A server that
        never started answers 30000412/30000413 (already stopped), one that did returns its
        file IDs."""
        self.ctx.start_unanswered = True
        self.notice("no-answer", f"no answer to {START} in {self.opts.answer_timeout:g} s "
                    "(a dropped callback or a crashed client): a stop is sent so that the "
                    "server does not go on recording unseen")

    def stop_unanswered(self, ev: Event) -> None:
        kept = self._close_recording()
        self.notice("no-answer", f"no answer to {STOP} in {self.opts.answer_timeout:g} s: "
                    "the recording is taken as stopped when the stop was sent (the server's "
                    "60 s watchdog closes it in any case); its file IDs are unknown, so its "
                    "files are looked up in VOD by the file name")
        self._begin_search((), [f.id for f in kept])

    def already_stopping(self, ev: Event) -> None:
        self.notice("already-stopping", "stop asked again while stopping: nothing to do",
                    level="info")

    def nothing_to_stop(self, ev: Event) -> None:
        self.notice("not-recording", f"stop asked, but nothing is recording (the recording "
                    f"is {self.session.recording}): not a failure", level="warning")

    def _close_recording(self) -> list[RecordingFile]:
        self.cancel("rollover")
        ids = self.ctx.recording_files
        files = [f for f in self.files if f.id in ids and f.status != "lost"]
        end = self.ctx.stop_sent if self.ctx.stop_sent is not None else self.now
        kept = []
        for i, f in enumerate(files):
            if i > 0 and f.start is not None and f.start >= end:
                # Opened by a rollover at or after the instant the recording ended: it holds
                # nothing, and the vendor makes no file for it.
                self.update_file(f, "lost", end=f.start, status="lost")
                continue
            if f.status == "open":
                self.close_file(f, end=max(end, f.start or end))
            elif f.end is not None and f.end > end:
                # Closed by a rollover after the recording ended (at the last data).
                self.update_file(f, "closed", end=max(end, f.start or end))
            kept.append(f)
        self.ctx.open_file = None
        self.ctx.stop_sent = None
        return kept

    def finish_stop(self, ev: Any) -> None:
        end = self.ctx.stop_sent if self.ctx.stop_sent is not None else self.now
        files = self._close_recording()
        file_ids = list(dict.fromkeys(ev.fileIds))
        if self.ctx.start_unanswered and file_ids and not files:
            # The start's answer was lost (or it timed out) but the server recorded: keep its
            # files, whose start is unknown, so that VOD can fill them in.
            for file_id in file_ids:
                self.open_file(id=file_id, kind="video", format="mp4",
                               participant=self.ctx.user, end=end, status="closed")
            self.ctx.recording_files = list(file_ids)
            self.notice("start-answer-lost", f"the start's outcome was unknown, but the server "
                        f"recorded {len(file_ids)} file(s): kept, with an unknown start",
                        level="warning")
        elif len(file_ids) == len(files):
            for f, file_id in zip(files, file_ids, strict=True):
                self.update_file(f, "updated", id=file_id)
            self.ctx.recording_files = list(file_ids)
        else:
            # 002 §3 promises file IDs, not one per 90-minute file: no violation. VOD's
            # answer is matched to the local files by name and time instead.
            self.ctx.recording_files = [f.id for f in files]
            self.notice("file-ids", f"stop returned {len(file_ids)} file ID(s) {file_ids} for "
                        f"{len(files)} local file(s) {[f.id for f in files]}: they are matched "
                        "to VOD's files by name and time", level="info")
        self._begin_search(file_ids, self.ctx.recording_files)

    # ---- the files in VOD (002 §4) -------------------------------------------------------------
    def _begin_search(self, file_ids: Any, wanted: list[str]) -> None:
        """Look the recording's files ``wanted`` (closed, ids as they are after this
        handling) up in VOD by the start's file name (002 §4 (3)), narrowed to the stop's
        IDs when there are some."""
        ctx = self.ctx
        wanted = list(wanted)
        param = ctx.param
        if param is None or (not wanted and not file_ids):
            return
        ctx.search_prefix = param.fileName
        ctx.search_ids = list(file_ids)
        ctx.search_named = bool(file_ids)
        ctx.search_files = wanted
        ctx.search_after = ctx.started_at
        ctx.searches = 0
        self._search()

    def _search(self, ev: Event | None = None) -> None:
        self.send(SearchMediaCommand(namePrefix=self.ctx.search_prefix,
                                     fileIds=tuple(self.ctx.search_ids),
                                     subAppId=self.opts.sub_app_id))

    def files_found(self, ev: Any) -> None:
        """Fill in url and size of the files VOD knows: they become ready.

        A VOD file is one of ours by ID (its ``FileId`` or its ``BasicInfo.Vid`` is a
        file's ID, or one of the stop's IDs), or else, when the stop gave no IDs, by name
        and time: named with the start's file name and created no earlier than the start
        was sent. One not matched to a file by ID goes to the local file still without an
        address whose end is closest to its ``CreateTime``, and takes its ``FileId``. A file
        the stop named that no local file is left for is kept with an unknown start. VOD may
        list a file some time after the recording closed: what is still missing is searched
        for again."""
        ctx = self.ctx
        mine = {f.id: f for f in self.files if f.id in ctx.search_files}
        by_id = {f.id: f for f in self.files}
        claimed: set[str] = set()
        rest: list[VodFile] = []
        for found in _created_order(ev.files):
            f = by_id.get(found.fileId) or (by_id.get(found.vid) if found.vid else None)
            if f is None:
                rest.append(found)
                continue
            claimed.add(f.id)
            self._found(f, found, rename=False)
        ids = set(ctx.search_ids)
        after = math.floor(ctx.search_after) if ctx.search_after is not None else None
        for found in rest:
            named = found.fileId in ids or (found.vid != "" and found.vid in ids)
            if not named and (ctx.search_named
                              or not found.name.startswith(ctx.search_prefix)):
                continue
            created = _epoch(found.createTime)
            if not named and created is not None and after is not None and created < after:
                continue  # an earlier recording under the same file name
            free = [f for f in mine.values() if f.id not in claimed and f.status == "closed"
                    and (created is None or f.start is None or f.start <= created + 1)]
            if free:
                # the file whose end is nearest the VOD file's creation (one whose end is
                # unknown after any whose end is known), then the earliest started
                f = (min(free, key=lambda f: f.start or 0.0) if created is None
                     else min(free, key=lambda f: (abs(created - f.end) if f.end is not None
                                                   else math.inf, f.start or 0.0)))
                claimed.add(f.id)
                self._found(f, found, rename=True)
            elif named:
                f = self.open_file(id=found.fileId, kind="video", format="mp4",
                                   participant=ctx.user, status="closed")
                self._found(f, found, rename=False)  # opened as found.fileId: nothing to rename
                ctx.search_files = [*ctx.search_files, f.id]
            for i in (found.fileId, found.vid):
                ids.discard(i)
        ctx.search_ids = [i for i in ctx.search_ids if i in ids]
        self._search_later(None, done=claimed)

    def _found(self, f: RecordingFile, found: VodFile, *, rename: bool) -> None:
        ctx = self.ctx
        changes: dict[str, Any] = {"url": found.url, "size": found.size, "status": "ready"}
        if rename and f.id != found.fileId:
            changes["id"] = found.fileId
            ctx.search_files = [found.fileId if i == f.id else i for i in ctx.search_files]
            ctx.recording_files = [found.fileId if i == f.id else i
                                   for i in ctx.recording_files]
        for i in (found.fileId, found.vid, f.id):
            if i in ctx.search_ids:
                ctx.search_ids.remove(i)
        if f.status in ("closed", "open") or f.url != found.url or "id" in changes:
            self.update_file(f, "ready", **changes)

    def _unfound(self, done: set[str]) -> list[RecordingFile]:
        """The files of the current search that VOD has not given an address yet (``done``:
        found in this handling, whose change is not applied yet)."""
        wanted = set(self.ctx.search_files)
        return [f for f in self.files
                if f.id in wanted and f.id not in done and f.status == "closed"]

    def _missing(self, unfound: list[RecordingFile]) -> str:
        parts = []
        if self.ctx.search_ids:
            parts.append(f"the file IDs {self.ctx.search_ids}")
        rest = [f.id for f in unfound if f.id not in self.ctx.search_ids]
        if rest:
            parts.append(f"the files {rest}")
        return " and ".join(parts) or "nothing"

    def search_failed(self, ev: Any) -> None:
        self._search_later(f"VOD SearchMedia failed: {ev.code}: {ev.desc}", code=ev.code)

    def _search_later(self, why: str | None, code: str = "vod-search",
                      done: set[str] | None = None) -> None:
        ctx = self.ctx
        unfound = self._unfound(done or set())
        if why is None:
            why = f"VOD does not list {self._missing(unfound)} yet"
        if ctx.search_named and not ctx.search_ids and unfound:
            # Every file the stop named is found; these local files have none of their own.
            self.notice("file-ids", f"VOD lists every file the stop named, and none is left "
                        f"for the local files {[f.id for f in unfound]}: the server made fewer "
                        "files than 90-minute periods; they are lost to this session",
                        level="warning")
            for f in unfound:
                self.update_file(f, "lost", status="lost")
            ctx.search_files = NO_IDS
            return
        if not ctx.search_ids and not unfound:
            return
        delays = self.opts.search_delays
        if ctx.searches < len(delays):
            delay = delays[ctx.searches]
            ctx.searches += 1
            self.notice(code, f"{why}; searching again in {delay:g} s "
                        f"({ctx.searches} of {len(delays)})", level="info")
            self.arm("search", delay)
            return
        self.notice(code, f"{why} after {len(delays)} more searches: VOD never listed "
                    f"{self._missing(unfound)} under the file name {ctx.search_prefix!r}; they are "
                    "lost to this session (look them up in VOD by file name and ID)",
                    level="warning")
        for f in unfound:
            self.update_file(f, "lost", status="lost")
        ctx.search_ids = NO_IDS
        ctx.search_files = NO_IDS

    def stopped_already(self, ev: Any) -> None:
        """Already stopped: if data had stopped for longer than the watchdog, the server
        closed the recording at the last data, and so do the files."""
        ctx = self.ctx
        if ctx.last_data is not None and ctx.last_data + self.opts.no_data_timeout <= self.now:
            ctx.stop_sent = ctx.last_data
        kept = self._close_recording()
        gone = " after the user left the room" if ev.code in ROOM_GONE else ""
        self.notice(ev.code, f"the recording was already stopped{gone}: "
                    f"{vendor_error(ev.code, ev.desc)}: not a failure", level="warning")
        self._begin_search((), [f.id for f in kept])

    def stop_failed(self, ev: Any) -> None:
        kept = self._close_recording()
        self.notice(ev.code, f"stop failed: {vendor_error(ev.code, ev.desc)}; the files the "
                    "server kept are looked up in VOD by the file name")
        self._begin_search((), [f.id for f in kept])


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


def _epoch(text: str) -> float | None:
    """VOD's ``CreateTime`` (ISO 8601, "2020-12-11T07:25:52Z") in epoch seconds; None when
    absent or unreadable (the file is then matched by name alone)."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _natural(name: str) -> tuple[Any, ...]:
    """``rec_2`` before ``rec_10``."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def _created_order(files: Any) -> list[VodFile]:
    """VOD's files by creation time, then name (natural order), then as listed."""
    def key(f: VodFile) -> tuple[float, tuple[Any, ...]]:
        created = _epoch(f.createTime)
        return (created if created is not None else math.inf, _natural(f.name))
    return sorted(files, key=key)


def _machine_for(ev: Event) -> type[Machine]:
    return TencentRecorder


def user_of(key: str) -> str:
    """Partition by user: one recording per user at a time (002 §2) is checked in the
    runtime-wide busy-users index, so a user's sessions (one per room) must meet in one
    worker."""
    return key.split(":", 2)[-1]


def _explain(code: Any) -> Any:
    """The 004 §5 meaning and advice of a code (None for the machine's own words)."""
    return vendor_error(code) if isinstance(code, int) else None


VENDOR_SPEC = Vendor(name=VENDOR, machines=(TencentRecorder,), machine_for=_machine_for,
                     session_key=session_key, partition_key=user_of, explain=_explain,
                     doc="Tencent ILVB recorder (002, 004): session {relationId}:{roomId}:{user}")
