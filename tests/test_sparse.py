"""Rare fields (recstate.sparse): kept out of an object's slots until one is set to something
other than its default (issue 12: an idle recording session's memory). RecordingFile keeps
its md5, hash and encrypted that way; TencentContext its retry, timeout and search fields
(tests/test_tencent_context_more.py). A Compact field keeps a record whose fields are all at
their defaults but one as that one value (TencentContext's param:
tests/test_tencent_context_param.py)."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import attrs
import pytest

from recstate.recording import FileMore, RecordingFile
from recstate.sparse import Compact, Rare


@attrs.define
class _More:
    n: int = 0
    name: str | None = None


@attrs.define(slots=True, init=False)
class _Thing:
    _more: _More | None
    n = Rare("n", 0, _More)
    name = Rare[str | None]("name", None, _More)

    def __init__(self) -> None:
        self._more = None


def test_a_rare_field_reads_its_default_until_set_and_a_default_stores_nothing() -> None:
    t = _Thing()
    assert (t.n, t.name, t._more) == (0, None, None)
    t.n, t.name = 0, None
    assert t._more is None
    assert isinstance(_Thing.n, Rare)  # on the class: the descriptor itself
    t.name = "x"
    assert t._more == _More(0, "x")
    assert (t.n, t.name) == (0, "x")
    t.n = 5
    assert t._more == _More(5, "x")
    assert t.n == 5


def test_a_default_equal_but_not_the_same_object_stores_nothing() -> None:
    """A room's type decoded from a trace line is a str of its own, not the literal the
    default is: equal and of the default's type, it makes no record."""
    from recstate.machines.tencent import TencentContext

    multi = "".join(["mul", "ti"])
    assert multi == "multi"
    assert multi is not TencentContext.roomType.default
    ctx = TencentContext()
    ctx.roomType = multi
    assert ctx._more is None
    big = 10**20

    @attrs.define
    class _Big:
        n: int = big

    @attrs.define(slots=True, init=False)
    class _Owner:
        _more: _Big | None
        n = Rare("n", big, _Big)

        def __init__(self) -> None:
            self._more = None

    o = _Owner()
    o.n = int(str(big))  # equal, another object
    assert o._more is None
    o.n = big + 1
    assert o._more == _Big(big + 1)


@pytest.mark.parametrize("value", [0.0, False, -0])
def test_only_the_default_or_one_of_its_type_and_value_goes_unstored(value: object) -> None:
    t = _Thing()
    t.n = value  # type: ignore[assignment]
    if type(value) is int:
        assert t._more is None
    else:
        assert t._more is not None
        assert t.n is value


def test_an_open_file_has_no_more_and_a_hash_or_encryption_makes_it() -> None:
    f = RecordingFile(id="a", session="s", vendor="v", kind="video", format="mp4")
    assert f._more is None
    assert (f.md5, f.hash, f.encrypted) == (None, None, False)
    assert "md5" not in RecordingFile.__slots__
    assert "encrypted" not in RecordingFile.__slots__
    assert f.to_dict() == {"id": "a", "participant": None, "kind": "video", "format": "mp4",
                           "start": None, "end": None, "size": None, "url": None,
                           "status": "open"}
    assert repr(f) == ("RecordingFile(id='a', session='s', vendor='v', kind='video', "
                       "format='mp4', participant=None, start=None, end=None, size=None, "
                       "url=None, status='open', md5=None, hash=None, encrypted=False)")
    setattr(f, "md5", "m")  # as Effects applies a file's changes  # noqa: B010
    assert f._more == FileMore(md5="m")
    assert f.to_dict()["md5"] == "m"
    for kw in ({"md5": "m"}, {"hash": "h"}, {"encrypted": True}):
        g = RecordingFile(id="b", session="s", vendor="v", kind="video", format="mp4",
                          **kw)  # type: ignore[arg-type]
        assert g._more is not None
        back = RecordingFile.from_dict(g.to_dict(), session="s", vendor="v")
        assert back.to_dict() == g.to_dict()
        assert back._more == g._more
        assert pickle.loads(pickle.dumps(g))._more == g._more
        assert copy.deepcopy(g)._more is not g._more
    plain = RecordingFile.from_dict(f.to_dict() | {"md5": None}, session="s", vendor="v")
    assert plain._more is None


# ---- Compact: a small frozen record kept as its one non-default field --------------------

@attrs.frozen
class _Key:
    name: str = ""
    n: int = 0


@attrs.frozen
class _Alone:
    name: str = ""


@attrs.define(slots=True, init=False)
class _Holder:
    _key: _Key | str | None
    _alone: _Alone | str | None
    key = Compact("_key", _Key, "name")
    alone = Compact("_alone", _Alone, "name")

    def __init__(self, key: _Key | None = None, alone: _Alone | None = None) -> None:
        self.key = key
        self.alone = alone


def test_a_compact_field_keeps_the_key_alone_and_reads_back_an_equal_record() -> None:
    h = _Holder(_Key("a"), _Alone("b"))
    assert (h._key, h._alone) == ("a", "b")
    assert (h.key, h.alone) == (_Key("a"), _Alone("b"))
    assert isinstance(_Holder.key, Compact)  # on the class: the descriptor itself
    whole = _Key("a", 1)
    h.key = whole
    assert h._key is whole
    h.key = _Key("a", False)  # equal to the default, not of its type
    assert h.key.n is False
    h.key = None
    assert (h._key, h.key) == (None, None)


def test_a_bare_key_set_as_the_whole_value_reads_back_as_itself() -> None:
    h = _Holder()
    h.key = "a"  # type: ignore[assignment]
    assert h.key == "a"
    assert type(h.key) is str
    again = pickle.loads(pickle.dumps(h))
    assert again.key == "a"
    assert copy.deepcopy(h).key == "a"
    box = h._key
    h.key = box  # type: ignore[assignment]  # the box itself, set: it reads back as set
    assert h.key is box


@attrs.frozen(kw_only=True)
class _Late:
    flag: bool = False
    _name: str = ""


@attrs.define(slots=True, init=False)
class _LateHolder:
    _late: _Late | str | None
    late = Compact("_late", _Late, "_name")

    def __init__(self, late: _Late | None) -> None:
        self.late = late


@attrs.frozen
class _Second:
    n: int = 0
    name: str = ""


@attrs.frozen(kw_only=True)
class _KwFirst:
    name: str = ""
    n: int = 0


def test_a_key_neither_first_nor_positional_is_given_by_its_name() -> None:
    h = _LateHolder(_Late(name="x"))
    assert h._late == "x"
    assert h.late == _Late(name="x")
    assert _LateHolder(_Late(flag=True))._late == _Late(flag=True)
    for kind in (_Second, _KwFirst):
        field = Compact("_x", kind, "name")  # type: ignore[var-annotated]
        assert field.make("x") == kind(name="x")


@pytest.mark.parametrize(("kind", "key", "why"), [
    (attrs.make_class("_NoInit", {"name": attrs.field(default="", init=False)},
                      frozen=True), "name", "constructor takes"),
    (_More, "name", "frozen attrs"), (int, "real", "frozen attrs"),
    (_Key, "other", "one of its fields"),
    (attrs.make_class("_Listy", {"name": attrs.field(default=""),
                                 "xs": attrs.field(factory=list)}, frozen=True),
     "name", "factory"),
    (attrs.make_class("_NoneKey", {"name": attrs.field(default=None)}, frozen=True),
     "name", "tell a key"),
    (attrs.make_class("_NoDefault", {"n": attrs.field(), "name": attrs.field(default="")},
                      frozen=True), "name", "plain default"),
])
def test_a_compact_field_refuses_what_it_cannot_keep(kind: Any, key: str, why: str) -> None:
    with pytest.raises(TypeError, match=why):
        Compact("_x", kind, key)
