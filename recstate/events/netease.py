"""NetEase Yunxin (网易云信) WeChat mini-program netcall: events, commands and file rules.

Source: ``vendor-docs/000_15ac1063afea4b1f.txt`` (录制相关: 服务端录制). Names are the SDK's and
the document's own: ``beCalling {caller, cid, type}``, ``callAccepted``, ``response({caller,
accepted, type, cid})``, ``startRtc({recordType, recordAudio, recordVideo, mode})``,
``joinChannel({rtmpRecord, recordAudio, recordVideo, recordType})``; the call-control intents
``call``, ``accept``, ``reject`` and ``hangup`` are the framework's own names (DESIGN §4).

The record parameters come as the document passes them: ``recordType`` 0 (混单: mix and
single files), 1 (只混: mix only) or 2 (只单: single files only), given as a number or as the
string the P2P example sends (``this.data.recordType + ''``); ``recordAudio``, ``recordVideo``
and ``rtmpRecord`` open or closed, given as ``true`` / ``false`` or as the SDK's ``1`` / ``0``
(``RECORD_AUDIO_OPEN`` / ``RECORD_AUDIO_CLOSE``). Defaults, from the parameter table: record
nothing (默认不开), recordType 0 (默认为混单).

File addresses arrive after the call through the callback service (抄送): a ``callback`` event
whose ``data`` is NetEase's body verbatim, ``{"eventType": "6", "fileinfo": "<JSON array as a
string>"}``; :meth:`Callback.items` decodes it. The items' fields are those of NetEase's 抄送
field table for eventType 6 (音视频/白板文件下载信息), see :class:`FileInfo`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, NewType

import attrs
import cattrs
import orjson
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from recstate.errors import PayloadError
from recstate.events import Command, Event, command, converter, event

__all__ = [
    "AUDIO",
    "CALLBACK",
    "CALL_EVENT_TYPE",
    "CALL_NEEDS_SESSION",
    "FILES_EVENT_TYPE",
    "FILE_KINDS",
    "MODE_AUDIO_VIDEO",
    "MODE_ONLY_AUDIO",
    "VENDOR",
    "VIDEO",
    "Accept",
    "BeCalling",
    "Call",
    "CallAccepted",
    "CallCommand",
    "CallError",
    "CallOk",
    "CallRejected",
    "CallType",
    "Callback",
    "ChannelId",
    "ExpectedFile",
    "FileInfo",
    "Hangup",
    "HangupCommand",
    "JoinChannel",
    "JoinChannelCommand",
    "JoinChannelError",
    "JoinChannelOk",
    "LeaveChannel",
    "LeaveChannelCommand",
    "RecordParams",
    "RecordTypeCode",
    "Reject",
    "ResponseCommand",
    "ResponseError",
    "ResponseOk",
    "StartRtcCommand",
    "StartRtcError",
    "StartRtcOk",
    "Switch",
    "expected_files",
    "records",
    "session_key",
]

VENDOR: Final = "netease"
CALLBACK: Final = "callback"
#: 抄送 eventType of the audio/video file information (the file addresses after a call).
FILES_EVENT_TYPE: Final = "6"
#: 抄送 eventType of the call's duration record (音视频时长抄送), sent by the server when a call
#: is over: its ``channelId``, ``duration`` (seconds) and ``status``. Read by the machine as
#: the server's word that the call ended.
CALL_EVENT_TYPE: Final = "5"
#: ``type`` of a call: ``NETCALL_TYPE_AUDIO`` / ``NETCALL_TYPE_VIDEO``.
AUDIO: Final = 1
VIDEO: Final = 2
#: ``mode`` of ``startRtc``: the SDK constants, by name (the document names them, not values).
MODE_ONLY_AUDIO: Final = "NETCALL_MODE_ONLY_AUDIO"
MODE_AUDIO_VIDEO: Final = "NETCALL_MODE_AUDIO_VIDEO"

# ---- value types: what a trace may write, and what the machine sees ---------------------------

#: Open / close: ``true`` / ``false`` or the SDK's ``1`` / ``0``; seen as a bool.
Switch = NewType("Switch", bool)
#: recordType 0, 1 or 2, as a number or a string; seen as an int.
RecordTypeCode = NewType("RecordTypeCode", int)
#: Call type 1 (audio) or 2 (video).
CallType = NewType("CallType", int)
#: A channel id: NetEase writes it as a string or a number; seen as a string.
ChannelId = NewType("ChannelId", str)
#: A decimal size, written as a string by the callback service; seen as an int.
SizeText = NewType("SizeText", int)
#: A duration in seconds, written as a string by the callback service; seen as a float.
DurationText = NewType("DurationText", float)
#: A flag of the callback service: ``true`` / ``false``, or the same as a string (the field
#: table says "可转为Boolean值"); seen as a bool.
Flag = NewType("Flag", bool)
#: ``pieceindex``: the slice index, a decimal string (or a number); seen as an int.
PieceIndex = NewType("PieceIndex", int)

# cattrs names the expected type in its error; these names say what a trace should write.
setattr(Switch, "__name__", "true/false or 1/0")  # noqa: B010
setattr(RecordTypeCode, "__name__", "recordType 0 (mix and single), 1 (mix only) or 2 "  # noqa: B010
        "(single only), as a number or a string")
setattr(CallType, "__name__", "call type 1 (audio) or 2 (video)")  # noqa: B010
setattr(ChannelId, "__name__", "a channel id (string or number)")  # noqa: B010
setattr(SizeText, "__name__", "a size in bytes (a decimal string or a number)")  # noqa: B010
setattr(DurationText, "__name__", "seconds (a decimal string or a number)")  # noqa: B010
setattr(Flag, "__name__", "true/false (or the string 'true'/'false')")  # noqa: B010
setattr(PieceIndex, "__name__", "a piece index (a decimal string or a number)")  # noqa: B010


def _switch(value: Any, _: type) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(f"expected true/false or 1/0, got {value!r}")


def _record_type(value: Any, _: type) -> int:
    if isinstance(value, str) and value in ("0", "1", "2"):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1, 2):
        return value
    raise ValueError(f"expected recordType 0, 1 or 2, got {value!r}")


def _call_type(value: Any, _: type) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value in (AUDIO, VIDEO):
        return value
    raise ValueError(f"expected call type 1 (audio) or 2 (video), got {value!r}")


def _channel_id(value: Any, _: type) -> str:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    # PayloadError: an optional field (``vid``) would otherwise be explained as "Optional".
    raise PayloadError(f"expected a channel id (a string or a number), got {value!r}")


def _size(value: Any, _: type) -> int:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError(f"expected a size in bytes, got {value!r}")


def _piece(value: Any, _: type) -> int:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    # A PayloadError, so that the message says what a piece index is (cattrs would name the
    # field's type, ``Optional``).
    raise PayloadError(f"expected a piece index (a decimal string such as \"0\", or a "
                       f"number), got {value!r}")


def _flag(value: Any, _: type) -> bool:
    """``caller`` / ``mix``: "若不是则没有此字段"; a body that writes the missing field as
    ``null`` means the same (false), rather than losing every file of the body."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise PayloadError(f"expected true or false (or the string \"true\"/\"false\"), got "
                       f"{value!r}")


converter.register_structure_hook(Flag, _flag)
converter.register_structure_hook(PieceIndex, _piece)
converter.register_structure_hook(Switch, _switch)
converter.register_structure_hook(RecordTypeCode, _record_type)
converter.register_structure_hook(CallType, _call_type)
converter.register_structure_hook(ChannelId, _channel_id)
converter.register_structure_hook(SizeText, _size)


def _duration(value: Any, _: type) -> float:
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,12}(\.[0-9]{1,6})?", value):
        return float(value)
    if (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and 0 <= value < 1e12):
        return float(value)
    raise ValueError("expected seconds (a decimal string or a number)")


converter.register_structure_hook(DurationText, _duration)


@attrs.frozen
class RecordParams:
    """The server-recording parameters of ``startRtc`` / ``joinChannel`` (000, 参数说明)."""

    recordType: RecordTypeCode = RecordTypeCode(0)
    recordAudio: Switch = Switch(False)
    recordVideo: Switch = Switch(False)
    rtmpRecord: Switch = Switch(False)

    @property
    def single(self) -> bool:
        """Per-participant files: recordType 0 (混单) or 2 (只单)."""
        return self.recordType in (0, 2)

    @property
    def mixed(self) -> bool:
        """A mixed file: recordType 0 (混单) or 1 (只混)."""
        return self.recordType in (0, 1)


#: ``type`` of a file item (the field table: 实时音频录制文件 aac, 实时视频录制文件 mp4,
#: 互动直播视频录制文件 flv, 白板录制文件 gz) -> the kind of a single (not mixed) file.
FILE_KINDS: Final[Mapping[str, Literal["audio", "video", "whiteboard"]]] = {
    "aac": "audio", "mp4": "video", "flv": "video", "gz": "whiteboard"}


@attrs.frozen
class ExpectedFile:
    """A file the callback service will deliver. ``slot`` is ``mix``, ``live`` (a channel's
    interactive-live recording, ``rtmpRecord``) or a participant's slot (``caller`` /
    ``callee`` in a P2P call, ``self`` in a channel)."""

    slot: str
    kind: Literal["audio", "video", "mixed"]
    format: Literal["aac", "mp4", "flv"]


def expected_files(record: RecordParams, call_type: int, participants: Sequence[str],
                   *, channel: bool = False) -> tuple[ExpectedFile, ...]:
    """The files a recorded call produces, from the record parameters and the call type (000):
    per participant an ``.aac`` when audio is recorded and an ``.mp4`` when video is recorded
    in a video call (纯音频通话则没有相应的音视频文件), both only for recordType 0 or 2; a mixed
    file for recordType 0 or 1. In a ``channel`` (joinChannel), ``rtmpRecord`` (互动直播录制)
    adds the interactive-live recording, an ``.flv`` (the callback's field table: flv is the
    互动直播视频录制文件); startRtc (P2P) takes no rtmpRecord, so a P2P call expects none.

    The mixed file's format follows what is recorded, not the call type alone:

    ===========  ===========  ===========  ==========
    call type    recordVideo  recordAudio  mix
    ===========  ===========  ===========  ==========
    video (2)    open         any          ``.mp4``
    video (2)    closed       open         ``.aac``
    audio (1)    any          open         ``.aac``
    audio (1)    any          closed       none
    ===========  ===========  ===========  ==========

    So an audio call with mixing has a mixed ``.aac``, not the ``.mp4`` the document names for
    a video call: NetEase's cloud-recording document (音视频通话2.0, 云端录制 > 录制模式, 录制文件)
    says that recording only audio gives ``.aac`` files and recording video gives ``.mp4``,
    and that a member who sends no video gets an ``.aac``; the mix of an audio call carries
    no video. A video call that records audio only (recordVideo closed) likewise has no
    audio-video file: per participant an ``.aac`` and, with mixing, a mixed ``.aac``. A
    video call recording video but not audio still has a mixed ``.mp4`` (and per-participant
    ``.mp4`` files, no ``.aac``)."""
    video = call_type == VIDEO and record.recordVideo
    files: list[ExpectedFile] = []
    if record.single:
        for p in participants:
            if record.recordAudio:
                files.append(ExpectedFile(p, "audio", "aac"))
            if video:
                files.append(ExpectedFile(p, "video", "mp4"))
    if record.mixed:
        if video:
            files.append(ExpectedFile("mix", "mixed", "mp4"))
        elif record.recordAudio:
            files.append(ExpectedFile("mix", "mixed", "aac"))
    if channel and record.rtmpRecord:
        files.append(ExpectedFile("live", "video", "flv"))
    return tuple(files)


def records(record: RecordParams, call_type: int, *, channel: bool = False) -> bool:
    """Whether the server records anything: audio recorded, or video recorded in a video
    call (single or mixed files: every recordType produces one or the other), or, in a
    channel, the interactive-live recording (rtmpRecord). Decided from the parameters alone,
    so it does not depend on knowing who the participants are."""
    return bool(record.recordAudio or (call_type == VIDEO and record.recordVideo)
                or (channel and record.rtmpRecord))


# ---- P2P: the caller ---------------------------------------------------------------------------

#: Why a ``call`` must name its session; the parse error says it.
CALL_NEEDS_SESSION: Final = (
    "a caller's call has no channel id (cid) until call:ok or callAccepted names it, so it "
    "cannot be routed by itself: give this call a 'session' (a call id of your choosing) and "
    "pass the same 'session' on its later app events (call:ok, callAccepted, callRejected, "
    "hangup), or give 'cid' if it is already known. NetEase's file callbacks name only the "
    "cid: deliver them with recstate.adapters.netease.deliver_to(runtime) (or route them "
    "with ChannelRoutes), which takes a cid to the call that learnt it")


def _check_call_routable(instance: Call, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None and instance.session is None:
        raise ValueError(f"session: {CALL_NEEDS_SESSION}")


@event(VENDOR, "call")
@attrs.frozen(kw_only=True)
class Call(Event):
    """The app's intent to call ``callee``. ``account`` (the local user) is optional. The
    cid is known only once ``call:ok`` or ``callAccepted`` names it, so the call must name
    its ``session`` (or give ``cid`` when the app already has it): see
    :data:`CALL_NEEDS_SESSION`. The cid learnt later is kept in the session's context, and
    :class:`recstate.adapters.netease.ChannelRoutes` takes events that carry only that cid
    (the file callback) to this session."""

    callee: str
    type: CallType
    record: RecordParams = RecordParams()
    account: str | None = None
    cid: ChannelId | None = attrs.field(default=None, validator=_check_call_routable)


_structure_call_fields = make_dict_structure_fn(Call, converter)


def _structure_call(data: Any, cls: type[Call]) -> Call:
    """Check routability first, so that the error says what to do (cattrs would reduce the
    validator's message to "invalid value")."""
    if isinstance(data, dict) and data.get("session") is None and data.get("cid") is None:
        raise ValueError(f"{CALL_NEEDS_SESSION} @ session")  # the trace line's own field
    return _structure_call_fields(data, cls)


converter.register_structure_hook(Call, _structure_call)


@event(VENDOR, "call:ok")
@attrs.frozen(kw_only=True)
class CallOk(Event):
    """The call request was sent; the SDK may name the channel."""

    cid: ChannelId | None = None


@event(VENDOR, "call:error")
@attrs.frozen(kw_only=True)
class CallError(Event):
    code: int
    desc: str = ""


@event(VENDOR, "callAccepted")
@attrs.frozen(kw_only=True)
class CallAccepted(Event):
    """The callee accepted: the caller now calls ``startRtc`` (000: 在 callAccepted 事件中调用)."""

    account: str | None = None
    type: CallType | None = None
    cid: ChannelId | None = None


@event(VENDOR, "callRejected")
@attrs.frozen(kw_only=True)
class CallRejected(Event):
    account: str | None = None
    type: CallType | None = None
    cid: ChannelId | None = None


# ---- P2P: the callee ---------------------------------------------------------------------------

@event(VENDOR, "beCalling")
@attrs.frozen(kw_only=True)
class BeCalling(Event):
    """An incoming call: ``const {caller, cid, type} = data`` (000)."""

    caller: str
    cid: ChannelId
    type: CallType


@event(VENDOR, "accept")
@attrs.frozen(kw_only=True)
class Accept(Event):
    """The user accepts the ringing call, with the record parameters to pass to startRtc."""

    record: RecordParams = RecordParams()
    account: str | None = None
    cid: ChannelId | None = None


@event(VENDOR, "reject")
@attrs.frozen(kw_only=True)
class Reject(Event):
    cid: ChannelId | None = None


@event(VENDOR, "response:ok")
@attrs.frozen(kw_only=True)
class ResponseOk(Event):
    """``netcallInstance.response(...).then(...)``."""


@event(VENDOR, "response:error")
@attrs.frozen(kw_only=True)
class ResponseError(Event):
    code: int
    desc: str = ""


@event(VENDOR, "startRtc:ok")
@attrs.frozen(kw_only=True)
class StartRtcOk(Event):
    """``netcallInstance.startRtc(param).then(...)``: 开启音视频成功."""


@event(VENDOR, "startRtc:error")
@attrs.frozen(kw_only=True)
class StartRtcError(Event):
    code: int
    desc: str = ""


# ---- multi-party -------------------------------------------------------------------------------

@event(VENDOR, "joinChannel")
@attrs.frozen(kw_only=True)
class JoinChannel(Event):
    """The app joins a multi-party channel with the record parameters, flat as the document's
    example passes them. ``type`` is the channel's call type (video unless told)."""

    channelName: str
    rtmpRecord: Switch = Switch(False)
    recordAudio: Switch = Switch(False)
    recordVideo: Switch = Switch(False)
    recordType: RecordTypeCode = RecordTypeCode(0)
    type: CallType = CallType(VIDEO)
    account: str | None = None

    @property
    def record(self) -> RecordParams:
        return RecordParams(recordType=self.recordType, recordAudio=self.recordAudio,
                            recordVideo=self.recordVideo, rtmpRecord=self.rtmpRecord)


@event(VENDOR, "joinChannel:ok")
@attrs.frozen(kw_only=True)
class JoinChannelOk(Event):
    pass


@event(VENDOR, "joinChannel:error")
@attrs.frozen(kw_only=True)
class JoinChannelError(Event):
    code: int
    desc: str = ""


@event(VENDOR, "leaveChannel")
@attrs.frozen(kw_only=True)
class LeaveChannel(Event):
    channelName: str | None = None


# ---- either side -------------------------------------------------------------------------------

@event(VENDOR, "hangup")
@attrs.frozen(kw_only=True)
class Hangup(Event):
    """The call ends. With an ``account`` that names the peer (the callee on the caller's
    side, the caller on the callee's), it is the SDK's ``hangup`` callback: the peer hung up.
    Otherwise (no account, the local user's, or one the machine cannot tell from the local
    user's) it is the local user's intent, which the machine carries out with the ``hangup``
    command. In a multi-party channel, an ``account`` other than the local one is another
    member leaving: the channel goes on."""

    account: str | None = None
    cid: ChannelId | None = None
    channelName: str | None = None


# ---- the callback service (抄送) -----------------------------------------------------------------

@attrs.frozen(kw_only=True)
class FileInfo:
    """One item of ``fileinfo``: a recorded file and its address, NetEase's field names (the
    抄送 field table of eventType 6, 音视频/白板文件下载信息):

    - ``caller``: true for the caller's files; "若不是则没有此字段": absent otherwise (the
      callee's files, the mix, a channel's), which reads as false;
    - ``channelid``, ``size``, ``vid``, ``pieceindex``: strings that hold numbers;
    - ``type``: ``aac``, ``mp4``, ``flv`` (interactive live) or ``gz`` (whiteboard data);
    - ``user``: the account, ``"0"`` for a mixed file; ``vid``: absent for a ``gz``;
    - ``pieceindex``: the slice index when a recording longer than the slice length was cut
      into several files (absent where the service does not slice)."""

    channelid: ChannelId
    filename: str
    md5: str
    size: SizeText
    type: str
    url: str
    user: str
    mix: Flag = Flag(False)
    caller: Flag = Flag(False)
    vid: ChannelId | None = None
    pieceindex: PieceIndex | None = None


def _check_fileinfo(instance: Callback, attribute: attrs.Attribute[Any], value: Any) -> None:
    if instance.eventType == FILES_EVENT_TYPE:
        if value is None:
            raise ValueError("data.fileinfo: eventType 6 carries fileinfo, a JSON array "
                             "encoded as a string; it is missing")
        decode_fileinfo(value)


@event(VENDOR, CALLBACK)
@attrs.frozen(kw_only=True)
class Callback(Event):
    """A body of the callback service (抄送), verbatim: ``eventType`` ``"6"`` carries the file
    addresses in ``fileinfo`` (a JSON array encoded as a string); ``"5"``, the call's duration
    record sent when a call is over, names its ``channelId`` with the ``duration`` (seconds)
    and ``status`` the server saw (NetEase writes numbers as strings; other fields of that
    body, ``members``, ``createtime``, ``type``, are kept in the trace as they came)."""

    eventType: str
    fileinfo: str | None = attrs.field(default=None, validator=_check_fileinfo)
    channelId: ChannelId | None = None
    duration: DurationText | None = None
    status: str | None = None

    def items(self) -> tuple[FileInfo, ...]:
        """The decoded file items (none for another eventType)."""
        if self.eventType != FILES_EVENT_TYPE or self.fileinfo is None:
            return ()
        return decode_fileinfo(self.fileinfo)


_structure_callback_fields = make_dict_structure_fn(Callback, converter)
# A body of eventType 6 unstructures as before: the eventType 5 fields only when set.
converter.register_unstructure_hook(Callback, make_dict_unstructure_fn(
    Callback, converter, channelId=override(omit_if_default=True),
    duration=override(omit_if_default=True), status=override(omit_if_default=True)))


def _structure_callback(data: Any, cls: type[Callback]) -> Callback:
    """Check ``fileinfo`` first, so that its error names the item and the field (cattrs would
    reduce a validator's message to "invalid value")."""
    if isinstance(data, dict) and data.get("eventType") == FILES_EVENT_TYPE:
        text = data.get("fileinfo")
        if not isinstance(text, str):
            raise ValueError("data.fileinfo: eventType 6 carries fileinfo, a JSON array "
                             f"encoded as a string; got {type(text).__name__}")
        decode_fileinfo(text)
    return _structure_callback_fields(data, cls)


converter.register_structure_hook(Callback, _structure_callback)


def _reason(exc: BaseException, tp: type | None) -> str:
    """cattrs' wording, except for a rule's own message (PayloadError)."""
    if isinstance(exc, PayloadError):
        return str(exc)
    return cattrs.v.format_exception(exc, tp)


def decode_fileinfo(text: str) -> tuple[FileInfo, ...]:
    """``fileinfo`` to typed items, or a ValueError naming the item and the field."""
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"data.fileinfo: not a JSON array encoded as a string ({exc})"
                         ) from None
    if not isinstance(raw, list):
        raise ValueError(f"data.fileinfo: expected a JSON array, got {type(raw).__name__}")
    items = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ValueError(f"data.fileinfo[{i}]: expected a JSON object, got "
                             f"{type(item).__name__}")
        try:
            items.append(converter.structure(item, FileInfo))
        except cattrs.BaseValidationError as exc:
            reasons = cattrs.transform_error(exc, path=f"data.fileinfo[{i}]",
                                             format_exception=_reason)
            raise ValueError("; ".join(reasons)) from None
    return tuple(items)


# ---- commands ----------------------------------------------------------------------------------

@command(VENDOR, "call", sdk=True)
@attrs.frozen
class CallCommand(Command):
    callee: str
    type: int


@command(VENDOR, "startRtc", sdk=True)
@attrs.frozen
class StartRtcCommand(Command):
    """``startRtc(joinChannelParam)``: recordType as a string (``recordType + ''``),
    recordAudio / recordVideo as the SDK's 1 / 0, and the mode of the call type."""

    recordType: str
    recordAudio: int
    recordVideo: int
    mode: str


@command(VENDOR, "response", sdk=True)
@attrs.frozen
class ResponseCommand(Command):
    caller: str
    accepted: bool
    type: int
    cid: str


@command(VENDOR, "joinChannel", sdk=True)
@attrs.frozen
class JoinChannelCommand(Command):
    """``joinChannel(param)``: the record parameters as numbers (the parameter table)."""

    channelName: str
    rtmpRecord: int
    recordAudio: int
    recordVideo: int
    recordType: int
    type: int


@command(VENDOR, "hangup", sdk=True)
@attrs.frozen
class HangupCommand(Command):
    cid: str | None = None


@command(VENDOR, "leaveChannel", sdk=True)
@attrs.frozen
class LeaveChannelCommand(Command):
    channelName: str


def session_key(ev: Event) -> str | None:
    """The channel: ``cid`` (P2P) or ``channelName`` (multi-party). A ``callback`` goes to the
    channel of its first file item: a body that carries several channels must be split first
    (``recstate.adapters.netease.split_callback``); the machine reports items of another
    channel instead of taking them.

    A caller's call is keyed by the ``session`` its ``call`` named (a ``call`` with neither
    ``session`` nor ``cid`` does not parse); this rule cannot know that the call later learnt
    its cid, because a session-key rule sees no runtime. Events that carry only the cid reach
    such a call through :class:`recstate.adapters.netease.ChannelRoutes` (per runtime), which
    ``deliver_to`` uses for the callback service's bodies."""
    cid = getattr(ev, "cid", None)
    if cid:
        return str(cid)
    name = getattr(ev, "channelName", None)
    if name:
        return str(name)
    if isinstance(ev, Callback):
        if ev.eventType == CALL_EVENT_TYPE:
            return ev.channelId or None
        items = ev.items()
        return items[0].channelid if items else None
    return None


def split_callback(data: Mapping[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    """Split a callback body by channel: ``[(channelid, body restricted to it)]`` in the order
    the channels first appear. ``fileinfo`` stays a JSON string; other fields are kept. A body
    with no file items (another eventType) is one part with no channel.

    Raises ValueError (naming the field) for a body that is not NetEase's shape."""
    if data.get("eventType") == CALL_EVENT_TYPE:
        channel = data.get("channelId")
        named = (isinstance(channel, str | int) and not isinstance(channel, bool)
                 and channel != "")
        return [(str(channel) if named else None, dict(data))]
    if data.get("eventType") != FILES_EVENT_TYPE:
        return [(None, dict(data))]
    fileinfo = data.get("fileinfo")
    if not isinstance(fileinfo, str):
        raise ValueError("data.fileinfo: expected a JSON array encoded as a string, got "
                         f"{type(fileinfo).__name__}")
    try:
        raw = orjson.loads(fileinfo)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"data.fileinfo: not a JSON array encoded as a string ({exc})"
                         ) from None
    if not isinstance(raw, list) or not all(isinstance(i, dict) for i in raw):
        raise ValueError("data.fileinfo: expected a JSON array of objects")
    groups: dict[str, list[dict[str, Any]]] = {}
    for i, item in enumerate(raw):
        channel = item.get("channelid")
        if isinstance(channel, bool) or not isinstance(channel, str | int) or channel == "":
            raise ValueError(f"data.fileinfo[{i}].channelid: expected a channel id, got "
                             f"{channel!r}")
        groups.setdefault(str(channel), []).append(item)
    if len(groups) <= 1:
        return [(next(iter(groups), None), dict(data))]
    return [(channel, {**data, "fileinfo": orjson.dumps(items).decode()})
            for channel, items in groups.items()]


def split_event(ev: Event) -> list[Event]:
    """The Vendor's ``split``: a ``callback`` body that carries several channels becomes one
    ``callback`` event per channel, each naming its session; any other event stays whole."""
    if not isinstance(ev, Callback) or ev.session is not None:
        return [ev]
    parts = split_callback(ev.payload())
    if len(parts) <= 1:
        return [ev]
    return [Callback(t=ev.t, session=channel, id=ev.id, eventType=part["eventType"],
                     fileinfo=part.get("fileinfo")) for channel, part in parts]


def idempotency_keys(ev: Event) -> tuple[str, ...]:
    """The callback service retries a body it got no 200 for: a file item is the same
    delivery when its ``channelid``, ``filename`` and ``pieceindex`` are (a long recording's
    pieces share a filename stem; 000 shows no ``pieceindex``, so an item without one is
    keyed by the first two). A body all of whose items were applied is skipped; other
    events have no key (only the trace line's generic ``id``)."""
    if not isinstance(ev, Callback) or ev.eventType != FILES_EVENT_TYPE or not ev.fileinfo:
        return ()
    try:
        raw = orjson.loads(ev.fileinfo)
    except orjson.JSONDecodeError:
        return ()
    if not isinstance(raw, list) or not raw:
        return ()
    return tuple(sorted({f"netease:{item.get('channelid')}/{item.get('filename')}/"
                         f"{item.get('pieceindex', '')}" for item in raw
                         if isinstance(item, dict)}))


def key_for(*, cid: str | int | None = None, channelName: str | None = None) -> str:  # noqa: N803
    """The session key of a call by its ``cid`` (channelId), or of a multi-party channel by
    its ``channelName`` (000), as :func:`session_key` derives it. (A caller's call is keyed
    by the ``session`` its ``call`` named until it learns its cid: look it up by that, or
    through :class:`recstate.adapters.netease.ChannelRoutes`.)"""
    if cid:
        return str(cid)
    if channelName:
        return channelName
    raise ValueError("a NetEase session key needs a cid or channelName")
