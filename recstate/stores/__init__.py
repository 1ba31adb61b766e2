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
    "check_redis_url",
    "open_store",
    "safe_url",
]


FORMS = ("memory:, sqlite:///relative.db, sqlite:////absolute/path.db, "
         "redis://host:port/db?prefix=NAME or redis+cluster://host:port?prefix=NAME")


def safe_url(url: str) -> str:
    """The URL as an error may show it: a password written ``***``."""
    try:
        parts = urlsplit(url)
        if parts.password:
            host = parts.netloc.rsplit("@", 1)[1]
            return parts._replace(netloc=f"{parts.username or ''}:***@{host}").geturl()
    except ValueError:
        return url.split("@", 1)[1] if "@" in url else url
    return url


def check_redis_url(url: str) -> None:
    """Refuse a redis URL that redis-py would take wrong (a database that is not a number
    would be read as 0) or fail on with a bare ValueError."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a port that is no number or out of range
    except ValueError as exc:
        raise StoreError(f"bad store URL {safe_url(url)!r} ({exc}): use {FORMS}") from None
    db = parts.path.strip("/")
    if parts.scheme != "unix" and db and not db.isdigit():
        raise StoreError(f"bad store URL {safe_url(url)!r}: the database {db!r} is not a "
                         f"number: use {FORMS}")
    query = parse_qs(parts.query)
    for name in ("partitions", "db"):
        value = query.get(name, ["1"])[0]
        if not value.isdigit() or int(value) < (name == "partitions"):
            raise StoreError(f"bad store URL {safe_url(url)!r}: {name}={value!r} is not a "
                             f"{'positive ' if name == 'partitions' else ''}whole number: "
                             f"use {FORMS}")


def open_store(url: str, *, journal: bool = False) -> Store:
    """The store a URL names; a StoreError that says which URLs exist otherwise."""
    if url in ("memory:", "memory://"):
        return MemoryStore(journal=journal)
    if url.startswith("sqlite:///"):
        rest = url[len("sqlite:///"):]
        path, _, query = rest.partition("?")
        if not path:
            raise StoreError(f"store URL {url!r} names no file: use {FORMS}")
        options = parse_qs(query)
        return SQLiteStore(path, journal=journal,
                           synchronous=options.get("synchronous", ["NORMAL"])[0])
    if url.startswith(("redis://", "rediss://", "unix://", "redis+cluster://")):
        check_redis_url(url)
        from recstate.stores.redis import RedisStore

        return RedisStore(url, journal=journal)
    raise StoreError(f"unknown store URL {safe_url(url)!r}: use {FORMS}")
