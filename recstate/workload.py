"""A mixed workload as a trace: the crash tests and the load bench drive it.

It holds, in time order: the Tencent 200-minute recording (``examples/traces/
tencent-200min.jsonl``: three 90/90/20-minute files), a NetEase call with its callback
service's deliveries, one of them retried (``netease-callee-video-all-files.jsonl``), and
``sessions`` more Tencent recordings with a data heartbeat each: two of every three stopped
by the app (one file, ``stop:ok`` naming it), every third one's client crashing (the data
stops; the 60 s watchdog ends the file at the last data, 002 §6). One ``start:ok`` callback
is delivered twice with the same trace ``id``: applied once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["EXAMPLES", "mixed_lines", "recording_lines", "write_mixed"]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "traces"
T0 = 1_700_000_000
START = "requestMultiVideoRecorderStart"
STOP = "requestMultiVideoRecorderStop"


def _example(name: str) -> list[dict[str, Any]]:
    lines = (EXAMPLES / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(x) for x in lines if x.strip() and not x.startswith("#")]


def recording_lines(i: int, *, t0: float = T0, minutes: int = 30, beat: float = 30,
                    crash: bool = False, relation: int = 3000) -> list[dict[str, Any]]:
    """One Tencent recording: enter, start, start:ok, a heartbeat every ``beat`` s for
    ``minutes``, then the app's stop and stop:ok with one file ID (or, ``crash``, nothing:
    the watchdog closes it)."""
    user = f"u{i}"
    key = f"{relation}:{i}:{user}"
    room = {"relationId": relation, "roomId": i}

    def line(t: float, name: str, data: dict[str, Any] | None = None,
             **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"t": t, "vendor": "tencent", "name": name, "session": key}
        if data is not None:
            out["data"] = data
        out.update(extra)
        return out

    start = t0 + i
    out = [line(start, "enterRoom", {**room, "roomType": "multi", "user": user}),
           line(start, START, {"roomInfo": room, "param": {"fileName": f"rec-{i}",
                                                           "classId": 1,
                                                           "recordDataType": 0}}),
           line(start + 1, f"{START}:ok", {}, id=f"start-ok-{i}")]
    t = start + beat
    end = start + minutes * 60
    while t <= end:
        out.append(line(t, "mediaData"))
        t += beat
    if not crash:
        out.append(line(end + 1, STOP, {"roomInfo": room}))
        out.append(line(end + 2, f"{STOP}:ok", {"fileIds": [f"52858907{i:08d}"]}))
    return out


def mixed_lines(sessions: int = 20, *, minutes: int = 30) -> list[dict[str, Any]]:
    lines = _example("tencent-200min.jsonl") + _example("netease-callee-video-all-files.jsonl")
    for i in range(sessions):
        rec = recording_lines(i, minutes=minutes + (i % 7), crash=i % 3 == 2)
        if i == 0:  # the start:ok callback delivered again by the vendor, same id
            rec.insert(3, {**rec[2], "t": rec[2]["t"] + 2})
        lines += rec
    lines.sort(key=lambda x: x["t"])  # stable: same time keeps the order above
    return lines


def write_mixed(path: str | Path, sessions: int = 20, *, minutes: int = 30) -> Path:
    path = Path(path)
    with path.open("w", encoding="utf-8") as f:
        f.write("# recstate.workload: the Tencent 200-minute recording, a NetEase call with "
                f"its callback, {sessions} more Tencent recordings\n")
        for x in mixed_lines(sessions, minutes=minutes):
            f.write(json.dumps(x, ensure_ascii=False) + "\n")
    return path
