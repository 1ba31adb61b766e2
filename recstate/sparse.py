"""Fields that are rarely anything but their default, kept out of an object's own slots
(:class:`Rare`), or kept by the one part of them that is not (:class:`Compact`).

An object made by the ten thousand (an idle session's context, an open file) pays 8 bytes a
slot for fields that almost all of them leave at their defaults (issue 12: an idle recording
session's memory). A :class:`Rare` field reads from the object's ``_more``, a record of such
fields made the first time one of them is set to something else; until then it reads as its
default, and setting the default stores nothing. A :class:`Compact` field holds a small
frozen record whose fields are all at their defaults but one (a recording's parameters: its
file name): the slot keeps that one value, and a read makes the record again.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

import attrs

__all__ = ["Compact", "Rare"]

_T = TypeVar("_T")


class Rare(Generic[_T]):
    """The field ``name`` of an object with a ``_more`` slot (None, or what ``make()``
    gives: an object with this field, and the object's other rare ones, at their
    defaults). A value is the default when it is the default itself, or of its type and
    equal to it (``0.0`` is not the default ``0``: a snapshot would show the difference)."""

    __slots__ = ("default", "make", "name")

    def __init__(self, name: str, default: _T, make: Callable[[], Any]) -> None:
        self.name = name
        self.default = default
        self.make = make

    @overload
    def __get__(self, obj: None, owner: type) -> Rare[_T]: ...
    @overload
    def __get__(self, obj: object, owner: type) -> _T: ...

    def __get__(self, obj: Any, owner: type) -> _T | Rare[_T]:
        if obj is None:
            return self
        more = obj._more
        if more is None:
            return self.default
        value: _T = getattr(more, self.name)
        return value

    def __set__(self, obj: Any, value: _T) -> None:
        more = obj._more
        if more is None:
            default = self.default
            if value is default or (type(value) is type(default) and value == default):
                return
            more = obj._more = self.make()
        setattr(more, self.name, value)


class _Kept:
    """A value of a :class:`Compact` field's key type set as the field's whole value (not
    what a compacted value is read back as): boxed, so that it reads back as itself."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __reduce__(self) -> tuple[Any, ...]:
        return _Kept, (self.value,)


class Compact(Generic[_T]):
    """A field of an object kept in the object's slot ``slot``: None or (usually) an
    instance of ``kind`` (a frozen attrs class) whose fields all but ``key`` are at their
    defaults; such a value is kept as its ``key`` alone (an object fewer: 96 bytes for a
    Tencent ``RecordParam`` whose file name is all its caller gave) and read back as
    ``kind(key=...)``, a new, equal instance each time: meant for a field read rarely. Any
    other value (another field set, a subclass of ``kind``, a key not of its default's
    exact type, None) is kept as it is, and reads back as itself.

    The slot then holds the key (of its default's type), the value itself, or (a bare value
    of the key's type set as the field's whole value, which would read back as a ``kind``)
    that value boxed. A field is at its default as for :class:`Rare`: the default itself,
    or of its type and equal (``classId=False`` is kept whole: a snapshot shows it)."""

    __slots__ = ("defaults", "key", "key_type", "kind", "make", "others", "slot", "types")

    def __init__(self, slot: str, kind: type[_T], key: str) -> None:
        self.kind = kind
        if not attrs.has(kind) or getattr(kind.__setattr__, "__name__", "") != (
                "_frozen_setattrs"):
            raise TypeError(f"{kind!r}: a Compact field's kind is a frozen attrs class")
        defaults = {f.name: f.default for f in attrs.fields(kind)}
        if key not in defaults or not attrs.fields_dict(kind)[key].init or any(
                d is attrs.NOTHING or isinstance(d, attrs.Factory)  # type: ignore[arg-type]
                for d in defaults.values()):
            raise TypeError(f"{kind.__name__}: {key!r} must be one of its fields (one its "
                            "constructor takes), and every field must have a plain default "
                            "(not a factory)")
        key_type = type(defaults.pop(key))
        if key_type in (type(None), _Kept) or issubclass(kind, key_type):
            raise TypeError(f"{kind.__name__}.{key}: its default's type must tell a key "
                            "from a whole value")
        self.slot = slot
        self.key = key
        #: The record of a key (positional when it is the first field: quicker).
        make, first = self.kind, attrs.fields(kind)[0]
        alias = attrs.fields_dict(kind)[key].alias or key
        self.make: Callable[[Any], _T] = make if first.name == key and first.init and (
            not first.kw_only) else lambda value: make(**{alias: value})
        self.key_type = key_type
        #: A value's other fields and its class (a tuple), what they are at their
        #: defaults, and those defaults' types.
        get = operator.attrgetter(*defaults, "__class__")
        self.others: Callable[[Any], tuple[Any, ...]] = get if defaults else (
            lambda value: (get(value),))
        self.defaults = (*defaults.values(), kind)
        self.types = tuple(map(type, self.defaults))

    @overload
    def __get__(self, obj: None, owner: type) -> Compact[_T]: ...
    @overload
    def __get__(self, obj: object, owner: type) -> _T | None: ...

    def __get__(self, obj: Any, owner: type) -> _T | Compact[_T] | None:
        if obj is None:
            return self
        value = getattr(obj, self.slot)
        kind = type(value)
        if kind is self.key_type:
            return self.make(value)
        if kind is _Kept:
            kept: _T | None = value.value
            return kept
        whole: _T | None = value
        return whole

    def __set__(self, obj: Any, value: _T | None) -> None:
        setattr(obj, self.slot, self.stored(value))

    def stored(self, value: Any) -> Any:
        """What the slot keeps for ``value``."""
        if type(value) is self.kind:
            key = getattr(value, self.key)
            if type(key) is self.key_type:
                others = self.others(value)
                if others == self.defaults and tuple(map(type, others)) == self.types:
                    return key
        elif type(value) is self.key_type or type(value) is _Kept:
            return _Kept(value)
        return value
