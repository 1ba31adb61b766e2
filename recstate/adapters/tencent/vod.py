"""Tencent Cloud API 3.0: TC3-HMAC-SHA256 signing, the VOD ``SearchMedia`` clients, and the
adapters that answer the machine's ``SearchMedia`` command with them."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from collections.abc import Generator, Iterable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final
from urllib.parse import urlsplit

import attrs
import httpx
import orjson

from recstate import signals
from recstate.clock import Clock, SystemClock
from recstate.errors import RecstateError
from recstate.events import Command, Event
from recstate.events.tencent import SearchMediaCommand, SearchMediaError, SearchMediaOk, VodFile
from recstate.logs import get_logger, hide
from recstate.runtime import Runtime
from recstate.session import Session
from recstate.trace import redact_text

__all__ = [
    "AsyncVodAdapter",
    "AsyncVodClient",
    "Tc3Signature",
    "VodAdapter",
    "VodClient",
    "VodError",
    "tc3_sign",
]

log = get_logger("recstate.adapters.tencent")

ALGORITHM: Final = "TC3-HMAC-SHA256"
CONTENT_TYPE: Final = "application/json; charset=utf-8"
VOD_ENDPOINT: Final = "https://vod.tencentcloudapi.com"
VOD_VERSION: Final = "2018-07-17"
VOD_SERVICE: Final = "vod"
#: SearchMedia cannot page past 5000 results (VOD API doc: "超过5000条的部分不支持分页查询").
SEARCH_LIMIT: Final = 5000
#: SearchMedia's documented limits (VOD API 3.0, 2018-07-17): ``FileIds`` "数组长度限制：10",
#: "单个 ID 长度限制：40个字符"; ``NamePrefixes`` "单个文件名前缀长度限制：100个字符" (20 in
#: earlier editions of the document).
FILE_IDS_PER_REQUEST: Final = 10
FILE_ID_MAX: Final = 40
NAME_PREFIX_MAX: Final = 100

#: One SearchMedia conversation: yields request bodies, is sent their ``Response`` objects,
#: returns the files.
_Plan = Generator[dict[str, Any], dict[str, Any], list[VodFile]]


@attrs.frozen
class Tc3Signature:
    """Every intermediate of a TC3-HMAC-SHA256 signature (none holds the secret key)."""

    canonical_request: str
    hashed_canonical_request: str
    credential_scope: str
    string_to_sign: str
    signed_headers: str
    signature: str
    authorization: str


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def tc3_sign(*, secret_id: str, secret_key: str, service: str, timestamp: int,
             payload: bytes | str, headers: Mapping[str, str], method: str = "POST",
             uri: str = "/", query: str = "") -> Tc3Signature:
    """Sign a Tencent Cloud API 3.0 request (签名方法 v3, TC3-HMAC-SHA256). Pure.

    ``headers`` are the headers that take part (at least ``Content-Type`` and ``Host``):
    names and values lowercased and trimmed, sorted by name. The credential date is the
    UTC date of ``timestamp`` (the document's note: 1551113065 is 2019-02-25 in UTC even
    though it is 2019-02-26 in UTC+8)."""
    body = payload.encode("utf-8") if isinstance(payload, str) else payload
    canon = sorted((k.strip().lower(), v.strip().lower()) for k, v in headers.items())
    canonical_headers = "".join(f"{k}:{v}\n" for k, v in canon)
    signed_headers = ";".join(k for k, _ in canon)
    canonical_request = "\n".join((method.upper(), uri, query, canonical_headers,
                                   signed_headers, _sha256_hex(body)))
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    scope = f"{date}/{service}/tc3_request"
    hashed = _sha256_hex(canonical_request.encode("utf-8"))
    string_to_sign = f"{ALGORITHM}\n{timestamp}\n{scope}\n{hashed}"
    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    authorization = (f"{ALGORITHM} Credential={secret_id}/{scope}, "
                     f"SignedHeaders={signed_headers}, Signature={signature}")
    return Tc3Signature(canonical_request, hashed, scope, string_to_sign, signed_headers,
                        signature, authorization)


class VodError(RecstateError):
    """A VOD call that failed. ``code`` is the API's error code (``AuthFailure...``,
    ``InvalidParameter...``) or, when no API answer came, one of ``ClientError.Timeout``,
    ``ClientError.Network``, ``ClientError.HttpStatus``, ``ClientError.BadResponse``.
    Messages never hold the secret key."""

    def __init__(self, code: str, message: str, *, request_id: str | None = None,
                 status: int | None = None) -> None:
        self.code = code
        self.message = message
        self.request_id = request_id
        self.status = status
        rid = f" (RequestId {request_id})" if request_id else ""
        super().__init__(f"VOD SearchMedia error {code}: {message}{rid}")


#: A TC3 ``Signature=<hex>`` or ``Credential=<SecretId>/<date>/...`` anywhere in a text.
_SIGNATURE = re.compile(r"((?:Signature|Credential)\s*[=:]\s*)[^,\s\"'&]+", re.IGNORECASE)


class _Secret:
    """A secret that never shows itself in a repr, str, or format."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


def _check_sub_app_id(value: Any) -> None:
    """SubAppId is a VOD application's ID, a positive integer."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or value <= 0):
        raise ValueError(f"sub_app_id is the VOD application ID (SubAppId), a positive "
                         f"integer, got {value!r}")


def _mask_id(secret_id: str) -> str:
    return secret_id[:4] + "***" + secret_id[-4:] if len(secret_id) > 12 else "***"


class _VodApi:
    """What the two VOD clients share: the configuration, the TC3-signed request, the pages
    of ``SearchMedia``, and the reading of answers and failures. A client only moves the
    bytes (:class:`VodClient` blocking, :class:`AsyncVodClient` on asyncio)."""

    def __init__(self, secret_id: str, secret_key: str, *, endpoint: str, region: str,
                 sub_app_id: int | None, clock: Clock | None, timeout: float,
                 page_size: int, name_prefix_max: int = NAME_PREFIX_MAX) -> None:
        if not secret_id or not secret_key:
            raise ValueError(f"{type(self).__name__} needs a SecretId and a SecretKey "
                             "(云API密钥)")
        _check_sub_app_id(sub_app_id)
        if name_prefix_max < 1:
            raise ValueError(f"name_prefix_max must be >= 1, got {name_prefix_max}")
        url = urlsplit(endpoint)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise ValueError(f"endpoint must be an http(s) URL, got {endpoint!r}")
        self.secret_id = secret_id
        self._secret_key = _Secret(secret_key)
        hide(secret_key)  # out of every log record, an exception quoting it included
        self.endpoint = endpoint.rstrip("/") + "/"
        self.host = url.netloc
        self.region = region
        self.sub_app_id = sub_app_id
        self.timeout = timeout
        self.page_size = page_size
        self.name_prefix_max = name_prefix_max
        self.clock: Clock = clock if clock is not None else SystemClock()

    def _plan(self, name_prefix: str, file_ids: Iterable[str],
              sub_app_id: int | None) -> _Plan:
        """The requests of one search, shared by both clients (they only move the bytes).

        With no IDs: every file whose name starts with ``name_prefix``. With IDs: the
        prefix AND ``FileIds`` (VOD ANDs parameters, ORs a parameter's elements), ten IDs a
        request; if no ID is found as a ``FileId``, the IDs may be the old API's ``vid``
        (``BasicInfo.Vid``; SearchMedia's own ``Vids`` filter "该字段已无效"): the prefix
        alone is searched and only files whose ``Vid`` or ``FileId`` is one of the IDs are
        kept. A prefix longer than ``name_prefix_max`` is sent cut to it and the answer
        filtered by the whole prefix; an ID longer than 40 characters cannot be a
        ``FileId`` and is looked for as a ``Vid`` only."""
        if not name_prefix:
            raise VodError("ClientError.InvalidParameter",
                           "SearchMedia needs the file name given at start as NamePrefixes: an "
                           "empty prefix would list every file of the VOD application")
        app = self.sub_app_id if sub_app_id is None else sub_app_id
        try:
            _check_sub_app_id(app)
        except ValueError as exc:
            raise VodError("ClientError.InvalidParameter", str(exc)) from None
        ids = list(dict.fromkeys(i for i in file_ids if i))
        sent = name_prefix[:self.name_prefix_max]
        base: dict[str, Any] = {"NamePrefixes": [sent]}
        if app is not None:
            base["SubAppId"] = app
        found: list[VodFile] = []
        if ids:
            as_file_ids = [i for i in ids if len(i) <= FILE_ID_MAX]
            for n in range(0, len(as_file_ids), FILE_IDS_PER_REQUEST):
                chunk = as_file_ids[n:n + FILE_IDS_PER_REQUEST]
                found += yield from self._pages({**base, "FileIds": chunk})
            wanted = set(ids)
            found = [f for f in found if f.fileId in wanted or f.vid in wanted]
            if not found:
                listed = yield from self._pages(base)
                found = [f for f in listed if f.vid in wanted or f.fileId in wanted]
        else:
            found = yield from self._pages(base)
        unique = {f.fileId: f for f in found if f.name.startswith(name_prefix)}
        return list(unique.values())

    def _pages(self, base: dict[str, Any]) -> _Plan:
        """Every page of one query, up to the API's 5000."""
        found: list[VodFile] = []
        while len(found) < SEARCH_LIMIT:
            offset = len(found)
            response = yield {**base, "Offset": offset,
                              "Limit": min(self.page_size, SEARCH_LIMIT - offset)}
            media = response.get("MediaInfoSet", response.get("MediaSet")) or []
            if not isinstance(media, list):
                raise VodError("ClientError.BadResponse",
                               f"MediaInfoSet is {type(media).__name__}, expected a list",
                               request_id=response.get("RequestId"))
            found.extend(self._file(item, response.get("RequestId")) for item in media)
            total = response.get("TotalCount")
            if not media or not isinstance(total, int) or len(found) >= total:
                break
        return found

    @staticmethod
    def _file(item: Any, request_id: Any) -> VodFile:
        if not isinstance(item, dict) or not isinstance(item.get("FileId"), str):
            raise VodError("ClientError.BadResponse", f"a media item has no FileId: {item!r:.200}",
                           request_id=request_id)
        basic = item.get("BasicInfo") or {}
        meta = item.get("MetaData") or {}
        size = meta.get("Size")
        # Vid "此字段可能返回 null"; CreateTime is ISO 8601.
        return VodFile(fileId=item["FileId"], name=str(basic.get("Name") or ""),
                       url=str(basic.get("MediaUrl") or ""),
                       size=size if isinstance(size, int) and not isinstance(size, bool)
                       else None,
                       vid=str(basic.get("Vid") or ""),
                       createTime=str(basic.get("CreateTime") or ""))

    def _request(self, action: str, body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        """The payload and the headers of a signed API 3.0 request."""
        payload = orjson.dumps(body)
        timestamp = int(self.clock.now())
        signed = {"Content-Type": CONTENT_TYPE, "Host": self.host, "X-TC-Action": action}
        sig = tc3_sign(secret_id=self.secret_id, secret_key=self._secret_key.reveal(),
                       service=VOD_SERVICE, timestamp=timestamp, payload=payload,
                       headers=signed)
        headers = {**signed, "Authorization": sig.authorization, "X-TC-Version": VOD_VERSION,
                   "X-TC-Timestamp": str(timestamp)}
        if self.region:
            headers["X-TC-Region"] = self.region
        return payload, headers

    def _transport_error(self, action: str, exc: httpx.HTTPError) -> VodError:
        """The VodError for a request that got no answer."""
        if isinstance(exc, httpx.TimeoutException):
            return VodError("ClientError.Timeout", self._scrub(
                f"{action} to {self.endpoint} timed out after {self.timeout:g} s "
                f"({type(exc).__name__})"))
        return VodError("ClientError.Network", self._scrub(
            f"{action} to {self.endpoint} failed: {type(exc).__name__}: {exc}"))

    def _response(self, action: str, reply: httpx.Response) -> dict[str, Any]:
        """The ``Response`` object of an answer, or the VodError it amounts to."""
        try:
            data = orjson.loads(reply.content)
        except orjson.JSONDecodeError:
            data = None
        inner = data.get("Response") if isinstance(data, dict) else None
        if isinstance(inner, dict):
            error = inner.get("Error")
            if isinstance(error, dict):
                raise VodError(self._scrub(str(error.get("Code") or "UnknownError")),
                               self._scrub(str(error.get("Message") or "")),
                               request_id=inner.get("RequestId"), status=reply.status_code)
            if reply.is_success:
                return inner
        snippet = self._scrub(reply.text[:200])
        if not reply.is_success:
            raise VodError("ClientError.HttpStatus",
                           f"{action} to {self.endpoint} answered HTTP {reply.status_code}: "
                           f"{snippet!r}", status=reply.status_code)
        raise VodError("ClientError.BadResponse",
                       f"{action} to {self.endpoint} answered HTTP {reply.status_code} without "
                       f"a JSON 'Response' object: {snippet!r}", status=reply.status_code)

    def _scrub(self, text: str) -> str:
        """``text`` without the SecretKey, the SecretId, a TC3 signature or credential (a
        server may echo the request, Authorization header and all) or a signed URL's
        signature."""
        text = text.replace(self._secret_key.reveal(), "***")
        if self.secret_id:
            text = text.replace(self.secret_id, "***")
        return redact_text(_SIGNATURE.sub(r"\1***", text))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(secret_id={_mask_id(self.secret_id)!r}, "
                f"secret_key='***', endpoint={self.endpoint!r}, region={self.region!r}, "
                f"sub_app_id={self.sub_app_id!r})")


class VodClient(_VodApi):
    """Tencent Cloud VOD (API 3.0) client: ``SearchMedia`` by file-name prefix. Blocking.

    002 §4 says the recordings are stored in VOD under the file name given at start; the
    client finds them by that prefix and returns file ID, name, url and size. Requests are
    signed with :func:`tc3_sign` (headers ``content-type;host;x-tc-action``). ``clock`` gives
    the X-TC-Timestamp (a ManualClock in tests); ``http`` may be a shared ``httpx.Client``.
    The secret key stays out of reprs, logs and error messages. :class:`AsyncVodClient` is
    the same client on asyncio.
    """

    def __init__(self, secret_id: str, secret_key: str, *, endpoint: str = VOD_ENDPOINT,
                 region: str = "", sub_app_id: int | None = None,
                 http: httpx.Client | None = None, clock: Clock | None = None,
                 timeout: float = 10.0, page_size: int = 50) -> None:
        super().__init__(secret_id, secret_key, endpoint=endpoint, region=region,
                         sub_app_id=sub_app_id, clock=clock, timeout=timeout,
                         page_size=page_size)
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client(timeout=timeout)

    def search_media(self, name_prefix: str, file_ids: Iterable[str] = (), *,
                     sub_app_id: int | None = None) -> list[VodFile]:
        """The media files whose name starts with ``name_prefix``, narrowed to ``file_ids``
        (each a ``FileId`` or a ``BasicInfo.Vid``) when given, in the VOD application
        ``sub_app_id`` (the client's when None); pages of ``page_size``, up to the API's
        5000 (see ``_plan`` for the requests)."""
        plan = self._plan(name_prefix, file_ids, sub_app_id)
        try:
            body = next(plan)
            while True:
                body = plan.send(self._call("SearchMedia", body))
        except StopIteration as done:
            files: list[VodFile] = done.value
            return files

    def _call(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        payload, headers = self._request(action, body)
        try:
            reply = self._http.post(self.endpoint, content=payload, headers=headers,
                                    timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise self._transport_error(action, exc) from None
        return self._response(action, reply)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> VodClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class AsyncVodClient(_VodApi):
    """:class:`VodClient` on asyncio (``httpx.AsyncClient``): the same signing, pages and
    answers, awaited. ``http`` may be a shared ``httpx.AsyncClient``; close with
    :meth:`aclose` or ``async with``."""

    def __init__(self, secret_id: str, secret_key: str, *, endpoint: str = VOD_ENDPOINT,
                 region: str = "", sub_app_id: int | None = None,
                 http: httpx.AsyncClient | None = None, clock: Clock | None = None,
                 timeout: float = 10.0, page_size: int = 50) -> None:
        super().__init__(secret_id, secret_key, endpoint=endpoint, region=region,
                         sub_app_id=sub_app_id, clock=clock, timeout=timeout,
                         page_size=page_size)
        self._owns_http = http is None
        self._http = http if http is not None else httpx.AsyncClient(timeout=timeout)

    async def search_media(self, name_prefix: str, file_ids: Iterable[str] = (), *,
                           sub_app_id: int | None = None) -> list[VodFile]:
        """:meth:`VodClient.search_media`, awaited."""
        plan = self._plan(name_prefix, file_ids, sub_app_id)
        try:
            body = next(plan)
            while True:
                body = plan.send(await self._call("SearchMedia", body))
        except StopIteration as done:
            files: list[VodFile] = done.value
            return files

    async def _call(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        payload, headers = self._request(action, body)
        try:
            reply = await self._http.post(self.endpoint, content=payload, headers=headers,
                                          timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise self._transport_error(action, exc) from None
        return self._response(action, reply)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncVodClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()


class VodAdapter:
    """Answers the machine's ``SearchMedia`` command with a real :class:`VodClient` call:
    ``SearchMedia:ok`` with the files, or ``SearchMedia:error`` with the API's error code.

    Blocking: the HTTP call is made inside the runtime's handling (a signal receiver), so
    nothing else the runtime does, its asyncio driver included, moves until the call returns
    (up to the client's ``timeout`` a page). It is for a runtime embedded synchronously
    (``dispatch`` / ``advance``); under ``await runtime.run()`` use :class:`AsyncVodAdapter`.
    The answer is dispatched (and so queued: run-to-completion). Run it beside a simulator
    with ``answer_search=False``, or alone against the real ILVB SDK's callbacks."""

    def __init__(self, runtime: Runtime, client: VodClient) -> None:
        self.runtime = runtime
        self.client = client
        self._signal = signals.commands("tencent")
        self._signal.connect(self._on_command, sender=runtime, weak=False)

    def _on_command(self, sender: Any, *, session: Session, command: Command, t: float,
                    **_: Any) -> None:
        if not isinstance(command, SearchMediaCommand):
            return
        try:
            files = self.client.search_media(command.namePrefix, command.fileIds,
                                             sub_app_id=command.subAppId)
        except VodError as exc:
            answer: Event = SearchMediaError(t=self.runtime.clock.now(), session=session.key,
                                             code=exc.code, desc=exc.message)
        except Exception as exc:  # not the API's: answered, scrubbed, as the async one does
            answer = SearchMediaError(t=self.runtime.clock.now(), session=session.key,
                                      code="ClientError.Unexpected",
                                      desc=self.client._scrub(f"{type(exc).__name__}: {exc}"))
        else:
            answer = SearchMediaOk(t=self.runtime.clock.now(), session=session.key,
                                   files=tuple(files))
        self.runtime.dispatch(answer)

    def disconnect(self) -> None:
        self._signal.disconnect(self._on_command, sender=self.runtime)


class AsyncVodAdapter:
    """Answers the machine's ``SearchMedia`` command with an :class:`AsyncVodClient` call,
    without holding up the runtime.

    The receiver only schedules a task on the running asyncio loop and returns; the task
    makes the call and hands ``SearchMedia:ok`` or ``SearchMedia:error`` back with
    ``runtime.submit()``, and ``await runtime.run()`` dispatches it like any other input.
    A failure that is not the API's (an exception other than :class:`VodError`) is answered
    as ``SearchMedia:error`` with code ``ClientError.Unexpected``, so the machine hears of
    it. With no running loop (a runtime driven synchronously) a ``SearchMedia`` command is a
    ``receiver-error``: use :class:`VodAdapter` there.

    Virtual time: each call is ``runtime.track()``-ed, so on a ManualClock ``run()`` lets it
    finish before moving virtual time on, and its answer is handled at the virtual time it
    was asked for. ``await adapter.join()`` waits for the calls in flight."""

    def __init__(self, runtime: Runtime, client: AsyncVodClient) -> None:
        self.runtime = runtime
        self.client = client
        self._tasks: set[asyncio.Task[None]] = set()
        self._signal = signals.commands("tencent")
        self._signal.connect(self._on_command, sender=runtime, weak=False)

    @property
    def pending(self) -> int:
        """The calls in flight."""
        return sum(1 for task in self._tasks if not task.done())

    def _on_command(self, sender: Any, *, session: Session, command: Command, t: float,
                    **_: Any) -> None:
        if not isinstance(command, SearchMediaCommand):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError("AsyncVodAdapter needs a running asyncio loop: drive the "
                               "runtime with `await runtime.run()`, or use VodAdapter to "
                               "embed it synchronously") from None
        task = loop.create_task(self._search(session.key, command),
                                name=f"SearchMedia {session.key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.runtime.track(task)

    async def _search(self, key: str, command: SearchMediaCommand) -> None:
        try:
            files = await self.client.search_media(command.namePrefix, command.fileIds,
                                                   sub_app_id=command.subAppId)
        except VodError as exc:
            answer: Event = SearchMediaError(t=self.runtime.clock.now(), session=key,
                                             code=exc.code, desc=exc.message)
        except Exception as exc:  # no receiver to record it against: answer it instead
            log.error("SearchMedia for session %s raised %s", key, type(exc).__name__,
                      exc_info=exc, extra={"session": key, "vendor": "tencent",
                                           "event": command.name})
            answer = SearchMediaError(t=self.runtime.clock.now(), session=key,
                                      code="ClientError.Unexpected",
                                      desc=self.client._scrub(f"{type(exc).__name__}: {exc}"))
        else:
            answer = SearchMediaOk(t=self.runtime.clock.now(), session=key,
                                   files=tuple(files))
        self.runtime.submit(answer)

    async def join(self) -> None:
        """Wait until no call is in flight: every answer is in the runtime's inbox."""
        while pending := [task for task in self._tasks if not task.done()]:
            await asyncio.wait(pending)

    def disconnect(self) -> None:
        """Stop answering: unsubscribe, and cancel the calls in flight (their answers are
        not handed over)."""
        self._signal.disconnect(self._on_command, sender=self.runtime)
        for task in self._tasks:
            task.cancel()
