"""The browser client beyond the demo's two vendors, and the bridge served alone, in Debian's
headless chromium (Playwright for Python, ``executable_path``): the Juphoon shim over a fake
JCMediaChannel (001) against a bridge mounted under ``/bridge`` of an in-process app on
loopback (its runtime's clock virtual, the trace checked for secrets); and
``python -m recstate.bridge --demo`` as a process. The issue's end-to-end flows through
``recstate serve`` are in ``test_bridge_e2e.py``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from bridge_harness import Served
from browser import CHROMIUM, needs_chromium

playwright = pytest.importorskip("playwright.sync_api")

from starlette.applications import Starlette  # noqa: E402
from starlette.routing import Mount  # noqa: E402

from recstate.bridge import Bridge, bridge_routes  # noqa: E402
from recstate.clock import ManualClock  # noqa: E402
from recstate.runtime import Runtime  # noqa: E402
from recstate.trace import TraceWriter  # noqa: E402

pytestmark = needs_chromium

T0 = 1_700_000_000.0
SECRET = "bridge-secret-0123456789abcdef"
ALICE = "1001:7:alice"
START = "requestMultiVideoRecorderStart"
STOP = "requestMultiVideoRecorderStop"
BOUND_MS = 20_000


class World:
    def __init__(self, served: Served, bridge: Bridge, page: Any, trace: Path,
                 writer: TraceWriter) -> None:
        self.served, self.bridge, self.page = served, bridge, page
        self.trace, self.writer = trace, writer

    def wait_state(self, session: str, state: str) -> None:
        self.served.wait(lambda: self.served.state_now(session) == state,
                         f"session {session} to be {state}")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    trace = tmp_path / "live.jsonl"
    writer = TraceWriter(trace)
    rt = Runtime(ManualClock(T0), tracer=writer)
    bridge = Bridge(rt, SECRET, hold=None)
    app = Starlette(routes=[Mount("/bridge", routes=bridge_routes(lambda: bridge, demo=True))])
    with Served(rt, app) as served, playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{served.http}/bridge/demo/")  # a page of the bridge's origin
            yield World(served, bridge, page, trace, writer)
            assert errors == []
        finally:
            browser.close()
    bridge.close()
    writer.close()


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
    token = w.served.call(lambda: w.bridge.tokens.issue("jc-app", ttl=60))
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


