"""The Tencent ILVB recorder simulator: the recording server and the client's A/V upstream in
the runtime's (virtual) time (002, 004), with fault injection."""

from __future__ import annotations

import itertools
import zlib
from datetime import UTC, datetime
from typing import Any, Final, Literal

import attrs

from recstate import signals
from recstate.events import Command, Event
from recstate.events.tencent import (
    SEARCH,
    START,
    STOP,
    MediaData,
    RoomInfo,
    SearchMediaCommand,
    SearchMediaError,
    SearchMediaOk,
    StartCommand,
    StartError,
    StartOk,
    StopCommand,
    StopError,
    StopOk,
    VodFile,
)
from recstate.runtime import Runtime
from recstate.session import Session

__all__ = ["ALREADY_RECORDING", "ALREADY_STOPPED", "CALLBACKS", "TencentSimulator"]

#: 004 §5: "启动录制重复发送，用户正在录制" (a start while the user is recording).
ALREADY_RECORDING: Final = 30000415
#: 004 §5: "停止录制重复发送，用户已经停止录制" (a stop for a recording already closed).
ALREADY_STOPPED: Final = 30000412

_COMMANDS: Final = (START, STOP, SEARCH)
#: The callbacks the simulator can drop or duplicate: ``<command>:ok`` / ``<command>:error``.
CALLBACKS: Final = tuple(f"{c}:{o}" for c in _COMMANDS for o in ("ok", "error"))


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
    when the recording closes and are listed ``vod_listing_delay`` seconds later (0 by
    default; VOD takes a while to list a new file); ``SearchMedia`` finds the listed ones by
    name prefix, narrowed to the command's ``fileIds`` when it has some (matched against
    ``FileId`` and ``BasicInfo.Vid``, as :class:`VodClient` does), in the application
    ``sub_app_id`` (a command naming another answers ``InvalidParameterValue.SubAppId``).
    A VOD file has the shape SearchMedia gives: ``FileId``, a ``Vid``, the name, url, size and
    a ``CreateTime`` in whole seconds (a rolled file's at its 90-minute boundary, the last
    one's when the recording closed). ``stop_ids="Vid"`` makes the stop answer the old API's
    ``vid`` instead of the ``FileId`` (002 §3 says only "文件ID").

    Time: a recording starts when its start is answered (``t + delay``: the machine opens
    its first file when it receives ``:ok``) and ends when the stop was sent (the machine
    ends its files there too), so the simulator's files and the machine's have the same
    bounds. A file is made every 90 minutes, and at the end for what is left under 90
    minutes (002 §6 (1): "录制每隔90分钟或录制结束时不足90分钟会生成一个MP4"): a recording
    that ends exactly on a boundary has no empty last file (the machine marks the file its
    rollover opened at that instant lost, and counts it out). File IDs come from a counter
    and a CRC of the session key, so the same run gives the same IDs.

    Faults: :meth:`fail_next`, :meth:`drop_next`, :meth:`duplicate_next`, :meth:`delay`,
    :meth:`crash`. A dropped ``:ok`` loses only the callback: the server did what was asked
    (a dropped start ``:ok`` leaves a recording running that the machine, stuck in
    ``starting``, does not know about). ``fail_next(START, 30000208, got_through=True)`` is a
    timeout whose request reached the server anyway: the recording runs, and a retry is
    answered 30000415.

    ``answer_search=False`` leaves ``SearchMedia`` to another adapter (:class:`VodAdapter`).
    """

    _instances = 0

    def __init__(self, runtime: Runtime, *, delay: float = 0.2, data_interval: float = 10.0,
                 file_seconds: float = 90 * 60.0, no_data_timeout: float = 60.0,
                 bytes_per_second: int = 100_000,
                 url_base: str = "https://1400000000.vod2.myqcloud.com/sim",
                 answer_search: bool = True, vod_listing_delay: float = 0.0,
                 stop_ids: Literal["FileId", "Vid"] = "FileId",
                 sub_app_id: int | None = None) -> None:
        if delay < 0:
            raise ValueError(f"delay must be >= 0 seconds, got {delay}")
        if vod_listing_delay < 0:
            raise ValueError(f"vod_listing_delay must be >= 0 seconds, got {vod_listing_delay}")
        if file_seconds <= 0:
            raise ValueError(f"file_seconds must be > 0, got {file_seconds}")
        if stop_ids not in ("FileId", "Vid"):
            raise ValueError(f"stop_ids is 'FileId' or 'Vid', got {stop_ids!r}")
        TencentSimulator._instances += 1
        self._name = f"tencent-sim{TencentSimulator._instances}"
        self.runtime = runtime
        self.data_interval = data_interval
        self.file_seconds = file_seconds
        self.no_data_timeout = no_data_timeout
        self.bytes_per_second = bytes_per_second
        self.url_base = url_base.rstrip("/")
        self.answer_search = answer_search
        self.vod_listing_delay = vod_listing_delay
        self.stop_ids = stop_ids
        self.sub_app_id = sub_app_id
        self._delay = delay
        self._delays: dict[str, float] = {}
        self._failures: dict[str, list[tuple[int | str, str, bool]]] = {}
        self._drops: dict[str, int] = {}
        self._duplicates: dict[str, int] = {}
        self._active: dict[str, _Recording] = {}  # user -> the recording under way
        self._ended: dict[str, _Recording] = {}  # session key -> its last closed recording
        self._pending_crash: dict[str, float] = {}
        self._vod: list[tuple[float, VodFile]] = []  # (listed from, file)
        self._seq = 0
        self._file_counter = 0
        self.answered: list[Event] = []  # every callback delivered (duplicates twice)
        self._signal = signals.commands("tencent")
        # weak=False: the simulator lives as long as it is connected (or the runtime lives).
        self._signal.connect(self._on_command, sender=runtime, weak=False)

    # ---- fault injection ---------------------------------------------------------------
    def fail_next(self, command_name: str, code: int | str, times: int = 1,
                  desc: str = "", got_through: bool = False) -> None:
        """Answer the next ``times`` calls of ``command_name`` with error ``code``.

        Start/stop codes are the SDK's ints (004 §5); SearchMedia codes are API 3.0 strings
        (``"InternalError"``). ``desc`` is the server's own text, empty unless given: the
        code's meaning in 004 §5 is the machine's to add. ``got_through``: the server did
        what was asked all the same (a start that timed out on the way back, 30000208)."""
        self._check_command(command_name)
        if command_name == SEARCH:
            code = str(code)
        elif isinstance(code, bool) or not isinstance(code, int):
            raise TypeError(f"{command_name} error codes are ints (004 §5), got {code!r}")
        if got_through and command_name != START:
            raise ValueError("got_through is for a start whose error hides a recording that "
                             f"runs, not for {command_name}")
        self._failures.setdefault(command_name, []).extend(
            [(code, desc, got_through)] * times)

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
        """Every file VOD lists by now, in the order the recordings closed."""
        now = self.runtime.clock.now()
        self._settle(now)
        return self._listed(now)

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
                code, desc, got_through = failure
                assert isinstance(code, int)
                if got_through:
                    self._start(at, session, command, answer=False)
                self._answer(at, StartError(t=at, session=key, code=code, desc=desc))
            else:
                self._start(at, session, command)
        elif isinstance(command, StopCommand):
            if failure is not None:
                code, desc = failure[0], failure[1]
                assert isinstance(code, int)
                self._answer(at, StopError(t=at, session=key, code=code, desc=desc))
            else:
                self._stop(t, at, session)
        elif isinstance(command, SearchMediaCommand):
            if failure is not None:
                self._answer(at, SearchMediaError(t=at, session=key, code=str(failure[0]),
                                                  desc=failure[1]))
            elif command.subAppId != self.sub_app_id:
                self._answer(at, SearchMediaError(
                    t=at, session=key, code="InvalidParameterValue.SubAppId",
                    desc=f"SubAppId {command.subAppId} is not this account's VOD application"))
            else:
                self._answer(at, SearchMediaOk(t=at, session=key,
                                               files=self._search(at, command)))

    def _search(self, at: float, cmd: SearchMediaCommand) -> tuple[VodFile, ...]:
        """SearchMedia's NamePrefixes AND FileIds (an ID is a ``FileId`` or a ``Vid``)."""
        ids = set(cmd.fileIds)
        return tuple(f for f in self._listed(at) if f.name.startswith(cmd.namePrefix)
                     and (not ids or f.fileId in ids or f.vid in ids))

    def _start(self, at: float, session: Session, cmd: StartCommand,
               answer: bool = True) -> None:
        key = session.key
        user = session.context.user or key
        busy = self._active.get(user)
        if busy is not None:
            where = "this room" if busy.session == key else f"session {busy.session}"
            self._answer(at, StartError(t=at, session=key, code=ALREADY_RECORDING,
                                        desc=f"{user} is recording in {where}"))
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
        if answer:
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
                                       desc=why))
            return
        end = max(sent, rec.start)
        if rec.crash_at is not None and rec.crash_at <= end:
            end = self._last_data(rec)
        files = self._close(rec, end, closed_at=at)
        ids = tuple(f.vid if self.stop_ids == "Vid" else f.fileId for f in files)
        self._answer(at, StopOk(t=at, session=key, fileIds=ids))

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
                self._close(rec, last, closed_at=last + self.no_data_timeout)

    def _close(self, rec: _Recording, end: float, closed_at: float) -> list[VodFile]:
        """End ``rec`` at ``end``: one file per full ``file_seconds``, and one for what is
        left under ``file_seconds`` if anything is (002 §6 (1)). VOD lists the files
        ``vod_listing_delay`` after ``closed_at``, when the server closed the recording."""
        self._stop_media(rec)
        self._active.pop(rec.user, None)
        self._ended[rec.session] = rec
        bounds = [rec.start]
        boundary = rec.start + self.file_seconds
        while boundary < end:
            bounds.append(boundary)
            boundary += self.file_seconds
        bounds.append(end)
        crc = zlib.crc32(rec.session.encode("utf-8")) % 1_000_000
        files = []
        last = len(bounds) - 1
        for index, (a, b) in enumerate(itertools.pairwise(bounds), start=1):
            self._file_counter += 1
            file_id = f"52858{crc:06d}{self._file_counter:08d}"
            created = b if index < last else closed_at
            files.append(VodFile(fileId=file_id, name=f"{rec.file_name}_{index}",
                                 url=f"{self.url_base}/{file_id}/f0.mp4",
                                 size=round(max(0.0, b - a) * self.bytes_per_second),
                                 vid=f"200025_{crc:06x}{self._file_counter:010x}",
                                 createTime=_iso_seconds(created)))
        listed = closed_at + self.vod_listing_delay
        self._vod.extend((listed, f) for f in files)
        return files

    def _listed(self, at: float) -> list[VodFile]:
        return [f for listed, f in self._vod if listed <= at]

    def _take_failure(self, name: str) -> tuple[int | str, str, bool] | None:
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


def _iso_seconds(t: float) -> str:
    """VOD's ``CreateTime`` shape: ISO 8601 in UTC, whole seconds ("2020-12-11T07:25:52Z")."""
    return datetime.fromtimestamp(int(t), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
