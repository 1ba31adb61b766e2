"""Per-app bridge tokens: HMAC-SHA256 signed, with an expiry, each good for one connection.

A token is ``v1.<payload>.<signature>`` (base64url, no padding); the payload is JSON
``{"app", "exp", "n", "s"?}``: the app's name, the expiry (Unix seconds on the runtime's
clock), a random nonce, and optionally the sessions the app may serve. The app's own server
issues them with the shared secret (:meth:`Tokens.issue`); the bridge checks the signature in
constant time and the expiry, and takes each nonce once, so a token seen on the wire cannot
open a second connection (a reconnecting client uses the ``resume`` token the bridge handed it
in ``welcome``, or asks its server for a new one).

Neither the secret nor a token ever appears in a repr, a log line or an error message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

import attrs
import orjson

from recstate.clock import Clock, SystemClock
from recstate.errors import RecstateError

__all__ = ["Grant", "TokenRefused", "Tokens"]

_PREFIX = "v1"


class TokenRefused(RecstateError):
    """A token the bridge does not accept. ``code``: ``no-token``, ``wrong-token``,
    ``expired-token``, ``replayed-token``; the message says what to do and never holds the
    token."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.reason = message
        super().__init__(f"{code}: {message}")


@attrs.frozen
class Grant:
    """What a valid token allows: the ``app``, the ``sessions`` it may serve (None: any),
    until ``expires``."""

    app: str
    expires: float
    nonce: str = attrs.field(repr=False)
    sessions: frozenset[str] | None = None

    def allows(self, session: str) -> bool:
        return self.sessions is None or session in self.sessions


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Tokens:
    """Issues and checks the tokens of one secret, on ``clock``'s time."""

    __slots__ = ("_clock", "_key", "_used")

    def __init__(self, secret: str | bytes, clock: Clock | None = None) -> None:
        key = secret.encode() if isinstance(secret, str) else bytes(secret)
        if len(key) < 16:
            raise ValueError("the bridge secret must be at least 16 bytes long (use "
                             "secrets.token_urlsafe(32)); the value is not shown")
        self._key = key
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._used: dict[str, float] = {}  # nonce -> expiry, forgotten once expired

    def __repr__(self) -> str:
        return "Tokens(secret='***')"

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, f"{_PREFIX}.{body}".encode(), hashlib.sha256).digest())

    def issue(self, app: str, *, ttl: float = 300.0,
              sessions: Collection[str] | None = None) -> str:
        """A token for ``app``, valid ``ttl`` seconds from now, for one connection."""
        if not app:
            raise ValueError("a token names its app: app must be a non-empty string")
        if ttl <= 0:
            raise ValueError(f"ttl is a duration in seconds > 0, got {ttl!r}")
        payload: dict[str, Any] = {"app": app, "exp": self._clock.now() + ttl,
                                   "n": secrets.token_hex(12)}
        if sessions is not None:
            payload["s"] = sorted(sessions)
        body = _b64(orjson.dumps(payload))
        return f"{_PREFIX}.{body}.{self._sign(body)}"

    def check(self, token: object) -> Grant:
        """The grant of a valid, unexpired, unused token; raises :class:`TokenRefused`
        otherwise. Nothing is consumed: :meth:`consume` takes the nonce once the connection
        is opened."""
        if not isinstance(token, str) or not token:
            raise TokenRefused("no-token", "the hello message carries no 'token'; ask the "
                               "app's server for one (Tokens.issue) and send it in hello")
        parts = token.split(".")
        wrong = TokenRefused("wrong-token", "the token's signature does not match this "
                             "bridge's secret (or the token is malformed); issue it with "
                             "the bridge's secret")
        if len(parts) != 3 or parts[0] != _PREFIX:
            raise wrong
        body, signature = parts[1], parts[2]
        if not hmac.compare_digest(self._sign(body).encode(), signature.encode()):
            raise wrong
        try:
            payload = orjson.loads(_unb64(body))
            app, expires, nonce = payload["app"], float(payload["exp"]), str(payload["n"])
            sessions = payload.get("s")
        except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError,
                ValueError):  # signed by us, so only a bug gets here
            raise wrong from None
        now = self._clock.now()
        if expires <= now:
            when = datetime.fromtimestamp(expires, UTC).isoformat().replace("+00:00", "Z")
            raise TokenRefused("expired-token", f"the token expired at {when}; ask the app's "
                               "server for a new one")
        self._forget(now)
        if nonce in self._used:
            raise TokenRefused("replayed-token", "this token has already opened a "
                               "connection: a token is good for one; reconnect with the "
                               "'resume' token from welcome, or a new one")
        return Grant(app=str(app), expires=expires, nonce=nonce,
                     sessions=None if sessions is None else frozenset(map(str, sessions)))

    def consume(self, grant: Grant) -> None:
        """Take the grant's nonce: its token opens no other connection."""
        self._used[grant.nonce] = grant.expires

    def _forget(self, now: float) -> None:
        for nonce in [n for n, exp in self._used.items() if exp <= now]:
            del self._used[nonce]
