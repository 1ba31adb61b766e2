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
  vendor's advice; a repeated stop (30000412/30000413) is not a failure.

Room membership is context, not state, so that the states are exactly the recording's:
``idle``, ``starting`` (and ``retry_wait``, a start waiting to be retried), ``recording``,
``stopping``, ``stopped``, ``failed``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs

from recstate.events import Event
from recstate.events.tencent import (
    RETRYABLE,
    SEARCH,
    START,
    STOP,
    STOP_ALREADY_DONE,
    VENDOR,
    RecordParam,
    RoomInfo,
    SearchMediaCommand,
    StartCommand,
    StopCommand,
    session_key,
    vendor_error,
)
from recstate.machine import Machine, SessionView, ignore, on, state
from recstate.recording import RecordingFile
from recstate.vendors import Vendor

__all__ = ["VENDOR", "TencentContext", "TencentOptions", "TencentRecorder"]

NOT_RECORDING = ("idle", "stopped", "failed")
BUSY = ("starting", "retry_wait", "recording", "stopping")


@attrs.define
class TencentOptions:
    """``retry_delays``: seconds before each automatic retry of a retryable code (1, 2, 4:
    three more attempts); ``file_seconds``: the rollover period; ``no_data_timeout``: the
    server's watchdog; ``answer_timeout``: how long a start or stop may go unanswered (the
    answer is a client SDK callback: a crashed client never delivers it); ``search_delays``:
    when to ask VOD again for files it does not list yet."""

    retry_delays: tuple[float, ...] = (1.0, 2.0, 4.0)
    file_seconds: float = 90 * 60.0
    no_data_timeout: float = 60.0
    answer_timeout: float = 30.0
    search_delays: tuple[float, ...] = (30.0, 60.0, 120.0, 300.0, 600.0)


@attrs.define(slots=True)
class TencentContext:
    """One user in one room: the room, the recording under way, and its files."""

    relationId: int | None = None
    roomId: int | None = None
    user: str | None = None
    roomType: str = "multi"
    in_room: bool = False
    room: RoomInfo | None = None
    param: RecordParam | None = None
    retries: int = 0
    stop_pending: bool = False
    start_unanswered: bool = False
    stop_sent: float | None = None
    last_data: float | None = None
    recordings: int = 0
    file_seq: int = 0
    open_file: str | None = None
    search_prefix: str = ""
    search_ids: list[str] = attrs.field(factory=list)
    searches: int = 0
    recording_files: list[str] = attrs.field(factory=list)


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
    recording_states = {"idle": "idle", "starting": "starting", "retry_wait": "starting",
                        "recording": "recording", "stopping": "stopping",
                        "stopped": "stopped", "failed": "failed"}
    transitions = (
        # The room.
        on("enterRoom", "*", None, after="enter_room"),
        on("exitRoom", "recording", "stopping", after=["leave_room", "send_stop"]),
        on("exitRoom", "starting", None, after=["leave_room", "defer_stop"]),
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
        on(f"{START}:error", "starting", "retry_wait", conditions="retryable",
           unless="stop_pending", after="schedule_retry"),
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
        on(STOP, "retry_wait", "stopped", after="abandon_start"),
        on(STOP, "stopping", None, after="already_stopping"),
        on(STOP, NOT_RECORDING, None, after="nothing_to_stop"),
        on(f"{STOP}:ok", "stopping", "stopped", after="finish_stop"),
        on(f"{STOP}:error", "stopping", "stopped", conditions="already_stopped",
           after="stopped_already"),
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
        ctx.recording_files = []
        if ctx.user is not None:
            self._busy_users()[ctx.user] = self.session.key
        self.send(StartCommand(roomInfo=ev.roomInfo, param=ev.param))

    def schedule_retry(self, ev: Any) -> None:
        ctx = self.ctx
        delay = self.opts.retry_delays[ctx.retries]
        ctx.retries += 1
        self.notice(ev.code, f"{vendor_error(ev.code, ev.desc)}; retry {ctx.retries} of "
                    f"{len(self.opts.retry_delays)} in {delay:g} s", level="warning")
        self.arm("retry", delay)

    def resend_start(self, ev: Event) -> None:
        ctx = self.ctx
        assert ctx.room is not None
        assert ctx.param is not None
        self.send(StartCommand(roomInfo=ctx.room, param=ctx.param))

    def start_failed(self, ev: Any) -> None:
        tried = f" after {self.ctx.retries} retries" if self.ctx.retries else ""
        self.notice(ev.code, f"start failed{tried}: {vendor_error(ev.code, ev.desc)}")
        self.ctx.stop_pending = False

    def defer_stop(self, ev: Event) -> None:
        if not self.ctx.stop_pending:
            self.ctx.stop_pending = True
            self.notice("stop-deferred", "stop asked while starting: it is sent once the "
                        "start has succeeded", level="info")

    def abandon_start(self, ev: Event) -> None:
        self.cancel("retry")
        self.notice("start-abandoned", "stopped while waiting to retry the start: nothing "
                    "was recorded", level="info")

    # ---- recording ---------------------------------------------------------------------------
    def begin_recording(self, ev: Event) -> None:
        ctx = self.ctx
        ctx.recordings += 1
        ctx.last_data = self.now
        ctx.retries = 0
        self._open_next()
        seconds = self.opts.file_seconds
        self.arm("rollover", seconds, every=seconds)

    def _open_next(self) -> RecordingFile:
        ctx = self.ctx
        ctx.file_seq += 1
        assert ctx.param is not None
        f = self.open_file(id=f"{ctx.param.fileName}#{ctx.file_seq}",
                           kind="screen" if ctx.param.recordDataType == 1 else "video",
                           format="mp4", participant=ctx.user)
        ctx.open_file = f.id
        ctx.recording_files.append(f.id)
        return f

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
        """The server closed the recording: the open file ends at the last data; a file
        opened by a rollover after the last data holds nothing and is lost."""
        ctx = self.ctx
        last = ctx.last_data if ctx.last_data is not None else self.now
        self.cancel("rollover")
        for f in self.files:
            if f.id in ctx.recording_files and f.status == "open":
                if f.start is not None and f.start >= last and f.start > self._first_start():
                    self.update_file(f, "lost", end=f.start, status="lost")
                else:
                    self.close_file(f, end=last)
        ctx.open_file = None
        since = datetime.fromtimestamp(last, UTC).isoformat(timespec="milliseconds")
        self.notice("no-data", f"no data for {self.opts.no_data_timeout:g} s since "
                    f"{since}: the client stopped sending, so the recording was closed with "
                    "what was recorded up to the last data (002 §6: 1分钟没收到数据会自动关闭录制)")

    def _first_start(self) -> float:
        starts = [f.start for f in self.files
                  if f.id in self.ctx.recording_files and f.start is not None]
        return min(starts) if starts else self.now

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
        self._close_recording()
        self.notice("no-answer", f"no answer to {STOP} in {self.opts.answer_timeout:g} s: "
                    "the recording is taken as stopped when the stop was sent (the server's "
                    "60 s watchdog closes it in any case); its file IDs are unknown, so look "
                    "them up in VOD by the file name")

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
            if f.status == "open" and i > 0 and f.start is not None and f.start >= end:
                # Opened by a rollover at the very instant the recording ended: it holds
                # nothing, and the vendor makes no file for it.
                self.update_file(f, "lost", end=f.start, status="lost")
                continue
            if f.status == "open":
                self.close_file(f, end=max(end, f.start or end))
            kept.append(f)
        self.ctx.open_file = None
        self.ctx.stop_sent = None
        return kept

    def finish_stop(self, ev: Any) -> None:
        end = self.ctx.stop_sent if self.ctx.stop_sent is not None else self.now
        files = self._close_recording()
        file_ids = list(ev.fileIds)
        if self.ctx.start_unanswered and len(file_ids) > len(files):
            # The start's answer was lost but the server recorded: keep its files, whose
            # start is unknown, so that VOD can fill them in.
            for file_id in file_ids[len(files):]:
                files.append(self.open_file(id=file_id, kind="video", format="mp4",
                                            participant=self.ctx.user, end=end,
                                            status="closed"))
            self.notice("start-answer-lost", f"the start's answer never came, but the server "
                        f"recorded {len(file_ids)} file(s): kept, with an unknown start",
                        level="warning")
        elif len(file_ids) != len(files):
            self.violation(f"stop returned {len(file_ids)} file IDs {file_ids} for "
                           f"{len(files)} files {[f.id for f in files]}")
        for f, file_id in zip(files, file_ids, strict=False):
            self.update_file(f, "updated", id=file_id)
        self.ctx.recording_files = [*file_ids, *[f.id for f in files[len(file_ids):]]]
        if file_ids and self.ctx.param is not None:
            self.ctx.search_prefix = self.ctx.param.fileName
            self.ctx.search_ids = list(file_ids)
            self.ctx.searches = 0
            self._search()

    def _search(self, ev: Event | None = None) -> None:
        self.send(SearchMediaCommand(namePrefix=self.ctx.search_prefix,
                                     fileIds=tuple(self.ctx.search_ids)))

    def files_found(self, ev: Any) -> None:
        """Fill in url and size of the files VOD knows: they become ready. VOD may list a
        file some time after the stop: those still missing are searched for again."""
        by_id = {f.id: f for f in self.files}
        for found in ev.files:
            f = by_id.get(found.fileId)
            if f is None:
                continue
            if f.status in ("closed", "open") or f.url != found.url:
                self.update_file(f, "ready", url=found.url, size=found.size, status="ready")
        listed = {found.fileId for found in ev.files}
        self.ctx.search_ids = [i for i in self.ctx.search_ids if i not in listed]
        self._search_later(f"VOD does not list {self.ctx.search_ids} yet")

    def search_failed(self, ev: Any) -> None:
        self._search_later(f"VOD SearchMedia failed: {ev.code}: {ev.desc}", code=ev.code)

    def _search_later(self, why: str, code: str = "vod-search") -> None:
        ctx = self.ctx
        if not ctx.search_ids:
            return
        delays = self.opts.search_delays
        if ctx.searches < len(delays):
            delay = delays[ctx.searches]
            ctx.searches += 1
            self.notice(code, f"{why}; searching again in {delay:g} s "
                        f"({ctx.searches} of {len(delays)})", level="info")
            self.arm("search", delay)
        else:
            self.notice(code, f"{why} after {len(delays)} more searches: the files "
                        "stay closed without an address; look them up in VOD by file ID",
                        level="warning")
            ctx.search_ids = []

    def stopped_already(self, ev: Any) -> None:
        """Already stopped: if data had stopped for longer than the watchdog, the server
        closed the recording at the last data, and so do the files."""
        ctx = self.ctx
        if ctx.last_data is not None and ctx.last_data + self.opts.no_data_timeout <= self.now:
            ctx.stop_sent = ctx.last_data
        self._close_recording()
        self.notice(ev.code, f"the recording was already stopped: {vendor_error(ev.code, ev.desc)}"
                    ": not a failure", level="warning")

    def stop_failed(self, ev: Any) -> None:
        self._close_recording()
        self.notice(ev.code, f"stop failed: {vendor_error(ev.code, ev.desc)}")


def _machine_for(ev: Event) -> type[Machine]:
    return TencentRecorder


def _explain(code: Any) -> Any:
    """The 004 §5 meaning and advice of a code (None for the machine's own words)."""
    return vendor_error(code) if isinstance(code, int) else None


VENDOR_SPEC = Vendor(name=VENDOR, machines=(TencentRecorder,), machine_for=_machine_for,
                     session_key=session_key, explain=_explain,
                     doc="Tencent ILVB recorder (002, 004): session {relationId}:{roomId}:{user}")
