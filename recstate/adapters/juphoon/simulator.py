"""The Juphoon MediaChannel simulator: the JC SDK, the recording server and the Qiniu bucket in
the runtime's (virtual) time (001), with fault injection."""

from __future__ import annotations

import hashlib
import logging
from typing import Any, Final, cast

import attrs

from recstate import signals
from recstate.adapters.juphoon.qiniu import NOT_FOUND, QiniuStat, urlsafe_b64
from recstate.events import Command, Event
from recstate.events.juphoon import (
    ENABLE_RECORD,
    JOIN,
    LEAVE,
    ON_JOIN,
    ON_LEAVE,
    PROPERTY_CHANGE,
    STAT,
    EnableRecordCommand,
    JoinCommand,
    JoinError,
    JoinOk,
    LeaveCommand,
    LeftChannel,
    PropertyChange,
    QiniuRecordParam,
    RecordState,
    StatCommand,
    StatError,
    StatOk,
)
from recstate.runtime import Runtime
from recstate.session import Session

__all__ = ["CALLBACKS", "COMMANDS", "JuphoonSimulator"]

log = logging.getLogger("recstate.adapters.juphoon.simulator")

COMMANDS: Final = (JOIN, LEAVE, ENABLE_RECORD, STAT)
#: What the simulator can drop: the SDK's callbacks and the stat answers.
CALLBACKS: Final = (f"{ON_JOIN}:ok", f"{ON_JOIN}:error", ON_LEAVE, PROPERTY_CHANGE,
                    f"{STAT}:ok", f"{STAT}:error")


@attrs.define(eq=False)
class _Channel:
    """One channel as the server sees this client's part of it. ``record`` holds the real
    parameters (the server needs the keys to upload); it is never traced."""

    key: str
    channel_id: str
    record: QiniuRecordParam | None = None
    in_channel: bool = False
    record_state: str = "None"
    span_start: float | None = None
    span_param: QiniuRecordParam | None = None


class JuphoonSimulator:
    """The JC SDK's MediaChannel with server recording to Qiniu, in the runtime's time.

    It subscribes to the ``juphoon`` commands of one runtime and answers as 001 describes,
    ``delay`` seconds later (``runtime.deliver_at``): ``join`` -> ``onJoin:ok`` and, when the
    join carried record parameters, ``onMediaChannelPropertyChange`` Ready (without them the
    record state stays None); ``enableRecord(true)`` in Ready -> Running (its ``recordParam``
    replaces the join's); ``enableRecord(false)`` in Running -> Ready; ``leave`` ->
    ``onLeave``. Each Running span is written to the bucket under its ``fileName`` when it
    ends (Ready, or the leave), ``upload_delay`` seconds later, ``bytes_per_second`` (audio:
    ``audio_bytes_per_second``) of its duration; ``stat`` finds it there (612 before).

    Faults: :meth:`fail_next` (a refused join), :meth:`never_answer_next` (an enableRecord
    whose property change never comes: the server does nothing), :meth:`drop_next` (a
    callback that never arrives, e.g. ``onLeave``), :meth:`lose_next_file` (a recording that
    never appears in the bucket), :meth:`report` (a property change the server makes by
    itself, out of order or not), :meth:`delay`.

    ``answer_stat=False`` leaves ``stat`` to another adapter (:class:`QiniuAdapter` against
    a Qiniu on loopback that serves :meth:`objects`).
    """

    def __init__(self, runtime: Runtime, *, delay: float = 0.2, upload_delay: float = 3.0,
                 bytes_per_second: int = 250_000, audio_bytes_per_second: int = 16_000,
                 domain: str = "https://rec.example-qiniu.com", answer_stat: bool = True
                 ) -> None:
        if delay < 0 or upload_delay < 0:
            raise ValueError(f"delays are >= 0 seconds, got delay={delay}, "
                             f"upload_delay={upload_delay}")
        self.runtime = runtime
        self.upload_delay = upload_delay
        self.bytes_per_second = bytes_per_second
        self.audio_bytes_per_second = audio_bytes_per_second
        self.domain = domain.rstrip("/")
        self.answer_stat = answer_stat
        self._delay = delay
        self._channels: dict[str, _Channel] = {}
        self._failures: dict[str, list[tuple[int, str]]] = {}
        self._silent: dict[str, int] = {}
        self._drops: dict[str, int] = {}
        self._lose = 0
        #: (bucket, key) -> (in the bucket from, the object's stat)
        self._bucket: dict[tuple[str, str], tuple[float, QiniuStat]] = {}
        self.answered: list[Event] = []
        self._signal = signals.commands("juphoon")
        self._signal.connect(self._on_command, sender=runtime, weak=False)

    # ---- fault injection ---------------------------------------------------------------
    def fail_next(self, command_name: str, code: int, desc: str = "", times: int = 1) -> None:
        """Answer the next ``times`` joins with ``onJoin:error`` ``code``."""
        if command_name != JOIN:
            raise ValueError(f"only {JOIN!r} has an error callback (onJoin); got "
                             f"{command_name!r}")
        self._failures.setdefault(command_name, []).extend([(code, desc)] * times)

    def never_answer_next(self, command_name: str = ENABLE_RECORD, times: int = 1) -> None:
        """The next ``times`` ``enableRecord`` calls change nothing and report nothing."""
        if command_name != ENABLE_RECORD:
            raise ValueError(f"only {ENABLE_RECORD!r} is answered by a property change; got "
                             f"{command_name!r}")
        self._silent[command_name] = self._silent.get(command_name, 0) + times

    def drop_next(self, callback_name: str, times: int = 1) -> None:
        """Never deliver the next ``times`` callbacks named ``callback_name``."""
        if callback_name not in CALLBACKS:
            raise ValueError(f"unknown Juphoon callback {callback_name!r}; expected one of "
                             f"{', '.join(CALLBACKS)}")
        self._drops[callback_name] = self._drops.get(callback_name, 0) + times

    def lose_next_file(self, times: int = 1) -> None:
        """The next ``times`` recordings never reach the bucket."""
        self._lose += times

    def delay(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a delay is >= 0 seconds, got {seconds}")
        self._delay = seconds

    def report(self, session_key: str, record_state: str, at: float | None = None) -> None:
        """The server reports ``record_state`` for ``session_key`` at ``at`` by itself (a
        Running straight from None, say), and acts on it."""
        at = self.runtime.clock.now() if at is None else at
        ch = self._channels.get(session_key)
        if ch is None:
            raise ValueError(f"no channel {session_key!r} joined through this simulator")
        self._set_state(ch, record_state, at)

    def disconnect(self) -> None:
        self._signal.disconnect(self._on_command, sender=self.runtime)

    # ---- the bucket --------------------------------------------------------------------------
    def objects(self, at: float | None = None) -> dict[tuple[str, str], QiniuStat]:
        """The bucket's objects at ``at`` (now by default): (bucket, key) -> stat."""
        at = self.runtime.clock.now() if at is None else at
        return {k: st for k, (since, st) in self._bucket.items() if since <= at}

    # ---- commands ------------------------------------------------------------------------------
    def _on_command(self, sender: Any, *, session: Session, command: Command, t: float,
                    **_: Any) -> None:
        log.debug("simulator: %s for %s: %r", command.name, session.key, command)
        at = t + self._delay
        if isinstance(command, JoinCommand):
            self._join(session.key, command, at)
        elif isinstance(command, EnableRecordCommand):
            self._enable(session.key, command, t, at)
        elif isinstance(command, LeaveCommand):
            self._leave(session.key, t, at)
        elif isinstance(command, StatCommand) and self.answer_stat:
            self._stat(session.key, command, at)

    def _join(self, key: str, cmd: JoinCommand, at: float) -> None:
        failures = self._failures.get(JOIN)
        if failures:
            code, desc = failures.pop(0)
            self._answer(JoinError(t=at, session=key, code=code, desc=desc,
                                   channelId=cmd.channelId))
            return
        ch = self._channels[key] = _Channel(key=key, channel_id=cmd.channelId,
                                            record=cmd.record, in_channel=True)
        self._answer(JoinOk(t=at, session=key, channelId=cmd.channelId))
        if cmd.record is not None:  # the server can record this channel
            self._set_state(ch, "Ready", at)

    def _enable(self, key: str, cmd: EnableRecordCommand, t: float, at: float) -> None:
        ch = self._channels.get(key)
        if ch is None or not ch.in_channel:
            return
        if self._silent.get(ENABLE_RECORD):
            self._silent[ENABLE_RECORD] -= 1
            return
        if cmd.enable and ch.record_state == "Ready":
            if cmd.recordParam is not None:
                ch.record = cmd.recordParam
            self._set_state(ch, "Running", at)
        elif not cmd.enable and ch.record_state == "Running":
            self._set_state(ch, "Ready", at)

    def _leave(self, key: str, t: float, at: float) -> None:
        ch = self._channels.get(key)
        if ch is None:
            return
        if ch.record_state == "Running":  # the last member leaves: the recording ends
            self._end_span(ch, t)
        ch.record_state = "None"
        ch.in_channel = False
        self._answer(LeftChannel(t=at, session=key, channelId=ch.channel_id))

    def _stat(self, key: str, cmd: StatCommand, at: float) -> None:
        found = self.objects(at).get((cmd.bucket, cmd.key))
        if found is None:
            self._answer(StatError(t=at, session=key, fileId=cmd.fileId, key=cmd.key,
                                   code=NOT_FOUND, desc="no such file or directory"))
            return
        self._answer(StatOk(t=at, session=key, fileId=cmd.fileId, key=cmd.key,
                            fsize=found.fsize, hash=found.hash, mimeType=found.mimeType,
                            putTime=found.putTime, url=f"{self.domain}/{cmd.key}"))

    # ---- the server ----------------------------------------------------------------------------
    def _set_state(self, ch: _Channel, record_state: str, at: float) -> None:
        before = ch.record_state
        if record_state == before:
            return
        if before == "Running":
            self._end_span(ch, at)
        if record_state == "Running":
            ch.span_start, ch.span_param = at, ch.record
        ch.record_state = record_state
        self._answer(PropertyChange(t=at, session=ch.key,
                                    recordState=cast("RecordState", record_state)))

    def _end_span(self, ch: _Channel, end: float) -> None:
        start, param = ch.span_start, ch.span_param
        ch.span_start = ch.span_param = None
        if start is None or param is None:
            return
        if self._lose:
            self._lose -= 1
            return
        rate = self.bytes_per_second if param.video else self.audio_bytes_per_second
        size = round(max(0.0, end - start) * rate)
        digest = hashlib.sha1(f"{param.bucketName}/{param.fileName}/{size}".encode(),
                              usedforsecurity=False).digest()  # Qiniu's etag is SHA-1 based
        stat = QiniuStat(key=param.fileName, fsize=size, hash=urlsafe_b64(b"\x16" + digest),
                         mimeType="video/mp4" if param.video else "audio/mp4",
                         putTime=int((end + self.upload_delay) * 10_000_000))
        self._bucket[(param.bucketName, param.fileName)] = (end + self.upload_delay, stat)

    def _answer(self, ev: Event) -> None:
        if self._drops.get(ev.name):
            self._drops[ev.name] -= 1
            return
        self.answered.append(ev)
        self.runtime.deliver_at(ev.t, ev)

    def __repr__(self) -> str:
        return (f"JuphoonSimulator(delay={self._delay}, channels="
                f"{sorted((c.key, c.record_state) for c in self._channels.values())})")
