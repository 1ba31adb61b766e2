"""The bridge's hub: which connection serves which session, the commands on their way to the
apps, and the apps' events on their way in. No I/O here: :mod:`recstate.bridge.app` moves the
messages over WebSocket; this module decides what they say.

Delivery is at-least-once with ids, both ways. A command stays in the outbox until its app
acknowledges it (``ack`` with its id, or an outcome event naming it); a connection that drops
gives its unacknowledged commands back, and the next connection that serves the session gets
them again, in order. An event's id is remembered per app: a resent event is acknowledged
again and not handed to the runtime twice. A command no connection takes within ``hold``
seconds (runtime clock) is withdrawn, never sent late; the session then ends the way the
vendor's own timeout would (the machine's answer deadline: Tencent's ``answer``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from typing import Any

import attrs
import orjson

from recstate import signals
from recstate.bridge.tokens import Grant, TokenRefused, Tokens
from recstate.errors import TraceError
from recstate.events import Command, Event, parse_event
from recstate.runtime import Runtime
from recstate.session import Session
from recstate.vendors import vendor_names

__all__ = ["Bridge", "Connection", "Outgoing", "Refused"]

log = logging.getLogger(__name__)

Deliver = Callable[[Event], None]


class Refused(Exception):
    """A hello the bridge refuses: ``code`` and ``reason`` go to the app, then the socket
    closes (4401). Nothing was changed."""

    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"{code}: {reason}")


@attrs.define(eq=False)
class Outgoing:
    """A command on its way to an app: ``conn`` is the connection it was last sent on."""

    id: str
    vendor: str
    session: str
    name: str
    data: dict[str, Any]
    created: float
    conn: Connection | None = None

    def message(self) -> dict[str, Any]:
        return {"type": "command", "id": self.id, "vendor": self.vendor,
                "session": self.session, "name": self.name, "data": self.data}


@attrs.define(eq=False)
class Connection:
    """One app's WebSocket: what it serves, and the messages waiting to be written."""

    grant: Grant
    sessions: set[str] = attrs.field(factory=set)
    outbox: asyncio.Queue[str | None] = attrs.field(factory=asyncio.Queue)
    closed: bool = False

    @property
    def app(self) -> str:
        return self.grant.app

    def send(self, message: dict[str, Any]) -> None:
        if not self.closed:
            self.outbox.put_nowait(orjson.dumps(message).decode())


def _text(value: Any, field: str, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        got = "nothing" if value is None else f"{type(value).__name__} {value!r}"
        raise TraceError(f"expected a non-empty string, got {got}", source="bridge",
                         field=field)
    return value


def _sessions(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise TraceError(f"expected a JSON array of session keys, got "
                         f"{type(value).__name__}", source="bridge", field="sessions")
    return [str(_text(v, f"sessions[{i}]")) for i, v in enumerate(value)]


class Bridge:
    """Carries a runtime's SDK commands to the apps that serve their sessions, and the apps'
    events back into the runtime.

    - ``secret``: the tokens' HMAC key (:class:`~recstate.bridge.tokens.Tokens`);
    - ``hold``: seconds a command may wait for a connection before it is withdrawn (None:
      forever);
    - ``commands``: vendor -> the command names that go to apps; by default every command
      declared ``sdk=True`` (:attr:`recstate.events.Command.sdk`);
    - ``deliver``: how an app's event reaches the runtime (``runtime.submit``, served by
      ``await runtime.run()``, unless told);
    - ``token_ttl``: the lifetime of the ``resume`` token handed out in ``welcome``;
    - ``seen_ids``: how many event ids are remembered per app for deduplication.
    """

    def __init__(self, runtime: Runtime, secret: str | bytes, *, hold: float | None = 30.0,
                 commands: Mapping[str, Collection[str]] | None = None,
                 deliver: Deliver | None = None, token_ttl: float = 300.0,
                 seen_ids: int = 100_000) -> None:
        if hold is not None and hold <= 0:
            raise ValueError(f"hold is a duration in seconds > 0 (or None), got {hold!r}")
        self.runtime = runtime
        self.tokens = Tokens(secret, runtime.clock)
        self.hold = hold
        self.token_ttl = token_ttl
        self._commands = {v: frozenset(names) for v, names in (commands or {}).items()}
        self._deliver: Deliver = deliver if deliver is not None else runtime.submit
        self._seen_max = seen_ids
        self._prefix = secrets.token_hex(4)
        self._ids = itertools.count(1)
        #: command id -> the command, in the order the machines sent them
        self.pending: dict[str, Outgoing] = {}
        #: commands withdrawn after ``hold``: (id, session, name)
        self.withdrawn: list[tuple[str, str, str]] = []
        #: commands sent again to a new connection; events received again (handled once)
        self.resent = 0
        self.duplicates = 0
        self._servers: dict[str, Connection] = {}
        self._seen: dict[str, OrderedDict[str, None]] = {}
        self._vendors = sorted(vendor_names() | set(self._commands))
        for vendor in self._vendors:
            signals.commands(vendor).connect(self._on_command, sender=runtime, weak=False)
        for signal in (signals.transition, signals.file_changed, signals.recording_changed):
            signal.connect(self._on_change, sender=runtime, weak=False)

    def __repr__(self) -> str:
        return (f"Bridge(secret='***', hold={self.hold!r}, pending={len(self.pending)}, "
                f"served={len(self._servers)})")

    def close(self) -> None:
        """Stop listening to the runtime (the connections are the server's to close)."""
        for vendor in self._vendors:
            signals.commands(vendor).disconnect(self._on_command, sender=self.runtime)
        for signal in (signals.transition, signals.file_changed, signals.recording_changed):
            signal.disconnect(self._on_change, sender=self.runtime)

    # ---- commands out ----
    def carries(self, command: Command) -> bool:
        names = self._commands.get(command.vendor)
        return command.name in names if names is not None else type(command).sdk

    def _on_command(self, sender: Any, *, session: Session, command: Command, t: float,
                    **_: Any) -> None:
        if not self.carries(command):
            return
        # its wait counts from when the bridge got it: ``t`` is the handling's time, which
        # for a timer is its due time, far behind now when it fired late (after a restart);
        # counted from there, its command would be withdrawn before any app could take it
        out = Outgoing(id=f"c-{self._prefix}-{next(self._ids)}", vendor=command.vendor,
                       session=session.key, name=command.name, data=command.payload(),
                       created=max(t, self.runtime.clock.now()))
        self.pending[out.id] = out
        self.expire()
        conn = self._servers.get(out.session)
        if conn is not None and out.id in self.pending:
            self._send(conn, out)

    def _send(self, conn: Connection, out: Outgoing) -> None:
        out.conn = conn
        conn.send(out.message())

    def expire(self) -> list[Outgoing]:
        """Withdraw the commands that waited ``hold`` seconds with no connection to take
        them. Called whenever the bridge or the runtime acts; a service may call it on a
        schedule too. A withdrawn command is never sent."""
        if self.hold is None:
            return []
        now = self.runtime.clock.now()
        gone = [o for o in self.pending.values()
                if (o.conn is None or o.conn.closed) and now - o.created >= self.hold]
        for out in gone:
            del self.pending[out.id]
            self.withdrawn.append((out.id, out.session, out.name))
            log.warning("bridge: command %s %s for session %s withdrawn: no app took it "
                        "within %g s; the session's own answer deadline ends it",
                        out.id, out.name, out.session, self.hold)
        return gone

    def next_expiry(self) -> float | None:
        """When the next waiting command is withdrawn if no app takes it (runtime clock), or
        None: a service sleeping until its next deadline wakes then too."""
        if self.hold is None:
            return None
        return min((o.created + self.hold for o in self.pending.values()
                    if o.conn is None or o.conn.closed), default=None)

    # ---- connections ----
    def open(self, text: str | bytes) -> Connection:
        """The first message of a connection: a ``hello``. Returns the connection, its
        ``welcome`` queued first, or raises :class:`Refused` with nothing changed."""
        try:
            hello = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise Refused("no-token", "the first message must be a JSON hello "
                          "{type: 'hello', token, sessions}") from None
        if not isinstance(hello, dict) or hello.get("type") != "hello":
            raise Refused("no-token", "the first message must be a hello "
                          "{type: 'hello', token, sessions}")
        try:
            grant = self.tokens.check(hello.get("token"))
        except TokenRefused as refused:
            log.info("bridge: connection refused: %s", refused)
            raise Refused(refused.code, refused.reason) from None
        try:
            sessions = _sessions(hello.get("sessions", []))
        except TraceError as error:
            raise Refused("bad-hello", f"field {error.field!r}: {error.reason}") from None
        denied = [s for s in sessions if not grant.allows(s)]
        if denied:
            raise Refused("session-not-allowed", f"the token does not allow serving "
                          f"{denied}; issue one with these sessions")
        self.tokens.consume(grant)
        conn = Connection(grant)
        resume = self.tokens.issue(grant.app, ttl=self.token_ttl, sessions=grant.sessions)
        conn.send({"type": "welcome", "app": grant.app, "resume": resume,
                   "sessions": sorted(set(sessions))})
        self._serve(conn, sessions)  # then the commands waiting for them, and their state
        return conn

    def _serve(self, conn: Connection, sessions: list[str]) -> None:
        """``conn`` serves ``sessions`` from now on (the newest connection wins): the
        commands waiting for them, or sent on another connection and not acknowledged,
        go to it, in order."""
        self.expire()
        new = [s for s in sessions if self._servers.get(s) is not conn]
        for key in sessions:
            conn.sessions.add(key)
            self._servers[key] = conn
        for out in list(self.pending.values()):
            if out.session in new:
                if out.conn is not None:
                    self.resent += 1
                self._send(conn, out)
        for key in new:
            self._push_state(key)

    def drop(self, conn: Connection) -> None:
        """The connection is gone: its sessions wait for the next one; what it did not
        acknowledge is sent again then."""
        conn.closed = True
        conn.outbox.put_nowait(None)
        for key in conn.sessions:
            if self._servers.get(key) is conn:
                del self._servers[key]
        self.expire()

    def served(self) -> dict[str, str]:
        """session -> the app serving it."""
        return {key: conn.app for key, conn in self._servers.items()}

    # ---- messages in ----
    def receive(self, conn: Connection, text: str | bytes) -> None:
        """One message from an app. A bad one is answered with an ``error`` naming the field;
        the connection stays up."""
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            conn.send({"type": "error", "field": "", "message": f"not JSON ({exc}); send one "
                       "JSON object per message"})
            return
        if not isinstance(msg, dict):
            conn.send({"type": "error", "field": "", "message": "expected a JSON object, got "
                       f"{type(msg).__name__}"})
            return
        kind = msg.get("type")
        try:
            if kind == "event":
                self._event(conn, msg)
            elif kind == "ack":
                self._ack(conn, str(_text(msg.get("id"), "id")))
            elif kind == "serve":
                sessions = _sessions(msg.get("sessions"))
                denied = [s for s in sessions if not conn.grant.allows(s)]
                if denied:
                    raise TraceError(f"the token does not allow serving {denied}",
                                     source="bridge", field="sessions")
                self._serve(conn, sessions)
                conn.send({"type": "serving", "sessions": sorted(conn.sessions)})
            elif kind == "ping":
                conn.send({"type": "pong"})
            else:
                raise TraceError(f"unknown message type {kind!r}; expected event, ack, serve "
                                 "or ping", source="bridge", field="type")
        except TraceError as error:
            self._refuse(conn, msg, error.field or "", error.reason)
        except Exception as exc:  # a bug must not take the connection (or others) down
            log.exception("bridge: a message from app %r could not be handled", conn.app)
            self._refuse(conn, msg, "", f"the bridge could not handle this message "
                         f"({type(exc).__name__}); it was not applied")
        self.expire()

    @staticmethod
    def _refuse(conn: Connection, msg: dict[str, Any], field: str, message: str) -> None:
        answer: dict[str, Any] = {"type": "error", "field": field, "message": message}
        if isinstance(msg.get("id"), str):
            answer["id"] = msg["id"]
        conn.send(answer)

    def _ack(self, conn: Connection, command_id: str) -> None:
        out = self.pending.get(command_id)
        if out is not None and out.session in conn.sessions:
            del self.pending[command_id]

    def _event(self, conn: Connection, msg: dict[str, Any]) -> None:
        event_id = str(_text(msg.get("id"), "id"))
        vendor = str(_text(msg.get("vendor"), "vendor"))
        name = str(_text(msg.get("name"), "name"))
        session = str(_text(msg.get("session"), "session"))
        command = _text(msg.get("command"), "command", required=False)
        if session not in conn.sessions:
            raise TraceError(f"session {session!r} is not served by this connection; send "
                             "{type: 'serve', sessions: [...]} first", source="bridge",
                             field="session")
        seen = self._seen.setdefault(conn.app, OrderedDict())
        if event_id in seen:  # a resend: acknowledged again, handled once
            self.duplicates += 1
            conn.send({"type": "ack", "id": event_id, "duplicate": True})
            return
        data = msg.get("data")
        event = parse_event(vendor, name, self.runtime.clock.now(), data, session,
                            source=f"bridge app {conn.app!r}")
        seen[event_id] = None
        if len(seen) > self._seen_max:
            seen.popitem(last=False)
        if command is not None:  # an outcome: its command was received
            self._ack(conn, command)
        self._deliver(event)
        conn.send({"type": "ack", "id": event_id})

    # ---- the live view ----
    def _on_change(self, sender: Any, *, session: Session, **_: Any) -> None:
        self.expire()
        if session.key in self._servers:
            self._push_state(session.key)

    def _push_state(self, key: str) -> None:
        conn = self._servers.get(key)
        session = self.runtime.sessions.get(key)
        if conn is None or session is None:
            return
        conn.send({"type": "state", "session": key, "vendor": session.vendor,
                   "state": session.state, "recording": session.recording,
                   "files": [f.to_dict() for f in session.files]})
