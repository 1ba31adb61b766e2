"""The engine's quick table (issue 12) and the definition checks it relies on: a data-only
event must be one unguarded internal transition on a real context field, and a trigger must
be named."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from recstate.errors import DefinitionError
from recstate.machine import DataOnly, Engine, Machine, Rejected, ignore, on
from recstate.machines.tencent import TencentRecorder
from recstate.session import Session

T0 = 1_700_000_000.0


@attrs.define
class BeatContext:
    last: float | None = None


@attrs.define
class BeatOptions:
    timeout: float = 60.0


def define(**body: Any) -> type[Machine]:
    base: dict[str, Any] = {
        "vendor": "quickv", "states": ("off", "on"), "initial": "off",
        "context": BeatContext, "options": BeatOptions,
        "transitions": (on("start", "off", "on"), on("beat", "on", None, after="feed"),
                        ignore("beat", "off")),
        "feed": lambda self, ev: None,
    }
    base.update(body)
    return type("Beats", (Machine,), base)


def test_the_tencent_heartbeat_is_data_only_in_recording_and_ignored_elsewhere():
    quick = Engine(TencentRecorder).quick
    assert quick["mediaData"] == {"recording": ("last_data", "watchdog", 60.0),
                                  "idle": None, "starting": None, "retry_wait": None,
                                  "stopping": None, "stopped": None, "failed": None}
    assert "enterRoom" not in quick  # it has a callback: the engine runs it
    assert Engine(TencentRecorder, compiled=False).quick == {}


def test_a_trigger_with_two_transitions_from_a_state_takes_the_engine():
    cls = define(transitions=(on("start", "off", "on"), on("beat", "on", None),
                              on("beat", "on", "off")))
    assert Engine(cls).quick == {}


def test_data_only_names_an_unguarded_internal_transition_of_that_state():
    cls = define(data_only={"beat": DataOnly("on", "last", "dog", "timeout")})
    assert Engine(cls).quick == {"beat": {"on": ("last", "dog", 60.0), "off": None}}
    with pytest.raises(DefinitionError, match="data_only 'beat' needs one internal "
                                              "transition from 'on' with no guard"):
        define(transitions=(on("start", "off", "on"),
                            on("beat", "on", None, conditions="feed")),
               data_only={"beat": DataOnly("on", "last", "dog", 60)})
    with pytest.raises(DefinitionError, match="needs one internal transition from 'on'"):
        define(transitions=(on("start", "off", "on"), on("beat", "on", "off")),
               data_only={"beat": DataOnly("on", "last", "dog", 60)})
    with pytest.raises(DefinitionError, match="needs one internal transition from 'off'"):
        define(data_only={"beat": DataOnly("off", "last", "dog", 60)}, transitions=(
            on("start", "off", "on"), on("beat", "on", None)))


def test_data_only_names_a_context_field_and_an_options_field():
    with pytest.raises(DefinitionError, match="'nope' must be a field of BeatContext"):
        define(data_only={"beat": DataOnly("on", "nope", "dog", 60)})
    with pytest.raises(DefinitionError, match="'later' one of BeatOptions"):
        define(data_only={"beat": DataOnly("on", "last", "dog", "later")})


def test_a_transition_with_an_empty_trigger_fails_at_definition():
    with pytest.raises(DefinitionError, match="a transition has no trigger"):
        define(transitions=(on("", "off", "on"),))


def test_an_event_the_machine_does_not_take_is_rejected_by_name():
    engine = Engine(TencentRecorder)
    s = Session("k", TencentRecorder)
    result = engine.handle(s, None, "noSuchEvent", T0)
    assert type(result) is Rejected
    assert result.reason == "the tencent.recorder machine takes no event 'noSuchEvent'"
    # transitions' automatic to_<state> triggers are not made: not an event of the machine
    result = engine.handle(s, None, "to_stopped", T0)
    assert type(result) is Rejected
    assert result.reason == "the tencent.recorder machine takes no event 'to_stopped'"
    assert s.state == "idle"


@attrs.define
class LogContext:
    log: list[str] = attrs.field(factory=list)


class Ordered(Machine):
    vendor = "quickv"
    states = ("off", "on")
    initial = "off"
    context = LogContext
    transitions = (on("start", "off", "on", before="first", after="last"),)

    def first(self, ev: Any) -> None:
        self.ctx.log.append(f"before in {self.state}")

    def last(self, ev: Any) -> None:
        self.ctx.log.append(f"after in {self.state}")


@pytest.mark.parametrize("compiled", [True, False])
def test_before_callbacks_run_in_the_source_state_and_after_ones_in_the_dest(compiled):
    s = Session("k", Ordered)
    Engine(Ordered, compiled=compiled).handle(s, None, "start", T0)
    assert s.context.log == ["before in off", "after in on"]
