"""The unified view: whatever the vendor, a recording has a canonical state and a list of files.

A service can then handle the recordings of every vendor with one piece of code, by listening
to ``signals.recording_changed`` and ``signals.file_changed``.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any, Final, Literal

import attrs
import orjson

from recstate.sparse import Rare

__all__ = ["FILE_STATUSES", "RECORDING_STATES", "FileKind", "FileMore", "FileStatus",
           "PackedFiles", "RecordingFile", "RecordingState"]

RecordingState = Literal["idle", "starting", "recording", "stopping", "stopped", "failed"]
RECORDING_STATES: Final = ("idle", "starting", "recording", "stopping", "stopped", "failed")

#: ``whiteboard``: whiteboard data (NetEase's ``gz`` items), neither audio nor video.
FileKind = Literal["audio", "video", "mixed", "screen", "whiteboard"]
FileStatus = Literal["expected", "open", "closed", "uploading", "ready", "lost", "failed"]
FILE_STATUSES: Final = ("expected", "open", "closed", "uploading", "ready", "lost", "failed")


@attrs.define(slots=True, weakref_slot=False)
class FileMore:
    """What few files have (a vendor's own content hashes, CloudRoom's encryption): made the
    first time one of them is set, so that an open file has no slot for them (issue 12)."""

    md5: str | None = None
    hash: str | None = None
    encrypted: bool = False


#: A RecordingFile's fields, in the constructor's order (and its repr's).
_FILE_FIELDS = ("id", "session", "vendor", "kind", "format", "participant", "start", "end",
                "size", "url", "status", "md5", "hash", "encrypted")


@attrs.define(slots=True, eq=False, weakref_slot=False, init=False, repr=False)
class RecordingFile:
    """One file of a recording. ``participant`` is None for a mix.

    ``expected`` is a file the vendor will deliver later (NetEase announces them after the
    call); ``open`` is being written; ``closed`` is finished but has no address yet;
    ``uploading`` is finished and on its way to an upload server; ``ready`` has its url;
    ``lost`` never came or holds nothing; ``failed`` was written (or uploaded) in error.
    ``encrypted``: only the vendor's player can play it (CloudRoom ``encryptType: 1``).
    ``md5``, ``hash`` and ``encrypted`` are kept in a :class:`FileMore` made when one of
    them is first set (``_more``, None until then); they read and write as the others do.
    """

    id: str
    session: str
    vendor: str
    kind: FileKind
    format: str
    participant: str | None
    start: float | None
    end: float | None
    size: int | None
    url: str | None
    status: FileStatus
    _more: FileMore | None

    md5 = Rare[str | None]("md5", None, FileMore)
    #: The store's own content hash when it is not an MD5 (Qiniu's etag).
    hash = Rare[str | None]("hash", None, FileMore)
    encrypted = Rare("encrypted", False, FileMore)

    def __init__(self, id: str, session: str, vendor: str, kind: FileKind,
                 format: str, participant: str | None = None,
                 start: float | None = None, end: float | None = None,
                 size: int | None = None, url: str | None = None,
                 status: FileStatus = "open", md5: str | None = None,
                 hash: str | None = None, encrypted: bool = False) -> None:
        self.id = id
        self.session = session
        self.vendor = vendor
        self.kind = kind
        self.format = format
        self.participant = participant
        self.start = start
        self.end = end
        self.size = size
        self.url = url
        self.status = status
        self._more = None
        if md5 is not None or hash is not None or encrypted is not False:
            self.md5 = md5
            self.hash = hash
            self.encrypted = encrypted

    def __repr__(self) -> str:
        return "RecordingFile(" + ", ".join(
            f"{name}={getattr(self, name)!r}" for name in _FILE_FIELDS) + ")"

    @property
    def duration(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        """The report's file object (times in Unix seconds)."""
        data = {"id": self.id, "participant": self.participant, "kind": self.kind,
                "format": self.format, "start": self.start, "end": self.end,
                "size": self.size, "url": self.url, "status": self.status}
        if self.md5 is not None:
            data["md5"] = self.md5
        if self.hash is not None:
            data["hash"] = self.hash
        if self.encrypted:
            data["encrypted"] = True
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, session: str, vendor: str) -> RecordingFile:
        return cls(id=data["id"], session=session, vendor=vendor, kind=data["kind"],
                   format=data["format"], participant=data.get("participant"),
                   start=data.get("start"), end=data.get("end"), size=data.get("size"),
                   url=data.get("url"), status=data.get("status", "open"),
                   md5=data.get("md5"), hash=data.get("hash"),
                   encrypted=bool(data.get("encrypted", False)))


class PackedFiles:
    """A session's files as one compressed JSON text of their :meth:`RecordingFile.to_dict`.

    A replay keeps every session to the end, and a finished recording's files are all it
    still gains: a live ``RecordingFile`` is about 400 bytes with its strings (a 40-hour
    Tencent recording has 27), packed they are a few dozen bytes each. Only files that come
    back the same are packed (:meth:`pack`); :attr:`recstate.session.Session.files` turns
    them back into objects when anything reads them again."""

    __slots__ = ("blob", "count")

    def __init__(self, blob: bytes, count: int) -> None:
        self.blob = blob
        self.count = count

    @classmethod
    def pack(cls, files: Sequence[RecordingFile]) -> PackedFiles | None:
        """The files packed, or None: none, or a value JSON would not give back as it is (a
        NaN, an integer beyond 64 bits, a tuple, a lone surrogate...)."""
        if not files:
            return None
        dicts = [f.to_dict() for f in files]
        try:
            text = orjson.dumps(dicts)
        except (TypeError, orjson.JSONEncodeError):
            return None
        if orjson.loads(text) != dicts or not all(
                type(v) in _PLAIN for d in dicts for v in d.values()):
            return None
        return cls(zlib.compress(text, 1), len(files))

    def dicts(self) -> list[dict[str, Any]]:
        """Each file's :meth:`RecordingFile.to_dict`, in order."""
        dicts: list[dict[str, Any]] = orjson.loads(zlib.decompress(self.blob))
        return dicts

    def unpack(self, *, session: str, vendor: str) -> list[RecordingFile]:
        return [RecordingFile.from_dict(d, session=session, vendor=vendor)
                for d in self.dicts()]

    def __repr__(self) -> str:
        return f"<PackedFiles: {self.count} files, {len(self.blob)} bytes>"


#: The types of a file's values that JSON gives back as they were (a ``str`` subclass or a
#: ``bool`` where an ``int`` was would compare equal and come back otherwise).
_PLAIN: Final = frozenset({str, int, float, bool, type(None)})
