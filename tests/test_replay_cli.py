"""`recstate replay` and friends, run as a subprocess: exit statuses, report, --out, --until."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TRACES = ROOT / "examples" / "traces"
T0 = 1_700_000_000


def recstate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recstate.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, check=False, timeout=120)


def line(t: float | str, name: str, data: dict[str, Any] | None = None,
         session: str | None = "1:2:bob", **extra: Any) -> str:
    record: dict[str, Any] = {"t": t, "vendor": "tencent", "name": name}
    if session is not None:
        record["session"] = session
    if data is not None:
        record["data"] = data
    record.update(extra)
    return json.dumps(record)


ROOM = {"relationId": 1, "roomId": 2}
ENTER = line(T0, "enterRoom", {"relationId": 1, "roomId": 2, "user": "bob"})
START = line(T0, "requestMultiVideoRecorderStart",
             {"roomInfo": ROOM, "param": {"fileName": "lesson"}})
OK = line(T0 + 1, "requestMultiVideoRecorderStart:ok", {})


def write(tmp_path: Path, *lines: str, name: str = "t.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_clean_trace_exits_0_with_a_readable_table() -> None:
    result = recstate("replay", TRACES / "tencent-200min.jsonl")
    assert result.returncode == 0, result.stderr
    assert "session 1001:7:alice" in result.stdout
    assert "90m00.0s" in result.stdout
    assert result.stdout.rstrip().endswith("OK")


def test_json_report_has_the_documented_shape() -> None:
    result = recstate("replay", "--json", TRACES / "tencent-200min.jsonl")
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert set(report) >= {"lines", "events", "violations", "mismatches", "sessions"}
    assert (report["lines"], report["events"], report["violations"]) == (409, 406, 0)
    session = report["sessions"][0]
    assert set(session) == {"session", "vendor", "machine", "state", "recording", "files",
                            "commands", "errors", "violations"}
    assert (session["vendor"], session["machine"]) == ("tencent", "tencent.recorder")
    assert set(session["files"][0]) >= {"id", "participant", "kind", "format", "start", "end",
                                        "size", "url", "status"}
    assert set(session["commands"][0]) == {"t", "name", "data"}


def test_same_trace_gives_the_same_report_byte_for_byte() -> None:
    runs = [recstate("replay", "--json", TRACES / "tencent-crash.jsonl").stdout
            for _ in range(2)]
    runs += [recstate("replay", TRACES / "tencent-crash.jsonl").stdout for _ in range(2)]
    assert runs[0] == runs[1]
    assert runs[2] == runs[3]


def test_a_violation_exits_1_and_names_line_state_and_reason(tmp_path: Path) -> None:
    trace = write(tmp_path, ENTER, START, OK, OK.replace(str(T0 + 1), str(T0 + 2)))
    result = recstate("replay", "--json", trace)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["violations"] == 1
    violation = report["sessions"][0]["violations"][0]
    assert violation["line"] == 4
    assert violation["name"] == "requestMultiVideoRecorderStart:ok"
    assert violation["state"] == "recording"
    assert "not accepted in state 'recording'" in violation["reason"]
    assert report["sessions"][0]["state"] == "recording", "the session carried on"


def test_strict_stops_at_the_first_violation(tmp_path: Path) -> None:
    stop = line(T0 + 5, "requestMultiVideoRecorderStop", {"roomInfo": ROOM})
    trace = write(tmp_path, ENTER, START, OK, OK.replace(str(T0 + 1), str(T0 + 2)), stop)
    lenient = json.loads(recstate("replay", "--json", trace).stdout)
    strict = recstate("replay", "--json", "--strict", trace)
    assert strict.returncode == 1
    report = json.loads(strict.stdout)
    assert "requestMultiVideoRecorderStart:ok" in report["stopped"]
    assert report["sessions"][0]["state"] == "recording", "the stop after it was not replayed"
    assert lenient["sessions"][0]["state"] == "stopping"


@pytest.mark.parametrize(("bad", "field", "words"), [
    ("{not json", None, "not valid JSON"),
    (json.dumps({"vendor": "tencent", "name": "mediaData"}), "t", "required field"),
    (line("yesterday", "mediaData"), "t", "ISO-8601"),
    (line("2023-11-14T22:13:30", "mediaData"), "t", "no offset"),
    (line(T0 + 3, "mediaData", vendor="skype"), "vendor", "unknown vendor"),
    (line(T0 + 3, "recordingStarted"), "name", "unknown event"),
    (line(T0 + 3, "requestMultiVideoRecorderStart:error", {"code": "30000208"}), "data.code",
     "expected int"),
    (line(T0 + 3, "mediaData", kind="heartbeat"), "kind", "unknown kind"),
])
def test_an_unreadable_line_exits_2_naming_file_line_and_field(
        tmp_path: Path, bad: str, field: str | None, words: str) -> None:
    trace = write(tmp_path, ENTER, START, bad)
    result = recstate("replay", trace)
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"{trace}:3" in result.stderr
    if field:
        assert f"field {field!r}" in result.stderr
    assert words in result.stderr
    assert "--skip-bad-lines" in result.stderr


def test_skip_bad_lines_goes_on_and_lists_them(tmp_path: Path) -> None:
    trace = write(tmp_path, ENTER, "{oops", START, line(T0 + 1, "nope"), OK)
    result = recstate("replay", "--json", "--skip-bad-lines", trace)
    report = json.loads(result.stdout)
    assert [b["line"] for b in report["bad_lines"]] == [2, 4]
    assert report["sessions"][0]["state"] == "recording", "good lines around them replayed"
    assert result.returncode == 1


def test_time_going_back_is_an_unreadable_trace(tmp_path: Path) -> None:
    trace = write(tmp_path, ENTER, START, line(T0 - 10, "mediaData"))
    result = recstate("replay", trace)
    assert result.returncode == 2
    assert "time goes back" in result.stderr


def test_until_advances_the_clock_after_the_last_line(tmp_path: Path) -> None:
    trace = write(tmp_path, ENTER, START, OK)
    without = json.loads(recstate("replay", "--json", trace).stdout)
    assert without["sessions"][0]["state"] == "recording"
    iso = "2023-11-14T22:20:00Z"  # 400 s after T0: past the 60 s watchdog
    with_until = json.loads(recstate("replay", "--json", "--until", iso, trace).stdout)
    session = with_until["sessions"][0]
    assert session["state"] == "stopped"
    assert session["files"][0]["end"] == T0 + 1, "no data ever came: ends at :ok"
    numeric = json.loads(recstate("replay", "--json", "--until", str(T0 + 400), trace).stdout)
    assert numeric == with_until


def test_out_writes_a_full_trace_that_replays_with_no_differences(tmp_path: Path) -> None:
    full = tmp_path / "full.jsonl"
    first = recstate("replay", "--out", full, TRACES / "tencent-retry.jsonl")
    assert first.returncode == 0
    kinds = {json.loads(x).get("kind", "event") for x in full.read_text().splitlines()}
    assert kinds == {"event", "command", "transition", "file", "error"}
    again = recstate("replay", "--json", full)
    assert again.returncode == 0
    assert json.loads(again.stdout)["mismatches"] == []


def test_a_tampered_full_trace_reports_every_difference(tmp_path: Path) -> None:
    full = tmp_path / "full.jsonl"
    recstate("replay", "--out", full, TRACES / "tencent-retry.jsonl")
    lines = full.read_text().splitlines()
    commands = [i for i, x in enumerate(lines) if '"kind":"command"' in x]
    lines[commands[1]] = lines[commands[1]].replace('"fileName":"retry-1"', '"fileName":"x"')
    del lines[commands[2]]
    tampered = write(tmp_path, *lines, name="tampered.jsonl")
    result = recstate("replay", "--json", tampered)
    assert result.returncode == 1
    mismatches = json.loads(result.stdout)["mismatches"]
    assert [m["what"] for m in mismatches] == ["differs", "produced but not logged"]
    assert mismatches[0]["line"] == commands[1] + 1
    assert mismatches[0]["expected"]["data"]["param"]["fileName"] == "x"
    assert mismatches[0]["got"]["data"]["param"]["fileName"] == "retry-1"


def test_secrets_in_inputs_never_reach_the_full_trace(tmp_path: Path) -> None:
    start = line(T0, "requestMultiVideoRecorderStart",
                 {"roomInfo": ROOM, "param": {"fileName": "lesson"},
                  "secretKey": "s3cr3t-VALUE-1234"})
    full = tmp_path / "full.jsonl"
    result = recstate("replay", "--out", full, write(tmp_path, ENTER, start, OK))
    assert result.returncode == 0
    text = full.read_text()
    assert "s3cr3t-VALUE-1234" not in text
    assert '"secretKey":"***"' in text


def test_machines_lists_states_and_events() -> None:
    result = recstate("machines")
    assert result.returncode == 0
    assert "tencent.recorder" in result.stdout
    assert "states: idle, starting, retry_wait, recording, stopping, stopped, failed" in (
        result.stdout)
    assert "requestMultiVideoRecorderStop:ok: in stopping" in result.stdout


@pytest.mark.parametrize(("fmt", "start"), [("mermaid", "stateDiagram-v2"), ("dot", "digraph")])
def test_diagram_draws_the_definition(fmt: str, start: str) -> None:
    result = recstate("diagram", "tencent.recorder", "--format", fmt)
    assert result.returncode == 0
    assert result.stdout.startswith(start)
    assert "watchdog" in result.stdout
    unknown = recstate("diagram", "nobody.machine")
    assert unknown.returncode == 2
    assert "known: " in unknown.stderr
