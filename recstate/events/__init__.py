"""Events and commands: frozen attrs classes that carry a vendor's own name and field names.

An *event* comes into the Runtime (a vendor callback, an app intent, an API outcome, a media
heartbeat); a *command* goes out (what a machine wants done in the world). Both are declared
once per vendor in ``events/<vendor>.py``. Events are registered by (vendor, name) so that a
trace line becomes a typed event, and a bad line an error that names the line, the field and
what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, TypeVar, cast

import attrs
import cattrs
from cattrs.cols import is_sequence

from recstate.decode import Decode, decoder
from recstate.errors import PayloadError, TraceError, UnknownEventError

__all__ = [
    "Command",
    "Event",
    "Message",
    "TimerEvent",
    "command",
    "command_class",
    "converter",
    "event",
    "event_class",
    "parse_event",
    "registered_events",
    "secret",
    "set_vendor_loader",
]

M = TypeVar("M", bound="Message")

#: The converter that turns payload dicts into typed events and back. Scalars are strict:
#: ``"3"`` is not an int and ``3`` is not a str, because a trace that says otherwise is wrong.
converter = cattrs.Converter(forbid_extra_keys=False)


def _strict(expected: type, accept: tuple[type, ...], reject: tuple[type, ...] = ()) -> Callable[
        [Any, type], Any]:
    def hook(value: Any, _: type) -> Any:
        if isinstance(value, reject) or not isinstance(value, accept):
            raise TypeError(f"expected {expected.__name__}, got {type(value).__name__} "
                            f"{value!r:.60}")
        return float(cast(float, value)) if expected is float else value
    return hook


converter.register_structure_hook(str, _strict(str, (str,)))
converter.register_structure_hook(int, _strict(int, (int,), (bool,)))
converter.register_structure_hook(float, _strict(float, (int, float), (bool,)))
converter.register_structure_hook(bool, _strict(bool, (bool,)))


#: Structures the items of a sequence once it is known to be an array (see below).
_items = converter.copy()


def _array_only(cl: Any) -> Callable[[Any, Any], Any]:
    """cattrs iterates whatever it is given for a sequence, so ``"ab"`` would become
    ``("a", "b")``: require a JSON array instead."""
    inner = _items.get_structure_hook(cl)

    def hook(value: Any, t: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise TypeError(f"expected a JSON array, got {type(value).__name__} {value!r}")
        return inner(value, t)
    return hook


converter.register_structure_hook_factory(is_sequence, _array_only)


#: Each message class's unstructure function, looked up in the converter once (its generic
#: dispatch costs as much as the work, and an input is traced on every heartbeat).
_unstructurers: dict[type, Callable[[Any], Any]] = {}
#: Event classes with no field of their own (their payload is ``{}``).
_bare: set[type] = set()


def _unstructurer(cls: type) -> Callable[[Any], Any]:
    hook = _unstructurers.get(cls)
    if hook is None:
        hook = _unstructurers[cls] = converter.get_unstructure_hook(cls)
    return hook


@attrs.frozen(kw_only=True)
class Message:
    """What events and commands share: the vendor and the vendor's own name."""

    vendor: ClassVar[str] = ""
    name: ClassVar[str] = ""
    kind: ClassVar[str] = ""

    def payload(self) -> dict[str, Any]:
        """The vendor's payload with the vendor's field names."""
        data: dict[str, Any] = _unstructurer(type(self))(self)
        return data


@attrs.frozen(kw_only=True)
class Event(Message):
    """An input: a vendor callback, an app intent, an API outcome, a media heartbeat.

    ``t`` is when it happened (Unix seconds). A live input may leave it out: the Runtime
    handles every input at its clock's now and stamps that time on an event that has none
    (a ``t`` given to a live runtime is kept on the event but does not move its clock). In
    replay, the trace line's ``t`` is what moves the clock. ``session`` names its session
    when the vendor's rule should not derive it from the payload. ``id`` is the input's
    idempotency key (a trace line's ``id``; an adapter's outcome event carries the id of the
    command it answers), so that an input delivered again is recognised and applied once.
    """

    kind: ClassVar[str] = "event"

    t: float | None = attrs.field(default=None, converter=attrs.converters.optional(float))
    session: str | None = None
    id: str | None = None

    def payload(self) -> dict[str, Any]:
        cls = type(self)
        if cls in _bare:  # nothing but t, session and id: traced on every heartbeat
            return {}
        data: dict[str, Any] = _unstructurer(cls)(self)
        del data["t"], data["session"], data["id"]
        if not data and {f.name for f in attrs.fields(cls)} <= {"t", "session", "id"}:
            _bare.add(cls)
        return data


@attrs.frozen(kw_only=True)
class Command(Message):
    """An output: what a machine wants done; adapters turn it into a real call.

    ``sdk``: the app's client SDK performs it (``startRtc``, ``requestMultiVideoRecorderStart``),
    so :mod:`recstate.bridge` carries it to the app; otherwise a service-side adapter calls it
    (a VOD search)."""

    kind: ClassVar[str] = "command"
    sdk: ClassVar[bool] = False


@attrs.frozen(kw_only=True)
class TimerEvent:
    """A timer falling due, handed to the session's machine as the trigger ``name``."""

    name: str
    t: float
    session: str | None
    payload: Any = None
    vendor: str = ""


def _masked(value: object) -> str:
    return "'***'" if value not in (None, "") else repr(value)


def secret(default: Any = attrs.NOTHING) -> Any:
    """A payload field that holds a secret (``secretKey``, ``accessKey``...): its repr is
    ``'***'``. Traces redact it by its name (:func:`recstate.trace.is_secret_key`), so name
    it as the vendor does."""
    return attrs.field(default=default, repr=_masked)


_events: dict[tuple[str, str], type[Event]] = {}
_commands: dict[tuple[str, str], type[Command]] = {}

#: Imports a vendor by name (its events register on import). :mod:`recstate.vendors`, which
#: finds the installed vendors, sets it when it is imported (``import recstate`` does): this
#: module sits below the machines and the vendors, so it asks through this hook instead of
#: importing them.
_vendor_loader: Callable[[str], object] | None = None


def set_vendor_loader(loader: Callable[[str], object]) -> None:
    """How :func:`parse_event` imports a vendor it has no events for yet."""
    global _vendor_loader  # one hook, set once by recstate.vendors
    _vendor_loader = loader


def _declare(cls: type[M], vendor: str, name: str) -> type[M]:
    cls.vendor = vendor
    cls.name = name
    if not getattr(cls.__repr__, "_redacted", False):
        cls.__repr__ = _redacted_repr(cls.__repr__)  # type: ignore[method-assign]
    return cls


def _redacted_repr(original: Callable[[Any], str]) -> Callable[[Any], str]:
    """A message's repr with what a text field may hide redacted (a signed URL's signature,
    a secret-named key of a JSON text such as NetEase's ``fileinfo``); secret-named fields
    are masked by :func:`secret` already."""
    from recstate.trace import redact_text

    def redacted(self: Any) -> str:
        return redact_text(original(self))
    redacted._redacted = True  # type: ignore[attr-defined]
    return redacted


def event(vendor: str, name: str) -> Callable[[type[M]], type[M]]:
    """Class decorator: declare ``cls`` as ``vendor``'s event ``name`` and register it."""

    def register(cls: type[M]) -> type[M]:
        if not issubclass(cls, Event):
            raise TypeError(f"@event({vendor!r}, {name!r}) decorates an Event subclass, "
                            f"not {cls.__name__}")
        key = (vendor, name)
        old = _events.get(key)
        if old is not None and old.__qualname__ != cls.__qualname__:
            raise TypeError(f"event {vendor}/{name} is already registered as {old.__qualname__}")
        _events[key] = cls
        return _declare(cls, vendor, name)

    return register


def command(vendor: str, name: str, *, sdk: bool = False) -> Callable[[type[M]], type[M]]:
    """Class decorator: declare ``cls`` as ``vendor``'s command ``name``; ``sdk=True`` when
    the app's client SDK performs it (see :attr:`Command.sdk`)."""

    def declare(cls: type[M]) -> type[M]:
        if not issubclass(cls, Command):
            raise TypeError(f"@command({vendor!r}, {name!r}) decorates a Command subclass, "
                            f"not {cls.__name__}")
        _commands[(vendor, name)] = cls
        cls.sdk = sdk
        return _declare(cls, vendor, name)

    return declare


def event_class(vendor: str, name: str) -> type[Event] | None:
    return _events.get((vendor, name))


def command_class(vendor: str, name: str) -> type[Command] | None:
    """The command class of (vendor, name): a store's outbox row becomes a command again."""
    return _commands.get((vendor, name))


def registered_events(vendor: str | None = None) -> list[type[Event]]:
    return [cls for (v, _), cls in sorted(_events.items()) if vendor is None or v == vendor]


_LITERAL = re.compile(r"unknown error \((.*) not in literal typing\.Literal\[(.*)\]\)$",
                      re.DOTALL)


def _safe_reason(reason: str, path: str) -> str:
    """A reason that shows no value it should not: none from a secret-named field, none from
    a ``Literal`` field (cattrs prints the value whole; a secret pasted there would show)."""
    from recstate.trace import is_secret_key

    if any(is_secret_key(part) for part in re.split(r"[.\[\]]+", path) if part):
        return "invalid value (not shown: the field holds a secret)"
    literal = _LITERAL.match(reason)
    if literal:
        return f"expected one of {literal[2]}"
    return reason


def _first_path(messages: Iterable[str]) -> tuple[str, str]:
    """Split cattrs' ``'reason @ path'`` lines into (field path, reasons)."""
    fields, reasons = [], []
    for message in messages:
        reason, _, path = message.rpartition(" @ ")
        if not reason:
            reason, path = path, ""
        reason = _safe_reason(reason, path)
        fields.append(path.removeprefix("$.").removeprefix("$"))
        reasons.append(reason if len(fields) == 1 else f"{fields[-1]}: {reason}")
    return (fields[0] if fields else ""), "; ".join(reasons)


def _format(exc: BaseException, tp: type | None) -> str:
    """cattrs' wording, except for a vendor rule's own message (PayloadError)."""
    if isinstance(exc, PayloadError):
        return str(exc)
    return cattrs.v.format_exception(exc, tp)


#: Each event class's generated decoder (recstate.events.decode), made on its first payload.
_decoders: dict[type[Event], Decode] = {}


def parse_event(vendor: str, name: str, t: float, data: dict[str, Any] | None,
                session: str | None = None, *, source: str = "<trace>",
                line: int | None = None, id: str | None = None) -> Event:
    """Build the typed event for (vendor, name) from a payload, or raise a TraceError that
    names the line, the field and what was expected."""
    cls = _events.get((vendor, name))
    if cls is None and _vendor_loader is not None:
        _vendor_loader(vendor)  # a vendor's events register on import
        cls = _events.get((vendor, name))
    if cls is None:
        known = sorted(n for (v, n) in _events if v == vendor)
        hint = (f"known {vendor} events: {', '.join(known)}" if known
                else f"no events are registered for vendor {vendor!r}")
        raise UnknownEventError(f"unknown event {name[:60]!r} for vendor {vendor!r} ({hint}); "
                                "fix the name or register the event class",
                                source=source, line=line,
                                field="name" if known else "vendor")  # which one is wrong
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise TraceError(f"expected a JSON object, got {type(data).__name__}",
                         source=source, line=line, field="data")
    decode = _decoders.get(cls)
    if decode is None:
        decode = _decoders[cls] = decoder(cls, converter)
    try:
        return decode(data, t, session, id)  # type: ignore[no-any-return]
    except Exception:  # noqa: S110 - not sure: cattrs decides, and words any error
        pass
    try:
        return converter.structure({**data, "t": t, "session": session, "id": id}, cls)
    except (cattrs.BaseValidationError, TypeError, ValueError) as exc:
        messages = (cattrs.transform_error(exc, path="data", format_exception=_format)
                    if isinstance(exc, cattrs.BaseValidationError) else [str(exc)])
        field, reason = _first_path(messages)
        raise TraceError(f"{vendor} {name}: {_scrub(reason, data)}", source=source, line=line,
                         field=field or "data") from None


def _scrub(text: str, data: dict[str, Any]) -> str:
    """``text`` with every value found under a secret-named key of ``data`` as ``***`` (an
    error a vendor's own check raised may quote one)."""
    from recstate.trace import REDACTED, is_secret_key, redact_text

    secrets: list[str] = []
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        item, hidden = stack.pop()
        if isinstance(item, dict):
            for k, v in item.items():
                stack.append((v, hidden or (isinstance(k, str) and is_secret_key(k))))
        elif isinstance(item, list | tuple):
            stack.extend((v, hidden) for v in item)
        elif hidden and isinstance(item, str | int | float) and not isinstance(item, bool):
            value = str(item)
            if len(value) >= 4:
                secrets.append(value)
                secrets.append(repr(item)[:60])
    for value in sorted(secrets, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return redact_text(text)
