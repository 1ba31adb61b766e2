"""CloudRoom (云屋) local recording: events, commands, the platform numbering of output states,
the error codes with their meaning and advice, and the validation of a mixer's configuration.

Sources: ``vendor-docs/003_1acf1effcbe0f83e.txt`` (本地录制: ``CRVideo_CreateLocMixer``,
``CRVideo_AddLocMixerOutput``, ``CRVideo_LocMixerOutputInfo``, ``CRVideo_UpdateLocMixerContent``,
``CRVideo_DestroyLocMixer``), and CloudRoom's SDK documents that 003 links to
(cloudroomSDK/Documents): ``TypeDefinitions.md`` (``CRVideo_MixerCfgObj``,
``CRVideo_MixerContentObj``, ``CRVideo_MixerOutputObj``, ``CRVideo_MixerOutputInfoObj``),
``Constant.md`` (``CRVideo_OUTPUT_STATE`` on Windows and Web, ``MIXER_OUTPUT_STATE`` on Android,
iOS and Mac, ``MIXER_VCONTENT_TYPE``, ``CRVIDEOSDK_ERR_DEF``) and Android ``record.md``.
Field names are the SDK's own (``mixerID``, ``mixerCfg``, ``nameOrUrl``, ``outputInfo``).

The app's intents carry the mixer configuration, content and outputs as the app gives them
(``Any``): they are checked here by :func:`mixer_problems`, :func:`content_problems` and
:func:`output_problems`, which list *every* problem (field path, value, rule), so that an invalid
mixer is refused with one error that names them all instead of a parse error for the first.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

import attrs
from cattrs.gen import make_dict_structure_fn

from recstate.errors import PayloadError, VendorError
from recstate.events import Command, Event, command, converter, event

__all__ = [
    "CONTENT_TYPES",
    "ERRORS",
    "FORMATS",
    "OUTPUT_STATE_TABLE",
    "PLATFORMS",
    "AddLocMixerOutput",
    "AddLocMixerOutputCommand",
    "AppCrashed",
    "CreateLocMixer",
    "CreateLocMixerCommand",
    "DestroyLocMixer",
    "DestroyLocMixerCommand",
    "LocMixerOutputInfo",
    "OutputInfo",
    "OutputSpec",
    "Problem",
    "RmLocMixerOutput",
    "RmLocMixerOutputCommand",
    "UpdateLocMixerContent",
    "UpdateLocMixerContentCommand",
    "UploadRecordFileCommand",
    "UploadRecordFileError",
    "UploadRecordFileOk",
    "canvas",
    "content_problems",
    "describe",
    "file_format",
    "layout_text",
    "mixer_problems",
    "normal_platform",
    "numbering",
    "output_names",
    "output_problems",
    "output_state",
    "session_key",
    "split",
    "state_number",
    "vendor_error",
]

VENDOR: Final = "cloudroom"
CREATE: Final = "CreateLocMixer"
ADD: Final = "AddLocMixerOutput"
REMOVE: Final = "RmLocMixerOutput"
UPDATE: Final = "UpdateLocMixerContent"
DESTROY: Final = "DestroyLocMixer"
INFO: Final = "LocMixerOutputInfo"
CRASHED: Final = "appCrashed"
UPLOAD: Final = "UploadRecordFile"

# ---- platforms and the numbering of output states -------------------------------------------
#: ``platform`` of ``CreateLocMixer``: which SDK reports the mixer's outputs. Windows is the
#: default (003 is the Windows/Web SDK's document).
PLATFORMS: Final = ("windows", "web", "android", "ios", "mac")
DESKTOP: Final = frozenset({"windows", "web"})
MOBILE: Final = frozenset({"android", "ios", "mac"})

#: THE table of output state numbers, one row per state: (name, number on Windows and Web
#: (``CRVideo_OUTPUT_STATE``, 003 §3 and Constant.md), number on Android, iOS and Mac
#: (``MIXER_OUTPUT_STATE``, Android Constant.md)); None where the platform has no such state.
#: Every mapping of a number to a state, or back, goes through this table.
OUTPUT_STATE_TABLE: Final[tuple[tuple[str, int | None, int | None], ...]] = (
    ("NONE", None, 0),            # 没有创建
    ("CREATED", 0, 1),            # 输出对象已创建
    ("WRITING", 1, 2),            # 输出目标信息更新: duration, fileSize
    ("CLOSED", 2, 3),             # 输出对象已关闭: duration, fileSize
    ("ERR", 3, 4),                # 输出对象异常: errCode
    ("UPLOADING", None, 5),       # 输出对象正在上传
    ("UPLOADSUCCESS", None, 6),   # 输出对象上传成功
    ("UPLOADERR", None, 7),       # 输出对象上传失败
)


def _column(platform: str) -> int:
    if platform in DESKTOP:
        return 1
    if platform in MOBILE:
        return 2
    raise ValueError(f"unknown platform {platform!r}; expected one of {', '.join(PLATFORMS)}")


def output_state(platform: str, number: int) -> str | None:
    """The state ``number`` means on ``platform`` (``OUTPUT_STATE_TABLE``), None if none."""
    column = _column(platform)
    return next((row[0] for row in OUTPUT_STATE_TABLE if row[column] == number), None)


def state_number(platform: str, name: str) -> int:
    """The number ``platform`` reports for the state ``name`` (the simulator's side)."""
    column = _column(platform)
    for row in OUTPUT_STATE_TABLE:
        if row[0] == name and row[column] is not None:
            return int(row[column])  # type: ignore[arg-type]
    raise ValueError(f"platform {platform!r} has no output state {name!r}")


def numbering(platform: str) -> str:
    """``'CREATED 0, WRITING 1, ...'`` for messages."""
    column = _column(platform)
    return ", ".join(f"{row[0]} {row[column]}" for row in OUTPUT_STATE_TABLE
                     if row[column] is not None)


# ---- error codes (CRVIDEOSDK_ERR_DEF, Constant.md) ---------------------------------------------
@attrs.frozen
class ErrorRow:
    """One recording or upload error code: the SDK's name, its meaning (Constant.md, verbatim,
    with a translation), the advice, and what it does to an output (``closed``: the file
    is complete; ``failed``: the output stopped in error; ``retry``: an upload worth retrying)."""

    name: str
    meaning: str
    advice: str
    outcome: str


_CHECK_CFG: Final = "check mixerCfg and mixerContent against the SDK's limits, then create again"
#: 900 to 908 (recording) and 1200 to 1203 (upload of a recorded file).
ERRORS: Final[dict[int, ErrorRow]] = {
    900: ErrorRow("CRVIDEOSDK_CATCH_SCREEN_ERR", "抓屏失败 (screen capture failed)",
                  "check that the screen (screenid/area) exists and may be captured; the "
                  "output stopped", "failed"),
    901: ErrorRow("CRVIDEOSDK_RECORD_MAX", "单次录制达到最大时长(8h) (the 8-hour maximum of one "
                  "recording was reached)", "the file is complete; add a new output to go on "
                  "recording", "closed"),
    902: ErrorRow("CRVIDEOSDK_RECORD_NO_DISK", "磁盘空间不够 (the disk is full)",
                  "free disk space or record to another disk; the file stopped and may be "
                  "unusable", "failed"),
    903: ErrorRow("CRVIDEOSDK_RECORD_SIZE_ERR", "录像的分辨率超出限制 (the resolution exceeds "
                  "the limit)", "lower mixerCfg width and height", "failed"),
    904: ErrorRow("CRVIDEOSDK_CFG_RESTRICTED", "录制参数超出限制 (the recording parameters "
                  "exceed the limits)", _CHECK_CFG, "failed"),
    905: ErrorRow("CRVIDEOSDK_FILE_ERR", "录制文件操作出错 (a recording file operation failed)",
                  "check that the path exists and is writable", "failed"),
    906: ErrorRow("CRVIDEOSDK_RECORDSTARTED", "录制已开启 (the recording is already started)",
                  "nothing to start: the mixer or output exists already", "failed"),
    907: ErrorRow("CRVIDEOSDK_NOMORE_MCU", "录制服务器任务已满 (the recording servers are full)",
                  "try again later", "failed"),
    908: ErrorRow("CRVIDEOSDK_SVRRECORD_SPACE_FULL", "购买的云端录像空间已满 (the purchased cloud "
                  "recording space is full)", "free or buy cloud recording space", "failed"),
    1200: ErrorRow("CRVIDEOSDK_RECORDFILE_STATE_ERR", "状态错误不可上传/取消上传 (the file's "
                   "state does not allow an upload or its cancellation)",
                   "upload only a closed file, once", "failed"),
    1201: ErrorRow("CRVIDEOSDK_RECORDFILE_NOT_EXIST", "录制文件不存在 (the recorded file does "
                   "not exist)", "check the file's path; it may have been moved or deleted",
                   "failed"),
    1202: ErrorRow("CRVIDEOSDK_RECORDFILE_UPLOAD_FAILED", "上传失败，失败原因参考日志 (the upload "
                   "failed; the log has the reason)", "retry; if it keeps failing, check the "
                   "upload server and the network", "retry"),
    1203: ErrorRow("CRVIDEOSDK_RECORDFILE_DEL_FAILED", "移除本地文件失败 (the local file could "
                   "not be removed)", "remove the local file by hand", "failed"),
}

#: Recording codes that stop an output and leave a complete file (901, 003 §3 and Constant.md).
CLOSES_NORMALLY: Final = frozenset(c for c, row in ERRORS.items() if row.outcome == "closed")
#: Upload codes worth retrying.
UPLOAD_RETRYABLE: Final = frozenset(c for c, row in ERRORS.items() if row.outcome == "retry")


def vendor_error(code: int, desc: str = "") -> VendorError:
    """The VendorError for a CloudRoom code, with the table's meaning and advice."""
    row = ERRORS.get(code)
    if row is None:
        return VendorError(VENDOR, code, "an error code the recording documents do not list "
                           "(CRVIDEOSDK_ERR_DEF)", "look the code up in Constant.md", desc)
    return VendorError(VENDOR, code, f"{row.name}: {row.meaning}", row.advice, desc)


# ---- what a mixer may hold (TypeDefinitions.md, Constant.md) -----------------------------------
#: ``CRVideo_MIXER_VCONTENT_TYPE``: number -> (SDK name, our word).
CONTENT_TYPES: Final[dict[int, tuple[str, str]]] = {
    0: ("MIXVTP_VIDEO", "camera"),
    1: ("MIXVTP_PIC", "picture"),
    2: ("MIXVTP_SCREEN", "screen"),
    3: ("MIXVTP_MEDIA", "media"),
    4: ("MIXVTP_TIMESTAMP", "timestamp"),
    5: ("MIXVTP_REMOTE_SCREEN", "remote screen"),
    6: ("MIXVTP_WBOARD", "whiteboard"),
    7: ("MIXVTP_TEXT", "text"),
}
#: 6 is for cloud mixers only ("仅用于云端混图，本地混图应该用MIXVTP_PIC").
CLOUD_ONLY_CONTENT: Final = frozenset({6})

#: File formats by extension (003 功能介绍: "mp4、ts、flv、aiv, mp3"; aiv is avi).
FORMATS: Final = ("mp4", "ts", "flv", "avi", "mp3")
#: Only these keep what was written when the program ends abnormally (003 功能介绍:
#: "如果选择了flv和ts两种格式，即使录制过程中程序出现异常了，崩溃之前的录像仍然可用").
CRASH_SAFE: Final = frozenset({"ts", "flv"})
#: ``CRVideo_MIXER_OUTPUT_TYPE``.
MIXOT_FILE: Final = 0
MIXOT_LIVE: Final = 1

DEFAULT_QP: Final = 26  # TypeDefinitions.md: "缺省值：26"


@attrs.frozen
class Problem:
    """One thing wrong with an intent: where (a field path), the value found, the rule."""

    path: str
    value: Any
    rule: str

    def __str__(self) -> str:
        shown = "(absent)" if self.value is _ABSENT else repr(self.value)
        return f"{self.path} = {shown}: {self.rule}"


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


_ABSENT: Final = _Absent()


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _is_integral(value: Any) -> bool:
    return _is_number(value) and float(value).is_integer()


def _int_in(obj: Mapping[str, Any], key: str, path: str, lo: int | None, hi: int | None,
            rule: str, *, required: bool = True) -> Iterator[Problem]:
    value = obj.get(key, _ABSENT)
    if value is _ABSENT:
        if required:
            yield Problem(f"{path}.{key}", value, f"required: {rule}")
        return
    if (not _is_integral(value) or (lo is not None and value < lo)
            or (hi is not None and value > hi)):
        yield Problem(f"{path}.{key}", value, rule)


def mixer_problems(cfg: Any, path: str = "mixerCfg") -> list[Problem]:
    """``CRVideo_MixerCfgObj``: width and height positive multiples of 8, frameRate 1 to 30,
    bitRate positive, defaultQP 0 to 51 (default 26), gop positive (default frameRate x 15)."""
    if not isinstance(cfg, Mapping):
        return [Problem(path, cfg, "an object {width, height, frameRate, bitRate, defaultQP, "
                        "gop}")]
    out: list[Problem] = []
    for key in ("width", "height"):
        value = cfg.get(key, _ABSENT)
        if value is _ABSENT or not _is_integral(value) or value <= 0 or value % 8:
            out.append(Problem(f"{path}.{key}", value,
                               ("required: " if value is _ABSENT else "")
                               + "a positive multiple of 8 (图像宽度/高度要求8的倍数)"))
    out += _int_in(cfg, "frameRate", path, 1, 30, "an integer from 1 to 30 (取值范围:1-30)")
    out += _int_in(cfg, "bitRate", path, 1, None, "a positive number of bits per second")
    out += _int_in(cfg, "defaultQP", path, 0, 51, "an integer from 0 to 51 (取值范围：0~51)",
                   required=False)
    out += _int_in(cfg, "gop", path, 1, None, "a positive number of frames (I帧周期)",
                   required=False)
    return out


def canvas(cfg: Any) -> tuple[float, float] | None:
    """The canvas (width, height) of a valid configuration, else None."""
    if not isinstance(cfg, Mapping):
        return None
    width: Any = cfg.get("width")
    height: Any = cfg.get("height")
    if _is_number(width) and _is_number(height) and width > 0 and height > 0:
        return float(width), float(height)
    return None


_CAMID: Final = re.compile(r"^.+\.-?\d+$")
_AREA: Final = re.compile(r"^\s*-?\d+\s*,\s*-?\d+\s*,\s*\d+\s*,\s*\d+\s*$")


def content_problems(content: Any, cfg: Any, path: str = "mixerContent") -> list[Problem]:
    """``CRVideo_MixerContentObj`` items: a known ``type`` (local types: not the whiteboard),
    a rectangle with non-negative ``left``/``top`` and positive ``width``/``height`` (a text
    may be 0 x 0: sized by its text) inside the canvas of ``cfg``, and the ``param`` the type
    needs: ``camid`` ``"user.camId"`` for a camera, ``resourceid`` for a picture, ``resourceid``
    and ``text`` for a text; a screen's optional ``screenid`` / ``pid`` / ``area``."""
    if not isinstance(content, list | tuple):
        return [Problem(path, content, "an array of content items")]
    out: list[Problem] = []
    size = canvas(cfg)  # even a canvas with other problems bounds the rectangles
    for i, item in enumerate(content):
        where = f"{path}[{i}]"
        if not isinstance(item, Mapping):
            out.append(Problem(where, item, "an object {type, left, top, width, height, param}"))
            continue
        kind = item.get("type", _ABSENT)
        known = ", ".join(f"{n} {word}" for n, (_, word) in CONTENT_TYPES.items()
                          if n not in CLOUD_ONLY_CONTENT)
        if kind is _ABSENT or not _is_integral(kind) or int(kind) not in CONTENT_TYPES:
            out.append(Problem(f"{where}.type", kind, f"a content type: {known}"))
            kind = None
        elif int(kind) in CLOUD_ONLY_CONTENT:
            out.append(Problem(f"{where}.type", kind, "the whiteboard is for cloud mixers only; "
                               "a local mixer records it as a picture (1, 仅用于云端混图)"))
        zero_ok = kind == 7
        for key in ("left", "top"):
            value = item.get(key, _ABSENT)
            if value is _ABSENT or not _is_number(value) or value < 0:
                out.append(Problem(f"{where}.{key}", value, "a number >= 0"))
        for key in ("width", "height"):
            value = item.get(key, _ABSENT)
            if value is _ABSENT or not _is_number(value) or value < 0 or (
                    value == 0 and not zero_ok):
                out.append(Problem(f"{where}.{key}", value,
                                   "a number >= 0 (a text sizes itself at 0)" if zero_ok
                                   else "a number > 0"))
        if size is not None:
            out += _inside(item, where, size)
        ratio = item.get("keepAspectRatio", 0)
        if ratio not in (0, 1) or isinstance(ratio, bool):
            out.append(Problem(f"{where}.keepAspectRatio", ratio, "0 or 1"))
        if kind is not None:
            out += _param_problems(int(kind), item.get("param", _ABSENT), f"{where}.param")
    return out


def _inside(item: Mapping[str, Any], where: str, size: tuple[float, float]) -> list[Problem]:
    out = []
    for pos, extent, limit, axis in (("left", "width", size[0], "width"),
                                     ("top", "height", size[1], "height")):
        a: Any = item.get(pos)
        b: Any = item.get(extent)
        if _is_number(a) and _is_number(b) and a >= 0 and b >= 0 and a + b > limit:
            out.append(Problem(f"{where}.{extent}", b, f"{pos} + {extent} = {a + b:g} must fit "
                               f"in the canvas {axis} {limit:g}"))
    return out


def _param_problems(kind: int, param: Any, where: str) -> list[Problem]:
    needs = {0: ("camid",), 1: ("resourceid",), 7: ("resourceid", "text")}.get(kind, ())
    if param is _ABSENT or param is None:
        if not needs:
            return []
        return [Problem(where, param, f"required for a {CONTENT_TYPES[kind][1]}: "
                        f"{{{', '.join(needs)}}}")]
    if not isinstance(param, Mapping):
        return [Problem(where, param, "an object")]
    out = []
    for key in needs:
        value = param.get(key, _ABSENT)
        if not isinstance(value, str) or not value:
            out.append(Problem(f"{where}.{key}", value,
                               f"required for a {CONTENT_TYPES[kind][1]}: a non-empty string"))
        elif key == "camid" and not _CAMID.match(value):
            out.append(Problem(f"{where}.camid", value, "'userID.camID', the user and the "
                               "camera number (如 \"testuser.1\")"))
    if kind == 2:
        for key in ("screenid", "pid"):
            if key in param and not _is_integral(param[key]):
                out.append(Problem(f"{where}.{key}", param[key], "an integer"))
        area = param.get("area")
        if area is not None and (not isinstance(area, str) or not _AREA.match(area)):
            out.append(Problem(f"{where}.area", area, "'x,y,w,h' (如 \"10,20,400,800\")"))
    return out


def layout_text(content: Any) -> str:
    """A layout in a line, for the timeline's hover: each item's type, what it shows and its
    rectangle (``camera user1.1 at 0,90 320x180``). A text item's words and a picture's
    resource are not repeated: only what places the item."""
    if not isinstance(content, list | tuple):
        return "no items"
    parts = []
    for item in content:
        if not isinstance(item, Mapping):
            continue
        kind = item.get("type")
        word = CONTENT_TYPES[kind][1] if isinstance(kind, int) and kind in CONTENT_TYPES \
            else f"type {kind}"
        param = item.get("param")
        what = ""
        if isinstance(param, Mapping):
            what = next((f" {param[k]}" for k in ("camid", "screenid", "area")
                         if isinstance(param.get(k), str | int)), "")
        parts.append(f"{word}{what} at {item.get('left', '?')},{item.get('top', '?')} "
                     f"{item.get('width', '?')}x{item.get('height', '?')}")
    return f"{len(parts)} item{'s' if len(parts) != 1 else ''}" + (
        f": {'; '.join(parts)}" if parts else "")


@attrs.frozen
class OutputSpec:
    """One valid ``CRVideo_MixerOutputObj``: a file (type 0) or a live stream (type 1)."""

    type: int
    name: str  # the filename or the liveUrl: the ``nameOrUrl`` of its LocMixerOutputInfo
    format: str | None = None
    encryptType: int = 0
    isUploadOnRecording: int = 0
    serverPathFileName: str | None = None


def file_format(filename: str) -> str | None:
    """The format of a file output, from its extension (case-insensitive), if supported."""
    base = re.split(r"[\\/]", filename)[-1]
    _, dot, ext = base.rpartition(".")
    ext = ext.lower()
    return ext if dot and ext in FORMATS else None


def output_problems(outputs: Any, taken: set[str] | frozenset[str] = frozenset(),
                    path: str = "outputs") -> tuple[list[OutputSpec], list[Problem]]:
    """Check ``CRVideo_MixerOutputObj`` items; names must be unique in the mixer (``taken``
    holds the mixer's names so far). Returns the specs and every problem."""
    if not isinstance(outputs, list | tuple) or not outputs:
        return [], [Problem(path, outputs, "a non-empty array of outputs")]
    specs: list[OutputSpec] = []
    out: list[Problem] = []
    seen = set(taken)
    for i, item in enumerate(outputs):
        where = f"{path}[{i}]"
        if not isinstance(item, Mapping):
            out.append(Problem(where, item, "an object {type: 0, filename} or {type: 1, "
                               "liveUrl}"))
            continue
        kind = item.get("type", _ABSENT)
        if kind not in (MIXOT_FILE, MIXOT_LIVE) or isinstance(kind, bool):
            out.append(Problem(f"{where}.type", kind, "0 (MIXOT_FILE) or 1 (MIXOT_LIVE)"))
            continue
        flags = {}
        for key in ("encryptType", "isUploadOnRecording"):
            value = item.get(key, 0)
            if value not in (0, 1) or isinstance(value, bool):
                out.append(Problem(f"{where}.{key}", value, "0 or 1"))
            flags[key] = 1 if value == 1 else 0
        if kind == MIXOT_FILE:
            # Android's MixerOutPutCfg spells it fileName (record.md): the same field.
            name = item.get("filename", item.get("fileName", _ABSENT))
            if not isinstance(name, str) or not name:
                out.append(Problem(f"{where}.filename", name, "required for a file output: a "
                                   "path like D:/1.mp4"))
                continue
            fmt = file_format(name)
            if fmt is None:
                out.append(Problem(f"{where}.filename", name, "the extension names the format: "
                                   f"one of {', '.join(FORMATS)}"))
            server = item.get("serverPathFileName")
            if server is not None and (not isinstance(server, str) or not server):
                out.append(Problem(f"{where}.serverPathFileName", server, "a path on the "
                                   "upload server"))
                server = None
            spec = OutputSpec(MIXOT_FILE, name, fmt, flags["encryptType"],
                              flags["isUploadOnRecording"], server)
        else:
            name = item.get("liveUrl", _ABSENT)
            if not isinstance(name, str) or not re.match(r"^(rtmp|rtsp)://.+", name):
                out.append(Problem(f"{where}.liveUrl", name, "required for a live output: an "
                                   "rtmp:// or rtsp:// address"))
                continue
            spec = OutputSpec(MIXOT_LIVE, name)
        if name in seen:
            out.append(Problem(where, name, "names are unique in a mixer: this one is taken"))
        seen.add(name)
        specs.append(spec)
    return specs, out


def output_names(outputs: Any, path: str = "outputs") -> tuple[list[str], list[Problem]]:
    """The names ``RmLocMixerOutput`` stops: ``nameOrUrls`` as the SDK takes them, or the
    output objects themselves ({type, filename} / {type, liveUrl})."""
    if isinstance(outputs, str):
        outputs = [outputs]
    if not isinstance(outputs, list | tuple) or not outputs:
        return [], [Problem(path, outputs, "a non-empty array of output names (nameOrUrl)")]
    names, problems = [], []
    for i, item in enumerate(outputs):
        name = item
        if isinstance(item, Mapping):
            name = item.get("filename", item.get("fileName", item.get("liveUrl")))
        if not isinstance(name, str) or not name:
            problems.append(Problem(f"{path}[{i}]", item, "an output's name: its filename or "
                                    "liveUrl"))
            continue
        names.append(name)
    return list(dict.fromkeys(names)), problems


def normal_platform(platform: Any) -> Any:
    """``Android`` is ``android``: the platform's name in any case."""
    return platform.lower() if isinstance(platform, str) else platform


def describe(problems: list[Problem]) -> str:
    return "; ".join(str(p) for p in problems)


# ---- events: the app's intents -----------------------------------------------------------------
@event(VENDOR, CREATE)
@attrs.frozen(kw_only=True)
class CreateLocMixer(Event):
    """``CRVideo_CreateLocMixer(mixerID, mixerCfg, mixerContent)`` (003 §1); ``platform``: the
    SDK that records (windows, the default; web; android; ios; mac)."""

    mixerID: str
    mixerCfg: Any = None
    mixerContent: Any = None
    platform: Any = "windows"


@event(VENDOR, ADD)
@attrs.frozen(kw_only=True)
class AddLocMixerOutput(Event):
    """``CRVideo_AddLocMixerOutput(mixerID, mixerOutput)`` (003 §2)."""

    mixerID: str
    outputs: Any = None


@event(VENDOR, REMOVE)
@attrs.frozen(kw_only=True)
class RmLocMixerOutput(Event):
    """``CRVideo_RmLocMixerOutput(mixerID, nameOrUrls)``: stop these outputs, keep the mixer."""

    mixerID: str
    outputs: Any = ()


@event(VENDOR, UPDATE)
@attrs.frozen(kw_only=True)
class UpdateLocMixerContent(Event):
    """``CRVideo_UpdateLocMixerContent(mixerID, mixerContent)`` (003 §4): a new layout."""

    mixerID: str
    mixerContent: Any = None


@event(VENDOR, DESTROY)
@attrs.frozen(kw_only=True)
class DestroyLocMixer(Event):
    """``CRVideo_DestroyLocMixer(mixerID)`` (003 §5): "各输出自动结束", every output ends."""

    mixerID: str


@event(VENDOR, CRASHED)
@attrs.frozen(kw_only=True)
class AppCrashed(Event):
    """The recording app ended abnormally. ``mixerIDs`` names several mixers at once (the
    vendor's ``split`` makes one event per mixer)."""

    mixerID: str | None = None
    mixerIDs: tuple[str, ...] = ()
    reason: str = ""


# ---- events: the SDK's callback ----------------------------------------------------------------
@attrs.frozen
class OutputInfo:
    """``CRVideo_MixerOutputInfoObj``: ``state`` (numbered by platform), ``duration`` in ms,
    ``fileSize`` in bytes, ``errCode``; absent fields are None (an ERR carries no figures)."""

    state: int
    duration: int | None = None
    fileSize: int | None = None
    errCode: int | None = None


_output_info_fields = make_dict_structure_fn(OutputInfo, converter)


def _structure_output_info(value: Any, tp: Any) -> OutputInfo:
    """An object, or the JSON text of one: the Windows SDK's ``locMixerOutputInfo(mixerID,
    nameOrUrl, outputInfo)`` hands ``outputInfo`` as "json结构的字符串" (Windows API.md);
    its fields are then checked as an object's (errors name ``outputInfo.state``...)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
            raise PayloadError("expected an object {state, duration, fileSize, errCode} or "
                               f"its JSON text, got a string that is not JSON: {value!r:.60}"
                               ) from None
    if not isinstance(value, dict):
        raise PayloadError("expected an object {state, duration, fileSize, errCode}, got "
                           f"{type(value).__name__}")
    return _output_info_fields(value, tp)


converter.register_structure_hook(OutputInfo, _structure_output_info)


@event(VENDOR, INFO)
@attrs.frozen(kw_only=True)
class LocMixerOutputInfo(Event):
    """``CRVideo_LocMixerOutputInfo.callback(mixerID, nameOrUrl, outputInfo)`` (003 §3)."""

    mixerID: str
    nameOrUrl: str
    outputInfo: OutputInfo


# ---- upload (our uploader's answers) ------------------------------------------------------------
@event(VENDOR, f"{UPLOAD}:ok")
@attrs.frozen(kw_only=True)
class UploadRecordFileOk(Event):
    mixerID: str | None = None
    filename: str
    url: str


@event(VENDOR, f"{UPLOAD}:error")
@attrs.frozen(kw_only=True)
class UploadRecordFileError(Event):
    """``code``: 1200 to 1203 (1202: the upload failed, retried)."""

    mixerID: str | None = None
    filename: str
    code: int
    desc: str = ""


# ---- commands --------------------------------------------------------------------------------
@command(VENDOR, CREATE, sdk=True)
@attrs.frozen(kw_only=True)
class CreateLocMixerCommand(Command):
    mixerID: str
    mixerCfg: Any
    mixerContent: Any


@command(VENDOR, ADD, sdk=True)
@attrs.frozen(kw_only=True)
class AddLocMixerOutputCommand(Command):
    mixerID: str
    outputs: Any


@command(VENDOR, REMOVE, sdk=True)
@attrs.frozen(kw_only=True)
class RmLocMixerOutputCommand(Command):
    mixerID: str
    outputs: tuple[str, ...]


@command(VENDOR, UPDATE, sdk=True)
@attrs.frozen(kw_only=True)
class UpdateLocMixerContentCommand(Command):
    mixerID: str
    mixerContent: Any


@command(VENDOR, DESTROY, sdk=True)
@attrs.frozen(kw_only=True)
class DestroyLocMixerCommand(Command):
    mixerID: str


@command(VENDOR, UPLOAD)
@attrs.frozen(kw_only=True)
class UploadRecordFileCommand(Command):
    """Upload a closed file: ``filename`` (the local path), to ``serverPathFileName`` (a path
    under the upload target; the file's base name when absent); ``attempt`` counts from 1."""

    mixerID: str
    filename: str
    serverPathFileName: str | None = None
    encryptType: int = 0
    attempt: int = 1


# ---- routing -------------------------------------------------------------------------------------
def session_key(ev: Event) -> str | None:
    """The ``mixerID``: a mixer is a session."""
    key = getattr(ev, "mixerID", None)
    if key is None and isinstance(ev, AppCrashed) and len(set(ev.mixerIDs)) == 1:
        key = ev.mixerIDs[0]
    return key if isinstance(key, str) and key else None


def split(ev: Event) -> list[Event]:
    """An ``appCrashed`` naming several mixers becomes one per mixer."""
    if isinstance(ev, AppCrashed) and ev.mixerID is None and ev.mixerIDs:
        return [AppCrashed(t=ev.t, session=m, mixerID=m, reason=ev.reason)
                for m in dict.fromkeys(ev.mixerIDs)]
    return [ev]
