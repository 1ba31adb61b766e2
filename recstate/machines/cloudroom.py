"""CloudRoom (云屋) local recording: one mixer (混图器) and its outputs.

Rules, from ``vendor-docs/003_1acf1effcbe0f83e.txt`` (本地录制) and the SDK documents it links
to (cloudroomSDK/Documents ``TypeDefinitions.md``, ``Constant.md``, Android ``record.md``):

- ``CRVideo_CreateLocMixer(mixerID, mixerCfg, mixerContent)`` creates a mixer (003 §1); several
  run at once ("支持同时启动多个录制"): a session is one ``mixerID``. The configuration and the
  layout are checked before anything is sent (``CRVideo_MixerCfgObj``,
  ``CRVideo_MixerContentObj``); an invalid mixer is refused with one error listing every problem.
- ``CRVideo_AddLocMixerOutput`` adds outputs, files (mp4, ts, flv, avi, mp3, by extension) or
  live streams; each is then driven by ``CRVideo_LocMixerOutputInfo`` (003 §2, §3): CREATED ->
  WRITING (duration, fileSize) -> CLOSED, or ERR with ``errCode``, which stops that output alone
  ("如果输出异常，将自动停止录制"). The state numbers depend on the platform
  (``OUTPUT_STATE_TABLE``). ``RmLocMixerOutput`` stops some outputs; the mixer goes on.
- ``CRVideo_UpdateLocMixerContent`` changes the layout while recording (003 §4); the layouts,
  with their times, are kept.
- ``CRVideo_DestroyLocMixer``: "各输出自动结束", every output ends, at its last reported
  duration and size (003 §5).
- 901 (8 hours, the maximum of one recording) closes the file normally; 902 (disk full) fails
  it; the others as ``ERRORS`` says.
- A crash keeps only flv and ts files ("如果选择了flv和ts两种格式，即使录制过程中程序出现异常了，
  崩溃之前的录像仍然可用", 003 功能介绍); mp4, avi and mp3 files are lost.
- A file's duration and size never go backwards: a report that says so is a violation.
- A silent app (issue 9): "录制过程中都会触发此事件。在此可以实时获得录像文件当前的时长、大小"
  (003 §3): an output being written reports all along, so an output that reports nothing for
  ``silence_timeout`` is taken as ended at its last report. When every open output of the
  mixer is silent, the app is taken as gone without a word (a crash nobody reported, or a
  lost link): as ``appCrashed``, with an ``app-silent`` warning; otherwise the silent
  outputs alone are closed (``output-silent``).
- Upload: "录制后直接把录像传到标准http服务器、OSS或者云屋服务器" (003 功能介绍). On Android, iOS
  and Mac, ``isUploadOnRecording`` makes the SDK upload and report UPLOADING / UPLOADSUCCESS /
  UPLOADERR; elsewhere (or with ``upload_target`` in the options) the machine asks for an
  ``UploadRecordFile`` after the file closed, and retries 1202 with exponential backoff.

States are the mixer's: ``idle`` (no mixer), ``created``, ``destroyed``, ``crashed``. Each
output is a sub-state in the context (``outputs``): ``added``, ``created``, ``writing``,
``closed``, ``error``, ``lost``, ``uploading``, ``ready``, ``upload_failed``.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from recstate.events import Event
from recstate.events.cloudroom import (
    ADD,
    CLOSES_NORMALLY,
    CRASH_SAFE,
    CRASHED,
    CREATE,
    DESTROY,
    INFO,
    MIXOT_FILE,
    MOBILE,
    PLATFORMS,
    REMOVE,
    UPDATE,
    UPLOAD,
    UPLOAD_RETRYABLE,
    VENDOR,
    AddLocMixerOutputCommand,
    CreateLocMixerCommand,
    DestroyLocMixerCommand,
    OutputSpec,
    Problem,
    RmLocMixerOutputCommand,
    UpdateLocMixerContentCommand,
    UploadRecordFileCommand,
    content_problems,
    describe,
    layout_text,
    mixer_problems,
    normal_platform,
    numbering,
    output_names,
    output_problems,
    output_state,
    session_key,
    split,
    vendor_error,
)
from recstate.machine import Machine, Moment, SessionView, ignore, on
from recstate.recording import RecordingFile
from recstate.vendors import Vendor

__all__ = ["VENDOR", "CloudRoomContext", "CloudRoomMixer", "CloudRoomOptions", "Layout",
           "Output"]

NO_MIXER = ("idle", "destroyed", "crashed")
#: 901: "单次录制达到最大时长(8h)" (Constant.md): no output is written for longer.
MAX_RECORDING = 8 * 3600.0
#: Output sub-states in which the output is still being written.
OPEN = ("added", "created", "writing")


@attrs.define
class CloudRoomOptions:
    """``upload_target``: where every file output is uploaded after it closes (an HTTP or
    S3-compatible URL; the uploader adapter does the PUT), besides the outputs that ask for
    it with ``isUploadOnRecording``; ``upload_retries``: how many times a failed upload (1202)
    is retried, after ``upload_backoff`` seconds, then twice that, and so on;
    ``silence_timeout``: how long an open output may go without a ``LocMixerOutputInfo``
    before it is taken as ended at its last report (003 §3: the SDK reports while it writes;
    every open output silent: the app is taken as gone, as ``appCrashed``). 003 gives no
    reporting interval; the one bound the SDK gives is 8 hours (901), so the default is
    longer than an output can live: only an output that cannot be alive any more is ended.
    The close uses the last report's time and figures, so the value costs only latency; a
    few times the reporting interval notices a silent app sooner. None: never.
    """

    upload_target: str | None = None
    upload_retries: int = 3
    upload_backoff: float = 2.0
    silence_timeout: float | None = attrs.field(default=MAX_RECORDING + 600.0)

    @silence_timeout.validator
    def _check_silence(self, attribute: Any, value: float | None) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not value > 0 or not math.isfinite(value)):
            raise ValueError(f"silence_timeout is seconds > 0 (or None), got {value!r}")


@attrs.define
class Output:
    """One output of a mixer: a file (``type`` 0) or a live stream (1), with its last
    reported figures (``duration`` in ms, ``fileSize`` in bytes) and its upload."""

    name: str
    type: int
    format: str | None = None
    state: str = "added"
    duration: int = 0
    fileSize: int = 0
    errCode: int = 0
    added: float = 0.0
    last_report: float | None = None
    closed_by: str | None = None  # "sdk", "app" (rm / destroy), "crash", "silence"
    heard_after_silence: bool = False
    encryptType: int = 0
    upload: str = "none"  # "none", "ours" (UploadRecordFile), "sdk" (mobile SDK uploads)
    serverPathFileName: str | None = None
    attempts: int = 0
    retry_at: float | None = None
    url: str | None = None


@attrs.define
class Layout:
    """A layout the mixer had from ``t`` on: ``cause`` is ``CreateLocMixer`` or
    ``UpdateLocMixerContent``."""

    t: float
    cause: str
    mixerContent: Any


@attrs.define(slots=True)
class CloudRoomContext:
    """One mixer: its platform, configuration, layout history and outputs."""

    mixerID: str | None = None
    platform: str = "windows"
    mixerCfg: Any = None
    layouts: list[Layout] = attrs.field(factory=list)
    outputs: dict[str, Output] = attrs.field(factory=dict)
    created: float | None = None
    ended: float | None = None
    #: The last word from the app or its SDK about this mixer (an intent or a report).
    heard: float | None = None


class CloudRoomMixer(Machine):
    """A CloudRoom local mixer and its outputs (003; rules in the module docstring)."""

    vendor = VENDOR
    machine_name = "mixer"
    context = CloudRoomContext
    options = CloudRoomOptions
    initial = "idle"
    states = ("idle", "created", "destroyed", "crashed")
    recording_states = {"idle": "idle", "created": "recording", "destroyed": "stopped",
                        "crashed": "failed"}
    transitions = (
        # The mixer.
        on(CREATE, NO_MIXER, "created", conditions="valid_mixer", after="send_create"),
        on(CREATE, NO_MIXER, None, after="refuse_mixer"),
        on(CREATE, "created", None, after="refuse_exists"),
        on(UPDATE, "created", None, conditions="valid_layout", after="send_update"),
        on(UPDATE, "created", None, after="refuse_layout"),
        on(UPDATE, NO_MIXER, None, after="refuse_no_mixer"),
        on(DESTROY, "created", "destroyed", after="destroy"),
        on(DESTROY, NO_MIXER, None, after="nothing_to_destroy"),
        # Outputs.
        on(ADD, "created", None, conditions="valid_outputs", after="send_add"),
        on(ADD, "created", None, after="refuse_outputs"),
        on(ADD, NO_MIXER, None, after="refuse_no_mixer"),
        on(REMOVE, "created", None, after="remove_outputs"),
        on(REMOVE, NO_MIXER, None, after="refuse_no_mixer"),
        on(INFO, ("created", "destroyed", "crashed"), None, after="output_info"),
        on(INFO, "idle", None, after="info_without_mixer"),
        # The app's crash.
        on(CRASHED, "created", "crashed", after="crash"),
        on(CRASHED, NO_MIXER, None, after="crash_without_mixer"),
        # The app's silence (issue 9): no LocMixerOutputInfo for silence_timeout.
        on("silence", "created", "crashed", conditions="app_silent", after="app_gone"),
        on("silence", "created", None, after="outputs_silent"),
        ignore("silence", NO_MIXER),
        # Upload.
        on(f"{UPLOAD}:ok", "*", None, after="uploaded"),
        on(f"{UPLOAD}:error", "*", None, after="upload_failed"),
        on("upload_retry", "*", None, after="retry_uploads"),
    )

    ctx: CloudRoomContext
    opts: CloudRoomOptions

    # ---- the mixer -------------------------------------------------------------------------
    def _mixer_problems(self, ev: Any) -> list[Problem]:
        problems = []
        if normal_platform(ev.platform) not in PLATFORMS:
            problems.append(Problem("platform", ev.platform, f"one of {', '.join(PLATFORMS)}"))
        problems += mixer_problems(ev.mixerCfg)
        problems += content_problems(ev.mixerContent, ev.mixerCfg)
        return problems

    def valid_mixer(self, ev: Any) -> bool:
        return not self._mixer_problems(ev)

    def send_create(self, ev: Any) -> None:
        ctx = self.ctx
        ctx.mixerID = ev.mixerID
        ctx.platform = normal_platform(ev.platform)
        ctx.mixerCfg = ev.mixerCfg
        ctx.created, ctx.ended = self.now, None
        ctx.layouts.append(Layout(self.now, CREATE, ev.mixerContent))
        self.send(CreateLocMixerCommand(mixerID=ev.mixerID, mixerCfg=ev.mixerCfg,
                                        mixerContent=ev.mixerContent))
        self._arm_silence()

    def refuse_mixer(self, ev: Any) -> None:
        problems = self._mixer_problems(ev)
        self.notice("invalid-mixer", f"{CREATE} {ev.mixerID!r} refused, nothing sent: "
                    f"{len(problems)} problem(s): {describe(problems)}")

    def refuse_exists(self, ev: Any) -> None:
        self.notice(906, f"{CREATE} {ev.mixerID!r} refused, nothing sent: the mixer exists "
                    f"since {self.ctx.created}; destroy it first ({vendor_error(906)})")

    def refuse_no_mixer(self, ev: Event) -> None:
        self.notice("no-mixer", f"{ev.name} refused, nothing sent: mixer {self.session.key!r} "
                    f"is {self.state} (not created); {CREATE} first")

    def valid_layout(self, ev: Any) -> bool:
        return not content_problems(ev.mixerContent, self.ctx.mixerCfg)

    def send_update(self, ev: Any) -> None:
        self.ctx.layouts.append(Layout(self.now, UPDATE, ev.mixerContent))
        self.send(UpdateLocMixerContentCommand(mixerID=self.session.key,
                                               mixerContent=ev.mixerContent))
        self._arm_silence()

    def refuse_layout(self, ev: Any) -> None:
        problems = content_problems(ev.mixerContent, self.ctx.mixerCfg)
        self.notice("invalid-layout", f"{UPDATE} refused, nothing sent, the layout stays: "
                    f"{len(problems)} problem(s): {describe(problems)}")

    def destroy(self, ev: Event) -> None:
        """Every output ends at its last reported duration and size (003 §5)."""
        self.send(DestroyLocMixerCommand(mixerID=self.session.key))
        self.ctx.ended = self.now
        for o in self._open():
            self._end_by_app(o)
        self.cancel("silence")

    def nothing_to_destroy(self, ev: Event) -> None:
        self.notice("no-mixer", f"{DESTROY} asked, but mixer {self.session.key!r} is "
                    f"{self.state}: nothing to do", level="warning")

    # ---- outputs ---------------------------------------------------------------------------
    def _output_specs(self, ev: Any) -> tuple[list[OutputSpec], list[Problem]]:
        return output_problems(ev.outputs, frozenset(self.ctx.outputs))

    def valid_outputs(self, ev: Any) -> bool:
        return not self._output_specs(ev)[1]

    def send_add(self, ev: Any) -> None:
        specs, _ = self._output_specs(ev)
        target = self.opts.upload_target
        mobile = self.ctx.platform in MOBILE
        for spec in specs:
            o = Output(name=spec.name, type=spec.type, format=spec.format, added=self.now,
                       encryptType=spec.encryptType,
                       serverPathFileName=spec.serverPathFileName)
            if spec.type == MIXOT_FILE:
                if spec.isUploadOnRecording and mobile:
                    o.upload = "sdk"
                elif spec.isUploadOnRecording or target:
                    o.upload = "ours"
                f = self.open_file(id=spec.name, format=spec.format or "",
                                   kind="audio" if spec.format == "mp3" else "mixed")
                f.encrypted = bool(spec.encryptType)  # part of the "opened" record
            self.ctx.outputs[spec.name] = o
        self.send(AddLocMixerOutputCommand(mixerID=self.session.key, outputs=ev.outputs))
        self._arm_silence()

    def refuse_outputs(self, ev: Any) -> None:
        _, problems = self._output_specs(ev)
        self.notice("invalid-output", f"{ADD} refused, nothing sent (the SDK takes the list "
                    f"as one call): {len(problems)} problem(s): {describe(problems)}")

    def remove_outputs(self, ev: Any) -> None:
        outputs = self.ctx.outputs
        names, problems = output_names(ev.outputs)
        if problems:
            self.notice("invalid-output", f"{REMOVE}: {len(problems)} problem(s): "
                        f"{describe(problems)}", level="warning")
        unknown = [n for n in names if n not in outputs]
        ended = [n for n in names if n in outputs and outputs[n].state not in OPEN]
        stopping = [n for n in names if n in outputs and outputs[n].state in OPEN]
        if unknown:
            self.notice("unknown-output", f"{REMOVE}: {unknown} are not outputs of mixer "
                        f"{self.session.key!r} (outputs: {list(outputs)})", level="warning")
        if ended:
            self.notice("output-ended", f"{REMOVE}: {ended} had ended already", level="info")
        if not stopping:
            self._arm_silence()
            return
        self.send(RmLocMixerOutputCommand(mixerID=self.session.key, outputs=tuple(stopping)))
        for name in stopping:
            self._end_by_app(outputs[name])
        self._arm_silence()

    def _open(self) -> list[Output]:
        return [o for o in self.ctx.outputs.values() if o.state in OPEN]

    def _file(self, o: Output) -> RecordingFile | None:
        return next((f for f in self.files if f.id == o.name), None)

    def _end_by_app(self, o: Output) -> None:
        """Stopped by RmLocMixerOutput or DestroyLocMixer: closed at its last report."""
        o.closed_by = "app"
        self._close(o, self.now if o.last_report is None else o.last_report)

    def _close(self, o: Output, end: float) -> None:
        o.state = "closed"
        f = self._file(o)
        if f is not None:
            size = o.fileSize if o.last_report is not None else None  # never reported
            self.update_file(f, "closed", end=max(end, f.start or end), size=size,
                             status="closed")
        if o.upload == "ours":
            self._start_upload(o)

    # ---- LocMixerOutputInfo -------------------------------------------------------------------
    def output_info(self, ev: Any) -> None:
        ctx = self.ctx
        o = ctx.outputs.get(ev.nameOrUrl)
        info = ev.outputInfo
        if o is None:
            self.violation(f"{INFO} for {ev.nameOrUrl!r}, which is not an output of mixer "
                           f"{self.session.key!r} (outputs: {list(ctx.outputs)})")
            return
        name = output_state(ctx.platform, info.state)
        if name is None:
            self.violation(f"{INFO} state {info.state} for {ev.nameOrUrl!r} is not an output "
                           f"state on {ctx.platform} ({numbering(ctx.platform)})")
            return
        if o.closed_by == "silence" and not o.heard_after_silence:
            o.heard_after_silence = True
            self.notice("heard-after-silence", f"{o.name!r} reported {name} after "
                        f"{self._silence():g} s of silence had ended it: the app was alive; "
                        "a closed file takes the report's figures, a lost one stays lost "
                        "(look for it on the device)", level="warning")
        o.last_report = self.now
        took = name not in ("CREATED", "WRITING", "CLOSED", "ERR") or self._figures(o, info)
        if took or name in ("CLOSED", "ERR"):  # they end the output, backward figures or not
            getattr(self, f"_on_{name.lower()}")(o, info)
        if self.session.state == "created":
            self._arm_silence()

    def info_without_mixer(self, ev: Any) -> None:
        self.violation(f"{INFO} for {ev.nameOrUrl!r} of mixer {ev.mixerID!r}, which was never "
                       f"created ({CREATE} {ev.mixerID!r} first): the report is ignored")

    def _figures(self, o: Output, info: Any) -> bool:
        """Take the reported duration and size, unless one is negative or goes backwards
        (a violation)."""
        negative = [f"outputInfo.{key} = {value}" for key, value in
                    (("duration", info.duration), ("fileSize", info.fileSize))
                    if value is not None and value < 0]
        if negative:
            self.violation(f"{INFO} for {o.name!r}: {' and '.join(negative)}: a duration or "
                           "size is never negative; the report's figures are ignored")
            return False
        duration = o.duration if info.duration is None else info.duration
        size = o.fileSize if info.fileSize is None else info.fileSize
        back = []
        if duration < o.duration:
            back.append(f"duration {o.duration} -> {duration} ms")
        if size < o.fileSize:
            back.append(f"fileSize {o.fileSize} -> {size} bytes")
        if back:
            self.violation(f"{INFO} for {o.name!r}: {' and '.join(back)}: a file's duration "
                           "and size never go backwards; the report's figures are ignored")
            return False
        o.duration, o.fileSize = duration, size
        return True

    def _on_none(self, o: Output, info: Any) -> None:
        self.notice("output-none", f"{o.name!r} reported NONE (没有创建)", level="info")

    def _on_created(self, o: Output, info: Any) -> None:
        if o.state == "added":
            o.state = "created"

    def _on_writing(self, o: Output, info: Any) -> None:
        if o.state in OPEN:
            o.state = "writing"
        elif o.closed_by == "sdk":
            self.violation(f"{INFO} WRITING for {o.name!r} after the SDK closed it")
        else:
            self._late(o)

    def _on_closed(self, o: Output, info: Any) -> None:
        if o.state in OPEN:
            o.closed_by = "sdk"
            self._close(o, self.now)
        else:
            self._late(o)

    def _late(self, o: Output) -> None:
        """A report for an output that had ended here (removed, destroyed: the SDK's CLOSED
        comes after the call): its figures are final, and the file ends at this report."""
        f = self._file(o)
        if f is not None and f.status not in ("lost", "failed") and (
                f.size != o.fileSize or f.end != self.now):
            self.update_file(f, "updated", size=o.fileSize, end=self.now)

    def _on_err(self, o: Output, info: Any) -> None:
        code = info.errCode if info.errCode is not None else 0
        if o.state not in OPEN:
            self.notice(code, f"{o.name!r} reported an error after it had ended: "
                        f"{vendor_error(code)}", level="warning")
            return
        o.errCode = code
        o.closed_by = "sdk"
        if code in CLOSES_NORMALLY:
            self.notice(code, f"{o.name!r} closed normally at {o.duration} ms, {o.fileSize} "
                        f"bytes: {vendor_error(code)}", level="warning")
            self._close(o, self.now)
            return
        o.state = "error"
        f = self._file(o)
        if f is not None:
            self.update_file(f, "failed", end=max(self.now, f.start or self.now),
                             size=o.fileSize, status="failed")
        others = [x.name for x in self._open() if x is not o]
        self.notice(code, f"{o.name!r} stopped in error (如果输出异常，将自动停止录制): "
                    f"{vendor_error(code)}; the other outputs go on: {others}")

    def _on_uploading(self, o: Output, info: Any) -> None:
        o.upload = "sdk"
        if o.state in ("closed", "upload_failed"):
            o.state = "uploading"
            f = self._file(o)
            if f is not None:
                self.update_file(f, "uploading", status="uploading")

    def _on_uploadsuccess(self, o: Output, info: Any) -> None:
        if o.state == "ready":  # said again: nothing new
            return
        if o.state in OPEN:  # uploaded while recording: the file is complete
            o.closed_by = "sdk"
            o.state = "closed"
            f = self._file(o)
            if f is not None:
                self.update_file(f, "closed", end=self.now, size=o.fileSize, status="closed")
        self._ready(o, o.serverPathFileName or o.name)

    def _on_uploaderr(self, o: Output, info: Any) -> None:
        code = info.errCode if info.errCode is not None else 1202
        if o.state in OPEN or o.state in ("ready", "upload_failed"):
            what = "is still being recorded" if o.state in OPEN else f"is {o.state}"
            self.notice(code, f"{o.name!r}: the SDK reports an upload error while the file "
                        f"{what}: {vendor_error(code)}", level="warning")
            return
        o.errCode = code
        self._upload_gave_up(o, code, "the SDK's upload failed")

    # ---- upload ------------------------------------------------------------------------------
    def _start_upload(self, o: Output) -> None:
        o.state = "uploading"
        o.attempts = 1
        f = self._file(o)
        if f is not None:
            self.update_file(f, "uploading", status="uploading")
        self._send_upload(o)

    def _send_upload(self, o: Output) -> None:
        self.send(UploadRecordFileCommand(mixerID=self.session.key, filename=o.name,
                                          serverPathFileName=o.serverPathFileName,
                                          encryptType=o.encryptType, attempt=o.attempts))

    def _uploading(self, ev: Any) -> Output | None:
        """The output an ``UploadRecordFile`` answer is for, if recstate asked for that upload
        and is waiting for its answer: a file the mobile SDK uploads itself (``upload`` "sdk")
        was never asked for, so an answer for it must not touch it or schedule a retry."""
        o = self.ctx.outputs.get(ev.filename)
        if o is None or o.state != "uploading" or o.retry_at is not None:
            self.violation(f"{ev.name} for {ev.filename!r}, which is not being uploaded")
            return None
        if o.upload != "ours":
            self.violation(f"{ev.name} for {ev.filename!r}, which is not being uploaded by "
                           "recstate: the SDK uploads it itself (isUploadOnRecording on "
                           f"{self.ctx.platform}) and no UploadRecordFile was sent for it")
            return None
        return o

    def uploaded(self, ev: Any) -> None:
        o = self._uploading(ev)
        if o is not None:
            self._ready(o, ev.url)

    def _ready(self, o: Output, url: str) -> None:
        o.state, o.url = "ready", url
        f = self._file(o)
        if f is not None:
            self.update_file(f, "ready", url=url, status="ready")

    def upload_failed(self, ev: Any) -> None:
        o = self._uploading(ev)
        if o is None:
            return
        o.errCode = ev.code
        if ev.code in UPLOAD_RETRYABLE and o.attempts <= self.opts.upload_retries:
            delay = self.opts.upload_backoff * 2 ** (o.attempts - 1)
            o.retry_at = self.now + delay
            self.notice(ev.code, f"upload {o.attempts} of {o.name!r} failed: "
                        f"{vendor_error(ev.code, ev.desc)}; retry {o.attempts} of "
                        f"{self.opts.upload_retries} in {delay:g} s", level="warning")
            self._arm_retry()
            return
        tries = f" after {o.attempts} attempts" if o.attempts > 1 else ""
        self._upload_gave_up(o, ev.code, f"the upload failed{tries}", ev.desc)

    def _upload_gave_up(self, o: Output, code: int, why: str, desc: str = "") -> None:
        o.state = "upload_failed"
        f = self._file(o)
        if f is not None:
            self.update_file(f, "failed", status="failed")
        self.notice(code, f"{o.name!r}: {why}: {vendor_error(code, desc)}; the local file "
                    "stays where it was recorded")

    def _arm_retry(self) -> None:
        due = [o.retry_at for o in self.ctx.outputs.values() if o.retry_at is not None]
        if due:
            self.arm_at("upload_retry", min(due))

    def retry_uploads(self, ev: Event) -> None:
        for o in self.ctx.outputs.values():
            if o.retry_at is not None and o.retry_at <= self.now:
                o.retry_at = None
                o.attempts += 1
                self._send_upload(o)
        self._arm_retry()

    # ---- the crash ---------------------------------------------------------------------------
    def crash(self, ev: Any) -> None:
        """Every open output ends at its last report; only flv and ts keep what was written."""
        kept, lost, live = self._crash_outputs("crash")
        why = f" ({ev.reason})" if ev.reason else ""
        self.notice("app-crashed", f"the app crashed{why}: files kept (flv/ts survive a "
                    f"crash, 003): {kept}; lost (mp4/avi/mp3 are unusable after a crash): "
                    f"{lost}" + (f"; live streams ended: {live}" if live else ""))

    def _crash_outputs(self, cause: str) -> tuple[list[str], list[str], list[str]]:
        kept, lost, live = [], [], []
        self.ctx.ended = self.now
        self.cancel("silence")
        for o in self._open():
            end = self._last_word(o)
            o.closed_by = cause
            if o.type != MIXOT_FILE:
                o.state = "closed"
                live.append(o.name)
            elif o.format in CRASH_SAFE:
                kept.append(o.name)
                self._close(o, end)
            else:
                lost.append(o.name)
                o.state = "lost"
                f = self._file(o)
                if f is not None:
                    self.update_file(f, "lost", end=max(end, f.start or end), status="lost")
        return kept, lost, live

    # ---- the app's silence ---------------------------------------------------------------------
    def _silence(self) -> float:
        return self.opts.silence_timeout or math.inf

    @staticmethod
    def _last_word(o: Output) -> float:
        return o.added if o.last_report is None else o.last_report

    def _silent(self) -> list[Output]:
        return [o for o in self._open() if self._last_word(o) + self._silence() <= self.now]

    def _arm_silence(self, heard: bool = True) -> None:
        """Re-arm the watchdog; ``heard``: the app or its SDK has just said something."""
        ctx = self.ctx
        if heard:
            ctx.heard = self.now
        open_ = self._open()
        if self.opts.silence_timeout is None:
            self.cancel("silence")
        elif open_:
            self.arm_at("silence", min(self._last_word(o) for o in open_) + self._silence())
        else:  # nothing is written: the mixer itself waits for a word from its app
            self.arm_at("silence", (ctx.heard or self.now) + self._silence())

    def app_silent(self, ev: Event) -> bool:
        open_ = self._open()
        if open_:
            return len(self._silent()) == len(open_)
        return (self.ctx.heard or self.now) + self._silence() <= self.now

    def app_gone(self, ev: Event) -> None:
        """No output has reported (nor, with none open, the app said anything) for
        silence_timeout: the app is gone without a word. Its outputs end as in a crash (003:
        only flv and ts survive one), at their last report."""
        open_ = self._open()
        last = max(self._last_word(o) for o in open_) if open_ else (self.ctx.heard or 0.0)
        kept, lost, live = self._crash_outputs("silence")
        quiet = (f"no LocMixerOutputInfo from mixer {self.session.key!r} for "
                 f"{self.now - last:g} s (silence_timeout {self._silence():g} s; 003: the "
                 "SDK reports all through a recording)" if open_ else
                 f"nothing from the app about mixer {self.session.key!r}, which writes no "
                 f"output, for {self.now - last:g} s (silence_timeout "
                 f"{self._silence():g} s)")
        what = (f"files kept (flv/ts): {kept}; taken as lost (mp4/avi/mp3 do not survive a "
                f"crash; if the app lives on, they are on the device): {lost}"
                + (f"; live streams ended: {live}" if live else "")
                if open_ else "nothing was recording")
        self.notice("app-silent", f"{quiet}, and no appCrashed, no {DESTROY}: the app is "
                    f"taken as gone, as in a crash; {what}", level="warning")

    def outputs_silent(self, ev: Event) -> None:
        """Some outputs went silent while others report: the app lives, those outputs
        ended unreported; each is closed at its last report."""
        silent = self._silent()
        for o in silent:
            o.closed_by = "silence"
            self._close(o, self._last_word(o))
        if silent:
            self.notice("output-silent", f"{[o.name for o in silent]} reported nothing for "
                        f"{self._silence():g} s while other outputs of the mixer report: "
                        "each is taken as ended at its last report (duration and size as "
                        "reported then)", level="warning")
        self._arm_silence(heard=False)

    def crash_without_mixer(self, ev: Event) -> None:
        self.notice("app-crashed", f"the app crashed while mixer {self.session.key!r} was "
                    f"{self.state}: nothing was recording", level="info")

    # ---- the report ----------------------------------------------------------------------------
    @classmethod
    def summary(cls, session: SessionView) -> dict[str, Any] | None:
        ctx: CloudRoomContext = session.context
        return {"platform": ctx.platform, "mixerCfg": ctx.mixerCfg,
                "layouts": [attrs.asdict(x) for x in ctx.layouts],
                "outputs": [{"name": o.name, "type": o.type, "format": o.format,
                             "state": o.state, "duration": o.duration, "fileSize": o.fileSize,
                             "errCode": o.errCode, "encryptType": o.encryptType,
                             "upload": o.upload, "url": o.url}
                            for o in ctx.outputs.values()]}

    @classmethod
    def moments(cls, session: SessionView) -> list[Moment]:
        """The layouts the mixer had (003 §1 at create, §4 each update that was sent): a
        mark each on the timeline; a refused update is a notice, not a layout."""
        ctx: CloudRoomContext = session.context
        out = []
        for i, layout in enumerate(ctx.layouts):
            what = "layout at create" if layout.cause == CREATE else f"layout change #{i}"
            out.append(Moment(layout.t, "layout", layout.cause,
                              f"{what} ({layout.cause}): {layout_text(layout.mixerContent)}"))
        return out


def _machine_for(ev: Event) -> type[Machine]:
    return CloudRoomMixer


VENDOR_SPEC = Vendor(name=VENDOR, machines=(CloudRoomMixer,), machine_for=_machine_for,
                     session_key=session_key, split=split,
                     doc="CloudRoom local recording (003): session mixerID")
