"""Session: one call, channel, room recording or mixer: its key, vendor, machine and data."""

from __future__ import annotations

from typing import Any

from recstate.events import converter
from recstate.machine import Machine
from recstate.recording import RecordingFile

__all__ = ["Session"]


class Session:
    """A small record, not a transitions model: the Runtime's engine for the machine class is
    pointed at it for the time of one handling. An idle session costs a few hundred bytes."""

    __slots__ = ("_files", "context", "key", "machine", "recording", "state", "vendor")

    def __init__(self, key: str, machine: type[Machine], state: str | None = None,
                 context: Any = None, recording: str = "idle") -> None:
        self.key = key
        self.vendor = machine.vendor
        self.machine = machine
        self.state = machine.initial if state is None else state
        self.recording = recording
        self.context = machine.context() if context is None else context
        self._files: list[RecordingFile] | None = None

    @property
    def files(self) -> list[RecordingFile]:
        if self._files is None:
            self._files = []
        return self._files

    def snapshot(self) -> dict[str, Any]:
        """Plain JSON-able data (timers are the Runtime's: it adds them)."""
        return {
            "key": self.key,
            "vendor": self.vendor,
            "machine": self.machine.qualified_name(),
            "state": self.state,
            "recording": self.recording,
            "context": _unstructure(type(self.context))(self.context),
            "files": [f.to_dict() for f in self._files or ()],
        }

    @classmethod
    def restore(cls, data: dict[str, Any], machine: type[Machine]) -> Session:
        if data.get("machine") != machine.qualified_name():
            raise ValueError(f"snapshot of session {data.get('key')!r} is for machine "
                             f"{data.get('machine')!r}, not {machine.qualified_name()!r}")
        session = cls(data["key"], machine, state=data["state"],
                      context=converter.structure(data["context"], machine.context),
                      recording=data["recording"])
        if data.get("files"):
            session._files = [RecordingFile.from_dict(f, session=session.key,
                                                      vendor=session.vendor)
                              for f in data["files"]]
        return session

    def __repr__(self) -> str:
        return (f"Session({self.key!r}, {self.machine.qualified_name()}, state={self.state!r}, "
                f"recording={self.recording!r})")


_hooks: dict[type, Any] = {}


def _unstructure(cls: type) -> Any:
    """The converter's unstructure function for a context class, looked up once (a store
    snapshots a session after every handling; the generic dispatch costs as much as the
    work)."""
    hook = _hooks.get(cls)
    if hook is None:
        hook = _hooks[cls] = converter.get_unstructure_hook(cls)
    return hook

