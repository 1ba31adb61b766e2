"""The CloudRoom mixer machine, event by event: the platform numbering, the error table, the
validation of a mixer, outputs and formats, LocMixerOutputInfo, layouts, removal, destruction,
crashes and the mobile SDK's upload. Expected values come from 003 and the SDK's
TypeDefinitions.md / Constant.md, written out here."""

from __future__ import annotations

from typing import Any

import pytest

from recstate import signals
from recstate.clock import ManualClock
from recstate.events import parse_event
from recstate.events.cloudroom import (
    ERRORS,
    OUTPUT_STATE_TABLE,
    AddLocMixerOutput,
    AppCrashed,
    CreateLocMixer,
    DestroyLocMixer,
    LocMixerOutputInfo,
    OutputInfo,
    RmLocMixerOutput,
    UpdateLocMixerContent,
    output_state,
    state_number,
)
from recstate.runtime import Runtime
from recstate.session import Session
from recstate.trace import Record

T0 = 1_700_000_000.0
CFG = {"width": 640, "height": 360, "frameRate": 8, "bitRate": 350000, "defaultQP": 28,
       "gop": 120}
SIDE = [{"type": 0, "left": 0, "top": 90, "width": 320, "height": 180,
         "param": {"camid": "user1.1"}, "keepAspectRatio": 1},
        {"type": 0, "left": 320, "top": 90, "width": 320, "height": 180,
         "param": {"camid": "user2.1"}, "keepAspectRatio": 1}]
PIP = [{"type": 0, "left": 0, "top": 0, "width": 640, "height": 360,
        "param": {"camid": "user1.1"}},
       {"type": 0, "left": 475, "top": 265, "width": 160, "height": 90,
        "param": {"camid": "user2.1"}}]


class Rig:
    """A lenient runtime on a manual clock that keeps its trace records."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.rt = Runtime(ManualClock(T0), tracer=self.records.append)

    def at(self, seconds: float) -> float:
        t = T0 + seconds
        self.rt.advance(t)
        return t

    def create(self, mixer: str = "1", s: float = 0, cfg: Any = CFG, content: Any = SIDE,
               **kw: Any) -> None:
        self.rt.dispatch(CreateLocMixer(t=self.at(s), mixerID=mixer, mixerCfg=cfg,
                                        mixerContent=content, **kw))

    def add(self, *outputs: Any, mixer: str = "1", s: float = 0) -> None:
        self.rt.dispatch(AddLocMixerOutput(t=self.at(s), mixerID=mixer, outputs=list(outputs)))

    def info(self, name: str, state: int, s: float, duration: int | None = None,
             size: int | None = None, err: int | None = None, mixer: str = "1") -> None:
        self.rt.dispatch(LocMixerOutputInfo(t=self.at(s), mixerID=mixer, nameOrUrl=name,
                                            outputInfo=OutputInfo(state=state,
                                                                  duration=duration,
                                                                  fileSize=size, errCode=err)))

    def session(self, mixer: str = "1") -> Session:
        return self.rt.sessions[mixer]

    def file(self, name: str, mixer: str = "1") -> Any:
        return next(f for f in self.session(mixer).files if f.id == name)

    def output(self, name: str, mixer: str = "1") -> Any:
        return self.session(mixer).context.outputs[name]

    def commands(self, mixer: str | None = None) -> list[str]:
        return [r.name for r in self.records if r.kind == "command"
                and (mixer is None or r.session == mixer)]

    def errors(self, code: Any = None) -> list[dict[str, Any]]:
        return [r.data for r in self.records if r.kind == "error" and r.data is not None
                and (code is None or r.data["code"] == code)]

    def violations(self) -> list[str]:
        return [e["message"] for e in self.errors("violation")]


def mp4(name: str = "D:/1.mp4", **kw: Any) -> dict[str, Any]:
    return {"type": 0, "filename": name, **kw}


# ---- the numbering table -------------------------------------------------------------------------
@pytest.mark.parametrize("platform", ["windows", "web"])
def test_windows_and_web_number_created_0_writing_1_closed_2_err_3(platform: str) -> None:
    assert [output_state(platform, n) for n in range(5)] == [
        "CREATED", "WRITING", "CLOSED", "ERR", None]


@pytest.mark.parametrize("platform", ["android", "ios", "mac"])
def test_mobile_numbers_none_0_to_uploaderr_7(platform: str) -> None:
    assert [output_state(platform, n) for n in range(9)] == [
        "NONE", "CREATED", "WRITING", "CLOSED", "ERR", "UPLOADING", "UPLOADSUCCESS",
        "UPLOADERR", None]
    assert state_number(platform, "UPLOADSUCCESS") == 6


def test_the_numbering_is_one_table_with_a_row_per_state() -> None:
    assert [row[0] for row in OUTPUT_STATE_TABLE] == [
        "NONE", "CREATED", "WRITING", "CLOSED", "ERR", "UPLOADING", "UPLOADSUCCESS", "UPLOADERR"]
    with pytest.raises(ValueError, match="no output state 'UPLOADING'"):
        state_number("windows", "UPLOADING")


def test_the_error_table_has_900_to_908_and_1200_to_1203_with_meaning_and_advice() -> None:
    assert sorted(ERRORS) == [*range(900, 909), *range(1200, 1204)]
    assert all(row.meaning and row.advice for row in ERRORS.values())
    assert ERRORS[901].name == "CRVIDEOSDK_RECORD_MAX"
    assert "8h" in ERRORS[901].meaning
    assert ERRORS[902].name == "CRVIDEOSDK_RECORD_NO_DISK"
    assert (ERRORS[901].outcome, ERRORS[902].outcome, ERRORS[1202].outcome) == (
        "closed", "failed", "retry")


# ---- creating a mixer ---------------------------------------------------------------------------
def test_a_valid_mixer_is_created_and_the_command_sent() -> None:
    rig = Rig()
    rig.create()
    assert rig.session().state == "created"
    assert rig.session().recording == "recording"
    assert rig.commands() == ["CreateLocMixer"]
    cmd = next(r for r in rig.records if r.kind == "command")
    assert cmd.data == {"mixerID": "1", "mixerCfg": CFG, "mixerContent": SIDE}


@pytest.mark.parametrize(("cfg", "path", "rule"), [
    ({**CFG, "width": 644}, "mixerCfg.width = 644", "multiple of 8"),
    ({**CFG, "height": 0}, "mixerCfg.height = 0", "multiple of 8"),
    ({**CFG, "height": "360"}, "mixerCfg.height = '360'", "multiple of 8"),
    ({**CFG, "frameRate": 31}, "mixerCfg.frameRate = 31", "1 to 30"),
    ({**CFG, "frameRate": 0}, "mixerCfg.frameRate = 0", "1 to 30"),
    ({**CFG, "bitRate": 0}, "mixerCfg.bitRate = 0", "positive"),
    ({**CFG, "defaultQP": 52}, "mixerCfg.defaultQP = 52", "0 to 51"),
    ({**CFG, "defaultQP": -1}, "mixerCfg.defaultQP = -1", "0 to 51"),
    ({**CFG, "gop": 0}, "mixerCfg.gop = 0", "positive"),
    ({"width": 640, "height": 360, "frameRate": 8}, "mixerCfg.bitRate = (absent)", "required"),
    ([640, 360], "mixerCfg = [640, 360]", "an object"),
])
def test_each_configuration_rule(cfg: Any, path: str, rule: str) -> None:
    rig = Rig()
    rig.create(cfg=cfg)
    [error] = rig.errors("invalid-mixer")
    assert f"{path}: " in error["message"]
    assert rule in error["message"].split(f"{path}: ")[1]
    assert rig.commands() == []
    assert rig.session().state == "idle"


def test_default_qp_and_gop_may_be_left_out() -> None:
    rig = Rig()
    rig.create(cfg={"width": 640, "height": 360, "frameRate": 15, "bitRate": 500000})
    assert rig.session().state == "created"


def item(**kw: Any) -> dict[str, Any]:
    return {"type": 0, "left": 0, "top": 0, "width": 160, "height": 90,
            "param": {"camid": "u.1"}, **kw}


@pytest.mark.parametrize(("content", "path", "rule"), [
    ([item(type=8)], "mixerContent[0].type = 8", "a content type"),
    ([item(type=6)], "mixerContent[0].type = 6", "cloud mixers only"),
    ([item(left=-1)], "mixerContent[0].left = -1", ">= 0"),
    ([item(width=0)], "mixerContent[0].width = 0", "> 0"),
    ([item(left=600)], "mixerContent[0].width = 160", "canvas width 640"),
    ([item(top=300)], "mixerContent[0].height = 90", "canvas height 360"),
    ([item(param={"camid": "user2"})], "mixerContent[0].param.camid = 'user2'", "userID.camID"),
    ([item(param={})], "mixerContent[0].param.camid = (absent)", "camera"),
    ([item(param=None)], "mixerContent[0].param = None", "camid"),
    ([item(type=1, param={})], "mixerContent[0].param.resourceid = (absent)", "picture"),
    ([item(type=7, param={"resourceid": "t1"})], "mixerContent[0].param.text = (absent)",
     "text"),
    ([item(type=2, param={"area": "1,2,3"})], "mixerContent[0].param.area = '1,2,3'",
     "x,y,w,h"),
    ([item(keepAspectRatio=2)], "mixerContent[0].keepAspectRatio = 2", "0 or 1"),
    ({"type": 0}, "mixerContent = {'type': 0}", "an array"),
])
def test_each_content_rule(content: Any, path: str, rule: str) -> None:
    rig = Rig()
    rig.create(content=content)
    [error] = rig.errors("invalid-mixer")
    assert f"{path}: " in error["message"]
    assert rule in error["message"].split(f"{path}: ")[1]
    assert rig.commands() == []


def test_types_that_need_no_param_and_a_text_sized_by_its_text_are_valid() -> None:
    rig = Rig()
    rig.create(content=[{"type": 3, "left": 0, "top": 0, "width": 640, "height": 360},
                        {"type": 4, "left": 0, "top": 0, "width": 100, "height": 20},
                        {"type": 5, "left": 0, "top": 0, "width": 320, "height": 180},
                        {"type": 2, "left": 0, "top": 0, "width": 320, "height": 180,
                         "param": {"screenid": -1, "area": "10,20,400,800"}},
                        {"type": 1, "left": 0, "top": 0, "width": 64, "height": 64,
                         "param": {"resourceid": "logo"}},
                        {"type": 7, "left": 10, "top": 10, "width": 0, "height": 0,
                         "param": {"resourceid": "t1", "text": "<span>张三</span>"}}])
    assert rig.errors() == []
    assert rig.session().state == "created"


def test_an_invalid_mixer_gets_one_error_listing_every_problem() -> None:
    rig = Rig()
    rig.create(cfg={**CFG, "width": 642, "defaultQP": 60},
               content=[item(left=-5), item(type=9), item(param={"camid": "nobody"})],
               platform="symbian")
    [error] = rig.errors()
    message = error["message"]
    for part in ("platform = 'symbian'", "mixerCfg.width = 642", "mixerCfg.defaultQP = 60",
                 "mixerContent[0].left = -5", "mixerContent[1].type = 9",
                 "mixerContent[2].param.camid = 'nobody'"):
        assert part in message
    assert "6 problem(s)" in message
    assert rig.commands() == []


def test_a_mixer_that_exists_is_not_created_again() -> None:
    rig = Rig()
    rig.create()
    rig.create(s=1)
    assert rig.commands() == ["CreateLocMixer"]
    assert [e["code"] for e in rig.errors()] == [906]


def test_several_mixers_run_at_once_each_its_own_session() -> None:
    rig = Rig()
    rig.create("a")
    rig.create("b", content=PIP)
    rig.add(mp4("D:/a.mp4"), mixer="a")
    rig.add(mp4("D:/b.ts"), mixer="b")
    rig.rt.dispatch(DestroyLocMixer(t=rig.at(60), mixerID="a"))
    assert (rig.session("a").state, rig.session("b").state) == ("destroyed", "created")
    assert rig.file("D:/b.ts", mixer="b").status == "open"


# ---- outputs -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "fmt", "kind"), [
    ("D:/1.mp4", "mp4", "mixed"), ("D:/1.TS", "ts", "mixed"), ("/data/1.flv", "flv", "mixed"),
    ("C:\\rec\\1.avi", "avi", "mixed"), ("D:/talk.mp3", "mp3", "audio")])
def test_a_files_format_comes_from_its_extension(name: str, fmt: str, kind: str) -> None:
    rig = Rig()
    rig.create()
    rig.add(mp4(name))
    f = rig.file(name)
    assert (f.format, f.kind, f.status, f.start) == (fmt, kind, "open", T0)
    assert rig.commands() == ["CreateLocMixer", "AddLocMixerOutput"]


@pytest.mark.parametrize("name", ["D:/1.mkv", "D:/1", "D:/mp4", "D:/1.mp4.part"])
def test_another_extension_is_refused_with_the_list_of_formats(name: str) -> None:
    rig = Rig()
    rig.create()
    rig.add(mp4("D:/ok.mp4"), mp4(name))
    [error] = rig.errors("invalid-output")
    assert f"outputs[1].filename = '{name}'" in error["message"]
    assert "mp4, ts, flv, avi, mp3" in error["message"]
    assert rig.commands() == ["CreateLocMixer"], "the whole call is refused"
    assert rig.session().files == []


def test_names_are_unique_in_a_mixer() -> None:
    rig = Rig()
    rig.create()
    rig.add(mp4("D:/1.mp4"))
    rig.add(mp4("D:/2.ts"), mp4("D:/2.ts"), s=1)
    rig.add(mp4("D:/1.mp4"), s=2)
    messages = [e["message"] for e in rig.errors("invalid-output")]
    assert len(messages) == 2
    assert "outputs[1] = 'D:/2.ts': names are unique" in messages[0]
    assert "outputs[0] = 'D:/1.mp4': names are unique" in messages[1]
    assert rig.commands().count("AddLocMixerOutput") == 1


def test_a_live_output_is_driven_but_is_not_a_file() -> None:
    rig = Rig()
    rig.create()
    rig.add({"type": 1, "liveUrl": "rtmp://live.example.com/app/stream"}, mp4())
    rig.info("rtmp://live.example.com/app/stream", 1, 10, 10_000, 1000)
    assert [f.id for f in rig.session().files] == ["D:/1.mp4"]
    assert rig.output("rtmp://live.example.com/app/stream").state == "writing"
    rig.add({"type": 1, "liveUrl": "http://not-a-stream"}, s=11)
    assert "rtmp:// or rtsp://" in rig.errors("invalid-output")[0]["message"]


def test_an_encrypted_file_is_marked_so() -> None:
    rig = Rig()
    rig.create()
    rig.add(mp4("D:/secret.mp4", encryptType=1), mp4("D:/plain.mp4"))
    assert rig.file("D:/secret.mp4").encrypted is True
    assert rig.file("D:/plain.mp4").encrypted is False
    opened = [r.data for r in rig.records if r.kind == "file"]
    assert opened[0]["encrypted"] is True  # type: ignore[index]
    assert "encrypted" not in opened[1]  # type: ignore[operator]


def test_adding_outputs_to_no_mixer_sends_nothing() -> None:
    rig = Rig()
    rig.add(mp4())
    assert rig.commands() == []
    assert [e["code"] for e in rig.errors()] == ["no-mixer"]


# ---- LocMixerOutputInfo ------------------------------------------------------------------------
def test_created_writing_closed() -> None:
    rig = Rig()
    rig.create()
    rig.add(mp4())
    rig.info("D:/1.mp4", 0, 0, 0, 0)
    assert rig.output("D:/1.mp4").state == "created"
    rig.info("D:/1.mp4", 1, 10, 10_000, 437_500)
    rig.info("D:/1.mp4", 1, 20, 20_000, 875_000)
    out = rig.output("D:/1.mp4")
    assert (out.state, out.duration, out.fileSize) == ("writing", 20_000, 875_000)
    assert rig.file("D:/1.mp4").status == "open"
    rig.info("D:/1.mp4", 2, 25, 25_000, 1_093_750)
    f = rig.file("D:/1.mp4")
    assert (f.status, f.start, f.end, f.size) == ("closed", T0, T0 + 25, 1_093_750)
    assert rig.violations() == []


def test_an_error_stops_that_output_alone() -> None:
    rig = Rig()
    rig.create()
    rig.add(mp4("D:/1.ts"), mp4("E:/1.mp4"))
    rig.info("D:/1.ts", 1, 10, 10_000, 100)
    rig.info("E:/1.mp4", 1, 10, 10_000, 100)
    rig.info("E:/1.mp4", 3, 12, err=905)
    rig.info("D:/1.ts", 1, 20, 20_000, 200)
    assert rig.file("E:/1.mp4").status == "failed"
    assert rig.file("E:/1.mp4").end == T0 + 12
    assert rig.file("D:/1.ts").status == "open"
    assert rig.output("D:/1.ts").duration == 20_000
    [error] = rig.errors(905)
    assert "CRVIDEOSDK_FILE_ERR" in error["message"]
    assert "'D:/1.ts'" in error["message"], "names the outputs that go on"
    assert rig.session().state == "created"


def test_901_closes_the_file_normally_and_says_so() -> None:
    rig = Rig()
    rig.create()
    rig.add(mp4("D:/long.mp4"))
    rig.info("D:/long.mp4", 1, 8 * 3600 - 10, 8 * 3600_000 - 10_000, 10**9)
    rig.info("D:/long.mp4", 3, 8 * 3600, err=901)
    f = rig.file("D:/long.mp4")
    assert (f.status, f.end, f.size) == ("closed", T0 + 8 * 3600, 10**9)
    [notice] = rig.errors(901)
    assert notice["level"] == "warning"
    assert "closed normally" in notice["message"]


def test_902_fails_the_file() -> None:
    rig = Rig()
    rig.create()
    rig.add(mp4())
    rig.info("D:/1.mp4", 3, 5, err=902)
    assert rig.file("D:/1.mp4").status == "failed"
    [error] = rig.errors(902)
    assert error["level"] == "error"
    assert "disk is full" in error["message"]


def test_duration_or_size_going_backwards_is_a_violation_and_ignored() -> None:
    rig = Rig()
    rig.create()
    rig.add(mp4())
    rig.info("D:/1.mp4", 1, 10, 10_000, 5000)
    rig.info("D:/1.mp4", 1, 20, 9_000, 6000)
    rig.info("D:/1.mp4", 1, 30, 30_000, 4000)
    assert len(rig.violations()) == 2
    assert "duration 10000 -> 9000 ms" in rig.violations()[0]
    assert "fileSize 5000 -> 4000 bytes" in rig.violations()[1]
    out = rig.output("D:/1.mp4")
    assert (out.duration, out.fileSize) == (10_000, 5000)


def test_a_report_for_an_unknown_output_or_state_is_a_violation() -> None:
    rig = Rig()
    rig.create()
    rig.add(mp4())
    rig.info("D:/other.mp4", 1, 1, 1000, 10)
    rig.info("D:/1.mp4", 5, 2)  # UPLOADING exists on mobile only
    [unknown, state] = rig.violations()
    assert "not an output of mixer '1'" in unknown
    assert "state 5" in state
    assert "CREATED 0, WRITING 1, CLOSED 2, ERR 3" in state


def test_a_report_before_any_mixer_is_a_violation() -> None:
    rig = Rig()
    rig.info("D:/1.mp4", 1, 1, 1000, 10)
    assert len(rig.violations()) == 1
    assert "mixer '1', which was never created" in rig.violations()[0]


# ---- layouts, removal, destruction ---------------------------------------------------------------
def test_layout_history_keeps_each_layout_with_its_time() -> None:
    rig = Rig()
    rig.create()
    rig.rt.dispatch(UpdateLocMixerContent(t=rig.at(600), mixerID="1", mixerContent=PIP))
    rig.rt.dispatch(UpdateLocMixerContent(t=rig.at(700), mixerID="1",
                                          mixerContent=[item(left=700)]))
    layouts = rig.session().context.layouts
    assert [(x.t, x.cause) for x in layouts] == [(T0, "CreateLocMixer"),
                                                 (T0 + 600, "UpdateLocMixerContent")]
    assert layouts[1].mixerContent == PIP
    assert rig.commands() == ["CreateLocMixer", "UpdateLocMixerContent"]
    assert "canvas width 640" in rig.errors("invalid-layout")[0]["message"]


def test_removing_outputs_keeps_the_mixer_and_the_others() -> None:
    rig = Rig()
    rig.create()
    rig.add(mp4("D:/1.mp4"), mp4("D:/2.ts"))
    rig.info("D:/1.mp4", 1, 30, 30_000, 3000)
    rig.rt.dispatch(RmLocMixerOutput(t=rig.at(40), mixerID="1",
                                     outputs=("D:/1.mp4", "D:/nope.flv")))
    assert rig.session().state == "created"
    f = rig.file("D:/1.mp4")
    assert (f.status, f.end, f.size) == ("closed", T0 + 30, 3000), "at its last report"
    assert rig.file("D:/2.ts").status == "open"
    cmd = [r for r in rig.records if r.kind == "command"][-1]
    assert (cmd.name, cmd.data) == ("RmLocMixerOutput", {"mixerID": "1",
                                                        "outputs": ["D:/1.mp4"]})
    assert [e["code"] for e in rig.errors()] == ["unknown-output"]


def test_destroy_ends_every_output_at_its_last_report() -> None:
    rig = Rig()
    rig.create()
    rig.add(mp4("D:/1.mp4"), mp4("D:/2.flv"))
    rig.info("D:/2.flv", 1, 50, 50_000, 5000)
    rig.info("D:/1.mp4", 1, 60, 60_000, 6000)
    rig.rt.dispatch(DestroyLocMixer(t=rig.at(65), mixerID="1"))
    assert (rig.session().state, rig.session().recording) == ("destroyed", "stopped")
    assert [(f.status, f.end, f.size) for f in rig.session().files] == [
        ("closed", T0 + 60, 6000), ("closed", T0 + 50, 5000)]
    # The SDK's own CLOSED, after the call, gives the final figures.
    rig.info("D:/1.mp4", 2, 65, 65_000, 6500)
    assert (rig.file("D:/1.mp4").end, rig.file("D:/1.mp4").size) == (T0 + 65, 6500)
    assert rig.violations() == []
    rig.rt.dispatch(DestroyLocMixer(t=rig.at(70), mixerID="1"))
    assert rig.commands().count("DestroyLocMixer") == 1


# ---- crashes ----------------------------------------------------------------------------------
def test_a_crash_keeps_ts_and_flv_and_loses_mp4_avi_mp3() -> None:
    rig = Rig()
    rig.create()
    names = ["D:/a.ts", "D:/b.flv", "D:/c.mp4", "D:/d.avi", "D:/e.mp3"]
    rig.add(*map(mp4, names))
    for i, name in enumerate(names):
        rig.info(name, 1, 10 + i, 10_000, 1000)
    rig.rt.dispatch(AppCrashed(t=rig.at(100), mixerID="1"))
    assert [(f.id, f.status) for f in rig.session().files] == [
        ("D:/a.ts", "closed"), ("D:/b.flv", "closed"), ("D:/c.mp4", "lost"),
        ("D:/d.avi", "lost"), ("D:/e.mp3", "lost")]
    assert [f.end for f in rig.session().files] == [T0 + 10, T0 + 11, T0 + 12, T0 + 13, T0 + 14]
    assert (rig.session().state, rig.session().recording) == ("crashed", "failed")


def test_a_crash_naming_several_mixers_ends_each() -> None:
    rig = Rig()
    for m in ("a", "b"):
        rig.create(m)
        rig.add(mp4(f"D:/{m}.ts"), mixer=m)
    rig.rt.dispatch(parse_event("cloudroom", "appCrashed", T0 + 5, {"mixerIDs": ["a", "b"]}))
    assert (rig.session("a").state, rig.session("b").state) == ("crashed", "crashed")


# ---- the mobile SDK's upload -----------------------------------------------------------------
def test_android_follows_the_sdks_upload_and_its_failure() -> None:
    rig = Rig()
    rig.create(platform="android")
    rig.add(mp4("/sdcard/1.mp4", isUploadOnRecording=1, serverPathFileName="/d/1.mp4"),
            mp4("/sdcard/2.mp4", isUploadOnRecording=1))
    for name in ("/sdcard/1.mp4", "/sdcard/2.mp4"):
        rig.info(name, 1, 0, 0, 0)
        rig.info(name, 2, 10, 10_000, 1000)
        rig.info(name, 3, 20, 20_000, 2000)
        rig.info(name, 5, 20)
    assert rig.file("/sdcard/1.mp4").status == "uploading"
    rig.info("/sdcard/1.mp4", 6, 25)
    rig.info("/sdcard/2.mp4", 7, 26, err=1202)
    assert (rig.file("/sdcard/1.mp4").status, rig.file("/sdcard/1.mp4").url) == (
        "ready", "/d/1.mp4")
    assert rig.file("/sdcard/2.mp4").status == "failed"
    assert "CRVIDEOSDK_RECORDFILE_UPLOAD_FAILED" in rig.errors(1202)[0]["message"]
    assert "UploadRecordFile" not in rig.commands()


def test_windows_asks_for_the_upload_itself() -> None:
    rig = Rig()
    rig.create()
    rig.add(mp4("D:/1.mp4", isUploadOnRecording=1))
    rig.info("D:/1.mp4", 2, 20, 20_000, 2000)
    assert rig.commands()[-1] == "UploadRecordFile"
    assert rig.file("D:/1.mp4").status == "uploading"


# ---- the session round-trips, the signals ---------------------------------------------------
def test_a_mixer_session_snapshots_and_restores() -> None:
    rig = Rig()
    rig.create()
    rig.add(mp4("D:/1.mp4", encryptType=1))
    rig.rt.dispatch(UpdateLocMixerContent(t=rig.at(5), mixerID="1", mixerContent=PIP))
    rig.info("D:/1.mp4", 1, 10, 10_000, 1000)
    session = rig.session()
    again = Session.restore(session.snapshot(), session.machine)
    assert again.snapshot() == session.snapshot()
    assert again.context.outputs["D:/1.mp4"].duration == 10_000
    assert again.files[0].encrypted is True


def test_the_unified_view_sees_the_files(listen: Any) -> None:
    rig = Rig()
    changes = listen(signals.file_changed, rig.rt)
    rig.create()
    rig.add(mp4("D:/1.ts"))
    rig.rt.dispatch(AppCrashed(t=rig.at(10), mixerID="1"))
    assert [(c["change"], c["file"].id) for c in changes] == [("opened", "D:/1.ts"),
                                                              ("closed", "D:/1.ts")]
    assert changes[-1]["file"].status == "closed"


def test_android_spellings_are_taken() -> None:
    rig = Rig()
    rig.create(platform="Android")
    rig.add({"type": 0, "fileName": "/sdcard/_Android.mp4"})
    assert rig.session().context.platform == "android"
    rig.info("/sdcard/_Android.mp4", 2, 10, 10_000, 100)  # WRITING is 2 on Android
    assert rig.output("/sdcard/_Android.mp4").state == "writing"
    assert rig.violations() == []


def test_outputs_to_remove_may_be_named_or_given_as_objects() -> None:
    rig = Rig()
    rig.create()
    rig.add(mp4("D:/1.mp4"), {"type": 1, "liveUrl": "rtmp://x/live/1"}, mp4("D:/3.ts"))
    rig.rt.dispatch(RmLocMixerOutput(t=rig.at(5), mixerID="1", outputs=[
        {"type": 0, "filename": "D:/1.mp4"}, "rtmp://x/live/1", 42]))
    assert rig.output("D:/1.mp4").state == "closed"
    assert rig.output("rtmp://x/live/1").state == "closed"
    assert rig.output("D:/3.ts").state == "added"
    assert "outputs[2] = 42" in rig.errors("invalid-output")[0]["message"]


def test_an_upload_target_in_the_options_uploads_every_file() -> None:
    from recstate.machines.cloudroom import CloudRoomOptions

    rig = Rig()
    rig.rt = Runtime(ManualClock(T0), tracer=rig.records.append, options={
        "cloudroom": CloudRoomOptions(upload_target="https://oss.example.com/bucket")})
    rig.create()
    rig.add(mp4("D:/1.mp4"), mp4("D:/2.ts"), {"type": 1, "liveUrl": "rtmp://x/live/1"})
    rig.rt.dispatch(DestroyLocMixer(t=rig.at(30), mixerID="1"))
    uploads = [r.data["filename"] for r in rig.records  # type: ignore[index]
               if r.kind == "command" and r.name == "UploadRecordFile"]
    assert uploads == ["D:/1.mp4", "D:/2.ts"]


def test_an_upload_answer_for_a_file_not_being_uploaded_is_a_violation() -> None:
    rig = Rig()
    rig.create()
    rig.add(mp4())
    rig.rt.dispatch(parse_event("cloudroom", "UploadRecordFile:ok", T0 + 1,
                                {"mixerID": "1", "filename": "D:/1.mp4", "url": "u"}))
    assert "not being uploaded" in rig.violations()[0]
    assert rig.file("D:/1.mp4").status == "open"


def test_other_vendors_reports_have_no_summary() -> None:
    from pathlib import Path

    from recstate.replay import replay

    traces = Path(__file__).resolve().parent.parent / "examples" / "traces"
    report = replay(traces / "tencent-crash.jsonl").to_json()
    assert all("summary" not in s for s in report["sessions"])


def test_the_sdks_upload_reports_said_twice_or_early_change_nothing() -> None:
    rig = Rig()
    rig.create(platform="ios")
    rig.add(mp4("/var/1.mp4", isUploadOnRecording=1))
    rig.info("/var/1.mp4", 2, 10, 10_000, 100)
    rig.info("/var/1.mp4", 7, 11, err=1202)  # while recording: the file goes on
    assert rig.file("/var/1.mp4").status == "open"
    rig.info("/var/1.mp4", 3, 20, 20_000, 200)
    rig.info("/var/1.mp4", 6, 21)
    rig.info("/var/1.mp4", 6, 22)
    assert [r.name for r in rig.records if r.kind == "file"] == ["opened", "closed", "ready"]
    assert [e["level"] for e in rig.errors(1202)] == ["warning"]
