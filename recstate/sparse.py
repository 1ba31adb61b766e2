"""Fields that are rarely anything but their default, kept out of an object's own slots.

An object made by the ten thousand (an idle session's context, an open file) pays 8 bytes a
slot for fields that almost all of them leave at their defaults (issue 12: an idle recording
session's memory). A :class:`Rare` field reads from the object's ``_more``, a record of such
fields made the first time one of them is set to something else; until then it reads as its
default, and setting the default stores nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

__all__ = ["Rare"]

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
