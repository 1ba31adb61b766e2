"""Which vendors this installation knows: found through the ``recstate.vendors`` entry points.

The core names no vendor. A vendor module exports a :class:`Vendor` and the package declares
it in ``pyproject.toml``; a third party adds a vendor the same way, without touching recstate.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from recstate.machine import Machine

__all__ = ["Vendor", "all_vendors", "get_vendor", "load_vendor", "register_vendor"]

ENTRY_POINT_GROUP = "recstate.vendors"


@attrs.frozen
class Vendor:
    """What the Runtime needs of a vendor: its machines, which one a new session gets, and
    how a session key is derived from an event that does not name one."""

    name: str
    machines: tuple[type[Machine], ...]
    machine_for: Callable[[Any], type[Machine]]
    session_key: Callable[[Any], str | None]
    doc: str = ""


_vendors: dict[str, Vendor] = {}
_loaded = False


def register_vendor(vendor: Vendor) -> Vendor:
    _vendors[vendor.name] = vendor
    return vendor


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _vendors:
            continue
        vendor = ep.load()
        if not isinstance(vendor, Vendor):
            raise TypeError(f"entry point {ep.value!r} ({ENTRY_POINT_GROUP}) is not a Vendor")
        register_vendor(vendor)


def get_vendor(name: str) -> Vendor:
    if name not in _vendors:
        _load()
    try:
        return _vendors[name]
    except KeyError:
        raise KeyError(f"unknown vendor {name!r}; installed vendors: "
                       f"{', '.join(sorted(_vendors)) or 'none'}") from None


def load_vendor(name: str) -> Vendor | None:
    """The vendor if it is installed (importing it registers its events), else None."""
    try:
        return get_vendor(name)
    except KeyError:
        return None


def all_vendors() -> dict[str, Vendor]:
    _load()
    return dict(sorted(_vendors.items()))
