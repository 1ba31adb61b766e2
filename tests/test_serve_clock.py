"""``recstate serve --virtual-clock T0`` (tests and demos): the service's clock stands at T0
and moves only forward, to each POSTed event's ``t`` and by ``POST /clock``, the timers due on
the way firing at their own times. Run as the CLI in a subprocess on loopback. Without the
flag there is no ``/clock``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from serve_process import environment, recstate_serve

T0 = 1_700_000_000.0
KEY = "1001:7:alice"
ROOM = {"relationId": 1001, "roomId": 7}
START = "requestMultiVideoRecorderStart"


@pytest.fixture
def http(tmp_path: Path) -> Iterator[httpx.Client]:
    with recstate_serve(f"sqlite:///{tmp_path / 's.db'}", "--virtual-clock", str(T0),
                        env=environment()) as (url, banner), \
            httpx.Client(base_url=url, timeout=20) as client:
        assert f"virtual clock at {T0}" in banner
        yield client


def line(t: float, name: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"t": t, "vendor": "tencent", "name": name, "session": KEY, "data": data}


def test_the_clock_stands_still_and_moves_with_events_and_post_clock(
        http: httpx.Client) -> None:
    assert http.get("/clock").json() == {"now": T0, "virtual": True}
    body = [line(T0 + 5, "enterRoom", {**ROOM, "user": "alice"}),
            line(T0 + 5, START, {"roomInfo": ROOM, "param": {"fileName": "f"}})]
    assert http.post("/events", content=orjson.dumps(body)).json() == {"applied": 2}
    assert http.get("/clock").json()["now"] == T0 + 5  # the events' t moved it
    assert http.get(f"/sessions/{KEY}").json()["state"] == "starting"
    # the start's SDK callback never comes: the machine's answer deadline (answer_timeout,
    # 30 s after the start) sends a stop, whose own deadline ends the recording
    assert http.post("/clock", json={"to": T0 + 34.9}).json()["now"] == T0 + 34.9
    assert http.get(f"/sessions/{KEY}").json()["state"] == "starting"
    assert http.post("/clock", json={"to": T0 + 35}).json()["now"] == T0 + 35
    view = http.get(f"/sessions/{KEY}").json()
    assert view["state"] == "stopping"
    assert [t["due"] for t in view["timers"] if t["name"] == "answer"] == [T0 + 65]
    http.post("/clock", json={"to": T0 + 3600})  # both deadlines on the way, each at its time
    assert http.get(f"/sessions/{KEY}").json()["state"] == "stopped"


@pytest.mark.parametrize(("body", "status", "words"), [
    (b'{"to": 1699999999}', 409, "never goes back"),
    (b'{"to": "soon"}', 400, '{"to": <Unix seconds>}'),
    (b'{"to": true}', 400, '{"to": <Unix seconds>}'),
    (b'{"at": 1700000001}', 400, '{"to": <Unix seconds>}'),
    (b"tomorrow", 400, '{"to": <Unix seconds>}'),
])
def test_a_bad_clock_move_is_refused_and_moves_nothing(http: httpx.Client, body: bytes,
                                                      status: int, words: str) -> None:
    answer = http.post("/clock", content=body)
    assert answer.status_code == status
    assert answer.json()["field"] == "to"
    assert words in answer.json()["error"]
    assert http.get("/clock").json()["now"] == T0


def test_without_the_flag_there_is_no_clock_to_move(tmp_path: Path) -> None:
    with recstate_serve(f"sqlite:///{tmp_path / 's.db'}", env=environment()) as (url, banner), \
            httpx.Client(base_url=url, timeout=20) as http:
        assert "virtual" not in banner
        assert http.get("/clock").status_code == 404
        assert http.post("/clock", json={"to": T0}).status_code == 404
