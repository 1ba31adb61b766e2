"""Qiniu (七牛) Kodo: the credentials Qiniu documents, the ``stat`` clients, and the adapters
that answer the Juphoon machine's ``stat`` command with them.

Where Juphoon puts a recording (001: "将录制的文件保存在七牛云上"), recstate looks for it.
The credentials follow Qiniu's own algorithm pages (developer.qiniu.com, 安全机制):

- upload token (上传凭证, kodo/manual/1208/upload-token): ``encodedPutPolicy =
  urlsafe_base64(putPolicy JSON)``, ``encodedSign = urlsafe_base64(hmac_sha1(encodedPutPolicy,
  SecretKey))``, token ``AccessKey:encodedSign:encodedPutPolicy``;
- management token (管理凭证): ``QBox AccessKey:urlsafe_base64(hmac_sha1("<path>?<query>\\n"
  [+ body when form-encoded], SecretKey))`` (the historical one, kodo/manual/6671), and
  ``Qiniu AccessKey:...`` over ``"<METHOD> <path>?<query>\\nHost: <host>[\\nContent-Type:
  <type>]\\n\\n[<body>]"`` (the current one, kodo/1201/access-token);
- private download URL (下载凭证, kodo/manual/1202/download-token): ``<url>?e=<deadline>``
  signed whole, ``&token=AccessKey:encodedSign`` appended.

``stat`` is ``GET /stat/<EncodedEntryURI>`` on the rs host (``EncodedEntryURI =
urlsafe_base64("<bucket>:<key>")``); a missing key is HTTP 612 "no such file or directory".
The secret key never appears in a repr, a log line or an error message; an access key in an
error message is written ``***``, and traces write a download URL's ``token`` as ``***``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Final, Literal
from urllib.parse import quote, urlsplit

import attrs

try:
    import httpx
except ImportError:  # the [qiniu] extra: the simulator, tokens and signing need no HTTP client
    httpx = None  # type: ignore[assignment]
import orjson

from recstate import signals
from recstate.clock import Clock, SystemClock
from recstate.errors import RecstateError
from recstate.events import Command, Event
from recstate.events.juphoon import StatCommand, StatError, StatOk
from recstate.runtime import Runtime
from recstate.session import Session
from recstate.trace import scrub_text

__all__ = [
    "NOT_FOUND",
    "AsyncQiniuAdapter",
    "AsyncQiniuClient",
    "QiniuAdapter",
    "QiniuClient",
    "QiniuError",
    "QiniuMac",
    "QiniuStat",
    "encoded_entry_uri",
    "private_download_url",
    "upload_token",
    "urlsafe_b64",
]

log = logging.getLogger("recstate.adapters.juphoon.qiniu")

#: Qiniu's status for a key that is not in the bucket.
NOT_FOUND: Final = 612
#: The management host of Qiniu's documents (``Host: rs.qiniu.com``).
RS_HOST: Final = "https://rs.qiniu.com"
FORM: Final = "application/x-www-form-urlencoded"


def urlsafe_b64(data: bytes | str) -> str:
    """Qiniu's ``urlsafe_base64_encode``: ``+`` -> ``-``, ``/`` -> ``_``, padding kept."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).decode("ascii")


def encoded_entry_uri(bucket: str, key: str) -> str:
    """``EncodedEntryURI``: ``urlsafe_base64("<bucket>:<key>")``."""
    return urlsafe_b64(f"{bucket}:{key}")


def _masked(value: object) -> str:
    return "'***'"


@attrs.frozen
class QiniuMac:
    """A Qiniu AccessKey/SecretKey pair and the credentials made from it. Pure: the same
    input gives the same token (the deadline is the caller's)."""

    access_key: str = attrs.field(repr=_masked)
    secret_key: str = attrs.field(repr=_masked)

    def __attrs_post_init__(self) -> None:
        if not self.access_key or not self.secret_key:
            raise ValueError("QiniuMac needs an AccessKey and a SecretKey (七牛 密钥管理)")

    def _sign(self, data: bytes | str) -> str:
        raw = data.encode("utf-8") if isinstance(data, str) else data
        digest = hmac.new(self.secret_key.encode("utf-8"), raw, hashlib.sha1).digest()
        return f"{self.access_key}:{urlsafe_b64(digest)}"

    def upload_token(self, put_policy: Mapping[str, Any] | str) -> str:
        """``AccessKey:encodedSign:encodedPutPolicy``. A mapping is serialised compactly in
        its own key order (the document's form: no spaces outside string values)."""
        text = put_policy if isinstance(put_policy, str) else orjson.dumps(
            dict(put_policy)).decode("utf-8")
        encoded = urlsafe_b64(text)
        return f"{self._sign(encoded)}:{encoded}"

    def qbox_token(self, path_query: str, body: bytes = b"", content_type: str = "") -> str:
        """The ``Authorization`` value ``QBox <AccessKey>:<encodedSign>`` (管理凭证, the
        historical algorithm): the body is signed only when it is form-encoded."""
        data = path_query.encode("utf-8") + b"\n"
        if body and content_type == FORM:
            data += body
        return f"QBox {self._sign(data)}"

    def qiniu_token(self, method: str, path_query: str, host: str, *,
                    content_type: str = "", body: bytes = b"") -> str:
        """The ``Authorization`` value ``Qiniu <AccessKey>:<encodedSign>`` (管理凭证, the
        current algorithm): ``<METHOD> <path>[?<query>]``, ``\\nHost: <host>``, the
        ``Content-Type`` line when there is one, ``\\n\\n``, and the body when there is one
        and its type is neither empty nor ``application/octet-stream``."""
        data = f"{method.upper()} {path_query}\nHost: {host}"
        if content_type:
            data += f"\nContent-Type: {content_type}"
        raw = (data + "\n\n").encode("utf-8")
        if body and content_type and content_type != "application/octet-stream":
            raw += body
        return f"Qiniu {self._sign(raw)}"

    def private_url(self, url: str, deadline: int) -> str:
        """A private resource's download URL valid until ``deadline`` (Unix seconds): the
        URL with ``e=<deadline>`` is signed whole, then ``&token=...`` is appended last."""
        with_e = f"{url}{'&' if '?' in url else '?'}e={int(deadline)}"
        return f"{with_e}&token={self._sign(with_e)}"


def upload_token(access_key: str, secret_key: str, put_policy: Mapping[str, Any] | str) -> str:
    """Qiniu's upload token (上传凭证) for ``put_policy``: :meth:`QiniuMac.upload_token`."""
    return QiniuMac(access_key, secret_key).upload_token(put_policy)


def private_download_url(access_key: str, secret_key: str, url: str, deadline: int) -> str:
    """A private resource's signed download URL (下载凭证): :meth:`QiniuMac.private_url`."""
    return QiniuMac(access_key, secret_key).private_url(url, deadline)


@attrs.frozen
class QiniuStat:
    """What ``stat`` answers: size in bytes, Qiniu's hash (etag), MIME type, upload time in
    100-nanosecond units, and the MD5 when Qiniu has one."""

    key: str
    fsize: int
    hash: str
    mimeType: str = ""
    putTime: int | None = None
    md5: str | None = None


class QiniuError(RecstateError):
    """A Qiniu call that failed: ``code`` is the HTTP status Qiniu answered (612: no such
    file or directory; 401: bad token) or 0 when no answer came. Never holds a key."""

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"Qiniu error {code}: {message}")


class _QiniuApi:
    """What the two clients share: the configuration, the signed stat request, the reading
    of its answer, and download URLs. A client only moves the bytes."""

    def __init__(self, access_key: str, secret_key: str, *, rs_host: str, domain: str,
                 private: bool, url_expires: float, auth: Literal["Qiniu", "QBox"],
                 clock: Clock | None, timeout: float) -> None:
        url = urlsplit(rs_host)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise ValueError(f"rs_host must be an http(s) URL, got {rs_host!r}")
        if domain and urlsplit(domain).scheme not in ("http", "https"):
            raise ValueError(f"domain must be an http(s) URL (the bucket's download domain), "
                             f"got {domain!r}")
        if auth not in ("Qiniu", "QBox"):
            raise ValueError(f"auth is 'Qiniu' or 'QBox', got {auth!r}")
        self.mac = QiniuMac(access_key, secret_key)
        self.rs_host = rs_host.rstrip("/")
        self.host = url.netloc
        self.domain = domain.rstrip("/")
        self.private = private
        self.url_expires = url_expires
        self.auth = auth
        self.timeout = timeout
        self.clock: Clock = clock if clock is not None else SystemClock()

    def upload_token(self, bucket: str, key: str | None = None, expires: float = 3600.0,
                     **policy: Any) -> str:
        """An upload token for ``bucket`` (or ``bucket:key``) valid ``expires`` seconds
        from the clock's now; further putPolicy fields as keywords."""
        put_policy = {"scope": bucket if key is None else f"{bucket}:{key}",
                      "deadline": int(self.clock.now() + expires), **policy}
        return self.mac.upload_token(put_policy)

    def download_url(self, key: str) -> str:
        """The file's address on the bucket's domain: public, or signed with a deadline
        ``url_expires`` from now when the bucket is private. Empty without a domain."""
        if not self.domain:
            return ""
        url = f"{self.domain}/{quote(key, safe='/')}"
        if not self.private:
            return url
        return self.mac.private_url(url, int(self.clock.now() + self.url_expires))

    def _stat_request(self, bucket: str, key: str) -> tuple[str, dict[str, str]]:
        path = f"/stat/{encoded_entry_uri(bucket, key)}"
        if self.auth == "QBox":
            token = self.mac.qbox_token(path)
        else:
            token = self.mac.qiniu_token("GET", path, self.host)
        return self.rs_host + path, {"Authorization": token}

    def _stat_answer(self, bucket: str, key: str, reply: httpx.Response) -> QiniuStat:
        try:
            data = orjson.loads(reply.content)
        except orjson.JSONDecodeError:
            data = None
        where = f"stat {bucket}:{key}"
        if reply.status_code != 200:
            text = data.get("error") if isinstance(data, dict) else None
            raise QiniuError(reply.status_code, self._scrub(
                f"{where}: {text or reply.text[:200] or 'HTTP ' + str(reply.status_code)}"))
        if not isinstance(data, dict) or not isinstance(data.get("fsize"), int) or not (
                isinstance(data.get("hash"), str)):
            raise QiniuError(reply.status_code, self._scrub(
                f"{where}: an answer without fsize and hash: {reply.text[:200]!r}"))
        put = data.get("putTime")
        return QiniuStat(key=key, fsize=data["fsize"], hash=data["hash"],
                         mimeType=str(data.get("mimeType") or ""),
                         putTime=put if isinstance(put, int) else None,
                         md5=data.get("md5") if isinstance(data.get("md5"), str) else None)

    def _transport_error(self, bucket: str, key: str, exc: httpx.HTTPError) -> QiniuError:
        if isinstance(exc, httpx.TimeoutException):
            return QiniuError(0, f"stat {bucket}:{key} at {self.rs_host} timed out after "
                              f"{self.timeout:g} s")
        return QiniuError(0, self._scrub(f"stat {bucket}:{key} at {self.rs_host} failed: "
                                         f"{type(exc).__name__}: {exc}"))

    def _scrub(self, text: str) -> str:
        """``text`` with either key written ``***`` (a key too short to be a real one is
        left: replacing it would garble the message), and embedded secrets scrubbed."""
        for key in (self.mac.secret_key, self.mac.access_key):
            if len(key) >= 8:
                text = text.replace(key, "***")
        return scrub_text(text)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(access_key='***', secret_key='***', "
                f"rs_host={self.rs_host!r}, domain={self.domain!r}, private={self.private}, "
                f"auth={self.auth!r})")


class QiniuClient(_QiniuApi):
    """Qiniu Kodo client, blocking (``httpx.Client``): ``stat``, upload tokens and
    download URLs. ``clock`` gives token deadlines (a ManualClock in tests)."""

    def __init__(self, access_key: str, secret_key: str, *, rs_host: str = RS_HOST,
                 domain: str = "", private: bool = False, url_expires: float = 3600.0,
                 auth: Literal["Qiniu", "QBox"] = "Qiniu", http: httpx.Client | None = None,
                 clock: Clock | None = None, timeout: float = 10.0) -> None:
        super().__init__(access_key, secret_key, rs_host=rs_host, domain=domain,
                         private=private, url_expires=url_expires, auth=auth, clock=clock,
                         timeout=timeout)
        self._owns_http = http is None
        if httpx is None:
            raise ImportError("the Qiniu client needs httpx: pip install 'recstate[qiniu]'")
        self._http = http if http is not None else httpx.Client(timeout=timeout)

    def stat(self, bucket: str, key: str) -> QiniuStat:
        url, headers = self._stat_request(bucket, key)
        try:
            reply = self._http.get(url, headers=headers, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise self._transport_error(bucket, key, exc) from None
        return self._stat_answer(bucket, key, reply)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> QiniuClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class AsyncQiniuClient(_QiniuApi):
    """:class:`QiniuClient` on asyncio (``httpx.AsyncClient``)."""

    def __init__(self, access_key: str, secret_key: str, *, rs_host: str = RS_HOST,
                 domain: str = "", private: bool = False, url_expires: float = 3600.0,
                 auth: Literal["Qiniu", "QBox"] = "Qiniu",
                 http: httpx.AsyncClient | None = None, clock: Clock | None = None,
                 timeout: float = 10.0) -> None:
        super().__init__(access_key, secret_key, rs_host=rs_host, domain=domain,
                         private=private, url_expires=url_expires, auth=auth, clock=clock,
                         timeout=timeout)
        self._owns_http = http is None
        if httpx is None:
            raise ImportError("the Qiniu client needs httpx: pip install 'recstate[qiniu]'")
        self._http = http if http is not None else httpx.AsyncClient(timeout=timeout)

    async def stat(self, bucket: str, key: str) -> QiniuStat:
        url, headers = self._stat_request(bucket, key)
        try:
            reply = await self._http.get(url, headers=headers, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise self._transport_error(bucket, key, exc) from None
        return self._stat_answer(bucket, key, reply)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncQiniuClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()


def _answer(client: _QiniuApi, t: float, key: str, cmd: StatCommand,
            result: QiniuStat | QiniuError) -> Event:
    if isinstance(result, QiniuError):
        return StatError(t=t, session=key, fileId=cmd.fileId, key=cmd.key, code=result.code,
                         desc=result.message)
    return StatOk(t=t, session=key, fileId=cmd.fileId, key=cmd.key, fsize=result.fsize,
                  hash=result.hash, mimeType=result.mimeType, putTime=result.putTime,
                  url=client.download_url(cmd.key))


class QiniuAdapter:
    """Answers the Juphoon machine's ``stat`` command with a real :class:`QiniuClient` call:
    ``stat:ok`` (size, hash, download URL) or ``stat:error`` (612 while the file is not
    there). Blocking, inside the handling: for a runtime embedded synchronously; under
    ``await runtime.run()`` use :class:`AsyncQiniuAdapter`."""

    def __init__(self, runtime: Runtime, client: QiniuClient) -> None:
        self.runtime = runtime
        self.client = client
        self._signal = signals.commands("juphoon")
        self._signal.connect(self._on_command, sender=runtime, weak=False)

    def _on_command(self, sender: Any, *, session: Session, command: Command, t: float,
                    **_: Any) -> None:
        if not isinstance(command, StatCommand):
            return
        try:
            result: QiniuStat | QiniuError = self.client.stat(command.bucket, command.key)
        except QiniuError as exc:
            result = exc
        log.debug("stat %s:%s for %s -> %r", command.bucket, command.key, session.key, result)
        self.runtime.dispatch(_answer(self.client, self.runtime.clock.now(), session.key,
                                      command, result))

    def disconnect(self) -> None:
        self._signal.disconnect(self._on_command, sender=self.runtime)


class AsyncQiniuAdapter:
    """Answers ``stat`` from a task on the running loop and hands the outcome back with
    ``runtime.submit``; each call is ``runtime.track()``-ed, so on a ManualClock the driver
    answers it at the virtual time it was asked for. A failure that is not Qiniu's is
    answered as ``stat:error`` with code 0."""

    def __init__(self, runtime: Runtime, client: AsyncQiniuClient) -> None:
        self.runtime = runtime
        self.client = client
        self._tasks: set[asyncio.Task[None]] = set()
        self._signal = signals.commands("juphoon")
        self._signal.connect(self._on_command, sender=runtime, weak=False)

    @property
    def pending(self) -> int:
        return sum(1 for task in self._tasks if not task.done())

    def _on_command(self, sender: Any, *, session: Session, command: Command, t: float,
                    **_: Any) -> None:
        if not isinstance(command, StatCommand):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError("AsyncQiniuAdapter needs a running asyncio loop: drive the "
                               "runtime with `await runtime.run()`, or use QiniuAdapter to "
                               "embed it synchronously") from None
        task = loop.create_task(self._stat(session.key, command),
                                name=f"Qiniu stat {session.key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.runtime.track(task)

    async def _stat(self, key: str, command: StatCommand) -> None:
        try:
            result: QiniuStat | QiniuError = await self.client.stat(command.bucket,
                                                                    command.key)
        except QiniuError as exc:
            result = exc
        except Exception as exc:  # no receiver to record it against: answer it instead
            result = QiniuError(0, self.client._scrub(f"{type(exc).__name__}: {exc}"))
        log.debug("stat %s:%s for %s -> %r", command.bucket, command.key, key, result)
        self.runtime.submit(_answer(self.client, self.runtime.clock.now(), key, command,
                                    result))

    async def join(self) -> None:
        while pending := [task for task in self._tasks if not task.done()]:
            await asyncio.wait(pending)

    def disconnect(self) -> None:
        self._signal.disconnect(self._on_command, sender=self.runtime)
        for task in self._tasks:
            task.cancel()
