"""Routing (recstate/routing.py), pinned where mutation testing found it loose (issue 8): a
body for several sessions split into one input each, handled next in order and answered once
all are handled; a body for one session handled as it is; a vendor rule that raises makes an
``unroutable`` error naming the cause; an unroutable live input's secrets stay out of the
trace."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import attrs
import orjson
import pytest

from recstate.clock import ManualClock
from recstate.events import Command, Event, command, event
from recstate.machine import Machine, on
from recstate.runtime import Runtime
from recstate.stores import MemoryStore
from recstate.trace import REDACTED, Record
from recstate.vendors import Vendor

T0 = 1_700_000_000.0
VENDOR = "splitv"


@event(VENDOR, "batch")
@attrs.frozen(kw_only=True)
class Batch(Event):
    """A vendor body listing the channels it reports on (``bad``: the rule raises)."""

    channels: list[str] = attrs.field(factory=list)
    bad: bool = False


@command(VENDOR, "ack")
@attrs.frozen(kw_only=True)
class Ack(Command):
    channel: str


@attrs.define
class Seen:
    batches: int = 0
    named: list[str | None] = attrs.field(factory=list)  # the session each input named


class Channel(Machine):
    vendor = VENDOR
    states = ("open",)
    initial = "open"
    transitions = (on("batch", "open", None, after="ack"),)
    context = Seen

    def ack(self, ev: Batch) -> None:
        self.ctx.batches += 1
        self.ctx.named.append(ev.session)
        self.send(Ack(channel=self.session.key))


def split(ev: Batch) -> list[Batch]:
    if ev.bad:
        raise ValueError("the body's channel list is not a list")
    return [attrs.evolve(ev, session=c, channels=[c]) for c in ev.channels]


def session_key(ev: Batch) -> str | None:
    return ev.channels[0] if len(ev.channels) == 1 else None


SPLITV = Vendor(name=VENDOR, machines=(Channel,), machine_for=lambda ev: Channel,
                session_key=session_key, split=split)


def runtime(records: list[Record] | None = None, **kw: Any) -> Runtime:
    return Runtime(ManualClock(T0), vendors={VENDOR: SPLITV},
                   tracer=records.append if records is not None else None, **kw)


def test_a_body_for_two_sessions_is_one_input_each_handled_in_order():
    records: list[Record] = []
    rt = runtime(records, strict=True)
    rt.dispatch(Batch(t=T0, channels=["c1", "c2"]))
    assert {k: s.context.batches for k, s in rt.sessions.items()} == {"c1": 1, "c2": 1}
    assert [(r.kind, r.session, r.name) for r in records] == [
        ("event", "c1", "batch"), ("command", "c1", "ack"),
        ("event", "c2", "batch"), ("command", "c2", "ack")]


def test_a_body_for_one_session_is_handled_once_as_it_came():
    """Only an input for several sessions is split; one for a single session is handled as
    it came (naming no session: the vendor's rule finds it)."""
    rt = runtime(strict=True)
    rt.dispatch(Batch(t=T0, channels=["c1"]))
    rt.dispatch(Batch(t=T0, channels=["c1", "c2"]))
    assert rt.sessions["c1"].context.named == [None, "c1"]


def test_send_of_a_split_body_answers_once_every_part_is_handled():
    rt = runtime(strict=True)
    answer = rt.send_sync(Batch(t=T0, channels=["c1", "c2", "c3"]))
    assert answer.status == "accepted"
    assert answer.commands == (Ack(channel="c1"), Ack(channel="c2"), Ack(channel="c3"))
    assert rt._watching == {}


def test_a_routing_rule_that_raises_makes_an_unroutable_error_naming_the_cause(caplog):
    records: list[Record] = []
    rt = runtime(records)
    with caplog.at_level(logging.ERROR, logger="recstate"):
        rt.dispatch(Batch(t=T0, channels=["c1", "c2"], bad=True))
        rt.dispatch(Batch(t=T0, channels=["c3"]))  # the next input carries on
    [error] = [r for r in records if r.kind == "error"]
    assert error.data is not None
    assert error.data["code"] == "unroutable"
    assert error.data["message"].startswith(
        "cannot route: the splitv routing rule raised ValueError: the body's channel list "
        "is not a list;")
    assert set(rt.sessions) == {"c3"}
    assert [r.getMessage() for r in caplog.records] == [
        "the splitv routing rule raised ValueError on 'batch'"]


def test_an_unroutable_live_input_is_traced_with_its_secrets_redacted(tv):
    records: list[Record] = []
    rt = Runtime(ManualClock(T0), tracer=records.append)
    rt.dispatch(tv.Login(t=T0, user="alice", secretKey="SK-CLEAR-31"))  # no key for it
    event_line = orjson.loads(records[0].dumps())
    assert (records[0].kind, records[0].name) == ("event", "login")
    assert event_line["data"]["secretKey"] == REDACTED
    assert event_line["data"]["user"] == "alice"
    assert records[1].data is not None
    assert records[1].data["code"] == "unroutable"


def test_an_unroutable_input_read_from_a_trace_is_scanned_whatever_its_class(tv):
    """A trace line's data may hold anything (keys its class does not have, which are
    ignored when it is read): it is redacted even for a class that cannot hold a secret."""
    records: list[Record] = []
    rt = Runtime(ManualClock(T0), tracer=records.append)
    rt.dispatch(tv.Ping(t=T0, seq=1), line=4, data={"seq": 1, "token": "TOK-CLEAR-41"})
    event_line = orjson.loads(records[0].dumps())
    assert event_line["data"] == {"seq": 1, "token": REDACTED}
    assert records[1].data is not None
    assert records[1].data["code"] == "unroutable"


@pytest.mark.parametrize("store", [False, True], ids=["no-store", "store"])
def test_an_unroutable_input_is_traced_and_applied_once_with_a_store_or_without(tv, store):
    """With a store an unroutable input is a handling of its own: committed, then traced
    (the input and its ``unroutable`` error); delivered again with the same id it is
    traced and acknowledged with a ``duplicate`` notice, as a routed input is, and the same
    without a store (the report does not depend on the store)."""
    records: list[Record] = []
    rt = Runtime(ManualClock(T0), store=MemoryStore() if store else None,
                 tracer=records.append)
    rt.dispatch(tv.Ping(t=T0, seq=1, id="ping-1"))
    rt.dispatch(tv.Ping(t=T0, seq=1, id="ping-1"))  # the vendor delivers it again
    rt.dispatch(tv.Ping(t=T0, seq=2, id="ping-2"))
    assert [(r.kind, r.name, r.data.get("seq", r.data.get("code"))) for r in records
            if r.data is not None] == [
        ("event", "ping", 1), ("error", "ping", "unroutable"),
        ("event", "ping", 1), ("error", "ping", "duplicate"),
        ("event", "ping", 2), ("error", "ping", "unroutable")]


@pytest.mark.parametrize("store", [False, True], ids=["no-store", "store"])
def test_an_unroutable_inputs_trace_line_carries_its_id(tv, store):
    """An ``event`` line's ``id`` is the input's idempotency key (trace.Record): the line of
    an input nobody can route keeps it as every other input's line does, live or read from
    a trace, so a replay or a store can name that delivery."""
    records: list[Record] = []
    rt = Runtime(ManualClock(T0), tracer=records.append,
                 store=MemoryStore() if store else None)
    rt.dispatch(tv.Ping(t=T0, seq=1, id="ping-7"))
    rt.dispatch(tv.Ping(t=T0, seq=2, id="ping-8"), line=9, data={"seq": 2})
    events = [r for r in records if r.kind == "event"]
    assert [r.id for r in events] == ["ping-7", "ping-8"]
    assert [orjson.loads(r.dumps())["id"] for r in events] == ["ping-7", "ping-8"]
    assert [r.data["code"] for r in records if r.kind == "error" and r.data is not None] == [
        "unroutable", "unroutable"]


async def test_an_input_dispatched_while_a_sent_one_waits_for_the_driver_is_not_its_answer(
        tv):
    """``send`` through a running driver waits for its input's turn; an input dispatched
    meanwhile from elsewhere on the loop is handled at once, as an ordinary input."""
    rt = Runtime(ManualClock(T0), strict=True)
    driver = asyncio.create_task(rt.run())
    await asyncio.sleep(0)
    sending = asyncio.create_task(rt.send(tv.Dial(t=T0, number="a")))
    await asyncio.sleep(0)  # handed to the driver's inbox, not handled yet
    assert "a" not in rt.sessions
    rt.dispatch(tv.Dial(t=T0, number="b"))
    assert rt.sessions["b"].state == "ringing"
    answer = await asyncio.wait_for(sending, timeout=5)
    assert (answer.session, answer.state) == ("a", "ringing")
    rt.stop()
    await asyncio.wait_for(driver, timeout=5)
