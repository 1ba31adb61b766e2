"""A machine class is checked when it is defined: a wrong declaration is a DefinitionError at
import time, with a message that says what is wrong and where."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
import transitions

from recstate import vendors
from recstate.errors import DefinitionError
from recstate.machine import Machine, ignore, on, state


def define(**attrs_: Any) -> type[Machine]:
    """Define a machine class ``Bad`` of vendor "testv" with these class attributes."""
    body: dict[str, Any] = {"vendor": "testv", "states": ("a", "b"), "initial": "a",
                            "transitions": (on("go", "a", "b"),)}
    body.update(attrs_)
    return type("Bad", (Machine,), body)


def test_a_well_formed_machine_defines_without_error():
    cls = define(transitions=(on("go", "a", "b"), on("back", "b", "a"), ignore("noop", "*")))
    assert cls.state_names() == ["a", "b"]
    assert cls.triggers() == {"back": ["b"], "go": ["a"], "noop": ["a", "b"]}
    assert cls.machine_name == "Bad"
    assert cls.qualified_name() == "testv.Bad"


def test_an_abstract_intermediate_class_without_states_is_not_checked():
    class Base(Machine):  # no vendor, no states: a base for vendor machines
        def shared(self, ev: Any) -> None:
            pass

    class Concrete(Base):
        vendor = "testv"
        states = ("a", "b")
        initial = "a"
        transitions = (on("go", "a", "b", after="shared"),)

    assert Concrete.triggers() == {"go": ["a"]}


@pytest.mark.parametrize("trigger", ["send", "arm", "cancel", "notice", "files", "vendor",
                                     "definition", "helper"])
def test_a_trigger_that_shadows_a_model_attribute_fails_at_definition(trigger):
    with pytest.raises(DefinitionError, match=f"trigger '{trigger}' shadows the attribute "
                                              f"Bad.{trigger}"):
        define(transitions=(on(trigger, "a", "b"),), helper=lambda self: None)


@pytest.mark.parametrize("trigger", ["now", "session", "ctx", "opts", "state", "trigger"])
def test_a_trigger_that_shadows_a_per_handling_attribute_fails_at_definition(trigger):
    # these are set on the model around each handling (or by transitions): only annotated
    with pytest.raises(DefinitionError, match=f"trigger '{trigger}' shadows the attribute"):
        define(transitions=(on(trigger, "a", "b"),))


def test_a_state_that_shadows_an_is_state_attribute_fails_at_definition():
    with pytest.raises(DefinitionError, match=r"state 'b' shadows the attribute Bad\.is_b"):
        define(is_b=lambda self: True)


def test_an_unreachable_state_fails_at_definition():
    with pytest.raises(DefinitionError,
                       match=r"unreachable states \['c', 'd'\] \(no transition leads there "
                             r"from 'a'\)"):
        define(states=("a", "b", "c", "d"),
               transitions=(on("go", "a", "b"), on("more", "c", "d")))


def test_a_state_reached_only_through_an_internal_transition_is_unreachable():
    with pytest.raises(DefinitionError, match=r"unreachable states \['b'\]"):
        define(transitions=(on("stay", "a", None), ignore("go", "b")))


def test_reachability_follows_wildcard_sources():
    cls = define(states=("a", "b", "c"),
                 transitions=(on("go", "a", "b"), on("reset", "*", "c")))
    assert cls.triggers()["reset"] == ["a", "b", "c"]


@pytest.mark.parametrize("key", ["conditions", "unless", "before", "after"])
def test_a_transition_callback_that_does_not_exist_fails_at_definition(key):
    with pytest.raises(DefinitionError,
                       match=f"callbacks that do not exist: 'nope' \\({key} of 'go'\\)"):
        define(transitions=(on("go", "a", "b", **{key: "nope"}),))


def test_every_missing_callback_is_named_in_one_message():
    with pytest.raises(DefinitionError) as info:
        define(states=("a", state("b", on_enter="enter_b", on_exit=["exit_b"])),
               transitions=(on("go", "a", "b", after=["fine", "missing_after"]),),
               fine=lambda self, ev: None)
    message = str(info.value)
    assert "'missing_after' (after of 'go')" in message
    assert "'enter_b' (on_enter of state 'b')" in message
    assert "'exit_b' (on_exit of state 'b')" in message
    assert "'fine'" not in message


def test_a_callback_name_that_is_not_callable_fails_at_definition():
    with pytest.raises(DefinitionError, match="'flag' \\(conditions of 'go'\\)"):
        define(transitions=(on("go", "a", "b", conditions="flag"),), flag=True)


def test_a_timer_duration_that_names_no_option_fails_at_definition():
    @attrs.define
    class Opts:
        timeout: float = 5.0

    with pytest.raises(DefinitionError,
                       match="'tiemout' \\(duration of timer 'watchdog' in state 'b': not a "
                             "field of Opts\\)"):
        define(states=("a", state("b", timers={"watchdog": "tiemout"})), options=Opts,
               transitions=(on("go", "a", "b"), on("watchdog", "b", "a")))


def test_a_transition_from_an_unknown_state_fails_at_definition():
    with pytest.raises(DefinitionError, match="transition 'go' starts from unknown state 'x'"):
        define(transitions=(on("go", ["a", "x"], "b"),))


def test_a_transition_to_an_unknown_state_fails_at_definition():
    with pytest.raises(DefinitionError,
                       match=r"transition 'go' goes to unknown state 'c'; states are \['a', "
                             r"'b'\]"):
        define(transitions=(on("go", "a", "b"), on("go", "b", "c")))


@pytest.mark.parametrize("initial", ["", "z"])
def test_a_bad_initial_state_fails_at_definition(initial):
    with pytest.raises(DefinitionError, match=f"initial state '{initial}' is not one of the "
                                              r"states \['a', 'b'\]"):
        define(initial=initial)


def test_a_state_declared_twice_fails_at_definition():
    with pytest.raises(DefinitionError, match="state 'a' is declared twice"):
        define(states=("a", "b", state("a")))


def test_a_machine_without_a_vendor_fails_at_definition():
    with pytest.raises(DefinitionError, match="set the class attribute vendor"):
        define(vendor="")


def test_a_transition_without_a_trigger_fails_at_definition():
    with pytest.raises(DefinitionError, match="a transition has no trigger"):
        define(transitions=({"source": "a", "dest": "b"},))


def test_recording_states_must_map_states_to_canonical_states():
    with pytest.raises(DefinitionError, match=r"recording_states .*'b': 'rolling'"):
        define(recording_states={"a": "idle", "b": "rolling"})
    with pytest.raises(DefinitionError, match=r"recording_states .*'zz': 'idle'"):
        define(recording_states={"zz": "idle"})


def test_context_and_options_must_be_attrs_classes():
    class Plain:
        pass

    with pytest.raises(DefinitionError, match="context and options must be attrs classes"):
        define(context=Plain)
    with pytest.raises(DefinitionError, match="context and options must be attrs classes"):
        define(options=Plain)


def test_a_definition_error_is_a_type_error_raised_by_the_class_statement():
    with pytest.raises(TypeError):
        class Broken(Machine):
            vendor = "testv"
            states = ("a",)
            initial = "b"


def test_definition_builds_a_model_free_transitions_machine(tv):
    machine = tv.Phone.definition()
    assert isinstance(machine, transitions.Machine)
    assert set(machine.states) == {"idle", "ringing", "talking", "ended"}
    assert "dial" in machine.events


# ---- the real Tencent machine -------------------------------------------------------------------
def test_the_tencent_machine_passes_the_definition_checks():
    from recstate.machines import tencent

    cls = tencent.TencentRecorder
    assert issubclass(cls, Machine)
    assert cls.vendor == "tencent"
    assert cls.initial in cls.state_names()
    assert {"idle", "recording", "stopped"} <= set(cls.state_names())
    assert cls.triggers()  # its transitions were checked and indexed
    tencent_definition = cls.definition()
    assert set(tencent_definition.states) == set(cls.state_names())


def test_get_vendor_loads_tencent_through_its_entry_point(monkeypatch):
    from recstate.machines import tencent

    monkeypatch.setattr(vendors, "_vendors", {})  # forget what earlier imports registered
    eps = vendors._entry_points()
    assert eps["tencent"].value == "recstate.machines.tencent:VENDOR_SPEC"
    vendor = vendors.get_vendor("tencent")
    assert vendor is tencent.VENDOR_SPEC
    assert vendor.name == "tencent"
    assert tencent.TencentRecorder in vendor.machines
    assert vendors.get_vendor("tencent") is vendor  # loaded once, then remembered


def test_get_vendor_names_the_installed_vendors_for_an_unknown_one():
    with pytest.raises(KeyError, match=r"unknown vendor 'nosuch'; installed vendors: .*tencent"):
        vendors.get_vendor("nosuch")
    assert vendors.load_vendor("nosuch") is None
