"""The CloudRoom uploader: AWS Signature Version 4 against AWS's published S3 examples, and
real PUTs (blocking and on asyncio) to a real HTTP server on loopback, driven by the mixer
machine's retries: a server that fails twice then succeeds, and one that never succeeds.

The signature examples are AWS's own ("Signature Calculations for the Authorization Header:
Transferring Payload in a Single Chunk", Amazon S3 API reference): access key
AKIAIOSFODNN7EXAMPLE, secret key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, bucket
examplebucket, 20130524T000000Z, region us-east-1; the expected signatures are the document's.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from loopback import Loopback, Request

from recstate import signals
from recstate.adapters.cloudroom import (
    AsyncUploadAdapter,
    AsyncUploader,
    S3Credentials,
    UploadAdapter,
    Uploader,
    UploadError,
    sigv4_sign,
    uri_encode,
)
from recstate.clock import ManualClock
from recstate.events.cloudroom import (
    AddLocMixerOutput,
    CreateLocMixer,
    DestroyLocMixer,
    LocMixerOutputInfo,
    OutputInfo,
)
from recstate.machines.cloudroom import CloudRoomOptions
from recstate.runtime import Runtime
from recstate.trace import Record

# ---- AWS's published examples ------------------------------------------------------------------
AWS_ACCESS = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AWS_HOST = "examplebucket.s3.amazonaws.com"
AWS_DATE = "20130524T000000Z"
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def aws(method: str, path: str, headers: dict[str, str], payload_hash: str,
        query: dict[str, str] | None = None) -> Any:
    return sigv4_sign(method=method, path=path, query=query, payload_hash=payload_hash,
                      headers={"host": AWS_HOST, "x-amz-date": AWS_DATE,
                               "x-amz-content-sha256": payload_hash, **headers},
                      access_key=AWS_ACCESS, secret_key=AWS_SECRET, region="us-east-1",
                      amz_date=AWS_DATE)


def test_sigv4_get_object_example() -> None:
    sig = aws("GET", "/test.txt", {"range": "bytes=0-9"}, EMPTY)
    assert sig.signed_headers == "host;range;x-amz-content-sha256;x-amz-date"
    assert sig.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    assert sig.authorization.startswith(
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb8")


def test_sigv4_put_object_example_with_a_dollar_in_the_key() -> None:
    body_hash = hashlib.sha256(b"Welcome to Amazon S3.").hexdigest()
    assert body_hash == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
    path = "/" + uri_encode("test$file.text")
    assert path == "/test%24file.text"
    sig = aws("PUT", path, {"date": "Fri, 24 May 2013 00:00:00 GMT",
                            "x-amz-storage-class": "REDUCED_REDUNDANCY"}, body_hash)
    assert sig.signed_headers == "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class"
    assert sig.signature == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"


def test_sigv4_bucket_examples_with_queries() -> None:
    assert aws("GET", "/", {}, EMPTY, {"lifecycle": ""}).signature == (
        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
    assert aws("GET", "/", {}, EMPTY, {"prefix": "J", "max-keys": "2"}).signature == (
        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")


def test_credentials_never_show_the_secret() -> None:
    creds = S3Credentials(AWS_ACCESS, AWS_SECRET)
    assert AWS_SECRET not in repr(creds)
    assert AWS_SECRET not in repr(Uploader("http://127.0.0.1:9/bucket", s3=creds))


# ---- an upload server on loopback ---------------------------------------------------------------
ACCESS, SECRET = "AKIDLOOPBACK0000", "loopback-secret-never-printed"
NOW = 1_700_000_000.0


class FakeStore:
    """An HTTP server that takes PUTs: it fails the first ``failures`` (500; -1: every one),
    and, with ``s3``, checks each request's Signature Version 4 with the same keys (403 if
    it does not match). Bodies are kept by path."""

    def __init__(self, *, s3: bool = False) -> None:
        self.failures = 0
        self.s3 = s3
        self.requests: list[dict[str, Any]] = []
        self.objects: dict[str, bytes] = {}
        self.http = Loopback(self._answer)
        self.url = self.http.url

    def _answer(self, request: Request) -> tuple[int, bytes]:
        body, headers = request.body, request.lower
        self.requests.append({"path": request.path, "headers": headers, "body": body})
        status = 200
        if self.s3 and not self.signed_right(request.method, request.path, headers, body):
            status = 403
        elif self.failures != 0:
            self.failures -= 1
            status = 500
        else:
            self.objects[request.path] = body
        return status, b"" if status == 200 else b"<Error>try again</Error>"

    def signed_right(self, method: str, path: str, headers: dict[str, str], body: bytes) -> bool:
        match = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/\d{8}/([^/]+)/s3/aws4_request, "
                         r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$",
                         headers.get("authorization", ""))
        if match is None or match[1] != ACCESS:
            return False
        if headers.get("x-amz-content-sha256") != hashlib.sha256(body).hexdigest():
            return False
        signed = {name: headers[name] for name in match[3].split(";")}
        again = sigv4_sign(method=method, path=path, headers=signed,
                           payload_hash=headers["x-amz-content-sha256"], access_key=ACCESS,
                           secret_key=SECRET, region=match[2], amz_date=headers["x-amz-date"])
        return again.signature == match[4]

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def store() -> Iterator[FakeStore]:
    s = FakeStore()
    yield s
    s.close()


@pytest.fixture
def s3_store() -> Iterator[FakeStore]:
    s = FakeStore(s3=True)
    yield s
    s.close()


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    path = tmp_path / "rec" / "1.mp4"
    path.parent.mkdir()
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4000)
    return path


def test_uploader_puts_the_file_to_a_plain_http_server(store: FakeStore, recording: Path
                                                       ) -> None:
    with Uploader(store.url + "/records") as up:
        url = up.put_file(recording, "/2023-11-14/1 a.mp4", encrypted=True)
    assert url == f"{store.url}/records/2023-11-14/1%20a.mp4"
    assert store.objects["/records/2023-11-14/1%20a.mp4"] == recording.read_bytes()
    assert store.requests[0]["headers"]["x-amz-meta-cloudroom-encrypted"] == "1"


def test_uploader_signs_for_an_s3_compatible_store(s3_store: FakeStore, recording: Path
                                                   ) -> None:
    clock = ManualClock(NOW)
    with Uploader(s3_store.url + "/bucket", s3=S3Credentials(ACCESS, SECRET),
                  clock=clock) as up:
        url = up.put_file(recording, "2023-11-14/1.mp4")
    assert url == f"{s3_store.url}/bucket/2023-11-14/1.mp4"
    assert s3_store.objects["/bucket/2023-11-14/1.mp4"] == recording.read_bytes()
    headers = s3_store.requests[0]["headers"]
    assert headers["x-amz-date"] == "20231114T221320Z"
    assert headers["x-amz-content-sha256"] == hashlib.sha256(recording.read_bytes()).hexdigest()


def test_a_wrong_secret_is_refused_and_never_printed(s3_store: FakeStore, recording: Path
                                                     ) -> None:
    with Uploader(s3_store.url + "/bucket", s3=S3Credentials(ACCESS, "not-the-secret"),
                  clock=ManualClock(NOW)) as up, pytest.raises(UploadError) as caught:
        up.put_file(recording, "1.mp4")
    assert (caught.value.code, caught.value.status) == (1202, 403)
    assert "not-the-secret" not in str(caught.value)


def test_a_missing_file_is_1201(store: FakeStore, tmp_path: Path) -> None:
    with Uploader(store.url) as up, pytest.raises(UploadError) as caught:
        up.put_file(tmp_path / "gone.mp4", "gone.mp4")
    assert caught.value.code == 1201
    assert store.requests == []


def test_an_unreachable_server_is_1202(recording: Path) -> None:
    store = FakeStore()
    url = store.url
    store.close()  # nothing listens there now
    with Uploader(url, timeout=5) as up, pytest.raises(UploadError) as caught:
        up.put_file(recording, "1.mp4")
    assert caught.value.code == 1202


# ---- the machine's retries with the real uploader ---------------------------------------------
CFG = {"width": 640, "height": 360, "frameRate": 15, "bitRate": 500000, "defaultQP": 26,
       "gop": 225}
CONTENT = [{"type": 0, "left": 0, "top": 0, "width": 640, "height": 360,
            "param": {"camid": "user1.1"}}]


def record_and_close(rt: Runtime, recording: Path) -> None:
    """A mixer records ``recording`` (asking for upload) for a minute; the SDK closes it."""
    t0 = rt.clock.now()
    name = str(recording)
    rt.dispatch(CreateLocMixer(t=t0, mixerID="m1", mixerCfg=CFG, mixerContent=CONTENT))
    rt.dispatch(AddLocMixerOutput(t=t0, mixerID="m1", outputs=[
        {"type": 0, "filename": name, "isUploadOnRecording": 1,
         "serverPathFileName": "/2023-11-14/m1.mp4"}]))
    size = recording.stat().st_size
    for t, state, ms in ((t0, 0, 0), (t0 + 30, 1, 30_000), (t0 + 60, 2, 60_000)):
        rt.advance(t)
        rt.dispatch(LocMixerOutputInfo(t=t, mixerID="m1", nameOrUrl=name, outputInfo=OutputInfo(
            state=state, duration=ms, fileSize=size * ms // 60_000, errCode=0)))


def upload_times(records: list[Record]) -> list[float]:
    return [r.t for r in records if r.kind == "command" and r.name == "UploadRecordFile"]


def test_fails_twice_then_succeeds_blocking(store: FakeStore, recording: Path) -> None:
    store.failures = 2
    records: list[Record] = []
    rt = Runtime(ManualClock(NOW), tracer=records.append,
                 options={"cloudroom": CloudRoomOptions(upload_retries=3, upload_backoff=2.0)})
    adapter = UploadAdapter(rt, Uploader(store.url + "/records"))
    record_and_close(rt, recording)
    rt.advance(NOW + 60 + 10)
    assert [t - (NOW + 60) for t in upload_times(records)] == [0.0, 2.0, 6.0]
    assert len(store.requests) == 3
    f = rt.sessions["m1"].files[0]
    assert (f.status, f.url) == ("ready", f"{store.url}/records/2023-11-14/m1.mp4")
    assert store.objects["/records/2023-11-14/m1.mp4"] == recording.read_bytes()
    warnings = [r.data for r in records if r.kind == "error"]
    assert [(w["level"], w["code"]) for w in warnings] == [("warning", 1202)] * 2  # type: ignore[index]
    adapter.disconnect()


def test_never_succeeds_blocking_gives_up_after_the_retries(store: FakeStore, recording: Path
                                                            ) -> None:
    store.failures = -1
    records: list[Record] = []
    rt = Runtime(ManualClock(NOW), tracer=records.append,
                 options={"cloudroom": CloudRoomOptions(upload_retries=2, upload_backoff=1.0)})
    UploadAdapter(rt, Uploader(store.url))
    record_and_close(rt, recording)
    rt.advance(NOW + 60 + 100)
    assert [t - (NOW + 60) for t in upload_times(records)] == [0.0, 1.0, 3.0]
    assert len(store.requests) == 3
    f = rt.sessions["m1"].files[0]
    assert (f.status, f.url) == ("failed", None)
    errors = [r.data for r in records if r.kind == "error"]
    assert [(e["level"], e["code"]) for e in errors] == [  # type: ignore[index]
        ("warning", 1202), ("warning", 1202), ("error", 1202)]
    assert "after 3 attempts" in errors[-1]["message"]  # type: ignore[index]
    assert "HTTP 500" in errors[-1]["message"]  # type: ignore[index]


async def test_fails_twice_then_succeeds_on_asyncio(s3_store: FakeStore, recording: Path
                                                    ) -> None:
    s3_store.failures = 2
    records: list[Record] = []
    rt = Runtime(ManualClock(NOW), tracer=records.append,
                 options={"cloudroom": CloudRoomOptions(upload_backoff=2.0)})
    uploader = AsyncUploader(s3_store.url + "/bucket", s3=S3Credentials(ACCESS, SECRET),
                             clock=rt.clock)
    adapter = AsyncUploadAdapter(rt, uploader)
    record_and_close(rt, recording)
    await rt.run(until=NOW + 60 + 10)
    await adapter.join()
    await rt.run(until=NOW + 60 + 10)
    assert [t - (NOW + 60) for t in upload_times(records)] == [0.0, 2.0, 6.0]
    f = rt.sessions["m1"].files[0]
    assert (f.status, f.url) == ("ready", f"{s3_store.url}/bucket/2023-11-14/m1.mp4")
    assert s3_store.objects["/bucket/2023-11-14/m1.mp4"] == recording.read_bytes()
    assert SECRET.encode() not in b"".join(r.dumps() for r in records)
    await uploader.aclose()


async def test_never_succeeds_on_asyncio(store: FakeStore, recording: Path) -> None:
    store.failures = -1
    rt = Runtime(ManualClock(NOW),
                 options={"cloudroom": CloudRoomOptions(upload_retries=1, upload_backoff=1.0)})
    uploader = AsyncUploader(store.url)
    adapter = AsyncUploadAdapter(rt, uploader)
    got: list[dict[str, Any]] = []

    def on_error(sender: Any, **kw: Any) -> None:
        got.append(kw)

    with signals.error.connected_to(on_error, sender=rt):
        record_and_close(rt, recording)
        for until in (NOW + 61, NOW + 62, NOW + 63):
            await rt.run(until=until)
            await adapter.join()
        await rt.run(until=NOW + 64)
    assert len(store.requests) == 2
    assert rt.sessions["m1"].files[0].status == "failed"
    assert [(e["level"], e["code"]) for e in got] == [("warning", 1202), ("error", 1202)]
    await uploader.aclose()


def test_destroy_uploads_what_the_mixer_had_written(store: FakeStore, recording: Path) -> None:
    rt = Runtime(ManualClock(NOW))
    UploadAdapter(rt, Uploader(store.url))
    name = str(recording)
    rt.dispatch(CreateLocMixer(t=NOW, mixerID="m1", mixerCfg=CFG, mixerContent=CONTENT))
    rt.dispatch(AddLocMixerOutput(t=NOW, mixerID="m1", outputs=[
        {"type": 0, "filename": name, "isUploadOnRecording": 1}]))
    rt.advance(NOW + 10)
    rt.dispatch(DestroyLocMixer(t=NOW + 10, mixerID="m1"))
    f = rt.sessions["m1"].files[0]
    assert (f.status, f.url) == ("ready", f"{store.url}/1.mp4")
    assert store.objects["/1.mp4"] == recording.read_bytes()
