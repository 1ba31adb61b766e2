"""A real HTTP server on 127.0.0.1 for the adapters' tests (the house rule: real HTTP on
loopback, never ``httpx.MockTransport``).

``Loopback(handle)`` serves every request with ``handle(request) -> (status, body[, headers])``
on a port of its own, in a thread; the vendors' fakes (Qiniu's rs host, Tencent's VOD API,
CloudRoom's upload store) put their checks and answers in ``handle``. ``hold()`` makes each
request wait in the server's thread until ``release()`` (a request in flight, or one the
client gives up on), so no test sleeps on the wall clock to get one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    """One request as the server read it (headers with their names as sent)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    lower: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.lower = {k.lower(): v for k, v in self.headers.items()}


Reply = tuple[int, bytes] | tuple[int, bytes, dict[str, str]]
Handle = Callable[[Request], Reply]


class Loopback:
    """A ThreadingHTTPServer on 127.0.0.1:<free port> answering with ``handle``; ``url`` is
    its base URL, ``requests`` every request it read, ``arrived`` set at the first one."""

    def __init__(self, handle: Handle) -> None:
        self.handle = handle
        self.requests: list[Request] = []
        self.arrived = threading.Event()
        self._gate: threading.Event | None = None
        served = self

        class Handler(BaseHTTPRequestHandler):
            def serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, self.path, dict(self.headers.items()), body)
                served.requests.append(request)
                served.arrived.set()
                gate = served._gate
                if gate is not None:
                    gate.wait(10)  # a guard against a hung test, not a poll
                status, raw, *more = served.handle(request)
                headers = more[0] if more else {}
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test): nobody to answer

            do_GET = do_POST = do_PUT = do_DELETE = serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def hold(self) -> None:
        """Requests from now on wait in the server until ``release()``."""
        self._gate = threading.Event()

    def release(self) -> None:
        if self._gate is not None:
            self._gate.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def __enter__(self) -> Loopback:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
