"""Qiniu keys never leak: a live run with real-looking keys writes a trace file, DEBUG logs,
reprs and error messages, and none of them holds a key."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from freezegun import freeze_time

from recstate import Runtime, SystemClock, TraceWriter
from recstate.adapters.juphoon import JuphoonSimulator, QiniuAdapter, QiniuClient, QiniuError
from recstate.errors import TraceError
from recstate.events import parse_event
from recstate.events.juphoon import (
    EnableRecord,
    Join,
    JoinParam,
    Leave,
    RecordParamError,
    build_qiniu_record_param,
    parse_record_string,
)
from recstate.replay import replay

# Shaped like Qiniu keys (40 URL-safe characters); not real ones.
ACCESS_KEY = "hJ7kL2mN9pQ4rS6tU8vW0xY3zA5bC1dE7fG9hI2j"
SECRET_KEY = "K3lM5nO7pQ9rS1tU3vW5xY7zA9bC1dE3fG5hI7jK"
KEYS = (ACCESS_KEY, SECRET_KEY)


def assert_clean(text: str, where: str) -> None:
    for key in KEYS:
        assert key not in text, f"a key leaked into {where}"


@freeze_time("2026-03-02T09:00:00Z")
def test_a_live_run_leaks_no_key(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    trace = tmp_path / "live.jsonl"
    writer = TraceWriter(trace)
    rt = Runtime(SystemClock(), tracer=writer)
    sim = JuphoonSimulator(rt, answer_stat=False, delay=0.0, upload_delay=0.0)
    # Qiniu is unreachable here: each stat fails, and its error becomes a notice.
    client = QiniuClient(ACCESS_KEY, SECRET_KEY, rs_host="http://127.0.0.1:9",
                         domain="https://cdn.example.com", private=True, clock=rt.clock)
    adapter = QiniuAdapter(rt, client)
    p1 = build_qiniu_record_param(True, "secure-bucket", SECRET_KEY, ACCESS_KEY, "one.mp4")
    p2 = build_qiniu_record_param(True, "secure-bucket", SECRET_KEY, ACCESS_KEY, "two.mp4")
    now = rt.clock.now()
    # one join given as the parts, a second channel's as the record string
    rt.dispatch(Join(t=now, channelId="c1", joinParam=JoinParam(record=p1)))
    rt.dispatch(parse_event("juphoon", "join", now, {
        "channelId": "c2", "joinParam": {"record": {"recordString": p2.record_string()}}}))
    rt.run_due()
    for channel, param in (("c1", p1), ("c2", p2)):
        rt.dispatch(EnableRecord(t=now, channelId=channel, enable=True, recordParam=param))
    rt.run_due()
    rt.dispatch(EnableRecord(t=now, channelId="c1", enable=True))  # refused: an error
    rt.dispatch(EnableRecord(t=now, channelId="c1", enable=False))
    rt.dispatch(Leave(t=now, channelId="c2"))
    with freeze_time("2026-03-02T09:20:00Z"):
        rt.run_due()  # stats fail (connection refused): notices
    writer.close()

    assert "SecretKey" in trace.read_text()  # the record string was written...
    assert_clean(trace.read_text(), "the trace file")  # ...with its keys masked
    assert '"name":"stat:error"' in trace.read_text()  # the Qiniu failures were recorded
    assert "enableRecord" in caplog.text
    assert "stat secure-bucket:one.mp4" in caplog.text  # the adapter's DEBUG lines
    assert_clean(caplog.text, "the DEBUG log")
    for session in rt.sessions.values():
        assert_clean(repr(session), "a session repr")
        assert_clean(repr(session.context), "a context repr")
        assert_clean(str(rt.snapshot(session.key)), "a snapshot")
        for f in session.files:
            assert_clean(repr(f), "a file repr")
    for thing in (p1, p2, sim, client, adapter, client.mac, sim.answered):
        assert_clean(repr(thing), f"the repr of {type(thing).__name__}")
        assert_clean(str(thing), f"the str of {type(thing).__name__}")
    report = replay(trace)
    assert report.mismatches == []
    assert any(e["code"] == "enable-refused" for s in report.sessions for e in s["errors"])
    assert_clean(str(report.to_json()), "the replay report")
    sim.disconnect()
    adapter.disconnect()
    client.close()


def test_error_messages_hold_no_key() -> None:
    text = ('{"MtcConfIsVideoKey":true,"Storage":{"Protocol":"qiniu","AccessKey":"'
            + ACCESS_KEY + '","SecretKey":"' + SECRET_KEY + '","FileKey":"f"}}')
    with pytest.raises(RecordParamError) as err:
        parse_record_string(text)
    assert_clean(str(err.value), "a record parameter error")
    with pytest.raises(TraceError) as trace_err:
        parse_event("juphoon", "join", 1.0, {"channelId": "c",
                                             "joinParam": {"record": {"recordString": text}}})
    assert_clean(str(trace_err.value), "a trace error")
    with QiniuClient(ACCESS_KEY, SECRET_KEY, rs_host="http://127.0.0.1:9") as client:
        with pytest.raises(QiniuError) as qerr:
            client.stat("b", "k")
        assert_clean(str(qerr.value), "a Qiniu error")


def test_replay_out_masks_keys_a_hand_written_trace_holds(tmp_path: Path) -> None:
    p = build_qiniu_record_param(True, "b", SECRET_KEY, ACCESS_KEY, "x.mp4")
    source = tmp_path / "in.jsonl"
    source.write_text(
        '{"t": 1, "vendor": "juphoon", "name": "join", "data": {"channelId": "c", '
        '"joinParam": {"record": {"recordString": ' + repr_json(p.record_string()) + '}}}}\n')
    out = tmp_path / "out.jsonl"
    replay(source, out=out)
    assert_clean(out.read_text(), "the replay's full trace")
    assert '"FileKey\\":\\"x.mp4' in out.read_text()


def repr_json(text: str) -> str:
    import orjson

    return orjson.dumps(text).decode()


def test_scrub_text_masks_secret_members_and_query_parameters_only() -> None:
    from recstate.trace import redact, scrub_text

    text = ('{"MtcConfIsVideoKey":true,"Storage":{"Protocol":"qiniu","AccessKey":"'
            + ACCESS_KEY + '", "SecretKey" : "a\\"b","BucketName":"b","FileKey":"f.mp4"}}')
    assert scrub_text(text) == (
        '{"MtcConfIsVideoKey":true,"Storage":{"Protocol":"qiniu","AccessKey":"***", '
        '"SecretKey" : "***","BucketName":"b","FileKey":"f.mp4"}}')
    url = f"https://cdn.example.com/a.mp4?e=1451491200&token={ACCESS_KEY}:sig="
    assert scrub_text(url) == "https://cdn.example.com/a.mp4?e=1451491200&token=***"
    plain = 'fileName "x.mp4" at https://cdn.example.com/a.mp4?e=1&w=2'
    assert scrub_text(plain) == plain
    assert redact({"message": url, "n": [url, 3]}) == {
        "message": "https://cdn.example.com/a.mp4?e=1451491200&token=***",
        "n": ["https://cdn.example.com/a.mp4?e=1451491200&token=***", 3]}
