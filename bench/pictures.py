"""Scenarios and pictures: what a four-hour recording costs to simulate, replay and draw.

    .venv/bin/python bench/pictures.py            # a four-hour Tencent recording, 1 and 100 users

For each size: run the scenario file on the simulator in virtual time writing its trace, then
replay that trace watched (``recstate.observe``) and draw it (SVG and HTML). Wall-clock
seconds, best of three; the sizes of the pictures.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recstate.observe import observe_replay
from recstate.scenario import parse_scenario, run_scenario_file, scenario_text
from recstate.timeline import build, render_html, render_svg


def scenario(users: int, minutes: float) -> str:
    steps: list[dict[str, Any]] = []
    for i in range(users):
        room = {"relationId": 15000, "roomId": i + 1}
        steps.append({"at": i, "event": "enterRoom", "data": {**room, "user": f"u{i}"}})
        steps.append({"at": i, "event": "requestMultiVideoRecorderStart",
                      "data": {"roomInfo": room, "user": f"u{i}", "param": {"fileName": "r"}}})
        steps.append({"at": minutes * 60, "event": "requestMultiVideoRecorderStop",
                      "data": {"roomInfo": room, "user": f"u{i}"}})
    return scenario_text({"vendor": "tencent", "until": minutes * 60 + 5, "steps": steps})


def best(fn: Callable[[], Any]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(3):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def measure(users: int, tmp: Path) -> str:
    scn = parse_scenario(scenario(users, 240), "toml")
    out = tmp / f"{users}.jsonl"

    def simulate() -> None:
        out.unlink(missing_ok=True)
        run_scenario_file(scn, out=out)

    sim_s, _ = best(simulate)
    lines = sum(1 for _ in out.open("rb"))
    replay_s, watched = best(lambda: observe_replay(out))
    timeline = build(watched)
    svg_s, svg = best(lambda: render_svg(timeline))
    page = render_html(timeline)
    return (f"| {users} | 240 | {sim_s:.2f} | {lines} | {replay_s:.2f} | "
            f"{svg_s:.3f}, {len(svg) / 1000:.0f} | {len(page) / 1000:.0f} |")


def main() -> None:
    print("| users | minutes | simulate (s) | trace lines | watched replay (s) | SVG (s, kB) "
          "| HTML (kB) |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for users in (1, 100):
            print(measure(users, Path(tmp)))


if __name__ == "__main__":
    main()
