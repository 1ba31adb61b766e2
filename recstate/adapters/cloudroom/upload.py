"""Uploading a recorded file: a PUT to an HTTP server or to an S3-compatible store (003 功能介绍:
"录制后直接把录像传到标准http服务器、OSS或者云屋服务器"), with ``httpx``, blocking or on asyncio,
and the adapters that answer the machine's ``UploadRecordFile`` command with it.

S3-compatible stores (AWS S3, MinIO, Aliyun OSS's S3 API...) take AWS Signature Version 4;
:func:`sigv4_sign` computes it (a pure function, checked against AWS's published examples).
A plain HTTP server takes the PUT as it is. Either way the upload's answer is the object's
URL, or an :class:`UploadError` with CloudRoom's upload code: 1201 (the recorded file does not
exist) or 1202 (the upload failed), which the machine retries with backoff.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final
from urllib.parse import quote, urlsplit

import attrs

try:
    import httpx
except ImportError:  # the [upload] extra: the simulator, tokens and signing need no HTTP client
    httpx = None  # type: ignore[assignment]

from recstate import signals
from recstate.clock import Clock, SystemClock
from recstate.errors import RecstateError
from recstate.events import Command, Event
from recstate.events.cloudroom import (
    UploadRecordFileCommand,
    UploadRecordFileError,
    UploadRecordFileOk,
)
from recstate.runtime import Runtime
from recstate.session import Session

__all__ = [
    "AsyncUploadAdapter",
    "AsyncUploader",
    "S3Credentials",
    "SigV4",
    "UploadAdapter",
    "UploadError",
    "Uploader",
    "sigv4_sign",
    "uri_encode",
]

ALGORITHM: Final = "AWS4-HMAC-SHA256"
EMPTY_SHA256: Final = hashlib.sha256(b"").hexdigest()
CHUNK: Final = 1 << 20
#: CloudRoom's upload codes (Constant.md, CRVIDEOSDK_ERR_DEF).
FILE_NOT_EXIST: Final = 1201
UPLOAD_FAILED: Final = 1202


# ---- AWS Signature Version 4 --------------------------------------------------------------------
def uri_encode(text: str, *, keep_slash: bool = True) -> str:
    """S3's URI encoding: every byte but ``A-Za-z0-9-_.~`` (and ``/`` in a path) as %XX."""
    return quote(text, safe="-_.~/" if keep_slash else "-_.~")


@attrs.frozen
class SigV4:
    """Every intermediate of a Signature Version 4 (none holds the secret key)."""

    canonical_request: str
    string_to_sign: str
    signed_headers: str
    signature: str
    authorization: str


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def sigv4_sign(*, method: str, path: str, headers: Mapping[str, str], payload_hash: str,
               access_key: str, secret_key: str, region: str, amz_date: str,
               service: str = "s3", query: Mapping[str, str] | None = None) -> SigV4:
    """Sign a request with AWS Signature Version 4. Pure.

    ``path`` is already URI-encoded (:func:`uri_encode`); ``headers`` are the headers that
    take part, ``host`` and ``x-amz-date`` among them (names lowercased, values trimmed,
    sorted); ``amz_date`` is ``YYYYMMDDTHHMMSSZ``."""
    canon = sorted((k.strip().lower(), " ".join(v.strip().split())) for k, v in headers.items())
    canonical_headers = "".join(f"{k}:{v}\n" for k, v in canon)
    signed_headers = ";".join(k for k, _ in canon)
    canonical_query = "&".join(
        f"{uri_encode(k, keep_slash=False)}={uri_encode(v, keep_slash=False)}"
        for k, v in sorted((query or {}).items()))
    canonical_request = "\n".join((method.upper(), path or "/", canonical_query,
                                   canonical_headers, signed_headers, payload_hash))
    date = amz_date[:8]
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join((ALGORITHM, amz_date, scope, hashlib.sha256(
        canonical_request.encode("utf-8")).hexdigest()))
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), date), region), service),
                "aws4_request")
    signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    authorization = (f"{ALGORITHM} Credential={access_key}/{scope}, "
                     f"SignedHeaders={signed_headers}, Signature={signature}")
    return SigV4(canonical_request, string_to_sign, signed_headers, signature, authorization)


def _masked(value: object) -> str:
    return "'***'"


@attrs.frozen
class S3Credentials:
    """An S3-compatible store's keys; the secret key never shows in a repr."""

    access_key: str
    secret_key: str = attrs.field(repr=_masked)
    region: str = "us-east-1"
    service: str = "s3"


class UploadError(RecstateError):
    """An upload that failed: ``code`` 1201 (no such local file) or 1202 (the upload failed:
    a network error, a timeout, an HTTP status that is not 2xx). Never holds a secret."""

    def __init__(self, code: int, message: str, *, status: int | None = None) -> None:
        self.code = code
        self.message = message
        self.status = status
        super().__init__(f"upload error {code}: {message}")


# ---- the clients ---------------------------------------------------------------------------
class _Target:
    """What both uploaders share: where a key goes, the headers (signed for S3), and the
    reading of answers. A client only moves the bytes."""

    def __init__(self, base_url: str, *, s3: S3Credentials | None, clock: Clock | None,
                 timeout: float) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.host = url.netloc
        self.base_path = url.path.rstrip("/")
        self.s3 = s3
        self.timeout = timeout
        self.clock: Clock = clock if clock is not None else SystemClock()

    def url_for(self, key: str) -> str:
        """The object's URL: the base URL and the URI-encoded key."""
        return f"{self.base_url}/{uri_encode(key.lstrip('/'))}"

    def _headers(self, key: str, size: int, payload_hash: str, encrypted: bool
                 ) -> dict[str, str]:
        headers = {"content-type": "application/octet-stream", "content-length": str(size)}
        if encrypted:  # CloudRoom's encrypted recording: only its player plays it
            headers["x-amz-meta-cloudroom-encrypted"] = "1"
        if self.s3 is None:
            return headers
        amz_date = datetime.fromtimestamp(self.clock.now(), UTC).strftime("%Y%m%dT%H%M%SZ")
        signed = {"host": self.host, "x-amz-content-sha256": payload_hash,
                  "x-amz-date": amz_date, **headers}
        sig = sigv4_sign(method="PUT", path=f"{self.base_path}/{uri_encode(key.lstrip('/'))}",
                         headers=signed, payload_hash=payload_hash,
                         access_key=self.s3.access_key, secret_key=self.s3.secret_key,
                         region=self.s3.region, service=self.s3.service, amz_date=amz_date)
        return {**headers, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date,
                "authorization": sig.authorization}

    @staticmethod
    def _open(path: str | os.PathLike[str]) -> tuple[IO[bytes], int]:
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed by the caller
        except OSError as exc:
            raise UploadError(FILE_NOT_EXIST, f"the recorded file {os.fspath(path)!r} cannot "
                              f"be read: {exc.strerror or exc}") from None
        return f, os.fstat(f.fileno()).st_size

    def _hash(self, f: IO[bytes]) -> str:
        """The payload's SHA-256 (S3 signs it); a plain HTTP PUT needs none."""
        if self.s3 is None:
            return EMPTY_SHA256
        digest = hashlib.sha256()
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
        f.seek(0)
        return digest.hexdigest()

    def _answer(self, url: str, reply: httpx.Response) -> str:
        if reply.is_success:
            return url
        snippet = self._scrub(reply.text[:200])
        raise UploadError(UPLOAD_FAILED, f"PUT {url} answered HTTP {reply.status_code}: "
                          f"{snippet!r}", status=reply.status_code)

    def _failed(self, url: str, exc: httpx.HTTPError) -> UploadError:
        if isinstance(exc, httpx.TimeoutException):
            return UploadError(UPLOAD_FAILED, f"PUT {url} timed out after {self.timeout:g} s")
        return UploadError(UPLOAD_FAILED, self._scrub(f"PUT {url} failed: "
                                                      f"{type(exc).__name__}: {exc}"))

    def _scrub(self, text: str) -> str:
        if self.s3 is None or not self.s3.secret_key:
            return text
        return text.replace(self.s3.secret_key, "***")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r}, s3={self.s3!r})"


class Uploader(_Target):
    """PUTs a file to ``base_url``/key, blocking. With ``s3``, the request is signed with AWS
    Signature Version 4 for an S3-compatible store (``base_url`` is the bucket's URL,
    path-style ``http://minio:9000/bucket`` or virtual-hosted); without, it is a plain PUT
    to an HTTP server. The file is streamed, never read whole into memory."""

    def __init__(self, base_url: str, *, s3: S3Credentials | None = None,
                 http: httpx.Client | None = None, clock: Clock | None = None,
                 timeout: float = 60.0) -> None:
        super().__init__(base_url, s3=s3, clock=clock, timeout=timeout)
        self._owns_http = http is None
        if httpx is None:
            raise ImportError("the uploader needs httpx: pip install 'recstate[upload]'")
        self._http = http if http is not None else httpx.Client(timeout=timeout)

    def put_file(self, path: str | os.PathLike[str], key: str, *, encrypted: bool = False
                 ) -> str:
        """Upload the file at ``path`` as ``key``; return its URL."""
        url = self.url_for(key)
        f, size = self._open(path)
        with f:
            headers = self._headers(key, size, self._hash(f), encrypted)
            body: Iterator[bytes] = iter(lambda: f.read(CHUNK), b"")
            try:
                reply = self._http.put(url, content=body, headers=headers, timeout=self.timeout)
            except httpx.HTTPError as exc:
                raise self._failed(url, exc) from None
        return self._answer(url, reply)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Uploader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class AsyncUploader(_Target):
    """:class:`Uploader` on asyncio (``httpx.AsyncClient``); the file is read in a thread."""

    def __init__(self, base_url: str, *, s3: S3Credentials | None = None,
                 http: httpx.AsyncClient | None = None, clock: Clock | None = None,
                 timeout: float = 60.0) -> None:
        super().__init__(base_url, s3=s3, clock=clock, timeout=timeout)
        self._owns_http = http is None
        if httpx is None:
            raise ImportError("the uploader needs httpx: pip install 'recstate[upload]'")
        self._http = http if http is not None else httpx.AsyncClient(timeout=timeout)

    async def put_file(self, path: str | os.PathLike[str], key: str, *,
                       encrypted: bool = False) -> str:
        """Upload the file at ``path`` as ``key``; return its URL."""
        url = self.url_for(key)
        f, size = await asyncio.to_thread(self._open, path)
        with f:
            payload_hash = await asyncio.to_thread(self._hash, f)
            headers = self._headers(key, size, payload_hash, encrypted)

            async def body() -> AsyncIterator[bytes]:
                while block := await asyncio.to_thread(f.read, CHUNK):
                    yield block

            try:
                reply = await self._http.put(url, content=body(), headers=headers,
                                             timeout=self.timeout)
            except httpx.HTTPError as exc:
                raise self._failed(url, exc) from None
        return self._answer(url, reply)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncUploader:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()


# ---- the adapters --------------------------------------------------------------------------
def object_key(command: UploadRecordFileCommand) -> str:
    """Where a file goes: its ``serverPathFileName``, else its base name."""
    return command.serverPathFileName or command.filename.replace("\\", "/").rsplit("/", 1)[-1]


def _answer(runtime: Runtime, key: str, command: UploadRecordFileCommand,
            outcome: str | UploadError) -> Event:
    now = runtime.clock.now()
    if isinstance(outcome, str):
        return UploadRecordFileOk(t=now, session=key, mixerID=command.mixerID,
                                  filename=command.filename, url=outcome)
    return UploadRecordFileError(t=now, session=key, mixerID=command.mixerID,
                                 filename=command.filename, code=outcome.code,
                                 desc=outcome.message)


class UploadAdapter:
    """Answers ``UploadRecordFile`` with a real :class:`Uploader`, blocking (for a runtime
    embedded synchronously): ``UploadRecordFile:ok`` with the URL, or ``:error`` with 1201 /
    1202. ``local_path`` maps the SDK's file name to a path on this machine (the name itself
    by default). Under ``await runtime.run()`` use :class:`AsyncUploadAdapter`."""

    def __init__(self, runtime: Runtime, uploader: Uploader,
                 local_path: Callable[[str], str | os.PathLike[str]] = Path) -> None:
        self.runtime = runtime
        self.uploader = uploader
        self.local_path = local_path
        self._signal = signals.commands("cloudroom")
        self._signal.connect(self._on_command, sender=runtime, weak=False)

    def _on_command(self, sender: Any, *, session: Session, command: Command, t: float,
                    **_: Any) -> None:
        if not isinstance(command, UploadRecordFileCommand):
            return
        outcome: str | UploadError
        try:
            outcome = self.uploader.put_file(self.local_path(command.filename),
                                             object_key(command),
                                             encrypted=bool(command.encryptType))
        except UploadError as exc:
            outcome = exc
        self.runtime.dispatch(_answer(self.runtime, session.key, command, outcome))

    def disconnect(self) -> None:
        self._signal.disconnect(self._on_command, sender=self.runtime)


class AsyncUploadAdapter:
    """Answers ``UploadRecordFile`` with an :class:`AsyncUploader`, from a task on the running
    loop; the answer comes back through ``runtime.submit``. Each upload is
    ``runtime.track()``-ed, so on a ManualClock virtual time waits for it."""

    def __init__(self, runtime: Runtime, uploader: AsyncUploader,
                 local_path: Callable[[str], str | os.PathLike[str]] = Path) -> None:
        self.runtime = runtime
        self.uploader = uploader
        self.local_path = local_path
        self._tasks: set[asyncio.Task[None]] = set()
        self._signal = signals.commands("cloudroom")
        self._signal.connect(self._on_command, sender=runtime, weak=False)

    def _on_command(self, sender: Any, *, session: Session, command: Command, t: float,
                    **_: Any) -> None:
        if not isinstance(command, UploadRecordFileCommand):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError("AsyncUploadAdapter needs a running asyncio loop: drive the "
                               "runtime with `await runtime.run()`, or use UploadAdapter") from None
        task = loop.create_task(self._upload(session.key, command),
                                name=f"UploadRecordFile {command.filename}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.runtime.track(task)

    async def _upload(self, key: str, command: UploadRecordFileCommand) -> None:
        outcome: str | UploadError
        try:
            outcome = await self.uploader.put_file(self.local_path(command.filename),
                                                   object_key(command),
                                                   encrypted=bool(command.encryptType))
        except UploadError as exc:
            outcome = exc
        except Exception as exc:  # no receiver to record it against: answer it instead
            outcome = UploadError(UPLOAD_FAILED, self.uploader._scrub(
                f"{type(exc).__name__}: {exc}"))
        self.runtime.submit(_answer(self.runtime, key, command, outcome))

    async def join(self) -> None:
        while pending := [task for task in self._tasks if not task.done()]:
            await asyncio.wait(pending)

    def disconnect(self) -> None:
        self._signal.disconnect(self._on_command, sender=self.runtime)
        for task in self._tasks:
            task.cancel()
