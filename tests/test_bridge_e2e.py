"""End to end, as the issue asks: ``recstate serve --bridge-demo`` started as a process on
loopback with a SQLite store, on a virtual clock (``--virtual-clock``: it moves only with the
POSTed events' ``t`` and ``POST /clock``, so the 90-minute rollover takes no wall time); the
demo page opened in Debian's headless chromium (Playwright for Python, ``executable_path``);
its fake SDKs driven by recstate's commands over the bridge.

A NetEase callee flow (000: beCalling -> response -> startRtc with the record parameters ->
hangup -> the callback service's files) and a Tencent recording (002: start, the 90-minute
rollover, stop, VOD's search), each also with the page reloaded in the middle. The final
report is the service's (``GET /sessions/{key}``, read from the store); every SDK call is made
once (the page's log survives reloads), every input is handled once (``/metrics``), and the
reloads show up as one command sent again and one event received again, acknowledged and not
handled twice.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from browser import CHROMIUM, needs_chromium
from serve_process import environment, recstate_serve

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = needs_chromium

T0 = 1_700_000_000.0
SECRET = "bridge-secret-0123456789abcdef"
APP_SECRET = "netease-AppSecret-5b1e"
CID = "6290737000999815988"
ALICE = "1001:7:alice"
START = "requestMultiVideoRecorderStart"
STOP = "requestMultiVideoRecorderStop"
FILE_IDS = ["5285890781475012210", "5285890781475012211"]
BOUND_MS = 20_000


class World:
    """The service (a process), the page (in chromium) and what the test reads of both."""

    def __init__(self, url: str, page: Any) -> None:
        self.url, self.page = url, page
        self.http = httpx.Client(base_url=url, timeout=20)

    # the page ---------------------------------------------------------------------------------
    def open(self) -> None:
        self.page.goto(f"{self.url}/demo/")
        self.connected()

    def connected(self) -> None:
        self.page.wait_for_function(
            "document.getElementById('status').dataset.status === 'connected'",
            timeout=BOUND_MS)

    def reload(self) -> None:
        self.page.reload()
        self.connected()

    def settled(self) -> None:
        """Every event the page sent was acknowledged: handled and committed by the service."""
        self.page.wait_for_function("demo.client.state.outbox.length === 0", timeout=BOUND_MS)

    def shows(self, session: str, state: str) -> None:
        """The page's live view shows ``state`` (pushed after the handling that made it)."""
        self.page.wait_for_selector(f'tr[data-session="{session}"][data-state="{state}"]',
                                    timeout=BOUND_MS)

    def sdk_calls(self, vendor: str) -> list[str]:
        return [c["api"] for c in self.page.evaluate("demo.sdkCalls()") if c["vendor"] == vendor]

    def sdk_call(self, api: str) -> list[Any]:
        return [c["args"] for c in self.page.evaluate("demo.sdkCalls()") if c["api"] == api]

    def hold_and_lose_acks(self) -> None:
        """The page takes no command and hears no ack from now: what it sends stays in its
        outbox and what it is sent stays unacknowledged, as when a page dies mid-flight.
        What it sent before has been acknowledged first."""
        self.settled()
        self.page.evaluate("demo.client.debug.holdCommands = true;"
                           "demo.client.debug.dropAcks = true")

    def wait_held(self, name: str) -> None:
        """A command ``name`` reached the page, which held it."""
        self.page.wait_for_function(
            "(n) => demo.client.debug.held.some((c) => c.name === n)", arg=name,
            timeout=BOUND_MS)

    # the service ------------------------------------------------------------------------------
    def view(self, session: str) -> dict[str, Any]:
        answer = self.http.get(f"/sessions/{session}")
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    def post(self, *lines: dict[str, Any]) -> None:
        answer = self.http.post("/events", content=orjson.dumps(list(lines)))
        assert answer.json() == {"applied": len(lines)}, answer.text

    def now(self) -> float:
        return float(self.http.get("/clock").json()["now"])

    def clock_to(self, t: float) -> None:
        assert self.http.post("/clock", json={"to": t}).json()["now"] == t

    def metric(self, name: str, **labels: str) -> float:
        text = self.http.get("/metrics").text
        want = ",".join(f'{k}="{v}"' for k, v in labels.items())
        pattern = rf"^{re.escape(name)}(?:\{{{re.escape(want)}\}})? (\S+)$"
        found = re.search(pattern, text, re.MULTILINE)
        return float(found.group(1)) if found else 0.0

    def bridge(self, what: str) -> float:
        return self.metric("recstate_bridge", what=what)

    def handled(self, vendor: str) -> float:
        return self.metric("recstate_events_handled_total", vendor=vendor)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    env = environment(RECSTATE_BRIDGE_SECRET=SECRET, RECSTATE_NETEASE_APP_SECRET=APP_SECRET)
    with recstate_serve(f"sqlite:///{tmp_path / 'serve.db'}", "--bridge-demo",
                        "--virtual-clock", str(T0), env=env) as (url, banner), \
            playwright.sync_playwright() as pw:
        assert f"virtual clock at {T0}" in banner
        browser = pw.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            w = World(url, page)
            w.open()
            yield w
            assert errors == []
            assert page.evaluate("demo.errors") == []
            w.http.close()
        finally:
            browser.close()


# ---- NetEase: the callee (vendor-docs/000) -------------------------------------------------

#: 000's startRtc parameters for recordType "0" (mix and single files), audio and video on;
#: ``mode`` is the SDK's NETCALL_MODE_AUDIO_VIDEO (1 in the fake SDK).
RECORD_ALL = {"recordType": "0", "recordAudio": 1, "recordVideo": 1, "mode": 1}


def callback_body(cid: str) -> bytes:
    """The callback service's eventType 6 body for a video call recorded with recordType 0:
    each side's .aac and .mp4 and the mix (000); fields as NetEase's 抄送 table writes them."""
    items = []
    for user, caller in (("ann", True), ("bob", False)):
        for kind in ("aac", "mp4"):
            item = {"channelid": cid, "filename": f"{cid}-{user}.{kind}",
                    "md5": hashlib.md5(f"{user}{kind}".encode()).hexdigest(), "mix": False,
                    "size": "20480", "type": kind, "url": f"https://nos.example/{cid}-{user}."
                    f"{kind}", "user": user, "vid": "1"}
            if caller:
                item["caller"] = True
            items.append(item)
    items.append({"channelid": cid, "filename": f"{cid}-mix.mp4", "md5": "0" * 32, "mix": True,
                  "size": "40960", "type": "mp4", "url": f"https://nos.example/{cid}-mix.mp4",
                  "user": "0", "vid": "1"})
    return orjson.dumps({"eventType": "6", "fileinfo": orjson.dumps(items).decode()})


def deliver_files(w: World, cid: str) -> None:
    """POST the files to the service's /netease/callback as NetEase signs it: CheckSum =
    SHA1(AppSecret + MD5 + CurTime), CurTime the service's (virtual) time."""
    body = callback_body(cid)
    md5 = hashlib.md5(body).hexdigest()
    cur = str(int(w.now()))
    checksum = hashlib.sha1((APP_SECRET + md5 + cur).encode()).hexdigest()
    answer = w.http.post("/netease/callback", content=body,
                         headers={"AppKey": "app", "CurTime": cur, "MD5": md5,
                                  "CheckSum": checksum, "Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text


def netease_callee(w: World, *, reload: bool) -> None:
    w.page.evaluate(f"demo.ring({{caller: 'ann', cid: '{CID}', type: 2}})")
    w.shows(CID, "ringing")
    if reload:
        w.hold_and_lose_acks()
    w.page.click("#accept")
    if reload:
        w.wait_held("response")  # it reached the page, which neither took it nor heard acks
        assert w.view(CID)["state"] == "responding"
        w.reload()
    w.shows(CID, "recording")
    assert w.view(CID)["state"] == "recording"
    w.page.click("#hangup")
    w.shows(CID, "awaiting_files")
    w.clock_to(T0 + 60)
    deliver_files(w, CID)
    w.shows(CID, "complete")

    # the SDK was called once each, with the document's shapes
    assert w.sdk_calls("netease") == ["response", "startRtc", "hangup"]
    assert w.sdk_call("response") == [[{"caller": "ann", "accepted": True, "type": 2,
                                        "cid": CID}]]
    assert w.sdk_call("startRtc") == [[RECORD_ALL]]
    # the service's report: complete, the five files of recordType 0 ready
    report = w.view(CID)
    assert (report["state"], report["vendor"]) == ("complete", "netease")
    assert sorted((f["id"], f["status"]) for f in report["files"]) == [
        (f"{CID}/callee.aac", "ready"), (f"{CID}/callee.mp4", "ready"),
        (f"{CID}/caller.aac", "ready"), (f"{CID}/caller.mp4", "ready"),
        (f"{CID}/mix.mp4", "ready")]
    # each input handled once: beCalling, accept, response:ok, startRtc:ok, hangup, callback
    assert w.handled("netease") == 6
    # the reload: the response sent again; the accept received again, not handled again
    assert (w.bridge("resent"), w.bridge("duplicate_events")) == ((1, 1) if reload else (0, 0))
    assert (w.bridge("pending"), w.bridge("withdrawn")) == (0, 0)


def test_netease_callee_flow_through_the_page(world: World) -> None:
    netease_callee(world, reload=False)


def test_netease_callee_flow_with_the_page_reloaded_in_the_middle(world: World) -> None:
    netease_callee(world, reload=True)


# ---- Tencent: a recording with a rollover (vendor-docs/002 §2, §3, §6) -------------------------

FEED = 30.0  # seconds between the media server's data: the 60 s watchdog stays quiet
ROLLOVER = 90 * 60  # 002: a recording is cut into a new file every 90 minutes


def media_data(t: float) -> dict[str, Any]:
    return {"t": t, "vendor": "tencent", "name": "mediaData", "session": ALICE,
            "data": {"relationId": 1001, "roomId": 7, "user": "alice", "bytes": 65536}}


def tencent_recording(w: World, *, reload: bool) -> None:
    w.page.click("#enter")
    w.settled()
    assert w.view(ALICE)["state"] == "idle"
    w.clock_to(T0 + 10)
    if reload:
        w.hold_and_lose_acks()
    w.page.click("#start")
    if reload:
        w.wait_held(START)
        assert w.view(ALICE)["state"] == "starting"
        w.reload()
    w.shows(ALICE, "recording")
    started = T0 + 10
    # the media server's data every 30 s of virtual time, past the 90-minute boundary: each
    # event moves the service's clock to its t, the rollover firing at its own time on the way
    feed = [media_data(started + FEED * i) for i in range(1, int((ROLLOVER + 30) / FEED) + 1)]
    w.post(*feed)
    assert w.now() == started + ROLLOVER + 30
    view = w.view(ALICE)
    assert view["state"] == "recording"
    assert [(f["start"], f["end"], f["status"]) for f in view["files"]] == [
        (started, started + ROLLOVER, "closed"), (started + ROLLOVER, None, "open")]
    if reload:  # 90 minutes on, the page's tokens have expired: it asks for a new one
        w.reload()
    w.page.evaluate(f"demo.tim.stopFileIds = {orjson.dumps(FILE_IDS).decode()}")
    w.page.click("#stop")
    w.shows(ALICE, "stopped")
    stopped_at = w.now()
    # VOD answers the search (a service-side API, not the app's: its adapter would POST this)
    vod = [{"fileId": fid, "name": f"demo-alice_{i}", "url": f"https://vod.example/{fid}.mp4",
            "size": 1 << 20, "createTime": "2023-11-15T00:00:00Z"}
           for i, fid in enumerate(FILE_IDS)]
    w.post({"t": stopped_at, "vendor": "tencent", "name": "SearchMedia:ok", "session": ALICE,
            "data": {"files": vod}})
    w.page.wait_for_function(
        f"document.querySelector('tr[data-session=\"{ALICE}\"]').textContent"
        ".includes('2 ready / 2')", timeout=BOUND_MS)

    # the SDK was called once each, with 002's shapes
    assert w.sdk_calls("tencent") == [START, STOP]
    assert w.sdk_call(START) == [[{"relationId": 1001, "roomId": 7}, {
        "fileName": "demo-alice", "tags": [], "classId": 1, "sdkType": 0,
        "isTransCode": False, "isScreenShot": False, "isWaterMark": False,
        "recordDataType": 0}]]
    assert w.sdk_call(STOP) == [[{"relationId": 1001, "roomId": 7}]]
    # the service's report: stopped, two files split at the 90-minute boundary, both ready
    report = w.view(ALICE)
    assert (report["state"], report["recording"]) == ("stopped", "stopped")
    boundary = started + ROLLOVER
    assert [(f["id"], f["start"], f["end"], f["status"]) for f in report["files"]] == [
        (FILE_IDS[0], started, boundary, "ready"), (FILE_IDS[1], boundary, stopped_at, "ready")]
    # each input handled once: enterRoom, start, start:ok, the data, stop, stop:ok, search:ok
    assert w.handled("tencent") == 6 + len(feed)
    assert (w.bridge("resent"), w.bridge("duplicate_events")) == ((1, 1) if reload else (0, 0))
    assert (w.bridge("pending"), w.bridge("withdrawn")) == (0, 0)


def test_tencent_recording_with_a_rollover_through_the_page(world: World) -> None:
    tencent_recording(world, reload=False)


def test_tencent_recording_with_the_page_reloaded_in_the_middle(world: World) -> None:
    tencent_recording(world, reload=True)


def test_a_dropped_socket_reconnects_with_the_resume_token_and_nothing_is_lost(
        world: World) -> None:
    """The socket closes under the page (a network change): the client reconnects with
    backoff, using the bridge's resume token (no new token fetched), and the command it held
    unacknowledged reaches it again and is performed once."""
    w = world
    token_requests: list[str] = []
    w.page.on("request", lambda r: token_requests.append(r.url) if "/demo/token" in r.url
              else None)
    w.page.click("#enter")
    w.settled()
    w.page.evaluate("demo.client.debug.holdCommands = true")
    w.page.click("#start")
    w.wait_held(START)
    w.page.evaluate("demo.client.debug.holdCommands = false; demo.client.ws.close()")
    w.shows(ALICE, "recording")  # the start went out again and was performed
    w.connected()
    assert w.view(ALICE)["state"] == "recording"
    assert w.bridge("resent") == 1
    assert token_requests == []  # the resume token, not a new one
    assert w.sdk_calls("tencent") == [START]
