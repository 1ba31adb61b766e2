// Fake vendor SDK objects for the demo page, with the signatures and callbacks of the vendor
// documents. Every SDK call is logged (and kept in sessionStorage, so a reload keeps the log:
// the end-to-end test counts the calls across reloads).
const LOG_KEY = "recstate-demo-sdk-calls";

export function sdkCalls() {
  return JSON.parse(sessionStorage.getItem(LOG_KEY) || "[]");
}

function logCall(vendor, api, args) {
  const calls = sdkCalls();
  calls.push({ vendor, api, args });
  sessionStorage.setItem(LOG_KEY, JSON.stringify(calls));
  document.dispatchEvent(new CustomEvent("sdk-call", { detail: { vendor, api, args } }));
}

// NetEase netcall (vendor-docs/000): netcallInstance.on(...), response({caller, accepted, type,
// cid}).then(...), startRtc(joinChannelParam).then(...), and the SDK constants it uses.
export class FakeNetcall {
  constructor() {
    this.handlers = new Map();
    this.NETCALL_TYPE_AUDIO = 1;
    this.NETCALL_TYPE_VIDEO = 2;
    this.NETCALL_MODE_ONLY_AUDIO = 0;
    this.NETCALL_MODE_AUDIO_VIDEO = 1;
    this.RECORD_AUDIO_CLOSE = 0;
    this.RECORD_AUDIO_OPEN = 1;
    this.RECORD_VIDEO_CLOSE = 0;
    this.RECORD_VIDEO_OPEN = 1;
    this.failures = {}; // api -> {code, message}: the next call of it rejects
  }
  on(name, handler) {
    if (!this.handlers.has(name)) this.handlers.set(name, []);
    this.handlers.get(name).push(handler);
  }
  fire(name, data) {
    for (const h of this.handlers.get(name) || []) h(data);
  }
  answer(api, value) {
    const failure = this.failures[api];
    delete this.failures[api];
    return failure ? Promise.reject(failure) : Promise.resolve(value);
  }
  // the peer calls us: beCalling {caller, cid, type}
  ring(data) {
    this.fire("beCalling", data);
  }
  response(opts) {
    logCall("netease", "response", [opts]);
    return this.answer("response");
  }
  startRtc(params) {
    logCall("netease", "startRtc", [params]);
    return this.answer("startRtc", { uid: 1 });
  }
  call(opts) {
    logCall("netease", "call", [opts]);
    return this.answer("call", { cid: String(Date.now()) });
  }
  joinChannel(params) {
    logCall("netease", "joinChannel", [params]);
    return this.answer("joinChannel");
  }
  leaveChannel(opts) {
    logCall("netease", "leaveChannel", [opts]);
    return Promise.resolve();
  }
  hangup() {
    logCall("netease", "hangup", []);
  }
}

// Tencent ILVB recorder (vendor-docs/002 §2.1, §3.1): requestMultiVideoRecorderStart(roomInfo,
// param, TIMCallBack) and requestMultiVideoRecorderStop(roomInfo, TIMValueCallBack<List<String>>),
// the callbacks answered asynchronously as the SDK does.
export class FakeTIMAvManager {
  constructor() {
    this.stopFileIds = [];
    this.failures = {}; // api -> [code, desc]: the next call of it fails
  }
  answer(api, cb, value) {
    const failure = this.failures[api];
    delete this.failures[api];
    setTimeout(() => (failure ? cb.onError(failure[0], failure[1]) : cb.onSuccess(value)), 0);
  }
  requestMultiVideoRecorderStart(roomInfo, param, cb) {
    logCall("tencent", "requestMultiVideoRecorderStart", [roomInfo, param]);
    this.answer("requestMultiVideoRecorderStart", cb);
  }
  requestMultiVideoRecorderStop(roomInfo, cb) {
    logCall("tencent", "requestMultiVideoRecorderStop", [roomInfo]);
    this.answer("requestMultiVideoRecorderStop", cb, this.stopFileIds.slice());
  }
}
