// CloudRoom local mixer (vendor-docs/003). The app passes an object holding the SDK's globals
// (in a browser: `window`): CRVideo_CreateLocMixer(mixerID, mixerCfg, mixerContent),
// CRVideo_AddLocMixerOutput(mixerID, mixerOutput), CRVideo_RmLocMixerOutput(mixerID, nameOrUrls),
// CRVideo_UpdateLocMixerContent(mixerID, mixerContent), CRVideo_DestroyLocMixer(mixerID), each
// returning an error code (CRVideo_NOERR = 0); and CRVideo_LocMixerOutputInfo.callback =
// function(mixerID, nameOrUrl, outputInfo), forwarded as LocMixerOutputInfo {mixerID, nameOrUrl,
// outputInfo}. A non-zero return code is reported to onError: the outputs' own reports
// (LocMixerOutputInfo, state ERR with errCode) are what recstate's machine reads.
const CALLS = {
  CreateLocMixer: (sdk, d) => sdk.CRVideo_CreateLocMixer(d.mixerID, d.mixerCfg, d.mixerContent),
  AddLocMixerOutput: (sdk, d) => sdk.CRVideo_AddLocMixerOutput(d.mixerID, d.outputs),
  RmLocMixerOutput: (sdk, d) => sdk.CRVideo_RmLocMixerOutput(d.mixerID, d.outputs),
  UpdateLocMixerContent: (sdk, d) => sdk.CRVideo_UpdateLocMixerContent(d.mixerID, d.mixerContent),
  DestroyLocMixer: (sdk, d) => sdk.CRVideo_DestroyLocMixer(d.mixerID),
};

export function cloudroom(sdk) {
  return {
    vendor: "cloudroom",
    attach(ctx) {
      const info = sdk.CRVideo_LocMixerOutputInfo || (sdk.CRVideo_LocMixerOutputInfo = {});
      info.callback = (mixerID, nameOrUrl, outputInfo) =>
        ctx.emit(String(mixerID), "LocMixerOutputInfo", { mixerID: String(mixerID), nameOrUrl, outputInfo });
    },
    async perform(cmd) {
      const call = CALLS[cmd.name];
      if (!call) throw new Error(`cloudroom shim: no SDK call for command ${cmd.name}`);
      const code = call(sdk, cmd.data);
      if (code !== undefined && code !== 0) throw new Error(`CRVideo_${cmd.name} returned error code ${code}`);
    },
  };
}
