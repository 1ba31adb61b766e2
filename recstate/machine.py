"""The declarative base every vendor machine is written in.

A machine class declares, once: its states, its transitions (with guards and callbacks, by
name), the timers tied to states, the events a state ignores, and how its states map to the
canonical recording states. The class is checked when it is defined: a trigger that shadows a
model attribute, an unreachable state or a callback name that does not exist is a
:class:`~recstate.errors.DefinitionError` at import time, not a surprise in production.

``transitions`` stays the engine, but sessions are not its models: each Runtime builds one
``transitions.Machine`` per machine class with a single model (an instance of the class), and
points that model at a session's state around each trigger. A session is then a small record,
and adding one costs a dict insert instead of ``add_model`` (a list scan in transitions).

Callbacks decide; they never perform I/O. What they want done (commands, timers, notices,
file changes) goes to an outbox that the Runtime carries out once the handling has completed.
A handling that raises carries out nothing and leaves the session in the state it had.
"""

from __future__ import annotations

import inspect
from collections.abc import Collection, Iterable, Mapping, Sequence
from functools import partial
from typing import Any, ClassVar, Protocol, final

import attrs
import transitions
from transitions.core import Machine as TransitionsMachine

from recstate.errors import DefinitionError
from recstate.events import Command
from recstate.recording import RECORDING_STATES, FileKind, RecordingFile

__all__ = ["DataOnly", "Engine", "Machine", "Moment", "Outcome", "Rejected", "SessionView",
           "ignore", "on", "state"]

Callbacks = str | Sequence[str] | None

#: The state names a machine's ``finished`` defaults to.
FINISHED_NAMES: frozenset[str] = frozenset({"stopped", "failed", "complete", "ended"})


@attrs.frozen
class Moment:
    """Something of a session that the timeline marks beyond its commands, notices, errors and
    timers (a CloudRoom mixer's layout changes): when, a ``kind`` (the mark's class), a short
    ``name`` and the ``text`` shown on hover. Plain text: no secret may be in it."""

    t: float
    kind: str
    name: str
    text: str


class SessionView(Protocol):
    """What a handling reads and writes of its session. :class:`recstate.session.Session` is
    the one the Runtime passes; it is written against this module (a session has a machine
    class), so this module names only what it needs of it and the two import one way."""

    key: str
    state: str
    recording: str
    context: Any

    @property
    def vendor(self) -> str: ...

    @property
    def files(self) -> list[RecordingFile]: ...


def on(trigger: str, source: str | Sequence[str], dest: str | None = None, *,
       conditions: Callbacks = None, unless: Callbacks = None, before: Callbacks = None,
       after: Callbacks = None) -> dict[str, Any]:
    """One transition: ``on("callAccepted", "calling", "connecting", after="send_start_rtc")``.

    ``dest=None`` is an internal transition: the callbacks run, the state stays.
    """
    spec: dict[str, Any] = {"trigger": trigger, "source": source, "dest": dest}
    for key, value in (("conditions", conditions), ("unless", unless), ("before", before),
                       ("after", after)):
        if value:
            spec[key] = [value] if isinstance(value, str) else list(value)
    return spec


def ignore(trigger: str, source: str | Sequence[str]) -> dict[str, Any]:
    """An event these states accept and do nothing with (so it is not a violation)."""
    return {"trigger": trigger, "source": source, "dest": None}


@attrs.frozen
class StateSpec:
    """A state with what is tied to it: timers armed on entry and cancelled on exit."""

    name: str
    timers: Mapping[str, float | str] = attrs.field(factory=dict)
    on_enter: tuple[str, ...] = ()
    on_exit: tuple[str, ...] = ()


def state(name: str, *, timers: Mapping[str, float | str] | None = None,
          on_enter: Callbacks = None, on_exit: Callbacks = None) -> StateSpec:
    """A state with tied timers: ``state("recording", timers={"watchdog": "no_data_timeout"})``.

    A timer's duration is seconds, or the name of a field of the machine's options.
    """
    def names(value: Callbacks) -> tuple[str, ...]:
        return () if not value else ((value,) if isinstance(value, str) else tuple(value))
    return StateSpec(name, dict(timers or {}), names(on_enter), names(on_exit))


@attrs.frozen
class DataOnly:
    """What an event does in ``state`` when it only says that data arrived (a media
    heartbeat): the context field ``field`` takes the handling's time and the timer ``timer``
    is armed again ``after`` seconds later (or the options field of that name), nothing
    else: no command, notice, file or change of state. Declared in a machine's
    ``data_only`` so that a replay can handle such an event without building it
    (:meth:`recstate.routing.Routing.note_data`); the machine's own transition must do just
    that, which the tests hold by replaying every example trace both ways."""

    state: str
    field: str
    timer: str
    after: float | str


@final
@attrs.define(slots=True)
class Rejected:
    """Why an event was not taken: no transition from this state, or every guard said no."""

    reason: str


class Outcome:
    """What one handling asked for, in the order it asked."""

    __slots__ = ("effects",)

    def __init__(self) -> None:
        # ("command", cmd) | ("arm", name, due, payload, every) | ("cancel", name)
        # | ("notice", level, code, message) | ("file", change, RecordingFile, changes)
        self.effects: list[tuple[Any, ...]] = []


@attrs.define
class NoOptions:
    """Options of a machine that has none."""


@attrs.define(slots=True)
class NoContext:
    """Context of a machine that keeps none."""


class Machine:
    """Base class of every vendor machine. Subclasses declare, as class attributes:

    - ``vendor``: the vendor name; ``states``: names or :func:`state` specs; ``initial``;
    - ``transitions``: :func:`on` / :func:`ignore` specs;
    - ``recording_states``: state -> canonical recording state (a state left out keeps the
      previous canonical state: leaving a room does not change what the recording was);
    - ``context``: an attrs class, one instance per session (its data: plain, JSON-able);
    - ``options``: an attrs class of settings (timeouts, retry delays), one per runtime.

    Callbacks are methods taking the event: ``def send_start(self, ev) -> None``. Inside them,
    ``self.session``, ``self.ctx``, ``self.options`` and ``self.now`` describe the handling, and
    :meth:`send`, :meth:`arm`, :meth:`cancel`, :meth:`notice`, :meth:`open_file`,
    :meth:`close_file` and :meth:`update_file` ask for effects.
    """

    vendor: ClassVar[str] = ""
    machine_name: ClassVar[str] = ""
    states: ClassVar[Sequence[str | StateSpec]] = ()
    initial: ClassVar[str] = ""
    transitions: ClassVar[Sequence[Mapping[str, Any]]] = ()
    recording_states: ClassVar[Mapping[str, str]] = {}
    context: ClassVar[type[Any]] = NoContext
    options: ClassVar[type[Any]] = NoOptions
    #: Events that in one state only note that data arrived (:class:`DataOnly`), by name.
    data_only: ClassVar[Mapping[str, DataOnly]] = {}
    #: The states in which a session is finished: once in one with no timer left, the
    #: Runtime closes it after its retention period. None: those named ``stopped``,
    #: ``failed``, ``complete`` or ``ended``.
    finished: ClassVar[Collection[str] | None] = None

    # Derived at class definition.
    _state_specs: ClassVar[dict[str, StateSpec]]
    _accepts: ClassVar[dict[str, frozenset[str]]]

    #: Data shared by every session of this machine class in one runtime: derived indexes
    #: only (which user records where), never the truth, which is the sessions' own. A
    #: machine that keeps one rebuilds its entries in :meth:`restored`.
    shared: dict[str, Any]

    # Set by the engine around each handling.
    state: str
    session: SessionView
    ctx: Any
    opts: Any
    now: float
    _outcome: Outcome

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.states:  # an abstract intermediate class
            return
        _check_definition(cls)

    # ---- effects a callback may ask for -------------------------------------------------
    def send(self, cmd: Command) -> None:
        """Send a command once this handling completes."""
        self._outcome.effects.append(("command", cmd))

    def arm(self, name: str, after: float, payload: Any = None, every: float | None = None
            ) -> None:
        """Arm (or re-arm) this session's timer ``name`` to fall due ``after`` seconds from now.
        When it falls due, the machine receives the trigger ``name``."""
        self._outcome.effects.append(("arm", name, self.now + after, payload, every))

    def arm_at(self, name: str, due: float, payload: Any = None, every: float | None = None
               ) -> None:
        """Arm (or re-arm) the timer ``name`` to fall due at the absolute time ``due``."""
        self._outcome.effects.append(("arm", name, due, payload, every))

    def cancel(self, name: str) -> None:
        self._outcome.effects.append(("cancel", name))

    def notice(self, code: int | str, message: str, level: str = "error") -> None:
        """Record an error-level (or ``warning`` / ``info``) notice against this session."""
        self._outcome.effects.append(("notice", level, code, message))

    def violation(self, reason: str) -> None:
        """Report that what the vendor did breaks its documented rules (a count of file IDs
        that does not match, say): recorded like an event the state does not accept."""
        self._outcome.effects.append(("violation", reason))

    def open_file(self, *, id: str, kind: FileKind, format: str,
                  participant: str | None = None, start: float | None = None,
                  end: float | None = None, status: str = "open") -> RecordingFile:
        """Add a file to the session: ``open`` (starting now unless ``start`` says), or one
        known only afterwards (``expected``, or ``closed`` with an unknown start)."""
        f = RecordingFile(id=id, session=self.session.key, vendor=self.vendor, kind=kind,
                          format=format, participant=participant,
                          start=self.now if start is None and status == "open" else start,
                          end=end, status=status)  # type: ignore[arg-type]
        self._outcome.effects.append(("file", "opened" if status == "open" else status, f, {}))
        return f

    def close_file(self, f: RecordingFile, end: float | None = None) -> None:
        self.update_file(f, "closed", end=self.now if end is None else end, status="closed")

    def update_file(self, f: RecordingFile, change: str, **changes: Any) -> None:
        """Change fields of a file (``status``, ``url``, ``size``, ``id``...) and report it as
        ``change`` (``closed``, ``ready``, ``lost``, ``failed``, ``updated``)."""
        self._outcome.effects.append(("file", change, f, changes))

    def restored(self, session: SessionView) -> None:
        """Called when ``session`` comes back from a snapshot: re-enter it into
        :attr:`shared` indexes. The default keeps none."""

    @property
    def files(self) -> list[RecordingFile]:
        return self.session.files

    @classmethod
    def summary(cls, session: SessionView) -> dict[str, Any] | None:
        """What the replay report shows of ``session`` beyond its state, files, commands and
        errors (a CloudRoom mixer's layout history and outputs): plain JSON-able data, or
        None (the default) for nothing."""
        return None

    @classmethod
    def moments(cls, session: SessionView) -> list[Moment]:
        """What the timeline marks of ``session`` beyond what every trace has (commands,
        notices, errors, timers): a CloudRoom mixer's layout changes. Nothing by default."""
        return []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} engine model>"

    # ---- introspection ---------------------------------------------------------------------
    @classmethod
    def state_names(cls) -> list[str]:
        return list(cls._state_specs)

    @classmethod
    def triggers(cls) -> dict[str, list[str]]:
        """Each event this machine takes, with the states that accept it."""
        return {name: sorted(src) for name, src in sorted(cls._accepts.items())}

    @classmethod
    def qualified_name(cls) -> str:
        return f"{cls.vendor}.{cls.machine_name or cls.__name__}"

    @classmethod
    def definition(cls, **machine_kwargs: Any) -> TransitionsMachine:
        """A definition-only ``transitions.Machine`` (no model), for diagrams and checks."""
        return TransitionsMachine(model=None, states=[s.name for s in cls._state_specs.values()],
                                   transitions=[_plain(t) for t in cls.transitions],
                                   initial=cls.initial, auto_transitions=False,
                                   **machine_kwargs)


def _plain(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k in ("trigger", "source", "dest")}


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)]


def sources_of(spec: Mapping[str, Any], all_states: Iterable[str]) -> list[str]:
    """The states a transition spec starts from, with ``*`` expanded."""
    source = spec["source"]
    if source == "*":
        return list(all_states)
    return [source] if isinstance(source, str) else list(source)


def _check_definition(cls: type[Machine]) -> None:
    """Fail at class definition with a message that says what is wrong and where."""
    where = f"machine {cls.__qualname__}"
    if not cls.vendor:
        raise DefinitionError(f"{where}: set the class attribute vendor = '<vendor name>'")
    specs: dict[str, StateSpec] = {}
    for s in cls.states:
        spec = s if isinstance(s, StateSpec) else StateSpec(s)
        if spec.name in specs:
            raise DefinitionError(f"{where}: state {spec.name!r} is declared twice")
        specs[spec.name] = spec
    if cls.initial not in specs:
        raise DefinitionError(f"{where}: initial state {cls.initial!r} is not one of the "
                              f"states {list(specs)}")
    missing: list[str] = []

    def need(name: str, what: str) -> None:
        if not callable(getattr(cls, name, None)):
            missing.append(f"{name!r} ({what})")

    # Attributes set per handling (state, session, ctx, opts, now) are only annotated, and
    # transitions binds ``trigger`` itself: hasattr() misses them all.
    reserved = {n for k in cls.__mro__ for n in inspect.get_annotations(k)}
    reserved.add("trigger")
    accepts: dict[str, set[str]] = {}
    edges: dict[str, set[str]] = {name: set() for name in specs}
    for spec_t in cls.transitions:
        trigger = spec_t.get("trigger")
        if not isinstance(trigger, str) or not trigger:
            raise DefinitionError(f"{where}: a transition has no trigger: {dict(spec_t)}")
        if hasattr(cls, trigger) or trigger in reserved:
            raise DefinitionError(
                f"{where}: trigger {trigger!r} shadows the attribute {cls.__name__}.{trigger}; "
                "rename the trigger or the attribute")
        dest = spec_t.get("dest")
        for src in sources_of(spec_t, specs):
            if src not in specs:
                raise DefinitionError(f"{where}: transition {trigger!r} starts from unknown "
                                      f"state {src!r}; states are {list(specs)}")
            accepts.setdefault(trigger, set()).add(src)
            if dest is not None:
                edges[src].add(dest)
        if dest is not None and dest not in specs:
            raise DefinitionError(f"{where}: transition {trigger!r} goes to unknown state "
                                  f"{dest!r}; states are {list(specs)}")
        for key in ("conditions", "unless", "before", "after", "prepare"):
            for name in _names(spec_t.get(key)):
                need(name, f"{key} of {trigger!r}")
    for spec in specs.values():
        for name in spec.on_enter:
            need(name, f"on_enter of state {spec.name!r}")
        for name in spec.on_exit:
            need(name, f"on_exit of state {spec.name!r}")
        for timer, duration in spec.timers.items():
            if isinstance(duration, str) and duration not in attrs.fields_dict(cls.options):
                missing.append(f"{duration!r} (duration of timer {timer!r} in state "
                               f"{spec.name!r}: not a field of {cls.options.__name__})")
        if hasattr(cls, f"is_{spec.name}"):
            raise DefinitionError(f"{where}: state {spec.name!r} shadows the attribute "
                                  f"{cls.__name__}.is_{spec.name}")
    if missing:
        raise DefinitionError(f"{where}: callbacks that do not exist: {', '.join(missing)}; "
                              "define them as methods or fix the names")
    seen, todo = {cls.initial}, [cls.initial]
    while todo:
        for nxt in edges[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    unreachable = [name for name in specs if name not in seen]
    if unreachable:
        raise DefinitionError(f"{where}: unreachable states {unreachable} (no transition leads "
                              f"there from {cls.initial!r}); add one or remove the state")
    bad = {k: v for k, v in cls.recording_states.items()
           if k not in specs or v not in RECORDING_STATES}
    if bad:
        raise DefinitionError(f"{where}: recording_states {bad}: keys must be states, values "
                              f"one of {RECORDING_STATES}")
    if not attrs.has(cls.context) or not attrs.has(cls.options):
        raise DefinitionError(f"{where}: context and options must be attrs classes")
    for name, only in cls.data_only.items():
        rows = [t for t in cls.transitions if t.get("trigger") == name
                and only.state in sources_of(t, specs)]
        if len(rows) != 1 or rows[0].get("dest") is not None or any(
                rows[0].get(k) for k in ("conditions", "unless", "before", "prepare")):
            raise DefinitionError(f"{where}: data_only {name!r} needs one internal transition "
                                  f"from {only.state!r} with no guard")
        if only.field not in attrs.fields_dict(cls.context) or (
                isinstance(only.after, str) and only.after not in attrs.fields_dict(
                    cls.options)):
            raise DefinitionError(f"{where}: data_only {name!r}: {only.field!r} must be a "
                                  f"field of {cls.context.__name__} and {only.after!r} one of "
                                  f"{cls.options.__name__} (or seconds)")
    cls._state_specs = specs
    cls._accepts = {k: frozenset(v) for k, v in accepts.items()}
    if not cls.machine_name:
        cls.machine_name = cls.__name__


#: A compiled transition: (conditions as (callable, expected result), before, the source's
#: on_exit, dest or None for an internal transition, the dest's on_enter, after).
Row = tuple[tuple[tuple[Any, Any], ...], tuple[Any, ...], tuple[Any, ...], str | None,
            tuple[Any, ...], tuple[Any, ...]]


class Engine:
    """One runtime's ``transitions.Machine`` for one machine class, with its single model.

    ``compiled`` (the default) runs each trigger from a (state, trigger) table compiled from
    the transitions Machine's own Event, Transition and State objects, in transitions' order
    (conditions, before, exit, state change, enter, after): transitions stays the definition
    and its semantics, without its per-event bookkeeping (``EventData``, the ``_process``
    partial, a dozen disabled-logger calls), which costs as much as all the rest of a
    dispatch. ``compiled=False`` runs every trigger through ``transitions.Event.trigger``; the
    tests hold that both give the same traces, byte for byte. A transition with ``prepare``
    callbacks, or a machine with machine-level callbacks, always takes transitions' path.
    """

    __slots__ = ("bare_context", "cls", "compiled", "events", "finished", "machine", "model",
                 "quick", "recording_states", "table")

    def __init__(self, cls: type[Machine], options: Any = None, *, compiled: bool = True
                 ) -> None:
        self.cls = cls
        model = cls()
        model.opts = options if options is not None else cls.options()
        model.shared = {}
        states = []
        for spec in cls._state_specs.values():
            enter: list[Any] = list(spec.on_enter)
            leave: list[Any] = list(spec.on_exit)
            for timer, duration in spec.timers.items():
                seconds = float(getattr(model.opts, duration) if isinstance(duration, str)
                                else duration)
                enter.append(partial(_arm_tied, model, timer, seconds))
                leave.append(partial(_cancel_tied, model, timer))
            states.append(transitions.State(spec.name, on_enter=enter, on_exit=leave))
        self.machine = transitions.Machine(
            model=model, states=states, transitions=[dict(t) for t in cls.transitions],
            initial=cls.initial, auto_transitions=False, queued=False, send_event=False,
            ignore_invalid_triggers=False, model_override=False)
        self.model = model
        self.events: dict[str, transitions.core.Event] = dict(self.machine.events)
        self.recording_states = dict(cls.recording_states)
        self.finished: frozenset[str] = frozenset(
            cls.finished if cls.finished is not None
            else (s for s in cls._state_specs if s in FINISHED_NAMES))
        self.compiled = compiled
        #: The machine's context class when it has no field (nothing for a handling to
        #: change, so nothing to keep before one), else None.
        self.bare_context: type | None = None if attrs.fields(cls.context) else cls.context
        self.table: dict[tuple[str, str], tuple[Row, ...] | None] = (
            self._compile() if compiled else {})
        #: What the runtime may do without the engine (compiled only): by trigger, the
        #: states in which it is an internal transition with no guard and no callback
        #: (``None``: nothing happens) or the machine's :class:`DataOnly` for it (the field
        #: takes the time and the timer is armed that many seconds later: ``(field, timer,
        #: seconds)``). ``recstate.observe`` empties it when it instruments the table.
        self.quick: dict[str, dict[str, tuple[str, str, float] | None]] = (
            self._quick() if compiled else {})

    def _quick(self) -> dict[str, dict[str, tuple[str, str, float] | None]]:
        quick: dict[str, dict[str, tuple[str, str, float] | None]] = {}
        for (source, name), rows in self.table.items():
            if rows is None or len(rows) != 1:
                continue
            conditions, before, _leave, dest, _enter, after = rows[0]
            if conditions or before or dest is not None:
                continue
            only = self.cls.data_only.get(name)
            if only is not None and only.state == source:
                seconds = float(getattr(self.model.opts, only.after)
                                if isinstance(only.after, str) else only.after)
                quick.setdefault(name, {})[source] = (only.field, only.timer, seconds)
            elif not after:
                quick.setdefault(name, {})[source] = None
        return quick

    def _compile(self) -> dict[tuple[str, str], tuple[Row, ...] | None]:
        machine, model = self.machine, self.model

        def bind(funcs: Iterable[Any]) -> tuple[Any, ...]:
            return tuple(getattr(model, f) if isinstance(f, str) else f for f in funcs)

        machine_level = (machine.prepare_event or machine.before_state_change
                         or machine.after_state_change or machine.finalize_event
                         or machine.on_exception or machine.on_final)
        table: dict[tuple[str, str], tuple[Row, ...] | None] = {}
        for name, event in machine.events.items():
            for source, transitions_from in event.transitions.items():
                if machine_level or any(t.prepare for t in transitions_from):
                    table[(source, name)] = None  # transitions' own path
                    continue
                rows: list[Row] = []
                for t in transitions_from:
                    dest = t.dest
                    rows.append((
                        tuple((bind((c.func,))[0], c.target) for c in t.conditions),
                        bind(t.before),
                        () if dest is None else bind(machine.get_state(source).on_exit),
                        dest,
                        () if dest is None else bind(machine.get_state(dest).on_enter),
                        bind(t.after)))
                table[(source, name)] = tuple(rows)
        return table

    def handle(self, session: SessionView, ev: Any, name: str, now: float
               ) -> Outcome | Rejected:
        """Run ``name`` for ``session``; the session's state is updated only on success."""
        current = session.state
        key = (current, name)
        table = self.table
        if key in table:
            rows = table[key]
        elif self.compiled or name not in self.events or (
                current not in self.events[name].transitions):
            return self._rejected(current, name)
        else:
            rows = None
        model = self.model
        outcome = Outcome()
        model.state = current
        model.session = session
        model.ctx = session.context
        model.now = now
        model._outcome = outcome
        if rows is None:
            if not self.events[name].trigger(model, ev):
                return self._refused(current, name)
            session.state = model.state
            return outcome
        for conditions, before, leave, dest, enter, after in rows:
            for check, target in conditions:
                if check(ev) != target:
                    break
            else:
                for f in before:
                    f(ev)
                if dest is not None:
                    for f in leave:
                        f(ev)
                    model.state = dest
                    for f in enter:
                        f(ev)
                for f in after:
                    f(ev)
                session.state = model.state
                return outcome
        return self._refused(current, name)

    def _rejected(self, current: str, name: str) -> Rejected:
        if name not in self.events:
            return Rejected(f"the {self.cls.qualified_name()} machine takes no event {name!r}")
        accepted = ", ".join(sorted(self.cls._accepts.get(name, ()))) or "none"
        return Rejected(f"not accepted in state {current!r} (accepted in: {accepted})")

    def _refused(self, current: str, name: str) -> Rejected:
        return Rejected(f"every transition for {name!r} from {current!r} was refused by its "
                        "guards")


def _arm_tied(model: Machine, name: str, seconds: float, *_: Any) -> None:
    model.arm(name, seconds)


def _cancel_tied(model: Machine, name: str, *_: Any) -> None:
    model.cancel(name)
