"""Juphoon (菊风) JC SDK MediaChannel server recording: events, commands, record parameters.

Source: ``vendor-docs/001_9e36cf2bf397b797.txt`` (服务器音视频录制集成): the recording is
stored on Qiniu (七牛); ``JCMediaChannelRecordParam.buildQiniuRecordParam(video, bucketName,
secretKey, accessKey, fileName)`` makes the record string that ``joinParam.record.recordString``
carries into ``join``; ``recordState`` (``JCMediaChannelRecordState``: ``None`` 无法进行视频录制,
``Ready`` 可以开启视频录制, ``Running`` 视频录制中) is reported by
``onMediaChannelPropertyChange``; ``enableRecord(enable, recordParam)`` switches it
(``recordParam`` may replace the join's parameters when ``enable`` is true; null keeps them).

The record string. 001 shows only the builder's signature, not what it returns. Juphoon's
own earlier documentation and samples (the iOS/Android ``JCMediaChannelJoinParamRecord`` and
Windows ``JOIN_PARAM_RECORD`` pages, and the ``MtcConfIsVideoKey`` key of its MTC headers,
found with the search tool) all show one form, which recstate follows and emits::

    {"MtcConfIsVideoKey":true,"Storage":{"Protocol":"qiniu","AccessKey":"..","SecretKey":"..",
     "BucketName":"..","FileKey":".."}}

No other, newer form was found. Reading one back, ``MtcConfIsVideoKey`` may also be the string
``"true"``/``"false"`` (the Windows page writes ``"MtcConfIsVideoKey":"false"``); anything else
(a missing member, another protocol, the ``MtcConf...Key`` constant names used as keys) is not
the builder's form and is refused, naming the member.

Secrets: ``secretKey`` and ``accessKey`` are ``***`` in every repr, trace line and error
message. Events carry the parameters as parts (traces redact ``secretKey``/``accessKey`` by
name); commands carry the record string the SDK receives, written with the keys as ``***``
(the adapter that calls the SDK reads the real one with :meth:`QiniuRecordParam.record_string`).
"""

from __future__ import annotations

from typing import Any, Final, Literal, cast

import attrs
import orjson
from cattrs.gen import make_dict_structure_fn

from recstate.errors import PayloadError, VendorError
from recstate.events import Command, Event, command, converter, event
from recstate.trace import EMBEDS_SECRET, REDACTED

__all__ = [
    "ENABLE_RECORD",
    "JOIN",
    "LEAVE",
    "ON_JOIN",
    "ON_LEAVE",
    "PROPERTY_CHANGE",
    "REASONS",
    "RECORD_STATES",
    "STAT",
    "VENDOR",
    "EnableRecord",
    "EnableRecordCommand",
    "Join",
    "JoinCommand",
    "JoinError",
    "JoinOk",
    "JoinParam",
    "Leave",
    "LeaveCommand",
    "LeftChannel",
    "PropertyChange",
    "QiniuRecordParam",
    "RecordParamError",
    "RecordState",
    "StatCommand",
    "StatError",
    "StatOk",
    "buildQiniuRecordParam",
    "build_qiniu_record_param",
    "parse_record_string",
    "reason_text",
    "session_key",
    "vendor_error",
]

VENDOR: Final = "juphoon"
JOIN: Final = "join"
LEAVE: Final = "leave"
ENABLE_RECORD: Final = "enableRecord"
ON_JOIN: Final = "onJoin"
ON_LEAVE: Final = "onLeave"
PROPERTY_CHANGE: Final = "onMediaChannelPropertyChange"
STAT: Final = "stat"
#: ``JCMediaChannelRecordState`` (001 §获取录制状态).
RECORD_STATES: Final = ("None", "Ready", "Running")

_BUILDER_FORM: Final = ('{"MtcConfIsVideoKey": true|false, "Storage": {"Protocol": "qiniu", '
                        '"AccessKey": .., "SecretKey": .., "BucketName": .., "FileKey": ..}}')
_PARTS_FORM: Final = "{video, bucketName, secretKey, accessKey, fileName} or {recordString}"


class RecordParamError(PayloadError):
    """A record parameter that cannot be used: ``field`` names the member at fault. The
    message never holds a key."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.reason = message
        super().__init__(f"{field}: {message}")


def _nonempty(field: str) -> Any:
    def check(instance: Any, attribute: Any, value: Any) -> None:
        if not isinstance(value, str):
            raise RecordParamError(field, f"expected a string, got {type(value).__name__}")
        if not value:
            raise RecordParamError(field, "is empty; buildQiniuRecordParam needs it (001: "
                                   "AccessKey、SecretKey、BucketName、fileKey)")
    return check


def _masked(value: object) -> str:
    return "'***'"


def _bool(instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, bool):
        raise RecordParamError("video", f"expected true or false, got {type(value).__name__}")


@attrs.frozen
class QiniuRecordParam:
    """Qiniu record parameters, as ``buildQiniuRecordParam`` takes them (001 §设置录制参数).

    Knows its parts and serialises to the record string the SDK receives
    (:meth:`record_string`). ``video=False`` records audio only (001: 如果进行音频录制，需要将
    构造方法中的 video 值设为 false). Its repr and str show ``***`` for both keys.
    """

    video: bool = attrs.field(validator=_bool)
    bucketName: str = attrs.field(validator=_nonempty("bucketName"))
    secretKey: str = attrs.field(validator=_nonempty("secretKey"), repr=_masked)
    accessKey: str = attrs.field(validator=_nonempty("accessKey"), repr=_masked)
    fileName: str = attrs.field(validator=_nonempty("fileName"))

    def record_string(self, *, masked: bool = False) -> str:
        """The record string (``joinParam.record.recordString``); ``masked`` writes both
        keys as ``***`` (what traces and logs show)."""
        access, secret_key = ((REDACTED, REDACTED) if masked
                              else (self.accessKey, self.secretKey))
        storage = {"Protocol": "qiniu", "AccessKey": access, "SecretKey": secret_key,
                   "BucketName": self.bucketName, "FileKey": self.fileName}
        return orjson.dumps({"MtcConfIsVideoKey": self.video, "Storage": storage}).decode()

    def to_record_string(self) -> str:
        """The record string the SDK receives (:meth:`record_string`)."""
        return self.record_string()

    @property
    def recordString(self) -> str:  # noqa: N802 - the SDK's name
        """``JCMediaChannelRecordParam.recordString``: the record string (keys included)."""
        return self.record_string()

    def parts(self) -> dict[str, Any]:
        """The parts with the vendor's names (keys included: traces redact them by name)."""
        return {"video": self.video, "bucketName": self.bucketName,
                "secretKey": self.secretKey, "accessKey": self.accessKey,
                "fileName": self.fileName}

    def __str__(self) -> str:
        return self.record_string(masked=True)

    @classmethod
    def from_record_string(cls, text: str) -> QiniuRecordParam:
        return parse_record_string(text)


def build_qiniu_record_param(video: bool, bucket_name: str, secret_key: str, access_key: str,
                             file_name: str) -> QiniuRecordParam:
    """``JCMediaChannelRecordParam.buildQiniuRecordParam`` (001), argument for argument:
    the parameters as a value; ``.record_string()`` is the string the SDK returns. Raises
    :class:`RecordParamError` naming an empty or mistyped part."""
    return QiniuRecordParam(video=video, bucketName=bucket_name, secretKey=secret_key,
                            accessKey=access_key, fileName=file_name)


#: The vendor's own name for the builder (the same function).
buildQiniuRecordParam = build_qiniu_record_param  # noqa: N816 - the vendor's name

_STORAGE_MEMBERS: Final = (("AccessKey", "accessKey"), ("SecretKey", "secretKey"),
                           ("BucketName", "bucketName"), ("FileKey", "fileName"))


def parse_record_string(text: str) -> QiniuRecordParam:
    """Read a record string back into its parts, or raise :class:`RecordParamError` naming
    the member that is not the builder's form (never quoting a key)."""
    field = "recordString"
    if not isinstance(text, str):
        raise RecordParamError(field, f"expected a string, got {type(text).__name__}")
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise RecordParamError(field, f"is not JSON; expected buildQiniuRecordParam's form "
                               f"{_BUILDER_FORM}") from None
    if not isinstance(data, dict):
        raise RecordParamError(field, f"is JSON {type(data).__name__}, not an object; "
                               f"expected {_BUILDER_FORM}")
    video = data.get("MtcConfIsVideoKey")
    if isinstance(video, str) and video.lower() in ("true", "false"):
        video = video.lower() == "true"  # the Windows page's "MtcConfIsVideoKey":"false"
    if not isinstance(video, bool):
        raise RecordParamError(f"{field}.MtcConfIsVideoKey",
                               "missing or not true/false" if video is None else
                               f"expected true or false, got {type(video).__name__}")
    storage = data.get("Storage")
    if not isinstance(storage, dict):
        raise RecordParamError(f"{field}.Storage", f"missing or not an object; expected "
                               f"{_BUILDER_FORM}")
    protocol = storage.get("Protocol")
    if protocol != "qiniu":
        raise RecordParamError(f"{field}.Storage.Protocol",
                               f"expected \"qiniu\" (001 stores recordings on 七牛), got "
                               f"{protocol!r}")
    values: dict[str, Any] = {}
    for member, part in _STORAGE_MEMBERS:
        value = storage.get(member)
        if not isinstance(value, str) or not value:
            what = "missing" if value is None else ("empty" if value == "" else
                                                    f"a {type(value).__name__}, not a string")
            raise RecordParamError(f"{field}.Storage.{member}",
                                   f"{what}; buildQiniuRecordParam sets it from {part}")
        values[part] = value
    return QiniuRecordParam(video=video, **values)


def _structure_param(value: Any, _: Any) -> QiniuRecordParam:
    """``{recordString}`` or the parts: both give the parts (strict types, like every
    payload)."""
    if not isinstance(value, dict):
        # A PayloadError, so that this wording (not cattrs' "invalid value") is shown.
        raise PayloadError(f"expected an object {_PARTS_FORM}, or null for none; got "
                           f"{type(value).__name__}")
    if "recordString" in value:
        return parse_record_string(value["recordString"])
    missing = [p for p in ("video", "bucketName", "secretKey", "accessKey", "fileName")
               if p not in value]
    if missing:
        raise RecordParamError(missing[0], f"missing; expected {_PARTS_FORM}")
    return QiniuRecordParam(video=value["video"], bucketName=value["bucketName"],
                            secretKey=value["secretKey"], accessKey=value["accessKey"],
                            fileName=value["fileName"])


converter.register_structure_hook(QiniuRecordParam, _structure_param)
converter.register_unstructure_hook(QiniuRecordParam, QiniuRecordParam.parts)


RecordState = Literal["None", "Ready", "Running"]


def _record_state(instance: Any, attribute: Any, value: Any) -> None:
    if value is not None and value not in RECORD_STATES:
        raise PayloadError(f"recordState {value!r} is not a JCMediaChannelRecordState; "
                           f"expected one of {', '.join(RECORD_STATES)} (001 §获取录制状态)")


def _structure_record_state(value: Any, _: Any) -> str | None:
    _record_state(None, None, value)
    return cast("str | None", value)


converter.register_structure_hook(RecordState | None, _structure_record_state)


# ---- app intents --------------------------------------------------------------------------------
@attrs.frozen
class JoinParam:
    """``JCMediaChannel.JoinParam``: ``record`` is the Qiniu parameters, or None (no
    server recording: the record state stays None)."""

    record: QiniuRecordParam | None = None


_join_param_fields = make_dict_structure_fn(JoinParam, converter)


def _structure_join_param(value: Any, tp: Any) -> JoinParam:
    """``joinParam`` null is a join without parameters (the SDK's ``join(channelId, null)``);
    an object is structured field by field, so that errors name ``joinParam.record``."""
    if value is None:
        return JoinParam()
    if not isinstance(value, dict):
        raise PayloadError(f"expected an object {{record}} or null, got {type(value).__name__}")
    return _join_param_fields(value, tp)


converter.register_structure_hook(JoinParam, _structure_join_param)


def _channel_id(instance: Any, attribute: Any, value: str) -> None:
    if not value:
        raise PayloadError("channelId is empty: join names the channel to join "
                           "(mediaChannel.join(channelId, joinParam))")


@event(VENDOR, JOIN)
@attrs.frozen(kw_only=True)
class Join(Event):
    """The app's ``mediaChannel.join(channelId, joinParam)`` (001 示例代码)."""

    channelId: str = attrs.field(validator=_channel_id)
    joinParam: JoinParam = JoinParam()


@event(VENDOR, LEAVE)
@attrs.frozen(kw_only=True)
class Leave(Event):
    channelId: str | None = None


@event(VENDOR, ENABLE_RECORD)
@attrs.frozen(kw_only=True)
class EnableRecord(Event):
    """The app's ``enableRecord(enable, recordParam)``: ``recordParam`` replaces the
    parameters in force when ``enable`` is true; absent or null keeps them (001)."""

    enable: bool
    recordParam: QiniuRecordParam | None = None
    channelId: str | None = None


# ---- SDK callbacks ------------------------------------------------------------------------------
@event(VENDOR, f"{ON_JOIN}:ok")
@attrs.frozen(kw_only=True)
class JoinOk(Event):
    """``onJoin(result=true, reason, channelId)``."""

    channelId: str | None = None


@event(VENDOR, f"{ON_JOIN}:error")
@attrs.frozen(kw_only=True)
class JoinError(Event):
    """``onJoin(result=false, reason, channelId)``: ``code`` is the ``JCMediaChannelReason``
    (:data:`REASONS`)."""

    code: int
    desc: str = ""
    channelId: str | None = None


@event(VENDOR, ON_LEAVE)
@attrs.frozen(kw_only=True)
class LeftChannel(Event):
    """``onLeave(reason, channelId)``: asked for, or not (removed from the channel)."""

    channelId: str | None = None
    reason: int | None = None


@event(VENDOR, PROPERTY_CHANGE)
@attrs.frozen(kw_only=True)
class PropertyChange(Event):
    """``onMediaChannelPropertyChange``: the vendor's word on ``recordState``. A change of
    another property (screen sharing, 001: 目前主要关注屏幕共享...) has no ``recordState``."""

    recordState: RecordState | None = attrs.field(
        default=None, validator=_record_state)
    channelId: str | None = None


# ---- Qiniu stat (the file in the bucket) --------------------------------------------------------
@event(VENDOR, f"{STAT}:ok")
@attrs.frozen(kw_only=True)
class StatOk(Event):
    """Qiniu ``stat`` found the file: its size, hash (Qiniu's etag), MIME type, upload time
    (100 ns units, as Qiniu gives it) and the download URL the adapter made for it."""

    fileId: str
    key: str
    fsize: int
    hash: str
    mimeType: str = ""
    putTime: int | None = None
    #: A private bucket's URL carries ``token=AccessKey:sign``: traces write it ``***``.
    url: str = attrs.field(default="", metadata={EMBEDS_SECRET: True})


@event(VENDOR, f"{STAT}:error")
@attrs.frozen(kw_only=True)
class StatError(Event):
    """Qiniu ``stat`` failed: ``code`` 612 is "no such file or directory" (not there yet);
    other codes are HTTP statuses, or 0 when no answer came."""

    fileId: str
    key: str = ""
    code: int
    desc: str = ""


# ---- commands ----------------------------------------------------------------------------------
def _record_payload(param: QiniuRecordParam | None) -> dict[str, str] | None:
    return None if param is None else {"recordString": param.record_string(masked=True)}


@command(VENDOR, JOIN, sdk=True)
@attrs.frozen
class JoinCommand(Command):
    """``mediaChannel.join(channelId, joinParam)`` with ``joinParam.record.recordString``."""

    channelId: str
    record: QiniuRecordParam | None = None

    def payload(self) -> dict[str, Any]:
        return {"channelId": self.channelId,
                "joinParam": {"record": _record_payload(self.record)}}


@command(VENDOR, LEAVE, sdk=True)
@attrs.frozen
class LeaveCommand(Command):
    channelId: str


@command(VENDOR, ENABLE_RECORD, sdk=True)
@attrs.frozen
class EnableRecordCommand(Command):
    """``enableRecord(enable, recordParam)``: ``recordParam`` None keeps the parameters in
    force (001: 不需更改则填 null)."""

    channelId: str
    enable: bool
    recordParam: QiniuRecordParam | None = None

    def payload(self) -> dict[str, Any]:
        return {"channelId": self.channelId, "enable": self.enable,
                "recordParam": _record_payload(self.recordParam)}


@command(VENDOR, STAT)
@attrs.frozen
class StatCommand(Command):
    """Ask Qiniu for a recorded file (``GET /stat/<EncodedEntryURI>``)."""

    fileId: str
    bucket: str
    key: str


def session_key(ev: Event) -> str | None:
    """The ``channelId``. An event that has none (and no ``session``) cannot be routed: the
    error says which field to give it, rather than the core's generic words."""
    channel = getattr(ev, "channelId", None)
    if isinstance(channel, str) and channel:
        return channel
    raise PayloadError(f"juphoon {ev.name} has no channelId (a Juphoon session is its "
                       "channel)")


#: ``JCMediaChannelReason`` (频道加入失败和离开的原因), as the JC SDK's headers number it (the
#: iOS ``JCMediaChannelConstants.h``; 001 itself lists no codes): meaning and advice.
_RETRY_JOIN: Final = "join again"
REASONS: Final[dict[int, tuple[str, str]]] = {
    0: ("正常 (none)", ""),
    1: ("未登录 (not logged in)", "log the client in (JCClient) before joining"),
    2: ("超时 (timed out)", _RETRY_JOIN),
    3: ("网络异常 (network error)", "check the network, then join again"),
    4: ("函数调用失败 (the call failed)", "check the join's arguments"),
    5: ("已加入 (already joined)", "leave the channel first"),
    6: ("被踢 (kicked out)", "the channel's owner removed this member"),
    7: ("掉线 (went offline)", "the client lost the server: join again"),
    8: ("主动离开 (left)", ""),
    9: ("频道关闭 (the channel is closed)", "the channel ended"),
    10: ("成员满 (the channel is full)", "wait for a member to leave, or use another channel"),
    11: ("密码无效 (invalid password)", "join with the channel's password"),
    12: ("会议异常 (conference error)", _RETRY_JOIN),
    13: ("调用服务器接口异常 (server interface error)", _RETRY_JOIN),
    14: ("参数异常 (invalid parameter)", "check the join parameters (joinParam)"),
    100: ("其他错误 (other error)", _RETRY_JOIN),
}


def reason_text(code: int) -> str:
    """``JCMediaChannelReason`` ``code`` in words (``10: 成员满 (the channel is full)``)."""
    meaning = REASONS.get(code, ("unknown JCMediaChannelReason", ""))[0]
    return f"{code}: {meaning}"


def vendor_error(code: int, desc: str = "") -> VendorError:
    """The VendorError for an ``onJoin`` failure's ``JCMediaChannelReason``."""
    meaning, advice = REASONS.get(code, ("onJoin failed with a JCMediaChannelReason the SDK "
                                         "headers do not list", "check the SDK version"))
    return VendorError(VENDOR, code, meaning, advice, desc)
