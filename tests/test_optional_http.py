"""httpx is an extra (vod, qiniu, upload): the simulators and `recstate simulate` of every vendor
run without it, and a vendor's HTTP client says which extra to install."""

from __future__ import annotations

import subprocess
import sys

import pytest

BLOCK = """
import sys, importlib.abc
class NoHttpx(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "httpx" or name.startswith("httpx."):
            raise ImportError("No module named 'httpx'")
sys.meta_path.insert(0, NoHttpx())
"""


def run_without_httpx(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", BLOCK + code], capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.parametrize(("vendor", "scenario"), [("tencent", "200min"),
                                                  ("juphoon", "two-files"),
                                                  ("cloudroom", "android")])
def test_simulate_runs_without_httpx(vendor, scenario):
    done = run_without_httpx("from recstate.cli import main\n"
                             f"sys.exit(main(['simulate', {vendor!r}, {scenario!r}]))")
    assert done.returncode == 0, done.stderr
    assert "0 violations" in done.stdout


@pytest.mark.parametrize(("module", "client", "extra"), [
    ("recstate.adapters.juphoon.qiniu", "QiniuClient('ak', 'sk', domain='https://d.example')",
     "qiniu"),
    ("recstate.adapters.cloudroom.upload", "Uploader('http://127.0.0.1:9')", "upload"),
])
def test_an_http_client_without_httpx_names_its_extra(module, client, extra):
    done = run_without_httpx(f"from {module} import *\nfrom {module} import {client.split('(')[0]}"
                             f"\ntry:\n    {client}\nexcept ImportError as e:\n    print(e)")
    assert f"recstate[{extra}]" in done.stdout, done.stderr
