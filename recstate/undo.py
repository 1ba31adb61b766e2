"""A copy of a session's context taken before each handling, so that a handling that raises
leaves the context as it was (callbacks may mutate it before the exception).

``copy.deepcopy`` costs more than a whole dispatch. A context is an attrs class of plain
data, so each class gets a copier generated once from its fields' types: a field typed with
something immutable (``str``, ``int``, ``float``, ``bool``, ``None``, ``Literal``, a frozen
attrs class of such fields, a tuple or union of these) is shared; ``list[str]``-like fields
are copied one level; anything else is copied recursively (:func:`clone`). A frozen attrs
instance is shared: frozen means it is not changed in place.
"""

from __future__ import annotations

import copy
import enum
import types
import typing
from collections.abc import Callable
from typing import Any

import attrs

__all__ = ["Checkpoint", "checkpoint", "checkpoints", "clone"]

_SCALARS: frozenset[type] = frozenset({str, int, float, bool, type(None), bytes, complex})
_copiers: dict[type, Callable[[Any], Any]] = {}

#: ``(save, restore)``: ``save(ctx)`` keeps what a handling may change, ``restore(ctx,
#: saved)`` gives the context as it was.
Checkpoint = tuple[Callable[[Any], Any], Callable[[Any, Any], Any]]
#: The checkpoints made so far, by class (what :func:`checkpoint` looks in first; a hot path
#: may read it directly).
checkpoints: dict[type, Checkpoint] = {}


def clone(value: Any) -> Any:
    """A copy of ``value`` that shares nothing mutable with it."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is list:
        return [clone(v) for v in value]
    if kind is dict:
        return {k: clone(v) for k, v in value.items()}
    copier = _copiers.get(kind)
    if copier is None:
        copier = _copiers[kind] = _copier(kind)
    return copier(value)


def _share(value: Any) -> Any:
    return value


def _copier(kind: type) -> Callable[[Any], Any]:
    if kind is tuple or kind is frozenset:
        return lambda v: kind(clone(x) for x in v)
    if kind is set:
        return set
    if issubclass(kind, enum.Enum):
        return _share
    if attrs.has(kind):
        if _is_frozen(kind):
            return _share
        return _attrs_copier(kind)
    return copy.deepcopy


def _is_frozen(kind: type) -> bool:
    params = getattr(kind, "__attrs_attrs__", None)
    return params is not None and getattr(kind.__setattr__, "__name__", "") == (
        "_frozen_setattrs")


def _immutable(tp: Any) -> bool:
    """Whether a value of annotation ``tp`` can be shared between copies."""
    if tp in _SCALARS or tp is None:
        return True
    if isinstance(tp, type):
        if issubclass(tp, enum.Enum):
            return True
        return bool(attrs.has(tp) and _is_frozen(tp))
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return True
    if origin in (typing.Union, types.UnionType, tuple, frozenset):
        return all(a is Ellipsis or _immutable(a) for a in typing.get_args(tp))
    return False


def _attrs_copier(kind: type) -> Callable[[Any], Any]:
    try:
        hints = typing.get_type_hints(kind)
    except Exception:  # annotations it cannot resolve: copy every field recursively
        hints = {}
    lines = ["def copier(v):", "    new = _new(_kind)"]
    for field in attrs.fields(kind):
        name = field.name
        tp = hints.get(name, Any)
        if _immutable(tp):
            lines.append(f"    new.{name} = v.{name}")
        elif typing.get_origin(tp) is list and all(_immutable(a) for a in typing.get_args(tp)):
            lines.append(f"    new.{name} = list(v.{name})")
        else:
            lines.append(f"    new.{name} = _clone(v.{name})")
    lines.append("    return new")
    scope: dict[str, Any] = {"_new": object.__new__, "_kind": kind, "_clone": clone}
    exec("\n".join(lines), scope)  # noqa: S102 - source made here from attrs field names
    copier: Callable[[Any], Any] = scope["copier"]
    return copier


def checkpoint(kind: type) -> Checkpoint:
    """How the Runtime keeps a context of class ``kind`` before a handling, cheaper than a
    :func:`clone`: for a mutable attrs class, ``save`` is one tuple of its field values (a
    list of immutable items sliced, anything else mutable cloned as :func:`clone` would),
    and ``restore`` writes them back into the same object. A heartbeat's handling, which
    changes nothing of it if it does not raise, then pays no object and no stores. Any
    other class: ``save`` is :func:`clone` and ``restore`` gives that copy."""
    found = checkpoints.get(kind)
    if found is None:
        found = checkpoints[kind] = _checkpoint(kind)
    return found


def _restore_copy(value: Any, saved: Any) -> Any:
    return saved


def _nothing(value: Any) -> None:
    return None


def _restore_same(value: Any, saved: Any) -> Any:
    return value


def _checkpoint(kind: type) -> Checkpoint:
    if attrs.has(kind) and not attrs.fields(kind):  # NoContext: nothing to keep
        return _nothing, _restore_same
    if not attrs.has(kind) or _is_frozen(kind):
        return clone, _restore_copy
    try:
        hints = typing.get_type_hints(kind)
    except Exception:  # annotations it cannot resolve: clone every field
        hints = {}
    names, values = [], []
    for field in attrs.fields(kind):
        name = field.name
        tp = hints.get(name, Any)
        names.append(f"v.{name}")
        if _immutable(tp):
            values.append(f"v.{name}")
        elif typing.get_origin(tp) is list and all(_immutable(a) for a in typing.get_args(tp)):
            values.append(f"v.{name}[:]")
        else:
            values.append(f"_clone(v.{name})")
    lines = ["def save(v):", f"    return ({', '.join(values)},)",
             "def restore(v, saved):", f"    {', '.join(names)}, = saved", "    return v"]
    scope: dict[str, Any] = {"_clone": clone}
    exec("\n".join(lines), scope)  # noqa: S102 - source made here from attrs field names
    return scope["save"], scope["restore"]
