"""examples/service/app.py, the README's FastAPI service: run under uvicorn on loopback and
driven with httpx (issue 10, point 7). The README's block is the file, verbatim."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from uvicorn_loopback import Uvicorn

from recstate import signals

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "examples" / "service" / "app.py"
SECRET = "service-test-AppSecret-71"


def test_the_readme_embedding_example_is_the_service_file_and_under_40_lines():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert APP.read_text(encoding="utf-8") in blocks
    assert len(APP.read_text(encoding="utf-8").splitlines()) < 40


@pytest.fixture
def service(tmp_path, monkeypatch) -> Any:
    monkeypatch.setenv("RECSTATE_TRACE", str(tmp_path / "service.trace.jsonl"))
    monkeypatch.setenv("NETEASE_APP_SECRET", SECRET)
    spec = importlib.util.spec_from_file_location("service_example", APP)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def signed(body: bytes) -> dict[str, str]:
    """NetEase's callback headers (000: CheckSum = SHA1(AppSecret + MD5 + CurTime))."""
    md5 = hashlib.md5(body).hexdigest()
    cur = str(int(time.time()))
    checksum = hashlib.sha1((SECRET + md5 + cur).encode()).hexdigest()
    return {"AppKey": "app", "CurTime": cur, "MD5": md5, "CheckSum": checksum,
            "Content-Type": "application/json"}


def test_the_service_answers_intents_and_takes_the_netease_callback_at_its_exact_path(
        service, tmp_path):
    with Uvicorn(service.app) as base, httpx.Client(base_url=base, timeout=10) as http:
        room = "/tencent/15000/7/alice"
        reply = http.post(room)
        assert reply.status_code == 200
        assert reply.json()["status"] == "accepted"
        reply = http.post(f"{room}/recording", params={"file": "alice-7"})
        assert reply.status_code == 200
        body = reply.json()
        assert body["state"] == "starting"
        assert body["commands"][0]["name"] == "requestMultiVideoRecorderStart"
        assert body["commands"][0]["data"]["param"]["fileName"] == "alice-7"
        # the same user in another room: 30000415 with 004 §5's advice, as a 409
        assert http.post("/tencent/15000/8/alice").status_code == 200
        reply = http.post("/tencent/15000/8/alice/recording", params={"file": "alice-8"})
        assert reply.status_code == 409
        detail = reply.json()["detail"]
        assert (detail["status"], detail["code"]) == ("refused", 30000415)
        assert "检查是否成功开房，录制的用户ID，groupid是否填写正确" in detail["advice"]
        # NetEase's callback service POSTs to the exact path, and follows no redirect
        items = [{"channelid": "6290737000999815988", "filename": "x.aac", "md5": "0" * 32,
                  "mix": False, "size": "1", "type": "aac", "url": "https://nos.example/x",
                  "user": "ann", "vid": "1", "caller": True}]
        callback = orjson.dumps({"eventType": "6", "fileinfo": orjson.dumps(items).decode()})
        reply = http.post("/netease/callback", content=callback, headers=signed(callback))
        assert reply.status_code == 200
        assert reply.json()["events"] == 1
    runtime = service.runtime
    assert runtime.closed  # the app's shutdown closed it: trace flushed and closed
    assert list(signals.commands("tencent").receivers_for(runtime)) == []
    lines = [orjson.loads(x) for x in (tmp_path / "service.trace.jsonl").read_bytes()
             .splitlines()]
    assert [x["name"] for x in lines if "kind" not in x][:3] == [
        "enterRoom", "requestMultiVideoRecorderStart", "enterRoom"]
    assert any(x["vendor"] == "netease" and x["name"] == "callback" for x in lines)
