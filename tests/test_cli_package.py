"""The command line and the package (issue 10, points 11 and 12), run as subprocesses."""

from __future__ import annotations

import io
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parent.parent
RECSTATE = str(Path(sys.executable).parent / "recstate")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RECSTATE, *args], capture_output=True, text=True, timeout=120,
                          check=False)


def test_version_is_the_packages():
    expected = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    done = run("--version")
    assert (done.returncode, done.stdout.strip()) == (0, f"recstate {expected}")
    import recstate

    assert recstate.__version__ == expected


def test_each_subcommands_help_lists_its_choices():
    simulate = "".join(run("simulate", "--help").stdout.split())  # argparse wraps at "-"
    assert "tencent" in simulate
    for scenario in ("200min", "crash", "retry", "duplicate-start", "stop-while-starting"):
        assert scenario in simulate
    diagram = " ".join(run("diagram", "--help").stdout.split())
    assert "tencent.recorder" in diagram
    assert "netease.call" in diagram
    assert "mermaid" in diagram
    replay = " ".join(run("replay", "--help").stdout.split())
    assert "--session KEY" in replay


def two_sessions(path: Path) -> Path:
    lines = [{"t": 1_700_000_000 + i, "vendor": "tencent", "name": "enterRoom",
              "data": {"relationId": 1001, "roomId": 7, "user": user}}
             for i, user in enumerate(("alice", "bob", "carol"))]
    path.write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n")
    return path


def test_replay_session_filters_the_report(tmp_path):
    trace = two_sessions(tmp_path / "t.jsonl")
    done = run("replay", "--json", "--session", "1001:7:alice", "--session", "1001:7:carol",
               str(trace))
    assert done.returncode == 0
    report = orjson.loads(done.stdout)
    assert [s["session"] for s in report["sessions"]] == ["1001:7:alice", "1001:7:carol"]
    done = run("replay", "--session", "1001:7:dave", str(trace))
    assert done.returncode == 2
    assert "no session '1001:7:dave' in the trace" in done.stderr
    assert "1001:7:bob" in done.stderr


def test_no_progress_when_piped_and_a_bar_on_a_terminal(tmp_path, monkeypatch):
    trace = two_sessions(tmp_path / "t.jsonl")
    done = run("replay", str(trace))
    assert done.returncode == 0
    assert done.stderr == ""
    from recstate import cli

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = Tty()
    monkeypatch.setattr(sys, "stderr", err)
    update, close = cli._progress(trace, delay=0)
    assert update is not None
    update(3)
    close()
    assert "/3" in err.getvalue()  # the bar, over the trace's 3 lines
    assert "lines" in err.getvalue()


@pytest.mark.parametrize(("case", "hint"), [("bad-json", True), ("missing-file", False),
                                            ("bad-until", False)])
def test_the_skip_bad_lines_hint_only_where_it_helps(tmp_path, case, hint):
    trace = two_sessions(tmp_path / "t.jsonl")
    args = [str(trace)]
    if case == "bad-json":
        trace.write_bytes(trace.read_bytes() + b"{not json\n")
    elif case == "missing-file":
        args = [str(tmp_path / "nope.jsonl")]
    else:
        args = ["--until", "yesterday", str(trace)]
    done = run("replay", *args)
    assert done.returncode == 2
    assert ("--skip-bad-lines" in done.stderr) is hint


def test_the_package_stands_on_its_own():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert meta["license"] == "MIT"
    assert {"Homepage", "Documentation", "Source"} <= set(meta["urls"])
    assert any(c.startswith("License :: OSI Approved :: MIT") for c in meta["classifiers"])
    assert not any(d.startswith("httpx") for d in meta["dependencies"])
    assert any(d.startswith("httpx") for d in meta["optional-dependencies"]["vod"])


def test_no_docstring_points_outside_the_package():
    bad = [str(p.relative_to(ROOT)) for p in (ROOT / "recstate").rglob("*.py")
           if "../shared" in p.read_text(encoding="utf-8")
           or "shared/DESIGN" in p.read_text(encoding="utf-8")]
    assert bad == []


def test_a_trace_shipped_in_the_package_replays(tmp_path):
    from recstate.examples import trace_path, traces

    assert "tencent-200min.jsonl" in traces()
    with trace_path("tencent-200min.jsonl") as path:
        done = run("replay", "--json", str(path))
    assert done.returncode == 0
    assert orjson.loads(done.stdout)["sessions"][0]["session"] == "1001:7:alice"


def test_the_wheel_ships_the_example_traces_and_the_license(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                            str(tmp_path), str(ROOT)], capture_output=True, text=True,
                           timeout=600, check=False)
    assert built.returncode == 0, built.stderr
    [wheel] = tmp_path.glob("recstate-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "recstate/examples/traces/tencent-200min.jsonl" in names
    assert any(n.endswith("licenses/LICENSE") for n in names)
