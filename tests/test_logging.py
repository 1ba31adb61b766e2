"""The recstate logger hierarchy (issue 10, point 5): what the runtime catches is logged with
its traceback and the session, vendor and event as extra; secrets are redacted in logs,
traces and HandlingError; a run that goes as documented logs nothing at INFO or above."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from recstate import HandlingError, Runtime, signals
from recstate.adapters.tencent import run_scenario
from recstate.clock import ManualClock

LEAK = "sk-live-0123456789"


def test_a_receiver_that_raises_is_logged_with_traceback_and_extra_and_redacted(
        caplog, tv):
    records: list[Any] = []
    rt = Runtime(ManualClock(tv.T0), tracer=records.append, strict=True)

    def adapter(sender: Any, **kw: Any) -> None:
        raise ConnectionError(f"POST /record secretKey={LEAK} refused")

    signals.commands("testv").connect(adapter, sender=rt, weak=False)
    with caplog.at_level(logging.DEBUG, logger="recstate"), \
            pytest.raises(HandlingError) as raised:
        rt.dispatch(tv.Dial(number="a"))
    rt.close()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2  # dial sends ring and progress: each one's receiver raised
    record = errors[0]
    assert record.name == "recstate.runtime"
    assert record.exc_info is not None
    assert record.exc_info[0] is ConnectionError
    assert (record.session, record.vendor, record.event) == ("a", "testv", "dial")
    assert "Traceback" in record.exc_text
    assert LEAK not in caplog.text
    assert "secretKey=***" in caplog.text
    assert LEAK not in str(raised.value)
    assert "secretKey=***" in str(raised.value)
    assert [LEAK in r.data["message"] for r in records if r.kind == "error"] == [False, False]


def test_a_machine_callback_that_raises_is_logged_on_recstate_runtime(caplog, tv):
    rt = Runtime(ManualClock(tv.T0))
    rt.dispatch(tv.Dial(number="a"))
    with caplog.at_level(logging.DEBUG, logger="recstate"):
        rt.dispatch(tv.Boom(session="a"))
    [record] = caplog.records
    assert (record.name, record.levelname) == ("recstate.runtime", "ERROR")
    assert (record.session, record.event) == ("a", "boom")
    assert "the phone caught fire" in record.exc_text


def test_a_documented_run_logs_nothing_at_info_or_above(caplog, tmp_path):
    with caplog.at_level(logging.INFO, logger="recstate"):
        run_scenario("200min", out=tmp_path / "t.jsonl")
        run_scenario("crash", out=tmp_path / "c.jsonl")
    assert caplog.records == []


def test_the_loggers_hang_under_recstate():
    from recstate.adapters import netease

    assert netease.log.name == "recstate.adapters.netease"
    assert netease.log.parent is not None
    assert logging.getLogger("recstate.runtime").parent is logging.getLogger("recstate")


def test_nothing_reaches_stderr_unless_the_application_configures_logging():
    import subprocess
    import sys

    script = ("from recstate import Runtime, ManualClock, signals\n"
              "from recstate.events.tencent import EnterRoom\n"
              "rt = Runtime(ManualClock(0))\n"
              "def broken(sender, **kw): raise ConnectionError('down')\n"
              "signals.transition.connect(broken, sender=rt)\n"
              "rt.dispatch(EnterRoom(relationId=1, roomId=2, user='u'))\n"
              "from recstate.events.tencent import StartRecording, RoomInfo, RecordParam\n"
              "rt.dispatch(StartRecording(roomInfo=RoomInfo(relationId=1, roomId=2),"
              " param=RecordParam(fileName='f'), user='u'))\n"
              "print(len([1 for s in rt]))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False)
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "1", "")
