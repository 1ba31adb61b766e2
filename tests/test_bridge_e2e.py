"""End to end: the demo page in Debian's headless chromium (Playwright for Python), its fake
SDKs driven by recstate's commands over the bridge, the server on loopback with the runtime's
asyncio driver; virtual time moved by the test. A NetEase callee flow (beCalling -> response
-> startRtc with the record parameters) and a Tencent recording (start, the 90-minute
rollover, stop), each also with the page reloaded in the middle. The live trace is replayed
for the final report: right states and files, every command once, 0 mismatches."""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from bridge_harness import Served

playwright = pytest.importorskip("playwright.sync_api")

import httpx  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.routing import Mount  # noqa: E402

from recstate.adapters.netease import CallbackApp, CallbackReceiver, deliver_to  # noqa: E402
from recstate.bridge import Bridge, bridge_routes  # noqa: E402
from recstate.clock import ManualClock  # noqa: E402
from recstate.events.tencent import MediaData, SearchMediaOk, VodFile  # noqa: E402
from recstate.replay import replay  # noqa: E402
from recstate.runtime import Runtime  # noqa: E402
from recstate.trace import TraceWriter  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed (dev.py installs it)")

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
    def __init__(self, served: Served, page: Any, trace: Path, writer: TraceWriter) -> None:
        self.served, self.page, self.trace, self.writer = served, page, trace, writer
        self.url = f"{served.http}/bridge/demo/"

    # the page ---------------------------------------------------------------------------------
    def open(self) -> None:
        self.page.goto(self.url)
        self.connected()

    def connected(self) -> None:
        self.page.wait_for_function(
            "document.getElementById('status').dataset.status === 'connected'",
            timeout=BOUND_MS)

    def reload(self) -> None:
        self.page.reload()
        self.connected()

    def shows(self, session: str, state: str) -> None:
        self.page.wait_for_selector(f'tr[data-session="{session}"][data-state="{state}"]',
                                    timeout=BOUND_MS)

    def sdk_calls(self) -> list[tuple[str, str]]:
        calls = self.page.evaluate("demo.sdkCalls()")
        return [(c["vendor"], c["api"]) for c in calls]

    def sdk_call(self, api: str) -> list[Any]:
        calls = self.page.evaluate("demo.sdkCalls()")
        return [c["args"] for c in calls if c["api"] == api]

    def hold_and_lose_acks(self) -> None:
        """The page takes no command and hears no ack from now: what it sent stays in its
        outbox and what it was sent stays unacknowledged, as when a page dies mid-flight.
        What it sent before has been acknowledged first."""
        self.page.wait_for_function("demo.client.state.outbox.length === 0",
                                    timeout=BOUND_MS)
        self.page.evaluate("demo.client.debug.holdCommands = true;"
                           "demo.client.debug.dropAcks = true")

    # the server -------------------------------------------------------------------------------
    def wait_state(self, session: str, state: str) -> None:
        self.served.wait(lambda: self.served.state_now(session) == state,
                         f"session {session} to be {state}")

    def wait_sent(self, name: str) -> None:
        bridge: Bridge = self.served.bridge  # type: ignore[attr-defined]
        self.served.wait(lambda: any(o.name == name and o.conn is not None
                                     for o in bridge.pending.values()),
                         f"{name} to be sent to the page")

    def resent_and_duplicates(self) -> tuple[int, int]:
        bridge: Bridge = self.served.bridge  # type: ignore[attr-defined]
        return self.served.call(lambda: (bridge.resent, bridge.duplicates))

    def now(self) -> float:
        return self.served.call(self.served.runtime.clock.now)

    def report(self) -> dict[str, Any]:
        self.writer.flush()
        result = replay(self.trace)
        assert result.mismatches == []
        assert result.violations == 0
        return {s["session"]: s for s in result.to_json()["sessions"]}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    trace = tmp_path / "live.jsonl"
    writer = TraceWriter(trace)
    rt = Runtime(ManualClock(T0), tracer=writer)
    bridge = Bridge(rt, SECRET, hold=None)
    callbacks = CallbackApp(CallbackReceiver(APP_SECRET, clock=rt.clock),
                            deliver_to(rt, submit=True))
    # the bridge made lazily, as a service that makes its runtime at startup mounts it
    app = Starlette(routes=[Mount("/bridge", routes=bridge_routes(lambda: bridge, demo=True)),
                            Mount("/netease/callback", app=callbacks)])
    with Served(rt, app) as served, playwright.sync_playwright() as pw:
        served.bridge = bridge  # type: ignore[attr-defined]
        browser = pw.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            w = World(served, page, trace, writer)
            w.open()
            yield w
            assert errors == []
            assert page.evaluate("demo.errors") == []
        finally:
            browser.close()
    bridge.close()
    writer.close()


# ---- NetEase: the callee (vendor-docs/000) ----

RECORD_ALL = {"recordType": "0", "recordAudio": 1, "recordVideo": 1,
              "mode": 1}  # the fake SDK's NETCALL_MODE_AUDIO_VIDEO


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
    body = callback_body(cid)
    md5 = hashlib.md5(body).hexdigest()
    cur = str(int(w.now()))
    checksum = hashlib.sha1((APP_SECRET + md5 + cur).encode()).hexdigest()
    answer = httpx.post(f"{w.served.http}/netease/callback/", content=body, timeout=20,
                        headers={"AppKey": "app", "CurTime": cur, "MD5": md5,
                                 "CheckSum": checksum, "Content-Type": "application/json"})
    assert answer.status_code == 200


def netease_callee(w: World, *, reload: bool) -> None:
    w.page.evaluate(f"demo.ring({{caller: 'ann', cid: '{CID}', type: 2}})")
    w.wait_state(CID, "ringing")
    w.shows(CID, "ringing")
    if reload:
        w.hold_and_lose_acks()
    w.page.click("#accept")
    if reload:
        w.wait_sent("response")  # it reached the page, which neither took it nor heard acks
        w.reload()
        w.wait_state(CID, "recording")
        assert w.resent_and_duplicates() == (1, 1)  # response again; accept again, once
    w.wait_state(CID, "recording")
    w.shows(CID, "recording")
    w.page.click("#hangup")
    w.wait_state(CID, "awaiting_files")
    w.served.advance(T0 + 60)
    deliver_files(w, CID)
    w.wait_state(CID, "complete")
    w.shows(CID, "complete")

    # the SDK was called once each, with the document's shapes
    assert [c for c in w.sdk_calls() if c[0] == "netease"] == [
        ("netease", "response"), ("netease", "startRtc"), ("netease", "hangup")]
    assert w.sdk_call("response") == [[{"caller": "ann", "accepted": True, "type": 2,
                                        "cid": CID}]]
    assert w.sdk_call("startRtc") == [[RECORD_ALL]]
    report = w.report()[CID]
    assert report["state"] == "complete"
    assert [c["name"] for c in report["commands"]] == ["response", "startRtc", "hangup"]
    assert sorted((f["id"], f["status"]) for f in report["files"]) == [
        (f"{CID}/callee.aac", "ready"), (f"{CID}/callee.mp4", "ready"),
        (f"{CID}/caller.aac", "ready"), (f"{CID}/caller.mp4", "ready"),
        (f"{CID}/mix.mp4", "ready")]
    w.writer.flush()
    inputs = Counter(r["name"] for r in map(orjson.loads, w.trace.read_bytes().splitlines())
                     if r.get("kind", "event") == "event" and r.get("session") == CID)
    assert inputs == {"beCalling": 1, "accept": 1, "response:ok": 1, "startRtc:ok": 1,
                      "hangup": 1, "callback": 1}


def test_netease_callee_flow_through_the_page(world: World) -> None:
    netease_callee(world, reload=False)


def test_netease_callee_flow_with_the_page_reloaded_in_the_middle(world: World) -> None:
    netease_callee(world, reload=True)


# ---- Tencent: a recording with a rollover (vendor-docs/002 §2, §3, §6) ----

def feed_until(w: World, end: float, every: float = 30.0) -> None:
    """The media server's data for alice's recording, every 30 s of virtual time to ``end``
    (the 60 s watchdog stays quiet), the clock moved timer by timer."""
    rt = w.served.runtime

    def run() -> None:
        t = rt.clock.now()
        while t < end:
            t = min(t + every, end)
            rt.advance(t)
            rt.dispatch(MediaData(t=t, session=ALICE, relationId=1001, roomId=7,
                                  user="alice", bytes=65536))
    w.served.call(run)


def tencent_recording(w: World, *, reload: bool) -> None:
    w.page.click("#enter")
    w.wait_state(ALICE, "idle")
    w.served.advance(T0 + 10)
    if reload:
        w.hold_and_lose_acks()
    w.page.click("#start")
    if reload:
        w.wait_sent(START)
        w.reload()
        w.wait_state(ALICE, "recording")
        assert w.resent_and_duplicates() == (1, 1)  # the start again; the intent again, once
    w.wait_state(ALICE, "recording")
    w.shows(ALICE, "recording")
    started = w.now()
    assert started == T0 + 10
    feed_until(w, started + 90 * 60 + 30)  # past the 90-minute boundary
    w.shows(ALICE, "recording")
    if reload:
        w.reload()
    w.page.evaluate(f"demo.tim.stopFileIds = {orjson.dumps(FILE_IDS).decode()}")
    w.page.click("#stop")
    w.wait_state(ALICE, "stopped")
    w.shows(ALICE, "stopped")
    stopped_at = w.now()
    # VOD answers the search (a service-side API: the bridge does not carry it)
    vod = tuple(VodFile(fileId=fid, name=f"demo-alice_{i}", url=f"https://vod.example/{fid}.mp4",
                        size=1 << 20, createTime="2023-11-15T00:00:00Z")
                for i, fid in enumerate(FILE_IDS))
    w.served.call(lambda: w.served.runtime.dispatch(
        SearchMediaOk(t=stopped_at, session=ALICE, files=vod)))
    w.page.wait_for_function(
        f"document.querySelector('tr[data-session=\"{ALICE}\"]').textContent"
        ".includes('2 ready / 2')", timeout=BOUND_MS)

    assert [c for c in w.sdk_calls() if c[0] == "tencent"] == [("tencent", START),
                                                               ("tencent", STOP)]
    assert w.sdk_call(START) == [[{"relationId": 1001, "roomId": 7}, {
        "fileName": "demo-alice", "tags": [], "classId": 1, "sdkType": 0,
        "isTransCode": False, "isScreenShot": False, "isWaterMark": False,
        "recordDataType": 0}]]
    report = w.report()[ALICE]
    assert report["state"] == "stopped"
    assert report["recording"] == "stopped"
    assert [c["name"] for c in report["commands"]] == [START, STOP, "SearchMedia"]
    files = [(f["id"], f["start"], f["end"], f["status"]) for f in report["files"]]
    boundary = started + 90 * 60
    assert files == [(FILE_IDS[0], started, boundary, "ready"),
                     (FILE_IDS[1], boundary, stopped_at, "ready")]
    inputs = Counter(r["name"] for r in map(orjson.loads, w.trace.read_bytes().splitlines())
                     if r.get("kind", "event") == "event" and r.get("session") == ALICE
                     and r["name"] != "mediaData")
    assert inputs == {"enterRoom": 1, START: 1, f"{START}:ok": 1, STOP: 1, f"{STOP}:ok": 1,
                      "SearchMedia:ok": 1}


def test_tencent_recording_with_a_rollover_through_the_page(world: World) -> None:
    tencent_recording(world, reload=False)


def test_tencent_recording_with_the_page_reloaded_in_the_middle(world: World) -> None:
    tencent_recording(world, reload=True)


def test_a_dropped_socket_reconnects_with_the_resume_token_and_nothing_is_lost(
        world: World) -> None:
    """The socket closes under the page (a network change): the client reconnects with
    backoff, using the bridge's resume token (no new token fetched), and a command sent
    while it was away reaches it."""
    w = world
    token_requests: list[str] = []
    w.page.on("request", lambda r: token_requests.append(r.url) if "/demo/token" in r.url
              else None)
    w.page.click("#enter")
    w.wait_state(ALICE, "idle")
    bridge: Bridge = w.served.bridge  # type: ignore[attr-defined]
    w.page.evaluate("demo.client.debug.holdCommands = true")
    w.page.click("#start")
    w.wait_sent(START)
    w.page.evaluate("demo.client.debug.holdCommands = false; demo.client.ws.close()")
    w.wait_state(ALICE, "recording")  # the start went out again and was performed
    w.connected()
    assert w.served.call(lambda: bridge.resent) == 1
    assert token_requests == []  # the resume token, not a new one
    assert [c for c in w.sdk_calls() if c[0] == "tencent"] == [("tencent", START)]


# ---- Juphoon: the shim over a fake JCMediaChannel (vendor-docs/001) ----------------------------

JC_PAGE = """
async ({url, token}) => {
  const { BridgeClient, juphoon } = await import("/bridge/client/index.js");
  const calls = [];
  // 001: join(channelId, joinParam) -> onJoin; enableRecord(enable, recordParam) returns true
  // and the new recordState comes through onMediaChannelPropertyChange; leave() -> onLeave
  const later = (f) => setTimeout(f, 0);
  const channel = {
    channelId: null, recordState: "None",
    join(channelId, joinParam) {
      calls.push(["join", channelId]);
      channel.channelId = channelId;
      later(() => {
        shim.events.onJoin(true, 0, channelId);
        channel.recordState = "Ready";
        shim.events.onMediaChannelPropertyChange({ recordState: true });
      });
      return true;
    },
    enableRecord(enable, recordParam) {
      calls.push(["enableRecord", enable, recordParam]);
      later(() => {
        channel.recordState = enable ? "Running" : "Ready";
        shim.events.onMediaChannelPropertyChange({ recordState: true });
      });
      return true;
    },
    leave() {
      calls.push(["leave"]);
      later(() => shim.events.onLeave(0, channel.channelId));
      return true;
    },
  };
  const shim = juphoon(channel);
  const client = new BridgeClient({ url, token, storageKey: "jc-test" });
  client.use(shim).start();
  window.jc = { client, calls };
}
"""


def test_juphoon_enable_record_through_the_shim(world: World) -> None:
    w = world
    bridge: Bridge = w.served.bridge  # type: ignore[attr-defined]
    token = w.served.call(lambda: bridge.tokens.issue("jc-app", ttl=60))
    w.page.evaluate(JC_PAGE, {"url": f"{w.served.ws}/bridge/ws", "token": token})
    w.page.wait_for_function("window.jc && jc.client.status === 'connected'", timeout=BOUND_MS)
    room = "room-9"
    record = {"video": True, "bucketName": "recordings", "secretKey": "sk-" + "s" * 37,
              "accessKey": "ak-" + "a" * 37, "fileName": "room-9.mp4"}

    def emit(name: str, data: dict[str, Any]) -> None:
        w.page.evaluate("([n, d]) => jc.client.emit('juphoon', 'room-9', n, d)", [name, data])

    emit("join", {"channelId": room, "joinParam": {"record": record}})
    w.served.wait(lambda: (s := w.served.runtime.sessions.get(room)) is not None
                  and s.state == "joined" and s.context.record_state == "Ready",
                  "the channel joined and Ready")
    emit("enableRecord", {"enable": True, "channelId": room})
    w.wait_state(room, "recording")
    emit("enableRecord", {"enable": False, "channelId": room})
    w.wait_state(room, "stopped")
    emit("leave", {"channelId": room})
    w.wait_state(room, "left")
    calls = w.page.evaluate("jc.calls")
    assert [c[:2] for c in calls] == [["join", room], ["enableRecord", True],
                                      ["enableRecord", False], ["leave"]]
    assert calls[1][2] is None  # 001: null keeps the join's record parameters
    w.writer.flush()
    trace = w.trace.read_text()
    assert '"name":"enableRecord"' in trace
    assert record["secretKey"] not in trace
    assert record["accessKey"] not in trace


# ---- python -m recstate.bridge --demo, as a process -----------------------------------------

def test_the_bridge_served_alone_runs_the_demo(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    trace = tmp_path / "demo.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "RECSTATE_BRIDGE_SECRET"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "recstate.bridge", "--demo", "--port", "0", "--trace",
         str(trace)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert banner.startswith("recstate bridge on ws://127.0.0.1:"), banner
        demo = banner.rsplit("demo page: ", 1)[1].strip()
        with playwright.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM)
            try:
                page = browser.new_page()
                page.goto(demo)
                page.wait_for_function("document.getElementById('status').dataset.status"
                                       " === 'connected'", timeout=BOUND_MS)
                page.click("#enter")  # handled before the start: one socket, in order
                page.click("#start")
                page.wait_for_selector(f'tr[data-session="{ALICE}"][data-state="recording"]',
                                       timeout=BOUND_MS)
                page.click("#stop")
                page.wait_for_selector(f'tr[data-session="{ALICE}"][data-state="stopped"]',
                                       timeout=BOUND_MS)
                assert page.evaluate("demo.sdkCalls().map((c) => c.api)") == [START, STOP]
            finally:
                browser.close()
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    commands = [r["name"] for r in map(orjson.loads, trace.read_bytes().splitlines())
                if r.get("kind") == "command"]
    assert commands[:2] == [START, STOP]


# ---- recstate serve --bridge, as a process: the demo with a store --------------------------

def test_recstate_serve_with_the_bridge_runs_the_demo(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    db = tmp_path / "serve.db"
    env = {**os.environ, "RECSTATE_BRIDGE_SECRET": SECRET}
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "recstate"), "serve", "--store", f"sqlite:///{db}",
         "--port", "0", "--bridge"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert banner.startswith("recstate serve: listening on http://127.0.0.1:"), banner
        url = banner.split("listening on ", 1)[1].split()[0]
        with playwright.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM)
            try:
                page = browser.new_page()
                page.goto(f"{url}/demo/")
                page.wait_for_function("document.getElementById('status').dataset.status"
                                       " === 'connected'", timeout=BOUND_MS)
                page.click("#enter")
                page.click("#start")
                page.wait_for_selector(f'tr[data-session="{ALICE}"][data-state="recording"]',
                                       timeout=BOUND_MS)
                page.click("#stop")
                page.wait_for_selector(f'tr[data-session="{ALICE}"][data-state="stopped"]',
                                       timeout=BOUND_MS)
                assert page.evaluate("demo.sdkCalls().map((c) => c.api)") == [START, STOP]
            finally:
                browser.close()
        # the service's store has what the page did (committed before each ack)
        with httpx.Client(base_url=url) as http:
            assert http.get(f"/sessions/{ALICE}").json()["state"] == "stopped"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
