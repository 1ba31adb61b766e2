"""undo.clone: the copy taken before each handling shares nothing mutable (issue 10, 13)."""

from __future__ import annotations

import attrs

from recstate.undo import clone


@attrs.frozen
class Room:
    relationId: int
    tags: tuple[str, ...] = ()


@attrs.define
class Inner:
    seen: list[str] = attrs.field(factory=list)


@attrs.define(slots=True)
class Ctx:
    user: str | None = None
    count: int = 0
    room: Room | None = None
    ids: list[str] = attrs.field(factory=list)
    by_id: dict[str, list[int]] = attrs.field(factory=dict)
    inner: Inner = attrs.field(factory=Inner)
    anything: object = None


def test_a_clone_is_equal_and_shares_nothing_mutable():
    ctx = Ctx("alice", 3, Room(7, ("a",)), ["f1"], {"f1": [1]}, Inner(["x"]), {"k": ["v"]})
    copy = clone(ctx)
    assert copy == ctx
    copy.ids.append("f2")
    copy.by_id["f1"].append(2)
    copy.inner.seen.append("y")
    copy.anything["k"].append("w")  # type: ignore[index]
    assert ctx.ids == ["f1"]
    assert ctx.by_id == {"f1": [1]}
    assert ctx.inner.seen == ["x"]
    assert ctx.anything == {"k": ["v"]}
    assert copy.room is ctx.room  # frozen: shared


def test_a_checkpoint_brings_the_context_back_in_place():
    from recstate.undo import checkpoint

    ctx = Ctx("alice", 3, Room(7, ("a",)), ["f1"], {"f1": [1]}, Inner(["x"]), {"k": ["v"]})
    before = clone(ctx)
    save, restore = checkpoint(Ctx)
    saved = save(ctx)
    ctx.user, ctx.count, ctx.room = "bob", 4, None
    ctx.ids.append("f2")
    ctx.by_id["f1"].append(2)
    ctx.inner.seen.append("y")
    ctx.anything["k"].append("w")  # type: ignore[index]
    assert restore(ctx, saved) is ctx
    assert ctx == before


def test_a_checkpoint_of_a_frozen_or_plain_value_is_a_copy():
    from recstate.undo import checkpoint

    save, restore = checkpoint(Room)
    room = Room(7, ("a",))
    assert restore(room, save(room)) == room
    save, restore = checkpoint(dict)
    value = {"k": [1]}
    saved = save(value)
    value["k"].append(2)
    assert restore(value, saved) == {"k": [1]}
