"""Tencent Cloud VOD: TC3-HMAC-SHA256 against Tencent's worked example, and the SearchMedia
client against a real HTTP server on loopback that checks the signature.

The worked example is the one in Tencent Cloud's "签名方法 v3" document (API 3.0 common
documentation, cloud.tencent.com/document/api/213/30654 and its copies per product, e.g.
/document/api/1427/56189): CVM DescribeInstances in ap-guangzhou, SecretId
AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******, SecretKey Gu5t9xGARNpq86cd98joQYCN3******* (the
document's own masked values, used verbatim), X-TC-Timestamp 1551113065, signed headers
content-type;host;x-tc-action. The expected strings and hashes below are the document's.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
from loopback import Loopback, Request

from recstate import signals
from recstate.adapters.tencent import (
    AsyncVodAdapter,
    AsyncVodClient,
    TencentSimulator,
    VodAdapter,
    VodClient,
    VodError,
    tc3_sign,
)
from recstate.clock import ManualClock
from recstate.events.tencent import (
    EnterRoom,
    RecordParam,
    RoomInfo,
    StartRecording,
    StopRecording,
    VodFile,
)
from recstate.runtime import Runtime
from recstate.trace import Record

# ---- Tencent's published worked example (签名方法 v3) -------------------------------------------
DOC_SECRET_ID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******"
DOC_SECRET_KEY = "Gu5t9xGARNpq86cd98joQYCN3*******"
DOC_TIMESTAMP = 1551113065
DOC_PAYLOAD = ('{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], '
               '"Name": "instance-name"}]}')
DOC_HASHED_PAYLOAD = "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
DOC_CANONICAL_REQUEST = (
    "POST\n"
    "/\n"
    "\n"
    "content-type:application/json; charset=utf-8\n"
    "host:cvm.tencentcloudapi.com\n"
    "x-tc-action:describeinstances\n"
    "\n"
    "content-type;host;x-tc-action\n"
    + DOC_HASHED_PAYLOAD
)
DOC_HASHED_CANONICAL_REQUEST = "7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84"
DOC_STRING_TO_SIGN = ("TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n"
                      + DOC_HASHED_CANONICAL_REQUEST)
DOC_SIGNATURE = "be4f67d323c78ab9acb7395e43c0dbcf822a9cfac32fea2449a7bc7726b770a3"
DOC_AUTHORIZATION = (
    "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/"
    "tc3_request, SignedHeaders=content-type;host;x-tc-action, Signature=" + DOC_SIGNATURE
)
DOC_HEADERS = {"Content-Type": "application/json; charset=utf-8",
               "Host": "cvm.tencentcloudapi.com", "X-TC-Action": "DescribeInstances"}


def doc_signature() -> Any:
    return tc3_sign(secret_id=DOC_SECRET_ID, secret_key=DOC_SECRET_KEY, service="cvm",
                    timestamp=DOC_TIMESTAMP, payload=DOC_PAYLOAD, headers=DOC_HEADERS)


def test_tc3_canonical_request_is_the_documents_byte_for_byte() -> None:
    sig = doc_signature()
    assert sig.canonical_request == DOC_CANONICAL_REQUEST
    assert sig.canonical_request.endswith(DOC_HASHED_PAYLOAD)
    assert sig.hashed_canonical_request == DOC_HASHED_CANONICAL_REQUEST


def test_tc3_string_to_sign_is_the_documents() -> None:
    sig = doc_signature()
    assert sig.credential_scope == "2019-02-25/cvm/tc3_request"
    assert sig.string_to_sign == DOC_STRING_TO_SIGN


def test_tc3_signature_and_authorization_are_the_documents() -> None:
    sig = doc_signature()
    assert sig.signature == DOC_SIGNATURE
    assert sig.signed_headers == "content-type;host;x-tc-action"
    assert sig.authorization == DOC_AUTHORIZATION


def test_tc3_two_header_variant_of_the_example_hashes_as_published() -> None:
    # The earlier edition of the same example signs only content-type;host; the document
    # gives its HashedCanonicalRequest as 5ffe6a04... (the key there is masked beyond use).
    sig = tc3_sign(secret_id=DOC_SECRET_ID, secret_key=DOC_SECRET_KEY, service="cvm",
                   timestamp=DOC_TIMESTAMP, payload=DOC_PAYLOAD,
                   headers={"Host": "cvm.tencentcloudapi.com",
                            "Content-Type": "application/json; charset=utf-8"})
    assert sig.hashed_canonical_request == (
        "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031")


def test_tc3_date_is_the_utc_date_of_the_timestamp() -> None:
    # The document's note: 1551113065 is 2019-02-26 00:44:25 in UTC+8 but 2019-02-25 in UTC.
    assert doc_signature().credential_scope.startswith("2019-02-25/")
    late = tc3_sign(secret_id="id", secret_key="k", service="vod", timestamp=1551139200,
                    payload=b"", headers={"Host": "h", "Content-Type": "c"})
    assert late.credential_scope == "2019-02-26/vod/tc3_request"


def test_tc3_signature_depends_on_the_key_and_not_only_the_request() -> None:
    a = tc3_sign(secret_id="id", secret_key="key-a", service="vod", timestamp=1,
                 payload=b"{}", headers={"Host": "h", "Content-Type": "c"})
    b = tc3_sign(secret_id="id", secret_key="key-b", service="vod", timestamp=1,
                 payload=b"{}", headers={"Host": "h", "Content-Type": "c"})
    assert a.hashed_canonical_request == b.hashed_canonical_request
    assert a.signature != b.signature
    assert "key-a" not in repr(a)


# ---- a VOD API on loopback ---------------------------------------------------------------------
SECRET_ID = "AKIDtestsecretid0000000000000000"
SECRET_KEY = "test-secret-key-do-not-print-0123"
NOW = 1_700_000_000.0

Responder = Callable[[dict[str, Any]], tuple[int, bytes]]


def media(file_id: str, name: str, url: str, size: int) -> dict[str, Any]:
    return {"FileId": file_id, "BasicInfo": {"Name": name, "MediaUrl": url, "Type": "mp4"},
            "MetaData": {"Size": size, "Duration": 60.0}}


def ok(items: list[dict[str, Any]], total: int | None = None) -> tuple[int, bytes]:
    return 200, orjson.dumps({"Response": {
        "TotalCount": len(items) if total is None else total, "MediaInfoSet": items,
        "RequestId": "req-1"}})


class FakeVod:
    """A Tencent Cloud API endpoint: checks the TC3 signature with the same secret, then
    lets ``responder`` answer the parsed body. With ``hold()``, a request that arrives
    waits (in the server's thread) until ``release()``: the request is in flight meanwhile."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.responder: Responder = lambda body: ok([])
        self.http = Loopback(self._answer)
        self.url = self.http.url
        self.arrived = self.http.arrived

    def _answer(self, request: Request) -> tuple[int, bytes, dict[str, str]]:
        headers, raw = request.headers, request.body
        self.requests.append({"headers": headers, "body": raw})
        expected = tc3_sign(
            secret_id=SECRET_ID, secret_key=SECRET_KEY, service="vod",
            timestamp=int(headers["X-TC-Timestamp"]), payload=raw,
            headers={"Content-Type": headers["Content-Type"], "Host": headers["Host"],
                     "X-TC-Action": headers["X-TC-Action"]})
        if headers.get("Authorization") != expected.authorization:
            status, body = 200, orjson.dumps({"Response": {"Error": {
                "Code": "AuthFailure.SignatureFailure",
                "Message": "The provided credentials could not be validated."},
                "RequestId": "req-sig"}})
        else:
            status, body = self.responder(orjson.loads(raw))
        return status, body, {"Content-Type": "application/json"}

    def hold(self) -> None:
        self.http.hold()

    def release(self) -> None:
        self.http.release()

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def vod() -> Iterator[FakeVod]:
    fake = FakeVod()
    yield fake
    fake.close()


Search = Callable[[str], list[VodFile]]


def searcher(kind: str, *, secret_key: str = SECRET_KEY, **kwargs: Any) -> Search:
    """``search_media`` of a :class:`VodClient` (``kind="sync"``), or of an
    :class:`AsyncVodClient` run to completion on a loop of its own (``"async"``)."""
    kwargs.setdefault("clock", ManualClock(NOW))
    if kind == "sync":
        def search(prefix: str) -> list[VodFile]:
            with VodClient(SECRET_ID, secret_key, **kwargs) as client:
                return client.search_media(prefix)

        return search

    async def search_async(prefix: str) -> list[VodFile]:
        async with AsyncVodClient(SECRET_ID, secret_key, **kwargs) as client:
            return await client.search_media(prefix)

    return lambda prefix: asyncio.run(search_async(prefix))


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    """Both clients: they share the signing and the response parsing."""
    value: str = request.param
    return value


@pytest.fixture
def search(vod: FakeVod, kind: str) -> Search:
    return searcher(kind, endpoint=vod.url, region="ap-guangzhou", sub_app_id=1500000001)


@pytest.fixture
def client(vod: FakeVod) -> Iterator[VodClient]:
    c = VodClient(SECRET_ID, SECRET_KEY, endpoint=vod.url, region="ap-guangzhou",
                  sub_app_id=1500000001, clock=ManualClock(NOW))
    yield c
    c.close()


def test_search_media_signs_the_request_and_reads_the_files(vod: FakeVod,
                                                            search: Search) -> None:
    vod.responder = lambda body: ok([
        media("5285890781234567890", "lesson_1", "http://x.vod2.myqcloud.com/a/f0.mp4", 1234),
        media("5285890781234567891", "lesson_2", "http://x.vod2.myqcloud.com/b/f0.mp4", 99),
    ])
    files = search("lesson")
    assert files == [
        VodFile(fileId="5285890781234567890", name="lesson_1",
                url="http://x.vod2.myqcloud.com/a/f0.mp4", size=1234),
        VodFile(fileId="5285890781234567891", name="lesson_2",
                url="http://x.vod2.myqcloud.com/b/f0.mp4", size=99),
    ]
    (request,) = vod.requests
    headers = request["headers"]
    assert headers["X-TC-Action"] == "SearchMedia"
    assert headers["X-TC-Version"] == "2018-07-17"
    assert headers["X-TC-Region"] == "ap-guangzhou"
    assert headers["X-TC-Timestamp"] == str(int(NOW))
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["Authorization"].startswith(
        f"TC3-HMAC-SHA256 Credential={SECRET_ID}/2023-11-14/vod/tc3_request, "
        "SignedHeaders=content-type;host;x-tc-action, Signature=")
    body = orjson.loads(request["body"])
    assert body["NamePrefixes"] == ["lesson"]
    assert body["SubAppId"] == 1500000001


def test_search_media_pages_until_the_total_count(vod: FakeVod, kind: str) -> None:
    items = [media(f"52858900000{i}", f"rec_{i}", f"http://v/{i}.mp4", i) for i in range(5)]

    def page(body: dict[str, Any]) -> tuple[int, bytes]:
        start = body["Offset"]
        return ok(items[start:start + body["Limit"]], total=len(items))

    vod.responder = page
    files = searcher(kind, endpoint=vod.url, page_size=2)("rec_")
    assert [f.fileId for f in files] == [i["FileId"] for i in items]
    assert [orjson.loads(r["body"])["Offset"] for r in vod.requests] == [0, 2, 4]
    assert "X-TC-Region" not in vod.requests[0]["headers"]  # no region: not sent


def test_a_wrong_key_is_refused_by_the_signature_check(vod: FakeVod, kind: str) -> None:
    search = searcher(kind, secret_key="another-key-entirely", endpoint=vod.url)
    with pytest.raises(VodError) as err:
        search("lesson")
    assert err.value.code == "AuthFailure.SignatureFailure"
    assert err.value.request_id == "req-sig"
    assert "another-key-entirely" not in str(err.value)


def test_an_api_error_raises_with_its_code_and_message(vod: FakeVod,
                                                       search: Search) -> None:
    vod.responder = lambda body: (200, orjson.dumps({"Response": {"Error": {
        "Code": "InvalidParameterValue.NamePrefixes",
        # A server that echoes the key back must not make it reach the message.
        "Message": f"bad NamePrefixes (key {SECRET_KEY})"}, "RequestId": "req-2"}}))
    with pytest.raises(VodError) as err:
        search("lesson")
    assert err.value.code == "InvalidParameterValue.NamePrefixes"
    assert "bad NamePrefixes" in str(err.value)
    assert "req-2" in str(err.value)
    assert SECRET_KEY not in str(err.value)
    assert SECRET_KEY not in repr(err.value)


def test_a_500_that_is_not_json_raises_http_status(vod: FakeVod, search: Search) -> None:
    vod.responder = lambda body: (500, b"<html>Internal Server Error</html>")
    with pytest.raises(VodError) as err:
        search("lesson")
    assert err.value.code == "ClientError.HttpStatus"
    assert err.value.status == 500
    assert "HTTP 500" in str(err.value)
    assert SECRET_KEY not in str(err.value)


def test_a_200_that_is_not_json_raises_bad_response(vod: FakeVod, search: Search) -> None:
    vod.responder = lambda body: (200, b"not json at all")
    with pytest.raises(VodError) as err:
        search("lesson")
    assert err.value.code == "ClientError.BadResponse"
    assert "not json at all" in str(err.value)


def test_a_timeout_raises_a_clear_error(vod: FakeVod, kind: str) -> None:
    vod.hold()  # the server takes the request and does not answer until released
    search = searcher(kind, endpoint=vod.url, timeout=0.2)
    with pytest.raises(VodError, match=r"timed out after 0.2 s") as err:
        search("lesson")
    assert vod.arrived.is_set(), "the request reached the server"
    assert err.value.code == "ClientError.Timeout"
    assert SECRET_KEY not in str(err.value)


def test_a_refused_connection_raises_network_error(kind: str) -> None:
    with socket.socket() as sock:  # a loopback port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    search = searcher(kind, endpoint=f"http://127.0.0.1:{port}")
    with pytest.raises(VodError) as err:
        search("lesson")
    assert err.value.code == "ClientError.Network"
    assert SECRET_KEY not in str(err.value)


def test_repr_hides_the_secret_key(client: VodClient) -> None:
    text = repr(client)
    assert SECRET_KEY not in text
    assert "secret_key='***'" in text
    assert SECRET_KEY not in str(vars(client))


async def test_async_client_repr_hides_the_secret_key() -> None:
    async with AsyncVodClient(SECRET_ID, SECRET_KEY, clock=ManualClock(NOW)) as client:
        text = repr(client)
        assert text.startswith("AsyncVodClient(")
        assert SECRET_KEY not in text
        assert "secret_key='***'" in text
        assert SECRET_KEY not in str(vars(client))


# ---- the adapter -------------------------------------------------------------------------------
def run_recording(rt: Runtime, minutes: float) -> None:
    t0 = rt.clock.now()
    rt.dispatch(EnterRoom(t=t0, relationId=15000, roomId=1, user="alice"))
    rt.dispatch(StartRecording(t=t0, roomInfo=RoomInfo(relationId=15000, roomId=1),
                               user="alice", param=RecordParam(fileName="lesson")))
    rt.advance(to=t0 + minutes * 60)
    rt.dispatch(StopRecording(t=t0 + minutes * 60, roomInfo=RoomInfo(relationId=15000,
                                                                      roomId=1),
                              user="alice"))
    rt.advance(to=t0 + minutes * 60 + 5)


def test_vod_adapter_answers_search_media_and_the_files_become_ready(vod: FakeVod) -> None:
    records: list[Record] = []
    rt = Runtime(ManualClock(NOW), tracer=records.append)
    sim = TencentSimulator(rt, answer_search=False)
    # VOD holds what the simulated server recorded.
    vod.responder = lambda body: ok([media(f.fileId, f.name, f.url, f.size or 0)
                                     for f in sim.vod_files
                                     if f.name.startswith(body["NamePrefixes"][0])])
    client = VodClient(SECRET_ID, SECRET_KEY, endpoint=vod.url, clock=rt.clock)
    adapter = VodAdapter(rt, client)
    run_recording(rt, 100)
    files = rt.sessions["15000:1:alice"].files
    assert [f.status for f in files] == ["ready", "ready"]
    assert [f.url for f in files] == [f.url for f in sim.vod_files]
    assert len(vod.requests) == 1
    assert [r.name for r in records if r.name.startswith("SearchMedia")] == [
        "SearchMedia", "SearchMedia:ok"]
    trace = b"".join(r.dumps() for r in records)
    assert SECRET_KEY.encode() not in trace
    adapter.disconnect()
    sim.disconnect()
    client.close()


def test_vod_adapter_turns_an_api_error_into_search_media_error(vod: FakeVod) -> None:
    rt = Runtime(ManualClock(NOW))
    sim = TencentSimulator(rt, answer_search=False)
    vod.responder = lambda body: (200, orjson.dumps({"Response": {"Error": {
        "Code": "ResourceNotFound", "Message": "no such media"}, "RequestId": "r"}}))
    errors: list[dict[str, Any]] = []
    signals.error.connect(lambda sender, **kw: errors.append(kw), sender=rt, weak=False)
    client = VodClient(SECRET_ID, SECRET_KEY, endpoint=vod.url, clock=rt.clock)
    adapter = VodAdapter(rt, client)
    run_recording(rt, 10)
    assert [f.status for f in rt.sessions["15000:1:alice"].files] == ["closed"]
    notice = [e for e in errors if e["code"] == "ResourceNotFound"]
    assert len(notice) == 1
    assert "no such media" in notice[0]["message"]
    adapter.disconnect()
    sim.disconnect()
    client.close()


# ---- the asyncio adapter: the HTTP call runs beside the driver, not inside the handling -------
KEY = "15000:1:alice"
ROOM = RoomInfo(relationId=15000, roomId=1)


def start_recording(rt: Runtime) -> None:
    t0 = rt.clock.now()
    rt.dispatch(EnterRoom(t=t0, relationId=15000, roomId=1, user="alice"))
    rt.dispatch(StartRecording(t=t0, roomInfo=ROOM, user="alice",
                               param=RecordParam(fileName="lesson")))


def listing(files: list[VodFile]) -> Responder:
    return lambda body: ok([media(f.fileId, f.name, f.url, f.size or 0) for f in files
                            if f.name.startswith(body["NamePrefixes"][0])])


def statuses(rt: Runtime) -> list[str]:
    return [f.status for f in rt.sessions[KEY].files]


async def test_async_vod_adapter_answers_over_http_while_run_drives_the_runtime(
        vod: FakeVod) -> None:
    records: list[Record] = []
    rt = Runtime(ManualClock(NOW), strict=True, tracer=records.append)
    sim = TencentSimulator(rt, answer_search=False)
    client = AsyncVodClient(SECRET_ID, SECRET_KEY, endpoint=vod.url, clock=rt.clock)
    adapter = AsyncVodAdapter(rt, client)
    start_recording(rt)
    await rt.run(until=NOW + 100 * 60)
    stop_at = rt.clock.now()
    rt.submit(StopRecording(t=stop_at, roomInfo=ROOM, user="alice"))
    vod.hold()  # the SearchMedia request will wait in the server until released

    # stop:ok at +0.2 s sends SearchMedia; while it is in flight, virtual time stands still
    driver = asyncio.create_task(rt.run(until=stop_at + 1))
    assert await asyncio.to_thread(vod.arrived.wait, 10), "the request is on the wire"
    await asyncio.sleep(0)
    assert not driver.done(), "run() waits for the tracked call before moving time on"
    assert rt.clock.now() == stop_at + 0.2
    assert adapter.pending == 1
    assert statuses(rt) == ["closed", "closed"]

    vod.responder = listing(sim.vod_files)
    vod.release()
    await driver  # the answer is dispatched at the virtual time it was asked for
    assert adapter.pending == 0
    assert rt.clock.now() == stop_at + 1
    assert statuses(rt) == ["ready", "ready"]
    [answer] = [r for r in records if r.name == "SearchMedia:ok"]
    assert answer.t == stop_at + 0.2
    assert [f.url for f in rt.sessions[KEY].files] == [f.url for f in sim.vod_files]
    assert len(vod.requests) == 1
    assert [r.name for r in records if r.name.startswith("SearchMedia")] == [
        "SearchMedia", "SearchMedia:ok"]
    assert SECRET_KEY.encode() not in b"".join(r.dumps() for r in records)
    adapter.disconnect()
    sim.disconnect()
    await client.aclose()


async def test_async_vod_adapter_partial_listing_is_searched_again_by_the_machine(
        vod: FakeVod) -> None:
    # VOD lists the first file at the first search and both at the second, which the
    # machine makes 30 s later (TencentOptions.search_delays).
    rt = Runtime(ManualClock(NOW), strict=True)
    sim = TencentSimulator(rt, answer_search=False)
    client = AsyncVodClient(SECRET_ID, SECRET_KEY, endpoint=vod.url, clock=rt.clock)
    adapter = AsyncVodAdapter(rt, client)
    start_recording(rt)
    await rt.run(until=NOW + 100 * 60)
    stop_at = rt.clock.now()
    rt.submit(StopRecording(t=stop_at, roomInfo=ROOM, user="alice"))
    shown = iter([1, None])  # how much of VOD's listing each search sees
    vod.responder = lambda body: listing(sim.vod_files[:next(shown)])(body)
    await rt.run(until=stop_at + 1)  # the first search is answered before time moves on
    assert statuses(rt) == ["ready", "closed"]

    await rt.run(until=stop_at + 40)  # the re-search goes out at about +30.2 s
    assert statuses(rt) == ["ready", "ready"]
    assert [f.id for f in rt.sessions[KEY].files] == [f.fileId for f in sim.vod_files]
    assert [orjson.loads(r["body"])["NamePrefixes"] for r in vod.requests] == [["lesson"]] * 2
    adapter.disconnect()
    sim.disconnect()
    await client.aclose()


async def test_async_vod_adapter_turns_an_api_error_into_search_media_error(
        vod: FakeVod) -> None:
    rt = Runtime(ManualClock(NOW))
    sim = TencentSimulator(rt, answer_search=False)
    vod.responder = lambda body: (200, orjson.dumps({"Response": {"Error": {
        "Code": "ResourceNotFound", "Message": "no such media"}, "RequestId": "r"}}))
    errors: list[dict[str, Any]] = []
    signals.error.connect(lambda sender, **kw: errors.append(kw), sender=rt, weak=False)
    client = AsyncVodClient(SECRET_ID, SECRET_KEY, endpoint=vod.url, clock=rt.clock)
    adapter = AsyncVodAdapter(rt, client)
    start_recording(rt)
    await rt.run(until=NOW + 10 * 60)
    rt.submit(StopRecording(t=rt.clock.now(), roomInfo=ROOM, user="alice"))
    await rt.run(until=NOW + 10 * 60 + 1)
    await adapter.join()
    await rt.run(until=NOW + 10 * 60 + 1)
    assert statuses(rt) == ["closed"]
    notice = [e for e in errors if e["code"] == "ResourceNotFound"]
    assert len(notice) == 1
    assert "no such media" in notice[0]["message"]
    assert "searching again in 30 s" in notice[0]["message"]
    adapter.disconnect()
    sim.disconnect()
    await client.aclose()


def test_async_vod_adapter_without_a_running_loop_is_a_receiver_error() -> None:
    rt = Runtime(ManualClock(NOW))  # driven synchronously: no loop runs
    sim = TencentSimulator(rt, answer_search=False)
    errors: list[dict[str, Any]] = []
    signals.error.connect(lambda sender, **kw: errors.append(kw), sender=rt, weak=False)
    client = AsyncVodClient(SECRET_ID, SECRET_KEY, endpoint="http://127.0.0.1:9",
                            clock=rt.clock)
    adapter = AsyncVodAdapter(rt, client)
    run_recording(rt, 10)
    (error,) = [e for e in errors if e["code"] == "receiver-error"]
    assert "running asyncio loop" in error["message"]
    assert "VodAdapter" in error["message"]
    assert adapter.pending == 0
    assert statuses(rt) == ["closed"]
    adapter.disconnect()
    sim.disconnect()
    asyncio.run(client.aclose())


async def test_async_vod_adapter_answers_an_unexpected_failure_as_search_media_error(
        vod: FakeVod, caplog: pytest.LogCaptureFixture) -> None:
    async def broken(response: httpx.Response) -> None:
        # A bug in handling the real server's answer (an httpx response hook that raises).
        raise RuntimeError(f"a bug that quotes the key {SECRET_KEY}")

    records: list[Record] = []
    rt = Runtime(ManualClock(NOW), tracer=records.append)
    sim = TencentSimulator(rt, answer_search=False)
    http = httpx.AsyncClient(event_hooks={"response": [broken]})
    client = AsyncVodClient(SECRET_ID, SECRET_KEY, endpoint=vod.url, http=http, clock=rt.clock)
    adapter = AsyncVodAdapter(rt, client)
    start_recording(rt)
    await rt.run(until=NOW + 60)
    rt.submit(StopRecording(t=rt.clock.now(), roomInfo=ROOM, user="alice"))
    await rt.run(until=NOW + 61)
    await adapter.join()
    await rt.run(until=NOW + 61)
    (answer,) = [r for r in records if r.name == "SearchMedia:error" and r.kind == "event"]
    assert answer.data == {"code": "ClientError.Unexpected",
                           "desc": "RuntimeError: a bug that quotes the key ***"}
    assert statuses(rt) == ["closed"]  # and the machine searches again later
    assert SECRET_KEY.encode() not in b"".join(r.dumps() for r in records)
    assert len(vod.requests) == 1, "the search went to the server over HTTP"
    # logged with its traceback on recstate.adapters.tencent, the key kept out of it
    [logged] = [r for r in caplog.records if r.name == "recstate.adapters.tencent"]
    assert logged.exc_info is not None
    assert (logged.session, logged.vendor) == ("15000:1:alice", "tencent")
    assert "RuntimeError" in caplog.text
    assert SECRET_KEY not in caplog.text
    adapter.disconnect()
    sim.disconnect()
    await http.aclose()


# ---- issue 7 (6, 9): the search's shape on the wire -------------------------------------------
def vod_answer(files: list[VodFile]) -> Responder:
    """VOD as documented: parameters ANDed, a parameter's elements ORed; ``FileIds`` match
    ``FileId`` only (``Vids`` "该字段已无效"); ``BasicInfo.Vid`` and ``CreateTime`` in the
    shape SearchMedia gives."""
    def answer(body: dict[str, Any]) -> tuple[int, bytes]:
        prefixes = body.get("NamePrefixes") or [""]
        ids = set(body.get("FileIds") or ())
        items = [{"FileId": f.fileId,
                  "BasicInfo": {"Name": f.name, "MediaUrl": f.url, "Type": "mp4",
                                "Vid": f.vid or None, "CreateTime": f.createTime},
                  "MetaData": {"Size": f.size, "Duration": 60.0}}
                 for f in files if any(f.name.startswith(p) for p in prefixes)
                 and (not ids or f.fileId in ids)]
        start = body.get("Offset", 0)
        return ok(items[start:start + body.get("Limit", 10)], total=len(items))
    return answer


def bodies(vod: FakeVod) -> list[dict[str, Any]]:
    return [orjson.loads(r["body"]) for r in vod.requests]


def test_after_a_crash_the_files_are_searched_by_the_file_name_over_http(vod: FakeVod) -> None:
    from recstate.machines.tencent import TencentOptions

    rt = Runtime(ManualClock(NOW), strict=True,
                 options={"tencent": TencentOptions(sub_app_id=1500000001)})
    sim = TencentSimulator(rt, answer_search=False, sub_app_id=1500000001)
    vod.responder = lambda body: vod_answer(sim.vod_files)(body)
    client = VodClient(SECRET_ID, SECRET_KEY, endpoint=vod.url, clock=rt.clock)
    adapter = VodAdapter(rt, client)
    start_recording(rt)
    sim.crash(KEY, at=NOW + 100 * 60)
    rt.advance(to=NOW + 103 * 60)
    session = rt.sessions[KEY]
    assert session.state == "stopped"
    assert bodies(vod) == [{"NamePrefixes": ["lesson"], "SubAppId": 1500000001, "Offset": 0,
                            "Limit": 50}]
    assert [(f.id, f.status, f.url, f.size) for f in session.files] == [
        (v.fileId, "ready", v.url, v.size) for v in sim.vod_files]
    adapter.disconnect()
    sim.disconnect()
    client.close()


def test_the_stops_ids_go_in_file_ids_so_another_users_recording_is_not_listed(
        vod: FakeVod) -> None:
    rt = Runtime(ManualClock(NOW), strict=True)
    sim = TencentSimulator(rt, answer_search=False)
    # Bob's recording under the same file name, made after ours started.
    bobs = VodFile(fileId="5285890700000000999", name="lesson_1", url="http://v/bob.mp4",
                   size=5, createTime="2023-11-14T22:20:00Z")
    vod.responder = lambda body: vod_answer([*sim.vod_files, bobs])(body)
    client = VodClient(SECRET_ID, SECRET_KEY, endpoint=vod.url, clock=rt.clock)
    adapter = VodAdapter(rt, client)
    run_recording(rt, 100)
    ids = [v.fileId for v in sim.vod_files]
    assert bodies(vod) == [{"NamePrefixes": ["lesson"], "FileIds": ids, "Offset": 0,
                            "Limit": 50}]
    files = rt.sessions[KEY].files
    assert [(f.id, f.status) for f in files] == [(i, "ready") for i in ids]
    assert "http://v/bob.mp4" not in [f.url for f in files]
    adapter.disconnect()
    sim.disconnect()
    client.close()


def test_ids_that_are_vids_are_found_through_basic_info_vid(vod: FakeVod) -> None:
    rt = Runtime(ManualClock(NOW), strict=True)
    sim = TencentSimulator(rt, answer_search=False, stop_ids="Vid")
    vod.responder = lambda body: vod_answer(sim.vod_files)(body)
    client = VodClient(SECRET_ID, SECRET_KEY, endpoint=vod.url, clock=rt.clock)
    adapter = VodAdapter(rt, client)
    run_recording(rt, 100)
    vids = [v.vid for v in sim.vod_files]
    # FileIds finds no vid; the prefix alone is searched and BasicInfo.Vid matched.
    assert bodies(vod) == [
        {"NamePrefixes": ["lesson"], "FileIds": vids, "Offset": 0, "Limit": 50},
        {"NamePrefixes": ["lesson"], "Offset": 0, "Limit": 50}]
    files = rt.sessions[KEY].files
    assert [(f.id, f.status, f.url) for f in files] == [
        (v.vid, "ready", v.url) for v in sim.vod_files]
    adapter.disconnect()
    sim.disconnect()
    client.close()


def test_file_ids_go_ten_a_request_and_too_long_ones_are_not_sent(vod: FakeVod,
                                                                  search_ids: Any) -> None:
    listed = [VodFile(fileId=f"52858907000000{i:05d}", name=f"long_{i}", url=f"http://v/{i}",
                      size=i) for i in range(12)]
    vod.responder = vod_answer(listed)
    too_long = "x" * 41  # "单个 ID 长度限制：40个字符": can only be a Vid
    files = search_ids("long", [f.fileId for f in listed] + [too_long])
    assert [f.fileId for f in files] == [f.fileId for f in listed]
    sent = [b["FileIds"] for b in bodies(vod)]
    assert sent == [[f.fileId for f in listed[:10]], [f.fileId for f in listed[10:]]]


def test_a_prefix_over_100_characters_is_sent_cut_and_the_answer_filtered(
        vod: FakeVod, search_ids: Any) -> None:
    name = "n" * 100
    listed = [VodFile(fileId="a", name=name + "-mine_1", url="http://v/a", size=1),
              VodFile(fileId="b", name=name + "-other_1", url="http://v/b", size=1)]
    vod.responder = vod_answer(listed)
    files = search_ids(name + "-mine", [])
    assert [f.fileId for f in files] == ["a"]
    assert bodies(vod)[0]["NamePrefixes"] == [name]  # "单个文件名前缀长度限制：100个字符"


def test_an_empty_prefix_is_refused_before_any_request(vod: FakeVod, search_ids: Any) -> None:
    with pytest.raises(VodError) as err:
        search_ids("", [])
    assert err.value.code == "ClientError.InvalidParameter"
    assert vod.requests == []


def test_the_commands_sub_app_id_wins_over_the_clients(vod: FakeVod, kind: str) -> None:
    vod.responder = vod_answer([])
    if kind == "sync":
        with VodClient(SECRET_ID, SECRET_KEY, endpoint=vod.url, sub_app_id=1500000001,
                       clock=ManualClock(NOW)) as client:
            client.search_media("lesson")
            client.search_media("lesson", sub_app_id=1500000002)
    else:
        async def both() -> None:
            async with AsyncVodClient(SECRET_ID, SECRET_KEY, endpoint=vod.url,
                                      sub_app_id=1500000001, clock=ManualClock(NOW)) as c:
                await c.search_media("lesson")
                await c.search_media("lesson", sub_app_id=1500000002)
        asyncio.run(both())
    assert [b["SubAppId"] for b in bodies(vod)] == [1500000001, 1500000002]


@pytest.mark.parametrize("bad", [0, -1, True, "1500000001"])
def test_a_sub_app_id_that_is_not_a_positive_integer_is_refused(bad: Any) -> None:
    with pytest.raises(ValueError, match="SubAppId"):
        VodClient(SECRET_ID, SECRET_KEY, sub_app_id=bad)


@pytest.fixture
def search_ids(vod: FakeVod, kind: str) -> Callable[[str, list[str]], list[VodFile]]:
    """``search_media(prefix, ids)`` of either client against the fake VOD."""
    def run(prefix: str, ids: list[str]) -> list[VodFile]:
        if kind == "sync":
            with VodClient(SECRET_ID, SECRET_KEY, endpoint=vod.url,
                           clock=ManualClock(NOW)) as client:
                return client.search_media(prefix, ids)

        async def go() -> list[VodFile]:
            async with AsyncVodClient(SECRET_ID, SECRET_KEY, endpoint=vod.url,
                                      clock=ManualClock(NOW)) as client:
                return await client.search_media(prefix, ids)
        return asyncio.run(go())
    return run


def test_a_crash_30_s_before_the_rollover_is_found_over_http_with_nothing_after_it(
        vod: FakeVod) -> None:
    # Issue 7 (7): data every 10 s from start:ok (+0.2 s); the client crashes 30 s before
    # minute 90, so the last data is at 89:30.2 and the server keeps one file up to it.
    rt = Runtime(ManualClock(NOW), strict=True)
    sim = TencentSimulator(rt, answer_search=False)
    vod.responder = lambda body: vod_answer(sim.vod_files)(body)
    client = VodClient(SECRET_ID, SECRET_KEY, endpoint=vod.url, clock=rt.clock)
    adapter = VodAdapter(rt, client)
    start_recording(rt)
    began, last = NOW + 0.2, NOW + 0.2 + 89 * 60 + 30
    sim.crash(KEY, at=last + 5)
    rt.advance(to=last + 120)
    files = rt.sessions[KEY].files
    [v] = sim.vod_files
    assert [(f.id, f.status, f.start, f.end) for f in files if f.status != "lost"] == [
        (v.fileId, "ready", began, pytest.approx(last))]
    assert all(f.start == f.end for f in files if f.status == "lost")
    assert [b.get("FileIds") for b in bodies(vod)] == [None], "by name: no stop, no IDs"
    adapter.disconnect()
    sim.disconnect()
    client.close()


def test_a_retry_answered_30000415_is_stopped_and_found_over_http(vod: FakeVod) -> None:
    # Issue 7 (8): the first start timed out but got through.
    rt = Runtime(ManualClock(NOW), strict=True)
    sim = TencentSimulator(rt, answer_search=False)
    sim.fail_next("requestMultiVideoRecorderStart", 30000208, got_through=True)
    vod.responder = lambda body: vod_answer(sim.vod_files)(body)
    client = VodClient(SECRET_ID, SECRET_KEY, endpoint=vod.url, clock=rt.clock)
    adapter = VodAdapter(rt, client)
    run_recording(rt, 10)
    session = rt.sessions[KEY]
    [v] = sim.vod_files
    assert session.state == "stopped"
    assert [(f.id, f.status, f.url) for f in session.files] == [(v.fileId, "ready", v.url)]
    assert bodies(vod)[0]["FileIds"] == [v.fileId]
    adapter.disconnect()
    sim.disconnect()
    client.close()
