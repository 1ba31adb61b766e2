import logging
import os

from fastapi import FastAPI, HTTPException

from recstate import Runtime, TraceWriter, signals
from recstate.adapters.netease import CallbackApp, CallbackReceiver, deliver_to
from recstate.adapters.tencent import TencentSimulator
from recstate.asgi import lifespan, receiver_route
from recstate.events.tencent import EnterRoom, RecordParam, RoomInfo, StartRecording

log = logging.getLogger("service")
runtime = Runtime(tracer=TraceWriter(os.environ.get("RECSTATE_TRACE", "recstate.trace.jsonl")))
TencentSimulator(runtime)  # stands in for the Tencent SDK adapter
app = FastAPI(lifespan=lifespan(runtime))  # runs the driver; closes the runtime at shutdown
netease = CallbackApp(CallbackReceiver(os.environ["NETEASE_APP_SECRET"]), deliver_to(runtime))
app.router.routes.append(receiver_route("/netease/callback", netease))  # exact path: no 307
signals.recording_changed.connect(lambda _, *, session, new, **kw: log.warning(
    "%s is %s", session.key, new), sender=runtime, weak=False)  # one handler, every vendor


async def answer(event):  # accepted (with its command), refused (code, advice), violation
    outcome = await runtime.send(event)
    if not outcome.accepted:
        raise HTTPException(409, outcome.to_dict())
    return outcome.to_dict()


@app.post("/tencent/{relation}/{room}/{user}")
async def enter(relation: int, room: int, user: str):
    return await answer(EnterRoom(relationId=relation, roomId=room, user=user))


@app.post("/tencent/{relation}/{room}/{user}/recording")
async def start(relation: int, room: int, user: str, file: str):
    return await answer(StartRecording(roomInfo=RoomInfo(relationId=relation, roomId=room),
                                       param=RecordParam(fileName=file), user=user))
