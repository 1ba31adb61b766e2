"""Write the Juphoon example traces in examples/traces/ (input lines only).

Each trace starts with ``#`` lines that say what it shows and its documented result; the tests
in tests/test_juphoon_traces.py hold those results. Keys are written as a live trace writes
them: ``***``. Run from the project root:

    .venv/bin/python examples/make_juphoon_traces.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "traces"
T0 = 1_700_000_000  # 2023-11-14T22:13:20Z
CHANNEL = "class-1001"
BUCKET = "class-recordings"
DOMAIN = "https://rec.example-qiniu.com"
PROP = "onMediaChannelPropertyChange"


def line(t: float, name: str, data: dict[str, Any] | None = None) -> str:
    record: dict[str, Any] = {"t": t, "vendor": "juphoon", "name": name, "session": CHANNEL}
    if data is not None:
        record["data"] = data
    return json.dumps(record, ensure_ascii=False)


def parts(file_name: str, video: bool = True) -> dict[str, Any]:
    return {"video": video, "bucketName": BUCKET, "secretKey": "***", "accessKey": "***",
            "fileName": file_name}


def record_string(file_name: str, video: bool) -> str:
    return json.dumps({"MtcConfIsVideoKey": video, "Storage": {
        "Protocol": "qiniu", "AccessKey": "***", "SecretKey": "***", "BucketName": BUCKET,
        "FileKey": file_name}}, separators=(",", ":"))


def join(t: float, record: dict[str, Any] | None) -> str:
    return line(t, "join", {"channelId": CHANNEL, "joinParam": {"record": record}})


def enable(t: float, on: bool, record: dict[str, Any] | None = None) -> str:
    data: dict[str, Any] = {"channelId": CHANNEL, "enable": on}
    if record is not None:
        data["recordParam"] = record
    return line(t, "enableRecord", data)


def state(t: float, record_state: str) -> str:
    return line(t, PROP, {"recordState": record_state})


def stat_ok(t: float, key: str, size: int, hash_: str) -> str:
    return line(t, "stat:ok", {"fileId": key, "key": key, "fsize": size, "hash": hash_,
                               "mimeType": "video/mp4", "putTime": int(t * 10_000_000),
                               "url": f"{DOMAIN}/{key}"})


def write(name: str, header: list[str], lines: list[str]) -> None:
    with (OUT / name).open("w", encoding="utf-8") as f:
        f.writelines(f"# {h}\n" for h in header)
        f.writelines(f"{x}\n" for x in lines)


def two_files() -> None:
    on1, off1 = T0 + 2.2, T0 + 602.2
    on2, off2 = T0 + 660.2, T0 + 960.2
    write("juphoon-two-files.jsonl", [
        "Juphoon MediaChannel: join channel class-1001 with Qiniu record parameters "
        "(file part1.mp4), the",
        "vendor reports Ready; enableRecord(true) -> Running; 10 minutes later "
        "enableRecord(false) -> Ready;",
        "enableRecord(true) again with a new fileName (part2.mp4) -> Running; 5 minutes "
        "later disabled; leave.",
        "Documented result: state left, 0 violations; two video mp4 files, part1.mp4 600 s "
        "and part2.mp4",
        "300 s, not overlapping; three enableRecord commands (the second with recordParam "
        "null, the third",
        "with part2's record string, keys ***); a stat command 5 s after each close; both "
        "files ready with",
        "size, hash and url from stat:ok.",
    ], [join(T0, parts("part1.mp4")), line(T0 + 0.2, "onJoin:ok", {"channelId": CHANNEL}),
        state(T0 + 0.4, "Ready"), enable(T0 + 2, True), state(on1, "Running"),
        enable(off1 - 0.2, False), state(off1, "Ready"),
        enable(on2 - 0.2, True, parts("part2.mp4")), state(on2, "Running"),
        enable(off2 - 0.2, False), state(off2, "Ready"),
        stat_ok(off2 + 10, "part1.mp4", 150_000_000, "FjOrVYKwNhJrcQLQOzsHsnlbiFYR"),
        line(off2 + 30, "leave", {"channelId": CHANNEL}),
        line(off2 + 30.2, "onLeave", {"channelId": CHANNEL}),
        stat_ok(off2 + 40, "part2.mp4", 75_000_000, "FnWZk1x0q3Xc5n8BwQwU2bJd3pYc")])


def enable_refused_in_none() -> None:
    write("juphoon-enable-refused-in-none.jsonl", [
        "Juphoon MediaChannel: join without record parameters; the app calls "
        "enableRecord(true) anyway.",
        "Documented result (001: 录制参数...在加入频道之前...传入; the SDK returns false): the "
        "record state stays",
        "None, the enable is refused locally with an error (code enable-refused) that names "
        "the record state",
        "None and says to wait for Ready; no enableRecord command is sent; no file; the "
        "channel is left: state left.",
    ], [join(T0, None), line(T0 + 0.2, "onJoin:ok", {"channelId": CHANNEL}),
        enable(T0 + 5, True), line(T0 + 60, "leave", {"channelId": CHANNEL}),
        line(T0 + 60.2, "onLeave", {"channelId": CHANNEL})])


def enable_no_property_change() -> None:
    write("juphoon-enable-no-property-change.jsonl", [
        "Juphoon MediaChannel: join with record parameters given as the record string "
        "(buildQiniuRecordParam's",
        "form); Ready is reported; enableRecord(true) is sent, and no "
        "onMediaChannelPropertyChange ever follows.",
        "Documented result: 30 s after the enable an error (code no-property-change); the "
        "channel is back in",
        "joined with the record state Ready; nothing recorded (no file); one enableRecord "
        "command; state left",
        "after the leave.",
    ], [join(T0, {"recordString": record_string("silent.mp4", True)}),
        line(T0 + 0.2, "onJoin:ok", {"channelId": CHANNEL}), state(T0 + 0.4, "Ready"),
        enable(T0 + 2, True), line(T0 + 90, "leave", {"channelId": CHANNEL}),
        line(T0 + 90.2, "onLeave", {"channelId": CHANNEL})])


def running_from_none() -> None:
    write("juphoon-running-from-none.jsonl", [
        "Juphoon MediaChannel: join with audio-only record parameters (video false); the "
        "vendor reports",
        "Running straight from None (no Ready, no enableRecord asked); the app disables it "
        "two minutes later.",
        "Documented result: one violation (Running straight from None), followed: an audio "
        "file (m4a) opens at",
        "the report and closes at Ready, 120 s; one enableRecord command (false); the "
        "replay exits 1 because of",
        "the violation; the file stays closed (no stat answer in the trace); state left.",
    ], [join(T0, parts("talk-7", video=False)),
        line(T0 + 0.2, "onJoin:ok", {"channelId": CHANNEL}), state(T0 + 1, "Running"),
        enable(T0 + 120.8, False), state(T0 + 121, "Ready"),
        line(T0 + 150, "leave", {"channelId": CHANNEL}),
        line(T0 + 150.2, "onLeave", {"channelId": CHANNEL})])


def main() -> None:
    two_files()
    enable_refused_in_none()
    enable_no_property_change()
    running_from_none()


if __name__ == "__main__":
    main()
