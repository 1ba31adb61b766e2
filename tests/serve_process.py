"""``recstate serve`` as a subprocess on loopback (port 0), its base URL read from the banner it
prints once it listens; stopped (SIGTERM) and waited for on exit."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

RECSTATE = str(Path(sys.executable).parent / "recstate")


def environment(**set_: str | None) -> dict[str, str]:
    """This process's environment without the service's secrets, then ``set_`` (None: unset)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("RECSTATE_BRIDGE_SECRET", "RECSTATE_NETEASE_APP_SECRET")}
    env.update({k: v for k, v in set_.items() if v is not None})
    return env


@contextmanager
def recstate_serve(store: str, *args: str, env: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    """(base URL, the banner line) of a running ``recstate serve --store STORE ARGS``."""
    proc = subprocess.Popen([RECSTATE, "serve", "--store", store, "--port", "0", *args],
                            stdout=subprocess.PIPE, text=True, env=dict(env))
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert banner.startswith("recstate serve: listening on http://127.0.0.1:"), banner
        yield banner.split("listening on ", 1)[1].split()[0], banner
    finally:
        proc.terminate()
        proc.wait(timeout=30)
