"""Serve a bridge on its own: ``python -m recstate.bridge [--demo] [--port 8765]``; or issue
an app's token as the secret's holder: ``python -m recstate.bridge token APP [--ttl 300]
[--session KEY]...`` (printed on stdout, the secret read from the environment).

A runtime on the wall clock, its asyncio driver running while the server runs, the bridge at
``/ws``, the JS client at ``/client/`` and, with ``--demo``, the demo page at ``/demo/``. The
secret comes from the environment variable named by ``--secret-env`` (never the command line,
which other users can read); with ``--demo`` and no secret set, a random one is made.
``recstate serve --bridge`` serves the same beside the service's endpoints, with a store.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import socket
import sys
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette

from recstate.bridge.app import bridge_routes
from recstate.bridge.hub import Bridge
from recstate.bridge.tokens import Tokens
from recstate.runtime import Runtime
from recstate.trace import TraceWriter


def token(argv: list[str]) -> int:
    """Print a token for an app, signed with the secret from the environment: what an app's
    server does with :class:`~recstate.bridge.tokens.Tokens`, from a shell or a deploy script.
    Valid from now on the system clock (a bridge on a virtual clock checks against its own)."""
    parser = argparse.ArgumentParser(prog="python -m recstate.bridge token",
                                     description="issue a bridge token for an app")
    parser.add_argument("app", help="the app's name (the bridge logs it, never the token)")
    parser.add_argument("--ttl", type=float, default=300.0,
                        help="seconds the token stays valid (default 300)")
    parser.add_argument("--session", action="append", dest="sessions", metavar="KEY",
                        help="allow only these sessions (repeat); default: any")
    parser.add_argument("--secret-env", default="RECSTATE_BRIDGE_SECRET",
                        help="the environment variable holding the tokens' secret")
    args = parser.parse_args(argv)
    secret = os.environ.get(args.secret_env, "")
    if not secret:
        print(f"error: set {args.secret_env} to the bridge's secret (at least 16 bytes)",
              file=sys.stderr)
        return 2
    try:
        tokens = Tokens(secret)
        issued = tokens.issue(args.app, ttl=args.ttl, sessions=args.sessions)
    except ValueError as error:  # a short secret, a bad ttl: the message never shows values
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(issued)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["token"]:
        return token(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m recstate.bridge",
                                     description="serve the recstate client bridge")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0: any free port")
    parser.add_argument("--demo", action="store_true", help="serve the demo page at /demo/")
    parser.add_argument("--secret-env", default="RECSTATE_BRIDGE_SECRET",
                        help="the environment variable holding the tokens' secret")
    parser.add_argument("--hold", type=float, default=30.0,
                        help="seconds a command waits for its app before it is withdrawn")
    parser.add_argument("--trace", help="write the trace (JSON Lines) to this file")
    args = parser.parse_args(argv)
    secret = os.environ.get(args.secret_env, "")
    if not secret:
        if not args.demo:
            print(f"error: set {args.secret_env} to the bridge's secret (at least 16 bytes)",
                  file=sys.stderr)
            return 2
        secret = secrets.token_urlsafe(32)
    writer = TraceWriter(args.trace) if args.trace else None
    runtime = Runtime(tracer=writer)
    try:
        bridge = Bridge(runtime, secret, hold=args.hold)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        driver = asyncio.create_task(runtime.run())
        try:
            yield
        finally:
            runtime.stop()
            await driver
            bridge.close()
            if writer is not None:
                writer.close()

    app = Starlette(routes=bridge_routes(bridge, demo=args.demo), lifespan=lifespan)
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(128)
    url = f"http://{args.host}:{sock.getsockname()[1]}"
    print(f"recstate bridge on {url.replace('http', 'ws', 1)}/ws"
          + (f"; demo page: {url}/demo/" if args.demo else ""), flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(server.serve(sockets=[sock]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
