// Tencent ILVB recorder (vendor-docs/002, 004). The app passes either
// - an object with the SDK's recorder calls in the Android / Windows shape, callbacks last:
//     requestMultiVideoRecorderStart(roomInfo, param, {onSuccess(), onError(code, desc)})
//     requestMultiVideoRecorderStop(roomInfo, {onSuccess(fileIds), onError(code, desc)})
//   (TIMAvManager.getInstance() through the app's JS binding), or
// - the Web SDK's qavSdk: StartRecordVideo(videotype, filename, classid, transcode, snapshot,
//   watermark) and StopRecordVideo(videotype). Its document shows no callback: a return value of
//   0 or undefined is taken as success, another number as the error code, a throw as an error;
//   the Web stop gives no file IDs (recstate then finds the files by name, 002 §4 (3)).
// Outcomes: requestMultiVideoRecorderStart:ok | :error {code, desc};
//           requestMultiVideoRecorderStop:ok {fileIds} | :error {code, desc}.
const START = "requestMultiVideoRecorderStart";
const STOP = "requestMultiVideoRecorderStop";

function callbacks(ctx, api, ok) {
  return {
    onSuccess: (value) => ctx.emit(`${api}:ok`, ok ? ok(value) : {}),
    onError: (code, desc) => ctx.emit(`${api}:error`, { code: Number(code), desc: String(desc ?? "") }),
  };
}

function webCall(ctx, api, call, ok) {
  let result;
  try {
    result = call();
  } catch (e) {
    ctx.emit(`${api}:error`, { code: Number.isInteger(e && e.code) ? e.code : -1, desc: String(e && e.message ? e.message : e) });
    return;
  }
  if (result === undefined || result === 0) ctx.emit(`${api}:ok`, ok || {});
  else ctx.emit(`${api}:error`, { code: Number(result), desc: "" });
}

export function tencent(sdk) {
  const web = typeof sdk.requestMultiVideoRecorderStart !== "function" && typeof sdk.StartRecordVideo === "function";
  let webType = 0;
  return {
    vendor: "tencent",
    async perform(cmd, ctx) {
      const { roomInfo, param } = cmd.data;
      if (cmd.name === START) {
        if (!web) return sdk.requestMultiVideoRecorderStart(roomInfo, param, callbacks(ctx, START));
        webType = param.recordDataType || 0;
        return webCall(ctx, START, () => sdk.StartRecordVideo(webType, param.fileName, param.classId,
          param.isTransCode ? 1 : 0, param.isScreenShot ? 1 : 0, param.isWaterMark ? 1 : 0));
      }
      if (cmd.name === STOP) {
        if (!web) return sdk.requestMultiVideoRecorderStop(roomInfo, callbacks(ctx, STOP, (ids) => ({ fileIds: Array.from(ids || [], String) })));
        return webCall(ctx, STOP, () => sdk.StopRecordVideo(webType), { fileIds: [] });
      }
      throw new Error(`tencent shim: no SDK call for command ${cmd.name}`);
    },
  };
}
