"""The unified view: whatever the vendor, a recording has a canonical state and a list of files.

A service can then handle the recordings of every vendor with one piece of code, by listening
to ``signals.recording_changed`` and ``signals.file_changed``.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import attrs

__all__ = ["FILE_STATUSES", "RECORDING_STATES", "FileKind", "FileStatus", "RecordingFile",
           "RecordingState"]

RecordingState = Literal["idle", "starting", "recording", "stopping", "stopped", "failed"]
RECORDING_STATES: Final = ("idle", "starting", "recording", "stopping", "stopped", "failed")

#: ``whiteboard``: whiteboard data (NetEase's ``gz`` items), neither audio nor video.
FileKind = Literal["audio", "video", "mixed", "screen", "whiteboard"]
FileStatus = Literal["expected", "open", "closed", "uploading", "ready", "lost", "failed"]
FILE_STATUSES: Final = ("expected", "open", "closed", "uploading", "ready", "lost", "failed")


@attrs.define(slots=True, eq=False)
class RecordingFile:
    """One file of a recording. ``participant`` is None for a mix.

    ``expected`` is a file the vendor will deliver later (NetEase announces them after the
    call); ``open`` is being written; ``closed`` is finished but has no address yet;
    ``uploading`` is finished and on its way to an upload server; ``ready`` has its url;
    ``lost`` never came or holds nothing; ``failed`` was written (or uploaded) in error.
    ``encrypted``: only the vendor's player can play it (CloudRoom ``encryptType: 1``).
    """

    id: str
    session: str
    vendor: str
    kind: FileKind
    format: str
    participant: str | None = None
    start: float | None = None
    end: float | None = None
    size: int | None = None
    url: str | None = None
    status: FileStatus = "open"
    md5: str | None = None
    #: The store's own content hash when it is not an MD5 (Qiniu's etag).
    hash: str | None = None
    encrypted: bool = False

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
