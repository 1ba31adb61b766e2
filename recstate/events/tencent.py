"""Tencent ILVB (互动直播) recorder: events, commands and error codes.

Sources: ``vendor-docs/002_1767472c9d961129.txt`` (SDK 1.3+ recorder API on Android, iOS,
Windows, Web; error code ranges) and ``vendor-docs/004_b06b9b45c1601df1.txt`` (second edition:
two-person rooms cannot record, MP4 by default, the full error code table with advice).
Field names are the SDK's own (``roomInfo.relationId``, ``param.fileName``, ``fileIds``).
"""

from __future__ import annotations

from typing import Final, Literal

import attrs

from recstate.errors import VendorError
from recstate.events import Command, Event, command, event

__all__ = [
    "ALREADY_RECORDING",
    "ERRORS",
    "RETRYABLE",
    "ROOM_GONE",
    "START_TIMEOUT",
    "STOP_ALREADY_DONE",
    "EnterRoom",
    "ExitRoom",
    "MediaData",
    "RecordParam",
    "RoomInfo",
    "SearchMediaCommand",
    "SearchMediaError",
    "SearchMediaOk",
    "StartCommand",
    "StartError",
    "StartOk",
    "StartRecording",
    "StopCommand",
    "StopError",
    "StopOk",
    "StopRecording",
    "VodFile",
    "session_key",
    "vendor_error",
]

VENDOR: Final = "tencent"
START: Final = "requestMultiVideoRecorderStart"
STOP: Final = "requestMultiVideoRecorderStop"
SEARCH: Final = "SearchMedia"


# (RoomInfo and RecordParam stay in a recording's context for as long as it runs: no
# weakref slot, 8 bytes each)
@attrs.frozen(weakref_slot=False)
class RoomInfo:
    """``TIMAvManager.RoomInfo`` / ``OMAVRoomInfo``: the group and the room."""

    relationId: int
    roomId: int


@attrs.frozen(weakref_slot=False)
class RecordParam:
    """``TIMAvManager.RecordParam`` / ``AVRecordInfo`` / ``TIMRecordParam`` (002 §2)."""

    fileName: str = ""
    tags: tuple[str, ...] = ()
    classId: int = 0
    sdkType: int = 0
    isTransCode: bool = False
    isScreenShot: bool = False
    isWaterMark: bool = False
    recordDataType: int = 0


@event(VENDOR, "enterRoom")
@attrs.frozen(kw_only=True)
class EnterRoom(Event):
    """The user entered a room. ``roomType`` ``pair`` is a two-person room: no recording (004)."""

    relationId: int
    roomId: int
    user: str
    roomType: Literal["multi", "pair"] = "multi"


@event(VENDOR, "exitRoom")
@attrs.frozen(kw_only=True)
class ExitRoom(Event):
    relationId: int | None = None
    roomId: int | None = None
    user: str | None = None


@event(VENDOR, START)
@attrs.frozen(kw_only=True)
class StartRecording(Event):
    """The app's intent to start recording (002 §2); ``user`` routes it when no session is named."""

    roomInfo: RoomInfo
    param: RecordParam = RecordParam()
    user: str | None = None


@event(VENDOR, f"{START}:ok")
@attrs.frozen(kw_only=True)
class StartOk(Event):
    """``TIMCallBack.onSuccess`` of the start request."""


@event(VENDOR, f"{START}:error")
@attrs.frozen(kw_only=True)
class StartError(Event):
    """``TIMCallBack.onError(code, desc)`` of the start request."""

    code: int
    desc: str = ""


@event(VENDOR, STOP)
@attrs.frozen(kw_only=True)
class StopRecording(Event):
    roomInfo: RoomInfo | None = None
    user: str | None = None


@event(VENDOR, f"{STOP}:ok")
@attrs.frozen(kw_only=True)
class StopOk(Event):
    """``onSuccess(List<String> fileIds)``: the IDs of the files this recording produced."""

    fileIds: tuple[str, ...] = ()


@event(VENDOR, f"{STOP}:error")
@attrs.frozen(kw_only=True)
class StopError(Event):
    code: int
    desc: str = ""


@event(VENDOR, "mediaData")
@attrs.frozen(kw_only=True)
class MediaData(Event):
    """Data received for this user's recording: it keeps the 60-second watchdog from firing."""

    relationId: int | None = None
    roomId: int | None = None
    user: str | None = None
    bytes: int | None = None


@command(VENDOR, START, sdk=True)
@attrs.frozen
class StartCommand(Command):
    roomInfo: RoomInfo
    param: RecordParam


@command(VENDOR, STOP, sdk=True)
@attrs.frozen
class StopCommand(Command):
    roomInfo: RoomInfo


@attrs.frozen
class VodFile:
    """One media file found in Tencent Cloud VOD (SearchMedia's MediaInfoSet, flattened):
    ``FileId``; ``BasicInfo.Name``, ``.MediaUrl``, ``.Vid`` (the live-recording ID the old
    API called ``vid``, often absent or null: "") and ``.CreateTime`` (ISO 8601, UTC, as VOD
    writes it: "2020-12-11T07:25:52Z"; "" when absent); ``MetaData.Size``."""

    fileId: str
    name: str = ""
    url: str = ""
    size: int | None = None
    vid: str = ""
    createTime: str = ""


@command(VENDOR, SEARCH)
@attrs.frozen
class SearchMediaCommand(Command):
    """Find a recording's files in VOD by the file name given at start (002 §4 (3)), narrowed
    to ``fileIds`` when the stop returned IDs (each a VOD ``FileId`` or a ``BasicInfo.Vid``);
    ``subAppId`` is the VOD application (required for accounts opened since 2023-12-25)."""

    namePrefix: str
    fileIds: tuple[str, ...] = ()
    subAppId: int | None = None


@event(VENDOR, f"{SEARCH}:ok")
@attrs.frozen(kw_only=True)
class SearchMediaOk(Event):
    files: tuple[VodFile, ...] = ()


@event(VENDOR, f"{SEARCH}:error")
@attrs.frozen(kw_only=True)
class SearchMediaError(Event):
    """A Tencent Cloud API 3.0 error: ``code`` is the API's string code (``AuthFailure...``)."""

    code: str
    desc: str = ""


def session_key(ev: Event) -> str | None:
    """``{relationId}:{roomId}:{user}``, from the top level or ``roomInfo``."""
    room = getattr(ev, "roomInfo", None)
    relation = getattr(ev, "relationId", None)
    room_id = getattr(ev, "roomId", None)
    if room is not None:
        relation, room_id = room.relationId, room.roomId
    user = getattr(ev, "user", None)
    if relation is None or room_id is None or not user:
        return None
    return f"{relation}:{room_id}:{user}"


# 004 §5, verbatim meaning and advice.
_CHECK_FIELDS: Final = "录制请求字段填写是否完整 (check that the request's fields are complete)"
_SUPPORT: Final = "反馈腾讯客服 (contact Tencent support)"
_RETRY: Final = ("可能是网络问题，重试处理，重试失败反馈腾讯客服 "
                 "(maybe the network: retry; if retries fail, contact Tencent support)")
_CHECK_ROOM: Final = ("检查是否成功开房，录制的用户ID，groupid是否填写正确 "
                      "(check the room was opened and the user ID and group ID are right)")
_CHECK_ROOM_EXIT: Final = _CHECK_ROOM[:-1] + "; or whether the user already left the room)"
_ALREADY_STOPPED: Final = ("如果是录制停止操作说明已经停止，检查是否多次发送停止操作，无需处理 "
                           "(the recording is already stopped; nothing to do)")

ERRORS: Final[dict[int, tuple[str, str]]] = {
    1: ("用户没有录制权限 (the user has no recording permission)", ""),
    2: ("用户点播余额不足 (the VOD balance is insufficient)", ""),
    30000000: ("SDK请求解析失败 (the SDK request could not be parsed)", _CHECK_FIELDS),
    30000001: ("SDK请求解析失败-没有录制请求包体 (no recording request body)", _CHECK_FIELDS),
    30000002: ("SDK请求解析失败-没有录制文件名字段 (no file name)", _CHECK_FIELDS),
    30000003: ("SDK请求解析失败-没有录制请求操作字段 (no operation field)", _CHECK_FIELDS),
    30000004: ("SDK请求解析失败-视频源类型错误（摄像头/桌面等） (wrong video source type)",
               _CHECK_FIELDS),
    30000201: ("请求服务器内部数据打包错误 (server-internal packing error)", _SUPPORT),
    30000202: ("请求服务器内部数据打包错误 (server-internal packing error)", _SUPPORT),
    30000203: ("请求服务器内部数据打包错误 (server-internal packing error)", _SUPPORT),
    30000207: ("请求录制服务器通讯错误-拉取录制服务器地址失败 (could not get the recording "
               "server address)", _SUPPORT),
    30000208: ("请求录制服务器通讯错误-请求录制服务器超时 (the recording server timed out)",
               _RETRY),
    30000301: ("解析录制服务器回包错误-数据包解析失败 (bad reply from the recording server)",
               _SUPPORT),
    30000302: ("解析录制服务器回包错误-数据包解析失败 (bad reply from the recording server)",
               _SUPPORT),
    30000303: ("解析录制服务器回包错误-没有返回IP (the reply has no IP)", _SUPPORT),
    30000304: ("解析录制服务器回包错误-没有返回端口 (the reply has no port)", _SUPPORT),
    30000305: ("解析录制服务器回包错误-没有返回结果 (the reply has no result)", _SUPPORT),
    30000401: ("查询房间获取grocery服务IP错误 (could not get the grocery service IP)", _RETRY),
    30000402: ("查询房间拉取grocery数据错误 (could not pull grocery data)", _RETRY),
    30000403: ("查询房间拉取grocery不存在（房间不存在） (the room does not exist)", _CHECK_ROOM),
    30000404: ("查询房间流控服务器超时 (the flow-control server timed out)", _RETRY),
    30000405: ("查询房间回包错误-数据包解析失败 (bad room query reply)", _SUPPORT),
    30000406: ("查询房间回包错误-数据包解析失败 (bad room query reply)", _SUPPORT),
    30000407: ("查询房间回包错误-数据包解析失败 (bad room query reply)", _SUPPORT),
    30000408: ("查询房间回包错误-没有返回结果 (the room query reply has no result)", _SUPPORT),
    30000409: ("查询房间回包错误-数据包解析失败 (bad room query reply)", _SUPPORT),
    30000410: ("录制的房间不存在 (the recorded room does not exist)", _CHECK_ROOM_EXIT),
    30000411: ("录制的房间不存在，或发起录制的用户不存在 (the room or the recording user does "
               "not exist)", _CHECK_ROOM_EXIT),
    30000412: ("停止录制重复发送，用户已经停止录制 (stop sent again: already stopped)",
               _ALREADY_STOPPED),
    30000413: ("停止录制重复发送，用户已经停止录制 (stop sent again: already stopped)",
               _ALREADY_STOPPED),
    30000414: ("查询房间-服务器内部操作类型错误 (server-internal operation type error)", _SUPPORT),
    30000415: ("启动录制重复发送，用户正在录制；或者发起录制的用户不存在 (start sent again: "
               "the user is already recording; or the user does not exist)", _CHECK_ROOM),
}

#: 002 §7: what a code in a range means when the table has no row for it.
_RANGES: Final = (
    (30000000, 30000099, "解析客户端录制请求包错误 (error parsing the client's request)",
     _CHECK_FIELDS),
    (30000200, 30000299, "请求录制服务器错误 (error requesting the recording server)", _SUPPORT),
    (30000300, 30000399, "解析录制服务器回包错误 (error parsing the recording server's reply)",
     _SUPPORT),
    (30000400, 30000499, "请求流控服务器错误 (error requesting the flow-control server)",
     _SUPPORT),
)

#: Codes whose advice is to retry (004 §5).
RETRYABLE: Final = frozenset({30000208, 30000401, 30000402, 30000404})
#: A stop repeated: the recording is already stopped; not a failure (004 §5).
STOP_ALREADY_DONE: Final = frozenset({30000412, 30000413})
#: "录制的房间不存在" / "或发起录制的用户不存在", whose advice adds "或者用户是否已经退出房间"
#: (004 §5): to a stop sent after the user left the room, the room is gone: already closed.
ROOM_GONE: Final = frozenset({30000410, 30000411})
#: "请求录制服务器超时" (004 §5): the request may have reached the recording server.
START_TIMEOUT: Final = 30000208
#: "启动录制重复发送，用户正在录制" (004 §5).
ALREADY_RECORDING: Final = 30000415


def vendor_error(code: int, desc: str = "") -> VendorError:
    """The VendorError for a Tencent code, with the table's meaning and advice."""
    if code in ERRORS:
        meaning, advice = ERRORS[code]
    else:
        meaning, advice = next(((m, a) for lo, hi, m, a in _RANGES if lo <= code <= hi),
                               ("未知错误码 (an error code the documents do not list)", _SUPPORT))
    return VendorError(VENDOR, code, meaning, advice, desc)


def key_for(relationId: int, roomId: int, user: str) -> str:  # noqa: N803 - 002's names
    """The session key of ``user``'s recordings in room ``roomId`` of ``relationId`` (002):
    what :func:`session_key` derives from an event, for looking a session up by its parts
    (``runtime.sessions.get(key_for(15000, 7, "alice"))``)."""
    return f"{relationId}:{roomId}:{user}"
