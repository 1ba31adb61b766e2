"""NetEase Yunxin netcall adapters: the callback (抄送) receiver, its ASGI app, and a simulator.

The netcall itself runs in the WeChat mini-program (``vendor-docs/000_15ac1063afea4b1f.txt``):
a service learns of it from the app, and of the recorded files from NetEase's callback service,
which POSTs JSON bodies with the headers ``AppKey``, ``CurTime``, ``MD5`` (of the body) and
``CheckSum`` = SHA1(AppSecret + MD5 + CurTime). So the real adapter is the receiver:

- :class:`CallbackReceiver`: (headers, raw body) -> events, after checking the MD5 against the
  body and the CheckSum in constant time and refusing a stale ``CurTime``;
- :class:`CallbackApp`: an ASGI app serving it, answering 200 only once the events have been
  handed to the runtime (otherwise NetEase is told to deliver again);
- :class:`ChannelRoutes`: per runtime, takes an event that carries only a channel id (a
  callback body's ``channelid``) to the session that learnt that cid (a caller's call is
  keyed by the app's call id, since its cid is known only at ``call:ok``);
- :func:`split_callback` / :func:`split_records`: one body may carry the files of several
  channels; the Runtime routes an event to one session, so a body becomes one ``callback``
  event per channel, each still in NetEase's shape.

:class:`NetEaseSimulator` answers the machine's commands the way the SDK and the callback
service do, with faults to inject. The AppSecret never reaches a trace, a log, a repr or an
error message.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import inspect
import random
import re
from collections.abc import (
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
    MutableMapping,
)
from typing import Any

import attrs
import orjson

from recstate import signals
from recstate.clock import Clock, SystemClock
from recstate.errors import RecstateError
from recstate.events import Event, parse_event
from recstate.events.netease import (
    CALL_EVENT_TYPE,
    CALLBACK,
    FILES_EVENT_TYPE,
    VENDOR,
    Callback,
    expected_files,
    records,
    session_key,
    split_callback,
)
from recstate.logs import get_logger, hide
from recstate.machines.netease import NetEaseContext, NetEaseOptions
from recstate.runtime import Runtime
from recstate.scenario import ScenarioHooks
from recstate.session import Session
from recstate.trace import Record, redact_text

__all__ = [
    "SCENARIO_HOOKS",
    "CallbackApp",
    "CallbackReceiver",
    "CallbackRejected",
    "ChannelRoutes",
    "NetEaseSimulator",
    "callback_events",
    "deliver_to",
    "split_callback",
    "split_records",
]

log = get_logger(__name__)  # recstate.adapters.netease

_CURTIME = re.compile(r"[0-9]{1,13}")
_HEX = re.compile(r"[0-9a-fA-F]+")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Deliver = Callable[[list[Event]], Awaitable[None] | None]


# ---- one body, several channels ----------------------------------------------------------------

def callback_events(data: Mapping[str, Any], t: float, *, source: str = "<callback>"
                    ) -> list[Event]:
    """The ``callback`` events of one body: one per channel, each routed to its channel."""
    return [parse_event(VENDOR, CALLBACK, t, part, channel, source=source)
            for channel, part in split_callback(data)]


def split_records(records: Iterable[Record]) -> Iterator[Record]:
    """A trace's records with each multi-channel NetEase ``callback`` input split into one
    record per channel (for ``replay_records``); every other record passes unchanged."""
    for record in records:
        if (record.vendor != VENDOR or record.name != CALLBACK or record.kind != "event"
                or record.data is None or record.session is not None):
            yield record
            continue
        parts = split_callback(record.data)
        if len(parts) == 1:
            yield record
            continue
        for channel, part in parts:
            yield Record(t=record.t, vendor=record.vendor, name=record.name, session=channel,
                         data=part, kind=record.kind, line=record.line)


# ---- the receiver ------------------------------------------------------------------------------

class CallbackRejected(RecstateError):
    """A callback request refused: ``status`` is the HTTP answer, ``reason`` says why (and
    never contains the AppSecret or a checksum computed from it)."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(f"{status}: {reason}")


def _headers(headers: Mapping[str, str] | Iterable[tuple[bytes | str, bytes | str]]
             ) -> dict[str, str]:
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for k, v in pairs:
        key = k.decode("latin-1") if isinstance(k, bytes) else k
        value = v.decode("latin-1") if isinstance(v, bytes) else v
        out[key.lower()] = value.strip()
    return out


@attrs.define(repr=False)
class CallbackReceiver:
    """Verify and decode one callback request (headers, raw body) into events.

    The callback service posts every eventType to the same URL; eventType ``"6"`` (the file
    addresses) and ``"5"`` (the call's duration record, the server's word that a call is
    over, routed by its ``channelId``) concern recstate. Any other verified body gives no
    event (the request is answered 200, so NetEase does not deliver it again) and an info log
    line naming the eventType. So does a verified body that is empty or ``{}``: the console's
    check of the 抄送 address when it is configured (it wants 200 within 5 s), and an
    eventType 5 body that names no ``channelId``.

    - ``app_secret``: the AppSecret of the AppKey; kept out of repr, logs and errors.
    - ``window``: seconds ``CurTime`` may be from the clock's now (a replayed or delayed
      request outside it is refused). ``CurTime`` is accepted in seconds or milliseconds
      (NetEase's IM callbacks send milliseconds).
    - ``app_key``: when given, the ``AppKey`` header must name it.
    - ``max_channels``: how many channels one body may name (each may open a session); a
      body naming more is refused with 413.

    ``CurTime`` (1 to 13 ASCII digits), ``MD5`` and ``CheckSum`` (hex) are checked for their
    form before anything is computed from them, and no exception leaves the receiver but
    :class:`CallbackRejected`, whose reason never holds the AppSecret.
    """

    app_secret: str = attrs.field()
    clock: Clock = attrs.field(factory=SystemClock)
    window: float = NetEaseOptions().callback_window
    app_key: str | None = None
    max_channels: int = 100

    @app_secret.validator
    def _check_secret(self, attribute: attrs.Attribute[str], value: str) -> None:
        if not isinstance(value, str) or not value:
            raise ValueError("app_secret: give the AppSecret of the AppKey (a non-empty "
                             "string), from the NetEase console")
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError("app_secret: not encodable as UTF-8 (a lone surrogate?); copy "
                             "the AppSecret again from the NetEase console") from None
        hide(value)  # out of every log record

    def __repr__(self) -> str:
        return f"CallbackReceiver(app_secret='***', window={self.window!r}, app_key=" \
               f"{self.app_key!r})"

    def __call__(self, headers: Mapping[str, str] | Iterable[tuple[bytes | str, bytes | str]],
                 body: bytes) -> list[Event]:
        """The events of a verified request, or :class:`CallbackRejected`. Nothing else
        escapes: an unexpected failure is a 400 whose reason names only its type, so no
        exception (and no log line made of one) can carry the AppSecret."""
        try:
            return self._verify(headers, body)
        except CallbackRejected:
            raise
        except Exception as exc:
            raise CallbackRejected(400, f"malformed callback request ({type(exc).__name__})"
                                   ) from None

    def _verify(self, headers: Mapping[str, str] | Iterable[tuple[bytes | str, bytes | str]],
                body: bytes) -> list[Event]:
        h = _headers(headers)
        for name, header in (("md5", "MD5"), ("checksum", "CheckSum"), ("curtime", "CurTime")):
            if not h.get(name):
                raise CallbackRejected(401, f"the {header} header is missing: NetEase signs "
                                       "every callback with CurTime, MD5 and CheckSum")
        # Strictly, before anything is built from them: ASCII digits / hex of a bounded
        # length (``²`` passes isdigit(), a lone surrogate fails to encode).
        cur = h["curtime"]
        if _CURTIME.fullmatch(cur) is None:
            raise CallbackRejected(400, "the CurTime header is not Unix time in seconds or "
                                   "milliseconds (1 to 13 ASCII digits)")
        if _HEX.fullmatch(h["md5"]) is None or len(h["md5"]) != 32:
            raise CallbackRejected(400, "the MD5 header is not 32 hexadecimal digits")
        if _HEX.fullmatch(h["checksum"]) is None or len(h["checksum"]) != 40:
            raise CallbackRejected(401, "the CheckSum header is not 40 hexadecimal digits "
                                   "(a SHA1)")
        md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()
        if not hmac.compare_digest(h["md5"].lower().encode(), md5.encode()):
            raise CallbackRejected(400, "the MD5 header does not match the body: the body was "
                                   "altered or truncated on the way")
        if self.app_key is not None and h.get("appkey") != self.app_key:
            raise CallbackRejected(401, "the AppKey header names another application")
        expected = hashlib.sha1(self.app_secret.encode() + h["md5"].encode() + cur.encode(),
                                usedforsecurity=False).hexdigest()
        if not hmac.compare_digest(h["checksum"].lower().encode(), expected.encode()):
            raise CallbackRejected(401, "the CheckSum header is not SHA1(AppSecret + MD5 + "
                                   "CurTime): wrong AppSecret, or a forged request")
        sent = int(cur) / (1000.0 if len(cur) > 11 else 1.0)
        now = self.clock.now()
        if abs(now - sent) > self.window:
            raise CallbackRejected(401, f"the CurTime header is {now - sent:+.0f} s from now, "
                                   f"outside the {self.window:g} s window: a replayed or "
                                   "delayed request (or a wrong clock)")
        if not body.strip():
            return _address_check()
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise CallbackRejected(400, f"the body is not JSON ({exc})") from None
        if data == {}:
            return _address_check()
        if not isinstance(data, dict):
            raise CallbackRejected(400, f"the body is a JSON {type(data).__name__}, not an "
                                   "object")
        event_type = data.get("eventType")
        if isinstance(event_type, int) and not isinstance(event_type, bool):
            # The field table writes it as a string ("6"); a number means the same, and
            # refusing it would lose the body at every redelivery.
            event_type = str(event_type)
            data = {**data, "eventType": event_type}
        if not isinstance(event_type, str):
            raise CallbackRejected(400, "the body has no eventType string")
        if event_type not in (FILES_EVENT_TYPE, CALL_EVENT_TYPE):
            log.info("netease callback eventType %r carries neither file addresses nor a "
                     "call record: acknowledged, nothing to hand to the runtime",
                     event_type[:40])
            return []
        if event_type == CALL_EVENT_TYPE and data.get("channelId") in (None, ""):
            log.info("netease callback eventType '5' names no channelId: acknowledged, "
                     "nothing to hand to the runtime")
            return []
        try:
            parts = split_callback(data)
            if len(parts) > self.max_channels:
                raise CallbackRejected(413, f"the body names {len(parts)} channels, over the "
                                       f"{self.max_channels} one request may carry")
            events = [parse_event(VENDOR, CALLBACK, now, part, channel, source="<callback>")
                      for channel, part in parts]
        except (ValueError, TypeError) as exc:
            raise CallbackRejected(400, f"malformed callback body: {redact_text(str(exc))}"
                                   ) from None
        if event_type == FILES_EVENT_TYPE and not any(
                isinstance(ev, Callback) and ev.items() for ev in events):
            # No file item, so no channel to route it to: nothing to do, and an answer
            # other than 200 would only make NetEase deliver it again.
            log.info("netease callback eventType 6 with no file items: acknowledged, "
                     "nothing to hand to the runtime")
            return []
        return events


def _address_check() -> list[Event]:
    """The console's check of the 抄送 address: a signed POST whose body is empty or ``{}``
    (NetEase's 开通和配置消息抄送 shows it as ``curl ... -X POST -d '{}'``), answered 200."""
    log.info("netease callback with an empty body (the console's address check): "
             "acknowledged, nothing to hand to the runtime")
    return []


class ChannelRoutes:
    """Channel id -> session key for one runtime's NetEase sessions whose key is not their
    channel: a caller's call is keyed by the ``session`` its ``call`` named, and learns its
    cid only at ``call:ok`` / ``callAccepted``, while the callback service's bodies name only
    the cid (``channelid``).

    It learns from the runtime's ``transition`` signal (the cid is in the session's context
    by the time a call connects or ends), and for a channel it has not seen looks at the
    sessions added since it last looked (sessions restored from a store did not transition
    under it): each session once, so a body naming many channels costs no scan apiece.
    One a runtime: the map is this object's, never shared between runtimes.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.aliases: dict[str, str] = {}
        self._seen: dict[str, Session] = {}
        signals.transition.connect(self._learn, sender=runtime)  # weak: goes with self
        signals.session_closed.connect(self._forget, sender=runtime)

    def close(self) -> None:
        signals.transition.disconnect(self._learn, sender=self.runtime)
        signals.session_closed.disconnect(self._forget, sender=self.runtime)

    def _forget(self, sender: Any, *, session: Session, **_: Any) -> None:
        """A closed session's cid leaves the map (a month-long service must not grow)."""
        cid = getattr(session.context, "cid", None)
        if cid and self.aliases.get(cid) == session.key:
            del self.aliases[cid]

    def _learn(self, sender: Any, *, session: Session, **_: Any) -> None:
        if session.vendor != VENDOR:
            return
        cid = getattr(session.context, "cid", None)
        if cid and cid != session.key:
            self.aliases[cid] = session.key

    def key(self, channel: str) -> str:
        """The session key for ``channel``: the session that learnt that cid, else the
        channel itself (a callee's call and a channel are keyed by it). O(1) amortised: a
        channel never seen looks only at the sessions added since the last look."""
        sessions = self.runtime.sessions
        key = self.aliases.get(channel)
        if key is not None and key in sessions:
            return key
        if channel in sessions:
            return channel
        self._index(sessions)
        key = self.aliases.get(channel)
        return key if key is not None and key in sessions else channel

    def _index(self, sessions: dict[str, Session]) -> None:
        """Learn the cids of the sessions added since the last call (restored from a store,
        or made without a transition seen here). A dict keeps insertion order, so they are
        at its end: walk back to the first session already looked at."""
        seen = self._seen
        for key in reversed(sessions):
            session = sessions[key]
            if seen.get(key) is session:
                break
            seen[key] = session
            if session.vendor == VENDOR:
                cid = getattr(session.context, "cid", None)
                if cid and cid != key:
                    self.aliases.setdefault(cid, key)
        if len(seen) > 2 * len(sessions) + 64:  # forget closed sessions now and then
            self._seen = {k: v for k, v in seen.items() if sessions.get(k) is v}

    def route(self, ev: Event) -> Event:
        """``ev`` naming the session of its channel. A ``callback``'s session is taken as
        its channel (:func:`callback_events` names each part by its channel; a body of
        several channels must be split first); another event is routed only when it names
        no session. Events of other vendors, and those with no channel, are unchanged."""
        if ev.vendor != VENDOR:
            return ev
        if isinstance(ev, Callback):
            channel = ev.session if ev.session is not None else session_key(ev)
        elif ev.session is None:
            channel = session_key(ev)
        else:
            return ev
        if channel is None:
            return ev
        key = self.key(channel)
        return ev if key == ev.session else attrs.evolve(ev, session=key)

    def dispatch(self, ev: Event) -> None:
        """``runtime.dispatch`` of the routed event (for the app's own events that carry
        only a cid, such as the SDK's ``hangup`` callback)."""
        self.runtime.dispatch(self.route(ev))


def deliver_to(runtime: Runtime, *, submit: bool = False,
               routes: ChannelRoutes | None = None) -> Deliver:
    """Hand events to ``runtime``: ``dispatch`` (run to completion before the answer), or
    ``submit`` to a runtime served by ``Runtime.run`` on the same event loop. Each event is
    first routed by ``routes`` (a :class:`ChannelRoutes` of this runtime, made here unless
    given), so a caller's files reach the call that learnt their cid. A call record (抄送
    eventType 5) of a channel no session here knows is dropped with an info log line: the
    server sends one for every call of the application, tracked here or not."""
    router = routes if routes is not None else ChannelRoutes(runtime)

    def deliver(events: list[Event]) -> None:
        for ev in events:
            ev = router.route(ev)
            if (isinstance(ev, Callback) and ev.eventType == CALL_EVENT_TYPE
                    and ev.session not in runtime.sessions):
                log.info("netease call record (eventType 5) of channel %r, which no session "
                         "here knows: not handed to the runtime", (ev.session or "")[:40])
                continue
            if submit:
                runtime.submit(ev)
            else:
                runtime.dispatch(ev)
    return deliver


class CallbackApp:
    """ASGI app of the callback service's endpoint: POST only; 200 once ``deliver`` has taken
    the events; 4xx with the reason for a request that fails verification; 500 when the
    events could not be handed over (NetEase delivers again)."""

    max_body = 4 * 1024 * 1024
    #: Bodies over this many bytes are verified and parsed in a worker thread, so that the
    #: event loop (and the runtime it drives) is not held up by one large request.
    thread_above = 64 * 1024

    def __init__(self, receiver: CallbackReceiver, deliver: Deliver) -> None:
        self.receiver = receiver
        self.deliver = deliver

    def __repr__(self) -> str:
        return f"CallbackApp({self.receiver!r})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["method"] != "POST":
            await _answer(send, 405, {"error": "the callback endpoint takes POST"})
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await _answer(send, 413, {"error": f"body over {self.max_body} bytes"})
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        headers = scope.get("headers", [])
        try:
            if len(body) > self.thread_above:
                events = await asyncio.to_thread(self.receiver, headers, body)
            else:
                events = self.receiver(headers, body)
        except CallbackRejected as rejected:
            log.warning("netease callback refused: %s", rejected.reason)
            await _answer(send, rejected.status, {"error": rejected.reason})
            return
        except Exception as exc:  # a receiver of another make: name only the type
            log.error("netease callback: the request could not be verified (%s)",
                      type(exc).__name__)
            await _answer(send, 400, {"error": f"not verified ({type(exc).__name__})"})
            return
        try:
            handed = self.deliver(events)
            if inspect.isawaitable(handed):
                await handed
        except Exception as exc:
            log.exception("netease callback: the events could not be handed to the runtime")
            await _answer(send, 500, {"error": f"not taken ({type(exc).__name__}); deliver "
                                      "again"})
            return
        await _answer(send, 200, {"code": 200, "events": len(events)})


async def _answer(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = orjson.dumps(body)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


# ---- the simulator -----------------------------------------------------------------------------
#: The SDK calls the simulator answers (``unanswered`` names some of them).
APIS = ("call", "response", "startRtc", "joinChannel")
#: A call under way (media may flow), and a call over: the server's record goes between them.
_LIVE = frozenset({"calling", "ringing", "responding", "joining", "connecting", "in_call",
                   "recording"})
_AFTER = frozenset({"awaiting_files", "complete", "ended", "failed"})


@attrs.define
class NetEaseSimulator:
    """Answers a runtime's NetEase commands as the SDK and the callback service would.

    - ``delay``: seconds before an API answers; ``errors``: API name -> (code, desc) to fail;
    - ``answer``: what the callee does with a ``call``: ``accept``, ``reject`` or ``none``,
      after ``answer_after`` seconds;
    - files: ``files_after`` seconds after a recorded call ends (the session enters
      ``awaiting_files``, whoever hung up), one callback body with every expected file
      except the slots in ``drop`` (``caller``, ``callee``, ``self``, ``mix``, ``live``); in a
      channel the local member's files come even when ``joinChannel`` gave no account (named
      ``self-user`` then); ``duplicate``: deliver it twice (a retried delivery);
    - ``piece_length``: the slice length (seconds). When set, a recording is cut every
      ``piece_length`` seconds of the call: each cut piece is delivered ``files_after``
      seconds after its cut, during the call if it lasts, and the last piece after the end,
      every item with its ``pieceindex`` (cuts are looked ahead ``max_call`` seconds);
    - ``whiteboard``: the final body also carries a whiteboard data file (``gz``, no vid);
    - ``unanswered``: SDK calls (``call``, ``response``, ``startRtc``, ``joinChannel``) whose
      answer never comes: the mini-program's callback is lost, or its client crashed (a
      ``call`` left unanswered is never accepted either);
    - ``call_record_after``: when set, the server's call record (抄送 eventType 5, 音视频时长:
      ``channelId``, ``createtime``, ``duration``, ``status``) is delivered that many seconds
      after each call that asked for media (``startRtc`` or ``joinChannel``) ends, however
      it ended; unset, the service subscribes to no such record (the default).

    Fault (a scenario's ``hangup_unseen``): :meth:`end_unseen`, the call ends on NetEase's side
    (the peer hung up, or the server ended it) and the client never hears of it; the server
    still sends its call record and, for a recorded call, the files.

    Bodies are in NetEase's shape (the 抄送 field table): ``caller`` only on the caller's
    files (absent, not false, elsewhere), ``user`` ``"0"`` on a mixed file, ``size`` and
    ``vid`` as strings.
    """

    runtime: Runtime
    delay: float = 0.1
    errors: Mapping[str, tuple[int, str]] = attrs.field(factory=dict)
    answer: str = "accept"
    answer_after: float = 2.0
    files_after: float = 60.0
    drop: Collection[str] = ()
    duplicate: bool = False
    piece_length: float | None = None
    max_call: float = 6 * 3600.0
    whiteboard: bool = False
    unanswered: Collection[str] = attrs.field(default=())
    call_record_after: float | None = None
    delivered: list[Event] = attrs.field(factory=list)
    #: session key -> the piece cuts armed during its call: (timer name, cut time, event).
    _cuts: dict[str, list[tuple[str, float, Event]]] = attrs.field(factory=dict, init=False)
    #: session key -> when its media was asked for (startRtc / joinChannel): the server's
    #: call runs from there.
    _since: dict[str, float] = attrs.field(factory=dict, init=False)
    #: Sessions whose end the server has had: its record sent, its files scheduled.
    _recorded: set[str] = attrs.field(factory=set, init=False)
    _filed: set[str] = attrs.field(factory=set, init=False)

    @unanswered.validator
    def _check_unanswered(self, attribute: Any, value: Collection[str]) -> None:
        unknown = sorted(set(value) - set(APIS))
        if isinstance(value, str) or unknown:
            raise ValueError(f"unanswered is a list of SDK calls ({', '.join(APIS)}); got "
                             f"{value!r}")

    def __attrs_post_init__(self) -> None:
        signals.commands(VENDOR).connect(self._on_command, sender=self.runtime, weak=False)
        signals.transition.connect(self._on_transition, sender=self.runtime, weak=False)

    def close(self) -> None:
        signals.commands(VENDOR).disconnect(self._on_command, sender=self.runtime)
        signals.transition.disconnect(self._on_transition, sender=self.runtime)

    def _on_transition(self, sender: Any, *, session: Session, name: str, src: str,
                       dst: str, t: float) -> None:
        if session.vendor != VENDOR:
            return
        if dst in _AFTER and src in _LIVE:
            self._call_record(session, t)
        if dst == "recording" and src != "recording" and self.piece_length:
            self._arm_cuts(session, t)
        elif dst == "awaiting_files":
            self._files(session, t)

    def _at(self, after: float, name: str, session: str, data: dict[str, Any] | None = None
            ) -> None:
        t = self.runtime.clock.now() + after
        ev = parse_event(VENDOR, name, t, data, session)
        self.delivered.append(ev)
        self.runtime.deliver_at(t, ev)

    def _api(self, name: str, session: str) -> bool:
        if name in self.unanswered:
            return False  # the callback is lost: nothing comes
        error = self.errors.get(name)
        if error is not None:
            self._at(self.delay, f"{name}:error", session, {"code": error[0], "desc": error[1]})
            return False
        self._at(self.delay, f"{name}:ok", session)
        return True

    def _on_command(self, sender: Any, *, session: Session, command: Any, t: float,
                    **_: Any) -> None:
        key, name = session.key, command.name
        if name == "call":
            if self._api("call", key) and self.answer != "none":
                reply = "callAccepted" if self.answer == "accept" else "callRejected"
                self._at(self.answer_after, reply, key, {"account": command.callee})
        elif name in ("response", "startRtc", "joinChannel"):
            if name != "response":
                self._since.setdefault(key, t)
            self._api(name, key)

    # ---- the end of a call, as NetEase's server sees it ---------------------------------------
    def end_unseen(self, session_key: str, status: str = "SUCCESS") -> None:
        """The call of ``session_key`` ends now on NetEase's side (the peer hung up, or the
        server ended it) and the client never hears of it: no ``hangup`` arrives. The server
        does what it does at the end of any call: its call record after
        ``call_record_after`` (when set), and the files of a recorded call after
        ``files_after``."""
        session = self.runtime.sessions.get(session_key)
        if session is None:
            raise ValueError(f"no NetEase session {session_key!r} (yet): the fault names a "
                             "session a step starts earlier")
        now = self.runtime.clock.now()
        ctx: NetEaseContext = session.context
        self._call_record(session, now, status)
        if session_key in self._since and records(ctx.record, ctx.type,
                                                  channel=ctx.role == "channel"):
            self._files(session, now, recorded=True)

    def _call_record(self, session: Session, end: float, status: str = "SUCCESS") -> None:
        """The server's call record (抄送 eventType 5) of a call that asked for media, once."""
        key = session.key
        since = self._since.get(key)
        if self.call_record_after is None or since is None or key in self._recorded:
            return
        self._recorded.add(key)
        ctx: NetEaseContext = session.context
        self._at(end - self.runtime.clock.now() + self.call_record_after, CALLBACK, key, {
            "eventType": CALL_EVENT_TYPE, "channelId": ctx.cid or key,
            "createtime": str(int(since * 1000)), "duration": str(round(end - since)),
            "status": status})

    def _body(self, session: Session, piece: int | None, t: float, *,
              whiteboard: bool = False) -> dict[str, Any] | None:
        """One callback body with the files of ``session`` (one piece of each when sliced)."""
        ctx: NetEaseContext = session.context
        channel_role = ctx.role == "channel"
        participants = ("self",) if channel_role else ("caller", "callee")
        users = {"caller": ctx.caller or "caller-user", "callee": ctx.callee or "callee-user",
                 "self": ctx.account or "self-user", "live": ctx.account or "self-user",
                 "mix": "0"}
        channel = ctx.cid or session.key
        stamp = str(int(t * 1000))
        items: list[dict[str, Any]] = []
        for spec in expected_files(ctx.record, ctx.type, participants, channel=channel_role):
            if spec.slot in self.drop:
                continue
            user = users[spec.slot]
            mix = spec.slot == "mix"
            filename = f"{channel}-{user}-{piece or 0}{'-mix' if mix else ''}.{spec.format}"
            item: dict[str, Any] = {
                "channelid": channel, "filename": filename,
                "md5": hashlib.md5(filename.encode(), usedforsecurity=False).hexdigest(),
                "mix": mix, "size": "1024", "type": spec.format,
                "url": f"https://nos.example/{filename}", "user": user, "vid": "1"}
            if spec.slot == "caller":
                item["caller"] = True
            if piece is not None:
                item["pieceindex"] = str(piece)
                item["timestamp"] = stamp
            items.append(item)
        if whiteboard:
            user = ctx.account or ctx.caller or "self-user"
            filename = f"{channel}-{user}.gz"
            items.append({"channelid": channel, "filename": filename,
                          "md5": hashlib.md5(filename.encode(),
                                             usedforsecurity=False).hexdigest(),
                          "mix": False, "size": "512", "type": "gz",
                          "url": f"https://nos.example/{filename}", "user": user})
        if not items:
            return None
        return {"eventType": FILES_EVENT_TYPE, "fileinfo": orjson.dumps(items).decode()}

    def _arm_cuts(self, session: Session, start: float) -> None:
        """The pieces cut during the call, each delivered ``files_after`` after its cut."""
        assert self.piece_length
        cuts = self._cuts.setdefault(session.key, [])
        k = 0
        while (k + 1) * self.piece_length <= self.max_call:
            cut = start + (k + 1) * self.piece_length
            body = self._body(session, k, cut + self.files_after)
            if body is None:
                return
            t = cut + self.files_after
            ev = parse_event(VENDOR, CALLBACK, t, body, session.key)
            name = f"netease-simulator:{session.key}:piece{k}"
            self.runtime.timers.arm(None, name, t, payload=ev)
            self.delivered.append(ev)
            cuts.append((name, cut, ev))
            k += 1

    def _files(self, session: Session, end: float, *, recorded: bool = False) -> None:
        ctx: NetEaseContext = session.context
        if not (ctx.recorded or recorded) or session.key in self._filed:
            return
        self._filed.add(session.key)
        piece: int | None = None
        if self.piece_length:
            piece = 0
            for name, cut, ev in self._cuts.pop(session.key, []):
                if cut < end:
                    piece += 1  # cut during the call: delivered as armed
                else:
                    self.runtime.timers.cancel(None, name)
                    self.delivered.remove(ev)
        body = self._body(session, piece, end + self.files_after, whiteboard=self.whiteboard)
        if body is None:
            return
        after = end - self.runtime.clock.now() + self.files_after
        self._at(after, CALLBACK, session.key, body)
        if self.duplicate:
            self._at(after + 5, CALLBACK, session.key, body)


def random_scenario(rng: random.Random) -> dict[str, Any]:
    """A random scenario in the file's shape (``recstate fuzz netease``): one to three calls,
    each as caller, callee or channel member, recorded with random parameters (000: recordType
    0, 1 or 2, audio and video switches), ended by either side after up to four hours; the
    simulator's faults drawn too (API errors, no answer, a reject, files dropped or
    delivered twice, slow APIs and a late callback service, SDK calls never answered, the
    server's call records, calls ended on the server's side unheard)."""
    steps: list[dict[str, Any]] = []
    apis = ("call", "response", "startRtc", "joinChannel")
    settings: dict[str, Any] = {
        "delay": round(rng.choice((0.1, 0.1, 2.0, 8.0)), 1),
        "answer": rng.choices(("accept", "reject", "none"), weights=(6, 1, 1))[0],
        "answer_after": round(rng.uniform(0.5, 70), 1),
        "files_after": round(rng.choice((5.0, 60.0, 600.0, 2400.0)), 1),
        "drop": sorted(rng.sample(("caller", "callee", "self", "mix"), rng.choice((0, 0, 1, 2)))),
        "duplicate": rng.random() < 0.2,
        "errors": {api: [500, "server error"] for api in apis if rng.random() < 0.08},
        "unanswered": sorted(api for api in apis if rng.random() < 0.05),
        "call_record_after": rng.choice((None, 5.0, 120.0)),
    }
    faults: list[dict[str, Any]] = []

    def at(t: float) -> float:
        return round(max(t, 0.0), 1)

    for n in range(rng.randint(1, 3)):
        record = {"recordType": rng.choice(("0", "1", "2")),
                  "recordAudio": rng.random() < 0.8, "recordVideo": rng.random() < 0.7}
        t = rng.uniform(0, 600)
        length = rng.choice((5.0, 600.0, 5400.0, 14400.0)) * rng.uniform(0.5, 1.2)
        role = rng.choice(("caller", "callee", "channel"))
        cid = str(6290737000999817000 + n)
        if role == "caller":
            key = f"call-{n}"
            steps.append({"at": at(t), "event": "call", "session": key, "data": {
                "callee": f"peer{n}", "type": rng.choice((1, 2)), "account": f"me{n}",
                "record": record}})
        elif role == "callee":
            key = cid
            steps.append({"at": at(t), "event": "beCalling",
                          "data": {"caller": f"peer{n}", "cid": cid, "type": 2}})
            if rng.random() < 0.1:
                steps.append({"at": at(t + 1), "event": "beCalling",  # a retried delivery
                              "data": {"caller": f"peer{n}", "cid": cid, "type": 2}})
            answer = "reject" if rng.random() < 0.15 else "accept"
            steps.append({"at": at(t + 2), "event": answer, "session": key, "data": (
                {"account": f"me{n}", "record": record} if answer == "accept" else {})})
        else:
            key = f"room-{n}"
            steps.append({"at": at(t), "event": "joinChannel", "data": {
                "channelName": key, "rtmpRecord": 0, "account": f"me{n}",
                "recordAudio": int(record["recordAudio"]),
                "recordVideo": int(record["recordVideo"]),
                "recordType": record["recordType"]}})
            if rng.random() < 0.3:
                steps.append({"at": at(t + length / 2), "event": "hangup", "session": key,
                              "data": {"account": f"member{n}"}})
        end = t + length
        if rng.random() < 0.15:  # the call ends on the server's side, unheard here
            faults.append({"at": at(t + 3 + rng.uniform(0, length)), "kind": "hangup_unseen",
                           "session_key": key})
        if role == "channel":
            steps.append({"at": at(end), "event": "leaveChannel", "session": key, "data": {}})
        elif rng.random() < 0.5:  # we hang up, else the peer does
            steps.append({"at": at(end), "event": "hangup", "session": key, "data": {}})
        else:
            steps.append({"at": at(end), "event": "hangup", "session": key,
                          "data": {"account": f"peer{n}"}})
    last = max(s["at"] for s in steps)
    if settings["call_record_after"] is None:
        del settings["call_record_after"]  # a scenario file writes no null
    return {"vendor": "netease", "start": 1_700_000_000, "until": at(last + 3 * 3600),
            "simulator": settings, "steps": steps, "faults": faults}


#: ``recstate simulate FILE``: NetEase's faults are mostly the simulator's settings (``errors``,
#: ``answer``, ``drop``, ``duplicate``, ``delay``, ``unanswered``...), given in the scenario's
#: [simulator] table; ``hangup_unseen`` (``session_key``, ``status``) happens at its ``at``.
SCENARIO_HOOKS = ScenarioHooks(simulator=NetEaseSimulator, close="close",
                               faults={"hangup_unseen": "end_unseen"}, random=random_scenario)


# ---- recstate serve ----------------------------------------------------------------------------

#: The environment variable ``recstate serve`` reads the AppSecret from (never an argument:
#: the command line of a process is visible to every user of the machine).
SECRET_ENV = "RECSTATE_NETEASE_APP_SECRET"  # noqa: S105 - the variable's name, not a secret
CALLBACK_PATH = "/netease/callback"


def serve_endpoint(runtime: Runtime | None, handle: Callable[[Event], None] | None,
                   clock: Clock | None) -> tuple[str, Any]:
    """``recstate serve``'s NetEase endpoint (entry point ``recstate.endpoints``): the
    callback service's URL path and its ASGI app, delivering through ``handle`` after the
    channel routes of ``runtime``; a 503 that says what to set when no AppSecret is
    configured. Called with ``None``s, it only names the path."""
    import os

    secret = os.environ.get(SECRET_ENV)
    if runtime is None or handle is None:
        return CALLBACK_PATH, None
    if not secret:
        async def off(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                await _answer(send, 503, {"error": "the NetEase callback endpoint is off: set "
                                          f"{SECRET_ENV} to the AppSecret of the AppKey"})
        return CALLBACK_PATH, off
    router = ChannelRoutes(runtime)
    receiver = CallbackReceiver(secret, clock=clock or SystemClock())

    def deliver(events: list[Event]) -> None:
        for ev in events:
            handle(router.route(ev))
    return CALLBACK_PATH, CallbackApp(receiver, deliver)
