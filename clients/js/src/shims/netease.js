// NetEase Yunxin netcall (vendor-docs/000): the app passes its netcall instance
// (`new Netcall(...)` of the WeChat mini-program or web SDK).
//
// Commands, with the SDK's own call shape:
//   response {caller, accepted, type, cid}       -> netcall.response({caller, accepted, type, cid})
//   startRtc {recordType, recordAudio, recordVideo, mode} -> netcall.startRtc(params); `mode` names
//        the SDK constant (NETCALL_MODE_AUDIO_VIDEO / NETCALL_MODE_ONLY_AUDIO), read off netcall
//   call {callee, type}                          -> netcall.call({type, account: callee})
//   joinChannel {channelName, rtmpRecord, recordAudio, recordVideo, recordType, type}
//                                                -> netcall.joinChannel(params)
//   hangup {cid}                                 -> netcall.hangup()
//   leaveChannel {channelName}                   -> netcall.leaveChannel({channelName})
// Each promise's outcome comes back as `<api>:ok` / `<api>:error {code, desc}` (call:ok names the
// cid it resolved with). SDK events forwarded: beCalling {caller, cid, type} (a new session: the
// cid), callAccepted, callRejected, hangup {account, cid}.
import { outcome } from "./common.js";

export function netease(netcall) {
  const sessions = new Map(); // cid -> session (a caller's call is keyed by the app's call id)
  const sessionOf = (cid) => sessions.get(String(cid)) || String(cid);
  const cidOf = (data) => (data && (data.cid ?? data.channelId)) != null ? String(data.cid ?? data.channelId) : undefined;
  return {
    vendor: "netease",
    attach(ctx) {
      netcall.on("beCalling", (data) => {
        const { caller, cid, type } = data;
        ctx.emit(String(cid), "beCalling", { caller, cid: String(cid), type });
      });
      for (const name of ["callAccepted", "callRejected", "hangup"]) {
        netcall.on(name, (data) => {
          const cid = cidOf(data);
          if (cid === undefined) return;
          const out = { cid };
          if (data.account !== undefined) out.account = String(data.account);
          if (name !== "hangup" && data.type !== undefined) out.type = data.type;
          ctx.emit(sessionOf(cid), name, out);
        });
      }
    },
    async perform(cmd, ctx) {
      const d = cmd.data;
      switch (cmd.name) {
        case "response":
          return outcome("response", ctx, () => netcall.response({ caller: d.caller, accepted: d.accepted, type: d.type, cid: d.cid }));
        case "startRtc":
          return outcome("startRtc", ctx, () => netcall.startRtc({
            recordType: d.recordType, recordAudio: d.recordAudio, recordVideo: d.recordVideo,
            mode: netcall[d.mode] !== undefined ? netcall[d.mode] : d.mode,
          }));
        case "call":
          return outcome("call", ctx, () => netcall.call({ type: d.type, account: d.callee }), (r) => {
            const cid = cidOf(r);
            if (cid === undefined) return {};
            sessions.set(cid, cmd.session);
            return { cid };
          });
        case "joinChannel":
          return outcome("joinChannel", ctx, () => netcall.joinChannel({ ...d }));
        case "hangup":
          return netcall.hangup();
        case "leaveChannel":
          return netcall.leaveChannel({ channelName: d.channelName });
        default:
          throw new Error(`netease shim: no SDK call for command ${cmd.name}`);
      }
    },
  };
}
