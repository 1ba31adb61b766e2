"""Write the Tencent example traces in examples/traces/ (input lines only).

Each trace starts with ``#`` lines that say what it shows and its documented result; the tests
in tests/test_tencent_traces.py hold those results. Run from the project root:

    .venv/bin/python examples/make_tencent_traces.py
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "traces"
T0 = 1_700_000_000  # 2023-11-14T22:13:20Z
SESSION = "1001:7:alice"
ROOM = {"relationId": 1001, "roomId": 7}
START = "requestMultiVideoRecorderStart"
STOP = "requestMultiVideoRecorderStop"
VOD = "https://1252.vod2.myqcloud.com"


def line(t: float | str, name: str, data: dict[str, Any] | None = None) -> str:
    record: dict[str, Any] = {"t": t, "vendor": "tencent", "name": name, "session": SESSION}
    if data is not None:
        record["data"] = data
    return json.dumps(record, ensure_ascii=False)


def enter(t: float | str) -> str:
    return line(t, "enterRoom", {"relationId": 1001, "roomId": 7, "roomType": "multi",
                                 "user": "alice"})


def start(t: float | str, file_name: str) -> str:
    return line(t, START, {"roomInfo": ROOM,
                           "param": {"fileName": file_name, "classId": 1,
                                     "recordDataType": 0}})


def stop(t: float) -> str:
    return line(t, STOP, {"roomInfo": ROOM})


def data(first: float, last: float, step: float = 30) -> list[str]:
    lines, t = [], first
    while t <= last:
        lines.append(line(t, "mediaData"))
        t += step
    return lines


def iso(t: float) -> str:
    """VOD's ``CreateTime``: ISO 8601 in UTC, whole seconds."""
    return datetime.fromtimestamp(int(t), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def vod_file(file_id: str, name: str, size: int, created: float,
             vid: str = "") -> dict[str, Any]:
    """One SearchMedia MediaInfoSet item, flattened: FileId, BasicInfo.Name / .MediaUrl /
    .Vid (often null: "") / .CreateTime, MetaData.Size."""
    return {"fileId": file_id, "name": name, "url": f"{VOD}/{file_id}/f0.mp4", "size": size,
            "vid": vid, "createTime": iso(created)}


def write(name: str, header: list[str], lines: list[str]) -> None:
    with (OUT / name).open("w", encoding="utf-8") as f:
        f.writelines(f"# {h}\n" for h in header)
        f.writelines(f"{x}\n" for x in lines)


def two_hundred_minutes() -> None:
    ok, end = T0 + 1, T0 + 1 + 200 * 60
    ids = ["5285890781763144364", "5285890781763144365", "5285890781763144366"]
    write("tencent-200min.jsonl", [
        "Tencent ILVB: a 200-minute recording of alice in room 1001/7 (002 §6: a new MP4 "
        "every 90 minutes).",
        "Documented result: state stopped; three files 90, 90 and 20 minutes long, "
        "contiguous; after",
        "stop:ok they carry the file IDs, and SearchMedia (VOD) makes all three ready with "
        "url and size.",
    ], [enter(T0), start(T0, "class-42"), line(ok, f"{START}:ok", {}), *data(ok + 30, end),
        stop(end), line(end + 1, f"{STOP}:ok", {"fileIds": ids}),
        line(end + 5, "SearchMedia:ok", {"files": [
            vod_file(ids[0], "class-42_1", 1_620_000_000, ok + 90 * 60),
            vod_file(ids[1], "class-42_2", 1_620_000_000, ok + 180 * 60),
            vod_file(ids[2], "class-42_3", 360_000_000, end + 1)]})])


def crash() -> None:
    ok = T0 + 1
    write("tencent-crash.jsonl", [
        "Tencent ILVB: alice's client crashes at minute 100 of the recording: data stops.",
        "Documented result (002 §6: 1分钟没收到数据会自动关闭录制): 60 s after the last data "
        "the recording",
        "closes by itself: state stopped, two files, 90 minutes and 10 minutes, the second "
        "ending at the",
        "last data (minute 100); an error-level notice 'no-data', and a SearchMedia command "
        "that looks",
        "the files up in VOD by the file name (002 §4 (3)); this trace holds no answer to it, "
        "so the files",
        "stay closed (tencent-crash-vod-lookup.jsonl has one). The app's stop at minute 110 "
        "finds nothing",
        "recording: a warning, no stop command, not a failure.",
    ], [enter(T0), start(T0, "crash-1"), line(ok, f"{START}:ok", {}),
        *data(ok + 30, ok + 100 * 60), stop(ok + 110 * 60)])


def duplicate_start() -> None:
    ok, end = T0 + 1, T0 + 1 + 10 * 60
    write("tencent-duplicate-start.jsonl", [
        "Tencent ILVB: the app asks to start alice's recording a second time while it runs.",
        "Documented result (002 §2: 录制同一个用户同一时刻只能发起一路录制请求): the second "
        "start is refused",
        "locally with 30000415 and no command is sent; one start command in all; the "
        "recording goes on",
        "and stops with one 10-minute file. Times here are ISO-8601 with an offset, as the "
        "format allows.",
    ], [enter("2023-11-15T06:13:20+08:00"), start(T0, "dup-1"), line(ok, f"{START}:ok", {}),
        *data(ok + 30, ok + 300), start("2023-11-14T22:18:22Z", "dup-2"),
        *data(ok + 330, end), stop(end),
        line(end + 1, f"{STOP}:ok", {"fileIds": ["5285890781763150001"]})])


def retry() -> None:
    ok = T0 + 5.0
    end = ok + 5 * 60
    write("tencent-retry.jsonl", [
        "Tencent ILVB: the start fails twice with codes whose advice is to retry (004 §5): "
        "30000208",
        "(recording server timeout), then 30000404 (flow-control timeout); the third attempt "
        "succeeds.",
        "Documented result: three start commands, at 0 s, 1.5 s (1 s after the first error) "
        "and 4 s",
        "(2 s after the second); two warnings naming the retries; then a 5-minute recording, "
        "stopped.",
    ], [enter(T0), start(T0, "retry-1"),
        line(T0 + 0.5, f"{START}:error", {"code": 30000208, "desc": "timeout"}),
        line(T0 + 2.0, f"{START}:error", {"code": 30000404, "desc": "timeout"}),
        line(ok, f"{START}:ok", {}), *data(ok + 30, ok + 300), stop(end),
        line(end + 1, f"{STOP}:ok", {"fileIds": ["5285890781763160001"]})])


def stop_while_starting() -> None:
    write("tencent-stop-while-starting.jsonl", [
        "Tencent ILVB: the app asks to stop while the start is still under way.",
        "Documented result: the stop waits for the start's outcome (an info notice says so); "
        "at",
        "requestMultiVideoRecorderStart:ok the file opens and the stop command goes out at "
        "once;",
        "the file ends where it starts (the server stopped at once): state stopped, one file "
        "of 0 s,",
        "one start and one stop command.",
    ], [enter(T0), start(T0, "early-stop"), stop(T0 + 0.2),
        line(T0 + 0.7, f"{START}:ok", {}),
        line(T0 + 1.5, f"{STOP}:ok", {"fileIds": ["5285890781763170001"]})])


def crash_vod_lookup() -> None:
    ok = T0 + 1
    last = ok + 89 * 60 + 30  # 30 s before the 90-minute rollover
    closed = last + 60
    write("tencent-crash-vod-lookup.jsonl", [
        "Tencent ILVB: alice's client crashes 30 s before the 90-minute rollover; no stop "
        "ever comes.",
        "Documented result (002 §6 (1), (2); §4 (3)): 60 s after the last data the recording "
        "closes; the",
        "one file ends at the last data (minute 89.5); the file the rollover opened at minute "
        "90 holds",
        "nothing and is lost (start = end): nothing is kept as recorded after the last data. "
        "With no",
        "stop there are no file IDs: SearchMedia looks the files up by the start's file name "
        "(no FileIds).",
        "VOD lists yesterday's recording under the same name too: created before the start, "
        "it is not",
        "taken. Today's file (its BasicInfo.Vid null) becomes ready with its FileId, url and "
        "size. State",
        "stopped; notices: 'no-data' (error).",
    ], [enter(T0), start(T0, "crash-2"), line(ok, f"{START}:ok", {}),
        *data(ok + 30, last),
        line(closed + 1, "SearchMedia:ok", {"files": [
            vod_file("5285890781763100999", "crash-2_1", 900_000_000, T0 - 86_400),
            vod_file("5285890781763180001", "crash-2_1", 537_000_000, closed)]})])


def retry_already_recording() -> None:
    end = T0 + 2 + 5 * 60
    write("tencent-retry-already-recording.jsonl", [
        "Tencent ILVB: the start times out (30000208, 请求录制服务器超时; advice: retry, 004 "
        "§5) but had in",
        "fact reached the server; the retry 1 s later is answered 30000415 (用户正在录制).",
        "Documented result: the first attempt got through, so the session records (a warning "
        "30000415",
        "says so) from the timed-out attempt's sending (T0), alice stays busy, and the app's "
        "stop sends",
        "requestMultiVideoRecorderStop. Commands: start, start, stop, SearchMedia (FileIds = "
        "the stop's",
        "ID). One file, T0 to the stop, ready. Notices: warning 30000208, warning 30000415.",
    ], [enter(T0), start(T0, "retry-2"),
        line(T0 + 0.5, f"{START}:error", {"code": 30000208, "desc": "timeout"}),
        line(T0 + 2.0, f"{START}:error", {"code": 30000415, "desc": ""}),
        *data(T0 + 32, end), stop(end),
        line(end + 1, f"{STOP}:ok", {"fileIds": ["5285890781763190001"]}),
        line(end + 2, "SearchMedia:ok", {"files": [
            vod_file("5285890781763190001", "retry-2_1", 30_200_000, end + 1)]})])


def main() -> None:
    two_hundred_minutes()
    crash()
    crash_vod_lookup()
    retry_already_recording()
    duplicate_start()
    retry()
    stop_while_starting()


if __name__ == "__main__":
    main()
