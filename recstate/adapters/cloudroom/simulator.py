"""The CloudRoom local recording simulator: the SDK's mixers and outputs in the runtime's
(virtual) time (003), with fault injection."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Final

import attrs

from recstate import signals
from recstate.events import Command, Event
from recstate.events.cloudroom import (
    MOBILE,
    AddLocMixerOutputCommand,
    AppCrashed,
    CreateLocMixerCommand,
    DestroyLocMixerCommand,
    LocMixerOutputInfo,
    OutputInfo,
    RmLocMixerOutputCommand,
    UploadRecordFileCommand,
    UploadRecordFileError,
    UploadRecordFileOk,
    state_number,
)
from recstate.runtime import Runtime
from recstate.session import Session

__all__ = ["EIGHT_HOURS", "CloudRoomSimulator"]

#: 901: "单次录制达到最大时长(8h)" (Constant.md).
EIGHT_HOURS: Final = 8 * 3600.0


@attrs.define(eq=False)
class _Output:
    """One output as the SDK sees it: writing from ``start``; its scheduled reports."""

    mixer: str
    name: str
    start: float
    upload: bool  # the mobile SDK uploads it (isUploadOnRecording on android/ios/mac)
    timers: list[tuple[str, float]] = attrs.field(factory=list)
    ended: float | None = None


class CloudRoomSimulator:
    """The CloudRoom SDK's local mixers, in the runtime's time.

    It subscribes to the ``cloudroom`` commands of one runtime. An output added by
    ``AddLocMixerOutput`` reports CREATED ``delay`` seconds later, then WRITING every
    ``interval`` seconds with a growing duration (ms) and size (``bytes_per_second``), and
    at 8 hours ERR 901 (the maximum of one recording). ``RmLocMixerOutput`` and
    ``DestroyLocMixer`` end outputs: CLOSED with the figures at that instant, ``delay``
    later. The state numbers are those of the mixer's platform (the session's ``platform``),
    so an Android mixer reports CREATED as 1. On Android, iOS and Mac an output with
    ``isUploadOnRecording`` is uploaded by the SDK: UPLOADING at close, then UPLOADSUCCESS
    ``upload_seconds`` later. Elsewhere ``UploadRecordFile`` is answered ``upload_seconds``
    later with a url under ``url_base`` (``answer_upload=False`` leaves it to a real
    uploader adapter).

    The reports are runtime timers with no session (what ``deliver_at`` does), named, so
    that an ended output's future reports are cancelled; all of an output's reports up to
    8 hours are scheduled when it is added.

    Faults: :meth:`fail_output` (an ERR code at a time: 902 is a full disk), :meth:`disk_full`,
    :meth:`crash` (the app ends: reports stop, ``appCrashed`` is delivered),
    :meth:`go_silent` (the app goes away without a word: reports stop, nothing is delivered),
    :meth:`silence_outputs` (some outputs hang: their reports stop, the others go on),
    :meth:`fail_upload` (the next uploads fail with 1202, or a given code),
    ``upload_seconds`` (a slow upload).
    """

    _instances = 0

    def __init__(self, runtime: Runtime, *, delay: float = 0.0, interval: float = 10.0,
                 bytes_per_second: int = 62_500, upload_seconds: float = 1.0,
                 url_base: str = "https://record.example.com/upload/",
                 answer_upload: bool = True, max_seconds: float = EIGHT_HOURS) -> None:
        if delay < 0 or upload_seconds < 0:
            raise ValueError(f"delays are >= 0 seconds, got delay={delay}, "
                             f"upload_seconds={upload_seconds}")
        if interval <= 0:
            raise ValueError(f"interval must be > 0 seconds, got {interval}")
        CloudRoomSimulator._instances += 1
        self._name = f"cloudroom-sim{CloudRoomSimulator._instances}"
        self.runtime = runtime
        self.delay = delay
        self.interval = interval
        self.bytes_per_second = bytes_per_second
        self.upload_seconds = upload_seconds
        self.url_base = url_base.rstrip("/") + "/"
        self.answer_upload = answer_upload
        self.max_seconds = max_seconds
        self._platforms: dict[str, str] = {}
        self._outputs: dict[tuple[str, str], _Output] = {}
        self._faults: list[tuple[str | None, str | None, int, float]] = []
        self._upload_failures: list[int] = []
        self._seq = 0
        self._gone: set[str] = set()
        self.delivered: list[Event] = []
        self._signal = signals.commands("cloudroom")
        self._signal.connect(self._on_command, sender=runtime, weak=False)

    # ---- fault injection -------------------------------------------------------------------
    def fail_output(self, name: str, code: int, at: float, mixer: str | None = None) -> None:
        """Output ``name`` (of any mixer unless ``mixer``) reports ERR ``code`` at ``at`` and
        stops (003 §2: "如果输出异常，将自动停止录制"). Applies to an output added later too."""
        self._faults.append((mixer, name, code, float(at)))
        for out in self._matching(mixer, name):
            self._apply_fault(out, code, float(at))

    def disk_full(self, at: float, names: Iterable[str] | None = None) -> None:
        """902 (磁盘空间不够) at ``at`` for the named file outputs, or for every one."""
        if names is None:
            self._faults.append((None, None, 902, float(at)))
            for out in list(self._outputs.values()):
                if not out.name.startswith(("rtmp://", "rtsp://")):
                    self._apply_fault(out, 902, float(at))
            return
        for name in names:
            self.fail_output(name, 902, at)

    def crash(self, mixers: Iterable[str], at: float) -> None:
        """The app crashes at ``at``: the mixers' reports stop there and ``appCrashed`` is
        delivered at ``at`` (the service noticed)."""
        ids = list(mixers)
        for out in self._outputs.values():
            if out.mixer in ids and (out.ended is None or out.ended > at):
                self._cancel_from(out, at)
                out.ended = at
        self._deliver(at, AppCrashed(t=at, mixerIDs=tuple(ids), reason="simulated crash"))

    def go_silent(self, mixers: Iterable[str], at: float) -> None:
        """The app dies (or loses its link to the service) at ``at`` and nobody says so: the
        mixers' reports stop there, no ``appCrashed`` comes, and the SDK's calls for them are
        not carried out any more (an ``UploadRecordFile`` is the service's: still answered)."""
        ids = set(mixers)
        self._gone |= ids
        for out in self._outputs.values():
            if out.mixer in ids and (out.ended is None or out.ended > at):
                self._cancel_from(out, at)
                out.ended = at

    def silence_outputs(self, names: Iterable[str], at: float, mixer: str | None = None
                        ) -> None:
        """Outputs ``names`` (of any mixer unless ``mixer``) report nothing from ``at`` on
        while the mixer's other outputs go on: a writer that hangs (a network share that
        stopped answering) gets no CLOSED or ERR either. The machine's ``silence_timeout``
        is what ends them."""
        for name in names:
            for out in self._matching(mixer, name):
                if out.ended is None or out.ended > at:
                    self._cancel_from(out, at)
                    out.ended = at

    def fail_upload(self, times: int = 1, code: int = 1202) -> None:
        """The next ``times`` uploads fail with ``code`` (1202: 上传失败)."""
        self._upload_failures.extend([code] * times)

    # The faults of a scenario file (``recstate simulate FILE``): armed at the fault's ``at``,
    # so they happen then; the methods above take the instant themselves.
    def output_error(self, name: str, code: int, mixer: str | None = None) -> None:
        """Output ``name`` reports ERR ``code`` now (a scenario's ``error`` fault)."""
        self.fail_output(name, code, self.runtime.clock.now(), mixer)

    def full_disk(self, names: list[str] | None = None) -> None:
        """902 now for the named file outputs, or for every one (``disk_full``)."""
        self.disk_full(self.runtime.clock.now(), names)

    def crash_now(self, mixers: list[str]) -> None:
        """The app crashes now (``crash``)."""
        self.crash(mixers, self.runtime.clock.now())

    def silent_now(self, mixers: list[str]) -> None:
        """The app goes away now without a word (``silent``)."""
        self.go_silent(mixers, self.runtime.clock.now())

    def outputs_silent_now(self, names: list[str], mixer: str | None = None) -> None:
        """The named outputs go quiet now, the others report on (``output_silent``)."""
        self.silence_outputs(names, self.runtime.clock.now(), mixer)

    def disconnect(self) -> None:
        self._signal.disconnect(self._on_command, sender=self.runtime)
        for out in self._outputs.values():
            self._cancel_from(out, -math.inf)

    # ---- commands ------------------------------------------------------------------------
    def _on_command(self, sender: Any, *, session: Session, command: Command, t: float,
                    **_: Any) -> None:
        if getattr(command, "mixerID", None) in self._gone and not isinstance(
                command, UploadRecordFileCommand):
            return  # the app is gone: nothing carries the SDK's call out
        if isinstance(command, CreateLocMixerCommand):
            self._platforms[command.mixerID] = getattr(session.context, "platform", "windows")
        elif isinstance(command, AddLocMixerOutputCommand):
            for item in command.outputs:
                self._add(command.mixerID, item, t)
        elif isinstance(command, RmLocMixerOutputCommand):
            for name in command.outputs:
                out = self._outputs.get((command.mixerID, name))
                if out is not None:
                    self._close(out, t)
        elif isinstance(command, DestroyLocMixerCommand):
            for out in list(self._outputs.values()):
                if out.mixer == command.mixerID:
                    self._close(out, t)
        elif isinstance(command, UploadRecordFileCommand) and self.answer_upload:
            at = t + self.upload_seconds
            answer: Event
            if self._upload_failures:
                code = self._upload_failures.pop(0)
                answer = UploadRecordFileError(t=at, session=session.key,
                                               mixerID=command.mixerID,
                                               filename=command.filename, code=code,
                                               desc="simulated upload failure")
            else:
                answer = UploadRecordFileOk(t=at, session=session.key, mixerID=command.mixerID,
                                            filename=command.filename,
                                            url=self._url(command.filename,
                                                          command.serverPathFileName))
            self._deliver(at, answer)

    def _url(self, filename: str, server_path: str | None) -> str:
        path = server_path or filename.replace("\\", "/").rsplit("/", 1)[-1]
        return self.url_base + path.lstrip("/")

    def _number(self, mixer: str, state: str) -> int:
        return state_number(self._platforms.get(mixer, "windows"), state)

    def _info(self, out: _Output, at: float, state: str, duration: float | None = None,
              err: int | None = None) -> LocMixerOutputInfo:
        seconds = None if duration is None else max(0.0, duration)
        return LocMixerOutputInfo(
            t=at, session=out.mixer, mixerID=out.mixer, nameOrUrl=out.name,
            outputInfo=OutputInfo(
                state=self._number(out.mixer, state),
                duration=None if seconds is None else round(seconds * 1000),
                fileSize=None if seconds is None else round(seconds * self.bytes_per_second),
                errCode=0 if err is None else err))

    def _add(self, mixer: str, item: dict[str, Any], t: float) -> None:
        name = item.get("filename") or item.get("fileName") or item.get("liveUrl") or ""
        start = t + self.delay
        mobile = self._platforms.get(mixer, "windows") in MOBILE
        out = _Output(mixer, name, start, upload=mobile and item.get("isUploadOnRecording") == 1
                      and item.get("type") == 0)
        self._outputs[(mixer, name)] = out
        self._schedule(out, start, self._info(out, start, "CREATED", 0.0))
        k = 1
        while k * self.interval < self.max_seconds:
            at = start + k * self.interval
            self._schedule(out, at, self._info(out, at, "WRITING", k * self.interval))
            k += 1
        end = start + self.max_seconds
        self._schedule(out, end, self._info(out, end, "ERR", self.max_seconds, err=901))
        out.ended = end  # unless something ends it sooner
        for f_mixer, f_name, code, at in self._faults:
            if f_mixer in (None, mixer) and (f_name == name or (
                    f_name is None and item.get("type") == 0)):
                self._apply_fault(out, code, max(at, start))

    def _schedule(self, out: _Output, at: float, ev: Event) -> None:
        self._seq += 1
        name = f"{self._name}#{self._seq}"
        self.runtime.timers.arm(None, name, at, payload=ev)
        out.timers.append((name, at))

    def _cancel_from(self, out: _Output, at: float) -> None:
        keep = []
        for name, due in out.timers:
            if due >= at:
                self.runtime.timers.cancel(None, name)
            else:
                keep.append((name, due))
        out.timers = keep

    def _apply_fault(self, out: _Output, code: int, at: float) -> None:
        if out.ended is not None and out.ended <= at:
            return
        self._cancel_from(out, at)
        out.ended = at
        self._schedule(out, at, self._info(out, at, "ERR", err=code))

    def _close(self, out: _Output, t: float) -> None:
        if out.ended is not None and out.ended <= t:
            return
        self._cancel_from(out, t)
        out.ended = t
        at = t + self.delay
        self._schedule(out, at, self._info(out, at, "CLOSED", t - out.start))
        if out.upload:
            self._schedule(out, at, self._info(out, at, "UPLOADING"))
            done = at + self.upload_seconds
            if self._upload_failures:
                code = self._upload_failures.pop(0)
                self._schedule(out, done, self._info(out, done, "UPLOADERR", err=code))
            else:
                self._schedule(out, done, self._info(out, done, "UPLOADSUCCESS"))

    def _matching(self, mixer: str | None, name: str | None) -> list[_Output]:
        return [o for o in self._outputs.values()
                if mixer in (None, o.mixer) and name in (None, o.name)]

    def _deliver(self, at: float, ev: Event) -> None:
        self.delivered.append(ev)
        self.runtime.deliver_at(at, ev)

    def __repr__(self) -> str:
        return (f"CloudRoomSimulator({self._name}, outputs="
                f"{sorted(f'{m}:{n}' for m, n in self._outputs)})")
