"""buildQiniuRecordParam (001 §设置录制参数) and the record string: its parts, its form, reading it
back, and the errors for what is not the builder's form. Expected strings are written from
Juphoon's documented form, not from the code."""

from __future__ import annotations

import orjson
import pytest

from recstate.errors import TraceError
from recstate.events import parse_event
from recstate.events.juphoon import (
    EnableRecordCommand,
    JoinCommand,
    QiniuRecordParam,
    RecordParamError,
    build_qiniu_record_param,
    buildQiniuRecordParam,
    parse_record_string,
)

AK = "qV3xTmZ8Lp2Rk9Wn4Bc7Dh1Fj6Gs0Yu5Ea8Ti3Oo"
SK = "Zr8Yb3Nc6Vx1Mq4Lw7Kp0Jt5Hs2Gd9Ff6Ea3Ui1O"


def test_the_builder_knows_its_parts_in_argument_order() -> None:
    p = build_qiniu_record_param(True, "my-bucket", SK, AK, "lesson.mp4")
    assert (p.video, p.bucketName, p.secretKey, p.accessKey, p.fileName) == (
        True, "my-bucket", SK, AK, "lesson.mp4")
    assert buildQiniuRecordParam is build_qiniu_record_param


def test_the_record_string_is_juphoons_documented_form() -> None:
    p = build_qiniu_record_param(False, "my-bucket", SK, AK, "talk.m4a")
    expected = ('{"MtcConfIsVideoKey":false,"Storage":{"Protocol":"qiniu","AccessKey":"'
                + AK + '","SecretKey":"' + SK + '","BucketName":"my-bucket","FileKey":'
                '"talk.m4a"}}')
    assert p.record_string() == expected
    assert orjson.loads(p.record_string())["Storage"]["Protocol"] == "qiniu"


def test_the_record_string_reads_back_into_the_same_parts() -> None:
    p = build_qiniu_record_param(True, "b", SK, AK, "x.mp4")
    assert parse_record_string(p.record_string()) == p
    assert QiniuRecordParam.from_record_string(p.record_string()) == p
    assert p.recordString == p.to_record_string() == p.record_string()


def test_the_windows_pages_string_boolean_is_read() -> None:
    text = ('{"MtcConfIsVideoKey":"false","Storage":{"Protocol":"qiniu","BucketName":"b",'
            '"SecretKey":"s","AccessKey":"a","FileKey":"f.mp4"}}')
    assert parse_record_string(text).video is False


def test_repr_str_and_masked_string_never_show_a_key() -> None:
    p = build_qiniu_record_param(True, "b", SK, AK, "x.mp4")
    for text in (repr(p), str(p), p.record_string(masked=True), f"{p}", repr([p])):
        assert SK not in text
        assert AK not in text
    assert "secretKey='***'" in repr(p)
    assert '"SecretKey":"***"' in str(p)


@pytest.mark.parametrize(("text", "field"), [
    ("not json", "recordString"),
    ("[1, 2]", "recordString"),
    ('{"Storage":{}}', "recordString.MtcConfIsVideoKey"),
    ('{"MtcConfIsVideoKey":true}', "recordString.Storage"),
    ('{"MtcConfIsVideoKey":true,"Storage":{"Protocol":"s3","AccessKey":"a","SecretKey":"s",'
     '"BucketName":"b","FileKey":"f"}}', "recordString.Storage.Protocol"),
    ('{"MtcConfIsVideoKey":true,"Storage":{"Protocol":"qiniu","AccessKey":"a",'
     '"SecretKey":"s","FileKey":"f"}}', "recordString.Storage.BucketName"),
    # The MTC constant names used as keys: not the builder's form.
    ('{"MtcConfIsVideoKey":true,"MtcConfStorageKey":{"MtcConfProtocolKey":"qiniu"}}',
     "recordString.Storage"),
])
def test_a_string_that_is_not_the_builders_form_names_the_member(text: str, field: str) -> None:
    with pytest.raises(RecordParamError) as err:
        parse_record_string(text)
    assert err.value.field == field


def test_an_error_about_a_key_never_quotes_it() -> None:
    text = ('{"MtcConfIsVideoKey":true,"Storage":{"Protocol":"qiniu","AccessKey":"' + AK
            + '","SecretKey":"' + SK + '","BucketName":""}}')
    with pytest.raises(RecordParamError) as err:
        parse_record_string(text)
    assert err.value.field == "recordString.Storage.BucketName"
    assert AK not in str(err.value)
    assert SK not in str(err.value)


def test_the_builder_refuses_an_empty_bucket_naming_it() -> None:
    with pytest.raises(RecordParamError) as err:
        build_qiniu_record_param(True, "", SK, AK, "x.mp4")
    assert err.value.field == "bucketName"


def test_a_join_with_a_missing_bucket_is_a_trace_error_naming_the_field() -> None:
    data = {"channelId": "c", "joinParam": {"record": {
        "video": True, "secretKey": SK, "accessKey": AK, "fileName": "x.mp4"}}}
    with pytest.raises(TraceError) as err:
        parse_event("juphoon", "join", 1.0, data, source="t.jsonl", line=3)
    assert err.value.field == "data.joinParam.record"
    assert "bucketName" in err.value.reason
    assert "t.jsonl:3" in str(err.value)
    assert SK not in str(err.value)


def test_a_join_with_a_record_string_not_of_the_builders_form_names_the_member() -> None:
    data = {"channelId": "c", "joinParam": {"record": {"recordString": '{"Storage":1}'}}}
    with pytest.raises(TraceError) as err:
        parse_event("juphoon", "join", 1.0, data)
    assert "recordString.MtcConfIsVideoKey" in err.value.reason


def test_both_forms_of_the_join_give_the_same_parameters() -> None:
    p = build_qiniu_record_param(True, "b", SK, AK, "x.mp4")
    by_parts = parse_event("juphoon", "join", 1.0, {
        "channelId": "c", "joinParam": {"record": p.parts()}})
    by_string = parse_event("juphoon", "join", 1.0, {
        "channelId": "c", "joinParam": {"record": {"recordString": p.record_string()}}})
    assert by_parts == by_string
    assert by_parts.joinParam.record == p  # type: ignore[attr-defined]


def test_enable_record_param_may_be_absent_or_null() -> None:
    a = parse_event("juphoon", "enableRecord", 1.0, {"channelId": "c", "enable": True})
    b = parse_event("juphoon", "enableRecord", 1.0,
                    {"channelId": "c", "enable": True, "recordParam": None})
    assert a.recordParam is None  # type: ignore[attr-defined]
    assert b.recordParam is None  # type: ignore[attr-defined]


def test_an_unknown_record_state_is_an_error_naming_the_field_and_the_values() -> None:
    with pytest.raises(TraceError) as err:
        parse_event("juphoon", "onMediaChannelPropertyChange", 1.0,
                    {"recordState": "Recording"}, "c")
    assert err.value.field == "data.recordState"
    assert "None, Ready, Running" in err.value.reason


def test_a_property_change_without_record_state_is_another_property() -> None:
    ev = parse_event("juphoon", "onMediaChannelPropertyChange", 1.0, {}, "c")
    assert ev.recordState is None  # type: ignore[attr-defined]


def test_commands_carry_the_record_string_with_the_keys_masked() -> None:
    p = build_qiniu_record_param(True, "b", SK, AK, "x.mp4")
    enable = EnableRecordCommand(channelId="c", enable=True, recordParam=p)
    assert enable.payload() == {"channelId": "c", "enable": True, "recordParam": {
        "recordString": '{"MtcConfIsVideoKey":true,"Storage":{"Protocol":"qiniu",'
                        '"AccessKey":"***","SecretKey":"***","BucketName":"b",'
                        '"FileKey":"x.mp4"}}'}}
    assert EnableRecordCommand(channelId="c", enable=False).payload()["recordParam"] is None
    join = JoinCommand(channelId="c", record=p)
    assert join.payload()["joinParam"]["record"]["recordString"] == p.record_string(
        masked=True)
    assert join.record is not None
    assert join.record.record_string() == p.record_string()  # what the SDK adapter sends
    assert SK not in repr(join)
