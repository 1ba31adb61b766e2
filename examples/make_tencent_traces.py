import json
T0 = 1_700_000_000  # 2023-11-14T22:13:20Z
S = "1001:7:alice"
def line(t, name, data=None, session=S):
    d = {"t": t, "vendor": "tencent", "name": name, "session": session}
    if data is not None: d["data"] = data
    return json.dumps(d, ensure_ascii=False)
room = {"relationId": 1001, "roomId": 7}
enter = lambda t: line(t, "enterRoom", {"relationId": 1001, "roomId": 7, "roomType": "multi", "user": "alice"})
start = lambda t, fn: line(t, "requestMultiVideoRecorderStart", {"roomInfo": room, "param": {"fileName": fn, "classId": 1, "recordDataType": 0}})
def data(t0, t1, step=30):
    return [line(t, "mediaData") for t in range(t0, t1 + 1, step)]
def write(name, header, lines):
    with open(f"examples/traces/{name}", "w") as f:
        for h in header: f.write(f"# {h}\n")
        for l in lines: f.write(l + "\n")

ok = T0 + 1
end = ok + 200 * 60
write("tencent-200min.jsonl", [
 "Tencent ILVB: a 200-minute recording of alice in room 1001/7 (002 §6: a new MP4 every 90 minutes).",
 "Documented result: state stopped; three files 90, 90 and 20 minutes long, contiguous; after",
 "stop:ok they carry the file IDs, and SearchMedia (VOD) makes all three ready with url and size.",
], [enter(T0), start(T0, "class-42"), line(ok, "requestMultiVideoRecorderStart:ok", {}), *data(ok + 30, end),
    line(end, "requestMultiVideoRecorderStop", {"roomInfo": room}),
    line(end + 1, "requestMultiVideoRecorderStop:ok", {"fileIds": ["5285890781763144364", "5285890781763144365", "5285890781763144366"]}),
    line(end + 5, "SearchMedia:ok", {"files": [
        {"fileId": "5285890781763144364", "name": "class-42_1.mp4", "url": "https://1252.vod2.myqcloud.com/a1/class-42_1.mp4", "size": 1620000000},
        {"fileId": "5285890781763144365", "name": "class-42_2.mp4", "url": "https://1252.vod2.myqcloud.com/a2/class-42_2.mp4", "size": 1620000000},
        {"fileId": "5285890781763144366", "name": "class-42_3.mp4", "url": "https://1252.vod2.myqcloud.com/a3/class-42_3.mp4", "size": 360000000}]})])

last = ok + 100 * 60
write("tencent-crash.jsonl", [
 "Tencent ILVB: alice's client crashes at minute 100 of the recording: data stops.",
 "Documented result (002 §6: 1分钟没收到数据会自动关闭录制): 60 s after the last data the recording",
 "closes by itself: state stopped, two files, 90 minutes and 10 minutes, the second ending at the",
 "last data (minute 100); an error-level notice 'no-data'. The app's stop at minute 110 finds",
 "nothing recording: a warning, no command, not a failure.",
], [enter(T0), start(T0, "crash-1"), line(ok, "requestMultiVideoRecorderStart:ok", {}), *data(ok + 30, last),
    line(ok + 110 * 60, "requestMultiVideoRecorderStop", {"roomInfo": room})])

end = ok + 10 * 60
write("tencent-duplicate-start.jsonl", [
 "Tencent ILVB: the app asks to start alice's recording a second time while it runs.",
 "Documented result (002 §2: 录制同一个用户同一时刻只能发起一路录制请求): the second start is refused",
 "locally with 30000415 and no command is sent; one start command in all; the recording goes on",
 "and stops with one 10-minute file. Times here are ISO-8601 with an offset, as the format allows.",
], [enter(T0).replace(f'"t": {T0}', '"t": "2023-11-15T06:13:20+08:00"'),
    start(T0, "dup-1"), line(ok, "requestMultiVideoRecorderStart:ok", {}),
    *data(ok + 30, ok + 300),
    start(ok + 301, "dup-2").replace(f'"t": {ok + 301}', '"t": "2023-11-14T22:18:22Z"'),
    *data(ok + 330, end),
    line(end, "requestMultiVideoRecorderStop", {"roomInfo": room}),
    line(end + 1, "requestMultiVideoRecorderStop:ok", {"fileIds": ["5285890781763150001"]})])

r1, r2 = T0 + 0.5, T0 + 1.5 + 0.5
ok = T0 + 3.5 + 1.2 + 0.3
end = ok + 5 * 60
write("tencent-retry.jsonl", [
 "Tencent ILVB: the start fails twice with codes whose advice is to retry (004 §5): 30000208",
 "(recording server timeout), then 30000404 (flow-control timeout); the third attempt succeeds.",
 "Documented result: three start commands, at 0 s, 1.5 s (1 s after the first error) and 4 s",
 "(2 s after the second); two warnings naming the retries; then a 5-minute recording, stopped.",
], [enter(T0), start(T0, "retry-1"),
    line(r1, "requestMultiVideoRecorderStart:error", {"code": 30000208, "desc": "timeout"}),
    line(T0 + 2.0, "requestMultiVideoRecorderStart:error", {"code": 30000404, "desc": "timeout"}),
    line(ok, "requestMultiVideoRecorderStart:ok", {}),
    *[line(ok + k, "mediaData") for k in range(30, 301, 30)],
    line(end, "requestMultiVideoRecorderStop", {"roomInfo": room}),
    line(end + 1, "requestMultiVideoRecorderStop:ok", {"fileIds": ["5285890781763160001"]})])

write("tencent-stop-while-starting.jsonl", [
 "Tencent ILVB: the app asks to stop while the start is still under way.",
 "Documented result: the stop waits for the start's outcome (an info notice says so); at",
 "requestMultiVideoRecorderStart:ok the file opens and the stop command goes out at once;",
 "the file ends where it starts (the server stopped at once): state stopped, one file of 0 s,",
 "one start and one stop command.",
], [enter(T0), start(T0, "early-stop"), line(T0 + 0.2, "requestMultiVideoRecorderStop", {"roomInfo": room}),
    line(T0 + 0.7, "requestMultiVideoRecorderStart:ok", {}),
    line(T0 + 1.5, "requestMultiVideoRecorderStop:ok", {"fileIds": ["5285890781763170001"]})])
