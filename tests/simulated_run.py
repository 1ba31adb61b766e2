"""A simulated run on a store, resumable: NetEase calls whose every answer comes from the
simulator as a delayed delivery (``Runtime.deliver_at``: call:ok after 0.1 s, the callee's
accept after 2 s, the callback service's files 60 s after the hang-up, each body twice).
The app's own inputs are numbered like trace lines, so a run started again on the same store
skips those it had applied; the simulator's deliveries come back from the store.

Prints the store's journal and every session's final state as JSON: the same for a run
never killed and one killed any number of times and run again (tests/test_crash.py).

    python tests/simulated_run.py STORE_URL [CALLS]
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import Any

import orjson

from recstate.adapters.netease import NetEaseSimulator
from recstate.clock import ManualClock
from recstate.events import parse_event
from recstate.runtime import Runtime
from recstate.stores import open_store

T0 = 1_700_000_000.0
RECORD = {"recordType": "0", "recordAudio": True, "recordVideo": True}


def script(calls: int) -> list[tuple[float, str, dict[str, Any] | None, str]]:
    """The app's inputs in time order: a call every 20 s, hung up 100 to 160 s later."""
    lines = []
    for i in range(calls):
        cid = f"62907370009998{i:05d}"
        start = T0 + 20 * i
        lines.append((start, "call", {"callee": f"bob{i}", "type": 2, "account": "me",
                                      "record": RECORD}, cid))
        lines.append((start + 100 + 10 * (i % 7), "hangup", None, cid))
    return sorted(lines, key=lambda x: x[0])


def main(argv: Sequence[str]) -> int:
    url, calls = argv[0], int(argv[1]) if len(argv) > 1 else 10
    store = open_store(url, journal=True)
    rt = Runtime(ManualClock(-math.inf), strict=False, store=store, retention=None)
    rt.keys_from_lines = True  # the app's inputs are numbered: one applied is skipped
    sim = NetEaseSimulator(rt, duplicate=True)
    try:
        loaded = rt.recover()
        cursor = max([loaded.delivered, *(row.delivered for row in loaded.sessions)])
        lines = script(calls)
        for n, (t, name, data, cid) in enumerate(lines, start=1):
            if n < cursor:
                continue
            rt.advance(max(t, rt.clock.now()))
            rt.dispatch(parse_event("netease", name, t, data, cid), line=n)
        rt.advance(max(lines[-1][0] + 600, rt.clock.now()))
        rt.flush_store()
        sessions = {}
        for key in sorted(rt.sessions):
            snap = rt.snapshot(key)
            snap["timers"] = [(x["name"], x["due"]) for x in snap["timers"]]
            sessions[key] = snap
        journal = [rec.decode() for _, rec in store.journal()]
        sys.stdout.write(orjson.dumps({"journal": journal, "sessions": sessions},
                                      option=orjson.OPT_INDENT_2).decode() + "\n")
    finally:
        sim.close()
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
