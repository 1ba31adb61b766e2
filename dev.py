#!/usr/bin/env python3
"""The project's two commands, on a machine with nothing but Python 3.11+.

    python3 dev.py demo   # set up, then replay and simulate a Tencent recording
    python3 dev.py test   # set up, then ruff, mypy --strict, lint-imports and the whole test suite
    python3 dev.py mutate [MODULE...] [--sample N]   # mutation testing (slow; not in CI)
    python3 dev.py fuzz [--cases N] [--seed S]   # the fuzz harness (bench/fuzz.py)

Set-up makes ``.venv`` and installs the package with its test extras; it is redone only when
pyproject.toml changes. ``test`` also makes sure of what the tests talk to: Redis on
127.0.0.1:6379 (started if none answers), Debian's chromium and graphviz (installed with apt as
root if missing).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".recstate-installed"


def run(*args: str | os.PathLike[str]) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    result = subprocess.run([str(a) for a in args], cwd=ROOT, check=False)  # noqa: S603
    if result.returncode:
        sys.exit(result.returncode)


def setup() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may be run by an older python3
        sys.exit(f"recstate needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == want and (BIN / "recstate").exists():
        return
    if not (BIN / "python").exists():
        print(f"+ python -m venv {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    run(BIN / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--upgrade", "pip")
    run(BIN / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "-e", ".[test]")
    STAMP.write_text(want)


def demo() -> None:
    run(BIN / "recstate", "replay", "examples/traces/tencent-200min.jsonl")
    run(BIN / "recstate", "simulate", "tencent", "crash")


def redis_answers(host: str = "127.0.0.1", port: int = 6379) -> bool:
    """A PING over a plain socket: no client library needed before set-up."""
    import socket

    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def apt_install(*packages: str) -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        sys.exit(f"the tests need {', '.join(packages)}: install them (Debian: apt-get install "
                 f"{' '.join(packages)}) and run again")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
        print("+", " ".join(args), flush=True)
        subprocess.run(args, check=True, env=env)  # noqa: S603


def services() -> None:
    """What the tests talk to: Redis on 127.0.0.1:6379, Chromium and graphviz."""
    missing = [pkg for pkg, exe in (("chromium", "chromium"), ("graphviz", "dot"),
                                    ("redis-server", "redis-server")) if not shutil.which(exe)]
    if missing:
        apt_install(*missing)
    if not redis_answers():
        run("redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", "6379",
            "--save", "", "--appendonly", "no")
        for _ in range(100):
            if redis_answers():
                break
            time.sleep(0.1)
        else:
            sys.exit("redis-server was started but does not answer on 127.0.0.1:6379")


def test() -> None:
    services()
    run(BIN / "ruff", "check", "recstate", "tests", "bench", "examples", "tools", "dev.py")
    run(BIN / "mypy", "--strict", "recstate")
    run(BIN / "lint-imports")  # the import contracts in pyproject.toml: core, vendors, layers
    run(BIN / "pytest", "-q", "-p", "no:cacheprovider")


def fuzz(args: list[str]) -> None:
    """The fuzz harness (bench/fuzz.py): hostile input, no traceback, hang or leak."""
    run(BIN / "python", ROOT / "bench" / "fuzz.py", *args)


def mutate(args: list[str]) -> None:
    """Mutation testing (tools/mutate.py); slow, so not part of `test` or CI."""
    run(BIN / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "-e", ".[test,mutation]")
    run(BIN / "python", ROOT / "tools" / "mutate.py", *args)


def main() -> None:
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what not in ("demo", "test", "mutate", "fuzz"):
        sys.exit("usage: python3 dev.py demo | test | mutate [MODULE...] [--sample N] | "
                 "fuzz [--cases N] [--seed S]")
    setup()
    if what == "demo":
        demo()
    elif what == "test":
        test()
    elif what == "fuzz":
        fuzz(sys.argv[2:])
    else:
        mutate(sys.argv[2:])


if __name__ == "__main__":
    main()
