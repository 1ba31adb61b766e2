"""Hostile input (issue 9): every bad input gets exit 2 or a clean error naming what and where,
no traceback, no hang, and no secret in any channel. Each test names the issue's point."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from recstate.adapters.netease import CallbackReceiver, CallbackRejected, ChannelRoutes
from recstate.clock import ManualClock
from recstate.errors import OutputError, TraceError
from recstate.events import parse_event
from recstate.replay import Report, format_report, replay
from recstate.runtime import Runtime
from recstate.session import Session
from recstate.trace import (
    MAX_DEPTH,
    REDACTED,
    Record,
    TraceReader,
    is_secret_key,
    parse_line,
    parse_time,
    redact,
)

ROOT = Path(__file__).resolve().parent.parent
TRACES = ROOT / "examples" / "traces"
T0 = 1_700_000_000
CID = "6290737000999815990"


def recstate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recstate.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, check=False, timeout=120)


def tencent(t: float | str, name: str, data: dict[str, Any] | None = None,
            session: str | None = "1:2:bob", **extra: Any) -> str:
    record: dict[str, Any] = {"t": t, "vendor": "tencent", "name": name}
    if session is not None:
        record["session"] = session
    if data is not None:
        record["data"] = data
    record.update(extra)
    return json.dumps(record)


ROOM = {"relationId": 1, "roomId": 2}
ENTER = tencent(T0, "enterRoom", {"relationId": 1, "roomId": 2, "user": "bob"})
START = tencent(T0, "requestMultiVideoRecorderStart",
                {"roomInfo": ROOM, "param": {"fileName": "lesson"}})
OK = tencent(T0 + 1, "requestMultiVideoRecorderStart:ok", {})


def write(tmp_path: Path, *lines: str, name: str = "t.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    return path


def clean_exit_2(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


# ---- 3. times out of range ----------------------------------------------------------------------
@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
                                   -1, 1_700_000_000_000, 1e300, "1969-12-31T23:59:59Z"])
def test_3_a_time_outside_1970_to_3000_is_refused_with_line_and_field(value: Any) -> None:
    with pytest.raises(TraceError, match="outside 1970") as info:
        parse_time(value, line=4)
    assert (info.value.line, info.value.field) == (4, "t")


def test_3_a_time_in_range_still_reads() -> None:
    assert parse_time("1970-01-01T00:00:00Z") == 0.0
    assert parse_time("2999-12-31T23:59:59+00:00") == 32_503_679_999.0


def test_3_replay_of_year_one_exits_2_naming_line_and_field(tmp_path: Path) -> None:
    trace = write(tmp_path, ENTER, tencent("0001-01-01T00:00:00+01:00", "mediaData", {}))
    clean_exit_2(recstate("replay", trace), ":2: field 't'", "outside 1970")


def test_3_the_report_prints_any_time_without_crashing() -> None:
    files = [{"id": "f", "participant": None, "kind": "mixed", "format": "mp4",
              "start": 1e20, "end": float("inf"), "size": None, "status": "closed",
              "url": None}]
    report = Report(lines=1, events=1, sessions=[{
        "session": "s", "vendor": "v", "machine": "v.m", "state": "x", "recording": False,
        "files": files, "commands": [{"t": -1e18, "name": "c", "data": {}}], "errors": [],
        "violations": []}])
    text = format_report(report)
    assert "t=1e+20" in text
    assert "t=-1e+18" in text


# ---- 4. nesting ---------------------------------------------------------------------------------
def test_4_data_nested_past_the_cap_is_a_clean_error(tmp_path: Path) -> None:
    deep = "[" * 600 + "]" * 600
    text = f'{{"t": {T0}, "vendor": "tencent", "name": "mediaData", "data": {{"x": {deep}}}}}'
    with pytest.raises(TraceError, match=f"more than {MAX_DEPTH} levels") as info:
        parse_line(text, line=7)
    assert (info.value.line, info.value.field) == (7, "data")
    clean_exit_2(recstate("replay", write(tmp_path, ENTER, text)), ":2: field 'data'")


def test_4_redaction_is_iterative_at_any_depth() -> None:
    value: Any = {"token": "t-CLEAR"}
    for _ in range(5000):
        value = {"a": [value]}
    out = redact(value)
    for _ in range(5000):
        out = out["a"][0]
    assert out == {"token": REDACTED}
    record = Record(T0, "testv", "x", "s", value, "error")
    assert b"t-CLEAR" not in repr(record).encode()


# ---- 5. --out -----------------------------------------------------------------------------------
def test_5_out_refuses_the_input_path_and_leaves_it_alone(tmp_path: Path) -> None:
    trace = write(tmp_path, ENTER, START, OK)
    before = trace.read_bytes()
    clean_exit_2(recstate("replay", "--out", trace, trace), "trace being read")
    assert trace.read_bytes() == before
    link = tmp_path / "link.jsonl"
    link.symlink_to(trace)
    clean_exit_2(recstate("replay", "--out", link, trace, "--force"), "trace being read")
    assert trace.read_bytes() == before


def test_5_out_refuses_an_existing_file_without_force_and_replaces_it_with(
        tmp_path: Path) -> None:
    trace = write(tmp_path, ENTER, START, OK)
    full = tmp_path / "full.jsonl"
    full.write_text("keep me\n")
    clean_exit_2(recstate("replay", "--out", full, trace), "exists", "--force")
    assert full.read_text() == "keep me\n"
    assert recstate("replay", "--out", full, "--force", trace).returncode == 0
    first = full.read_bytes()
    assert b"keep me" not in first
    assert recstate("replay", "--out", full, "--force", trace).returncode == 0
    assert full.read_bytes() == first, "a second run replaces, never concatenates"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_5_a_failed_replay_leaves_no_output_and_no_temporary(tmp_path: Path) -> None:
    trace = write(tmp_path, ENTER, START, "{oops")
    full = tmp_path / "full.jsonl"
    clean_exit_2(recstate("replay", "--out", full, trace), ":3")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.jsonl"]


def test_5_simulate_out_never_unlinks_what_the_path_is(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    clean_exit_2(recstate("simulate", "tencent", "crash", "--out", fifo), "not a regular file")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    kept = tmp_path / "kept.jsonl"
    kept.write_text("mine\n")
    clean_exit_2(recstate("simulate", "tencent", "crash", "--out", kept), "exists")
    assert kept.read_text() == "mine\n"
    out = tmp_path / "crash.jsonl"
    assert recstate("simulate", "tencent", "crash", "--out", out).returncode == 0
    assert replay(out).mismatches == []


# ---- 6. unwritable --out, endless lines, --until, empty traces --------------------------------
@pytest.mark.parametrize(("where", "words"), [
    ("missing/dir/full.jsonl", "does not exist"),
    (".", "is a directory"),
    ("/dev/full", "not a regular file"),
])
def test_6_an_unwritable_out_exits_2(tmp_path: Path, where: str, words: str) -> None:
    trace = write(tmp_path, ENTER, START, OK)
    out = where if where.startswith("/") else tmp_path / where
    clean_exit_2(recstate("replay", "--out", out, trace), words)


def test_6_an_endless_line_is_cut_at_the_cap(tmp_path: Path) -> None:
    clean_exit_2(recstate("replay", "/dev/zero"), "/dev/zero:1", "longer than")
    path = tmp_path / "long.jsonl"
    path.write_bytes(b"x" * 5000 + b"\n" + ENTER.encode() + b"\n")
    reader = TraceReader(path, skip_bad=True, max_line=1000)
    assert [r.line for r in reader] == [2]
    assert [(e.line, "longer than 1000 bytes" in e.reason) for e in reader.errors] == [
        (1, True)]


@pytest.mark.parametrize("until", ["nan", "inf", "-inf", "1e400", "NaN"])
def test_6_until_not_finite_is_refused(tmp_path: Path, until: str) -> None:
    clean_exit_2(recstate("replay", "--until", until, write(tmp_path, ENTER, START, OK)),
                 "--until")


def test_6_an_until_before_the_end_is_honoured(tmp_path: Path) -> None:
    trace = write(tmp_path, ENTER, START, OK,
                  tencent(T0 + 30, "requestMultiVideoRecorderStop", {"roomInfo": ROOM}),
                  tencent(T0 + 31, "requestMultiVideoRecorderStop:ok", {}))
    whole = json.loads(recstate("replay", "--json", trace).stdout)
    assert whole["sessions"][0]["state"] == "stopped"
    cut = json.loads(recstate("replay", "--json", "--until", str(T0 + 10), trace).stdout)
    assert cut["sessions"][0]["state"] == "recording"
    assert (cut["until"], cut["after_until"]) == (T0 + 10, 2)
    assert cut["events"] == 3
    clean_exit_2(recstate("replay", "--until", str(T0 - 10), trace), "before the trace")


@pytest.mark.parametrize("lines", [(), ("# only a comment", "", "   ")])
def test_6_an_empty_or_comment_only_trace_exits_2(tmp_path: Path, lines: tuple[str, ...]
                                                  ) -> None:
    clean_exit_2(recstate("replay", write(tmp_path, *lines)), "nothing to replay")


# ---- 7. the conformance diff --------------------------------------------------------------------
def test_7_lines_in_another_order_are_reported_as_out_of_order(tmp_path: Path) -> None:
    full = tmp_path / "full.jsonl"
    replay(TRACES / "tencent-retry.jsonl", out=full)
    lines = full.read_text().splitlines()
    commands = [i for i, x in enumerate(lines) if '"kind":"command"' in x]
    a, b = commands[1], commands[2]
    lines[a], lines[b] = lines[b], lines[a]
    swapped = write(tmp_path, *lines, name="swapped.jsonl")
    report = replay(swapped)
    # Lines lie between the two: neither is in order with them (a sequence diff calls this
    # two differences, or a deletion and an insertion).
    assert [(m["what"], m["line"]) for m in report.mismatches] == [
        ("out of order", b + 1), ("out of order", a + 1)]
    assert all(m["expected"] == m["got"] for m in report.mismatches)


def test_7_a_long_diff_pairs_each_line_once(tmp_path: Path) -> None:
    full = tmp_path / "full.jsonl"
    replay(TRACES / "tencent-200min.jsonl", out=full)
    lines = full.read_text().splitlines()
    transitions = [i for i, x in enumerate(lines) if '"kind":"transition"' in x]
    dropped = set(transitions[::2])
    kept = [x for i, x in enumerate(lines) if i not in dropped]
    report = replay(write(tmp_path, *kept, name="kept.jsonl"))
    assert [m["what"] for m in report.mismatches] == ["produced but not logged"] * len(dropped)
    assert sorted(orjson.dumps(m["got"], option=orjson.OPT_SORT_KEYS)
                  for m in report.mismatches) == sorted(
        orjson.dumps({**json.loads(lines[i]), "kind": "transition"},
                     option=orjson.OPT_SORT_KEYS) for i in dropped)


# ---- 9. the NetEase receiver: CurTime ----------------------------------------------------------
SECRET = "s3cr3t-AppSecret-9f1c"


def files_body(*channels: str, url: str = "https://nos.example/f.aac") -> bytes:
    items = [{"caller": True, "channelid": ch, "filename": f"{ch}.aac", "md5": "0" * 32,
              "mix": False, "size": "100", "type": "aac", "url": url, "user": "ann",
              "vid": "1"} for ch in channels]
    return orjson.dumps({"eventType": "6", "fileinfo": orjson.dumps(items).decode()})


def headers_for(body: bytes, cur: str, secret: str = SECRET) -> dict[str, str]:
    md5 = hashlib.md5(body).hexdigest()
    checksum = hashlib.sha1((secret + md5 + cur).encode("utf-8", "surrogatepass")).hexdigest()
    return {"AppKey": "app", "CurTime": cur, "MD5": md5, "CheckSum": checksum}


@pytest.mark.parametrize("cur", ["²", "1700000000²", "٣" * 10, "9" * 400, "9" * 5000,
                                 "17000\udc800000", "-1700000000", "1.7e9", " 0x10"])
def test_9_a_curtime_that_is_not_ascii_digits_is_a_400_with_no_secret(cur: str) -> None:
    receiver = CallbackReceiver(SECRET, clock=ManualClock(T0), window=300)
    body = files_body(CID)
    with pytest.raises(CallbackRejected) as info:
        receiver(headers_for(body, cur), body)
    assert info.value.status == 400
    assert "CurTime" in info.value.reason
    for text in (str(info.value), repr(info.value.args), str(info.value.__context__)):
        assert SECRET not in text


def test_9_a_surrogate_in_any_header_is_refused_without_the_secret() -> None:
    receiver = CallbackReceiver(SECRET, clock=ManualClock(T0), window=300, app_key="app")
    body = files_body(CID)
    for name in ("MD5", "CheckSum", "AppKey"):
        headers = headers_for(body, str(T0))
        headers[name] = headers[name][:-1] + "\udc80"
        with pytest.raises(CallbackRejected) as info:
            receiver(headers, body)
        assert SECRET not in str(info.value)
        assert SECRET not in repr(info.value.args)
        assert info.value.__context__ is None or info.value.__suppress_context__


# ---- 10. one body, many channels --------------------------------------------------------------
def test_10_a_body_naming_more_channels_than_allowed_is_refused() -> None:
    receiver = CallbackReceiver(SECRET, clock=ManualClock(T0), window=300, max_channels=100)
    body = files_body(*(str(n) for n in range(101)))
    with pytest.raises(CallbackRejected) as info:
        receiver(headers_for(body, str(T0)), body)
    assert info.value.status == 413
    assert "101 channels" in info.value.reason
    ok = files_body(*(str(n) for n in range(100)))
    assert len(receiver(headers_for(ok, str(T0)), ok)) == 100


class CountingSessions(dict[str, Session]):
    """The runtime's session map, counting how many sessions lookups look at."""

    looked = 0

    def values(self) -> Any:
        for value in super().values():
            type(self).looked += 1
            yield value

    def __getitem__(self, key: str) -> Session:
        type(self).looked += 1
        return super().__getitem__(key)


def test_10_looking_up_unseen_channels_looks_at_each_session_once() -> None:
    rt = Runtime(ManualClock(T0))
    for n in range(500):
        rt.dispatch(parse_event("netease", "beCalling", T0,
                                {"caller": "ann", "cid": f"c{n}", "type": 1}, f"c{n}"))
    counting = CountingSessions(rt.sessions)
    rt.sessions = counting
    routes = ChannelRoutes(rt)
    for n in range(2000):
        assert routes.key(f"unseen-{n}") == f"unseen-{n}"
    # Each session once, then one look a lookup (a scan apiece would be 2000 x 500).
    assert CountingSessions.looked <= 500 + 2000, CountingSessions.looked
    routes.close()


# ---- 12. secrets in every channel -------------------------------------------------------------
NAMES = ["secretKey", "SecretId", "AppSecret", "token", "signature", "password", "accessKey",
         "userSig", "privateKey", "Authorization", "credential", "CheckSum", "privateMapKey",
         "sign", "sig", "apiKey", "api_key", "x-api-key", "pwd", "passphrase", "cookie",
         "bearer", "auth", "ticket", "hmac", "encryptKey", "EncodingAESKey", "Set-Cookie",
         "refresh_token", "X-Amz-Signature", "q-signature"]


@pytest.mark.parametrize("name", NAMES)
def test_12_every_listed_name_is_a_secret(name: str) -> None:
    assert is_secret_key(name)


@pytest.mark.parametrize("name", ["signal", "design", "assignee", "author", "passenger",
                                  "tickets_count" if False else "kind", "session", "cid",
                                  "fileName", "AppKey", "roomId", "user", "key"])
def test_12_ordinary_names_are_not(name: str) -> None:
    assert not is_secret_key(name)


def test_12_signed_url_signatures_are_redacted() -> None:
    url = ("https://b.nos.example/x.aac?NOSAccessKeyId=ak1&Expires=9&Signature=SIG%2Bv&a=1"
           "&q-sign-algorithm=sha1&q-signature=QSIG&X-Amz-Credential=CRED&sign=TSIGN&t=5")
    out = redact({"url": url})["url"]
    for clear in ("SIG%2Bv", "QSIG", "CRED", "TSIGN", "ak1"):
        assert clear not in out
    assert out.startswith("https://b.nos.example/x.aac?NOSAccessKeyId=***&Expires=9&")
    assert "&a=1&" in out
    assert out.endswith("&t=5")


def test_12_a_secret_planted_under_every_name_reaches_no_channel(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Trace (--out), log, repr, error, report and mismatch diff: none shows a planted value."""
    caplog.set_level(logging.DEBUG)
    planted = {name: f"PLANT{n:03d}-secret-value" for n, name in enumerate(NAMES)}
    values = list(planted.values())
    signed = (f"https://nos.example/{CID}.aac?Expires=9&Signature=URLSIG-secret-value"
              f"&NOSAccessKeyId=AKID-secret-value")
    values += ["URLSIG-secret-value", "AKID-secret-value"]
    items = [{"caller": True, "channelid": CID, "filename": f"{CID}-alice.aac",
              "md5": "0" * 32, "mix": False, "size": "1024", "type": "aac", "url": signed,
              "user": "alice", "vid": "1"},
             {"caller": False, "channelid": CID, "filename": f"{CID}-bob.aac",
              "md5": "0" * 32, "mix": False, "size": "1024", "type": "aac", "url": signed,
              "user": "bob", "vid": "1"}]

    def ne(t: float, name: str, data: dict[str, Any], session: str | None = CID,
           kind: str | None = None) -> str:
        record: dict[str, Any] = {"t": t, "vendor": "netease", "name": name, "data": data}
        if session is not None:
            record["session"] = session
        if kind is not None:
            record["kind"] = kind
        return json.dumps(record)

    lines = [
        ne(T0, "call", {"callee": "bob", "type": 1, "account": "alice",
                        "record": {"recordType": 2, "recordAudio": 1}, **planted}),
        ne(T0 + 0.3, "call:ok", {"cid": CID, **planted}),
        ne(T0 + 6, "callAccepted", {"account": "bob", "type": 1, "cid": CID, **planted},
           session=None),
        ne(T0 + 6.5, "startRtc:ok", planted),
        # logged outputs the replay does not produce: shown in the mismatch diff
        ne(T0 + 7, "startRtc", {"mode": "x", **planted}, kind="command"),
        ne(T0 + 7, "in_call", {"src": "a", "dst": "b", **planted}, kind="transition"),
        ne(T0 + 300, "hangup", planted),
        ne(T0 + 420, "callback", {"eventType": "6", "fileinfo": json.dumps(items), **planted},
           session=None),
        # bad lines: a planted value in a Literal field, and in vendor, kind and session
        json.dumps({"t": T0 + 421, "vendor": "tencent", "name": "enterRoom", "data": {
            "relationId": 1, "roomId": 2, "user": "u", "roomType": values[0]}}),
        json.dumps({"t": T0 + 422, "vendor": values[1], "name": "hangup"}),
        json.dumps({"t": T0 + 422, "vendor": "netease", "name": "hangup", "kind": values[2]}),
        json.dumps({"t": T0 + 422, "vendor": "netease", "name": "hangup",
                    "session": {"x": values[3]}}),
    ]
    trace = write(tmp_path, *lines)
    full = tmp_path / "full.jsonl"
    report = replay(trace, out=full, skip_bad_lines=True)
    assert report.mismatches, "the logged lines are in the diff"
    assert len(report.bad_lines) == 4
    channels = {
        "trace": full.read_text(),
        "report": format_report(report),
        "json report": report.dumps().decode(),
        "log": caplog.text,
        "repr": repr([Record(T0, "netease", "x", CID, planted)]),
        "cli": recstate("replay", "--skip-bad-lines", trace).stdout,
    }
    strict = recstate("replay", trace)
    channels["error"] = strict.stderr
    assert strict.returncode == 2
    for where, text in channels.items():
        for value in values:
            assert value not in text, (where, value)
    assert "Signature=***" in channels["report"]


def test_12_a_secret_in_a_secret_field_of_the_wrong_type_is_not_quoted() -> None:
    with pytest.raises(TraceError) as info:
        parse_event("tencent", "enterRoom", T0, {"relationId": 1, "roomId": 2, "user": "u",
                                                 "roomType": "PLANTED-secret-in-a-literal"})
    assert "PLANTED" not in str(info.value)
    assert "expected one of 'multi', 'pair'" in str(info.value)
    with pytest.raises(TraceError) as info:
        parse_event("testv", "login", T0, {"user": "u", "secretKey": 12345678,
                                           "token": ["T-" + "x" * 80]})
    assert "12345678" not in str(info.value)
    assert "x" * 20 not in str(info.value)
    assert "not shown" in str(info.value)


def test_12_out_error_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="is a directory"):
        replay(TRACES / "tencent-retry.jsonl", out=tmp_path)


# ---- 11. VOD errors ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_11_an_echoed_request_leaves_no_signature_or_secret_id_in_the_error(kind: str) -> None:
    from test_tencent_vod import SECRET_ID, SECRET_KEY, FakeVod, searcher

    from recstate.adapters.tencent import VodError

    vod = FakeVod()

    def echo(body: dict[str, Any]) -> tuple[int, bytes]:
        headers = vod.requests[-1]["headers"]
        text = f"bad request: {headers['Authorization']} id={SECRET_ID} key={SECRET_KEY}"
        return 200, orjson.dumps({"Response": {"Error": {"Code": "InvalidParameter",
                                                         "Message": text},
                                               "RequestId": "r"}})

    try:
        for responder in (echo, lambda body: (502, f"proxy saw {vod.requests[-1]['headers']}"
                                              .encode())):
            vod.responder = responder
            with pytest.raises(VodError) as info:
                searcher(kind, endpoint=vod.url)("lesson")
            signature = vod.requests[-1]["headers"]["Authorization"].rsplit("=", 1)[1]
            for text in (str(info.value), info.value.message, repr(info.value.args)):
                assert SECRET_ID not in text
                assert SECRET_KEY not in text
                assert signature not in text
    finally:
        vod.close()


def test_11_the_blocking_adapter_answers_and_scrubs_an_unexpected_failure() -> None:
    """A failure that is not httpx's (here a response hook of the application's HTTP client
    that breaks, quoting the signed header and the key) is answered as SearchMedia:error
    ClientError.Unexpected, scrubbed; the request is real, to the VOD fake on loopback."""
    import httpx
    from test_tencent_vod import NOW, SECRET_ID, SECRET_KEY, FakeVod, run_recording

    from recstate import signals
    from recstate.adapters.tencent import TencentSimulator, VodAdapter, VodClient

    def broken(response: httpx.Response) -> None:
        raise RuntimeError(f"proxy broke on {response.request.headers['Authorization']} "
                           f"with {SECRET_KEY}")

    vod = FakeVod()
    records: list[Record] = []
    rt = Runtime(ManualClock(NOW), tracer=records.append)
    errors: list[dict[str, Any]] = []
    signals.error.connect(lambda sender, **kw: errors.append(kw), sender=rt, weak=False)
    sim = TencentSimulator(rt, answer_search=False)
    client = VodClient(SECRET_ID, SECRET_KEY, clock=rt.clock, endpoint=vod.url,
                       http=httpx.Client(event_hooks={"response": [broken]}))
    adapter = VodAdapter(rt, client)
    try:
        run_recording(rt, 10)
    finally:
        vod.close()
    assert len(vod.requests) >= 1  # the request went out over HTTP
    answers = [r for r in records if r.name == "SearchMedia:error"]
    assert len(answers) >= 1
    assert answers[0].data is not None
    assert answers[0].data["code"] == "ClientError.Unexpected"
    assert "RuntimeError" in answers[0].data["desc"]
    assert not [e for e in errors if e["code"] == "receiver-error"]
    text = b"".join(r.dumps() for r in records).decode() + repr(errors)
    assert SECRET_KEY not in text
    assert SECRET_ID not in text
    assert "Signature=***" in answers[0].data["desc"]
    adapter.disconnect()
    sim.disconnect()
    client.close()


def test_10_a_large_body_is_verified_off_the_event_loop() -> None:
    import threading

    import httpx
    from test_netease_callback import Served

    from recstate.adapters.netease import CallbackApp, deliver_to

    threads: list[bool] = []

    class Watching(CallbackReceiver):
        def __call__(self, headers: Any, body: bytes) -> Any:
            threads.append(threading.current_thread() is main_of_server[0])
            return super().__call__(headers, body)

    main_of_server: list[threading.Thread | None] = [None]
    rt = Runtime(ManualClock(T0))
    app = CallbackApp(Watching(SECRET, clock=rt.clock, window=300), deliver_to(rt))
    server = Served(app)
    main_of_server[0] = server.thread  # uvicorn's event loop runs in it
    with server as url:
        small = files_body(CID)
        large = files_body(*(f"c{n}" for n in range(60)),
                           url="https://nos.example/" + "x" * 2000)
        assert len(small) < CallbackApp.thread_above < len(large)
        for body in (small, large):
            answer = httpx.post(url, content=body, headers=headers_for(body, str(T0)))
            assert answer.status_code == 200, answer.text
    assert threads == [True, False]  # the small one on the loop's thread, the large one not
    assert len(rt.sessions) == 61
