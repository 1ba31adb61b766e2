"""Issue 12's user-visible contracts (black box: the ``recstate`` CLI as a subprocess).

- ``replay --out`` writes a complete trace that replays with 0 mismatches, and replaying that
  complete trace with ``--out`` writes it again byte for byte (a full trace in, the same out);
  the report of the complete trace is the report of the input (but for the line count);
  with a store the ``--out`` and the report are the same as without.
- The report's lists are bounded and say what they left out: per session ``commands``,
  ``errors``, ``violations`` (first 1,000 each); report-wide ``mismatches``, ``unrouted`` and
  ``bad_lines`` (first 10,000 each); each count in ``left_out`` under the list's own name,
  the totals (``violations``, the summary line, the exit status) counting them all; and the
  names are documented.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from recstate.examples import path_of, traces

RECSTATE = str(Path(sys.executable).parent / "recstate")
ROOT = Path(__file__).resolve().parent.parent
T0 = 1_700_000_000
KEY = "1001:7:alice"
ROOM = {"relationId": 1001, "roomId": 7}
ENTER = {"t": T0, "vendor": "tencent", "name": "enterRoom", "session": KEY,
         "data": {**ROOM, "roomType": "multi", "user": "alice"}}
SESSION_LIMIT = 1_000  # the bounded lists, as docs/architecture.md gives them
REPORT_LIMIT = 10_000


def recstate(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RECSTATE, *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=900, check=False)


def json_report(*args: str | Path, cwd: Path) -> tuple[int, dict[str, Any]]:
    done = recstate("replay", "--json", *args, cwd=cwd)
    assert done.returncode in (0, 1), done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    return done.returncode, out


def write(path: Path, lines: list[dict[str, Any] | str]) -> Path:
    path.write_text("".join((json.dumps(x) if isinstance(x, dict) else x) + "\n"
                            for x in lines))
    return path


def without_lines(value: Any) -> Any:
    """``value`` without its line counts and numbers (``lines``, each violation's ``line``)."""
    if isinstance(value, dict):
        return {k: without_lines(v) for k, v in value.items() if k not in ("line", "lines")}
    if isinstance(value, list):
        return [without_lines(v) for v in value]
    return value


# ---- --out: a complete trace that replays to itself ----------------------------------------
@pytest.mark.parametrize("name", traces())
def test_out_replays_with_no_mismatch_and_reproduces_itself(tmp_path: Path, name: str) -> None:
    trace = path_of(name)
    status, original = json_report(trace, "--out", tmp_path / "full.jsonl", cwd=tmp_path)
    full = (tmp_path / "full.jsonl").read_bytes()
    assert full.endswith(b"\n")
    again, replayed = json_report(tmp_path / "full.jsonl", "--out", tmp_path / "again.jsonl",
                                  cwd=tmp_path)
    assert replayed["mismatches"] == []
    assert "left_out" not in replayed
    assert again == status
    # a full trace in, the same full trace out, byte for byte
    assert (tmp_path / "again.jsonl").read_bytes() == full
    # and it tells the same story as the input (but for line numbers: its lines are others)
    assert without_lines(replayed) == without_lines(original)


@pytest.mark.parametrize("name", ["tencent-200min.jsonl", "netease-pieces.jsonl",
                                  "cloudroom-eight-hours.jsonl", "juphoon-two-files.jsonl"])
def test_out_with_a_store_is_the_out_without(tmp_path: Path, name: str) -> None:
    trace = path_of(name)
    _, plain = json_report(trace, "--out", tmp_path / "plain.jsonl", cwd=tmp_path)
    _, stored = json_report(trace, "--out", tmp_path / "stored.jsonl",
                            "--store", "sqlite:///s.db", cwd=tmp_path)
    assert stored == plain
    assert (tmp_path / "stored.jsonl").read_bytes() == (tmp_path / "plain.jsonl").read_bytes()


# ---- bounded lists, with counts of what was left out ------------------------------------------
def start_ok(i: int) -> dict[str, Any]:
    return {"t": T0 + 1 + i, "vendor": "tencent", "name": "requestMultiVideoRecorderStart:ok",
            "session": KEY, "data": {}}


def test_a_session_lists_its_first_violations_and_counts_the_rest(tmp_path: Path) -> None:
    # 002: a start's success in a session that never asked to start is not accepted
    trace = write(tmp_path / "v.jsonl", [ENTER, *(start_ok(i) for i in range(1005))])
    status, rep = json_report(trace, cwd=tmp_path)
    assert status == 1
    (session,) = rep["sessions"]
    assert len(session["violations"]) == SESSION_LIMIT
    assert session["left_out"] == {"violations": 5}
    assert rep["violations"] == 1005  # the total counts what was left out
    text = recstate("replay", trace, cwd=tmp_path).stdout
    assert "1005 violations" in text


def test_a_session_lists_its_first_commands_and_counts_the_rest(tmp_path: Path) -> None:
    lines: list[dict[str, Any] | str] = [ENTER]
    for i in range(400):  # each recording: start, stop and the VOD look-up (three commands)
        t = T0 + 10 * (i + 1)
        lines += [
            {"t": t, "vendor": "tencent", "name": "requestMultiVideoRecorderStart",
             "session": KEY, "data": {"roomInfo": ROOM, "param": {"fileName": f"f{i}"}}},
            {"t": t + 1, "vendor": "tencent", "name": "requestMultiVideoRecorderStart:ok",
             "session": KEY, "data": {}},
            {"t": t + 2, "vendor": "tencent", "name": "requestMultiVideoRecorderStop",
             "session": KEY, "data": {"roomInfo": ROOM}},
            {"t": t + 3, "vendor": "tencent", "name": "requestMultiVideoRecorderStop:ok",
             "session": KEY, "data": {"fileIds": [f"{i}"]}},
            {"t": t + 4, "vendor": "tencent", "name": "SearchMedia:ok", "session": KEY,
             "data": {"files": [{"fileId": f"{i}", "name": f"f{i}_1", "size": 10, "vid": "",
                                 "url": f"https://v.example/{i}.mp4",
                                 "createTime": "2023-11-14T23:43:21Z"}]}},
        ]
    status, rep = json_report(write(tmp_path / "c.jsonl", lines), cwd=tmp_path)
    assert status == 0
    (session,) = rep["sessions"]
    assert len(session["commands"]) == SESSION_LIMIT
    assert session["left_out"] == {"commands": 3 * 400 - SESSION_LIMIT}
    assert len(session["files"]) == 400  # files are the session's summary: never cut


def test_a_session_lists_its_first_errors_and_counts_the_rest(tmp_path: Path) -> None:
    again = [{**ENTER, "t": T0 + 1 + i, "id": "enter-1"} for i in range(1006)]
    status, rep = json_report(write(tmp_path / "e.jsonl", [ENTER, *again]), cwd=tmp_path)
    assert status == 0  # duplicates are info notices
    (session,) = rep["sessions"]
    assert len(session["errors"]) == SESSION_LIMIT
    assert session["left_out"] == {"errors": 5}


def test_the_report_lists_its_first_bad_lines_and_counts_the_rest(tmp_path: Path) -> None:
    trace = write(tmp_path / "b.jsonl", [ENTER, *(f"not json {i}" for i in range(10_005))])
    _, rep = json_report(trace, "--skip-bad-lines", cwd=tmp_path)
    assert len(rep["bad_lines"]) == REPORT_LIMIT
    assert rep["left_out"] == {"bad_lines": 5}
    text = recstate("replay", "--skip-bad-lines", trace, cwd=tmp_path).stdout
    assert "5 more bad lines" in text


def test_the_report_lists_its_first_unrouted_inputs_and_counts_the_rest(tmp_path: Path
                                                                        ) -> None:
    lost = [{"t": T0 + 1 + i, "vendor": "tencent", "name": "mediaData"} for i in range(10_005)]
    _, rep = json_report(write(tmp_path / "u.jsonl", [ENTER, *lost]), cwd=tmp_path)
    assert len(rep["unrouted"]) == REPORT_LIMIT
    assert rep["left_out"] == {"unrouted": 5}


def test_the_report_lists_its_first_mismatches_and_counts_the_rest(tmp_path: Path) -> None:
    trace = write(tmp_path / "v.jsonl", [ENTER, *(start_ok(i) for i in range(10_005))])
    done = recstate("replay", trace, "--out", tmp_path / "full.jsonl", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    full = (tmp_path / "full.jsonl").read_text()
    assert full.count("not accepted in state") == 10_005
    # what the machines "logged" differs from what they do now, line by line
    (tmp_path / "edited.jsonl").write_text(full.replace("not accepted in state",
                                                        "NOT accepted in state"))
    status, rep = json_report(tmp_path / "edited.jsonl", cwd=tmp_path)
    assert status == 1
    assert len(rep["mismatches"]) == REPORT_LIMIT
    left = rep["left_out"]["mismatches"]
    assert left >= 5
    text = recstate("replay", tmp_path / "edited.jsonl", cwd=tmp_path).stdout
    assert f"{REPORT_LIMIT + left} mismatches" in text


def test_nothing_left_out_means_no_left_out_field(tmp_path: Path) -> None:
    _, rep = json_report(path_of("tencent-200min.jsonl"), cwd=tmp_path)
    assert "left_out" not in rep
    assert all("left_out" not in s for s in rep["sessions"])


@pytest.mark.parametrize("doc", ["docs/architecture.md", "README.md"])
def test_the_left_out_field_names_are_documented(doc: str) -> None:
    """Where the document speaks of ``left_out``, it names every key the report may hold."""
    text = (ROOT / doc).read_text()
    at = text.find("`left_out`")
    assert at >= 0, f"{doc} does not document left_out"
    near = text[max(0, at - 800):at + 800]
    for name in ("commands", "errors", "violations", "mismatches", "unrouted", "bad_lines"):
        assert f"`{name}`" in near or f'"{name}"' in near, (doc, name)
