"""Stores: where a runtime keeps its sessions, timers, idempotency keys, shared indexes and
outbox so that a restart, a crash or another worker loses nothing (see ``base``).

``open_store(url)``: ``memory:``, ``sqlite:///relative.db``, ``sqlite:////absolute/path.db``
(SQLAlchemy's convention: three slashes then a relative path, four for an absolute one),
``redis://host:port/db?prefix=...``, ``redis+cluster://host:port?prefix=...`` (a Redis
Cluster, reached through any of its nodes).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from recstate.stores.base import (
    Commit,
    Conflict,
    Loaded,
    OutboxRow,
    SessionRow,
    Store,
    StoreError,
    TrackedDict,
)
from recstate.stores.memory import MemoryStore
from recstate.stores.sqlite import SQLiteStore

__all__ = [
    "Commit",
    "Conflict",
    "Loaded",
    "MemoryStore",
    "OutboxRow",
    "SQLiteStore",
    "SessionRow",
    "Store",
    "StoreError",
    "TrackedDict",
    "open_store",
]


def open_store(url: str, *, journal: bool = False) -> Store:
    """The store a URL names; a StoreError that says which URLs exist otherwise."""
    if url in ("memory:", "memory://"):
        return MemoryStore(journal=journal)
    if url.startswith("sqlite:///"):
        rest = url[len("sqlite:///"):]
        path, _, query = rest.partition("?")
        if not path:
            raise StoreError(f"store URL {url!r} names no file: sqlite:///relative.db or "
                             "sqlite:////absolute/path.db")
        options = parse_qs(query)
        return SQLiteStore(path, journal=journal,
                           synchronous=options.get("synchronous", ["NORMAL"])[0])
    if url.startswith(("redis://", "rediss://", "unix://", "redis+cluster://")):
        from recstate.stores.redis import RedisStore

        return RedisStore(url, journal=journal)
    scheme = urlsplit(url).scheme or url
    raise StoreError(f"unknown store URL {scheme!r}: use memory:, sqlite:///relative.db, "
                     "sqlite:////absolute/path.db, redis://host:port/db?prefix=NAME or "
                     "redis+cluster://host:port?prefix=NAME")
