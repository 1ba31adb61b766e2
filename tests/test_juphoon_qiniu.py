"""Qiniu: the credentials against Qiniu's own worked examples, and ``stat`` against a real HTTP
server on loopback that checks the signature.

The worked examples are Qiniu's (developer.qiniu.com, 安全机制), with the documents' own
AccessKey ``MY_ACCESS_KEY`` and SecretKey ``MY_SECRET_KEY``:

- 上传凭证 (kodo/manual/1208/upload-token): putPolicy ``{"scope":"my-bucket:sunflower.jpg",
  "deadline":1451491200,"returnBody":...}``; encodedPutPolicy ``eyJzY29w...ifQ==``; sign (hex)
  ``c10e287f2b1e7f547b20a9ebce2aada26ab20ef2``; encodedSign ``wQ4ofysef1R7IKnrziqtomqyDvI=``.
- 管理凭证 (docs/v6 .../security/access-token.html, kodo/manual/6671): url
  ``http://rs.qiniu.com/move/bmV3ZG9jczpmaW5kX21hbi50eHQ=/bmV3ZG9jczpmaW5kLm1hbi50eHQ=``;
  sign ``157b18874c0a1d83c4b0802074f0fd39f8e47843``; accessToken
  ``MY_ACCESS_KEY:FXsYh0wKHYPEsIAgdPD9OfjkeEM=``.
- 下载凭证 (developer.qiniu.com/article/developer/security/download-token.html):
  ``http://78re52.com1.z0.glb.clouddn.com/resource/flower.jpg?e=1451491200`` ->
  token ``MY_ACCESS_KEY:438dd8pXocjYuF-6dTcKMtETB2g=``. (Other editions of that page print
  ``yN9WtB0lQheegAwva64yBuH3ZgU=`` for the same inputs; it does not match them, while the
  upload and management examples' printed values do, so the edition that matches is used.)
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import socket
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from loopback import Loopback, Request

from recstate import ManualClock, Runtime
from recstate.adapters.juphoon import (
    AsyncQiniuAdapter,
    AsyncQiniuClient,
    JuphoonSimulator,
    QiniuAdapter,
    QiniuClient,
    QiniuError,
    QiniuMac,
    QiniuStat,
    encoded_entry_uri,
    private_download_url,
    upload_token,
)
from recstate.events.juphoon import EnableRecord, Join, JoinParam, Leave, build_qiniu_record_param
from recstate.trace import Record

DOC_AK, DOC_SK = "MY_ACCESS_KEY", "MY_SECRET_KEY"
DOC_PUT_POLICY = ('{"scope":"my-bucket:sunflower.jpg","deadline":1451491200,"returnBody":'
                  '"{\\"name\\":$(fname),\\"size\\":$(fsize),\\"w\\":$(imageInfo.width),'
                  '\\"h\\":$(imageInfo.height),\\"hash\\":$(etag)}"}')
DOC_ENCODED_PUT_POLICY = (
    "eyJzY29wZSI6Im15LWJ1Y2tldDpzdW5mbG93ZXIuanBnIiwiZGVhZGxpbmUiOjE0NTE0OTEyMDAsInJldHVybkJv"
    "ZHkiOiJ7XCJuYW1lXCI6JChmbmFtZSksXCJzaXplXCI6JChmc2l6ZSksXCJ3XCI6JChpbWFnZUluZm8ud2lkdGgp"
    "LFwiaFwiOiQoaW1hZ2VJbmZvLmhlaWdodCksXCJoYXNoXCI6JChldGFnKX0ifQ==")
DOC_UPLOAD_SIGN_HEX = "c10e287f2b1e7f547b20a9ebce2aada26ab20ef2"
DOC_UPLOAD_ENCODED_SIGN = "wQ4ofysef1R7IKnrziqtomqyDvI="
DOC_MOVE_PATH = "/move/bmV3ZG9jczpmaW5kX21hbi50eHQ=/bmV3ZG9jczpmaW5kLm1hbi50eHQ="
DOC_ACCESS_TOKEN = "MY_ACCESS_KEY:FXsYh0wKHYPEsIAgdPD9OfjkeEM="
DOC_DOWNLOAD_URL = "http://78re52.com1.z0.glb.clouddn.com/resource/flower.jpg"
DOC_DOWNLOAD_TOKEN = "MY_ACCESS_KEY:438dd8pXocjYuF-6dTcKMtETB2g="

MAC = QiniuMac(DOC_AK, DOC_SK)


def test_upload_token_is_the_documents_worked_example() -> None:
    token = MAC.upload_token(DOC_PUT_POLICY)
    assert token == f"{DOC_AK}:{DOC_UPLOAD_ENCODED_SIGN}:{DOC_ENCODED_PUT_POLICY}"
    # the document prints the binary sign in hex, to check each step
    assert base64.urlsafe_b64decode(DOC_UPLOAD_ENCODED_SIGN).hex() == DOC_UPLOAD_SIGN_HEX


def test_the_module_functions_give_the_documents_tokens() -> None:
    assert upload_token(DOC_AK, DOC_SK, DOC_PUT_POLICY) == MAC.upload_token(DOC_PUT_POLICY)
    assert private_download_url(DOC_AK, DOC_SK, DOC_DOWNLOAD_URL, 1451491200).endswith(
        f"&token={DOC_DOWNLOAD_TOKEN}")


def test_upload_token_from_a_policy_mapping_serialises_as_the_document() -> None:
    policy = {"scope": "my-bucket:sunflower.jpg", "deadline": 1451491200,
              "returnBody": '{"name":$(fname),"size":$(fsize),"w":$(imageInfo.width),'
                            '"h":$(imageInfo.height),"hash":$(etag)}'}
    assert MAC.upload_token(policy) == MAC.upload_token(DOC_PUT_POLICY)


def test_qbox_management_token_is_the_documents_worked_example() -> None:
    assert MAC.qbox_token(DOC_MOVE_PATH) == f"QBox {DOC_ACCESS_TOKEN}"


def test_private_download_url_is_the_documents_worked_example() -> None:
    url = MAC.private_url(DOC_DOWNLOAD_URL, 1451491200)
    assert url == f"{DOC_DOWNLOAD_URL}?e=1451491200&token={DOC_DOWNLOAD_TOKEN}"


def test_the_client_upload_token_takes_its_deadline_from_the_clock() -> None:
    client = QiniuClient(DOC_AK, DOC_SK, clock=ManualClock(1451487600))
    token = client.upload_token("my-bucket", "sunflower.jpg")
    policy = orjson.loads(base64.urlsafe_b64decode(token.rsplit(":", 1)[1]))
    assert policy == {"scope": "my-bucket:sunflower.jpg", "deadline": 1451491200}
    client.close()


def test_encoded_entry_uri_is_urlsafe_base64_of_bucket_colon_key() -> None:
    # 数据格式: EncodedEntryURI = urlsafe_base64_encode("<bucket>:<key>")
    assert encoded_entry_uri("newdocs", "find_man.txt") == "bmV3ZG9jczpmaW5kX21hbi50eHQ="


def test_the_mac_never_shows_its_keys() -> None:
    mac = QiniuMac("AKabcdefghijklmnop", "SKabcdefghijklmnop")
    assert "SKabcdefghijklmnop" not in repr(mac)
    assert "AKabcdefghijklmnop" not in repr(mac)


# ---- Qiniu on loopback ------------------------------------------------------------------------
AK = "Lq7Xr2Vn9Bm4Kc1Zs8Tw3Hy6Jd0Pf5Ga2Ue7Io4"
SK = "Wn3Yk8Rc1Vx6Tb9Mq4Lz7Hf2Jp5Gd0Sa3Ue8Io1"
NOW = 1_700_000_000.0


def expected_qiniu_auth(method: str, path: str, host: str, secret: str = SK) -> str:
    """The current 管理凭证 written from the document (GET: no body, no Content-Type)."""
    data = f"{method} {path}\nHost: {host}\n\n".encode()
    sign = base64.urlsafe_b64encode(hmac.new(secret.encode(), data, hashlib.sha1).digest())
    return f"Qiniu {AK}:{sign.decode()}"


def expected_qbox_auth(path: str) -> str:
    sign = base64.urlsafe_b64encode(hmac.new(SK.encode(), f"{path}\n".encode(),
                                             hashlib.sha1).digest())
    return f"QBox {AK}:{sign.decode()}"


class FakeQiniu:
    """Qiniu's rs host: ``GET /stat/<EncodedEntryURI>`` with either token checked against
    the same keys; 612 for a key it does not hold, 401 for a bad token."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.status_override: tuple[int, bytes] | None = None
        self.http = Loopback(self._answer)
        self.url = self.http.url

    def _answer(self, request: Request) -> tuple[int, bytes, dict[str, str]]:
        self.requests.append({"path": request.path, "headers": request.headers})
        status, body = self._stat(request)
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        return status, raw, {"Content-Type": "application/json"}

    def _stat(self, request: Request) -> tuple[int, Any]:
        auth = request.headers.get("Authorization", "")
        if auth not in (expected_qiniu_auth("GET", request.path, request.headers["Host"]),
                        expected_qbox_auth(request.path)):
            return 401, {"error": "bad token"}
        if self.status_override is not None:
            return self.status_override
        entry = base64.urlsafe_b64decode(request.path.removeprefix("/stat/")).decode()
        bucket, _, key = entry.partition(":")
        obj = self.objects.get((bucket, key))
        if obj is None:
            return 612, {"error": "no such file or directory"}
        return 200, obj

    def put(self, bucket: str, key: str, fsize: int, hash_: str = "FmDZwqadA4-ib_15hYfQpb7UXUYR",
            ) -> None:
        self.objects[(bucket, key)] = {"fsize": fsize, "hash": hash_, "mimeType": "video/mp4",
                                       "putTime": 17000000000000000, "type": 0}

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def qiniu() -> Iterator[FakeQiniu]:
    fake = FakeQiniu()
    yield fake
    fake.close()


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


def stat(kind: str, bucket: str, key: str, **kwargs: Any) -> QiniuStat:
    kwargs.setdefault("clock", ManualClock(NOW))
    secret = kwargs.pop("secret_key", SK)
    if kind == "sync":
        with QiniuClient(AK, secret, **kwargs) as client:
            return client.stat(bucket, key)

    async def go() -> QiniuStat:
        async with AsyncQiniuClient(AK, secret, **kwargs) as client:
            return await client.stat(bucket, key)

    return asyncio.run(go())


@pytest.mark.parametrize("auth", ["Qiniu", "QBox"])
def test_stat_signs_the_request_and_reads_the_file(qiniu: FakeQiniu, kind: str,
                                                  auth: str) -> None:
    qiniu.put("recs", "a/lesson.mp4", 123456)
    found = stat(kind, "recs", "a/lesson.mp4", rs_host=qiniu.url, auth=auth)
    assert found == QiniuStat(key="a/lesson.mp4", fsize=123456,
                              hash="FmDZwqadA4-ib_15hYfQpb7UXUYR", mimeType="video/mp4",
                              putTime=17000000000000000)
    (request,) = qiniu.requests
    assert request["path"] == "/stat/" + base64.urlsafe_b64encode(b"recs:a/lesson.mp4").decode()
    assert request["headers"]["Authorization"].startswith(f"{auth} {AK}:")


def test_a_missing_file_is_612(qiniu: FakeQiniu, kind: str) -> None:
    with pytest.raises(QiniuError) as err:
        stat(kind, "recs", "nope.mp4", rs_host=qiniu.url)
    assert err.value.code == 612
    assert "no such file or directory" in str(err.value)


def test_a_wrong_key_is_refused_by_the_signature_check(qiniu: FakeQiniu, kind: str) -> None:
    with pytest.raises(QiniuError) as err:
        stat(kind, "recs", "a.mp4", rs_host=qiniu.url, secret_key="not-the-secret-key-at-all")
    assert err.value.code == 401
    assert "not-the-secret-key-at-all" not in str(err.value)


def test_a_500_that_is_not_json_is_an_error_with_its_status(qiniu: FakeQiniu,
                                                            kind: str) -> None:
    qiniu.status_override = (500, b"<html>oops</html>")
    with pytest.raises(QiniuError) as err:
        stat(kind, "recs", "a.mp4", rs_host=qiniu.url)
    assert err.value.code == 500
    assert "oops" in str(err.value)


def test_a_200_without_fsize_is_a_bad_answer(qiniu: FakeQiniu, kind: str) -> None:
    qiniu.status_override = (200, b'{"hash": "x"}')
    with pytest.raises(QiniuError, match="without fsize and hash"):
        stat(kind, "recs", "a.mp4", rs_host=qiniu.url)


def test_a_refused_connection_is_code_0(kind: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(QiniuError) as err:
        stat(kind, "recs", "a.mp4", rs_host=f"http://127.0.0.1:{port}")
    assert err.value.code == 0
    assert SK not in str(err.value)


def test_a_timeout_says_so(qiniu: FakeQiniu) -> None:
    """A server that takes the request and never answers in time: the client gives up after
    its ``timeout`` (a real read timeout on loopback; the server is held, not slept)."""
    qiniu.http.hold()
    with QiniuClient(AK, SK, rs_host=qiniu.url, timeout=0.25) as client, pytest.raises(
            QiniuError, match=r"stat recs:a\.mp4 at http://127\.0\.0\.1:\d+ timed out "
                              r"after 0\.25 s") as err:
        client.stat("recs", "a.mp4")
    qiniu.http.release()
    assert err.value.code == 0
    assert len(qiniu.http.requests) == 1  # it did reach the server
    assert SK not in str(err.value)


def test_download_urls_public_and_private() -> None:
    clock = ManualClock(1451487600)
    public = QiniuClient(AK, SK, domain="https://cdn.example.com/", clock=clock)
    assert public.download_url("rec/a b.mp4") == "https://cdn.example.com/rec/a%20b.mp4"
    private = QiniuClient(AK, SK, domain="https://cdn.example.com", private=True,
                          url_expires=3600, clock=clock)
    url = private.download_url("rec.mp4")
    base = "https://cdn.example.com/rec.mp4?e=1451491200"
    sign = base64.urlsafe_b64encode(hmac.new(SK.encode(), base.encode(), hashlib.sha1)
                                    .digest()).decode()
    assert url == f"{base}&token={AK}:{sign}"
    public.close()
    private.close()


def test_client_repr_hides_both_keys() -> None:
    with QiniuClient(AK, SK) as client:
        assert AK not in repr(client)
        assert SK not in repr(client)
        assert "secret_key='***'" in repr(client)


# ---- the adapters, with the simulator's bucket served on loopback ------------------------------
CHANNEL = "room-9"


def record_once(rt: Runtime, minutes: float) -> None:
    t0 = rt.clock.now()
    p = build_qiniu_record_param(True, "recs", SK, AK, "class.mp4")
    rt.dispatch(Join(t=t0, channelId=CHANNEL, joinParam=JoinParam(record=p)))
    rt.advance(t0 + 2)
    rt.dispatch(EnableRecord(t=t0 + 2, channelId=CHANNEL, enable=True))
    rt.advance(t0 + 2 + minutes * 60)
    rt.dispatch(Leave(t=t0 + 2 + minutes * 60, channelId=CHANNEL))


def serve(qiniu: FakeQiniu, sim: JuphoonSimulator) -> None:
    for (bucket, key), found in sim.objects(at=float("inf")).items():
        qiniu.put(bucket, key, found.fsize, found.hash)


def test_qiniu_adapter_makes_the_file_ready_with_a_private_url(qiniu: FakeQiniu) -> None:
    records: list[Record] = []
    rt = Runtime(ManualClock(NOW), tracer=records.append)
    sim = JuphoonSimulator(rt, answer_stat=False, upload_delay=3.0)
    client = QiniuClient(AK, SK, rs_host=qiniu.url, domain="https://cdn.example.com",
                         private=True, clock=rt.clock)
    adapter = QiniuAdapter(rt, client)
    record_once(rt, 10)
    rt.advance(rt.clock.now() + 4)  # the upload lands 3 s after the leave
    serve(qiniu, sim)
    rt.advance(rt.clock.now() + 10)  # the stat 5 s after the close
    (f,) = rt.sessions[CHANNEL].files
    assert f.status == "ready"
    assert f.size == sim.objects()[("recs", "class.mp4")].fsize
    assert f.url is not None
    assert f.url.startswith("https://cdn.example.com/class.mp4?e=")
    assert f"&token={AK}:" in f.url  # the live file has its usable address
    trace = b"".join(r.dumps() for r in records)
    assert AK.encode() not in trace  # the trace writes the token as ***
    assert SK.encode() not in trace
    assert b"&token=***" in trace
    adapter.disconnect()
    sim.disconnect()
    client.close()


async def test_async_qiniu_adapter_asks_again_until_the_file_is_there(
        qiniu: FakeQiniu) -> None:
    rt = Runtime(ManualClock(NOW), strict=True)
    sim = JuphoonSimulator(rt, answer_stat=False, upload_delay=12.0)
    client = AsyncQiniuClient(AK, SK, rs_host=qiniu.url, domain="https://cdn.example.com",
                              clock=rt.clock)
    adapter = AsyncQiniuAdapter(rt, client)
    record_once(rt, 3)
    left = rt.clock.now()
    await rt.run(until=left + 6)  # the first stat at +5 s: 612 (the upload lands at +12 s)
    assert rt.sessions[CHANNEL].files[0].status == "closed"
    serve(qiniu, sim)  # what the bucket will hold
    await rt.run(until=left + 25)  # asked again 15 s later: there
    (f,) = rt.sessions[CHANNEL].files
    assert (f.status, f.url) == ("ready", "https://cdn.example.com/class.mp4")
    assert len(qiniu.requests) == 2
    adapter.disconnect()
    sim.disconnect()
    await client.aclose()
