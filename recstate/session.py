"""Session: one call, channel, room recording or mixer: its key, vendor, machine and data."""

from __future__ import annotations

import types
import typing
from typing import Any

import attrs

from recstate.events import converter
from recstate.machine import Machine
from recstate.recording import PackedFiles, RecordingFile

__all__ = ["Session"]


class Session:
    """A small record, not a transitions model: the Runtime's engine for the machine class is
    pointed at it for the time of one handling. An idle session costs a few hundred bytes."""

    __slots__ = ("_files", "context", "key", "machine", "recording", "state")

    def __init__(self, key: str, machine: type[Machine], state: str | None = None,
                 context: Any = None, recording: str = "idle") -> None:
        self.key = key
        self.machine = machine
        self.state = machine.initial if state is None else state
        self.recording = recording
        self.context = machine.context() if context is None else context
        #: None (no file yet), the session's one file itself (a recording's first file
        #: needs no list of one: 64 bytes of an idle session, issue 12), the list of its
        #: files, or them packed (:meth:`pack_files`).
        self._files: list[RecordingFile] | RecordingFile | PackedFiles | None = None

    @property
    def vendor(self) -> str:
        """The machine's vendor (not a slot of its own: 8 bytes of every session)."""
        return self.machine.vendor

    @property
    def files(self) -> list[RecordingFile]:
        files = self._files
        if isinstance(files, list):
            return files
        if files is None:
            files = self._files = []
        elif isinstance(files, PackedFiles):
            files = self._files = files.unpack(session=self.key, vendor=self.vendor)
        else:
            files = self._files = [files]
        return files

    def pack_files(self) -> PackedFiles | None:
        """Keep the files packed (:class:`~recstate.recording.PackedFiles`: a replay packs
        a finished session's, which it keeps to the end) until something reads
        :attr:`files` again, which then gives new objects with the same values; the packed
        files, or None when there are none or they would not come back the same. Only where
        nothing else holds a file or the list: a machine looks its files up in ``files``
        at each handling, a receiver of ``file_changed`` may keep them."""
        files = self._files
        if files is None or isinstance(files, PackedFiles):
            return files
        packed = PackedFiles.pack(_listed(files))
        if packed is not None:
            self._files = packed
        return packed

    def file_dicts(self) -> list[dict[str, Any]]:
        """Each file's ``to_dict()``, packed or not (nothing is unpacked)."""
        files = self._files
        if isinstance(files, PackedFiles):
            return files.dicts()
        return [f.to_dict() for f in _listed(files)]

    def snapshot(self) -> dict[str, Any]:
        """Plain JSON-able data (timers are the Runtime's: it adds them)."""
        return {
            "key": self.key,
            "vendor": self.vendor,
            "machine": self.machine.qualified_name(),
            "state": self.state,
            "recording": self.recording,
            "context": _unstructure(type(self.context))(self.context),
            "files": self.file_dicts(),
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


def _listed(files: list[RecordingFile] | RecordingFile | None,
            ) -> list[RecordingFile] | tuple[RecordingFile, ...]:
    """A session's files as they are kept (``Session._files``), without making a list."""
    if files is None:
        return ()
    return files if isinstance(files, list) else (files,)


_hooks: dict[type, Any] = {}
_SCALARS = (str, int, float, bool, type(None))


def _unstructure(cls: type) -> Any:
    """The unstructure function for a context class, made once (a store snapshots a session
    after every handling; cattrs' generic dispatch cost as much as the work)."""
    hook = _hooks.get(cls)
    if hook is None:
        hook = _hooks[cls] = _compile(cls)
    return hook


def _kind(tp: Any) -> str:
    """``scalar`` (taken as is), ``list`` (a list of scalars: copied), ``optional`` (None
    or one type's hook) or ``hook``."""
    if tp in _SCALARS:
        return "scalar"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType) and all(a in _SCALARS for a in args):
        return "scalar"
    if origin is typing.Literal and all(type(a) in _SCALARS for a in args):
        return "scalar"
    if origin is list and len(args) == 1 and args[0] in _SCALARS:
        return "list"
    if (origin in (typing.Union, types.UnionType) and len(args) == 2
            and type(None) in args):
        return "optional"
    return "hook"


def _compile(cls: type) -> Any:
    """A dict display of the context's fields, as cattrs' own function gives it: a scalar or
    optional scalar field as is, a list of scalars copied, any other field through the
    converter's hook for its type (nested classes, enums, the vendors' own hooks). About
    four times faster than cattrs' generated function, whose optional fields each go
    through a dispatch; ``tests/test_durable_runtime.py`` checks both give the same."""
    own = converter.get_unstructure_hook(cls)
    code = getattr(own, "__code__", None)
    if not attrs.has(cls) or code is None or not code.co_filename.startswith(
            "<cattrs generated"):  # a hook of the vendor's own: it decides
        return own
    attrs.resolve_types(cls)
    env: dict[str, Any] = {}
    items = []
    for i, field in enumerate(attrs.fields(cls)):
        kind = _kind(field.type)
        if kind == "scalar":
            value = f"o.{field.name}"
        elif kind == "list":
            value = f"list(o.{field.name})"
        elif kind == "optional":
            inner = next(a for a in typing.get_args(field.type) if a is not type(None))
            env[f"h{i}"] = converter.get_unstructure_hook(inner)
            value = f"None if o.{field.name} is None else h{i}(o.{field.name})"
        else:
            env[f"h{i}"] = converter.get_unstructure_hook(field.type)
            value = f"h{i}(o.{field.name})"
        items.append(f"{field.name!r}: {value}")
    source = f"def unstructure(o):\n    return {{{', '.join(items)}}}\n"
    exec(compile(source, f"<recstate unstructure {cls.__qualname__}>", "exec"), env)  # noqa: S102 - field names from attrs, no input
    return env["unstructure"]
