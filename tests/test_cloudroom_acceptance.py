"""Acceptance of the CloudRoom vendor (issue 14), black box.

Written from ``vendor-docs/003_1acf1effcbe0f83e.txt`` (本地录制), CloudRoom's SDK documents
(cloudroomSDK/Documents ``Constant.md``: ``CRVideo_OUTPUT_STATE`` CREATED 0, WRITING 1, CLOSED
2, ERR 3; Android ``MIXER_OUTPUT_STATE`` NONE 0 ... UPLOADERR 7; ``CRVIDEOSDK_ERR_DEF`` 900-908,
1200-1203; ``TypeDefinitions.md``: ``CRVideo_MixerCfgObj``, ``CRVideo_MixerContentObj``) and the
issue's contract only. Trace lines (event names and data fields as the issue writes them) go in
through ``recstate replay --json`` as a subprocess, :func:`recstate.replay.replay`, or
``Runtime.dispatch`` of events parsed from trace-line dicts by ``parse_event``, or through the
simulator (``recstate simulate cloudroom SCENARIO``); what comes out is read from the report
(commands, errors, violations, files, summary), the trace records and the public ``Session``.
Expected figures are worked out here from the inputs (a WRITING report carries the duration
in ms and the size in bytes the test chose), never read back from the code.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from loopback import Loopback, Request

from recstate import ManualClock, Runtime, TraceError, parse_event
from recstate.adapters.cloudroom import CloudRoomSimulator, UploadAdapter, Uploader
from recstate.machines.cloudroom import CloudRoomOptions
from recstate.replay import replay
from recstate.trace import Record

ROOT = Path(__file__).resolve().parent.parent
TRACES = ROOT / "examples" / "traces"
T0 = 1_700_000_000.0
MIN = 60.0
RATE = 62_500  # bytes a second in the shipped traces and the simulator's default

#: 003 §1: 640 x 360, 8 fps, 350 kbps, QP 28, gop 120.
CFG: dict[str, Any] = {"width": 640, "height": 360, "frameRate": 8, "bitRate": 350000,
                       "defaultQP": 28, "gop": 120}


def cam(left: float, top: float, width: float, height: float, camid: str = "user1.1"
        ) -> dict[str, Any]:
    return {"type": 0, "left": left, "top": top, "width": width, "height": height,
            "param": {"camid": camid}, "keepAspectRatio": 1}


#: 003 §1 worked out: sWidth 640, sHeight 360; each camera sWidth/2 x sHeight/2 = 320 x 180,
#: top (360 - 180) / 2 = 90.
SIDE = [cam(0, 90, 320, 180, "user1.1"), cam(320, 90, 320, 180, "user2.1")]
#: 003 §4 worked out: user2 160 x 90 at (640 - 160 - 5, 360 - 90 - 5) = (475, 265).
PIP = [cam(0, 0, 640, 360, "user1.1"), cam(475, 265, 160, 90, "user2.1")]


# ---- trace lines -------------------------------------------------------------------------------
def line(t: float, name: str, data: dict[str, Any], session: str | None = None
         ) -> dict[str, Any]:
    out: dict[str, Any] = {"t": T0 + t, "vendor": "cloudroom", "name": name, "data": data}
    if session is not None:
        out["session"] = session
    return out


def create(t: float = 0, mixer: str = "1", cfg: Any = CFG, content: Any = None,
           platform: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"mixerID": mixer, "mixerCfg": cfg,
                            "mixerContent": SIDE if content is None else content}
    if platform is not None:
        data["platform"] = platform
    return line(t, "CreateLocMixer", data)


def add(t: float, *outputs: Any, mixer: str = "1") -> dict[str, Any]:
    return line(t, "AddLocMixerOutput", {"mixerID": mixer, "outputs": list(outputs)})


def f(name: str, **kw: Any) -> dict[str, Any]:
    return {"type": 0, "filename": name, **kw}


def info(t: float, name: str, state: Any, duration: Any = None, size: Any = None,
         err: Any = None, mixer: str = "1") -> dict[str, Any]:
    oi: dict[str, Any] = {"state": state}
    if duration is not None:
        oi["duration"] = duration
    if size is not None:
        oi["fileSize"] = size
    if err is not None:
        oi["errCode"] = err
    return line(t, "LocMixerOutputInfo", {"mixerID": mixer, "nameOrUrl": name,
                                          "outputInfo": oi})


def writing(t: float, name: str, seconds: float, mixer: str = "1", number: int = 1
            ) -> dict[str, Any]:
    """A WRITING report (1 on Windows) after ``seconds`` of recording at RATE."""
    return info(t, name, number, int(seconds * 1000), int(seconds * RATE), 0, mixer)


def update(t: float, content: Any, mixer: str = "1") -> dict[str, Any]:
    return line(t, "UpdateLocMixerContent", {"mixerID": mixer, "mixerContent": content})


def remove(t: float, *names: str, mixer: str = "1") -> dict[str, Any]:
    return line(t, "RmLocMixerOutput", {"mixerID": mixer, "outputs": list(names)})


def destroy(t: float, mixer: str = "1") -> dict[str, Any]:
    return line(t, "DestroyLocMixer", {"mixerID": mixer})


def crashed(t: float, mixer: str = "1") -> dict[str, Any]:
    return line(t, "appCrashed", {"mixerID": mixer})


def write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    return path


def run(tmp_path: Path, lines: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
    report = replay(write(tmp_path / "t.jsonl", lines), **kwargs)
    out = report.to_json()
    out["exit_status"] = report.exit_status
    return out


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recstate.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)


def replay_cli(path: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    done = cli("replay", "--json", *extra, path)
    report: dict[str, Any] = orjson.loads(done.stdout) if done.stdout.strip() else {}
    return done.returncode, report, done.stderr


def session_of(report: dict[str, Any], key: str = "1") -> dict[str, Any]:
    found: list[dict[str, Any]] = [s for s in report["sessions"] if s["session"] == key]
    assert len(found) == 1, f"one session {key!r}: {[s['session'] for s in report['sessions']]}"
    return found[0]


def files(s: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {x["id"]: x for x in s["files"]}


def outputs(s: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in s["summary"]["outputs"]}


def names(s: dict[str, Any]) -> list[str]:
    return [c["name"] for c in s["commands"]]


def codes(s: dict[str, Any]) -> list[Any]:
    return [e["code"] for e in s["errors"]]


class Live:
    """A runtime on a manual clock fed with trace-line dicts (``parse_event`` + dispatch)."""

    def __init__(self, options: CloudRoomOptions | None = None) -> None:
        self.records: list[Record] = []
        self.rt = Runtime(ManualClock(T0), tracer=self.records.append,
                          options={"cloudroom": options} if options else None)

    def feed(self, *lines: dict[str, Any]) -> None:
        for x in lines:
            self.rt.advance(x["t"])
            self.rt.dispatch(parse_event(x["vendor"], x["name"], x["t"], x["data"],
                                         x.get("session")))

    def at(self, seconds: float) -> None:
        self.rt.advance(T0 + seconds)

    def session(self, key: str = "1") -> Any:
        return self.rt.sessions[key]

    def file(self, name: str, key: str = "1") -> Any:
        (found,) = [x for x in self.session(key).files if x.id == name]
        return found

    def of(self, kind: str, key: str | None = "1") -> list[Record]:
        return [r for r in self.records if r.kind == kind and (key is None or r.session == key)]

    def commands(self, key: str = "1") -> list[str]:
        return [r.name for r in self.of("command", key)]

    def errors(self, key: str = "1") -> list[dict[str, Any]]:
        return [r.data for r in self.of("error", key)
                if r.data is not None and r.data.get("code") != "violation"]

    def violations(self, key: str | None = "1") -> list[str]:
        return [str(r.data["message"]) for r in self.of("error", key)
                if r.data is not None and r.data.get("code") == "violation"]


# ==== the mixer: CreateLocMixer -> command -> created ==========================================
def test_a_valid_mixer_sends_create_loc_mixer_with_the_apps_data(tmp_path: Path) -> None:
    report = run(tmp_path, [create(0)])
    s = session_of(report)
    assert (s["vendor"], s["state"]) == ("cloudroom", "created")
    (cmd,) = s["commands"]
    assert cmd["name"] == "CreateLocMixer"
    assert cmd["data"]["mixerID"] == "1"
    assert cmd["data"]["mixerCfg"] == CFG
    assert cmd["data"]["mixerContent"] == SIDE
    assert s["errors"] == []
    assert report["exit_status"] == 0


@pytest.mark.parametrize(("key", "value", "words"), [
    ("width", 650, "multiple of 8"),
    ("width", 0, "multiple of 8"),
    ("width", -640, "multiple of 8"),
    ("height", 362, "multiple of 8"),
    ("frameRate", 0, "1 to 30"),
    ("frameRate", 31, "1 to 30"),
    ("bitRate", 0, "positive"),
    ("bitRate", -1, "positive"),
    ("defaultQP", 52, "0 to 51"),
    ("defaultQP", -1, "0 to 51"),
    ("gop", 0, "positive"),
])
def test_each_mixer_cfg_rule_refuses_with_path_value_and_rule_and_sends_nothing(
        tmp_path: Path, key: str, value: int, words: str) -> None:
    s = session_of(run(tmp_path, [create(0, cfg={**CFG, key: value})]))
    assert s["commands"] == []
    assert s["state"] == "idle"
    (err,) = s["errors"]
    assert f"mixerCfg.{key} = {value}" in err["message"]
    assert words in err["message"]


@pytest.mark.parametrize(("key", "value"), [("frameRate", 1), ("frameRate", 30),
                                            ("defaultQP", 0), ("defaultQP", 51),
                                            ("width", 8), ("height", 1080)])
def test_the_bounds_of_each_cfg_rule_are_accepted(tmp_path: Path, key: str, value: int
                                                  ) -> None:
    content = [cam(0, 0, 8, 8)]
    s = session_of(run(tmp_path, [create(0, cfg={**CFG, key: value}, content=content)]))
    assert names(s) == ["CreateLocMixer"]
    assert s["errors"] == []


@pytest.mark.parametrize(("item", "path", "words"), [
    ({**cam(0, 0, 320, 180), "type": 99}, "mixerContent[0].type", "content type"),
    ({**cam(0, 0, 320, 180), "type": "0"}, "mixerContent[0].type", "content type"),
    (cam(-1, 0, 320, 180), "mixerContent[0].left", ">= 0"),
    (cam(0, -5, 320, 180), "mixerContent[0].top", ">= 0"),
    (cam(0, 0, 0, 180), "mixerContent[0].width", "> 0"),
    (cam(0, 0, 320, -180), "mixerContent[0].height", "> 0"),
    (cam(400, 0, 320, 180), "mixerContent[0].width", "canvas"),
    (cam(0, 200, 320, 180), "mixerContent[0].height", "canvas"),
    ({**cam(0, 0, 320, 180), "param": {}}, "mixerContent[0].param.camid", "camera"),
    (cam(0, 0, 320, 180, camid="user1"), "mixerContent[0].param.camid", "camID"),
])
def test_each_content_rule_names_its_path(tmp_path: Path, item: dict[str, Any], path: str,
                                          words: str) -> None:
    s = session_of(run(tmp_path, [create(0, content=[item])]))
    assert s["commands"] == []
    (err,) = s["errors"]
    assert f"{path} = " in err["message"], err["message"]
    assert words in err["message"]


def test_the_other_content_types_are_accepted_with_the_param_they_need(tmp_path: Path) -> None:
    content = [cam(0, 0, 320, 180),
               {"type": 1, "left": 320, "top": 0, "width": 320, "height": 180,
                "param": {"resourceid": "logo"}},
               {"type": 2, "left": 0, "top": 180, "width": 320, "height": 180},
               {"type": 3, "left": 320, "top": 180, "width": 160, "height": 90},
               {"type": 5, "left": 480, "top": 180, "width": 160, "height": 90}]
    s = session_of(run(tmp_path, [create(0, content=content)]))
    assert names(s) == ["CreateLocMixer"], s["errors"]


def test_an_invalid_mixer_gets_one_error_listing_every_problem(tmp_path: Path) -> None:
    bad_cfg = {"width": 650, "height": 360, "frameRate": 60, "bitRate": 0, "defaultQP": 99,
               "gop": 120}
    content = [cam(0, 90, 320, 180), {**cam(500, 90, 320, 180), "param": {}}]
    report = run(tmp_path, [create(0, cfg=bad_cfg, content=content)])
    s = session_of(report)
    assert s["commands"] == [], "no command for an invalid mixer"
    assert s["state"] == "idle"
    (err,) = s["errors"]
    message = err["message"]
    for path, value in (("mixerCfg.width", "650"), ("mixerCfg.frameRate", "60"),
                        ("mixerCfg.bitRate", "0"), ("mixerCfg.defaultQP", "99"),
                        ("mixerContent[1].width", "320"),
                        ("mixerContent[1].param.camid", "")):
        assert f"{path} = {value}" in message, (path, message)
    assert "6 problem" in message
    assert report["exit_status"] == 0, "the app's mistake refused, not a vendor violation"


def test_an_output_for_a_refused_mixer_is_refused_too(tmp_path: Path) -> None:
    s = session_of(run(tmp_path, [create(0, cfg={**CFG, "width": 650}),
                                  add(1, f("D:/1.mp4"))]))
    assert s["commands"] == []
    assert s["files"] == []
    assert len(s["errors"]) == 2
    assert "AddLocMixerOutput" in s["errors"][1]["message"]


def test_several_mixers_run_at_once_each_its_own_session(tmp_path: Path) -> None:
    report = run(tmp_path, [
        create(0, "a"), create(0, "b"), add(0, f("D:/a.mp4"), mixer="a"),
        add(0, f("D:/b.ts"), mixer="b"), writing(60, "D:/a.mp4", 60, "a"),
        writing(60, "D:/b.ts", 60, "b"), destroy(120, "a"), writing(120, "D:/b.ts", 120, "b")])
    a, b = session_of(report, "a"), session_of(report, "b")
    assert (a["state"], b["state"]) == ("destroyed", "created")
    assert files(a)["D:/a.mp4"]["status"] == "closed"
    assert files(b)["D:/b.ts"]["status"] == "open"
    assert list(files(a)) == ["D:/a.mp4"]
    assert list(files(b)) == ["D:/b.ts"]


# ==== outputs ================================================================================
@pytest.mark.parametrize(("name", "fmt"), [("D:/1.mp4", "mp4"), ("D:/1.ts", "ts"),
                                          ("D:/1.flv", "flv"), ("D:/1.avi", "avi"),
                                          ("D:/1.mp3", "mp3"), ("D:/REC/1.MP4", "mp4")])
def test_a_files_format_comes_from_its_extension(tmp_path: Path, name: str, fmt: str) -> None:
    s = session_of(run(tmp_path, [create(0), add(0, f(name))]))
    assert names(s) == ["CreateLocMixer", "AddLocMixerOutput"]
    assert files(s)[name]["format"] == fmt
    assert files(s)[name]["status"] == "open"


@pytest.mark.parametrize("name", ["D:/1.mkv", "D:/1.wav", "D:/record", "D:/1.mp4.tmp"])
def test_another_extension_is_refused_with_the_list_of_formats_and_no_command(
        tmp_path: Path, name: str) -> None:
    s = session_of(run(tmp_path, [create(0), add(0, f("D:/ok.mp4"), f(name))]))
    assert names(s) == ["CreateLocMixer"], "nothing sent"
    assert s["files"] == []
    (err,) = s["errors"]
    assert "outputs[1].filename" in err["message"]
    for fmt in ("mp4", "ts", "flv", "avi", "mp3"):
        assert fmt in err["message"]


def test_the_add_command_carries_the_outputs_and_a_live_output_is_not_a_file(
        tmp_path: Path) -> None:
    outs = [f("D:/1.mp4", encryptType=1, isUploadOnRecording=0),
            {"type": 1, "liveUrl": "rtmp://live.example.com/app/s1"}]
    s = session_of(run(tmp_path, [create(0), add(0, *outs),
                                  info(10, "rtmp://live.example.com/app/s1", 1, 10000, 90000)]))
    (cmd,) = [c for c in s["commands"] if c["name"] == "AddLocMixerOutput"]
    assert cmd["data"]["mixerID"] == "1"
    assert cmd["data"]["outputs"] == outs
    assert list(files(s)) == ["D:/1.mp4"], "a live stream is not a recording file"
    assert files(s)["D:/1.mp4"]["encrypted"] is True, "encryptType 1 marks the file"
    assert outputs(s)["rtmp://live.example.com/app/s1"]["state"] == "writing"


def test_duplicate_output_names_in_one_call_are_refused(tmp_path: Path) -> None:
    s = session_of(run(tmp_path, [create(0), add(0, f("D:/1.mp4"), f("D:/1.mp4"))]))
    assert names(s) == ["CreateLocMixer"]
    assert s["files"] == []
    (err,) = s["errors"]
    assert "outputs[1]" in err["message"]
    assert "D:/1.mp4" in err["message"]
    assert "unique" in err["message"]


def test_a_name_the_mixer_already_has_is_refused_and_the_first_goes_on(tmp_path: Path) -> None:
    s = session_of(run(tmp_path, [create(0), add(0, f("D:/1.mp4")),
                                  writing(60, "D:/1.mp4", 60), add(61, f("D:/1.mp4")),
                                  writing(120, "D:/1.mp4", 120)]))
    assert names(s) == ["CreateLocMixer", "AddLocMixerOutput"]
    assert len(s["errors"]) == 1
    assert "unique" in s["errors"][0]["message"]
    assert outputs(s)["D:/1.mp4"]["duration"] == 120_000


def test_created_writing_closed_drives_the_file_with_its_figures(tmp_path: Path) -> None:
    report = run(tmp_path, [create(0), add(0, f("D:/1.mp4")), info(0.5, "D:/1.mp4", 0, 0, 0),
                            writing(60, "D:/1.mp4", 60), writing(120, "D:/1.mp4", 120),
                            info(150, "D:/1.mp4", 2, 150_000, 150 * RATE, 0)])
    s = session_of(report)
    x = files(s)["D:/1.mp4"]
    assert (x["status"], x["end"], x["size"]) == ("closed", T0 + 150, 150 * RATE)
    o = outputs(s)["D:/1.mp4"]
    assert (o["state"], o["duration"], o["fileSize"]) == ("closed", 150_000, 150 * RATE)
    assert s["state"] == "created", "an output closing leaves the mixer running"
    assert report["violations"] == 0
    assert s["errors"] == []


def test_writing_updates_duration_and_size_while_recording() -> None:
    live = Live()
    live.feed(create(0), add(0, f("D:/1.ts")), info(0, "D:/1.ts", 0, 0, 0))
    live.feed(writing(10, "D:/1.ts", 10))
    assert live.session().context is not None
    assert live.file("D:/1.ts").status == "open"
    live.feed(writing(20, "D:/1.ts", 20), destroy(25))
    x = live.file("D:/1.ts")
    assert (x.status, x.end, x.size) == ("closed", T0 + 20, 20 * RATE), "its last report"


def test_an_err_stops_that_output_alone_and_the_others_go_on(tmp_path: Path) -> None:
    report = run(tmp_path, [
        create(0), add(0, f("D:/1.ts"), f("E:/1.mp4"), f("D:/1.flv")),
        writing(60, "D:/1.ts", 60), writing(60, "E:/1.mp4", 60), writing(60, "D:/1.flv", 60),
        info(90, "E:/1.mp4", 3, None, None, 905),
        writing(120, "D:/1.ts", 120), writing(120, "D:/1.flv", 120), destroy(150)])
    s = session_of(report)
    by = files(s)
    assert by["E:/1.mp4"]["status"] == "failed"
    assert by["E:/1.mp4"]["size"] == 60 * RATE, "the last figures it reported"
    assert (by["D:/1.ts"]["status"], by["D:/1.ts"]["size"]) == ("closed", 120 * RATE)
    assert (by["D:/1.flv"]["status"], by["D:/1.flv"]["size"]) == ("closed", 120 * RATE)
    assert codes(s) == [905]
    assert outputs(s)["E:/1.mp4"]["errCode"] == 905
    assert "RmLocMixerOutput" not in names(s), "the SDK stopped it by itself (003 §2)"


def test_rm_loc_mixer_output_stops_the_named_outputs_and_keeps_the_mixer(
        tmp_path: Path) -> None:
    s = session_of(run(tmp_path, [
        create(0), add(0, f("D:/1.mp4"), f("D:/2.ts")), writing(30, "D:/1.mp4", 30),
        writing(30, "D:/2.ts", 30), remove(40, "D:/1.mp4"), writing(60, "D:/2.ts", 60)]))
    assert s["state"] == "created"
    rm = [c for c in s["commands"] if c["name"] == "RmLocMixerOutput"]
    assert len(rm) == 1
    assert rm[0]["data"]["mixerID"] == "1"
    assert list(rm[0]["data"]["outputs"]) == ["D:/1.mp4"]
    by = files(s)
    assert (by["D:/1.mp4"]["status"], by["D:/1.mp4"]["end"], by["D:/1.mp4"]["size"]) == (
        "closed", T0 + 30, 30 * RATE)
    assert by["D:/2.ts"]["status"] == "open"
    assert outputs(s)["D:/2.ts"]["duration"] == 60_000
    assert "DestroyLocMixer" not in names(s)


# ==== platform numbering ====================================================================
@pytest.mark.parametrize("platform", [None, "windows", "web"])
def test_windows_and_web_number_created_0_writing_1_closed_2_err_3(
        tmp_path: Path, platform: str | None) -> None:
    report = run(tmp_path, [
        create(0, platform=platform), add(0, f("D:/1.mp4"), f("D:/2.mp4")),
        info(0, "D:/1.mp4", 0, 0, 0), info(0, "D:/2.mp4", 0, 0, 0),
        info(60, "D:/1.mp4", 1, 60_000, 60 * RATE), info(60, "D:/2.mp4", 1, 60_000, 60 * RATE),
        info(70, "D:/2.mp4", 3, None, None, 903), info(90, "D:/1.mp4", 2, 90_000, 90 * RATE)])
    s = session_of(report)
    assert s["summary"]["platform"] == (platform or "windows")
    assert [(o["name"], o["state"]) for o in s["summary"]["outputs"]] == [
        ("D:/1.mp4", "closed"), ("D:/2.mp4", "error")]
    assert files(s)["D:/1.mp4"]["size"] == 90 * RATE
    assert codes(s) == [903]
    assert report["violations"] == 0


@pytest.mark.parametrize("platform", ["android", "ios", "mac"])
def test_android_ios_mac_number_created_1_writing_2_closed_3_err_4(
        tmp_path: Path, platform: str) -> None:
    report = run(tmp_path, [
        create(0, platform=platform), add(0, f("/sdcard/1.mp4"), f("/sdcard/2.mp4")),
        info(0, "/sdcard/1.mp4", 1, 0, 0), info(0, "/sdcard/2.mp4", 1, 0, 0),
        info(60, "/sdcard/1.mp4", 2, 60_000, 60 * RATE),
        info(60, "/sdcard/2.mp4", 2, 60_000, 60 * RATE),
        info(70, "/sdcard/2.mp4", 4, None, None, 902),
        info(90, "/sdcard/1.mp4", 3, 90_000, 90 * RATE)])
    s = session_of(report)
    assert s["summary"]["platform"] == platform
    by = outputs(s)
    assert (by["/sdcard/1.mp4"]["state"], by["/sdcard/1.mp4"]["duration"]) == ("closed",
                                                                                90_000)
    assert (by["/sdcard/2.mp4"]["state"], by["/sdcard/2.mp4"]["errCode"]) == ("error", 902)
    assert files(s)["/sdcard/1.mp4"]["status"] == "closed"
    assert files(s)["/sdcard/2.mp4"]["status"] == "failed"
    assert report["violations"] == 0


def test_the_same_number_means_another_state_on_another_platform(tmp_path: Path) -> None:
    """3 is ERR on Windows but CLOSED on Android; 2 is CLOSED on Windows but WRITING on
    Android."""
    report = run(tmp_path, [
        create(0, "w"), create(0, "a", platform="Android"),
        add(0, f("D:/w.mp4"), mixer="w"), add(0, f("/sdcard/a.mp4"), mixer="a"),
        info(30, "D:/w.mp4", 2, 30_000, 30 * RATE, mixer="w"),
        info(30, "/sdcard/a.mp4", 2, 30_000, 30 * RATE, mixer="a"),
        info(60, "/sdcard/a.mp4", 3, 60_000, 60 * RATE, 0, mixer="a")])
    w, a = session_of(report, "w"), session_of(report, "a")
    assert outputs(w)["D:/w.mp4"]["state"] == "closed"
    assert files(a)["/sdcard/a.mp4"]["end"] == T0 + 60, "2 was WRITING on Android"
    assert outputs(a)["/sdcard/a.mp4"]["state"] == "closed"
    assert a["summary"]["platform"] == "android"


@pytest.mark.parametrize(("platform", "number"), [("windows", 4), ("windows", 5),
                                                  ("web", 7), ("android", 8), ("ios", -1)])
def test_a_state_number_the_platform_lacks_is_a_violation_naming_its_numbering(
        tmp_path: Path, platform: str, number: int) -> None:
    report = run(tmp_path, [create(0, platform=platform), add(0, f("D:/1.mp4")),
                            writing(10, "D:/1.mp4", 10, number=2 if platform in (
                                "android", "ios") else 1),
                            info(20, "D:/1.mp4", number, 20_000, 20 * RATE)])
    s = session_of(report)
    (v,) = s["violations"]
    assert str(number) in v["reason"]
    expected = ("CREATED 0, WRITING 1, CLOSED 2, ERR 3" if platform in ("windows", "web")
                else "CREATED 1, WRITING 2, CLOSED 3, ERR 4")
    assert expected in v["reason"]
    assert files(s)["D:/1.mp4"]["status"] == "open", "the output goes on"
    assert report["exit_status"] == 1


def test_an_unknown_platform_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    s = session_of(run(tmp_path, [create(0, platform="symbian")]))
    assert s["commands"] == []
    (err,) = s["errors"]
    assert "platform = 'symbian'" in err["message"]


# ==== layouts ==============================================================================
def test_update_changes_the_layout_and_the_history_with_times_is_in_the_report(
        tmp_path: Path) -> None:
    report = run(tmp_path, [create(0), add(0, f("D:/1.mp4")), writing(600, "D:/1.mp4", 600),
                            update(600, PIP), writing(1200, "D:/1.mp4", 1200), destroy(1200)])
    s = session_of(report)
    assert names(s) == ["CreateLocMixer", "AddLocMixerOutput", "UpdateLocMixerContent",
                        "DestroyLocMixer"]
    (cmd,) = [c for c in s["commands"] if c["name"] == "UpdateLocMixerContent"]
    assert cmd["data"] == {"mixerID": "1", "mixerContent": PIP}
    layouts = s["summary"]["layouts"]
    assert [(x["t"], x["cause"]) for x in layouts] == [(T0, "CreateLocMixer"),
                                                       (T0 + 600, "UpdateLocMixerContent")]
    assert [x["mixerContent"] for x in layouts] == [SIDE, PIP]


def test_an_invalid_update_is_refused_and_the_layout_stays(tmp_path: Path) -> None:
    s = session_of(run(tmp_path, [create(0), update(60, [cam(600, 0, 320, 180)]),
                                  update(70, [{**cam(0, 0, 10, 10), "param": {}}])]))
    assert names(s) == ["CreateLocMixer"]
    assert len(s["errors"]) == 2
    assert "mixerContent[0].width" in s["errors"][0]["message"]
    assert "canvas" in s["errors"][0]["message"]
    assert "mixerContent[0].param.camid" in s["errors"][1]["message"]
    assert [x["mixerContent"] for x in s["summary"]["layouts"]] == [SIDE]


def test_an_update_for_a_mixer_not_created_sends_nothing(tmp_path: Path) -> None:
    s = session_of(run(tmp_path, [update(0, PIP)]))
    assert s["commands"] == []
    assert len(s["errors"]) == 1


# ==== destroy ================================================================================
def test_destroy_ends_every_output_at_its_last_reported_duration_and_size(
        tmp_path: Path) -> None:
    report = run(tmp_path, [
        create(0), add(0, f("D:/1.mp4"), f("D:/2.ts"), f("D:/3.flv")),
        writing(60, "D:/1.mp4", 60), writing(60, "D:/2.ts", 60), writing(60, "D:/3.flv", 60),
        writing(90, "D:/2.ts", 90), writing(120, "D:/1.mp4", 120), destroy(130)])
    s = session_of(report)
    assert s["state"] == "destroyed"
    assert names(s)[-1] == "DestroyLocMixer"
    by = files(s)
    assert [(n, x["status"], x["end"], x["size"]) for n, x in by.items()] == [
        ("D:/1.mp4", "closed", T0 + 120, 120 * RATE),
        ("D:/2.ts", "closed", T0 + 90, 90 * RATE),
        ("D:/3.flv", "closed", T0 + 60, 60 * RATE)]
    assert all(o["state"] not in ("added", "created", "writing")
               for o in s["summary"]["outputs"]), "no output of a destroyed mixer is open"
    assert report["exit_status"] == 0


def test_an_output_for_a_destroyed_mixer_is_refused(tmp_path: Path) -> None:
    s = session_of(run(tmp_path, [create(0), destroy(10), add(20, f("D:/1.mp4"))]))
    assert names(s) == ["CreateLocMixer", "DestroyLocMixer"]
    assert s["files"] == []
    assert len(s["errors"]) == 1


# ==== error codes ============================================================================
def test_901_the_8_hour_maximum_closes_the_file_normally_and_says_so(tmp_path: Path) -> None:
    eight = 8 * 3600
    s = session_of(run(tmp_path, [create(0), add(0, f("D:/long.ts")),
                                  writing(eight - 600, "D:/long.ts", eight - 600),
                                  info(eight, "D:/long.ts", 3, eight * 1000, eight * RATE,
                                       901)]))
    x = files(s)["D:/long.ts"]
    assert (x["status"], x["end"], x["size"]) == ("closed", T0 + eight, eight * RATE)
    (err,) = s["errors"]
    assert err["code"] == 901
    assert err["level"] != "error"
    assert "8" in err["message"]
    assert "closed normally" in err["message"]


def test_902_disk_full_fails_the_file(tmp_path: Path) -> None:
    s = session_of(run(tmp_path, [create(0), add(0, f("D:/1.mp4")),
                                  writing(60, "D:/1.mp4", 60),
                                  info(70, "D:/1.mp4", 3, None, None, 902)]))
    x = files(s)["D:/1.mp4"]
    assert x["status"] == "failed"
    (err,) = s["errors"]
    assert (err["code"], err["level"]) == (902, "error")
    assert "disk" in err["message"].lower()


@pytest.mark.parametrize(("code", "words"), [
    (900, "抓屏失败"), (903, "分辨率"), (904, "限制"), (905, "录"), (906, "已开启"),
    (907, "录制服务器任务已满"), (908, "空间")])
def test_the_other_recording_codes_fail_the_output_with_their_meaning(
        tmp_path: Path, code: int, words: str) -> None:
    s = session_of(run(tmp_path, [create(0), add(0, f("D:/1.mp4")),
                                  info(10, "D:/1.mp4", 3, None, None, code)]))
    assert files(s)["D:/1.mp4"]["status"] == "failed"
    (err,) = s["errors"]
    assert err["code"] == code
    assert words in err["message"]


# ==== crash ================================================================================
def test_a_crash_keeps_ts_and_flv_and_loses_mp4_and_avi(tmp_path: Path) -> None:
    report = run(tmp_path, [
        create(0), add(0, f("D:/1.ts"), f("D:/1.flv"), f("D:/1.mp4"), f("D:/1.avi")),
        writing(60, "D:/1.ts", 60), writing(60, "D:/1.flv", 60), writing(60, "D:/1.mp4", 60),
        writing(60, "D:/1.avi", 60), writing(120, "D:/1.ts", 120),
        writing(120, "D:/1.mp4", 120), crashed(125)])
    s = session_of(report)
    by = files(s)
    assert (by["D:/1.ts"]["status"], by["D:/1.ts"]["end"], by["D:/1.ts"]["size"]) == (
        "closed", T0 + 120, 120 * RATE)
    assert (by["D:/1.flv"]["status"], by["D:/1.flv"]["end"], by["D:/1.flv"]["size"]) == (
        "closed", T0 + 60, 60 * RATE)
    assert (by["D:/1.mp4"]["status"], by["D:/1.mp4"]["end"]) == ("lost", T0 + 120)
    assert (by["D:/1.avi"]["status"], by["D:/1.avi"]["end"]) == ("lost", T0 + 60)
    assert not [c for c in s["commands"] if c["t"] == T0 + 125], "a crash sends nothing"
    assert all(o["state"] not in ("added", "created", "writing")
               for o in s["summary"]["outputs"])


def test_a_crash_leaves_an_output_that_had_ended_as_it_was(tmp_path: Path) -> None:
    s = session_of(run(tmp_path, [
        create(0), add(0, f("D:/1.mp4"), f("D:/2.mp4")), writing(60, "D:/1.mp4", 60),
        info(61, "D:/1.mp4", 2, 61_000, 61 * RATE), writing(90, "D:/2.mp4", 90),
        crashed(100)]))
    by = files(s)
    assert (by["D:/1.mp4"]["status"], by["D:/1.mp4"]["size"]) == ("closed", 61 * RATE)
    assert by["D:/2.mp4"]["status"] == "lost"


def test_a_crash_of_one_mixer_leaves_the_other_recording(tmp_path: Path) -> None:
    report = run(tmp_path, [create(0, "a"), create(0, "b"), add(0, f("D:/a.mp4"), mixer="a"),
                            add(0, f("D:/b.mp4"), mixer="b"), writing(60, "D:/a.mp4", 60, "a"),
                            writing(60, "D:/b.mp4", 60, "b"), crashed(70, "a"),
                            writing(120, "D:/b.mp4", 120, "b")])
    assert files(session_of(report, "a"))["D:/a.mp4"]["status"] == "lost"
    b = session_of(report, "b")
    assert (b["state"], files(b)["D:/b.mp4"]["status"]) == ("created", "open")
    assert outputs(b)["D:/b.mp4"]["duration"] == 120_000


# ==== figures never go backwards ==============================================================
@pytest.mark.parametrize(("duration", "size", "which"), [
    (50_000, 60 * RATE, "duration"), (60_000, 50 * RATE, "fileSize")])
def test_a_report_whose_figures_go_backwards_is_a_violation(
        tmp_path: Path, duration: int, size: int, which: str) -> None:
    report = run(tmp_path, [create(0), add(0, f("D:/1.ts")), writing(60, "D:/1.ts", 60),
                            info(70, "D:/1.ts", 1, duration, size, 0),
                            writing(80, "D:/1.ts", 80), destroy(90)])
    s = session_of(report)
    (v,) = s["violations"]
    assert which in v["reason"]
    assert report["exit_status"] == 1
    assert files(s)["D:/1.ts"]["size"] == 80 * RATE, "later figures are taken again"
    code, cli_report, _ = replay_cli(tmp_path / "t.jsonl")
    assert code == 1
    assert cli_report["violations"] == 1


# ==== upload =================================================================================
def upload_ok(t: float, name: str, url: str) -> dict[str, Any]:
    return line(t, "UploadRecordFile:ok", {"mixerID": "1", "filename": name, "url": url})


def upload_err(t: float, name: str, code: int = 1202) -> dict[str, Any]:
    return line(t, "UploadRecordFile:error", {"mixerID": "1", "filename": name, "code": code,
                                              "desc": "HTTP 503"})


def test_windows_upload_on_recording_uploads_after_close_and_becomes_ready() -> None:
    live = Live()
    live.feed(create(0), add(0, f("D:/1.mp4", isUploadOnRecording=1,
                                  serverPathFileName="/2023/1.mp4")),
              writing(60, "D:/1.mp4", 60))
    assert "UploadRecordFile" not in live.commands(), "not before the file is closed"
    live.feed(info(61, "D:/1.mp4", 2, 61_000, 61 * RATE))
    (up,) = [r for r in live.of("command") if r.name == "UploadRecordFile"]
    assert up.data is not None
    assert (up.data["filename"], up.data["serverPathFileName"]) == ("D:/1.mp4", "/2023/1.mp4")
    assert live.file("D:/1.mp4").status == "uploading"
    live.feed(upload_ok(62, "D:/1.mp4", "https://files.example.com/2023/1.mp4"))
    x = live.file("D:/1.mp4")
    assert (x.status, x.url) == ("ready", "https://files.example.com/2023/1.mp4")
    assert (x.end, x.size) == (T0 + 61, 61 * RATE)


def test_a_failing_upload_is_retried_with_exponential_backoff_then_failed() -> None:
    live = Live(CloudRoomOptions(upload_retries=2, upload_backoff=5.0))
    live.feed(create(0), add(0, f("D:/1.mp4", isUploadOnRecording=1)),
              writing(60, "D:/1.mp4", 60), info(61, "D:/1.mp4", 2, 61_000, 61 * RATE),
              upload_err(62, "D:/1.mp4"))
    live.at(66.9)
    assert live.commands().count("UploadRecordFile") == 1, "not before 5 s"
    live.at(67)
    assert live.commands().count("UploadRecordFile") == 2
    live.feed(upload_err(68, "D:/1.mp4"))
    live.at(77.9)
    assert live.commands().count("UploadRecordFile") == 2, "then 10 s"
    live.at(78)
    assert live.commands().count("UploadRecordFile") == 3
    live.feed(upload_err(79, "D:/1.mp4"))
    live.at(200)
    assert live.commands().count("UploadRecordFile") == 3, "2 retries, then given up"
    assert live.file("D:/1.mp4").status == "failed"
    assert [e["code"] for e in live.errors()] == [1202, 1202, 1202]
    assert live.errors()[-1]["level"] == "error"


def test_a_final_upload_code_is_not_retried() -> None:
    live = Live()
    live.feed(create(0), add(0, f("D:/1.mp4", isUploadOnRecording=1)),
              info(61, "D:/1.mp4", 2, 61_000, 61 * RATE), upload_err(62, "D:/1.mp4", 1201))
    live.at(600)
    assert live.commands().count("UploadRecordFile") == 1
    assert live.file("D:/1.mp4").status == "failed"
    (err,) = live.errors()
    assert err["code"] == 1201
    assert "录制文件不存在" in err["message"]


def test_an_upload_target_option_uploads_every_file_output() -> None:
    live = Live(CloudRoomOptions(upload_target="https://files.example.com/rec/"))
    live.feed(create(0), add(0, f("D:/1.mp4"), f("D:/2.ts")), writing(30, "D:/1.mp4", 30),
              writing(30, "D:/2.ts", 30), destroy(40))
    ups = [r.data["filename"] for r in live.of("command") if r.name == "UploadRecordFile"
           and r.data is not None]
    assert sorted(ups) == ["D:/1.mp4", "D:/2.ts"]


@pytest.mark.parametrize("platform", ["android", "ios", "mac"])
def test_on_mobile_the_sdk_uploads_and_the_machine_follows_its_states(
        tmp_path: Path, platform: str) -> None:
    report = run(tmp_path, [
        create(0, platform=platform),
        add(0, f("/sdcard/1.mp4", isUploadOnRecording=1, serverPathFileName="/d/1.mp4"),
            f("/sdcard/2.mp4", isUploadOnRecording=1)),
        info(0, "/sdcard/1.mp4", 1, 0, 0), info(0, "/sdcard/2.mp4", 1, 0, 0),
        info(60, "/sdcard/1.mp4", 2, 60_000, 60 * RATE),
        info(60, "/sdcard/2.mp4", 2, 60_000, 60 * RATE),
        info(61, "/sdcard/1.mp4", 3, 61_000, 61 * RATE),
        info(61, "/sdcard/2.mp4", 3, 61_000, 61 * RATE),
        info(61, "/sdcard/1.mp4", 5), info(61, "/sdcard/2.mp4", 5),
        info(70, "/sdcard/1.mp4", 6), info(75, "/sdcard/2.mp4", 7, None, None, 1202)])
    s = session_of(report)
    assert "UploadRecordFile" not in names(s), "the SDK uploads by itself on mobile"
    by = files(s)
    assert (by["/sdcard/1.mp4"]["status"], by["/sdcard/1.mp4"]["url"]) == ("ready",
                                                                          "/d/1.mp4")
    assert by["/sdcard/2.mp4"]["status"] == "failed"
    assert codes(s) == [1202]
    assert report["violations"] == 0


def test_the_mobile_uploading_state_is_visible_while_it_lasts() -> None:
    live = Live()
    live.feed(create(0, platform="android"),
              add(0, f("/sdcard/1.mp4", isUploadOnRecording=1)),
              info(60, "/sdcard/1.mp4", 3, 60_000, 60 * RATE), info(60, "/sdcard/1.mp4", 5))
    assert live.file("/sdcard/1.mp4").status == "uploading"


@pytest.fixture
def store() -> Iterator[str]:
    """A plain HTTP server on loopback that answers 503 to the first two PUTs."""

    def answer(request: Request) -> tuple[int, bytes]:
        puts = [r for r in server.requests if r.method == "PUT"]
        return (503 if len(puts) <= 2 else 200), b""

    with Loopback(answer) as server:
        yield f"{server.url}/rec/"


def test_a_real_upload_that_fails_twice_then_succeeds(store: str, tmp_path: Path) -> None:
    recorded = tmp_path / "1.mp4"
    recorded.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"x" * 1000)
    live = Live(CloudRoomOptions(upload_retries=3, upload_backoff=2.0))
    with Uploader(store) as uploader:
        adapter = UploadAdapter(live.rt, uploader)
        try:
            live.feed(create(0), add(0, f(str(recorded), isUploadOnRecording=1,
                                          serverPathFileName="day1/1.mp4")),
                      info(30, str(recorded), 2, 30_000, recorded.stat().st_size))
            live.at(30 + 2 + 4 + 1)
        finally:
            adapter.disconnect()
    x = live.file(str(recorded))
    assert x.status == "ready"
    assert x.url is not None
    assert x.url.endswith("/rec/day1/1.mp4")
    assert live.commands().count("UploadRecordFile") == 3
    assert [e["code"] for e in live.errors()] == [1202, 1202]


# ==== simulator ==============================================================================
def test_the_simulator_reports_writing_every_interval_with_growing_figures() -> None:
    live = Live()
    sim = CloudRoomSimulator(live.rt, interval=10.0, bytes_per_second=1000)
    try:
        live.feed(create(0), add(0, f("D:/1.ts")))
        live.at(35)
        reports = [r.data["outputInfo"] for r in live.of("event")
                   if r.name == "LocMixerOutputInfo" and r.data is not None]
        assert [(x["state"], x["duration"], x["fileSize"]) for x in reports] == [
            (0, 0, 0), (1, 10_000, 10_000), (1, 20_000, 20_000), (1, 30_000, 30_000)]
        live.feed(destroy(35))
        live.at(40)
        x = live.file("D:/1.ts")
        assert (x.status, x.size) == ("closed", 35_000), "the SDK's CLOSED has the last figures"
    finally:
        sim.disconnect()


def test_the_simulator_numbers_by_platform_and_injects_a_disk_full() -> None:
    live = Live()
    sim = CloudRoomSimulator(live.rt, interval=10.0)
    try:
        sim.disk_full(T0 + 25, names=["/sdcard/1.mp4"])
        live.feed(create(0, platform="android"), add(0, f("/sdcard/1.mp4"), f("/sdcard/2.ts")))
        live.at(40)
        states = [r.data["outputInfo"]["state"] for r in live.of("event")
                  if r.name == "LocMixerOutputInfo" and r.data is not None
                  and r.data["nameOrUrl"] == "/sdcard/1.mp4"]
        assert states == [1, 2, 2, 4], "CREATED 1, WRITING 2, ERR 4 on Android"
        assert live.file("/sdcard/1.mp4").status == "failed"
        assert live.file("/sdcard/2.ts").status == "open"
        assert [e["code"] for e in live.errors()] == [902]
    finally:
        sim.disconnect()


def test_the_simulated_crash_keeps_the_flv_and_loses_the_mp4() -> None:
    live = Live()
    sim = CloudRoomSimulator(live.rt, interval=60.0)
    try:
        live.feed(create(0), add(0, f("D:/1.flv"), f("D:/1.mp4")))
        sim.crash(["1"], at=T0 + 7 * MIN + 5)
        live.at(10 * MIN)
        assert live.session().state == "crashed"
        flv, mp4 = live.file("D:/1.flv"), live.file("D:/1.mp4")
        assert (flv.status, flv.end, flv.size) == ("closed", T0 + 7 * MIN, 7 * 60 * 62_500)
        assert mp4.status == "lost"
    finally:
        sim.disconnect()


@pytest.mark.parametrize(("scenario", "check"), [
    ("side-by-side-to-pip", "layouts"), ("disk-full", "902"), ("crash", "crash"),
    ("invalid-mixer", "invalid"), ("android", "android"), ("eight-hours", "901"),
    ("upload-retry", "retry"), ("upload-fails", "fails")])
def test_recstate_simulate_cloudroom_scenario(scenario: str, check: str) -> None:
    done = cli("simulate", "cloudroom", scenario, "--json")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    s = session_of(orjson.loads(done.stdout))
    by = files(s)
    if check == "layouts":
        assert [x["mixerContent"] for x in s["summary"]["layouts"]] == [SIDE, PIP]
        assert s["state"] == "destroyed"
    elif check == "902":
        assert 902 in codes(s)
        assert sorted(x["status"] for x in by.values()) == ["closed", "failed"]
    elif check == "crash":
        assert {x["format"]: x["status"] for x in by.values()} == {"flv": "closed",
                                                                  "mp4": "lost"}
    elif check == "invalid":
        assert s["commands"] == []
        assert s["files"] == []
    elif check == "android":
        assert s["summary"]["platform"] == "android"
        assert "UploadRecordFile" not in names(s)
    elif check == "901":
        assert 901 in codes(s)
        assert [x["status"] for x in by.values()] == ["closed"]
    elif check == "retry":
        assert names(s).count("UploadRecordFile") == 3
        assert [x["status"] for x in by.values()] == ["ready"]
    else:
        assert [x["status"] for x in by.values()] == ["failed"]


def test_an_unknown_scenario_exits_2_with_the_list() -> None:
    done = cli("simulate", "cloudroom", "no-such-scenario")
    assert done.returncode == 2
    assert "side-by-side-to-pip" in done.stderr
    assert "Traceback" not in done.stderr


# ==== example traces: each replays to its documented result =================================
def shipped(name: str) -> dict[str, Any]:
    code, report, err = replay_cli(TRACES / name)
    assert code == 0, err
    return session_of(report)


def test_trace_side_by_side_changed_to_pip_and_destroyed() -> None:
    s = shipped("cloudroom-side-by-side-to-pip.jsonl")
    assert s["state"] == "destroyed"
    assert [(x["cause"], x["mixerContent"]) for x in s["summary"]["layouts"]] == [
        ("CreateLocMixer", SIDE), ("UpdateLocMixerContent", PIP)]
    (x,) = s["files"]
    assert (x["status"], x["format"], x["end"] - x["start"]) == ("closed", "mp4", 20 * MIN)


def test_trace_ts_and_mp4_where_the_mp4_fails_with_902_and_the_ts_goes_on() -> None:
    s = shipped("cloudroom-disk-full.jsonl")
    by = {x["format"]: x for x in s["files"]}
    assert by["mp4"]["status"] == "failed"
    assert by["ts"]["status"] == "closed"
    assert by["ts"]["end"] > by["mp4"]["end"], "the ts went on after the mp4 failed"
    assert codes(s) == [902]


def test_trace_crash_with_an_flv_and_an_mp4() -> None:
    s = shipped("cloudroom-crash.jsonl")
    assert {x["format"]: x["status"] for x in s["files"]} == {"flv": "closed", "mp4": "lost"}
    assert s["state"] == "crashed"


def test_trace_invalid_mixer() -> None:
    s = shipped("cloudroom-invalid-mixer.jsonl")
    assert s["commands"] == []
    assert s["files"] == []
    assert "mixerCfg.width = 650" in s["errors"][0]["message"]


def test_trace_android_numbering() -> None:
    s = shipped("cloudroom-android.jsonl")
    assert s["summary"]["platform"] == "android"
    assert s["violations"] == []
    assert {x["format"]: x["status"] for x in s["files"]} == {"mp4": "ready", "ts": "failed"}


def test_trace_eight_hours_ended_by_901() -> None:
    s = shipped("cloudroom-eight-hours.jsonl")
    (x,) = s["files"]
    assert (x["status"], x["end"] - x["start"]) == ("closed", 8 * 3600)
    assert codes(s) == [901]


@pytest.mark.parametrize("name", sorted(p.name for p in TRACES.glob("cloudroom-*.jsonl")))
def test_replay_out_of_each_trace_replays_with_0_mismatches(tmp_path: Path, name: str) -> None:
    full = tmp_path / "full.jsonl"
    code, _, err = replay_cli(TRACES / name, "--out", str(full))
    assert code == 0, err
    code, again, err = replay_cli(full)
    assert code == 0, err
    assert again["mismatches"] == []


def test_the_six_traces_the_issue_asks_for_are_shipped() -> None:
    shipped_names = {p.name for p in TRACES.glob("cloudroom-*.jsonl")}
    assert len(shipped_names) >= 6


# ==== hostile input ==========================================================================
@pytest.mark.parametrize(("data", "field"), [
    ({"mixerID": "1", "nameOrUrl": "D:/1.mp4"}, "data.outputInfo"),
    ({"mixerID": "1", "nameOrUrl": "D:/1.mp4", "outputInfo": None}, "data.outputInfo"),
    ({"mixerID": "1", "nameOrUrl": "D:/1.mp4", "outputInfo": {"duration": 1}},
     "data.outputInfo.state"),
    ({"mixerID": "1", "nameOrUrl": "D:/1.mp4", "outputInfo": {"state": "one"}},
     "data.outputInfo.state"),
    ({"mixerID": "1", "nameOrUrl": "D:/1.mp4",
      "outputInfo": {"state": 1, "duration": "ten", "fileSize": 5}},
     "data.outputInfo.duration"),
    ({"mixerID": "1", "nameOrUrl": "D:/1.mp4",
      "outputInfo": {"state": 1, "duration": 5, "fileSize": [5]}},
     "data.outputInfo.fileSize"),
    ({"mixerID": "1", "outputInfo": {"state": 1}}, "data.nameOrUrl"),
    ({"nameOrUrl": "D:/1.mp4", "outputInfo": {"state": 1}}, "data.mixerID"),
])
def test_a_malformed_callback_is_a_trace_error_naming_the_field(data: dict[str, Any],
                                                               field: str) -> None:
    with pytest.raises(TraceError) as caught:
        parse_event("cloudroom", "LocMixerOutputInfo", T0, data)
    assert caught.value.field == field
    assert field in str(caught.value)


def test_a_bad_callback_line_exits_2_naming_line_and_field_and_skipping_loses_nothing(
        tmp_path: Path) -> None:
    lines = [create(0), add(0, f("D:/1.ts")), writing(60, "D:/1.ts", 60),
             line(70, "LocMixerOutputInfo", {"mixerID": "1", "nameOrUrl": "D:/1.ts"}),
             writing(120, "D:/1.ts", 120), destroy(130)]
    path = write(tmp_path / "bad.jsonl", lines)
    code, report, err = replay_cli(path)
    assert code == 2
    assert "bad.jsonl:4:" in err
    assert "data.outputInfo" in err
    assert "Traceback" not in err
    code, report, err = replay_cli(path, "--skip-bad-lines")
    assert code == 1, "skipped lines are reported"
    assert [b["line"] for b in report["bad_lines"]] == [4]
    x = files(session_of(report))["D:/1.ts"]
    assert (x["status"], x["size"]) == ("closed", 120 * RATE)


def test_a_bad_callback_through_dispatch_leaves_every_session_going() -> None:
    live = Live()
    live.feed(create(0, "a"), create(0, "b"), add(0, f("D:/a.ts"), mixer="a"),
              add(0, f("D:/b.ts"), mixer="b"), writing(60, "D:/a.ts", 60, "a"))
    with pytest.raises(TraceError):
        live.feed(info(70, "D:/a.ts", "WRITING", "70000", "4375000", mixer="a"))
    live.feed(writing(80, "D:/a.ts", 80, "a"), writing(80, "D:/b.ts", 80, "b"), destroy(90, "a"),
              destroy(90, "b"))
    assert live.file("D:/a.ts", "a").size == 80 * RATE
    assert live.file("D:/b.ts", "b").size == 80 * RATE
    assert live.violations(None) == []


def test_a_report_for_an_unknown_output_is_a_violation_naming_it(tmp_path: Path) -> None:
    report = run(tmp_path, [create(0), add(0, f("D:/1.ts")), writing(60, "D:/1.ts", 60),
                            writing(60, "D:/nope.ts", 60), writing(120, "D:/1.ts", 120),
                            destroy(130)])
    s = session_of(report)
    (v,) = s["violations"]
    assert "D:/nope.ts" in v["reason"]
    assert files(s)["D:/1.ts"]["size"] == 120 * RATE
    assert report["exit_status"] == 1


def test_a_report_for_an_unknown_mixer_is_a_violation_naming_it_and_others_go_on(
        tmp_path: Path) -> None:
    report = run(tmp_path, [create(0), add(0, f("D:/1.ts")),
                            writing(60, "D:/x.ts", 60, mixer="ghost"),
                            writing(120, "D:/1.ts", 120), destroy(130)])
    ghost = session_of(report, "ghost")
    (v,) = ghost["violations"]
    assert "ghost" in v["reason"]
    assert "D:/x.ts" in v["reason"]
    assert ghost["files"] == []
    s = session_of(report)
    assert (files(s)["D:/1.ts"]["status"], files(s)["D:/1.ts"]["size"]) == ("closed",
                                                                            120 * RATE)
    assert report["exit_status"] == 1


@pytest.mark.parametrize("field", ["fileSize", "duration"])
def test_a_negative_figure_is_a_violation_naming_the_field(tmp_path: Path, field: str
                                                           ) -> None:
    bad = {"duration": 70_000, "fileSize": 70 * RATE, field: -1}
    report = run(tmp_path, [create(0), add(0, f("D:/1.ts")), writing(60, "D:/1.ts", 60),
                            info(70, "D:/1.ts", 1, bad["duration"], bad["fileSize"], 0),
                            writing(80, "D:/1.ts", 80), destroy(90)])
    s = session_of(report)
    (v,) = s["violations"]
    assert f"outputInfo.{field}" in v["reason"]
    assert "-1" in v["reason"]
    assert "negative" in v["reason"]
    assert files(s)["D:/1.ts"]["size"] == 80 * RATE, "nothing recorded is lost"


@pytest.mark.parametrize(("outputs_", "path"), [
    ([{"type": "0", "filename": "D:/1.mp4"}], "outputs[0].type"),
    ([{"type": 0}], "outputs[0].filename"),
    ([{"type": 0, "filename": "D:/1.mp4", "isUploadOnRecording": "1"}],
     "outputs[0].isUploadOnRecording"),
    ([{"type": 0, "filename": "D:/1.mp4", "encryptType": 2}], "outputs[0].encryptType"),
    ([{"type": 1}], "outputs[0].liveUrl"),
    ([], "outputs"),
])
def test_a_bad_output_is_refused_naming_the_field_and_nothing_is_sent(
        tmp_path: Path, outputs_: list[Any], path: str) -> None:
    s = session_of(run(tmp_path, [create(0), line(0, "AddLocMixerOutput",
                                                  {"mixerID": "1", "outputs": outputs_})]))
    assert names(s) == ["CreateLocMixer"]
    (err,) = s["errors"]
    assert f"{path} = " in err["message"], err["message"]


def test_strings_for_numbers_in_the_mixer_cfg_are_problems_naming_the_field(
        tmp_path: Path) -> None:
    s = session_of(run(tmp_path, [create(0, cfg={**CFG, "width": "640", "frameRate": "8"})]))
    assert s["commands"] == []
    (err,) = s["errors"]
    assert "mixerCfg.width = '640'" in err["message"]
    assert "mixerCfg.frameRate = '8'" in err["message"]


def test_a_crash_without_a_mixer_id_names_what_is_missing(tmp_path: Path) -> None:
    report = run(tmp_path, [create(0), add(0, f("D:/1.ts")), writing(60, "D:/1.ts", 60),
                            line(70, "appCrashed", {}), writing(80, "D:/1.ts", 80),
                            destroy(90)])
    assert files(session_of(report))["D:/1.ts"]["size"] == 80 * RATE
    assert report["exit_status"] == 1, "an event that reaches no session is reported"
    assert report["unrouted"]


def test_output_info_as_the_windows_sdks_json_text_is_read_as_the_object(
        tmp_path: Path) -> None:
    """Windows API.md: ``locMixerOutputInfo(string mixerID, string nameOrUrl, string
    outputInfo)``, outputInfo "json结构的字符串"."""
    text = orjson.dumps({"state": 2, "duration": 90_000, "fileSize": 90 * RATE,
                         "errCode": 0}).decode()
    report = run(tmp_path, [create(0), add(0, f("D:/1.mp4")), writing(60, "D:/1.mp4", 60),
                            line(90, "LocMixerOutputInfo", {"mixerID": "1",
                                                            "nameOrUrl": "D:/1.mp4",
                                                            "outputInfo": text})])
    x = files(session_of(report))["D:/1.mp4"]
    assert (x["status"], x["end"], x["size"]) == ("closed", T0 + 90, 90 * RATE)
    assert report["exit_status"] == 0


@pytest.mark.parametrize(("text", "field"), [
    ("not json", "data.outputInfo"), ("[1, 2]", "data.outputInfo"),
    ('{"state": "2"}', "data.outputInfo.state"), ("[" * 100_000, "data.outputInfo")])
def test_output_info_text_that_is_not_an_object_names_the_field(text: str, field: str
                                                                ) -> None:
    with pytest.raises(TraceError) as caught:
        parse_event("cloudroom", "LocMixerOutputInfo", T0,
                    {"mixerID": "1", "nameOrUrl": "D:/1.mp4", "outputInfo": text})
    assert caught.value.field == field
