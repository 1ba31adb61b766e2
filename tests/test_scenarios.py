"""`recstate simulate SCENARIO_FILE`: the example scenarios and their documented results, the
built-in scenarios as files, errors naming line and field, --seed, --out, --html."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from recstate.replay import replay
from recstate.scenario import hooks_for
from recstate.vendors import load_vendor, vendor_names

ROOT = Path(__file__).resolve().parent.parent
SCENARIO_DIR = ROOT / "examples" / "scenarios"


def recstate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recstate.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, check=False, timeout=120)


#: file -> (state, recording, file statuses) of each session, from the vendor documents.
DOCUMENTED = {
    # 002 §6 (1): 90 + 90 + 20 minutes, ready after SearchMedia (002 §4)
    "tencent-200min.toml": {"15000:1:alice": ("stopped", "stopped", ["ready"] * 3)},
    # 002 §6 (2): the watchdog closes it; the files end at the last data; no stop answered
    # with their IDs (002 §3): VOD finds them by the file name (002 §4 (3)), ready
    "tencent-crash.toml": {"15000:1:alice": ("stopped", "stopped", ["ready"] * 2)},
    # 004 §5: 30000208 then 30000415 to the retry: the first attempt got through
    "tencent-retry-already-recording.toml": {"15000:1:alice": ("stopped", "stopped",
                                                               ["ready"])},
    # 004 §5: 30000208 retried
    "tencent-retry.yaml": {"15000:1:alice": ("stopped", "stopped", ["ready"])},
    # 002 §2: one recording per user: room 2 refused, room 1 records
    "tencent-duplicate-start.json": {"15000:1:alice": ("stopped", "stopped", ["ready"]),
                                     "15000:2:alice": ("idle", "idle", [])},
    "tencent-stop-while-starting.toml": {"15000:1:alice": ("stopped", "stopped", ["ready"])},
    # 000: recordType 0, audio and video, P2P: caller and callee aac + mp4, and the mix mp4
    "netease-caller-recorded.toml": {"call-alice-1": ("complete", "stopped", ["ready"] * 5)},
    "netease-no-answer.json": {"call-alice-2": ("ended", "idle", [])},
    "netease-channel-mix-lost.yaml": {"team-daily-7": ("complete", "stopped",
                                                       ["ready", "ready", "lost"])},
    "netease-startrtc-fails.toml": {"6290737000999815999": ("failed", "failed", [])},
    # 004 §4 / 002 §2: refused locally, nothing starts
    "tencent-refusals.toml": {"15000:11:ann": ("idle", "idle", []),
                              "15000:12:ben": ("idle", "idle", []),
                              "15000:13:cat": ("idle", "idle", [])},
    # leaving stops what was recorded (its file made ready); a start waiting for its retry
    # (004 §5) is abandoned: nothing recorded
    "tencent-leaving.yaml": {"15000:21:dan": ("stopped", "stopped", ["ready"]),
                             "15000:22:eve": ("stopped", "stopped", ["ready"]),
                             "15000:23:fay": ("stopped", "stopped", []),
                             "15000:24:gus": ("stopped", "stopped", [])},
    # a lost start answer: stopped after 30 s, the server's file kept; a lost stop answer: no
    # file IDs (002 §3), found in VOD by name (002 §4 (3)); 30000415 refused for good; a
    # retried stop;
    # 30000412 "already stopped" (no IDs); a stop refused for good: failed
    "tencent-lost-and-failed-answers.toml": {
        "15000:31:hal": ("stopped", "stopped", ["ready"]),
        "15000:32:ivy": ("stopped", "stopped", ["ready"]),
        "15000:33:jon": ("failed", "failed", []),
        "15000:34:kim": ("stopped", "stopped", ["ready"]),
        "15000:35:lee": ("stopped", "stopped", ["closed"]),
        "15000:36:max": ("failed", "failed", ["closed"])},
    # 004 §5: a timed-out start (30000208) may have started: a pending stop is sent anyway;
    # a retry answered 30000415 got through (a file opened, closed at the stop without an
    # ID); a stop answered 30000410 after leaving: the room is gone, stopped
    "tencent-timeouts-and-gone-rooms.toml": {
        "15000:41:nora": ("stopped", "stopped", []),
        "15000:42:otto": ("stopped", "stopped", ["closed"]),
        "15000:43:pia": ("stopped", "stopped", ["closed"]),
        "15000:44:quin": ("stopped", "stopped", []),
        "15000:45:rosa": ("stopped", "stopped", [])},
    # 001: enableRecord(true/false) starts and stops a file; a new fileName names the next
    "juphoon-two-files.toml": {"lesson-42": ("left", "stopped", ["ready", "ready"])},
    "juphoon-audio-only.toml": {"lesson-42": ("left", "stopped", ["ready"])},
    "juphoon-join-refused.toml": {"lesson-42": ("failed", "failed", [])},
    "juphoon-enable-no-answer.toml": {"lesson-42": ("left", "stopped", [])},
    "juphoon-dropped-leave.yaml": {"lesson-42": ("left", "stopped", ["ready"])},
    "juphoon-file-lost.json": {"lesson-42": ("left", "stopped", ["lost"])},
    # the server ends ch-b while it records: the span closes at onLeave, not yet stat-ed
    "juphoon-server-reports.toml": {"ch-a": ("left", "stopped", []),
                                    "ch-b": ("left", "stopped", ["ready", "closed"]),
                                    "ch-c": ("failed", "failed", []),
                                    "ch-d": ("left", "stopped", [])},
    "netease-calls-that-end-early.yaml": {"6290737000999816001": ("ended", "idle", []),
                                          "6290737000999816002": ("ended", "idle", []),
                                          "call-a": ("failed", "failed", []),
                                          "quiet-room": ("ended", "idle", [])},
    # recordType 0, audio and video: P2P 5 files, a channel's own aac + mp4 and the mix
    "netease-hangups-and-late-answers.toml": {
        "6290737000999816003": ("complete", "stopped", ["ready"] * 5),
        "call-j": ("ended", "idle", []),
        "team-weekly-3": ("complete", "stopped", ["ready"] * 3)},
    "netease-api-errors.json": {"6290737000999816011": ("failed", "failed", []),
                                "6290737000999816012": ("ended", "idle", []),
                                "call-q": ("complete", "stopped", ["ready"] * 5),
                                "locked-room": ("failed", "failed", [])},
    "netease-files-while-recording.json": {
        "early-files": ("complete", "stopped", ["ready"] * 3),
        "half-files": ("complete", "stopped", ["ready"] * 3)},
    # 003 §4: a layout change keeps the one file; destroyed (§5): closed, no upload asked
    "cloudroom-side-by-side-to-pip.toml": {"1": ("destroyed", "stopped", ["closed"])},
    # 003 §2 "如果输出异常，将自动停止录制": 902 fails the mp4 alone; the ts closes at destroy
    "cloudroom-disk-full.toml": {"1": ("destroyed", "stopped", ["closed", "failed"])},
    # a crash: the flv kept up to its last report, the mp4 (never reported) lost
    "cloudroom-crash.toml": {"1": ("crashed", "failed", ["closed", "lost"])},
    # 003 §1: 650 wide, 60 fps, a camera off the canvas: refused, nothing created
    "cloudroom-invalid-mixer.toml": {"1": ("idle", "idle", [])},
    # 003 §3: the SDK's own upload makes 1.mp4 ready; 905 fails 2.ts
    "cloudroom-android.toml": {"1": ("destroyed", "stopped", ["ready", "failed"])},
    # 003 §2: 901 at 8 hours ends the file normally
    "cloudroom-eight-hours.toml": {"1": ("destroyed", "stopped", ["closed"])},
    # UploadRecordFile fails twice with 1202, the third attempt succeeds
    "cloudroom-upload-retry.toml": {"1": ("destroyed", "stopped", ["ready"])},
    # every attempt fails with 1202: failed after 3 retries
    "cloudroom-upload-fails.toml": {"1": ("destroyed", "stopped", ["failed"])},
    # refusals on mixers 2 and 3; mixer 2's removed output closed, the other lost when the
    # silent app is taken as crashed after silence_timeout
    "cloudroom-misuse-and-silence.yaml": {"2": ("crashed", "failed", ["closed", "lost"]),
                                          "3": ("idle", "idle", [])},
    # Ways out (issue 9), each scenario a fault the simulator injects. A ring never answered
    # ends, nothing recorded; an unanswered response or joinChannel fails; an unanswered
    # startRtc of a recorded call expects its files (the server may have recorded: here it
    # did, recordType 2, audio: each side's aac), of an unrecorded one fails.
    "netease-unanswered-apis.toml": {
        "6290737000999817001": ("ended", "idle", []),
        "6290737000999817002": ("failed", "failed", []),
        "silent-room": ("failed", "failed", []),
        "call-r": ("complete", "stopped", ["ready", "ready"]),
        "call-s": ("failed", "failed", []),
        "call-t": ("complete", "stopped", ["ready", "ready"])},
    # the server's call record ends calls whose hang-up was lost: 000's five files of a
    # recorded video call (recordType 0), nothing for an unrecorded one
    "netease-hangups-never-seen.toml": {
        "6290737000999817011": ("complete", "stopped", ["ready"] * 5),
        "6290737000999817012": ("ended", "idle", []),
        "call-u": ("complete", "stopped", ["ready", "ready"])},
    # files before startRtc's answer: recordType 2 (each side's aac) all there; recordType 0
    # in an audio call adds the mixed aac, dropped: lost at the files deadline
    "netease-files-before-startrtc-answer.toml": {
        "call-v": ("complete", "stopped", ["ready", "ready"]),
        "call-w": ("complete", "stopped", ["ready", "ready", "lost"])},
    # max_record_duration (12 h): a file each, closed at the limit, ready after stat
    "juphoon-twelve-hours.toml": {"night-a": ("left", "stopped", ["ready"]),
                                  "night-b": ("left", "stopped", ["ready"])},
    # the hung output closed by silence_timeout, the other at destroy (003 §5)
    "cloudroom-one-output-silent.toml": {"1": ("destroyed", "stopped", ["closed", "closed"])},
}

T0 = 1_700_000_000.0
ANSWER_TIMEOUT = 60.0  # NetEaseOptions.answer_timeout: a callee rings at most this long
API_TIMEOUT = 30.0  # NetEaseOptions.api_timeout: response / startRtc / joinChannel answered
FILES_DEADLINE = 30 * 60.0  # NetEaseOptions.files_deadline, from the end of the call
TWELVE_HOURS = 12 * 3600.0  # JuphoonOptions.max_record_duration
ENABLE_TIMEOUT = 30.0  # JuphoonOptions.enable_timeout
SILENCE = 8 * 3600.0 + 10 * 60.0  # CloudRoomOptions.silence_timeout

#: file -> (session, notice code, seconds from the start): when each way out is taken, from
#: the scenario's own times and the machines' documented deadlines.
WHEN = {
    "netease-unanswered-apis.toml": [
        ("6290737000999817001", "no-answer", 0 + ANSWER_TIMEOUT),  # rang at 0 s
        ("6290737000999817002", "no-answer", 3 + API_TIMEOUT),  # response at 3 s
        ("silent-room", "no-answer", 5 + API_TIMEOUT),  # joinChannel at 5 s
        # call at 10 s, accepted answer_after (2 s) later: startRtc at 12 s
        ("call-r", "no-answer", 12 + API_TIMEOUT),
        ("call-s", "no-answer", 17 + API_TIMEOUT),
        # ended unseen at 30 s, the record call_record_after (5 s) later: before startRtc's
        # deadline (22 + 30 s)
        ("call-t", "ended-by-server", 35)],
    "netease-hangups-never-seen.toml": [
        ("6290737000999817011", "ended-by-server", 600 + 5),
        ("6290737000999817012", "ended-by-server", 300 + 5),
        ("call-u", "server-record", 240 + 5)],  # hung up at 4 min: the record comes after
    "netease-files-before-startrtc-answer.toml": [
        ("call-v", "ended-by-files", 8 + 10),  # ended unseen at 8 s, files_after 10 s
        ("call-w", "ended-by-files", 8 + 10),
        ("call-w", "files-missing", 8 + 10 + FILES_DEADLINE)],
    "juphoon-twelve-hours.toml": [
        # Running reported 0.2 s (the simulator's delay) after enableRecord at 1 min
        ("night-a", "max-duration", 60 + 0.2 + TWELVE_HOURS),
        ("night-b", "max-duration", 2 + 0.2 + TWELVE_HOURS),
        # enableRecord(false) at 11:59:54, unanswered: the deadline leaves
        ("night-b", "no-property-change", 11 * 3600 + 59 * 60 + 54 + ENABLE_TIMEOUT)],
    "cloudroom-one-output-silent.toml": [
        ("1", "output-silent", 600 + SILENCE)],  # its last report at minute 10
}


@pytest.mark.parametrize("name", sorted(WHEN))
def test_ways_out_are_taken_at_their_deadlines(name: str) -> None:
    result = recstate("simulate", SCENARIO_DIR / name, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    said = {(s["session"], e["code"]): round(e["t"] - T0, 1)
            for s in report["sessions"] for e in s["errors"]}
    for session, code, at in WHEN[name]:
        assert said.get((session, code)) == pytest.approx(at), (session, code)


def test_a_juphoon_recording_ends_at_twelve_hours(tmp_path: Path) -> None:
    report = json.loads(recstate("simulate", SCENARIO_DIR / "juphoon-twelve-hours.toml",
                                 "--json").stdout)
    files = {s["session"]: s["files"] for s in report["sessions"]}
    (a,), (b,) = files["night-a"], files["night-b"]
    # night-a: the stop sent at the limit is answered 0.2 s later: 12 h and 0.2 s of file
    assert a["end"] - a["start"] == pytest.approx(TWELVE_HOURS + 0.2)
    # night-b: closed when the client is taken as gone, at the deadline of its stop
    assert b["end"] - T0 == pytest.approx(11 * 3600 + 59 * 60 + 54 + ENABLE_TIMEOUT)


def test_a_silent_cloudroom_output_ends_at_its_last_report() -> None:
    report = json.loads(recstate("simulate", SCENARIO_DIR / "cloudroom-one-output-silent.toml",
                                 "--json").stdout)
    (mixer,) = report["sessions"]
    mp4, flv = mixer["files"]
    assert (mp4["id"], mp4["end"] - T0) == ("E:/nas/1.mp4", 600)  # its last WRITING
    assert (flv["id"], flv["end"] - T0) == ("D:/record/1.flv", 8 * 3600 + 30 * 60)


def test_every_example_scenario_is_documented_here() -> None:
    assert sorted(p.name for p in SCENARIO_DIR.iterdir()) == sorted(DOCUMENTED)
    vendors = {name.split("-")[0] for name in DOCUMENTED}
    for vendor in vendors:  # at least two a vendor
        assert sum(n.startswith(vendor + "-") for n in DOCUMENTED) >= 2


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_example_scenario_gives_its_documented_result_and_replays(name: str,
                                                                   tmp_path: Path) -> None:
    out = tmp_path / "trace.jsonl"
    result = recstate("simulate", SCENARIO_DIR / name, "--json", "--out", out)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    got = {s["session"]: (s["state"], s["recording"], [f["status"] for f in s["files"]])
           for s in report["sessions"]}
    assert got == DOCUMENTED[name]
    again = replay(out)
    assert again.mismatches == []
    assert again.exit_status == 0


def builtins() -> list[tuple[str, str]]:
    """(vendor, name) of every installed vendor's built-in scenarios."""
    out = []
    for vendor in sorted(vendor_names() - {"testv"}):
        spec = load_vendor(vendor)
        where = (spec.scenarios if spec is not None else None) or f"recstate.adapters.{vendor}"
        module = importlib.import_module(where)
        out += [(vendor, name) for name in getattr(module, "SCENARIOS", {})]
    return out


@pytest.mark.parametrize(("vendor", "name"), builtins())
def test_builtin_scenarios_are_the_files(vendor: str, name: str, tmp_path: Path) -> None:
    if hooks_for(vendor) is None:
        pytest.xfail(f"{vendor} has no SCENARIO_HOOKS yet: its built-in scenarios cannot be "
                     "files; export them from its scenarios module and add the files")
    (path,) = SCENARIO_DIR.glob(f"{vendor}-{name}.*")
    built_in, from_file = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert recstate("simulate", vendor, name, "--out", built_in).returncode in (0, 1)
    assert recstate("simulate", path, "--out", from_file).returncode in (0, 1)
    assert from_file.read_bytes() == built_in.read_bytes()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


START = ('event = "requestMultiVideoRecorderStart"\n'
         'data = { roomInfo = { relationId = 15000, roomId = 1 }, user = "alice", '
         'param = { fileName = "r" } }\n')


@pytest.mark.parametrize(("name", "text", "where"), [
    ("syntax.toml", 'vendor = "tencent"\n[[steps]]\nat = \n', ":3"),
    ("field.toml", 'vendor = "tencent"\n\n[[steps]]\nat = "0s"\n' + START.replace(
        "roomId = 1", 'roomId = "1"'), ":6: field 'steps[0].data.roomInfo.roomId'"),
    ("at.toml", 'vendor = "tencent"\n[[steps]]\nat = "soon"\nevent = "enterRoom"\n',
     ":3: field 'steps[0].at'"),
    ("vendor.toml", 'vendor = "skype"\n[[steps]]\nat = 0\nevent = "x"\n',
     ":1: field 'vendor': unknown vendor 'skype'"),
    ("setting.yaml", "vendor: tencent\nsimulator:\n  speed: 3\nsteps:\n  - {at: 0, event: "
     "enterRoom, data: {relationId: 1, roomId: 1, user: a}}\n",
     ":3: field 'simulator.speed': the tencent simulator has no setting 'speed'"),
    ("fault.yaml", "vendor: tencent\nsteps:\n  - {at: 0, event: enterRoom, data: "
     "{relationId: 1, roomId: 1, user: a}}\nfaults:\n  - at: 1m\n    kind: crash\n",
     ":5: field 'faults[0].session_key': required field is missing"),
    ("unknown.json", '{"vendor": "tencent",\n "steps": [],\n "colour": 3}\n',
     ":3: field 'colour': unknown field"),
    ("event.json", '{"vendor": "netease",\n "steps": [\n  {"at": 0,\n   "event": "fly"}]}\n',
     ":4: field 'steps[0].event'"),
])
def test_errors_name_the_line_and_the_field(tmp_path: Path, name: str, text: str,
                                            where: str) -> None:
    path = write(tmp_path, name, text)
    result = recstate("simulate", path)
    assert result.returncode == 2
    assert f"recstate simulate: {path}{where}" in result.stderr


CHANCE = f'''vendor = "tencent"
until = "12m"

[[faults]]
at = "0s"
kind = "fail"
command_name = "requestMultiVideoRecorderStart"
code = 30000208
times = 1
chance = 0.5

[[faults]]
at = "0s"
kind = "drop"
callback_name = "requestMultiVideoRecorderStop:ok"
chance = 0.5

[[steps]]
at = "0s"
event = "enterRoom"
data = {{ relationId = 15000, roomId = 1, user = "alice" }}

[[steps]]
at = "0s"
{START}
[[steps]]
at = "10m"
event = "requestMultiVideoRecorderStop"
data = {{ roomInfo = {{ relationId = 15000, roomId = 1 }}, user = "alice" }}
'''


def test_seed_makes_random_faults_reproducible(tmp_path: Path) -> None:
    path = write(tmp_path, "chance.toml", CHANCE)
    traces = {}
    for seed in range(6):
        out = tmp_path / f"s{seed}.jsonl"
        assert recstate("simulate", path, "--seed", str(seed), "--out", out).returncode in (0, 1)
        traces[seed] = out.read_bytes()
        again = tmp_path / f"s{seed}b.jsonl"
        recstate("simulate", path, "--seed", str(seed), "--out", again)
        assert again.read_bytes() == traces[seed]
        assert replay(out).mismatches == []
    assert len(set(traces.values())) >= 2  # the seeds do decide something


def test_simulate_html(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    result = recstate("simulate", SCENARIO_DIR / "tencent-crash.toml", "--html", page)
    assert result.returncode == 0, result.stderr
    text = page.read_text()
    assert 'class="lane"' in text
    assert text.count('class="file file-ready"') == 2


def test_netease_fault_settings_are_checked(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.toml", 'vendor = "netease"\n\n[simulator]\n'
                'unanswered = ["hangup"]\n\n[[steps]]\nat = 0\nevent = "beCalling"\n'
                'data = { caller = "a", cid = "1", type = 1 }\n')
    result = recstate("simulate", bad)
    assert result.returncode == 2
    assert "field 'simulator'" in result.stderr
    assert "unanswered is a list of SDK calls (call, response, startRtc, joinChannel)" \
        in result.stderr
    early = write(tmp_path, "early.toml", 'vendor = "netease"\n\n[[faults]]\nat = 0\n'
                  'kind = "hangup_unseen"\nsession_key = "call-x"\n\n[[steps]]\nat = 1\n'
                  'event = "beCalling"\ndata = { caller = "a", cid = "1", type = 1 }\n')
    result = recstate("simulate", early)
    assert result.returncode == 2
    assert "field 'faults[0]'" in result.stderr
    assert "no NetEase session 'call-x'" in result.stderr


def test_the_servers_call_records(tmp_path: Path) -> None:
    out = tmp_path / "never-seen.jsonl"
    result = recstate("simulate", SCENARIO_DIR / "netease-hangups-never-seen.toml", "--out", out)
    assert result.returncode == 0, result.stderr
    bodies = {}
    for line in out.read_text().splitlines():
        record = json.loads(line)
        if record.get("name") == "callback" and record["data"].get("eventType") == "5":
            data = record["data"]
            bodies[record["session"]] = (record["t"] - T0, data["channelId"], data["duration"],
                                         data["status"])
    # one record a call that asked for media (startRtc), call_record_after (5 s) after its
    # end, lasting from startRtc: sent when response was answered, the accept's time plus
    # the simulator's delay (0.1 s); for the caller, callAccepted answer_after (2 s) after
    # the call. The trace keeps the fields the machine reads (durations as seconds).
    assert bodies == {
        "6290737000999817011": (605.0, "6290737000999817011", round(600 - 2.1), "SUCCESS"),
        "6290737000999817012": (305.0, "6290737000999817012", round(300 - 32.1), "SUCCESS"),
        "call-u": (245.0, "call-u", 240 - 62, "SUCCESS"),
    }
