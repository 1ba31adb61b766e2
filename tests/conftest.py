"""Shared fixtures, and "testv": a tiny vendor of our own so that the core's tests do not
depend on a real vendor's machine.

The Phone machine: ``idle -dial-> ringing -answer-> talking -hangup/watchdog-> ended``.
``talking`` has a tied 60 s no-data watchdog (reset by ``mediaData``) and, armed on entry, a
repeating ``rollover`` timer (every 10 s) that closes the open file and opens the next one.
``schedule`` / ``unschedule`` arm and cancel the timers ``alarm_a`` .. ``alarm_c`` by name;
``boom`` raises in its callback after asking for effects; ``login`` sends a command full of
secrets; ``transfer`` has a guard that says no.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest
from blinker import NamedSignal

from recstate import signals
from recstate.clock import ManualClock
from recstate.events import Command, Event, command, event
from recstate.machine import Machine, ignore, on, state
from recstate.runtime import Runtime
from recstate.trace import Record
from recstate.vendors import Vendor, register_vendor

VENDOR = "testv"
T0 = 1_700_000_000.0  # where the plugin's recstate_clock starts


# ---- events -------------------------------------------------------------------------------
@event(VENDOR, "dial")
@attrs.frozen(kw_only=True)
class Dial(Event):
    number: str = ""


@event(VENDOR, "answer")
@attrs.frozen(kw_only=True)
class Answer(Event):
    pass


@event(VENDOR, "hangup")
@attrs.frozen(kw_only=True)
class Hangup(Event):
    pass


@event(VENDOR, "mediaData")
@attrs.frozen(kw_only=True)
class MediaData(Event):
    size: int = 0


@event(VENDOR, "ping")
@attrs.frozen(kw_only=True)
class Ping(Event):
    seq: int = 0


@event(VENDOR, "boom")
@attrs.frozen(kw_only=True)
class Boom(Event):
    pass


@event(VENDOR, "transfer")
@attrs.frozen(kw_only=True)
class Transfer(Event):
    to: str = ""


@event(VENDOR, "kick")
@attrs.frozen(kw_only=True)
class Kick(Event):
    """Registered, but no transition of the Phone takes it."""


@event(VENDOR, "schedule")
@attrs.frozen(kw_only=True)
class Schedule(Event):
    names: list[str] = attrs.field(factory=list)
    delays: list[float] = attrs.field(factory=list)
    every: float | None = None


@event(VENDOR, "unschedule")
@attrs.frozen(kw_only=True)
class Unschedule(Event):
    names: list[str] = attrs.field(factory=list)


@event(VENDOR, "login")
@attrs.frozen(kw_only=True)
class Login(Event):
    user: str = ""
    secretKey: str = ""
    accessKey: str = ""
    token: str = ""
    signature: str = ""
    AppSecret: str = ""
    auth: dict[str, Any] = attrs.field(factory=dict)
    keys: list[dict[str, Any]] = attrs.field(factory=list)


# ---- commands -----------------------------------------------------------------------------
@command(VENDOR, "ring")
@attrs.frozen(kw_only=True)
class Ring(Command):
    number: str


@command(VENDOR, "progress")
@attrs.frozen(kw_only=True)
class Progress(Command):
    number: str


@command(VENDOR, "connected")
@attrs.frozen(kw_only=True)
class Connected(Command):
    pass


@command(VENDOR, "wipe")
@attrs.frozen(kw_only=True)
class Wipe(Command):
    pass


@command(VENDOR, "credentials")
@attrs.frozen(kw_only=True)
class Credentials(Command):
    user: str
    secretKey: str
    token: str
    auth: dict[str, Any]


# ---- the machine ----------------------------------------------------------------------------
@attrs.define
class PhoneOptions:
    no_data_timeout: float = 60.0
    roll_every: float = 10.0


@attrs.define
class PhoneContext:
    number: str | None = None
    data: int = 0
    rollovers: int = 0
    touched: int = 0
    file_seq: int = 0
    log: list[str] = attrs.field(factory=list)


ALARMS = ("alarm_a", "alarm_b", "alarm_c")


class Phone(Machine):
    vendor = VENDOR
    states = (
        "idle",
        "ringing",
        state("talking", timers={"watchdog": "no_data_timeout"}, on_enter="start_talking",
              on_exit="stop_talking"),
        "ended",
    )
    initial = "idle"
    transitions = (
        on("dial", "idle", "ringing", after="send_ring"),
        on("answer", "ringing", "talking", after="send_connected"),
        on("hangup", ["ringing", "talking"], "ended"),
        on("mediaData", "talking", None, after="got_data"),
        on("watchdog", "talking", "ended", after="timed_out"),
        on("rollover", "talking", None, after="roll"),
        on("transfer", "talking", "ringing", conditions="can_transfer"),
        on("boom", ["idle", "ringing", "talking"], "ended", before="touch", after="explode"),
        ignore("ping", "idle"),
        on("ping", ["ringing", "talking"], None, after="log_event"),
        on("schedule", "*", None, after="schedule_alarms"),
        on("unschedule", "*", None, after="unschedule_alarms"),
        *(on(name, "*", None, after="log_event") for name in ALARMS),
        on("login", "*", None, after="send_credentials"),
    )
    recording_states = {"idle": "idle", "ringing": "starting", "talking": "recording",
                        "ended": "stopped"}
    context = PhoneContext
    options = PhoneOptions

    def send_ring(self, ev: Dial) -> None:
        self.ctx.number = ev.number
        self.send(Ring(number=ev.number))
        self.send(Progress(number=ev.number))

    def send_connected(self, ev: Any) -> None:
        self.send(Connected())

    def got_data(self, ev: MediaData) -> None:
        self.ctx.data += ev.size
        self.arm("watchdog", self.opts.no_data_timeout)  # the watchdog reset

    def timed_out(self, ev: Any) -> None:
        self.ctx.log.append(f"watchdog@{self.now}")

    def start_talking(self, ev: Any) -> None:
        self.arm("rollover", self.opts.roll_every, every=self.opts.roll_every)
        self._open_next()

    def stop_talking(self, ev: Any) -> None:
        self.cancel("rollover")
        self._close_current()

    def roll(self, ev: Any) -> None:
        self.ctx.rollovers += 1
        self.ctx.log.append(f"rollover@{self.now}")
        self._close_current()
        self._open_next()

    def _open_next(self) -> None:
        self.ctx.file_seq += 1
        self.open_file(id=f"{self.session.key}-{self.ctx.file_seq}", kind="mixed", format="mp4")

    def _close_current(self) -> None:
        for f in self.files:
            if f.status == "open":
                self.close_file(f)

    def can_transfer(self, ev: Any) -> bool:
        return False

    def touch(self, ev: Any) -> None:
        self.ctx.touched += 1

    def explode(self, ev: Any) -> None:
        self.send(Wipe())
        self.arm("alarm_a", 1.0)
        raise RuntimeError("the phone caught fire")

    def log_event(self, ev: Any) -> None:
        self.ctx.log.append(f"{ev.name}@{self.now}")

    def schedule_alarms(self, ev: Schedule) -> None:
        for name, delay in zip(ev.names, ev.delays, strict=True):
            self.arm(name, delay, every=ev.every)

    def unschedule_alarms(self, ev: Unschedule) -> None:
        for name in ev.names:
            self.cancel(name)

    def send_credentials(self, ev: Login) -> None:
        self.send(Credentials(user=ev.user, secretKey=ev.secretKey, token=ev.token,
                              auth=ev.auth))


def _session_key(ev: Any) -> str | None:
    return getattr(ev, "number", None) or None


TESTV = register_vendor(Vendor(name=VENDOR, machines=(Phone,), machine_for=lambda ev: Phone,
                               session_key=_session_key, doc="the core tests' own vendor"))

tv = types.SimpleNamespace(
    VENDOR=VENDOR, T0=T0, ALARMS=ALARMS, Dial=Dial, Answer=Answer, Hangup=Hangup,
    MediaData=MediaData, Ping=Ping, Boom=Boom, Transfer=Transfer, Kick=Kick, Schedule=Schedule,
    Unschedule=Unschedule, Login=Login, Ring=Ring, Progress=Progress, Connected=Connected,
    Wipe=Wipe, Credentials=Credentials, Phone=Phone, PhoneContext=PhoneContext,
    PhoneOptions=PhoneOptions, TESTV=TESTV,
)


# ---- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(name="tv")
def tv_fixture() -> types.SimpleNamespace:
    """The test vendor's classes and constants."""
    return tv


@pytest.fixture
def records() -> list[Record]:
    """What a runtime's tracer was given (see ``lenient``)."""
    return []


@pytest.fixture
def lenient(recstate_clock: ManualClock, records: list[Record]) -> Runtime:
    """A lenient Runtime on ``recstate_clock`` whose trace records go to ``records``."""
    return Runtime(recstate_clock, strict=False, tracer=records.append)


@pytest.fixture
def listen() -> Iterator[Callable[[NamedSignal, Runtime], list[dict[str, Any]]]]:
    """``listen(signal, runtime)`` -> a list that collects the kwargs of each send, for the
    duration of the test."""
    with contextlib.ExitStack() as stack:

        def connect(signal: NamedSignal, rt: Runtime) -> list[dict[str, Any]]:
            got: list[dict[str, Any]] = []

            def receiver(sender: Any, **kwargs: Any) -> None:
                got.append(kwargs)

            stack.enter_context(signal.connected_to(receiver, sender=rt))
            return got

        yield connect


def kinds(records: list[Record], kind: str) -> list[Record]:
    return [r for r in records if r.kind == kind]


@pytest.fixture
def transitions_of() -> Callable[[list[Record]], list[tuple[str | None, str, str, str]]]:
    """(session, trigger, src, dst) of each transition record, in order."""

    def pick(recs: list[Record]) -> list[tuple[str | None, str, str, str]]:
        return [(r.session, r.name, r.data["src"], r.data["dst"])  # type: ignore[index]
                for r in recs if r.kind == "transition"]

    return pick


__all__ = ["T0", "VENDOR", "kinds", "signals", "tv"]
