"""Juphoon (菊风) JC SDK MediaChannel server recording: one channel, as one client sees it.

Rules, from ``vendor-docs/001_9e36cf2bf397b797.txt`` (服务器音视频录制集成):

- §设置录制参数: the recording goes to Qiniu; its parameters (``buildQiniuRecordParam``) are
  given before joining, in ``joinParam.record`` ("在加入频道之前 ... 传入录制参数").
- §获取录制状态: ``recordState`` is ``None`` (无法进行视频录制), ``Ready`` (可以开启视频录制)
  or ``Running`` (视频录制中), reported by ``onMediaChannelPropertyChange``. The machine
  follows the vendor's word and never invents a state: a join without record parameters
  stays ``None`` until the vendor says otherwise.
- §开启或关闭音视频录制: ``enableRecord(enable, recordParam)`` "根据目前的录制状态" — the
  sample enables in ``Ready`` and disables in ``Running``; otherwise the SDK returns false
  ("返回true表示调用成功，false表示调用失败"), so recstate refuses the call locally, sends
  nothing, and says which state it is in and what to wait for. ``recordParam`` (with
  ``enable`` true) replaces the join's parameters; null keeps them.

States are the recording's, as in the Tencent machine: ``idle``, ``joining``, ``joined`` (in
the channel, nothing recorded yet), ``enabling`` (``enableRecord(true)`` sent, waiting for
``Running``), ``recording`` (the vendor reports ``Running``: a file is open), ``disabling``
(``enableRecord(false)`` sent, the file still open until the vendor says ``Ready``),
``stopped`` (in the channel, a recording has ended), ``leaving``, ``left``, ``failed``. The
vendor's record state itself is context (``record_state``), followed on every report.

Files: each ``Running`` span is one file, named by the ``fileName`` in force, opened when
``Running`` is reported and closed when ``Ready`` or ``None`` is, or at ``leave`` /
``onLeave``. Its size, hash and address come from Qiniu's ``stat`` afterwards (``stat``
command, retried with backoff while Qiniu answers 612, then ``lost``).

Ways out (issue 9): 001 gives no end signal besides ``onLeave`` and the property change, and
no report while Running, so a client that goes silent while recording would hold its file
open forever. ``joining`` and ``leaving`` wait ``answer_timeout`` for ``onJoin`` /
``onLeave``, ``enabling`` / ``disabling`` ``enable_timeout``; a span lasts at most
``max_record_duration`` (an option, 001 gives no limit): then ``enableRecord(false)``; if
that is not answered either, the client is taken as gone and asked to ``leave`` (the file
closes there), whose deadline ends in ``left``. ``joined`` and ``stopped`` hold no file: a
client may rest there as long as it likes.
"""

from __future__ import annotations

import math
import posixpath
from typing import Any, Final

import attrs

from recstate.events import Event
from recstate.events.juphoon import (
    ENABLE_RECORD,
    JOIN,
    LEAVE,
    ON_JOIN,
    ON_LEAVE,
    PROPERTY_CHANGE,
    STAT,
    VENDOR,
    EnableRecordCommand,
    JoinCommand,
    LeaveCommand,
    QiniuRecordParam,
    StatCommand,
    reason_text,
    session_key,
    vendor_error,
)
from recstate.machine import Machine, ignore, on, state
from recstate.recording import RecordingFile
from recstate.vendors import Vendor

__all__ = ["VENDOR", "VENDOR_SPEC", "JuphoonChannel", "JuphoonContext", "JuphoonOptions"]

#: Qiniu's stat answer for a key that is not in the bucket ("no such file or directory").
NOT_FOUND: Final = 612

IDLE_IN_CHANNEL = ("joined", "stopped")
#: Where a Running report opens a file (not asked for, except in enabling).
OPENS = ("joining", "joined", "stopped", "enabling")
#: Where a file is open.
OPEN = ("recording", "disabling")
OUT = ("idle", "left", "failed")
_MEANING: Final = {"None": "无法进行视频录制: the channel cannot record",
                   "Ready": "可以开启视频录制: recording can be enabled",
                   "Running": "视频录制中: recording"}


@attrs.define
class JuphoonOptions:
    """``enable_timeout``: how long ``enableRecord`` may wait for the vendor's property
    change; ``answer_timeout``: how long ``join`` / ``leave`` may wait for ``onJoin`` /
    ``onLeave`` (a dropped callback); ``stat_delays``: when to ask Qiniu for a closed file
    (the first after the close, then again while it is not there); ``audio_format``: the
    format of an audio-only file whose name has no extension Qiniu would name it by;
    ``max_record_duration``: how long one recording may run before recstate stops it (001
    gives no limit and no report while Running, so this is the only way to notice a client
    that went silent while recording; None: no limit)."""

    enable_timeout: float = 30.0
    answer_timeout: float = 30.0
    stat_delays: tuple[float, ...] = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0)
    audio_format: str = "m4a"
    max_record_duration: float | None = attrs.field(default=12 * 3600.0)

    @max_record_duration.validator
    def _check_max(self, attribute: Any, value: float | None) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not value > 0 or not math.isfinite(value)):
            raise ValueError(f"max_record_duration is seconds > 0 (or None), got {value!r}")


@attrs.define(slots=True)
class JuphoonContext:
    """One channel: the vendor's record state, the parameters in force (never the keys:
    the SDK holds them), the span under way, and the files waiting for Qiniu."""

    channelId: str | None = None
    record_state: str = "None"
    #: "enable" / "disable": what was asked and not yet reported; kept after a deadline so
    #: that a late report is recognised as the answer.
    asked: str | None = None
    asked_at: float | None = None
    has_params: bool = False
    video: bool = True
    bucket: str = ""
    file_name: str = ""
    spans: int = 0
    open_file: str | None = None
    #: The open span reached ``max_record_duration``: an unanswered stop then leaves.
    limited: bool = False
    names: dict[str, int] = attrs.field(factory=dict)
    #: file id -> [bucket, key, attempts made, due time of the next stat or None]
    stats: dict[str, list[Any]] = attrs.field(factory=dict)


def _format(file_name: str, video: bool, audio_format: str) -> str:
    ext = posixpath.splitext(file_name)[1].lower().lstrip(".")
    if not video:
        return "aac" if ext == "aac" else audio_format
    return ext if ext in ("mp4", "flv", "mkv", "webm") else "mp4"


class JuphoonChannel(Machine):
    """A client's MediaChannel recording (001; rules in the module docstring)."""

    vendor = VENDOR
    machine_name = "channel"
    context = JuphoonContext
    options = JuphoonOptions
    initial = "idle"
    states = (
        "idle",
        state("joining", timers={"answer": "answer_timeout"}),
        "joined",
        state("enabling", timers={"deadline": "enable_timeout"}),
        "recording",
        state("disabling", timers={"deadline": "enable_timeout"}),
        "stopped",
        state("leaving", timers={"answer": "answer_timeout"}),
        "left",
        "failed",
    )
    recording_states = {"idle": "idle", "joining": "idle", "joined": "idle",
                        "enabling": "starting", "recording": "recording",
                        "disabling": "recording", "stopped": "stopped", "leaving": "stopped",
                        "left": "stopped", "failed": "failed"}
    transitions = (
        # The channel.
        on(JOIN, OUT, "joining", after="send_join"),
        on(JOIN, ("joining", "joined", "enabling", "recording", "disabling", "stopped",
                  "leaving"), None, after="refuse_join"),
        on(f"{ON_JOIN}:ok", "joining", "joined", after="joined_channel"),
        on(f"{ON_JOIN}:error", "joining", "failed", after="join_failed"),
        on("answer", "joining", "failed", after="join_unanswered"),
        # The join's answer after a Running report (the property came first), or after a
        # leave: nothing left to do with it.
        ignore(f"{ON_JOIN}:ok", (*OPEN, "leaving")),
        ignore(f"{ON_JOIN}:error", "leaving"),
        on(LEAVE, ("joining", "joined", "enabling", "stopped"), "leaving", after="send_leave"),
        on(LEAVE, OPEN, "leaving", after=["end_span", "send_leave"]),
        on(LEAVE, (*OUT, "leaving"), None, after="nothing_to_leave"),
        on(ON_LEAVE, "leaving", "left", after="left_channel"),
        on("answer", "leaving", "left", after="leave_unanswered"),
        on(ON_LEAVE, ("joining", "joined", "enabling", "stopped"), "left", after="left_unasked"),
        on(ON_LEAVE, OPEN, "left", after=["end_span", "left_unasked"]),
        ignore(ON_LEAVE, "left"),  # a late onLeave after its deadline
        # enableRecord: accepted in Ready (true) and Running (false) only.
        on(ENABLE_RECORD, IDLE_IN_CHANNEL, "enabling", conditions=["asks_enable",
                                                                    "record_ready"],
           after="send_enable"),
        on(ENABLE_RECORD, "recording", "disabling", unless="asks_enable",
           after="send_disable"),
        on(ENABLE_RECORD, "*", None, after="refuse_enable"),
        # The vendor's word on the record state.
        on(PROPERTY_CHANGE, OPENS, "recording", conditions="reports_running",
           after="open_span"),
        on(PROPERTY_CHANGE, "enabling", "stopped", conditions=["reports_none", "has_recorded"],
           after="enable_ended"),
        on(PROPERTY_CHANGE, "enabling", "joined", conditions="reports_none",
           after="enable_ended"),
        on(PROPERTY_CHANGE, OPEN, "stopped", conditions="reports_not_running",
           after="close_span"),
        on(PROPERTY_CHANGE, (*OPENS, *OPEN), None, after="follow"),
        on(PROPERTY_CHANGE, "leaving", None, conditions="reports_running",
           after="running_while_leaving"),
        ignore(PROPERTY_CHANGE, ("leaving", "left")),
        on("deadline", "enabling", "stopped", conditions="has_recorded",
           after="enable_unanswered"),
        on("deadline", "enabling", "joined", after="enable_unanswered"),
        on("deadline", "disabling", "leaving", conditions="is_limited",
           after=["end_span", "limit_unanswered", "send_leave"]),
        on("deadline", "disabling", "recording", after="disable_unanswered"),
        # A way out for a client that goes silent while recording (issue 9).
        on("max_duration", "recording", "disabling", after=["limit_reached", "send_disable"]),
        on("max_duration", "disabling", None, after="limit_reached"),
        ignore("max_duration", ("idle", "joining", "joined", "enabling", "stopped", "leaving",
                                "left", "failed")),
        # Qiniu: the recorded files.
        on(f"{STAT}:ok", "*", None, after="stat_found"),
        on(f"{STAT}:error", "*", None, after="stat_failed"),
        on("restat", "*", None, after="send_stats"),
    )

    ctx: JuphoonContext
    opts: JuphoonOptions

    # ---- guards ------------------------------------------------------------------------------
    def asks_enable(self, ev: Any) -> bool:
        return bool(ev.enable)

    def record_ready(self, ev: Event) -> bool:
        return self.ctx.record_state == "Ready"

    def reports_running(self, ev: Any) -> bool:
        return bool(ev.recordState == "Running")

    def reports_none(self, ev: Any) -> bool:
        return bool(ev.recordState == "None")

    def reports_not_running(self, ev: Any) -> bool:
        return ev.recordState in ("None", "Ready")

    def has_recorded(self, ev: Event) -> bool:
        return self.ctx.spans > 0

    def is_limited(self, ev: Event) -> bool:
        return self.ctx.limited

    # ---- the channel ---------------------------------------------------------------------------
    def _take_params(self, param: QiniuRecordParam) -> None:
        ctx = self.ctx
        ctx.has_params = True
        ctx.video, ctx.bucket, ctx.file_name = param.video, param.bucketName, param.fileName

    def send_join(self, ev: Any) -> None:
        ctx = self.ctx
        ctx.channelId = ev.channelId
        ctx.record_state = "None"
        ctx.asked = ctx.asked_at = None
        ctx.has_params = False
        record = ev.joinParam.record
        if record is not None:
            self._take_params(record)
        self.send(JoinCommand(channelId=ev.channelId, record=record))

    def refuse_join(self, ev: Event) -> None:
        then = ("wait for onLeave" if self.state == "leaving" else "leave it first")
        self.notice("already-joined", f"join refused: this client is already in channel "
                    f"{self.ctx.channelId} ({self.state}); {then}, then join again")

    def joined_channel(self, ev: Event) -> None:
        if not self.ctx.has_params:
            self.notice("no-record-params", "joined without record parameters "
                        "(joinParam.record): the record state stays None, and enableRecord "
                        "cannot start a recording (001: 在加入频道之前 ... 传入录制参数)",
                        level="info")

    def join_failed(self, ev: Any) -> None:
        self.notice(ev.code, f"join failed: {vendor_error(ev.code, ev.desc)}")

    def join_unanswered(self, ev: Event) -> None:
        self.notice("no-answer", f"no onJoin within {self.opts.answer_timeout:g} s of join: "
                    "a dropped callback or a crashed client; join again")

    def send_leave(self, ev: Event) -> None:
        self.send(LeaveCommand(channelId=self.ctx.channelId or self.session.key))

    def nothing_to_leave(self, ev: Event) -> None:
        self.notice("not-in-channel", f"leave asked, but the client is {self.state}: "
                    "nothing to do", level="warning")

    def left_channel(self, ev: Event) -> None:
        self.ctx.record_state = "None"

    def leave_unanswered(self, ev: Event) -> None:
        self.ctx.record_state = "None"
        self.notice("no-answer", f"no onLeave within {self.opts.answer_timeout:g} s of "
                    "leave: taken as left (the server ends the recording when its last "
                    "member leaves)", level="warning")

    def left_unasked(self, ev: Any) -> None:
        self.ctx.record_state = "None"
        code = getattr(ev, "reason", None)
        reason = f" (reason {reason_text(code)})" if code is not None else ""
        self.notice("left", f"onLeave without a leave{reason}: the client is out of the "
                    "channel", level="warning")

    # ---- enableRecord --------------------------------------------------------------------------
    def send_enable(self, ev: Any) -> None:
        ctx = self.ctx
        if ev.recordParam is not None:
            self._take_params(ev.recordParam)  # replaces the join's (001)
        ctx.asked, ctx.asked_at = "enable", self.now
        self.send(EnableRecordCommand(channelId=ctx.channelId or self.session.key,
                                      enable=True, recordParam=ev.recordParam))

    def send_disable(self, ev: Any) -> None:
        ctx = self.ctx
        ctx.asked, ctx.asked_at = "disable", self.now
        self.send(EnableRecordCommand(channelId=ctx.channelId or self.session.key,
                                      enable=False))

    def refuse_enable(self, ev: Any) -> None:
        """The SDK would return false: say which state the channel is in and what to wait
        for; nothing is sent."""
        rs = self.ctx.record_state
        call = f"enableRecord({'true' if ev.enable else 'false'})"
        where = f"the record state is {rs} ({_MEANING[rs]})"
        if self.state in OUT or self.state in ("joining", "leaving"):
            hint = ("not in a channel: join with record parameters, then wait for "
                    "onMediaChannelPropertyChange to report Ready"
                    if self.state != "joining" else
                    "the join is not answered yet: wait for onJoin, then for Ready")
        elif self.state in ("enabling", "disabling"):
            asked = "enableRecord(true)" if self.state == "enabling" else "enableRecord(false)"
            hint = (f"{asked} is waiting for the vendor's onMediaChannelPropertyChange; "
                    f"wait for it (at most {self.opts.enable_timeout:g} s)")
        elif ev.enable:
            hint = ("already recording: nothing to enable; enableRecord(false) stops it"
                    if rs == "Running" else
                    "wait for onMediaChannelPropertyChange to report Ready"
                    + ("" if self.ctx.has_params else
                       " (this channel was joined without record parameters: join with "
                       "joinParam.record)"))
        else:
            hint = ("nothing is recording: wait for onMediaChannelPropertyChange to report "
                    "Running, or enable first")
        self.notice("enable-refused", f"{call} refused ({self.state}): {where}; {hint}. "
                    "No command was sent (the SDK would return false)")

    def enable_unanswered(self, ev: Event) -> None:
        self.notice("no-property-change", f"no onMediaChannelPropertyChange within "
                    f"{self.opts.enable_timeout:g} s of enableRecord(true): nothing is "
                    f"recording; the record state stays {self.ctx.record_state} as last "
                    "reported, and what the vendor reports next is followed")

    def disable_unanswered(self, ev: Event) -> None:
        self.notice("no-property-change", f"no onMediaChannelPropertyChange within "
                    f"{self.opts.enable_timeout:g} s of enableRecord(false): the vendor "
                    "still reports Running, so the file stays open; what it reports next "
                    "is followed")

    # ---- the maximum duration ---------------------------------------------------------------
    def limit_reached(self, ev: Event) -> None:
        """The span ran ``max_record_duration``: stop it (in ``disabling`` a stop is already
        asked; its deadline then leaves instead of going back to ``recording``)."""
        self.ctx.limited = True
        asked = ("enableRecord(false) is sent" if self.session.state == "recording" else
                 "the enableRecord(false) already asked is awaited")
        self.notice("max-duration", f"{self.ctx.open_file!r} reached max_record_duration "
                    f"({self.opts.max_record_duration:g} s) with no end seen (001 reports "
                    f"nothing while Running, so a client gone silent looks the same): {asked}; "
                    "unanswered, the client is asked to leave", level="warning")

    def limit_unanswered(self, ev: Event) -> None:
        self.notice("no-property-change", f"no onMediaChannelPropertyChange within "
                    f"{self.opts.enable_timeout:g} s of the enableRecord(false) sent at "
                    "max_record_duration: the client is taken as gone; the file is closed "
                    "now and leave is sent (the server ends the recording when its last "
                    "member leaves)", level="warning")

    # ---- the vendor's record state -------------------------------------------------------------
    def follow(self, ev: Any) -> None:
        """A report that changes no file: the record state is taken as reported."""
        rs = ev.recordState
        if rs is not None:
            self.ctx.record_state = rs

    def running_while_leaving(self, ev: Any) -> None:
        """Running after the leave: the answer to an enable the leave overtook. The member
        is going, so no file is opened (the canonical state is already stopped); said, not
        ignored, because the server may have written a short object."""
        name = self.ctx.file_name or "the file name in force"
        self.notice("running-while-leaving", f"recordState Running reported after leave: "
                    f"the server may have recorded {name!r} until it took the leave; no file "
                    "is tracked for it here, look for it in the Qiniu bucket",
                    level="warning")

    def enable_ended(self, ev: Any) -> None:
        self.ctx.record_state = ev.recordState
        self.ctx.asked = None
        self.notice("enable-ended", "the record state went None while enableRecord(true) "
                    "waited: the channel cannot record now; nothing was recorded",
                    level="warning")

    def open_span(self, ev: Any) -> None:
        ctx = self.ctx
        before, asked = ctx.record_state, ctx.asked
        ctx.record_state = "Running"
        ctx.asked = None
        if before == "None":
            self.violation("recordState Running reported straight from None: the vendor "
                           "reports Ready before a recording can be enabled (001 §获取录制状态); "
                           "followed: the file is opened")
        elif asked != "enable":
            self.violation("recordState Running reported while enableRecord(true) was never "
                           "asked (001: recording starts with enableRecord); followed: the "
                           "file is opened")
        elif self.session.state != "enabling":  # the source: a deadline had passed
            self.notice("late-property-change", f"Running reported after the "
                        f"{self.opts.enable_timeout:g} s deadline of enableRecord(true): "
                        "followed", level="warning")
        ctx.spans += 1
        name = ctx.file_name or f"{ctx.channelId or self.session.key}"
        used = ctx.names.get(name, 0) + 1
        ctx.names[name] = used
        file_id = name if used == 1 else f"{name}#{used}"
        if used > 1:
            self.notice("file-name-reused", f"file name {name!r} was used by an earlier "
                        f"recording in this channel: this one is entry {file_id!r}; Qiniu "
                        "keeps one object per key, so give each enableRecord a new fileName",
                        level="warning")
        f = self.open_file(id=file_id, kind="video" if ctx.video else "audio",
                           format=_format(name, ctx.video, self.opts.audio_format))
        ctx.open_file = f.id
        ctx.limited = False
        if self.opts.max_record_duration is not None:
            self.arm("max_duration", self.opts.max_record_duration)
        if ctx.bucket:
            ctx.stats[f.id] = [ctx.bucket, name, 0, None]

    def close_span(self, ev: Any) -> None:
        ctx = self.ctx
        if ev.recordState == "Ready" and ctx.asked != "disable":
            self.violation("recordState Ready reported while enableRecord(false) was never "
                           "asked: followed: the file is closed")
        elif self.session.state == "recording" and ctx.asked == "disable":
            self.notice("late-property-change", f"{ev.recordState} reported after the "
                        f"{self.opts.enable_timeout:g} s deadline of enableRecord(false): "
                        "followed", level="warning")
        ctx.record_state = ev.recordState
        ctx.asked = None
        self.end_span(ev)

    def end_span(self, ev: Event) -> None:
        """Close the open file now, and ask Qiniu for it after the first stat delay."""
        ctx = self.ctx
        current = self._file(ctx.open_file)
        ctx.open_file = None
        ctx.limited = False
        self.cancel("max_duration")
        if current is None or current.status != "open":
            return
        self.close_file(current)
        if current.id in ctx.stats and self.opts.stat_delays:
            ctx.stats[current.id][3] = self.now + self.opts.stat_delays[0]
            self._arm_stats()

    def _file(self, file_id: str | None) -> RecordingFile | None:
        if file_id is None:
            return None
        return next((f for f in reversed(self.files) if f.id == file_id), None)

    # ---- Qiniu stat ----------------------------------------------------------------------------
    def _arm_stats(self) -> None:
        dues = [entry[3] for entry in self.ctx.stats.values() if entry[3] is not None]
        if dues:
            self.arm_at("restat", min(dues))
        else:
            self.cancel("restat")

    def send_stats(self, ev: Event) -> None:
        for file_id, entry in self.ctx.stats.items():
            bucket, key, attempts, due = entry
            if due is not None and due <= self.now:
                entry[2], entry[3] = attempts + 1, None
                self.send(StatCommand(fileId=file_id, bucket=bucket, key=key))
        self._arm_stats()

    def stat_found(self, ev: Any) -> None:
        f = self._file(ev.fileId)
        if f is None or f.status == "open":
            what = "a file this channel does not have" if f is None else (
                "a file still being recorded (its object is written when it closes)")
            self.notice("unknown-file", f"stat answered for {ev.fileId!r}, {what}: ignored",
                        level="warning")
            return
        self.ctx.stats.pop(ev.fileId, None)
        self._arm_stats()
        if f.status == "ready" and f.url == (ev.url or None):
            return  # a repeated answer
        self.update_file(f, "ready", size=ev.fsize, hash=ev.hash, url=ev.url or None,
                         status="ready")

    def stat_failed(self, ev: Any) -> None:
        ctx = self.ctx
        entry = ctx.stats.get(ev.fileId)
        f = self._file(ev.fileId)
        if entry is None or f is None or f.status == "open" or entry[3] is not None:
            return  # not asked (or asked again already): nothing to do
        delays = self.opts.stat_delays
        attempts = entry[2]
        what = ("not in the bucket yet" if ev.code == NOT_FOUND
                else f"stat failed: {ev.code} {ev.desc}".rstrip())
        where = f"qiniu://{entry[0]}/{entry[1]}"
        if attempts < len(delays):
            delay = delays[attempts]
            entry[3] = self.now + delay
            self.notice(ev.code, f"{where}: {what}; asking again in {delay:g} s "
                        f"({attempts} of {len(delays)} asked)", level="info")
            self._arm_stats()
            return
        ctx.stats.pop(ev.fileId)
        self._arm_stats()
        if ev.code == NOT_FOUND:
            self.update_file(f, "lost", status="lost")
            self.notice("file-lost", f"{where}: never appeared in the bucket after "
                        f"{attempts} stats over {sum(delays):g} s: the recording is lost",
                        level="warning")
        else:
            self.notice(ev.code, f"{where}: {what}, {attempts} times: the file stays closed "
                        "without an address; look it up in the Qiniu bucket", level="warning")


def _machine_for(ev: Event) -> type[Machine]:
    return JuphoonChannel


VENDOR_SPEC = Vendor(name=VENDOR, machines=(JuphoonChannel,), machine_for=_machine_for,
                     session_key=session_key, scenarios="recstate.adapters.juphoon.scenarios",
                     doc="Juphoon JC SDK MediaChannel recording to Qiniu (001): session "
                         "{channelId}")
