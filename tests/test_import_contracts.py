"""Every room of the core is held by the import-linter contracts.

`lint-imports` checks only the modules a contract names: a room added without its line in
pyproject.toml would be free to import a vendor or to sit anywhere in the layers, silently.
These tests list the package's modules from the file system and ask the contracts for each.
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "recstate"
# A vendor's knowledge lives in these packages; everything else is the core.
VENDOR_PACKAGES = ("recstate.events.", "recstate.machines", "recstate.adapters")


def contracts() -> list[dict[str, Any]]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        config = tomllib.load(f)
    found: list[dict[str, Any]] = config["tool"]["importlinter"]["contracts"]
    return found


def contract(name: str) -> dict[str, Any]:
    (found,) = [c for c in contracts() if c["name"] == name]
    return found


def core_modules() -> list[str]:
    """Dotted names of the core's modules (a package by its own name, not `__init__`)."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        name = ".".join(parts)
        if name == "recstate" or name.startswith(VENDOR_PACKAGES):
            continue
        names.append(name)
    return names


def matches(module: str, pattern: str) -> bool:
    """import-linter's wildcards: `*` one level, `**` any depth below."""
    if pattern.endswith(".**"):
        return module.startswith(pattern[:-2])
    return fnmatch.fnmatchcase(module, pattern) and module.count(".") == pattern.count(".")


def test_the_core_modules_are_found() -> None:
    found = core_modules()
    # Rooms every version of the core has; if these vanish, the walk above is wrong.
    for room in (
        "recstate.runtime",
        "recstate.machine",
        "recstate.stores.sqlite",
        "recstate.serve",
    ):
        assert room in found
    assert not [m for m in found if m.startswith("recstate.machines")]


def test_every_core_module_is_forbidden_to_import_a_vendor() -> None:
    sources = contract("The core imports no vendor")["source_modules"]
    missing = [m for m in core_modules() if not any(matches(m, p) for p in sources)]
    assert missing == [], (
        f"{missing} import what they like: add them to the source_modules of "
        "'The core imports no vendor' in pyproject.toml"
    )


def test_every_top_level_room_has_a_layer() -> None:
    layers = contract("The core's layers (each imports only the ones below it)")["layers"]
    placed = {name.strip() for line in layers for name in line.split("|")}
    top_level = {".".join(m.split(".")[:2]) for m in core_modules()}
    # recstate.examples is data (the example traces) with a path helper: nothing imports it.
    missing = sorted(top_level - placed - {"recstate.examples"})
    assert missing == [], (
        f"{missing} have no place in 'The core's layers' in pyproject.toml: put each on the "
        "line of its height (see the comment above the contracts)"
    )


def test_the_matcher_follows_import_linter_wildcards() -> None:
    assert matches("recstate.stores.redis", "recstate.stores.**")
    assert not matches("recstate.stores.redis", "recstate.stores")
    assert matches("recstate.events.tencent", "recstate.events.*")
    assert not matches("recstate.events.tencent.x", "recstate.events.*")
