"""Write the CloudRoom example traces in examples/traces/ (input lines only), from the
simulator's scenarios (recstate.adapters.cloudroom.scenarios).

Each trace starts with ``#`` lines that say what it shows and its documented result; the tests
in tests/test_cloudroom_traces.py hold those results. Run from the project root:

    .venv/bin/python examples/make_cloudroom_traces.py
"""

from __future__ import annotations

import io
from pathlib import Path

import orjson

from recstate.adapters.cloudroom import run_scenario

OUT = Path(__file__).resolve().parent / "traces"

TRACES: dict[str, tuple[str, list[str]]] = {
    "cloudroom-side-by-side-to-pip.jsonl": ("side-by-side-to-pip", [
        "CloudRoom local recording (003): mixer 1 on Windows records D:/record/1.mp4 with 003 §1's",
        "side-by-side layout (user1.1 left, user2.1 right, 320 x 180 each on 640 x 360); at",
        "minute 10 the layout becomes 003 §4's picture in picture (user2.1 160 x 90, 5 px from",
        "the corner); at minute 20 the mixer is destroyed (003 §5: 各输出自动结束).",
        "Documented result: state destroyed; one closed mp4 of 20 minutes whose size is the last",
        "reported fileSize; commands CreateLocMixer, AddLocMixerOutput, UpdateLocMixerContent,",
        "DestroyLocMixer; two layouts in the summary (at 0 and at minute 10); no error.",
    ]),
    "cloudroom-disk-full.jsonl": ("disk-full", [
        "CloudRoom: mixer 1 writes D:/record/1.ts and E:/record/1.mp4; at 5 min 30 s the mp4",
        "reports OUTPUT_ERR (3) with errCode 902 (磁盘空间不够, the disk is full).",
        "Documented result: the mp4 is failed (ended at 5 min 30 s, with its last reported size);",
        "the ts goes on (003: 如果输出异常，将自动停止录制 stops that output alone) and closes",
        "when the mixer is destroyed at minute 10; one error 902; state destroyed.",
    ]),
    "cloudroom-crash.jsonl": ("crash", [
        "CloudRoom: mixer 1 writes D:/record/1.flv and D:/record/1.mp4, WRITING every minute;",
        "the app crashes at 7 min 5 s (appCrashed).",
        "Documented result (003: 如果选择了flv和ts两种格式，即使录制过程中程序出现异常了，崩溃之前",
        "的录像仍然可用): the flv is kept, closed at its last report (minute 7) with the last",
        "reported size; the mp4 is lost; state crashed (recording failed); one error app-crashed.",
    ]),
    "cloudroom-invalid-mixer.jsonl": ("invalid-mixer", [
        "CloudRoom: CreateLocMixer with mixerCfg width 650 (not a multiple of 8) and frameRate",
        "60 (1 to 30), a second camera at left 500 width 320 (past the canvas) and no camid;",
        "then an AddLocMixerOutput for the mixer that was never created.",
        "Documented result: one error invalid-mixer listing the four problems (mixerCfg.width,",
        "mixerCfg.frameRate, mixerContent[1].width, mixerContent[1].param.camid); no command at",
        "all; the output is refused (no-mixer); state idle.",
    ]),
    "cloudroom-android.jsonl": ("android", [
        "CloudRoom on Android: MIXER_OUTPUT_STATE numbers CREATED 1, WRITING 2, CLOSED 3, ERR 4,",
        "UPLOADING 5, UPLOADSUCCESS 6. /sdcard/record/1.mp4 records with isUploadOnRecording 1",
        "and serverPathFileName /2023-11-14/1.mp4; /sdcard/record/2.ts reports ERR (4) with",
        "905 at 3 min 30 s; destroyed at minute 5; the SDK uploads the mp4.",
        "Documented result: the mp4 is 5 minutes, ready, url /2023-11-14/1.mp4; the ts failed at",
        "3 min 30 s with one error 905; no UploadRecordFile command (the SDK uploads on",
        "mobile); no violation (the same numbers on Windows would be others); state destroyed.",
    ]),
    "cloudroom-eight-hours.jsonl": ("eight-hours", [
        "CloudRoom: D:/record/long.ts records for 8 hours (WRITING every 10 minutes); at 8 hours",
        "the SDK reports OUTPUT_ERR with errCode 901 (单次录制达到最大时长(8h)).",
        "Documented result: the file closes normally (closed, not failed) at 8 hours with",
        "duration 28800000 ms; one warning 901 that says so; the destroy a minute later ends",
        "the mixer; state destroyed.",
    ]),
    "cloudroom-upload-retry.jsonl": ("upload-retry", [
        "CloudRoom: D:/record/1.mp4 asks for upload (isUploadOnRecording 1 on Windows: the",
        "service uploads after close); the first two uploads fail with 1202 (上传失败).",
        "Documented result: retried after 2 s, then 4 s; the third succeeds: the file is ready",
        "with its url; two warnings 1202; three UploadRecordFile commands.",
    ]),
}


def main() -> None:
    for file_name, (scenario, header) in TRACES.items():
        buf = io.BytesIO()
        run_scenario(scenario, out=buf)
        inputs = [line for line in buf.getvalue().splitlines()
                  if "kind" not in orjson.loads(line)]
        with (OUT / file_name).open("wb") as f:
            f.writelines(f"# {h}\n".encode() for h in header)
            f.writelines(line + b"\n" for line in inputs)


if __name__ == "__main__":
    main()
