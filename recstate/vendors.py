"""Which vendors this installation knows: found through the ``recstate.vendors`` entry points.

The core names no vendor. A vendor module exports a :class:`Vendor` and the package declares
it in ``pyproject.toml``; a third party adds a vendor the same way, without touching recstate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

import attrs

from recstate import events

if TYPE_CHECKING:
    from recstate.machine import Machine

__all__ = ["Vendor", "all_vendors", "get_vendor", "load_vendor", "register_vendor",
           "vendor_names"]

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
    #: An input that belongs to several sessions (one NetEase callback body can carry the
    #: files of several channels) is split into one event per session, each naming it.
    split: Callable[[Any], Sequence[Any]] | None = None
    #: Where the vendor can deliver an input again (NetEase's callback service retries a
    #: body), the idempotency keys of an input: one already applied for every key is
    #: acknowledged and skipped. A trace line's ``id`` (``Event.id``) is the generic key.
    idempotency_keys: Callable[[Any], Sequence[str]] | None = None
    #: Which sessions must be handled by the same worker (a session key -> a partition
    #: key): sessions that share a ``Machine.shared`` index entry must. The session key by
    #: default.
    partition_key: Callable[[str], str] | None = None
    #: The vendor's meaning and advice for one of its error codes (an object with
    #: ``advice``, a :class:`~recstate.errors.VendorError`), or None: what ``Runtime.send``
    #: answers a refused intent with.
    explain: Callable[[Any], Any] | None = None
    #: The module with the vendor's simulator scenarios (``run_scenario``, ``SCENARIOS``)
    #: that ``recstate simulate`` runs; imported only then. None: ``recstate.adapters.<name>``.
    scenarios: str | None = None


_vendors: dict[str, Vendor] = {}


def register_vendor(vendor: Vendor) -> Vendor:
    _vendors[vendor.name] = vendor
    return vendor


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _load(ep: EntryPoint) -> Vendor:
    vendor = ep.load()
    if not isinstance(vendor, Vendor):
        raise TypeError(f"entry point {ep.value!r} ({ENTRY_POINT_GROUP}) is not a Vendor")
    return register_vendor(vendor)


def get_vendor(name: str) -> Vendor:
    """The vendor ``name``, importing only its own modules the first time."""
    vendor = _vendors.get(name)
    if vendor is not None:
        return vendor
    eps = _entry_points()
    if name not in eps:
        raise KeyError(f"unknown vendor {name!r}; installed vendors: "
                       f"{', '.join(sorted(set(eps) | set(_vendors))) or 'none'}")
    return _load(eps[name])


def load_vendor(name: str) -> Vendor | None:
    """The vendor if it is installed (importing it registers its events), else None."""
    try:
        return get_vendor(name)
    except KeyError:
        return None


def vendor_names() -> frozenset[str]:
    """The installed vendors' names, without importing any of them."""
    return frozenset(_entry_points()) | frozenset(_vendors)


def all_vendors(*, broken: dict[str, str] | None = None) -> dict[str, Vendor]:
    """Every installed vendor. With ``broken``, a vendor that fails to import is reported
    there (name -> reason) and left out instead of raising."""
    for name in _entry_points():
        try:
            get_vendor(name)
        except Exception as error:
            if broken is None:
                raise
            broken[name] = f"{type(error).__name__}: {error}"
    return dict(sorted(_vendors.items()))


events.set_vendor_loader(load_vendor)  # parse_event() imports a vendor it has not seen yet
