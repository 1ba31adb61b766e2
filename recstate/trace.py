"""Trace format v1: one JSON object a line (DESIGN §4). Reader, writer, and redaction.

Everything that crosses the Runtime's boundary can be written here (inputs, commands,
transitions, files, errors) and every trace can be replayed. Secrets are written as ``"***"``
on the way out, whatever the caller passes in.
"""

from __future__ import annotations

import difflib
import functools
import math
import os
import re
import stat
import tempfile
import threading
import time
import types
import typing
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final
from urllib.parse import unquote

import attrs
import orjson

from recstate.errors import OutputError, TraceError

__all__ = [
    "COMMAND_LINES",
    "EMBEDS_SECRET",
    "EVENT_LINES",
    "KINDS",
    "MAX_DEPTH",
    "MAX_LINE",
    "MAX_TIME",
    "MIN_TIME",
    "OUTPUT_KINDS",
    "REDACTED",
    "OutputFile",
    "Record",
    "TraceReader",
    "TraceWriter",
    "depth",
    "encode",
    "is_secret_key",
    "line_encoder",
    "parse_time",
    "read_trace",
    "redact",
    "redact_message",
    "redact_text",
    "scrub_text",
]

KINDS: Final = ("event", "command", "transition", "file", "error")
OUTPUT_KINDS: Final = frozenset(KINDS[1:])
REDACTED: Final = "***"

#: attrs field metadata: a plain string field that may embed a secret (a signed URL's token,
#: JSON text with keys in it), so that records of its class are scanned (:func:`scrub_text`).
EMBEDS_SECRET: Final = "recstate.embeds_secret"  # noqa: S105 - a metadata key

#: Parts of a folded field name (lower case, no ``_`` or ``-``) that mark a secret.
_SECRET_WORDS: Final = ("secret", "token", "signature", "password", "passwd", "accesskey",
                        "usersig", "privatekey", "privatemapkey", "checksum", "authorization",
                        "credential", "apikey", "passphrase", "encryptkey", "aeskey", "hmac",
                        "cookie", "bearer")
#: Whole words of a field name (``camelCase``, ``snake_case`` and ``kebab-case`` split) that
#: mark a secret, too short to be matched inside other words (``sig`` is in ``signal``).
_SECRET_NAMES: Final = frozenset(("sign", "sig", "pwd", "auth", "oauth", "ticket", "ak", "sk",
                                  "pass", "otp"))
_WORD: Final = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")

#: The earliest and latest time a trace may hold (Unix seconds): 1970-01-01T00:00:00Z and
#: 3000-01-01T00:00:00Z. Anything else is a mistake (milliseconds for seconds, a year typed
#: wrong) and could not be printed as a date either.
MIN_TIME: Final = 0.0
MAX_TIME: Final = 32_503_680_000.0
#: How deep a line's ``data`` may nest (objects and arrays): vendors' payloads are a few
#: levels deep; deeper is hostile or broken, and is refused at read time.
MAX_DEPTH: Final = 64
#: The longest line a trace may hold, in bytes (a NetEase callback body is at most 4 MiB).
MAX_LINE: Final = 8 * 1024 * 1024


@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """Whether a field name holds a secret (``secretKey``, ``accessKey``, ``AppSecret``,
    ``token``, ``signature``, ``sign``, ``privateMapKey``, ``x-api-key``...). Matching is by
    word, case-insensitively, so a new vendor's ``SecretId`` is covered without a list of
    every vendor's names to keep up to date."""
    folded = key.lower().replace("_", "").replace("-", "")
    if any(word in folded for word in _SECRET_WORDS):
        return True
    return any(word.lower() in _SECRET_NAMES for word in _WORD.findall(key))


#: ``?name=value`` / ``&name=value`` in a URL (or a JSON text holding URLs).
_QUERY: Final = re.compile(r"([?&;])([^=&#;?\s\"'\\]+)=([^&#;\s\"'\\]*)")


#: ``"name": value`` in a JSON text held in a string (NetEase's ``fileinfo``), a value being a
#: JSON string, number or literal.
_JSON_PAIR: Final = re.compile(
    r'("((?:[^"\\]|\\.){1,80})"\s*:\s*)("(?:[^"\\]|\\.)*"|[-0-9.eE+]+|true|false)')


def redact_text(text: str) -> str:
    """``text`` with the values of secret-named query parameters in it (a signed
    URL's ``Signature``, ``sign``, ``q-signature``, ``X-Amz-Credential``...) as ``***``, and
    those of secret-named keys of a JSON text in it (``"token": "..."``)."""
    if "=" in text and ("?" in text or "&" in text):
        def url(match: re.Match[str]) -> str:
            if match[3] and match[3] != REDACTED and is_secret_key(unquote(match[2])):
                return f"{match[1]}{match[2]}={REDACTED}"
            return match[0]
        text = _QUERY.sub(url, text)
    if '"' in text and ":" in text:
        def pair(match: re.Match[str]) -> str:
            if match[3] not in ('""', f'"{REDACTED}"') and is_secret_key(match[2]):
                return f'{match[1]}"{REDACTED}"'
            return match[0]
        text = _JSON_PAIR.sub(pair, text)
    return text


#: The same, under the name the Juphoon adapters use.
scrub_text = redact_text

_CONTAINERS: Final = (dict, list, tuple)


def redact(value: Any) -> Any:
    """A copy of ``value`` with every secret-named field replaced by ``"***"`` (a container
    under a secret name keeps its shape, each value in it ``"***"``), and the signatures of
    signed URLs in strings too. Iterative: any depth."""
    if isinstance(value, str):
        return redact_text(value)
    if not isinstance(value, _CONTAINERS):
        return value
    root: list[Any] = [None]
    # (container, where its copy goes, the slot there, everything in it is secret)
    stack: list[tuple[Any, Any, Any, bool]] = [(value, root, 0, False)]
    while stack:
        item, parent, slot, hidden = stack.pop()
        if isinstance(item, dict):
            out: Any = {}
            pairs: Iterable[tuple[Any, Any]] = item.items()
        else:
            out = [None] * len(item)
            pairs = enumerate(item)
        parent[slot] = out
        for k, v in pairs:
            secret = hidden or (isinstance(k, str) and isinstance(item, dict)
                                and is_secret_key(k))
            if isinstance(v, _CONTAINERS):
                out[k] = None
                stack.append((v, out, k, secret))
            elif secret and v not in (None, ""):
                out[k] = REDACTED
            else:
                out[k] = redact_text(v) if isinstance(v, str) else v
    return root[0]


#: A secret-named key (the words of :func:`is_secret_key`, ``_`` or ``-`` allowed between
#: letters), its separator, and its value.
_PAIR: Final = re.compile(
    r"(?i)(?P<key>[\w\-]*(?:" + "|".join("[_-]?".join(w) for w in _SECRET_WORDS)
    + r")[\w\-]*)(?P<sep>[\"']?\s*[:=]\s*(?:b?[\"'])?)(?P<value>[^\"'\s,;&)}\]]+)")
_BEARER: Final = re.compile(r"(?i)\b(bearer|basic)\s+[^\s,;\"']+")


def redact_message(text: str) -> str:
    """``text`` (an exception's message, a log line) with the value of every secret-named
    ``key=value`` / ``key: value`` / ``"key": "value"`` pair, and any ``Bearer``/``Basic``
    credential, written as ``***``: the same rule as :func:`redact` for payloads."""
    text = _BEARER.sub(lambda m: f"{m[1]} {REDACTED}", redact_text(text))
    return _PAIR.sub(lambda m: f"{m['key']}{m['sep']}{REDACTED}", text)


def _has_secret(value: Any) -> bool:
    """Whether :func:`redact` would change ``value``. Iterative: any depth."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for k, v in item.items():
                if isinstance(k, str) and is_secret_key(k):
                    return True
                if isinstance(v, _CONTAINERS):
                    stack.append(v)
                elif isinstance(v, str) and redact_text(v) != v:
                    return True
        elif isinstance(item, list | tuple):
            for v in item:
                if isinstance(v, _CONTAINERS):
                    stack.append(v)
                elif isinstance(v, str) and redact_text(v) != v:
                    return True
        elif isinstance(item, str) and redact_text(item) != item:
            return True
    return False


def depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deep ``value`` nests (a scalar 0, ``{}`` 1), counted only up to ``limit + 1``:
    iterative, so a hostile depth costs no recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if not isinstance(item, _CONTAINERS):
            continue
        deepest = max(deepest, level)
        if level > limit:
            return level
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, level + 1) for c in children if isinstance(c, _CONTAINERS))
    return deepest


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
#: Field names whose text may carry a signed URL (or a JSON text of them, as NetEase's
#: ``fileinfo``): scanned for signatures even though typed ``str``.
_TEXT_NAMES: Final = re.compile(r"url|uri|link|href|info|addr", re.IGNORECASE)


def may_hold_secret(cls: type) -> bool:
    """Whether a payload of this attrs class can hold a secret: a secret-named field, or a
    field whose type can carry arbitrary keys (``dict``, ``Any``), or a text field named
    like an address (``url``, ``fileinfo``: a signed URL's signature) or marked
    :data:`EMBEDS_SECRET`. Decided once per class,
    so that the trace skips the per-record scan where there can be nothing to redact."""
    known = _may_hold.get(cls)
    if known is None:
        try:
            hints = typing.get_type_hints(cls)
            known = any(is_secret_key(f.name) or _TEXT_NAMES.search(f.name) is not None
                        or f.metadata.get(EMBEDS_SECRET, False)
                        or _type_may_hold_secret(hints.get(f.name, Any))
                        for f in attrs.fields(cls))
        except Exception:  # unresolvable annotations: be safe
            known = True
        _may_hold[cls] = known
    return known


@attrs.define(slots=True, eq=False, repr=False)
class Record:
    """One trace line. ``line`` is where it was read from (None for a record made live).
    Its repr is redacted as its line is."""

    t: float
    vendor: str
    name: str
    session: str | None = None
    data: dict[str, Any] | None = None
    kind: str = "event"
    line: int | None = None
    #: The data is a payload of a class that cannot hold a secret (:func:`may_hold_secret`).
    clean: bool = False
    #: The input's idempotency key (an ``event`` line's ``id``): applied once however often
    #: it is delivered.
    id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return _to_json(self.t, self.vendor, self.name, self.session, self.data, self.kind,
                        self.line, self.clean, self.id)

    def __repr__(self) -> str:
        data: Any = redact(self.data) if self.data is not None else None
        if data is not None and depth(data) > MAX_DEPTH:
            data = f"<nested over {MAX_DEPTH} levels>"
        return (f"Record(t={self.t!r}, vendor={self.vendor!r}, name={self.name!r}, "
                f"session={self.session!r}, data={data!r}, kind={self.kind!r}, "
                f"line={self.line!r})")

    def dumps(self) -> bytes:
        """The line, redacted, keys in a fixed order: the same record gives the same bytes."""
        return _dumps(_to_json(self.t, self.vendor, self.name, self.session, self.data,
                               self.kind, self.line, self.clean, self.id), option=_SORTED)


_dumps: Final = orjson.dumps
_SORTED: Final = orjson.OPT_SORT_KEYS


def _to_json(t: float, vendor: str, name: str, session: str | None, data: Any, kind: str,
             line: int | None, clean: bool, id: str | None) -> dict[str, Any]:
    """A record's JSON object (:meth:`Record.to_json`), from its fields."""
    out: dict[str, Any] = {"t": t, "vendor": vendor, "name": name}
    if session is not None:
        out["session"] = session
    if id is not None:
        out["id"] = id
    if data is not None:
        # A live transition's data is the runtime's own {src, dst}: nothing to redact;
        # one read from a trace may hold anything.
        secret = (not clean and (kind != "transition" or line is not None)
                  and _has_secret(data))
        out["data"] = redact(data) if secret else data
    if kind != "event":
        out["kind"] = kind
    return out


def encode(t: float, vendor: str, name: str, session: str | None = None, data: Any = None,
           kind: str = "event", line: int | None = None, clean: bool = False,
           id: str | None = None) -> bytes:
    """``Record(t, vendor, name, ...).dumps() + b"\\n"`` without the Record: what the
    Runtime writes to a :class:`TraceWriter` for each record it makes (making the Record
    object cost as much as encoding it). The same bytes: the same object as
    :meth:`Record.to_json`, keys sorted by orjson; the common case (a clean payload, no
    id) in one dict display."""
    if clean and id is None and session is not None and data is not None:
        if kind == "event":
            return _dumps({"t": t, "vendor": vendor, "name": name, "session": session,
                           "data": data}, option=_LINE)
        return _dumps({"t": t, "vendor": vendor, "name": name, "session": session,
                       "data": data, "kind": kind}, option=_LINE)
    return _dumps(_to_json(t, vendor, name, session, data, kind, line, clean, id),
                  option=_LINE)


_LINE: Final = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE

#: A message's line from the message, its time, its session's vendor and its session:
#: ``(message, t, vendor, session)``.
LineEncoder = Callable[[Any, float, str, str], bytes]
#: The encoders made so far, by kind and class (what :func:`line_encoder` looks in first;
#: a hot path may read them directly).
EVENT_LINES: Final[dict[type, LineEncoder]] = {}
COMMAND_LINES: Final[dict[type, LineEncoder]] = {}
_encoders: Final = {"event": EVENT_LINES, "command": COMMAND_LINES}


def line_encoder(cls: type, kind: str) -> LineEncoder:
    """The encoder of ``kind`` lines (``event``, ``command``) for messages of ``cls`` (an
    attrs class with ``name`` and ``payload()``), made once per class: what :func:`encode`
    gives for ``(t, vendor, cls.name, session, message.payload(), kind,
    clean=not may_hold_secret(cls))`` with no ``id``, with the class's decisions (its
    name and kind; whether to scan) taken once."""
    made = _encoders[kind]
    found = made.get(cls)
    if found is None:
        found = made[cls] = _line_encoder(cls, kind)
    return found


def _line_encoder(cls: type, kind: str) -> LineEncoder:
    name = getattr(cls, "name")  # noqa: B009 - a ClassVar
    if may_hold_secret(cls):
        def scanned(message: Any, t: float, vendor: str, session: str) -> bytes:
            return encode(t, vendor, name, session, message.payload(), kind)
        return scanned
    if kind == "event":
        def clean(message: Any, t: float, vendor: str, session: str) -> bytes:
            return _dumps({"t": t, "vendor": vendor, "name": name, "session": session,
                           "data": message.payload()}, option=_LINE)
        own = [f for f in attrs.fields(cls) if f.name not in ("t", "session", "id")]
        if own or getattr(getattr(cls, "payload", None), "__qualname__", "") != (
                "Event.payload"):
            return clean
        empty: dict[str, Any] = {}

        def bare(message: Any, t: float, vendor: str, session: str) -> bytes:
            return _dumps({"t": t, "vendor": vendor, "name": name, "session": session,
                           "data": empty}, option=_LINE)

        def first(message: Any, t: float, vendor: str, session: str) -> bytes:
            # An event with no field of its own (a heartbeat): Event.payload gives {} for
            # it from the first time its unstructure hook did, and so does this, unasked.
            data = message.payload()
            EVENT_LINES[cls] = clean if data else bare
            return _dumps({"t": t, "vendor": vendor, "name": name, "session": session,
                           "data": data}, option=_LINE)
        return first

    def other(message: Any, t: float, vendor: str, session: str) -> bytes:
        return _dumps({"t": t, "vendor": vendor, "name": name, "session": session,
                       "data": message.payload(), "kind": kind}, option=_LINE)
    return other


def _brief(value: Any, limit: int = 40) -> str:
    """A short repr of a value a line got wrong (a time, a number): enough to find it."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _unknown(what: str, value: Any, known: Iterable[str]) -> str:
    """``unknown vendor (a 7-character string; did you mean 'tencent'?)``: never the value
    itself (a secret pasted into the wrong field must not reach an error message), but a
    known name it is close to."""
    if not isinstance(value, str):
        return f"unknown {what} (a JSON {_json_type(value)}, not a string)"
    close = difflib.get_close_matches(value, list(known), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown {what} (a {len(value)}-character string{hint})"


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
            float: "number", type(None): "null"}.get(type(value), type(value).__name__)


def parse_time(value: Any, *, source: str = "<trace>", line: int | None = None,
               field: str = "t") -> float:
    """Unix seconds from a number or an ISO-8601 string with an offset, between
    :data:`MIN_TIME` (1970) and :data:`MAX_TIME` (3000)."""
    if isinstance(value, bool):
        raise TraceError(f"expected Unix seconds or an ISO-8601 time, got {value!r}",
                         source=source, line=line, field=field)
    if isinstance(value, int | float):
        try:
            t = float(value)
        except OverflowError:
            t = math.inf
        if not math.isfinite(t):
            raise TraceError(f"expected a finite time, got {_brief(value)}", source=source,
                             line=line, field=field)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise TraceError(f"expected Unix seconds or an ISO-8601 time, got "
                             f"{_brief(value)}", source=source, line=line,
                             field=field) from None
        if parsed.tzinfo is None:
            raise TraceError(f"ISO-8601 time {_brief(value)} has no offset; add one (e.g. "
                             "'+08:00' or 'Z') so that it means one instant",
                             source=source, line=line, field=field)
        try:
            t = parsed.timestamp()
        except (OverflowError, ValueError):
            t = -math.inf
    else:
        raise TraceError("expected Unix seconds or an ISO-8601 time, got "
                         f"{type(value).__name__}", source=source, line=line, field=field)
    if not MIN_TIME <= t <= MAX_TIME:
        raise TraceError(f"time {_brief(value)} is outside 1970-01-01T00:00:00Z .. "
                         "3000-01-01T00:00:00Z; write Unix seconds (not milliseconds) or an "
                         "ISO-8601 time in that range", source=source, line=line, field=field)
    return t


#: The fields of a trace v1 line.
_FIELDS: Final = frozenset({"t", "vendor", "name", "session", "data", "kind", "id"})


def parse_line(text: str | bytes, *, source: str = "<trace>", line: int | None = None,
               vendors: frozenset[str] | None = None) -> Record | None:
    """One trace line to a Record (None for a blank or ``#`` line); a TraceError otherwise.
    A value that might be a secret in the wrong field (``vendor``, ``kind``, ``session``)
    is described, never echoed.

    A well-formed line is checked without copies: orjson reads it with its newline, the
    fields are looked up in place; the stripped copy, the set of unknown fields and the depth
    walk are made only for a line that needs them (blank, a comment, bad JSON, an unknown
    field, nested data)."""
    if len(text) > MAX_LINE and len(text.strip()) > MAX_LINE:
        raise TraceError(f"line longer than {MAX_LINE} bytes", source=source, line=line)
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        stripped = text.strip()
        if not stripped or stripped[:1] in ("#", b"#"):
            return None
        try:  # (and its error, with positions in the stripped line, as always)
            obj = orjson.loads(stripped)
        except orjson.JSONDecodeError as exc:
            raise TraceError(f"not valid JSON ({exc})", source=source, line=line) from None
    if type(obj) is not dict:
        raise TraceError(f"expected a JSON object, got {type(obj).__name__}", source=source,
                         line=line)
    if "t" not in obj or "vendor" not in obj or "name" not in obj:
        for field in ("t", "vendor", "name"):
            if field not in obj:
                raise TraceError("required field is missing", source=source, line=line,
                                 field=field)
    t = parse_time(obj["t"], source=source, line=line)
    vendor, name = obj["vendor"], obj["name"]
    if not isinstance(vendor, str) or (vendors is not None and vendor not in vendors):
        known = ", ".join(sorted(vendors)) if vendors else "a string"
        raise TraceError(f"{_unknown('vendor', vendor, vendors or ())}; expected one of: "
                         f"{known}", source=source, line=line, field="vendor")
    if not isinstance(name, str) or not name:
        raise TraceError("expected the vendor's event name, a non-empty string",
                         source=source, line=line, field="name")
    kind = obj.get("kind", "event")
    if kind not in KINDS:
        raise TraceError(f"{_unknown('kind', kind, KINDS)}; expected one of: "
                         f"{', '.join(KINDS)}", source=source, line=line, field="kind")
    session = obj.get("session")
    if session is not None and not isinstance(session, str):
        raise TraceError(f"expected a string session key, got {type(session).__name__}",
                         source=source, line=line, field="session")
    data = obj.get("data")
    if data is not None:
        if type(data) is not dict:
            raise TraceError(f"expected a JSON object, got {type(data).__name__}",
                             source=source, line=line, field="data")
        for value in data.values():
            if isinstance(value, _CONTAINERS):  # nested: only then is the depth walked
                if depth(data) > MAX_DEPTH:
                    raise TraceError(f"nested more than {MAX_DEPTH} levels deep (objects and "
                                     "arrays); no vendor payload is", source=source,
                                     line=line, field="data")
                break
    ident = obj.get("id")
    if ident is not None and (not isinstance(ident, str) or not ident):
        raise TraceError(f"expected the input's idempotency key, a non-empty string, got "
                         f"{ident!r}"[:200], source=source, line=line, field="id")
    if not _FIELDS.issuperset(obj):
        unknown = set(obj) - _FIELDS
        shown = sorted(k if len(k) <= 40 else k[:40] + "..." for k in unknown)
        raise TraceError(f"unknown fields {shown[:5]}; trace v1 has t, vendor, name, data, "
                         "session, kind, id", source=source, line=line, field=shown[0])
    return Record(t=t, vendor=vendor, name=name, session=session, data=data, kind=kind,
                  line=line, id=ident)


class TraceReader:
    """Iterate the records of a trace file. ``errors`` collects bad lines when ``skip_bad``.

    A line longer than ``max_line`` bytes is a bad line, read no further than that (an
    endless one, ``/dev/zero``, must not eat the memory); skipping past it reads on to its
    newline, up to :data:`MAX_SKIP` bytes, then gives up."""

    def __init__(self, path: str | os.PathLike[str], *, skip_bad: bool = False,
                 vendors: frozenset[str] | None = None, max_line: int = MAX_LINE) -> None:
        self.path = Path(path)
        self.skip_bad = skip_bad
        self.vendors = vendors
        self.max_line = max_line
        self.errors: list[TraceError] = []
        #: A consumer's fast path (the replay's): ``fast(readline, number, upto)`` reads
        #: lines with ``readline`` (the file's, given ``max_line + 1``) after line
        #: ``number``, as far as line ``upto``, and handles what it can before anything is
        #: made of it (a read error: :meth:`read_error`). It returns the first line it did
        #: not handle with its number (b"" at the end of the file), which then takes the
        #: full path (and gets its errors), or None and ``upto`` when it handled them all.
        #: Lines it handled are not yielded.
        self.fast: Callable[[Callable[[int], bytes], int, int],
                            tuple[bytes | None, int]] | None = None
        #: Called with the number of lines read every 1000 lines (a progress bar).
        self.progress: Callable[[int], None] | None = None
        #: Bad lines past the first :data:`MAX_ERRORS`, counted and not kept.
        self.errors_left_out = 0
        self.lines = 0

    def _bad(self, error: TraceError) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(error)
        else:
            self.errors_left_out += 1

    def __iter__(self) -> Iterator[Record]:
        source = str(self.path)
        try:
            handle = self.path.open("rb")
        except OSError as exc:
            raise TraceError(f"cannot open the trace: {exc.strerror}", source=source) from None
        fast = self.fast
        readline, limit = handle.readline, self.max_line + 1
        number = reported = 0
        try:
            with handle:
                while True:
                    raw: bytes | None
                    if fast is not None:  # as far as the next thousandth line
                        raw, number = fast(readline, number, number - number % 1000 + 1000)
                    else:
                        try:
                            raw = readline(limit)
                        except OSError as exc:
                            raise self.read_error(exc, number + 1) from None
                        if raw:
                            number += 1
                    if number % 1000 == 0 and number != reported:
                        self.lines = reported = number
                        if self.progress is not None:
                            self.progress(number)
                    if raw is None:
                        continue
                    if not raw:
                        return
                    self.lines = number
                    record = self._full(raw, number, handle, source)
                    if record is not None:
                        yield record
        finally:
            self.lines = number  # (lines the fast path took are counted here)

    def read_error(self, exc: OSError, line: int) -> TraceError:
        """The error of a failed read of line ``line``."""
        return TraceError(f"cannot read the trace: {exc.strerror}", source=str(self.path),
                          line=line)

    def _full(self, raw: bytes, number: int, handle: IO[bytes], source: str) -> Record | None:
        """Line ``number`` read as ``raw``, the full way: its Record, None for a blank or
        ``#`` line or a bad line skipped (kept in :attr:`errors`), or its error."""
        if len(raw) > self.max_line and not raw.endswith(b"\n"):
            error = TraceError(f"line longer than {self.max_line} bytes; a trace line "
                               "is one JSON object (is this a trace file?)",
                               source=source, line=number)
            if not self.skip_bad:
                raise error
            self._bad(error)
            if not _skip_line(handle):
                raise TraceError(f"the line runs on for over {MAX_SKIP} bytes without "
                                 "a newline; stopped reading", source=source, line=number)
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            error = TraceError("not UTF-8 text", source=source, line=number)
            if not self.skip_bad:
                raise error from None
            self._bad(error)
            return None
        try:
            return parse_line(text, source=source, line=number, vendors=self.vendors)
        except TraceError as error:
            if not self.skip_bad:
                raise
            self._bad(error)
            return None


#: Bad lines a reader keeps (it counts the others): a report lists as many.
MAX_ERRORS: Final = 10_000
#: How far past an over-long line the reader looks for its end when skipping bad lines.
MAX_SKIP: Final = 64 * 1024 * 1024


def _skip_line(handle: IO[bytes]) -> bool:
    """Read to the end of the current line: False if it runs on past :data:`MAX_SKIP`."""
    skipped = 0
    while skipped <= MAX_SKIP:
        chunk = handle.readline(1024 * 1024)
        if not chunk or chunk.endswith(b"\n"):
            return True
        skipped += len(chunk)
    return False


def read_trace(path: str | os.PathLike[str]) -> list[Record]:
    return list(TraceReader(path))


class TraceWriter:
    """Append records as JSON lines, redacted. Usable as the Runtime's ``tracer``.

    Given a path it appends (a live service's trace goes on across restarts); to write a
    file whole, as ``replay --out`` does, write to an :class:`OutputFile`'s ``temp``.

    Flush policy (what a ``kill -9`` can lose): ``flush_every=N`` flushes after every N
    records (1: every record, nothing lost, a write system call per record);
    ``flush_interval=T`` (default 1.0 s) flushes from a daemon thread every T seconds when
    something was written, so at most T seconds of records are lost; both may be set, and
    None turns one off. ``flush``/``close`` flush at once.

    Rotation (a file ``target`` only): ``rotate_bytes`` and ``rotate_interval`` (seconds,
    by ``time.time``) start a new file once the current one holds that many bytes or is that
    old: the full one is renamed ``<name>.<UTC time><suffix>`` (``trace.20240101T000000Z.jsonl``,
    ``-1``, ``-2``... when taken) and ``target`` is opened anew. A record never spans two
    files; the files, in order, are the whole trace (``cat`` them to replay across them).
    """

    def __init__(self, target: str | os.PathLike[str] | IO[bytes], *,
                 flush_every: int | None = None, flush_interval: float | None = 1.0,
                 rotate_bytes: int | None = None, rotate_interval: float | None = None,
                 on_flush: Callable[[], None] | None = None) -> None:
        if flush_every is not None and flush_every < 1:
            raise ValueError(f"flush_every is a number of records >= 1, got {flush_every}")
        if flush_interval is not None and flush_interval <= 0:
            raise ValueError(f"flush_interval is seconds > 0, got {flush_interval}")
        self._path: Path | None = None
        if isinstance(target, str | os.PathLike):
            self._path = Path(target)
            self._file: IO[bytes] = open(self._path, "ab")  # noqa: SIM115 - closed in close()
            self._owned = True
        else:
            if rotate_bytes is not None or rotate_interval is not None:
                raise ValueError("rotation needs a file path as the target, not an open file")
            self._file = target
            self._owned = False
        self._write = self._file.write
        self.flush_every = flush_every
        self.flush_interval = flush_interval
        self.rotate_bytes = rotate_bytes
        self.rotate_interval = rotate_interval
        self.on_flush = on_flush
        self.rotated: list[Path] = []
        self._count = 0
        self._size = self._file.tell() if self._owned else 0
        self._opened = time.time()
        self._checks = flush_every is not None or rotate_bytes is not None or (
            rotate_interval is not None)
        self._dirty = False
        try:
            self._seekable = self._file.seekable()
            self._flushed_at = self._file.tell() if self._seekable else 0
        except (OSError, ValueError):
            self._seekable, self._flushed_at = False, 0
        self._bind()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._flusher: threading.Thread | None = None
        if flush_interval is not None:
            self._flusher = threading.Thread(target=self._flush_periodically,
                                             args=(flush_interval,), daemon=True,
                                             name="recstate-trace-flush")
            self._flusher.start()

    def __call__(self, record: Record) -> None:
        self.write_line(record.dumps() + b"\n")

    #: Write one encoded line (``record.dumps() + b"\\n"``, or a clean line as read).
    write_line: Callable[[bytes], object]

    def _bind(self) -> None:
        """``write_line`` is the file's own ``write`` when nothing is to be done per line (no
        ``flush_every``, no rotation) and the file tells its position (the periodic flush
        then sees that something was written by the position moving): a line then costs
        no Python call of this class, which is most of what writing it costs."""
        if not self._checks and self._seekable:
            self.write_line = self._write
        else:
            self.write_line = self._write_checked

    def _write_checked(self, line: bytes) -> None:
        self._write(line)
        self._dirty = True
        if self._checks:
            self._after(len(line))

    def _after(self, size: int) -> None:
        self._count += 1
        self._size += size
        if self.flush_every is not None and self._count % self.flush_every == 0:
            self.flush()
        if (self.rotate_bytes is not None and self._size >= self.rotate_bytes) or (
                self.rotate_interval is not None
                and time.time() - self._opened >= self.rotate_interval):
            self.rotate()

    def write(self, record: Record) -> None:
        self(record)

    def flush(self) -> None:
        with self._lock:
            self._dirty = False
            self._file.flush()
            if self._seekable:
                self._flushed_at = self._file.tell()
        if self.on_flush is not None:
            self.on_flush()

    def _written(self) -> bool:
        """Whether something was written since the last flush."""
        return self._dirty or (self._seekable and self._file.tell() != self._flushed_at)

    def _flush_periodically(self, interval: float) -> None:
        while not self._closed.wait(interval):
            try:
                if self._written():
                    self.flush()
            except ValueError:  # closed meanwhile
                return

    def rotate(self) -> Path:
        """Start a new file now; returns the name the full one was given."""
        if self._path is None:
            raise ValueError("rotation needs a file path as the target")
        with self._lock:
            self._file.close()
            stamp = datetime.fromtimestamp(time.time(), UTC).strftime("%Y%m%dT%H%M%SZ")
            base = self._path.with_name(f"{self._path.stem}.{stamp}{self._path.suffix}")
            done, n = base, 0
            while done.exists():
                n += 1
                done = base.with_name(f"{self._path.stem}.{stamp}-{n}{self._path.suffix}")
            self._path.rename(done)
            self._file = open(self._path, "ab")  # noqa: SIM115 - closed in close()
            self._write = self._file.write
            self._size = 0
            self._opened = time.time()
            self._dirty = False
            self._flushed_at = self._file.tell() if self._seekable else 0
            self._bind()
        self.rotated.append(done)
        return done

    def close(self) -> None:
        self._closed.set()
        if self._flusher is not None and self._flusher is not threading.current_thread():
            self._flusher.join()
        with self._lock:
            if self._owned:
                self._file.close()
            else:
                self._file.flush()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class OutputFile:
    """A file written whole or not at all (``replay --out``, ``simulate --out``).

    Refused before anything runs: a directory, anything that is not a regular file (a
    device such as ``/dev/full``, a pipe), one of ``inputs`` (the trace being replayed), a
    missing directory, and an existing non-empty file unless ``force``. The content goes to
    a temporary file beside ``path`` (:attr:`temp`); :meth:`commit` renames it over ``path``
    in one step, :meth:`discard` removes it. Nothing at ``path`` is ever unlinked or
    truncated in place."""

    def __init__(self, path: str | os.PathLike[str], *, force: bool = False,
                 inputs: Iterable[str | os.PathLike[str]] = ()) -> None:
        self.path = Path(path)
        shown = str(self.path)
        for given in inputs:
            try:
                same = os.path.samefile(given, self.path)
            except OSError:
                same = False
            if same:
                raise OutputError(shown, "is the trace being read; write the output to "
                                  "another path")
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        except OSError as exc:
            raise OutputError(shown, f"cannot be checked: {exc.strerror}") from None
        if st is not None:
            if stat.S_ISDIR(st.st_mode):
                raise OutputError(shown, "is a directory; give a file path")
            if not stat.S_ISREG(st.st_mode):
                raise OutputError(shown, "is not a regular file (a device, a pipe or a "
                                  "socket); give a file path")
            if st.st_size and not force:
                raise OutputError(shown, "exists; pass --force to replace it, or choose "
                                  "another path")
        parent = self.path.parent
        if not parent.is_dir():
            raise OutputError(shown, f"its directory {str(parent)!r} does not exist")
        try:
            fd, temp = tempfile.mkstemp(dir=parent, prefix=f".{self.path.name}.",
                                        suffix=".part")
        except OSError as exc:
            raise OutputError(shown, f"cannot write in {str(parent)!r}: {exc.strerror}"
                              ) from None
        os.close(fd)
        self.temp = Path(temp)
        self.done = False

    def commit(self) -> None:
        """Put the written content at ``path`` (atomically: a rename in one directory)."""
        if self.done:
            return
        self.done = True
        try:
            os.chmod(self.temp, 0o644)
            os.replace(self.temp, self.path)
        except OSError as exc:
            self.temp.unlink(missing_ok=True)
            raise OutputError(str(self.path), f"cannot be written: {exc.strerror}") from None

    def discard(self) -> None:
        if not self.done:
            self.done = True
            self.temp.unlink(missing_ok=True)

    def __enter__(self) -> OutputFile:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()
