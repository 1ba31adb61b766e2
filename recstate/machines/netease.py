"""NetEase Yunxin (网易云信) WeChat mini-program netcall, with server recording.

Rules, from ``vendor-docs/000_15ac1063afea4b1f.txt`` (录制相关):

- Caller: ``call`` -> ``callAccepted`` -> ``startRtc(params)`` ("作为主叫方，发起通话请求，在
  callAccepted 事件中调用startRTC"). ``callRejected``, no answer within ``answer_timeout``
  (60 s unless configured) or ``hangup`` before acceptance end the call with no ``startRtc``.
- Callee: ``beCalling {caller, cid, type}`` -> ``response({caller, accepted, type, cid})`` ->
  ``startRtc`` ("作为被叫方，响应通话请求，调用reponse方法后，再调用startRTC"); the mode follows
  the call type (``NETCALL_MODE_AUDIO_VIDEO`` for a video call, else
  ``NETCALL_MODE_ONLY_AUDIO``). A repeated ``beCalling`` for the same cid changes nothing.
- Multi-party: ``joinChannel({rtmpRecord, recordAudio, recordVideo, recordType})``
  ("多人通话的服务端录制，调用 joinChannel 时传入对应参数即可"); ``leaveChannel`` ends it.
- Files (服务端录制下来的文件包括...): per participant an ``.aac`` and, in a video call, an
  ``.mp4``; with mixing, a mixed ``.mp4``; none of the audio-video files in an audio call. Their
  addresses arrive after the call through the callback service (抄送). The machine declares
  them ``expected`` when a recorded call ends, makes them ``ready`` as the callback delivers
  them, and marks those still missing ``lost`` when ``files_deadline`` (30 min unless
  configured, counted from the end of the call) passes.
- The callback's items follow NetEase's 抄送 field table for eventType 6 (音视频/白板文件下载
  信息): ``caller`` is true on the caller's files and absent on the others; ``type`` is aac,
  mp4, flv (互动直播, a channel's ``rtmpRecord``) or gz (whiteboard data); ``pieceindex`` is
  the slice index of a recording longer than the slice length (录制文件的切片索引).

States: ``idle``; ``calling`` (caller, waiting for an answer); ``ringing`` (callee);
``responding`` (callee, ``response`` sent); ``joining`` (multi-party); ``connecting``
(``startRtc`` sent); ``in_call`` (connected, nothing recorded) or ``recording`` (connected
with server recording); ``awaiting_files`` (ended, files expected); ``complete`` (every
expected file ready or lost); ``ended`` (ended with no recording to wait for); ``failed``.

Decisions (the document does not settle these; what a user would expect):

- Whether a call records is decided from the parameters alone (:func:`records`: audio
  recorded, or video recorded in a video call), never from whether the files can be named. A
  recorded call or channel always ends through ``awaiting_files`` and its deadline.
- P2P files are matched by role (the callback's ``caller`` flag), so the local account need
  not be known. In a channel, the local user's own files are expected when ``joinChannel``
  names ``account``; without it they cannot be named, so only the mixed file (when the
  recordType mixes) is expected and every member's single files, the local user's included,
  are taken as they come and reported at info level. A recorded channel whose files cannot
  be named at all (recordType 2, no ``account``) waits for the whole deadline and warns if
  nothing arrived.
- A ``hangup`` is the peer's only when its ``account`` names the peer (``callee`` on the
  caller's side, ``caller`` on the callee's); otherwise it is the local user's, and the
  ``hangup`` command goes out. In a channel, a ``hangup`` naming another member (any account
  but the local ``account``, or any account at all when the local one is unknown) is that
  member leaving: an info notice, and the channel and its recording go on; only
  ``leaveChannel`` or a local ``hangup`` (no account, or the local account) ends it.
- A hang-up in ``connecting`` (``startRtc`` sent, not yet confirmed) of a recorded call
  expects the files: the server may have started recording before the answer. If none of
  them arrives by the deadline, the ``files-missing`` notice is a warning (the call may never
  have connected), not an error. A ``startRtc:ok`` / ``startRtc:error`` arriving after such a
  hang-up is noted at info level.
- A retried delivery of a file is recognised by its ``filename`` (NetEase's signed URLs may
  differ between deliveries of the same file).
- Pieces. A body whose items carry ``pieceindex`` during the call is a set of slices cut while
  the call goes on: they are taken, and the call goes on (a body without ``pieceindex``
  during the call still reads as the end of a call whose hang-up was not seen). Every piece
  is its own file, ``<slot>.<pieceindex>.<format>``, with its slot's participant, kind and
  format; the slot's file declared at the end becomes its first piece to arrive. A piece
  declares the lower pieces of its slot still missing as expected. At the end of the call a
  slot that already has pieces expects the next one (the last piece is cut at the end), so
  it is complete when its pieces 0..n are all ready and one came after the end. NetEase
  says nothing of how many pieces a slot has: a piece that comes after its slot was taken
  complete (or after the deadline) is kept too, and the lower pieces it shows missing are
  marked lost at once, with a warning (nothing waits for them any more).
- Kinds: ``aac`` audio, ``mp4`` video, ``flv`` video (the interactive-live recording: a
  channel joined with ``rtmpRecord`` expects ``live.flv``, the local member's), a mix
  ``mixed``; ``gz`` whiteboard data is kind ``whiteboard``, kept with an info notice, never
  a warning (no record parameter asks for it). A mixed ``.aac`` in a video call whose mix
  is an ``.mp4`` is the audio copy NetEase makes when the account has it opened: info.
- Ways out of every state (issue 9; the document gives no deadlines, these are a vendor
  engineer's reading): ``response``, ``startRtc`` and ``joinChannel`` must be answered
  within ``api_timeout`` (30 s; the answer is the mini-program's callback, which a crashed
  client never delivers), else the call is hung up and ``failed`` (a recorded call whose
  ``startRtc`` went unanswered goes to ``awaiting_files`` instead: the server may have
  recorded); a callee that neither accepts nor rejects within ``answer_timeout`` ends its
  ringing (the caller has given up). The server's record that a call is over, the 抄送
  ``eventType`` ``"5"`` body (音视频时长: ``channelId``, ``duration``, ``status``), ends a call
  whose hang-up was not seen, like files arriving do; after the local end it is compared
  with the local duration (a warning over 60 s apart). ``max_call_duration`` (off unless
  set) hangs up a connected call that lasts longer.
- A caller's ``call`` names its session (the cid is not known yet); the cid that ``call:ok``
  or ``callAccepted`` names is kept in the context, and
  :class:`recstate.adapters.netease.ChannelRoutes` takes later events that carry only the
  cid (the callback service's bodies) to that session.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import attrs

from recstate.events import Event
from recstate.events.netease import (
    CALL_EVENT_TYPE,
    CALLBACK,
    FILE_KINDS,
    MODE_AUDIO_VIDEO,
    MODE_ONLY_AUDIO,
    VENDOR,
    VIDEO,
    Callback,
    CallCommand,
    ExpectedFile,
    FileInfo,
    HangupCommand,
    JoinChannelCommand,
    LeaveChannelCommand,
    RecordParams,
    ResponseCommand,
    StartRtcCommand,
    expected_files,
    idempotency_keys,
    records,
    session_key,
    split_event,
)
from recstate.machine import Machine, ignore, on, state
from recstate.recording import FileKind, RecordingFile
from recstate.vendors import Vendor

__all__ = ["VENDOR", "VENDOR_SPEC", "NetEaseCall", "NetEaseContext", "NetEaseOptions"]

CONNECTED = ("in_call", "recording")
AFTER = ("awaiting_files", "complete", "ended", "failed")
RINGING_OR_LATER = ("ringing", "responding", "connecting", *CONNECTED, *AFTER)


@attrs.define
class NetEaseOptions:
    """``answer_timeout``: seconds a caller waits for ``callAccepted``; ``files_deadline``:
    seconds after the call ended by which every file must have been delivered;
    ``callback_window``: how far the callback's ``CurTime`` may be from now (the receiver's
    defence against a replayed request)."""

    answer_timeout: float = 60.0
    files_deadline: float = 30 * 60.0
    callback_window: float = 300.0
    #: Seconds an SDK call (``response``, ``startRtc``, ``joinChannel``) may go unanswered:
    #: the answer is the mini-program's callback, which a crashed client never delivers.
    api_timeout: float = 30.0
    #: When set, a connected call or channel is hung up (and its recording ended) after this
    #: many seconds: the way out when neither the hang-up nor any server record of the end
    #: arrives. Off by default (a real call may be long).
    max_call_duration: float | None = attrs.field(default=None)

    @max_call_duration.validator
    def _check_max(self, attribute: Any, value: float | None) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not value > 0 or value == float("inf")):
            raise ValueError(f"max_call_duration is seconds > 0 (or None), got {value!r}")


@attrs.define(slots=True)
class NetEaseContext:
    """One call or channel: who, the record parameters, and what the files are."""

    role: str = ""  # caller | callee | channel
    cid: str | None = None
    caller: str | None = None
    callee: str | None = None
    account: str | None = None
    type: int = VIDEO
    record: RecordParams = attrs.field(factory=RecordParams)
    rtc_sent: int = 0
    #: startRtc:ok or joinChannel:ok arrived (the media really connected).
    connected: bool = False
    #: When it connected (to compare with the server's call record).
    connected_at: float | None = None
    ended_at: float | None = None
    recorded: bool = False
    #: file id -> the ``filename`` that made it ready (a retried delivery names it again).
    delivered: dict[str, str] = attrs.field(factory=dict)


def _server_view(ev: Any) -> str:
    duration = "unknown" if ev.duration is None else f"{ev.duration:g} s"
    return f"status {ev.status or 'not given'}, duration {duration}"


def _fmt_item(item: FileInfo) -> str:
    return f"{item.filename} ({item.user}, {'mix' if item.mix else item.type})"


class NetEaseCall(Machine):
    """A NetEase netcall (P2P as caller or callee, or a multi-party channel) and its server
    recording's files. Rules and states in the module docstring (000)."""

    vendor = VENDOR
    machine_name = "call"
    context = NetEaseContext
    options = NetEaseOptions
    initial = "idle"
    states = (
        "idle",
        state("calling", timers={"answer_timeout": "answer_timeout"}),
        state("ringing", timers={"ring_timeout": "answer_timeout"}),
        state("responding", timers={"api_timeout": "api_timeout"}),
        state("joining", timers={"api_timeout": "api_timeout"}),
        state("connecting", timers={"api_timeout": "api_timeout"}),
        "in_call",
        "recording",
        state("awaiting_files", timers={"deadline": "files_deadline"}),
        "complete",
        "ended",
        "failed",
    )
    recording_states = {"idle": "idle", "recording": "recording",
                        "awaiting_files": "stopping", "complete": "stopped",
                        "failed": "failed"}
    transitions: ClassVar[Sequence[Mapping[str, Any]]] = (
        # Caller.
        on("call", "idle", "calling", after="send_call"),
        on("call:ok", ("calling", "connecting", *CONNECTED), None, after="note_cid"),
        ignore("call:ok", AFTER),
        on("call:error", "calling", "failed", after="api_failed"),
        on("callAccepted", "calling", "connecting", after=["note_cid", "send_start_rtc"]),
        on("callRejected", "calling", "ended", after="rejected"),
        on("answer_timeout", "calling", "ended", after="no_answer"),
        # Callee.
        on("beCalling", "idle", "ringing", after="ring"),
        on("beCalling", RINGING_OR_LATER, None, conditions="same_cid"),
        on("accept", "ringing", "responding", after="send_accept"),
        on("reject", "ringing", "ended", after="send_reject"),
        on("response:ok", "responding", "connecting", after="send_start_rtc"),
        on("response:error", "responding", "failed", after="api_failed"),
        ignore("response:ok", "ended"),
        on("response:error", "ended", None, after="reject_failed"),
        # Multi-party.
        on("joinChannel", "idle", "joining", after="send_join"),
        on("joinChannel:ok", "joining", "recording", conditions="records",
           after="connected"),
        on("joinChannel:ok", "joining", "in_call", after="connected"),
        on("joinChannel:error", "joining", "failed", after="api_failed"),
        on("leaveChannel", "recording", "awaiting_files", after=["send_leave", "end_call"]),
        on("leaveChannel", ("joining", "in_call"), "ended", after="send_leave"),
        # Media.
        on("startRtc:ok", "connecting", "recording", conditions="records",
           after="connected"),
        on("startRtc:ok", "connecting", "in_call", after="connected"),
        on("startRtc:error", "connecting", "failed", after="api_failed"),
        on("startRtc:ok", ("awaiting_files", "complete", "ended"), None,
           conditions="hung_up_connecting", after="late_rtc_answer"),
        on("startRtc:error", ("awaiting_files", "complete", "ended"), None,
           conditions="hung_up_connecting", after="late_rtc_answer"),
        # Either side: the end. Another channel member's hang-up ends nothing of ours.
        on("hangup", ("joining", "in_call", "recording"), None, conditions="member_hangup",
           after="member_left"),
        on("hangup", "recording", "awaiting_files", after=["hung_up", "end_call"]),
        on("hangup", "connecting", "awaiting_files", conditions="records",
           after=["hung_up", "end_call"]),
        on("hangup", ("calling", "ringing", "responding", "connecting", "joining", "in_call"),
           "ended", after="hung_up"),
        ignore("hangup", AFTER),
        # Files. Pieces (pieceindex) delivered during the call leave it going on.
        on(CALLBACK, "recording", None, conditions="pieces", after="take_files"),
        on(CALLBACK, "recording", "complete", conditions="completes_now",
           after="ended_by_files"),
        on(CALLBACK, "recording", "awaiting_files", after="ended_by_files"),
        on(CALLBACK, "awaiting_files", "complete", conditions="completes",
           after="take_files"),
        on(CALLBACK, ("idle", "in_call", "awaiting_files", "complete", "ended", "failed"), None,
           after="take_files"),
        on("deadline", "awaiting_files", "complete", after="files_lost"),
    )
    # Ways out of every state (issue 9): deadlines on the answers, the server's word that
    # the call is over (抄送 eventType 5, or the files), and an optional maximum duration.
    # Declared first: a timer or a server record is matched before the rules above.
    transitions = (
        on("ring_timeout", "ringing", "ended", after="not_answered"),
        on("api_timeout", ("responding", "joining"), "failed", after="api_unanswered"),
        on("api_timeout", "connecting", "awaiting_files", conditions="records",
           after=["api_unanswered", "end_call"]),
        on("api_timeout", "connecting", "failed", after="api_unanswered"),
        on("max_duration", "recording", "awaiting_files", after=["too_long", "end_call"]),
        on("max_duration", "in_call", "ended", after="too_long"),
        ignore("max_duration", AFTER),
        on(CALLBACK, "recording", "awaiting_files", conditions="call_record",
           after=["ended_by_server", "end_call"]),
        on(CALLBACK, "connecting", "awaiting_files", conditions=["call_record", "records"],
           after=["ended_by_server", "end_call"]),
        on(CALLBACK, ("calling", "ringing", "responding", "joining", "connecting", "in_call"),
           "ended", conditions="call_record", after="ended_by_server"),
        on(CALLBACK, ("idle", *AFTER), None, conditions="call_record", after="server_record"),
        on(CALLBACK, "connecting", "complete", conditions=["records", "completes_now"],
           unless="pieces", after="ended_by_files"),
        on(CALLBACK, "connecting", "awaiting_files", conditions="records", unless="pieces",
           after="ended_by_files"),
        *transitions,
    )

    # ---- guards ------------------------------------------------------------------------------
    def records(self, ev: Event) -> bool:
        """Whether the record parameters make the server record (from the parameters and
        the call type alone: whether the files can be named does not matter)."""
        return records(self.ctx.record, self.ctx.type, channel=self.ctx.role == "channel")

    def member_hangup(self, ev: Any) -> bool:
        """In a channel: a ``hangup`` that names someone other than the local user."""
        ctx = self.ctx
        return (ctx.role == "channel" and ev.account is not None
                and ev.account != ctx.account)

    def hung_up_connecting(self, ev: Event) -> bool:
        """The call was hung up after startRtc was sent and before it was answered."""
        return self.ctx.rtc_sent > 0 and not self.ctx.connected

    def same_cid(self, ev: Any) -> bool:
        """A retried ``beCalling`` delivery: same channel, nothing changes."""
        return self.ctx.cid is None or ev.cid == self.ctx.cid

    def completes(self, ev: Any) -> bool:
        """Whether this callback delivers the last of the files still expected (a dry run of
        :meth:`_take`: a piece may also declare the pieces missing before it)."""
        if not any(f.status == "expected" for f in self.files):
            return False
        return "expected" not in self._take(ev, self.files, dry=True).values()

    def completes_now(self, ev: Any) -> bool:
        """A callback during the call that alone delivers every file the call would expect."""
        key = self.session.key
        declared = [RecordingFile(id=fid, session=key, vendor=VENDOR, kind=kind, format=fmt,
                                  participant=who, status="expected")
                    for fid, kind, fmt, who in self._to_declare()]
        if not declared:
            return False
        after = self._take(ev, [*self.files, *declared], dry=True)
        return "expected" not in after.values()

    def pieces(self, ev: Any) -> bool:
        """A callback whose items carry ``pieceindex``: slices of a recording longer than the
        slice length, which NetEase delivers as they are cut, while the call goes on."""
        return any(item.pieceindex is not None for item in self._own(ev))

    # ---- the caller --------------------------------------------------------------------------
    def send_call(self, ev: Any) -> None:
        ctx = self.ctx
        ctx.role, ctx.callee, ctx.type, ctx.record = "caller", ev.callee, ev.type, ev.record
        ctx.account = ctx.caller = ev.account
        if ev.cid is not None:
            ctx.cid = ev.cid
        self.send(CallCommand(callee=ev.callee, type=ev.type))

    def note_cid(self, ev: Any) -> None:
        cid = getattr(ev, "cid", None)
        if cid is not None and self.ctx.cid is None:
            self.ctx.cid = cid

    def rejected(self, ev: Event) -> None:
        self.notice("rejected", f"{self.ctx.callee or 'the callee'} rejected the call "
                    "(callRejected): no startRtc, nothing recorded", level="info")

    def no_answer(self, ev: Event) -> None:
        self.send(HangupCommand(cid=self.ctx.cid))
        self.notice("no-answer", f"no callAccepted within {self.opts.answer_timeout:g} s: "
                    "the call was hung up with no startRtc, nothing recorded", level="info")

    # ---- the callee --------------------------------------------------------------------------
    def ring(self, ev: Any) -> None:
        ctx = self.ctx
        ctx.role, ctx.caller, ctx.cid, ctx.type = "callee", ev.caller, ev.cid, ev.type

    def send_accept(self, ev: Any) -> None:
        ctx = self.ctx
        ctx.record = ev.record
        if ev.account is not None:
            ctx.account = ctx.callee = ev.account
        self._respond(True)

    def send_reject(self, ev: Event) -> None:
        self._respond(False)

    def _respond(self, accepted: bool) -> None:
        ctx = self.ctx
        assert ctx.caller is not None
        assert ctx.cid is not None
        self.send(ResponseCommand(caller=ctx.caller, accepted=accepted, type=ctx.type,
                                  cid=ctx.cid))

    def reject_failed(self, ev: Any) -> None:
        self.notice(ev.code, f"response (reject) failed: {ev.desc or 'no message'}; the call "
                    "is over for this side either way", level="warning")

    # ---- media -------------------------------------------------------------------------------
    def send_start_rtc(self, ev: Event) -> None:
        ctx = self.ctx
        ctx.rtc_sent += 1
        r = ctx.record
        self.send(StartRtcCommand(recordType=str(r.recordType), recordAudio=int(r.recordAudio),
                                  recordVideo=int(r.recordVideo),
                                  mode=MODE_AUDIO_VIDEO if ctx.type == VIDEO
                                  else MODE_ONLY_AUDIO))

    def send_join(self, ev: Any) -> None:
        ctx = self.ctx
        ctx.role, ctx.cid, ctx.type, ctx.record = "channel", ev.channelName, ev.type, ev.record
        ctx.account = ev.account
        r = ctx.record
        self.send(JoinChannelCommand(channelName=ev.channelName, rtmpRecord=int(r.rtmpRecord),
                                     recordAudio=int(r.recordAudio),
                                     recordVideo=int(r.recordVideo),
                                     recordType=r.recordType, type=ev.type))

    def connected(self, ev: Event) -> None:
        self.ctx.connected = True
        self.ctx.connected_at = self.now
        if self.opts.max_call_duration is not None:
            self.arm("max_duration", self.opts.max_call_duration)

    # ---- ways out: deadlines, the server's record, the maximum duration ----------------------
    def call_record(self, ev: Any) -> bool:
        """The server's record that the call is over (抄送 eventType 5)."""
        return isinstance(ev, Callback) and ev.eventType == CALL_EVENT_TYPE

    def not_answered(self, ev: Event) -> None:
        self.notice("no-answer", f"the call rang for {self.opts.answer_timeout:g} s with no "
                    "accept or reject: the caller has given up; nothing recorded",
                    level="info")

    def _hang_up(self) -> None:
        ctx = self.ctx
        if ctx.role == "channel":
            self.send(LeaveChannelCommand(channelName=ctx.cid or self.session.key))
        else:
            self.send(HangupCommand(cid=ctx.cid))

    def api_unanswered(self, ev: Event) -> None:
        api = {"responding": "response", "joining": "joinChannel",
               "connecting": "startRtc"}.get(self.state, "the SDK call")
        self._hang_up()
        recorded = self.state == "connecting" and self.records(ev)
        self.notice("no-answer", f"{api} got no answer within {self.opts.api_timeout:g} s (a "
                    "crashed or disconnected client never answers): the call was hung up"
                    + ("; the server may have started recording, so its files are expected"
                       if recorded else ""))

    def too_long(self, ev: Event) -> None:
        self._hang_up()
        self.notice("max-duration", f"the call reached max_call_duration "
                    f"({self.opts.max_call_duration:g} s) with no end seen (no hangup, no "
                    "server record, no files): it was hung up", level="warning")

    def ended_by_server(self, ev: Any) -> None:
        self.notice("ended-by-server", f"NetEase's call record (抄送 eventType 5, "
                    f"{_server_view(ev)}) says the call is over, and no hangup was seen here: "
                    "the call is taken as ended", level="warning")
        if self.ctx.role == "channel":
            self.send(LeaveChannelCommand(channelName=self.ctx.cid or self.session.key))

    def server_record(self, ev: Any) -> None:
        """The server's record of a call already over here: compared with the local view."""
        ctx = self.ctx
        local = ""
        if ctx.ended_at is not None and ctx.connected_at is not None:
            local = f"; here it lasted {ctx.ended_at - ctx.connected_at:g} s"
            if ev.duration is not None and abs(ev.duration - (ctx.ended_at
                                                               - ctx.connected_at)) > 60:
                self.notice("server-duration", f"NetEase's call record ({_server_view(ev)}) "
                            f"disagrees with the local view{local}", level="warning")
                return
        self.notice("server-record", f"NetEase's call record: {_server_view(ev)}{local}",
                    level="info")

    def late_rtc_answer(self, ev: Event) -> None:
        self.notice("late-answer", f"{ev.name} arrived after the call was hung up while "
                    "connecting: nothing changes", level="info")

    def send_leave(self, ev: Event) -> None:
        self.send(LeaveChannelCommand(channelName=self.ctx.cid or self.session.key))

    def api_failed(self, ev: Any) -> None:
        self.notice(ev.code, f"{ev.name.partition(':')[0]} failed: netease error {ev.code}: "
                    f"{ev.desc or 'no message'}")

    # ---- the end -----------------------------------------------------------------------------
    def _peer(self) -> str | None:
        ctx = self.ctx
        return (ctx.callee if ctx.role == "caller"
                else ctx.caller if ctx.role == "callee" else None)

    def member_left(self, ev: Any) -> None:
        self.notice("member-hangup", f"channel member {ev.account} hung up; the channel and "
                    "its recording go on (leaveChannel, or a hangup with no account or the "
                    "local account, ends them)", level="info")

    def hung_up(self, ev: Any) -> None:
        peer = self._peer()
        remote = ev.account is not None and peer is not None and ev.account == peer
        if not remote:
            if self.ctx.role == "channel":
                self.send(LeaveChannelCommand(channelName=self.ctx.cid or self.session.key))
            else:
                self.send(HangupCommand(cid=self.ctx.cid))
        if self.state == "ended" and self.ctx.rtc_sent == 0:
            who = f"{ev.account} hung up" if remote else "hung up"
            self.notice("hangup", f"{who} before the call was connected: no startRtc, "
                        "nothing recorded", level="info")

    def end_call(self, ev: Event) -> list[RecordingFile]:
        """Declare the files to expect; they are not ready until the callback delivers them."""
        ctx = self.ctx
        ctx.ended_at = self.now
        ctx.recorded = True
        return [self.open_file(id=fid, kind=kind, format=fmt, participant=who,
                               status="expected")
                for fid, kind, fmt, who in self._to_declare()]

    def _to_declare(self) -> list[tuple[str, FileKind, str, str | None]]:
        """(id, kind, format, participant) of each file to expect at the end of the call: a
        slot's file, or, for a slot whose pieces came during the call, the pieces missing
        below the last one seen and the next one (the last piece is cut at the end)."""
        names = self._names()
        have = {f.id for f in self.files}
        out: list[tuple[str, FileKind, str, str | None]] = []
        for s in self._specs():
            pieces = self._pieces(s.slot, s.format, have)
            if pieces:
                wanted: Iterable[int] = range(max(pieces) + 2)
            elif self._file_id(s.slot, s.format) in have:
                continue
            else:
                wanted = (-1,)
            for p in wanted:
                fid = self._file_id(s.slot, s.format, None if p < 0 else p)
                if fid not in have:
                    out.append((fid, s.kind, s.format, names.get(s.slot)))
        return out

    def ended_by_files(self, ev: Any) -> None:
        self.notice("ended-by-files", "the callback delivered files before the call was seen "
                    "to end (no hangup or leaveChannel): the call is taken as ended",
                    level="warning")
        if self.ctx.role == "channel":
            self.send(LeaveChannelCommand(channelName=self.ctx.cid or self.session.key))
        declared = self.end_call(ev)
        self._take(ev, [*self.files, *declared])

    # ---- files -------------------------------------------------------------------------------
    def take_files(self, ev: Any) -> None:
        self._take(ev, self.files)

    def files_lost(self, ev: Event) -> None:
        missing = [f for f in self.files if f.status == "expected"]
        for f in missing:
            self.update_file(f, "lost", status="lost")
        waited = self.now - (self.ctx.ended_at or self.now)
        if missing:
            connected = self.ctx.connected
            self.notice("files-missing", f"{len(missing)} recorded file(s) never arrived from "
                        f"the callback service within {waited:g} s of the call's end: "
                        f"{', '.join(f.id for f in missing)}; they are marked lost (check the "
                        "抄送 configuration and NetEase's delivery log)"
                        + ("" if connected else "; startRtc was sent but never confirmed, "
                           "so the call may never have connected and nothing been recorded"),
                        level="error" if connected else "warning")
        elif not self.files:
            self.notice("files-missing", f"no file of this recorded channel arrived within "
                        f"{waited:g} s of its end (the local member's own files could not "
                        "be named: joinChannel gave no account); check the 抄送 "
                        "configuration", level="warning")

    def _specs(self) -> tuple[ExpectedFile, ...]:
        ctx = self.ctx
        if ctx.role == "channel":
            participants: Sequence[str] = ("self",) if ctx.account else ()
        else:
            participants = ("caller", "callee")
        return expected_files(ctx.record, ctx.type, participants,
                              channel=ctx.role == "channel")

    def _names(self) -> dict[str, str | None]:
        ctx = self.ctx
        if ctx.role == "channel":
            return {"self": ctx.account, "live": ctx.account, "mix": None}
        return {"caller": ctx.caller or "caller", "callee": ctx.callee or "callee",
                "mix": None}

    def _file_id(self, slot: str, fmt: str, piece: int | None = None) -> str:
        """``<session>/<slot>.<format>``, or ``<session>/<slot>.<pieceindex>.<format>`` for a
        piece."""
        if piece is None:
            return f"{self.session.key}/{slot}.{fmt}"
        return f"{self.session.key}/{slot}.{piece}.{fmt}"

    def _pieces(self, slot: str, fmt: str, ids: Iterable[str]) -> set[int]:
        """The piece indices of a slot among file ids."""
        head, tail = f"{self.session.key}/{slot}.", f".{fmt}"
        found = set()
        for fid in ids:
            if fid.startswith(head) and fid.endswith(tail):
                middle = fid[len(head):len(fid) - len(tail)]
                if middle.isdigit():
                    found.add(int(middle))
        return found

    def _slot(self, item: FileInfo) -> str:
        ctx = self.ctx
        if (ctx.role == "channel" and item.type == "flv"
                and (item.mix or ctx.account is None or item.user == ctx.account)):
            return "live"  # the interactive-live recording, of the mixed live stream or ours
        if item.mix:
            return "mix"
        if ctx.role == "channel":
            return "self" if item.user == ctx.account else f"user:{item.user}"
        return "caller" if item.caller else "callee"

    def _channel(self) -> str:
        return self.ctx.cid or self.session.key

    def _own(self, ev: Any) -> list[FileInfo]:
        channel = self._channel()
        return [item for item in ev.items() if item.channelid == channel]

    def _take(self, ev: Any, known: Iterable[RecordingFile], *, dry: bool = False
              ) -> dict[str, str]:
        """Apply one callback body: expected files become ready, a repeated delivery counts
        once, a piece is its own file in its slot (declaring the pieces missing before it),
        whiteboard data is kept as such, an unexpected file is kept and reported, another
        channel's item is reported. Returns each file's status afterwards; ``dry`` changes
        nothing (the guards' look ahead)."""
        files = {f.id: f for f in known}
        status = {fid: str(f.status) for fid, f in files.items()}
        urls = {fid: f.url for fid, f in files.items()}
        items = ev.items()
        channel = self._channel()
        notice = (lambda *a, **k: None) if dry else self.notice
        foreign = [item for item in items if item.channelid != channel]
        if foreign:
            notice("other-channel", f"callback items of other channels "
                   f"{sorted({i.channelid for i in foreign})} reached session "
                   f"{self.session.key!r} and were not taken: split a multi-channel body "
                   "with recstate.adapters.netease.split_callback", level="warning")
        if ev.eventType != "6":
            notice("callback-ignored", f"callback eventType {ev.eventType!r} carries no "
                   "file addresses: nothing to do", level="info")
        extra_ok = self.ctx.role == "channel" and (self.ctx.record.single
                                                   or self.ctx.record.rtmpRecord)
        specs = {(s.slot, s.format): s for s in self._specs()}
        names = self._names()
        delivered = self.ctx.delivered
        taken: dict[str, str] = {}  # id -> filename readied here (effects apply afterwards)

        def ready(fid: str, item: FileInfo, **more: Any) -> None:
            f = files[fid]
            if not dry:
                self.update_file(f, "ready", url=item.url, size=item.size, md5=item.md5,
                                 status="ready", **more)
            status[fid], urls[fid], taken[fid] = "ready", item.url, item.filename

        def add(fid: str, kind: FileKind, fmt: str, who: str | None,
                item: FileInfo | None = None) -> None:
            if dry:
                files[fid] = RecordingFile(id=fid, session=self.session.key, vendor=VENDOR,
                                           kind=kind, format=fmt, participant=who)
            else:
                files[fid] = self.open_file(id=fid, kind=kind, format=fmt, participant=who,
                                            status="expected")
            status[fid] = "expected"
            if item is not None:
                ready(fid, item)

        gaps: list[str] = []  # pieces declared missing by a later piece

        for item in items:
            if item.channelid != channel:
                continue
            if item.type == "gz":  # whiteboard data: neither audio nor video
                uid = f"{self.session.key}/{item.filename}"
                if uid not in status:
                    add(uid, "whiteboard", "gz", None if item.mix else item.user, item)
                    notice("whiteboard-file", f"whiteboard data (白板录制文件) delivered and "
                           f"kept: {_fmt_item(item)}", level="info")
                continue
            slot = self._slot(item)
            spec = specs.get((slot, item.type))
            piece = item.pieceindex
            if piece is None and spec is not None and \
                    self._file_id(slot, item.type) not in status:
                # No pieceindex, but the slot was cut into pieces: the item is the piece
                # the slot still waits for (the last one), or a retry of one already taken.
                pieces = sorted(self._pieces(slot, item.type, status))
                pids = [self._file_id(slot, item.type, p) for p in pieces]
                if any(item.filename in (delivered.get(p), taken.get(p)) for p in pids):
                    continue
                waiting = [p for p, pid in zip(pieces, pids, strict=True)
                           if status[pid] in ("expected", "lost") and pid not in taken]
                if waiting:
                    piece = waiting[0]
            fid = self._file_id(slot, item.type, piece)
            if spec is not None and piece is not None and fid not in status:
                whole = self._file_id(slot, item.type)
                who = None if slot == "mix" else item.user
                if status.get(whole) in ("expected", "lost"):
                    late = status[whole] == "lost"
                    files[fid] = files.pop(whole)  # the slot's file is this piece
                    status[fid] = status.pop(whole)
                    ready(fid, item, id=fid, participant=who)
                    if late:
                        notice("file-late", f"{fid} arrived after it was marked lost: it "
                               "is ready now", level="warning")
                else:
                    add(fid, spec.kind, spec.format, who, item)
                for p in range(piece):  # the pieces before it are due too
                    pid = self._file_id(slot, item.type, p)
                    if pid not in status:
                        add(pid, spec.kind, spec.format, names.get(slot))
                        gaps.append(pid)
                continue
            f_status = status.get(fid)
            if f_status in ("expected", "lost") and fid not in taken:
                f = files[fid]
                ready(fid, item, participant=item.user if f.participant is not None
                      else None)
                if f_status == "lost":
                    notice("file-late", f"{fid} arrived after it was marked lost: it is "
                           "ready now", level="warning")
                continue
            if f_status is not None and (item.filename in (delivered.get(fid), taken.get(fid))
                                         or urls.get(fid) == item.url):
                continue  # a retried delivery (same filename; a signed URL may differ)
            uid = f"{self.session.key}/{item.filename}"
            if uid in status:
                continue
            kind: FileKind = "mixed" if item.mix else FILE_KINDS.get(item.type, "video")
            add(uid, kind, item.type, None if item.mix else item.user, item)
            if extra_ok and slot.startswith("user:") and item.type in ("aac", "mp4", "flv"):
                notice("member-file", f"file of channel member {item.user}: "
                       f"{_fmt_item(item)}", level="info")
            elif (slot == "mix" and item.type == "aac" and ("mix", "mp4") in specs
                  and self.ctx.record.recordAudio):
                notice("mix-audio", f"an audio copy of the mixed recording, which NetEase "
                       f"makes when the account has it opened: {_fmt_item(item)}",
                       level="info")
            else:
                notice("unexpected-file", f"a file the record parameters do not produce "
                       f"was delivered and kept: {_fmt_item(item)} ({self._why()})",
                       level="warning")
        missing = [pid for pid in gaps if status[pid] == "expected"]
        if missing and self.state not in ("recording", "awaiting_files"):
            # After the deadline (or once the call was taken complete) nothing waits for
            # them any more: the pieces before a late piece that are not here are lost.
            for pid in missing:
                status[pid] = "lost"
                if not dry:
                    self.update_file(files[pid], "lost", status="lost")
            notice("files-missing", f"a late piece came after pieces that never arrived: "
                   f"{', '.join(missing)}; they are marked lost", level="warning")
        if not dry:
            delivered.update(taken)
        return status

    def _why(self) -> str:
        ctx = self.ctx
        if not ctx.recorded:
            return f"this session did not record (state {self.state!r})"
        r = ctx.record
        return (f"recordType {r.recordType}, recordAudio {int(r.recordAudio)}, recordVideo "
                f"{int(r.recordVideo)}, call type {ctx.type}")


def _machine_for(ev: Event) -> type[Machine]:
    return NetEaseCall


VENDOR_SPEC = Vendor(name=VENDOR, machines=(NetEaseCall,), machine_for=_machine_for,
                     session_key=session_key, split=split_event,
                     idempotency_keys=idempotency_keys,
                     doc="NetEase Yunxin netcall (000): session = cid, or channelName")
