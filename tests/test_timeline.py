"""`recstate timeline` and `recstate replay --html`: the SVG's lanes and bars, counted against
the vendors' rules, and the HTML page opened in a real headless browser."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from recstate.adapters.tencent import TencentSimulator
from recstate.clock import ManualClock
from recstate.events.tencent import (
    EnterRoom,
    RecordParam,
    RoomInfo,
    StartRecording,
    StopRecording,
)
from recstate.replay import replay
from recstate.runtime import Runtime
from recstate.trace import TraceWriter
from tests.browser import Opened, browser

__all__ = ["browser"]

ROOT = Path(__file__).resolve().parent.parent
TRACES = ROOT / "examples" / "traces"
SVG = "{http://www.w3.org/2000/svg}"
T0 = 1_700_000_000.0


def recstate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recstate.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, check=False, timeout=120)


def simulated(path: Path, *, users: int, minutes: float, crash_every: int = 0) -> Path:
    """A Tencent trace from the simulator: ``users`` users, each in a room of their own,
    recording ``minutes`` and stopping; every ``crash_every``-th client crashes halfway."""
    runtime = Runtime(ManualClock(T0), tracer=TraceWriter(path))
    sim = TencentSimulator(runtime)
    try:
        for i in range(users):
            user, room = f"user{i:03d}", RoomInfo(relationId=15000, roomId=i + 1)
            runtime.dispatch(EnterRoom(t=T0 + i, relationId=15000, roomId=i + 1, user=user))
            runtime.dispatch(StartRecording(t=T0 + i, roomInfo=room, user=user,
                                            param=RecordParam(fileName=f"rec-{i}")))
            if crash_every and i % crash_every == 0:
                sim.crash(f"15000:{i + 1}:{user}", at=T0 + i + minutes * 30)
        end = T0 + minutes * 60
        runtime.advance(end)
        for i in range(users):
            runtime.dispatch(StopRecording(t=end, roomInfo=RoomInfo(relationId=15000,
                                                                    roomId=i + 1),
                                           user=f"user{i:03d}"))
        runtime.advance(end + 5)
    finally:
        sim.disconnect()
        assert runtime.tracer is not None
        runtime.tracer.close()  # type: ignore[attr-defined]
    return path


def svg_of(*args: str | Path) -> ET.Element:
    result = recstate("timeline", *args)
    assert result.returncode == 0, result.stderr
    return ET.fromstring(result.stdout)


def lanes(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == "lane"]


def bars(lane: ET.Element) -> list[ET.Element]:
    return [r for r in lane.iter(f"{SVG}rect") if "file" in (r.get("class") or "").split()]


def marks(lane: ET.Element, kind: str) -> list[ET.Element]:
    return [m for m in lane.iter() if f"mark-{kind}" in (m.get("class") or "").split()]


def test_the_200_minute_recording_is_one_lane_with_three_ready_files() -> None:
    # 002 §6 (1): a new MP4 every 90 minutes: 200 minutes give 90 + 90 + 20, all made ready
    # by SearchMedia after the stop.
    root = svg_of(TRACES / "tencent-200min.jsonl")
    (lane,) = lanes(root)
    assert lane.get("data-session") == "1001:7:alice"
    files = bars(lane)
    assert len(files) == 3
    assert {f.get("data-status") for f in files} == {"ready"}
    widths = sorted((float(f.get("x", 0)), float(f.get("width", 0))) for f in files)
    assert widths[0][1] == pytest.approx(widths[1][1], abs=0.2)
    assert widths[2][1] == pytest.approx(widths[0][1] * 20 / 90, abs=0.5)
    # contiguous: each file starts where the previous one ended
    assert widths[1][0] == pytest.approx(widths[0][0] + widths[0][1], abs=0.2)
    states = [b.get("data-state") for b in lane.iter(f"{SVG}rect")
              if b.get("class") == "band"]
    assert states == ["starting", "recording", "stopping", "stopped"]
    assert [m.get("data-name") for m in marks(lane, "timer")] == ["rollover", "rollover"]
    assert [m.get("data-name") for m in marks(lane, "command")] == [
        "requestMultiVideoRecorderStart", "requestMultiVideoRecorderStop", "SearchMedia"]
    assert not marks(lane, "violation")


def test_the_crash_shows_the_watchdog_and_its_notice() -> None:
    # 002 §6 (2): 60 s without data closes the recording; two closed files (90 + 10 min).
    (lane,) = lanes(svg_of(TRACES / "tencent-crash.jsonl"))
    assert [f.get("data-status") for f in bars(lane)] == ["closed", "closed"]
    assert [m.get("data-name") for m in marks(lane, "timer")] == ["rollover", "watchdog"]
    assert [m.get("data-name") for m in marks(lane, "error")] == ["no-data"]
    assert [m.get("data-name") for m in marks(lane, "notice")] == ["not-recording"]


@pytest.mark.parametrize("trace", sorted(TRACES.glob("*.jsonl")), ids=lambda p: p.stem)
def test_every_example_trace_has_a_lane_per_session_and_a_bar_per_file(trace: Path) -> None:
    report = replay(trace)
    root = svg_of(trace)
    drawn = lanes(root)
    by_key = {s["session"]: s for s in report.sessions}
    assert sorted(g.get("data-session") or "" for g in drawn) == sorted(by_key)
    for lane in drawn:
        session = by_key[lane.get("data-session") or ""]
        assert sorted(b.get("data-file-id") or "" for b in bars(lane)) == sorted(
            f["id"] for f in session["files"])
        assert len(marks(lane, "violation")) == len(session["violations"])


def test_a_hundred_sessions_and_the_session_filter(tmp_path: Path) -> None:
    trace = simulated(tmp_path / "many.jsonl", users=100, minutes=30)
    root = svg_of(trace)
    assert len(lanes(root)) == 100
    keys = [lane.get("data-session") for lane in lanes(root)]  # numbers as numbers
    assert keys[:3] == ["15000:1:user000", "15000:2:user001", "15000:3:user002"]
    assert keys[-1] == "15000:100:user099"
    assert all(len(bars(lane)) == 1 for lane in lanes(root))
    (one,) = lanes(svg_of(trace, "--session", "15000:42:user041"))
    assert one.get("data-session") == "15000:42:user041"
    result = recstate("timeline", trace, "--session", "15000:999:nobody")
    assert result.returncode == 2
    assert "no session '15000:999:nobody'" in result.stderr


def test_output_suffix_chooses_the_format(tmp_path: Path) -> None:
    svg, page = tmp_path / "t.svg", tmp_path / "t.html"
    assert recstate("timeline", TRACES / "tencent-crash.jsonl", "-o", svg).returncode == 0
    assert lanes(ET.parse(svg).getroot())
    assert recstate("timeline", TRACES / "tencent-crash.jsonl", "-o", page).returncode == 0
    assert page.read_text().startswith("<!DOCTYPE html>")
    bad = recstate("timeline", TRACES / "tencent-crash.jsonl", "-o", tmp_path / "t.png")
    assert bad.returncode == 2
    assert "use .html or .svg" in bad.stderr


def test_an_unreadable_trace_is_exit_2_naming_the_line(tmp_path: Path) -> None:
    trace = tmp_path / "bad.jsonl"
    trace.write_text('{"t": 1, "vendor": "tencent"}\n', encoding="utf-8")
    result = recstate("timeline", trace)
    assert result.returncode == 2
    assert "bad.jsonl:1: field 'name'" in result.stderr


# ---- in the browser --------------------------------------------------------------------------
def test_a_four_hour_recording_in_the_browser(browser: object, tmp_path: Path) -> None:
    # 240 minutes: two rollovers (002 §6 (1)), three files: 90, 90, 60 minutes.
    trace = simulated(tmp_path / "4h.jsonl", users=1, minutes=240)
    page_path = tmp_path / "4h.html"
    assert recstate("timeline", trace, "-o", page_path).returncode == 0
    page = Opened(browser, page_path)
    try:
        assert page.errors == []
        assert all(u.startswith("file:") for u in page.requests)  # no network at view time
        assert page.page.locator("div.lane").count() == 1
        files = page.page.locator("rect.file")
        assert files.count() == 3
        assert page.page.locator("rect.mark-timer[data-name=rollover]").count() == 2
        # the bars are really laid out: 90, 90 and 60 minutes wide
        widths = [files.nth(i).bounding_box()["width"] for i in range(3)]
        assert widths[0] == pytest.approx(widths[1], abs=0.5)
        assert widths[2] == pytest.approx(widths[0] * 60 / 90, abs=1)
        # hover: the tooltip names the file, its size and url
        files.nth(0).hover()
        tip = page.page.locator("#tip")
        assert tip.is_visible()
        text = tip.inner_text()
        assert "file " in text
        assert "url https://" in text
        assert "size " in text
        colours, ink = page.screenshot_stats()
        assert colours >= 20  # bands, bars, marks, text: not a blank or one-colour page
        assert 0.02 < ink < 0.6
    finally:
        page.close()


def test_a_hundred_lanes_collapse_and_filter_in_the_browser(browser: object,
                                                             tmp_path: Path) -> None:
    trace = simulated(tmp_path / "many.jsonl", users=100, minutes=20, crash_every=10)
    page_path = tmp_path / "many.html"
    assert recstate("timeline", trace, "-o", page_path).returncode == 0
    page = Opened(browser, page_path)
    try:
        assert page.errors == []
        lane = page.page.locator("div.lane")
        assert lane.count() == 100
        assert page.page.locator("div.lane.collapsed").count() == 100  # many: collapsed
        first = lane.nth(0).bounding_box()["height"]
        lane.nth(0).click()  # expands
        assert lane.nth(0).bounding_box()["height"] > first
        page.page.fill("#filter", "user04")
        assert page.page.locator("div.lane:not(.hidden)").count() == 10
        assert page.page.locator("#count").inner_text() == "10 of 100 sessions"
        page.page.fill("#filter", "")
        assert page.page.locator("div.lane:not(.hidden)").count() == 100
        colours, ink = page.screenshot_stats()
        assert colours >= 20
        assert ink > 0.02
    finally:
        page.close()


def test_replay_html_has_the_report_and_the_timeline(browser: object, tmp_path: Path) -> None:
    page_path = tmp_path / "report.html"
    result = recstate("replay", "--html", page_path, TRACES / "netease-files-partly-lost.jsonl")
    assert result.returncode in (0, 1), result.stderr
    assert result.stdout.rstrip().endswith(("OK", "FAILED"))  # the report still printed
    page = Opened(browser, page_path)
    try:
        assert page.errors == []
        report = page.page.locator("pre.report").inner_text()
        assert report.rstrip("\n") == result.stdout.rstrip("\n")
        sessions = replay(TRACES / "netease-files-partly-lost.jsonl").sessions
        assert page.page.locator("div.lane").count() == len(sessions)
        lost = [f for s in sessions for f in s["files"] if f["status"] == "lost"]
        assert lost  # the trace is about them
        assert page.page.locator("rect.file-lost").count() == len(lost)
        colours, ink = page.screenshot_stats()
        assert colours >= 20
        assert ink > 0.02
    finally:
        page.close()


# ---- CloudRoom: layout changes as marks ------------------------------------------------------
SCENARIOS = ROOT / "examples" / "scenarios"


def simulate_to(scenario: str, out: Path) -> Path:
    result = recstate("simulate", SCENARIOS / scenario, "--out", out)
    assert result.returncode == 0, result.stderr
    return out


def test_cloudroom_layouts_are_marks_on_the_mixers_lane(tmp_path: Path) -> None:
    # 003 §1 creates the mixer side by side, §4 switches it to picture in picture at minute
    # 10 (the scenario's one UpdateLocMixerContent): two layouts, one file
    trace = simulate_to("cloudroom-side-by-side-to-pip.toml", tmp_path / "pip.jsonl")
    (lane,) = lanes(svg_of(trace))
    assert lane.get("data-session") == "1"
    layouts = marks(lane, "layout")
    assert [m.get("data-name") for m in layouts] == ["CreateLocMixer", "UpdateLocMixerContent"]
    assert len(bars(lane)) == 1
    create, update = (m.findtext(f"{SVG}title") or "" for m in layouts)
    assert create.startswith("2023-11-14 22:13:20Z")
    assert "camera user1.1 at 0,90 320x180; camera user2.1 at 320,90 320x180" in create
    assert update.startswith("2023-11-14 22:23:20Z")  # minute 10
    assert "camera user2.1 at 475,265 160x90" in update  # the small picture, bottom right
    # the update sits halfway along the 20 minutes the trace spans
    x = [float((m.get("d") or "").split(",")[0][1:]) for m in layouts]
    assert x[1] - x[0] == pytest.approx((1240 - 230 - 16) * 600 / 1200, abs=2)


def test_a_refused_layout_is_a_notice_not_a_layout(tmp_path: Path) -> None:
    # mixer 2: created, its update off the canvas refused (003 §1: the rectangle must fit);
    # mixer 3 never exists: its update refused too. One layout in all: mixer 2's at create.
    trace = simulate_to("cloudroom-misuse-and-silence.yaml", tmp_path / "misuse.jsonl")
    by_key = {lane.get("data-session"): lane for lane in lanes(svg_of(trace))}
    assert [m.get("data-name") for m in marks(by_key["2"], "layout")] == ["CreateLocMixer"]
    assert marks(by_key["3"], "layout") == []
    said = marks(by_key["2"], "error") + marks(by_key["2"], "notice")
    assert [m.get("data-name") for m in said].count("invalid-layout") == 1


def test_cloudroom_layouts_in_the_browser(browser: object, tmp_path: Path) -> None:
    trace = simulate_to("cloudroom-side-by-side-to-pip.toml", tmp_path / "pip.jsonl")
    page_path = tmp_path / "pip.html"
    assert recstate("timeline", trace, "-o", page_path).returncode == 0
    page = Opened(browser, page_path)
    try:
        assert page.errors == []
        assert all(u.startswith("file:") for u in page.requests)
        layouts = page.page.locator(".mark-layout")
        assert layouts.count() == 2
        box = layouts.nth(1).bounding_box()
        assert box is not None
        assert box["width"] > 5
        layouts.nth(1).hover()
        tip = page.page.locator("#tip")
        assert tip.is_visible()
        assert "UpdateLocMixerContent" in tip.inner_text()
        assert "camera user2.1 at 475,265 160x90" in tip.inner_text()
        colours, ink = page.screenshot_stats()
        assert colours >= 20
        assert ink > 0.02
    finally:
        page.close()
