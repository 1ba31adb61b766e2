"""The machine base and its Engine (recstate/machine.py), pinned where mutation testing found
them loose (issue 8): a transition with ``prepare`` callbacks takes transitions' own path,
the uncompiled path refuses as the compiled one does, options reach the callbacks, a timer
duration may be plain seconds, ``finished`` states, the definition machine and the model's
repr."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from recstate.clock import ManualClock
from recstate.errors import Violation
from recstate.events import Event, event
from recstate.machine import Engine, Machine, on, state
from recstate.runtime import Runtime
from recstate.session import Session
from recstate.vendors import Vendor

T0 = 1_700_000_000.0


@attrs.define
class Ctx:
    prepared: int = 0
    seen: list[str] = attrs.field(factory=list)


class Gate(Machine):
    """``closed -open-> opened``: ``open`` has a ``prepare`` callback that makes its guard
    true (transitions runs prepare before the guards); ``opened`` has a 30 s timer given in
    plain seconds; ``shut`` is finished because the class says so."""

    vendor = "gatev"
    states = ("closed", state("opened", timers={"autoclose": 30}), "shut")
    initial = "closed"
    transitions = (
        {"trigger": "open", "source": "closed", "dest": "opened", "prepare": ["get_ready"],
         "conditions": ["is_ready"]},
        on("autoclose", "opened", "shut", after="note"),
    )
    context = Ctx
    finished = ("shut",)

    def get_ready(self, ev: Any) -> None:
        self.ctx.prepared += 1

    def is_ready(self, ev: Any) -> bool:
        return bool(self.ctx.prepared)

    def note(self, ev: Any) -> None:
        self.ctx.seen.append(f"{ev.name}@{self.now}")


@event("gatev", "open")
@attrs.frozen(kw_only=True)
class Open(Event):
    pass


GATES = Vendor(name="gatev", machines=(Gate,), machine_for=lambda ev: Gate,
               session_key=lambda ev: None)


def session(cls: type[Machine], key: str = "g") -> Session:
    return Session(key, cls)


@pytest.mark.parametrize("compiled", [True, False])
def test_prepare_callbacks_run_before_the_guards(compiled):
    engine = Engine(Gate, compiled=compiled)
    s = session(Gate)
    outcome = engine.handle(s, None, "open", T0)
    assert s.state == "opened"
    assert s.context.prepared == 1
    assert [e[:3] for e in outcome.effects] == [("arm", "autoclose", T0 + 30)]  # type: ignore[union-attr]


def test_a_timer_duration_in_plain_seconds_is_armed_for_that_long():
    rt = Runtime(ManualClock(T0), strict=True, retention=5, vendors={"gatev": GATES})
    rt.dispatch(Open(t=T0, session="g"))
    s = rt.sessions["g"]
    assert rt.timers.get("g", "autoclose").due == T0 + 30  # type: ignore[union-attr]
    rt.advance(T0 + 30)
    assert s.context.seen == [f"autoclose@{T0 + 30}"]
    assert s.state == "shut"
    rt.advance(T0 + 35)  # ``shut`` is finished: retired after 5 s
    assert "g" not in rt.sessions


def test_finished_defaults_to_the_states_named_stopped_failed_complete_or_ended(tv):
    assert Engine(tv.Phone).finished == frozenset({"ended"})
    assert Engine(Gate).finished == frozenset({"shut"})


def test_the_uncompiled_path_refuses_what_every_guard_refuses(tv):
    rt = Runtime(ManualClock(T0), strict=True, compiled=False)
    rt.dispatch(tv.Dial(t=T0, number="a"))
    rt.dispatch(tv.Answer(t=T0, session="a"))
    with pytest.raises(Violation, match="every transition for 'transfer' from 'talking' was "
                                        "refused by its guards"):
        rt.dispatch(tv.Transfer(t=T0, session="a", to="b"))
    assert rt.sessions["a"].state == "talking"


def test_the_uncompiled_path_rejects_an_event_the_state_does_not_take(tv):
    rt = Runtime(ManualClock(T0), strict=True, compiled=False)
    rt.dispatch(tv.Dial(t=T0, number="a"))
    with pytest.raises(Violation, match=r"not accepted in state 'ringing' \(accepted in: "
                                        r"talking\)"):
        rt.dispatch(tv.MediaData(t=T0, session="a", size=1))


def test_options_given_by_vendor_or_machine_name_reach_the_callbacks(tv):
    by_vendor = Runtime(ManualClock(T0), options={"testv": tv.PhoneOptions(no_data_timeout=5)})
    by_name = Runtime(ManualClock(T0), options={
        "testv": tv.PhoneOptions(no_data_timeout=5),
        "testv.Phone": tv.PhoneOptions(no_data_timeout=7)})  # the machine's own name wins
    for rt, due in ((by_vendor, T0 + 5), (by_name, T0 + 7)):
        rt.dispatch(tv.Dial(t=T0, number="a"))
        rt.dispatch(tv.Answer(t=T0, session="a"))
        assert rt.timers.get("a", "watchdog").due == due  # type: ignore[union-attr]


def test_the_definition_machine_has_only_the_declared_triggers(tv):
    machine = tv.Phone.definition()
    assert set(machine.events) == set(tv.Phone.triggers())  # no to_<state> auto transitions
    assert machine.initial == "idle"


def test_the_engine_model_says_what_it_is(tv):
    assert repr(Engine(tv.Phone).model) == "<Phone engine model>"


def test_a_class_keyword_the_base_does_not_know_is_refused():
    with pytest.raises(TypeError):
        type("Odd", (Machine,), {"vendor": "testv", "states": ("a",), "initial": "a"},
             flavour="x")


def test_building_an_engine_leaves_no_warning_in_the_logs(tv, caplog):
    """The engine's transitions Machine binds its triggers and ``is_<state>`` helpers to the
    model without complaint (a model-override policy would log a warning per skipped name,
    on every runtime's first handling of each machine class)."""
    with caplog.at_level("DEBUG", logger="transitions"):
        Engine(tv.Phone)
        Engine(Gate)
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == []
