"""Tencent adapters: an ILVB recorder simulator, and a real Tencent Cloud VOD client.

Two halves, both answering the commands of :class:`recstate.machines.tencent.TencentRecorder`:

- :class:`TencentSimulator` plays the Tencent recording server and the client's A/V upstream
  in the runtime's (virtual) time, faithful to ``vendor-docs/002_1767472c9d961129.txt`` and
  ``vendor-docs/004_b06b9b45c1601df1.txt``: one recording per user at a time (002 §2
  "录制同一个用户同一时刻只能发起一路录制请求", else 30000415, 004 §5); a new MP4 every 90
  minutes and one file ID per file at stop (002 §3, §6 (1)); 1 minute without data closes the
  recording with what was recorded up to the client's exit (002 §6 (2)); a stop for a
  recording that is already closed answers 30000412 (004 §5). It injects faults: error codes,
  dropped and duplicated callbacks, delays, client crashes.
- :class:`VodClient` calls Tencent Cloud API 3.0 ``SearchMedia`` (version 2018-07-17), where
  the recordings are stored (002 §4: "录制的视频将存储在点播服务中"), signing each request with
  TC3-HMAC-SHA256 (:func:`tc3_sign`, a pure function); :class:`VodAdapter` answers the
  machine's ``SearchMedia`` command with it.

:func:`run_scenario` runs a named scenario end to end on a manual clock and writes the trace.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import os
import zlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import IO, Any, Final
from urllib.parse import urlsplit

import attrs
import httpx
import orjson

from recstate import signals
from recstate.clock import Clock, ManualClock, SystemClock
from recstate.errors import RecstateError
from recstate.events import Command, Event
from recstate.events.tencent import (
    ERRORS,
    SEARCH,
    START,
    STOP,
    EnterRoom,
    ExitRoom,
    MediaData,
    RecordParam,
    RoomInfo,
    SearchMediaCommand,
    SearchMediaError,
    SearchMediaOk,
    StartCommand,
    StartError,
    StartOk,
    StartRecording,
    StopCommand,
    StopError,
    StopOk,
    StopRecording,
    VodFile,
)
from recstate.runtime import Runtime
from recstate.session import Session
from recstate.trace import TraceWriter

__all__ = [
    "ALREADY_RECORDING",
    "ALREADY_STOPPED",
    "CALLBACKS",
    "SCENARIOS",
    "Tc3Signature",
    "TencentSimulator",
    "VodAdapter",
    "VodClient",
    "VodError",
    "run_scenario",
    "tc3_sign",
]

#: 004 §5: "启动录制重复发送，用户正在录制" (a start while the user is recording).
ALREADY_RECORDING: Final = 30000415
#: 004 §5: "停止录制重复发送，用户已经停止录制" (a stop for a recording already closed).
ALREADY_STOPPED: Final = 30000412

_COMMANDS: Final = (START, STOP, SEARCH)
#: The callbacks the simulator can drop or duplicate: ``<command>:ok`` / ``<command>:error``.
CALLBACKS: Final = tuple(f"{c}:{o}" for c in _COMMANDS for o in ("ok", "error"))


# =============================================================================================
# The simulator
# =============================================================================================
@attrs.define(eq=False)
class _Recording:
    """One recording as the server sees it. ``start`` is when start answered ok (the
    machine opens its first file then); ``crash_at`` is when the client's data stopped."""

    seq: int
    session: str
    user: str
    room: RoomInfo
    file_name: str
    start: float
    media_timer: str
    crash_at: float | None = None
    ticks: list[str] = attrs.field(factory=list)


class TencentSimulator:
    """The Tencent ILVB recording server and the client's upstream, in the runtime's time.

    It subscribes to the ``tencent`` commands of one runtime and answers each with the
    callback the SDK would give, ``delay`` seconds later (``runtime.deliver_at``). While a
    recording runs it delivers ``mediaData`` to the session every ``data_interval`` seconds
    (a repeating timer of the runtime, no thread) until the recording is stopped or the
    client crashes (:meth:`crash`).

    Server truth (002, 004): one recording per user across rooms (a second start answers
    30000415); files roll every ``file_seconds`` of recording (90 min, 002 §6 (1)), and stop
    returns one file ID per file; if the client's data stops, the server closes the recording
    ``no_data_timeout`` (60 s, 002 §6 (2)) after the last data, the last file ending at the
    last data; a stop for a closed recording (or for none) answers 30000412. Files enter VOD
    when the recording closes, and ``SearchMedia`` finds them by name prefix.

    Time: a recording starts when its start is answered (``t + delay``: the machine opens
    its first file when it receives ``:ok``) and ends when the stop was sent (the machine
    ends its files there too), so the simulator's files and the machine's have the same
    bounds. A rollover that falls exactly at the stop instant opens a (zero-length) file, as
    the machine's rollover timer does. File IDs come from a counter and a CRC of the session
    key, so the same run gives the same IDs.

    Faults: :meth:`fail_next`, :meth:`drop_next`, :meth:`duplicate_next`, :meth:`delay`,
    :meth:`crash`. A dropped ``:ok`` loses only the callback: the server did what was asked
    (a dropped start ``:ok`` leaves a recording running that the machine, stuck in
    ``starting``, does not know about).

    ``answer_search=False`` leaves ``SearchMedia`` to another adapter (:class:`VodAdapter`).
    """

    _instances = 0

    def __init__(self, runtime: Runtime, *, delay: float = 0.2, data_interval: float = 10.0,
                 file_seconds: float = 90 * 60.0, no_data_timeout: float = 60.0,
                 bytes_per_second: int = 100_000,
                 url_base: str = "https://1400000000.vod2.myqcloud.com/sim",
                 answer_search: bool = True) -> None:
        if delay < 0:
            raise ValueError(f"delay must be >= 0 seconds, got {delay}")
        if file_seconds <= 0:
            raise ValueError(f"file_seconds must be > 0, got {file_seconds}")
        TencentSimulator._instances += 1
        self._name = f"tencent-sim{TencentSimulator._instances}"
        self.runtime = runtime
        self.data_interval = data_interval
        self.file_seconds = file_seconds
        self.no_data_timeout = no_data_timeout
        self.bytes_per_second = bytes_per_second
        self.url_base = url_base.rstrip("/")
        self.answer_search = answer_search
        self._delay = delay
        self._delays: dict[str, float] = {}
        self._failures: dict[str, list[tuple[int | str, str]]] = {}
        self._drops: dict[str, int] = {}
        self._duplicates: dict[str, int] = {}
        self._active: dict[str, _Recording] = {}  # user -> the recording under way
        self._ended: dict[str, _Recording] = {}  # session key -> its last closed recording
        self._pending_crash: dict[str, float] = {}
        self._vod: list[VodFile] = []
        self._seq = 0
        self._file_counter = 0
        self.answered: list[Event] = []  # every callback delivered (duplicates twice)
        self._signal = signals.commands("tencent")
        # weak=False: the simulator lives as long as it is connected (or the runtime lives).
        self._signal.connect(self._on_command, sender=runtime, weak=False)

    # ---- fault injection ---------------------------------------------------------------
    def fail_next(self, command_name: str, code: int | str, times: int = 1,
                  desc: str = "") -> None:
        """Answer the next ``times`` calls of ``command_name`` with error ``code``.

        Start/stop codes are the SDK's ints (004 §5); SearchMedia codes are API 3.0 strings
        (``"InternalError"``). ``desc`` defaults to the code's meaning in 004 §5."""
        self._check_command(command_name)
        if command_name == SEARCH:
            code = str(code)
        elif isinstance(code, bool) or not isinstance(code, int):
            raise TypeError(f"{command_name} error codes are ints (004 §5), got {code!r}")
        if not desc and isinstance(code, int) and code in ERRORS:
            desc = ERRORS[code][0]
        self._failures.setdefault(command_name, []).extend([(code, desc)] * times)

    def drop_next(self, callback_name: str, times: int = 1) -> None:
        """Never deliver the next ``times`` callbacks named ``callback_name``
        (``"requestMultiVideoRecorderStart:ok"``...)."""
        self._check_callback(callback_name)
        self._drops[callback_name] = self._drops.get(callback_name, 0) + times

    def duplicate_next(self, callback_name: str, times: int = 1) -> None:
        """Deliver the next ``times`` callbacks named ``callback_name`` twice, at once."""
        self._check_callback(callback_name)
        self._duplicates[callback_name] = self._duplicates.get(callback_name, 0) + times

    def delay(self, seconds: float, command: str | None = None) -> None:
        """Answer ``command`` (every command when None) ``seconds`` after it is sent."""
        if seconds < 0:
            raise ValueError(f"a delay is >= 0 seconds, got {seconds}")
        if command is None:
            self._delay = seconds
        else:
            self._check_command(command)
            self._delays[command] = seconds

    def crash(self, session_key: str, at: float | None = None) -> None:
        """The client of ``session_key`` crashes at ``at`` (now when None): its data stops.

        The server then closes the recording 60 s after the last data (002 §6 (2)); the
        machine's own watchdog sees the silence. A crash for a session that is not recording
        yet applies to its next recording."""
        now = self.runtime.clock.now()
        at = now if at is None else float(at)
        if at < now:
            raise ValueError(f"crash at {at} is in the past (now {now})")
        rec = self._recording_of(session_key)
        if rec is None:
            self._pending_crash[session_key] = at
            return
        self._apply_crash(rec, at)

    def disconnect(self) -> None:
        """Stop answering: unsubscribe and cancel the media the simulator was delivering."""
        self._signal.disconnect(self._on_command, sender=self.runtime)
        for rec in self._active.values():
            self._stop_media(rec)

    # ---- what the server knows -----------------------------------------------------------
    @property
    def vod_files(self) -> list[VodFile]:
        """Every file VOD holds, in the order the recordings closed."""
        self._settle(self.runtime.clock.now())
        return list(self._vod)

    def recording_user(self, user: str) -> str | None:
        """The session key of ``user``'s recording under way on the server, if any."""
        self._settle(self.runtime.clock.now())
        rec = self._active.get(user)
        return rec.session if rec is not None else None

    # ---- commands --------------------------------------------------------------------------
    def _on_command(self, sender: Any, *, session: Session, command: Command, t: float,
                    **_: Any) -> None:
        name = command.name
        if name == SEARCH and not self.answer_search:
            return
        at = t + self._delays.get(name, self._delay)
        self._settle(at)
        key = session.key
        failure = self._take_failure(name)
        if isinstance(command, StartCommand):
            if failure is not None:
                code, desc = failure
                assert isinstance(code, int)
                self._answer(at, StartError(t=at, session=key, code=code, desc=desc))
            else:
                self._start(at, session, command)
        elif isinstance(command, StopCommand):
            if failure is not None:
                code, desc = failure
                assert isinstance(code, int)
                self._answer(at, StopError(t=at, session=key, code=code, desc=desc))
            else:
                self._stop(t, at, session)
        elif isinstance(command, SearchMediaCommand):
            if failure is not None:
                self._answer(at, SearchMediaError(t=at, session=key, code=str(failure[0]),
                                                  desc=failure[1]))
            else:
                files = tuple(f for f in self._vod if f.name.startswith(command.namePrefix))
                self._answer(at, SearchMediaOk(t=at, session=key, files=files))

    def _start(self, at: float, session: Session, cmd: StartCommand) -> None:
        key = session.key
        user = session.context.user or key
        busy = self._active.get(user)
        if busy is not None:
            where = "this room" if busy.session == key else f"session {busy.session}"
            self._answer(at, StartError(t=at, session=key, code=ALREADY_RECORDING,
                                        desc=f"{ERRORS[ALREADY_RECORDING][0]}: {user} is "
                                             f"recording in {where}"))
            return
        self._seq += 1
        rec = _Recording(seq=self._seq, session=key, user=user, room=cmd.roomInfo,
                         file_name=cmd.param.fileName, start=at,
                         media_timer=f"{self._name}:media#{self._seq}")
        self._active[user] = rec
        if self.data_interval > 0:
            data = MediaData(t=at + self.data_interval, session=key,
                             relationId=cmd.roomInfo.relationId, roomId=cmd.roomInfo.roomId,
                             user=session.context.user,
                             bytes=int(self.data_interval * self.bytes_per_second))
            # A repeating timer of the runtime with no session: it dispatches ``data`` as
            # an input every data_interval (what deliver_at does once), cancellable by name.
            self.runtime.timers.arm(None, rec.media_timer, at + self.data_interval,
                                    payload=data, every=self.data_interval)
        crash_at = self._pending_crash.pop(key, None)
        if crash_at is not None:
            self._apply_crash(rec, max(crash_at, at))
        self._answer(at, StartOk(t=at, session=key))

    def _stop(self, sent: float, at: float, session: Session) -> None:
        """The server stops writing when it takes the request: the recording ends when the
        stop was sent (as the machine ends its files), and the answer comes ``delay`` later."""
        key = session.key
        rec = self._recording_of(key)
        if rec is None:
            closed = self._ended.get(key)
            why = (f"the recording {closed.file_name!r} was already closed" if closed
                   else "nothing is recording")
            self._answer(at, StopError(t=at, session=key, code=ALREADY_STOPPED,
                                       desc=f"{ERRORS[ALREADY_STOPPED][0]}: {why}"))
            return
        end = max(sent, rec.start)
        if rec.crash_at is not None and rec.crash_at <= end:
            end = self._last_data(rec)
        files = self._close(rec, end)
        self._answer(at, StopOk(t=at, session=key, fileIds=tuple(f.fileId for f in files)))

    # ---- server internals ----------------------------------------------------------------
    def _recording_of(self, key: str) -> _Recording | None:
        return next((r for r in self._active.values() if r.session == key), None)

    def _apply_crash(self, rec: _Recording, at: float) -> None:
        """Replace the repeating media timer by single ticks up to the crash."""
        rec.crash_at = at
        timers = self.runtime.timers
        timer = timers.get(None, rec.media_timer)
        if timer is None:
            return
        timers.cancel(None, rec.media_timer)
        for name in rec.ticks:
            timers.cancel(None, name)
        rec.ticks.clear()
        due, n = timer.due, 0
        while due < at:
            n += 1
            name = f"{rec.media_timer}.{n}"
            timers.arm(None, name, due, payload=timer.payload)
            rec.ticks.append(name)
            due += self.data_interval

    def _stop_media(self, rec: _Recording) -> None:
        timers = self.runtime.timers
        timers.cancel(None, rec.media_timer)
        for name in rec.ticks:
            timers.cancel(None, name)
        rec.ticks.clear()

    def _last_data(self, rec: _Recording) -> float:
        """The last data before the crash: the ticks are start + k * interval, computed by
        the same repeated addition as the runtime's repeating timer."""
        last = rec.start
        if self.data_interval <= 0 or rec.crash_at is None:
            return last
        due = rec.start + self.data_interval
        while due < rec.crash_at:
            last = due
            due += self.data_interval
        return last

    def _settle(self, now: float) -> None:
        """Close the recordings whose client went silent ``no_data_timeout`` ago (002 §6 (2))."""
        for rec in list(self._active.values()):
            if rec.crash_at is None:
                continue
            last = self._last_data(rec)
            if last + self.no_data_timeout <= now:
                self._close(rec, last)

    def _close(self, rec: _Recording, end: float) -> list[VodFile]:
        """End ``rec`` at ``end``: one file per ``file_seconds`` (the last one partial)."""
        self._stop_media(rec)
        self._active.pop(rec.user, None)
        self._ended[rec.session] = rec
        bounds = [rec.start]
        boundary = rec.start + self.file_seconds
        while boundary <= end:
            bounds.append(boundary)
            boundary += self.file_seconds
        bounds.append(end)
        crc = zlib.crc32(rec.session.encode("utf-8")) % 1_000_000
        files = []
        for index, (a, b) in enumerate(itertools.pairwise(bounds), start=1):
            self._file_counter += 1
            file_id = f"52858{crc:06d}{self._file_counter:08d}"
            files.append(VodFile(fileId=file_id, name=f"{rec.file_name}_{index}",
                                 url=f"{self.url_base}/{file_id}/f0.mp4",
                                 size=round(max(0.0, b - a) * self.bytes_per_second)))
        self._vod.extend(files)
        return files

    def _take_failure(self, name: str) -> tuple[int | str, str] | None:
        queue = self._failures.get(name)
        return queue.pop(0) if queue else None

    def _answer(self, at: float, ev: Event) -> None:
        name = ev.name
        if self._drops.get(name):
            self._drops[name] -= 1
            return
        copies = 1
        if self._duplicates.get(name):
            self._duplicates[name] -= 1
            copies = 2
        for _ in range(copies):
            self.answered.append(ev)
            self.runtime.deliver_at(at, ev)

    @staticmethod
    def _check_command(name: str) -> None:
        if name not in _COMMANDS:
            raise ValueError(f"unknown Tencent command {name!r}; expected one of "
                             f"{', '.join(_COMMANDS)}")

    @staticmethod
    def _check_callback(name: str) -> None:
        if name not in CALLBACKS:
            raise ValueError(f"unknown Tencent callback {name!r}; expected one of "
                             f"{', '.join(CALLBACKS)}")

    def __repr__(self) -> str:
        return (f"TencentSimulator({self._name}, delay={self._delay}, "
                f"recording={sorted(r.session for r in self._active.values())})")


# =============================================================================================
# Scenarios
# =============================================================================================
RELATION: Final = 15000  # 002 §2.3's example relation_id
USER: Final = "alice"

#: Scenario name -> what it shows. Each ends with every recording closed.
SCENARIOS: Final[dict[str, str]] = {
    "200min": "record 200 minutes and stop: 3 files (90, 90, 20 min), all ready after "
              "SearchMedia (002 §6 (1))",
    "crash": "the client crashes at minute 100: the 60 s watchdog closes the recording, "
             "2 files (90 min, and up to the last data) (002 §6 (2))",
    "retry": "start fails twice with 30000208 (retry, 004 §5) and succeeds on the third "
             "attempt; 10 minutes recorded; 1 file ready",
    "duplicate-start": "alice records in room 1, then asks to record in room 2: 30000415 "
                       "(one recording per user, 002 §2); room 1 keeps recording: 1 file",
    "stop-while-starting": "stop asked before start answered: the stop is sent once start "
                           "succeeds; 1 short file ready",
}


def _room(room_id: int) -> RoomInfo:
    return RoomInfo(relationId=RELATION, roomId=room_id)


def _key(room_id: int, user: str = USER) -> str:
    return f"{RELATION}:{room_id}:{user}"


def run_scenario(name: str, *, out: IO[bytes] | str | os.PathLike[str] | None = None,
                 start: float = 1_700_000_000.0, strict: bool = False) -> Runtime:
    """Run scenario ``name`` (one of :data:`SCENARIOS`) on a ManualClock at ``start`` with a
    :class:`TencentSimulator`, writing the full trace to ``out`` (a path, appended to, or a
    binary file); return the runtime, its sessions as the scenario left them."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; expected one of {', '.join(SCENARIOS)}")
    writer = TraceWriter(out) if out is not None else None
    clock = ManualClock(start)
    runtime = Runtime(clock, strict=strict, tracer=writer)
    sim = TencentSimulator(runtime)
    try:
        _SCENARIO_RUNNERS[name](runtime, sim, start)
    finally:
        sim.disconnect()
        if writer is not None:
            writer.close()
    return runtime


def _enter_and_start(rt: Runtime, t: float, room_id: int = 1, file_name: str = "") -> None:
    rt.dispatch(EnterRoom(t=t, relationId=RELATION, roomId=room_id, user=USER))
    rt.dispatch(StartRecording(t=t, roomInfo=_room(room_id), user=USER,
                               param=RecordParam(fileName=file_name or f"rec_{room_id}")))


def _stop(rt: Runtime, t: float, room_id: int = 1) -> None:
    rt.dispatch(StopRecording(t=t, roomInfo=_room(room_id), user=USER))


def _scenario_200min(rt: Runtime, sim: TencentSimulator, t0: float) -> None:
    _enter_and_start(rt, t0)
    rt.advance(to=t0 + 200 * 60)
    _stop(rt, t0 + 200 * 60)
    rt.advance(to=t0 + 200 * 60 + 5)


def _scenario_crash(rt: Runtime, sim: TencentSimulator, t0: float) -> None:
    _enter_and_start(rt, t0)
    sim.crash(_key(1), at=t0 + 100 * 60)
    end = t0 + 100 * 60 + 2 * sim.no_data_timeout
    rt.advance(to=end)
    # The room sees the crashed user gone. (An input at the end also lets a replay reach the
    # watchdog: replay() advances only to the last input unless given ``until``.)
    rt.dispatch(ExitRoom(t=end, relationId=RELATION, roomId=1, user=USER))


def _scenario_retry(rt: Runtime, sim: TencentSimulator, t0: float) -> None:
    sim.fail_next(START, 30000208, times=2)
    _enter_and_start(rt, t0)
    rt.advance(to=t0 + 10 * 60)
    _stop(rt, t0 + 10 * 60)
    rt.advance(to=t0 + 10 * 60 + 5)


def _scenario_duplicate_start(rt: Runtime, sim: TencentSimulator, t0: float) -> None:
    _enter_and_start(rt, t0, room_id=1)
    rt.advance(to=t0 + 60)
    _enter_and_start(rt, t0 + 60, room_id=2)
    rt.advance(to=t0 + 10 * 60)
    _stop(rt, t0 + 10 * 60, room_id=1)
    rt.advance(to=t0 + 10 * 60 + 5)


def _scenario_stop_while_starting(rt: Runtime, sim: TencentSimulator, t0: float) -> None:
    _enter_and_start(rt, t0)
    rt.advance(to=t0 + 0.1)
    _stop(rt, t0 + 0.1)
    rt.advance(to=t0 + 5)


_SCENARIO_RUNNERS: Final[dict[str, Callable[[Runtime, TencentSimulator, float], None]]] = {
    "200min": _scenario_200min,
    "crash": _scenario_crash,
    "retry": _scenario_retry,
    "duplicate-start": _scenario_duplicate_start,
    "stop-while-starting": _scenario_stop_while_starting,
}


# =============================================================================================
# Tencent Cloud API 3.0: TC3-HMAC-SHA256 and the VOD client
# =============================================================================================
ALGORITHM: Final = "TC3-HMAC-SHA256"
CONTENT_TYPE: Final = "application/json; charset=utf-8"
VOD_ENDPOINT: Final = "https://vod.tencentcloudapi.com"
VOD_VERSION: Final = "2018-07-17"
VOD_SERVICE: Final = "vod"
#: SearchMedia cannot page past 5000 results (VOD API doc: "超过5000条的部分不支持分页查询").
SEARCH_LIMIT: Final = 5000


@attrs.frozen
class Tc3Signature:
    """Every intermediate of a TC3-HMAC-SHA256 signature (none holds the secret key)."""

    canonical_request: str
    hashed_canonical_request: str
    credential_scope: str
    string_to_sign: str
    signed_headers: str
    signature: str
    authorization: str


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def tc3_sign(*, secret_id: str, secret_key: str, service: str, timestamp: int,
             payload: bytes | str, headers: Mapping[str, str], method: str = "POST",
             uri: str = "/", query: str = "") -> Tc3Signature:
    """Sign a Tencent Cloud API 3.0 request (签名方法 v3, TC3-HMAC-SHA256). Pure.

    ``headers`` are the headers that take part (at least ``Content-Type`` and ``Host``):
    names and values lowercased and trimmed, sorted by name. The credential date is the
    UTC date of ``timestamp`` (the document's note: 1551113065 is 2019-02-25 in UTC even
    though it is 2019-02-26 in UTC+8)."""
    body = payload.encode("utf-8") if isinstance(payload, str) else payload
    canon = sorted((k.strip().lower(), v.strip().lower()) for k, v in headers.items())
    canonical_headers = "".join(f"{k}:{v}\n" for k, v in canon)
    signed_headers = ";".join(k for k, _ in canon)
    canonical_request = "\n".join((method.upper(), uri, query, canonical_headers,
                                   signed_headers, _sha256_hex(body)))
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    scope = f"{date}/{service}/tc3_request"
    hashed = _sha256_hex(canonical_request.encode("utf-8"))
    string_to_sign = f"{ALGORITHM}\n{timestamp}\n{scope}\n{hashed}"
    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    authorization = (f"{ALGORITHM} Credential={secret_id}/{scope}, "
                     f"SignedHeaders={signed_headers}, Signature={signature}")
    return Tc3Signature(canonical_request, hashed, scope, string_to_sign, signed_headers,
                        signature, authorization)


class VodError(RecstateError):
    """A VOD call that failed. ``code`` is the API's error code (``AuthFailure...``,
    ``InvalidParameter...``) or, when no API answer came, one of ``ClientError.Timeout``,
    ``ClientError.Network``, ``ClientError.HttpStatus``, ``ClientError.BadResponse``.
    Messages never hold the secret key."""

    def __init__(self, code: str, message: str, *, request_id: str | None = None,
                 status: int | None = None) -> None:
        self.code = code
        self.message = message
        self.request_id = request_id
        self.status = status
        rid = f" (RequestId {request_id})" if request_id else ""
        super().__init__(f"VOD SearchMedia error {code}: {message}{rid}")


class _Secret:
    """A secret that never shows itself in a repr, str, or format."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


def _mask_id(secret_id: str) -> str:
    return secret_id[:4] + "***" + secret_id[-4:] if len(secret_id) > 12 else "***"


class VodClient:
    """Tencent Cloud VOD (API 3.0) client: ``SearchMedia`` by file-name prefix.

    002 §4 says the recordings are stored in VOD under the file name given at start; the
    client finds them by that prefix and returns file ID, name, url and size. Requests are
    signed with :func:`tc3_sign` (headers ``content-type;host;x-tc-action``). ``clock`` gives
    the X-TC-Timestamp (a ManualClock in tests); ``http`` may be a shared ``httpx.Client``.
    The secret key stays out of reprs, logs and error messages.
    """

    def __init__(self, secret_id: str, secret_key: str, *, endpoint: str = VOD_ENDPOINT,
                 region: str = "", sub_app_id: int | None = None,
                 http: httpx.Client | None = None, clock: Clock | None = None,
                 timeout: float = 10.0, page_size: int = 50) -> None:
        if not secret_id or not secret_key:
            raise ValueError("VodClient needs a SecretId and a SecretKey (云API密钥)")
        url = urlsplit(endpoint)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise ValueError(f"endpoint must be an http(s) URL, got {endpoint!r}")
        self.secret_id = secret_id
        self._secret_key = _Secret(secret_key)
        self.endpoint = endpoint.rstrip("/") + "/"
        self.host = url.netloc
        self.region = region
        self.sub_app_id = sub_app_id
        self.timeout = timeout
        self.page_size = page_size
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client(timeout=timeout)

    def search_media(self, name_prefix: str) -> list[VodFile]:
        """Every media file whose name starts with ``name_prefix`` (pages of ``page_size``,
        up to the API's 5000)."""
        found: list[VodFile] = []
        offset = 0
        while offset < SEARCH_LIMIT:
            body: dict[str, Any] = {"NamePrefixes": [name_prefix], "Offset": offset,
                                    "Limit": min(self.page_size, SEARCH_LIMIT - offset)}
            if self.sub_app_id is not None:
                body["SubAppId"] = self.sub_app_id
            response = self._call("SearchMedia", body)
            media = response.get("MediaInfoSet", response.get("MediaSet")) or []
            if not isinstance(media, list):
                raise VodError("ClientError.BadResponse",
                               f"MediaInfoSet is {type(media).__name__}, expected a list",
                               request_id=response.get("RequestId"))
            found.extend(self._file(item, response.get("RequestId")) for item in media)
            offset += len(media)
            total = response.get("TotalCount")
            if not media or not isinstance(total, int) or offset >= total:
                break
        return found

    @staticmethod
    def _file(item: Any, request_id: Any) -> VodFile:
        if not isinstance(item, dict) or not isinstance(item.get("FileId"), str):
            raise VodError("ClientError.BadResponse", f"a media item has no FileId: {item!r:.200}",
                           request_id=request_id)
        basic = item.get("BasicInfo") or {}
        meta = item.get("MetaData") or {}
        size = meta.get("Size")
        return VodFile(fileId=item["FileId"], name=str(basic.get("Name") or ""),
                       url=str(basic.get("MediaUrl") or ""),
                       size=size if isinstance(size, int) and not isinstance(size, bool)
                       else None)

    def _call(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        payload = orjson.dumps(body)
        timestamp = int(self.clock.now())
        signed = {"Content-Type": CONTENT_TYPE, "Host": self.host, "X-TC-Action": action}
        sig = tc3_sign(secret_id=self.secret_id, secret_key=self._secret_key.reveal(),
                       service=VOD_SERVICE, timestamp=timestamp, payload=payload,
                       headers=signed)
        headers = {**signed, "Authorization": sig.authorization, "X-TC-Version": VOD_VERSION,
                   "X-TC-Timestamp": str(timestamp)}
        if self.region:
            headers["X-TC-Region"] = self.region
        try:
            reply = self._http.post(self.endpoint, content=payload, headers=headers,
                                    timeout=self.timeout)
        except httpx.TimeoutException as exc:
            raise VodError("ClientError.Timeout", self._scrub(
                f"{action} to {self.endpoint} timed out after {self.timeout:g} s "
                f"({type(exc).__name__})")) from None
        except httpx.HTTPError as exc:
            raise VodError("ClientError.Network", self._scrub(
                f"{action} to {self.endpoint} failed: {type(exc).__name__}: {exc}")) from None
        try:
            data = orjson.loads(reply.content)
        except orjson.JSONDecodeError:
            data = None
        inner = data.get("Response") if isinstance(data, dict) else None
        if isinstance(inner, dict):
            error = inner.get("Error")
            if isinstance(error, dict):
                raise VodError(str(error.get("Code") or "UnknownError"),
                               self._scrub(str(error.get("Message") or "")),
                               request_id=inner.get("RequestId"), status=reply.status_code)
            if reply.is_success:
                return inner
        snippet = self._scrub(reply.text[:200])
        if not reply.is_success:
            raise VodError("ClientError.HttpStatus",
                           f"{action} to {self.endpoint} answered HTTP {reply.status_code}: "
                           f"{snippet!r}", status=reply.status_code)
        raise VodError("ClientError.BadResponse",
                       f"{action} to {self.endpoint} answered HTTP {reply.status_code} without "
                       f"a JSON 'Response' object: {snippet!r}", status=reply.status_code)

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret_key.reveal(), "***")

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> VodClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"VodClient(secret_id={_mask_id(self.secret_id)!r}, secret_key='***', "
                f"endpoint={self.endpoint!r}, region={self.region!r}, "
                f"sub_app_id={self.sub_app_id!r})")


class VodAdapter:
    """Answers the machine's ``SearchMedia`` command with a real :class:`VodClient` call:
    ``SearchMedia:ok`` with the files, or ``SearchMedia:error`` with the API's error code.

    The call is synchronous, inside the runtime's handling; the answer is dispatched (and
    so queued: run-to-completion). Run it beside a simulator with ``answer_search=False``,
    or alone against the real ILVB SDK's callbacks."""

    def __init__(self, runtime: Runtime, client: VodClient) -> None:
        self.runtime = runtime
        self.client = client
        self._signal = signals.commands("tencent")
        self._signal.connect(self._on_command, sender=runtime, weak=False)

    def _on_command(self, sender: Any, *, session: Session, command: Command, t: float,
                    **_: Any) -> None:
        if not isinstance(command, SearchMediaCommand):
            return
        try:
            files = self.client.search_media(command.namePrefix)
        except VodError as exc:
            answer: Event = SearchMediaError(t=self.runtime.clock.now(), session=session.key,
                                             code=exc.code, desc=exc.message)
        else:
            answer = SearchMediaOk(t=self.runtime.clock.now(), session=session.key,
                                   files=tuple(files))
        self.runtime.dispatch(answer)

    def disconnect(self) -> None:
        self._signal.disconnect(self._on_command, sender=self.runtime)

