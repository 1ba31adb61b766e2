// Juphoon JC SDK media channel (vendor-docs/001). The app passes its JCMediaChannel:
// join {channelId, joinParam} -> mediaChannel.join(channelId, joinParam); leave -> leave();
// enableRecord {enable, recordParam} -> mediaChannel.enableRecord(enable, recordParam) (a false
// return is reported to onError). The channel's callbacks are forwarded when the app routes
// them here: the shim returns `events`, with onJoin(result, reason, channelId) -> onJoin:ok |
// onJoin:error {code: reason}, onLeave(reason, channelId), and
// onMediaChannelPropertyChange(propChangeParam) -> {recordState} read off the channel.
export function juphoon(mediaChannel) {
  let emit = null;
  const shim = {
    vendor: "juphoon",
    attach(ctx) {
      emit = ctx.emit;
    },
    events: {
      onJoin(result, reason, channelId) {
        if (result) emit(channelId, "onJoin:ok", { channelId });
        else emit(channelId, "onJoin:error", { code: Number(reason), desc: "", channelId });
      },
      onLeave(reason, channelId) {
        emit(channelId, "onLeave", { channelId, reason: Number(reason) });
      },
      onMediaChannelPropertyChange(propChangeParam) {
        if (!propChangeParam || !propChangeParam.recordState) return;
        const state = mediaChannel.recordState;
        emit(mediaChannel.channelId, "onMediaChannelPropertyChange", { recordState: String(state), channelId: mediaChannel.channelId });
      },
    },
    async perform(cmd) {
      const d = cmd.data;
      if (cmd.name === "join") return mediaChannel.join(d.channelId, d.joinParam);
      if (cmd.name === "leave") return mediaChannel.leave();
      if (cmd.name === "enableRecord") {
        if (mediaChannel.enableRecord(d.enable, d.recordParam) === false) throw new Error("enableRecord returned false");
        return undefined;
      }
      throw new Error(`juphoon shim: no SDK call for command ${cmd.name}`);
    },
  };
  return shim;
}
