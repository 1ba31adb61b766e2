"""A real Redis Cluster for the tests: three ``redis-server --cluster-enabled yes`` processes
on free loopback ports in a temporary folder, joined by ``redis-cli --cluster create``
(every slot covered; no replicas, or ``replicas`` per primary, for a failover), stopped and
deleted afterwards.

Readiness is read, not waited for: each server says "Ready to accept connections" on its
output, and ``redis-cli --cluster create`` returns once the nodes agree (it waits for the
join itself); the nodes' ``cluster_state:ok`` is then checked."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

SERVER = shutil.which("redis-server")
CLI = shutil.which("redis-cli")


def free_port() -> int:
    """A free loopback port whose cluster bus port (+10000) is free too."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + 10000 > 65535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def _state(port: int) -> str:
    got = subprocess.run([str(CLI), "-p", str(port), "cluster", "info"],
                         capture_output=True, text=True, timeout=30, check=False)
    for line in got.stdout.splitlines():
        if line.startswith("cluster_state:"):
            return line.split(":", 1)[1].strip()
    return ""


def _replicas_online(port: int, want: int) -> bool:
    got = subprocess.run([str(CLI), "-p", str(port), "info", "replication"],
                         capture_output=True, text=True, timeout=30, check=False)
    return sum(1 for line in got.stdout.splitlines()
               if line.startswith("slave") and "state=online" in line) >= want


@contextmanager
def redis_cluster(nodes: int = 3, replicas: int = 0) -> Iterator[list[int]]:
    """The ports of a running cluster of ``nodes`` primaries and ``replicas`` replicas of
    each (``redis-cli --cluster create`` chooses which node is which: ask ``ROLE``), every
    replica in sync with its primary."""
    assert SERVER is not None, "redis-server is needed"
    assert CLI is not None, "redis-cli is needed"
    folder = Path(tempfile.mkdtemp(prefix="recstate-cluster-"))
    procs: list[subprocess.Popen[str]] = []
    ports: list[int] = []
    try:
        for i in range(nodes * (1 + replicas)):
            port = free_port()
            work = folder / str(i)
            work.mkdir()
            proc = subprocess.Popen(
                [SERVER, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                 "--cluster-config-file", str(work / "nodes.conf"), "--dir", str(work),
                 "--save", "", "--appendonly", "no", "--protected-mode", "no",
                 "--daemonize", "no", "--loglevel", "notice",
                 "--repl-diskless-sync-delay", "0"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            procs.append(proc)
            assert proc.stdout is not None
            for line in proc.stdout:  # its log, until it says it is ready (or it died)
                if "Ready to accept connections" in line:
                    break
            else:
                raise RuntimeError(f"redis-server on port {port} did not start")
            ports.append(port)
        created = subprocess.run(
            [str(CLI), "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
             "--cluster-replicas", str(replicas), "--cluster-yes"],
            capture_output=True, text=True, timeout=120, check=False)
        assert "All 16384 slots covered" in created.stdout, created.stdout + created.stderr
        deadline = time.monotonic() + 60
        while any(_state(p) != "ok" for p in ports) or sum(  # gossip reaching every node,
                _replicas_online(p, replicas) for p in ports) < nodes:  # replicas in sync
            if time.monotonic() > deadline:
                raise RuntimeError("the cluster's nodes did not agree within 60 s")
            time.sleep(0.05)
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
            if proc.stdout is not None:
                proc.stdout.close()
        shutil.rmtree(folder, ignore_errors=True)
