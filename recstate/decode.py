"""A payload to a typed event, fast, for payloads that are right.

cattrs structures an event through its generic dispatch, a detailed-validation wrapper per
field and a Python hook per scalar; that was a quarter of a replayed line's time (issue 12).
Here each event class gets, once, a function generated from its attrs fields: a scalar field
(``str``, ``int``, ``float``, ``bool``, or one of them ``| None``) is checked inline exactly
as the converter's strict scalar hooks check it, any other field goes through the
converter's own hook for its type (nested classes, sequences, a vendor's registered hooks),
and the class is made with its ``__init__`` (converters and validators run as always).

Anything it is not sure of is handed to cattrs: a value of another type, a missing field, a
hook or validator that raises, and every payload of a class the converter has a hook of its
own for (one cattrs did not generate). :func:`recstate.events.parse_event` then structures the
payload with the converter, which accepts it the same way or raises the error naming the
field path: errors are cattrs' own, word for word. The classes stay plain attrs classes.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from typing import Any

import attrs
import cattrs

__all__ = ["Decode", "Fallback", "decoder"]


class Fallback(Exception):
    """The fast path is not sure: structure with cattrs instead."""


_MISSING = object()
_SCALARS = (str, int, float, bool)

#: How a scalar value is checked inline: the converter's strict hooks (events/__init__.py):
#: a str is a str, an int an int and not a bool, a float an int or a float (made a float),
#: a bool a bool. Exact types only: a subclass goes to cattrs.
_CHECK = {
    str: ("type(v) is str", "v"),
    int: ("type(v) is int", "v"),
    float: ("type(v) is float or type(v) is int", "float(v)"),
    bool: ("v is True or v is False", "v"),
}


def _scalar(tp: Any) -> tuple[type, bool] | None:
    """(scalar, optional) for ``str``, ``int | None`` and the like; None otherwise."""
    if tp in _SCALARS:
        return tp, False
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        args = typing.get_args(tp)
        if len(args) == 2 and type(None) in args:
            other = args[0] if args[1] is type(None) else args[1]
            if other in _SCALARS:
                return other, True
    return None


Decode = Callable[[dict[str, Any], Any, Any, Any], Any]


def _unsure(data: dict[str, Any], t: Any, session: Any, id: Any) -> Any:
    raise Fallback

#: Fields whose value is given beside the payload (the trace line's own), not read from it.
_GIVEN = ("t", "session", "id")


def decoder(cls: type, converter: cattrs.Converter) -> Decode:
    """``decode(data, t, session, id)``: ``cls`` from ``data`` (the vendor's payload), its
    ``t``, ``session`` and ``id`` given (what is under those keys in ``data`` is not read,
    as cattrs is given them over the payload's); raises :class:`Fallback` when cattrs should
    decide."""
    if getattr(converter.get_structure_hook(cls), "__name__", "") != (
            f"structure_{cls.__name__}"):
        return _unsure  # a hook registered for the class itself: it decides, always
    hints = typing.get_type_hints(cls)
    scope: dict[str, Any] = {"_cls": cls, "_MISSING": _MISSING, "_Fallback": Fallback}
    lines = ["def decode(data, t, session, id):", "    kw = {}", "    get = data.get"]
    for i, field in enumerate(attrs.fields(cls)):
        if not field.init:
            continue
        key, arg = field.name, field.alias
        tp = hints.get(field.name, field.type)
        required = field.default is attrs.NOTHING
        lines.append(f"    v = {key}" if key in _GIVEN else f"    v = get({key!r}, _MISSING)")
        lines.append("    if v is _MISSING:")
        lines.append("        raise _Fallback" if required else "        pass")
        scalar = _scalar(tp)
        if scalar is not None:
            check, value = _CHECK[scalar[0]]
            if scalar[1]:
                lines.append("    elif v is None:")
                lines.append(f"        kw[{arg!r}] = None")
            lines.append(f"    elif {check}:")
            lines.append(f"        kw[{arg!r}] = {value}")
            lines.append("    else:")
            lines.append("        raise _Fallback")
        else:
            scope[f"_h{i}"] = converter.get_structure_hook(tp)
            scope[f"_t{i}"] = tp
            lines.append("    else:")
            lines.append(f"        kw[{arg!r}] = _h{i}(v, _t{i})")
    lines.append("    return _cls(**kw)")
    exec("\n".join(lines), scope)  # noqa: S102 - source made here from attrs field names
    decode: Decode = scope["decode"]
    return decode
