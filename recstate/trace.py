"""Trace format v1: one JSON object a line (DESIGN §4). Reader, writer, and redaction.

Everything that crosses the Runtime's boundary can be written here (inputs, commands,
transitions, files, errors) and every trace can be replayed. Secrets are written as ``"***"``
on the way out, whatever the caller passes in.
"""

from __future__ import annotations

import functools
import math
import os
import re
import types
import typing
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Final

import attrs
import orjson

from recstate.errors import TraceError

__all__ = [
    "EMBEDS_SECRET",
    "KINDS",
    "OUTPUT_KINDS",
    "REDACTED",
    "Record",
    "TraceReader",
    "TraceWriter",
    "is_secret_key",
    "parse_time",
    "read_trace",
    "redact",
    "scrub_text",
]

KINDS: Final = ("event", "command", "transition", "file", "error")
OUTPUT_KINDS: Final = frozenset(KINDS[1:])
REDACTED: Final = "***"

#: attrs field metadata: a plain string field that may embed a secret (a signed URL's token,
#: JSON text with keys in it), so that records of its class are scanned (:func:`scrub_text`).
EMBEDS_SECRET: Final = "recstate.embeds_secret"  # noqa: S105 - a metadata key

_SECRET_WORDS: Final = ("secret", "token", "signature", "password", "passwd", "accesskey",
                        "usersig", "privatekey", "checksum", "authorization", "credential")


@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """Whether a field name holds a secret (``secretKey``, ``accessKey``, ``AppSecret``,
    ``token``, ``signature``...). Matching is by word, case-insensitively, so a new vendor's
    ``SecretId`` is covered without a list to keep up to date."""
    folded = key.lower().replace("_", "").replace("-", "")
    return any(word in folded for word in _SECRET_WORDS)


#: A secret inside a string: a JSON member (``"SecretKey":"..."``, a record string that a
#: vendor's SDK takes as JSON text) or a URL query parameter (``...&token=AK:sign``).
_EMBEDDED: Final = re.compile(
    r'(?P<jk>"(?P<jname>[^"\\]{1,64})"\s*:\s*)"(?P<jval>(?:[^"\\]|\\.)*)"'
    r"|(?P<qk>[?&](?P<qname>[^=&#?\s\"]{1,64})=)(?P<qval>[^&#\s\"]*)")


def _scrub_match(m: re.Match[str]) -> str:
    if m.group("jk") is not None:
        if is_secret_key(m.group("jname")) and m.group("jval"):
            return f'{m.group("jk")}"{REDACTED}"'
    elif is_secret_key(m.group("qname")) and m.group("qval"):
        return m.group("qk") + REDACTED
    return m.group(0)


def scrub_text(text: str) -> str:
    """``text`` with the secrets embedded in it written as ``***``: the values of
    secret-named JSON members and URL query parameters (see :func:`is_secret_key`)."""
    if '"' not in text and "=" not in text:
        return text
    return _EMBEDDED.sub(_scrub_match, text)


def _text_has_secret(text: str) -> bool:
    return ('"' in text or "=" in text) and scrub_text(text) != text


def redact(value: Any) -> Any:
    """A copy of ``value`` with every secret-named field replaced by ``"***"``, and the
    secrets embedded in its strings too (:func:`scrub_text`)."""
    if isinstance(value, dict):
        return {k: (REDACTED if isinstance(k, str) and is_secret_key(k) and v not in (None, "")
                    else redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value


def _has_secret(value: Any) -> bool:
    if isinstance(value, dict):
        return any((isinstance(k, str) and is_secret_key(k)) or _has_secret(v)
                   for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_secret(v) for v in value)
    if isinstance(value, str):
        return _text_has_secret(value)
    return False


_PLAIN: Final = (str, int, float, bool, type(None))


def _type_may_hold_secret(tp: Any) -> bool:
    if tp in _PLAIN or tp is Ellipsis:
        return False
    if isinstance(tp, type) and attrs.has(tp):
        return may_hold_secret(tp)
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return False
    if origin in (tuple, list, frozenset, set, typing.Union, types.UnionType):
        return any(_type_may_hold_secret(arg) for arg in typing.get_args(tp))
    return True  # dict, Any, or a type this check does not know: scan it


_may_hold: dict[type, bool] = {}


def may_hold_secret(cls: type) -> bool:
    """Whether a payload of this attrs class can hold a secret: a secret-named field, or a
    field whose type can carry arbitrary keys (``dict``, ``Any``), or a string field marked
    :data:`EMBEDS_SECRET` (a signed URL). Decided once per class,
    so that the trace skips the per-record scan where there can be nothing to redact."""
    known = _may_hold.get(cls)
    if known is None:
        try:
            hints = typing.get_type_hints(cls)
            known = any(is_secret_key(f.name) or f.metadata.get(EMBEDS_SECRET, False)
                        or _type_may_hold_secret(hints.get(f.name, Any))
                        for f in attrs.fields(cls))
        except Exception:  # unresolvable annotations: be safe
            known = True
        _may_hold[cls] = known
    return known


@attrs.define(slots=True, eq=False)
class Record:
    """One trace line. ``line`` is where it was read from (None for a record made live)."""

    t: float
    vendor: str
    name: str
    session: str | None = None
    data: dict[str, Any] | None = None
    kind: str = "event"
    line: int | None = None
    #: The data is a payload of a class that cannot hold a secret (:func:`may_hold_secret`).
    clean: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"t": self.t, "vendor": self.vendor, "name": self.name}
        if self.session is not None:
            out["session"] = self.session
        if self.data is not None:
            # A transition's data is the runtime's own {src, dst}: nothing to redact.
            secret = not self.clean and self.kind != "transition" and _has_secret(self.data)
            out["data"] = redact(self.data) if secret else self.data
        if self.kind != "event":
            out["kind"] = self.kind
        return out

    def dumps(self) -> bytes:
        """The line, redacted, keys in a fixed order: the same record gives the same bytes."""
        return orjson.dumps(self.to_json(), option=orjson.OPT_SORT_KEYS)


def parse_time(value: Any, *, source: str = "<trace>", line: int | None = None,
               field: str = "t") -> float:
    """Unix seconds from a number or an ISO-8601 string with an offset."""
    if isinstance(value, bool):
        raise TraceError(f"expected Unix seconds or an ISO-8601 time, got {value!r}",
                         source=source, line=line, field=field)
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise TraceError(f"expected a finite time, got {value!r}", source=source,
                             line=line, field=field)
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise TraceError(f"expected Unix seconds or an ISO-8601 time, got {value!r}",
                             source=source, line=line, field=field) from None
        if parsed.tzinfo is None:
            raise TraceError(f"ISO-8601 time {value!r} has no offset; add one (e.g. "
                             "'+08:00' or 'Z') so that it means one instant",
                             source=source, line=line, field=field)
        return parsed.timestamp()
    raise TraceError(f"expected Unix seconds or an ISO-8601 time, got {type(value).__name__}",
                     source=source, line=line, field=field)


def parse_line(text: str | bytes, *, source: str = "<trace>", line: int | None = None,
               vendors: frozenset[str] | None = None) -> Record | None:
    """One trace line to a Record (None for a blank or ``#`` line); a TraceError otherwise."""
    stripped = text.strip()
    if not stripped or stripped[:1] in ("#", b"#"):
        return None
    try:
        obj = orjson.loads(stripped)
    except orjson.JSONDecodeError as exc:
        raise TraceError(f"not valid JSON ({exc})", source=source, line=line) from None
    if not isinstance(obj, dict):
        raise TraceError(f"expected a JSON object, got {type(obj).__name__}", source=source,
                         line=line)
    for field in ("t", "vendor", "name"):
        if field not in obj:
            raise TraceError("required field is missing", source=source, line=line, field=field)
    t = parse_time(obj["t"], source=source, line=line)
    vendor, name = obj["vendor"], obj["name"]
    if not isinstance(vendor, str) or (vendors is not None and vendor not in vendors):
        known = ", ".join(sorted(vendors)) if vendors else "a string"
        raise TraceError(f"unknown vendor {vendor!r}; expected one of: {known}",
                         source=source, line=line, field="vendor")
    if not isinstance(name, str) or not name:
        raise TraceError("expected the vendor's event name, a non-empty string",
                         source=source, line=line, field="name")
    kind = obj.get("kind", "event")
    if kind not in KINDS:
        raise TraceError(f"unknown kind {kind!r}; expected one of: {', '.join(KINDS)}",
                         source=source, line=line, field="kind")
    session = obj.get("session")
    if session is not None and not isinstance(session, str):
        raise TraceError(f"expected a string session key, got {session!r}", source=source,
                         line=line, field="session")
    data = obj.get("data")
    if data is not None and not isinstance(data, dict):
        raise TraceError(f"expected a JSON object, got {type(data).__name__}", source=source,
                         line=line, field="data")
    unknown = set(obj) - {"t", "vendor", "name", "session", "data", "kind"}
    if unknown:
        raise TraceError(f"unknown fields {sorted(unknown)}; trace v1 has t, vendor, name, "
                         "data, session, kind", source=source, line=line,
                         field=sorted(unknown)[0])
    return Record(t=t, vendor=vendor, name=name, session=session, data=data, kind=kind,
                  line=line)


class TraceReader:
    """Iterate the records of a trace file. ``errors`` collects bad lines when ``skip_bad``."""

    def __init__(self, path: str | os.PathLike[str], *, skip_bad: bool = False,
                 vendors: frozenset[str] | None = None) -> None:
        self.path = Path(path)
        self.skip_bad = skip_bad
        self.vendors = vendors
        self.errors: list[TraceError] = []
        self.lines = 0

    def __iter__(self) -> Iterator[Record]:
        source = str(self.path)
        try:
            handle = self.path.open("rb")
        except OSError as exc:
            raise TraceError(f"cannot open the trace: {exc.strerror}", source=source) from None
        with handle:
            for number, raw in enumerate(handle, start=1):
                self.lines = number
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    error = TraceError("not UTF-8 text", source=source, line=number)
                    if not self.skip_bad:
                        raise error from None
                    self.errors.append(error)
                    continue
                try:
                    record = parse_line(text, source=source, line=number, vendors=self.vendors)
                except TraceError as error:
                    if not self.skip_bad:
                        raise
                    self.errors.append(error)
                    continue
                if record is not None:
                    yield record


def read_trace(path: str | os.PathLike[str]) -> list[Record]:
    return list(TraceReader(path))


class TraceWriter:
    """Append records as JSON lines, redacted. Usable as the Runtime's ``tracer``.

    Lines are buffered (the file object's buffer) and flushed on ``flush``/``close``; a
    service that must not lose the tail on a crash calls ``flush`` where it commits.
    """

    def __init__(self, target: str | os.PathLike[str] | IO[bytes]) -> None:
        if isinstance(target, str | os.PathLike):
            self._file: IO[bytes] = open(target, "ab")  # noqa: SIM115 - closed in close()
            self._owned = True
        else:
            self._file = target
            self._owned = False
        self._write = self._file.write

    def __call__(self, record: Record) -> None:
        self._write(record.dumps() + b"\n")

    def write(self, record: Record) -> None:
        self(record)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if self._owned:
            self._file.close()
        else:
            self._file.flush()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
