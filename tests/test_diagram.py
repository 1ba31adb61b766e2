"""`recstate diagram`: readable by default (an edge is a change of state), everything with
--all, guards, commands and timers on the labels, SVG/PNG through graphviz's dot."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from recstate.diagram import diagram
from recstate.machines.tencent import TencentRecorder
from recstate.observe import all_machines

ROOT = Path(__file__).resolve().parent.parent
EDGE = re.compile(r'^\s+"(?P<src>[^"]+)" -> "(?P<dst>[^"]+)" \[label=<(?P<label>.*)>',
                  re.MULTILINE)


def recstate(*args: str | Path, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "recstate.cli", *map(str, args)],
                          capture_output=True, cwd=ROOT, check=False, timeout=120, env=env)


def edges(dot: str) -> dict[tuple[str, str], str]:
    return {(m["src"], m["dst"]): m["label"] for m in EDGE.finditer(dot)}


def tencent(full: bool = False) -> str:
    result = recstate("diagram", "tencent.recorder", "--format", "dot",
                      *(["--all"] if full else []))
    assert result.returncode == 0, result.stderr
    return result.stdout.decode()


def test_default_draws_only_changes_of_state() -> None:
    drawn = edges(tencent())
    assert drawn
    assert all(src != dst for src, dst in drawn)  # no self-loops
    assert not any("mediaData" in label and "ignores" not in label for label in
                   drawn.values())
    # every change of state declared is an edge (002/004 rules as the machine declares them)
    assert "requestMultiVideoRecorderStart" in drawn[("idle", "starting")]
    assert "requestMultiVideoRecorderStop:ok" in drawn[("stopping", "stopped")]
    assert "watchdog" in drawn[("recording", "stopped")]


def test_ignored_events_and_refusals_are_listed_in_the_boxes() -> None:
    dot = tencent()
    recording = re.search(r'^\s+"recording" \[label=<(.*)>', dot, re.MULTILINE)
    assert recording is not None
    # 002 §6 (2): one minute without data closes the recording: the tied watchdog
    assert "◷ watchdog after no_data_timeout = 60 s" in recording[1]
    # 002 §6 (1): a new file every 90 minutes: rollover keeps the state
    assert "◷ rollover" in recording[1]
    idle = re.search(r'^\s+"idle" \[label=<(.*)>', dot, re.MULTILINE)
    assert idle is not None
    assert "ignores mediaData" in idle[1]
    # the local refusals of a start (004 §4, §5), once, in the note of the states they share
    assert dot.count("requestMultiVideoRecorderStart [pair_room]") == 1


def test_a_transition_from_every_state_is_drawn_once() -> None:
    dot = tencent()
    assert dot.count('"__any" [') == 1
    any_box = re.search(r'"__any" \[.*label=<(.*?)>\];', dot)
    assert any_box is not None
    assert "enterRoom" in any_box[1]
    full = edges(tencent(full=True))
    # --all: the same declaration from each of the seven states, as a loop
    assert sum(1 for (s, d), label in full.items() if s == d and "enterRoom" in label) == 7


def test_guards_commands_and_timers_on_the_edges() -> None:
    drawn = edges(tencent())
    retry = drawn[("starting", "retry_wait")]
    assert "[retryable, not stop_pending]" in retry  # 004 §5: retry the network codes
    assert "◷ retry" in retry  # and it arms the retry timer
    assert "⇒ requestMultiVideoRecorderStart" in drawn[("retry_wait", "starting")]
    assert "⇒ requestMultiVideoRecorderStop" in drawn[("recording", "stopping")]
    # 002 §4: after the stop the files' addresses come from VOD's SearchMedia
    assert "⇒ SearchMedia" in drawn[("stopping", "stopped")]
    dot = tencent()
    watchdog = re.search(r'"recording" -> "stopped" \[([^\n]*)\];', dot)
    assert watchdog is not None
    assert "style=dashed" in watchdog[1]  # a timer's edge


@pytest.mark.parametrize("name", sorted(all_machines()))
def test_every_machine_draws_in_both_text_formats(name: str) -> None:
    cls = all_machines()[name]
    dot = diagram(cls, "dot")
    mermaid = diagram(cls, "mermaid")
    assert dot.startswith("digraph")
    assert mermaid.startswith("stateDiagram-v2")
    for state in cls.state_names():
        assert f'"{state}" [label=' in dot
        assert f'state "{state}" as ' in mermaid
    for line in mermaid.splitlines():  # Mermaid: ':' only where a label starts
        if "-->" in line and ":" in line:
            assert ":" not in line.split(":", 1)[1]
    assert all(s != d for s, d in edges(dot))


def test_mermaid_keeps_ignores_off_the_edges() -> None:
    result = recstate("diagram", "tencent.recorder")
    text = result.stdout.decode()
    assert result.returncode == 0
    assert not [ln for ln in text.splitlines() if "-->" in ln and "mediaData" in ln]
    assert 'state "any state" as any' in text


def test_svg_and_png_through_dot(tmp_path: Path) -> None:
    if shutil.which("dot") is None:
        pytest.fail("this test renders through graphviz's dot: `apt-get install -y graphviz` "
                    "(.ci/run installs it)")
    svg = recstate("diagram", "tencent.recorder", "--format", "svg")
    assert svg.returncode == 0, svg.stderr
    root = ET.fromstring(svg.stdout)
    titles = {t.text for t in root.iter("{http://www.w3.org/2000/svg}title")}
    assert set(TencentRecorder.state_names()) <= titles
    out = tmp_path / "t.png"
    png = recstate("diagram", "netease.call", "--format", "png", "-o", out)
    assert png.returncode == 0, png.stderr
    from PIL import Image

    image = Image.open(io.BytesIO(out.read_bytes()))
    assert image.format == "PNG"
    assert image.width > 400
    assert len(image.convert("RGB").getcolors(1 << 20) or []) > 10


def test_without_dot_svg_is_a_clear_error(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # nothing on it
    result = recstate("diagram", "tencent.recorder", "--format", "svg", env=env)
    assert result.returncode == 2
    assert b"needs graphviz's `dot`" in result.stderr
    assert b"apt-get install graphviz" in result.stderr
    assert recstate("diagram", "tencent.recorder", "--format", "dot", env=env).returncode == 0
