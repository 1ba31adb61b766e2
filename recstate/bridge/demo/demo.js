// The demo: the bridge client with the NetEase and Tencent shims over fake SDK objects.
import { BridgeClient, netease, tencent } from "../client/index.js";
import { FakeNetcall, FakeTIMAvManager, sdkCalls } from "./fakes.js";

const $ = (id) => document.getElementById(id);
const wsUrl = new URL("../ws", location.href);
wsUrl.protocol = location.protocol === "https:" ? "wss:" : "ws:";

const netcall = new FakeNetcall();
const tim = new FakeTIMAvManager();
const sessions = {};
const errors = [];

function render() {
  const rows = Object.values(sessions).sort((a, b) => a.session.localeCompare(b.session));
  $("sessions").replaceChildren(...rows.map((s) => {
    const tr = document.createElement("tr");
    tr.dataset.session = s.session;
    tr.dataset.state = s.state;
    const ready = s.files.filter((f) => f.status === "ready").length;
    for (const text of [s.session, s.vendor, s.state, s.recording, `${ready} ready / ${s.files.length}`]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  }));
  $("sdk-calls").replaceChildren(...sdkCalls().map((c) => {
    const li = document.createElement("li");
    li.textContent = `${c.vendor} ${c.api}(${c.args.map((a) => JSON.stringify(a)).join(", ")})`;
    return li;
  }));
}

const client = new BridgeClient({
  url: wsUrl.href,
  token: () => fetch("token").then((r) => r.json()).then((j) => j.token),
  onStatus: (status) => {
    $("status").textContent = status;
    $("status").dataset.status = status;
  },
  onState: (s) => {
    sessions[s.session] = s;
    render();
  },
  onError: (e) => {
    errors.push(e);
    const li = document.createElement("li");
    li.textContent = `${e.field ? `field ${e.field}: ` : ""}${e.message || e.reason || JSON.stringify(e)}`;
    $("errors").append(li);
  },
});
client.use(netease(netcall)).use(tencent(tim));
document.addEventListener("sdk-call", render);

// NetEase: the peer rings (the fake SDK fires beCalling); the user accepts with the record
// parameters of vendor-docs/000 (recordType "0": mix and single files, audio and video).
let cid = sessionStorage.getItem("recstate-demo-cid");
if (cid) $("cid").textContent = cid;
$("ring").onclick = () => ring({ caller: "ann", cid: String(Date.now()), type: netcall.NETCALL_TYPE_VIDEO });
function ring(data) {
  cid = String(data.cid);
  sessionStorage.setItem("recstate-demo-cid", cid);
  $("cid").textContent = cid;
  netcall.ring(data);
}
$("accept").onclick = () => client.emit("netease", cid, "accept", {
  record: { recordType: "0", recordAudio: netcall.RECORD_AUDIO_OPEN, recordVideo: netcall.RECORD_VIDEO_OPEN },
});
$("hangup").onclick = () => client.emit("netease", cid, "hangup", {});

// Tencent: alice enters room 1001/7 and the app asks to record (002 §2).
const room = { relationId: 1001, roomId: 7 };
const user = "alice";
const tSession = `${room.relationId}:${room.roomId}:${user}`;
$("enter").onclick = () => client.emit("tencent", tSession, "enterRoom", { ...room, user });
$("start").onclick = () => client.emit("tencent", tSession, "requestMultiVideoRecorderStart", {
  roomInfo: room, param: { fileName: "demo-alice", classId: 1 }, user,
});
$("stop").onclick = () => client.emit("tencent", tSession, "requestMultiVideoRecorderStop", { roomInfo: room, user });

window.demo = { client, netcall, tim, sessions, errors, ring, sdkCalls };
render();
client.start();
