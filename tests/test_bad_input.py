"""Bad input: each bad record gets a clear result of its own, the rest of the batch runs, nothing is lost."""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from conftest import Order

from msgworker import (
    BatchReportError,
    BatchResult,
    MsgworkerError,
    NotStartedError,
    ParseError,
    PermanentError,
    UnrecognisedEventError,
    worker,
)
from msgworker.testing import (
    LambdaContext,
    dynamodb_event,
    dynamodb_record,
    eventbridge_event,
    kinesis_event,
    kinesis_record,
    sns_envelope,
    sns_event,
    sns_record,
    sns_to_sqs_event,
    sqs_event,
    sqs_record,
)

SQS_MAX_BODY = 256 * 1024


def sqs_ids(event: dict[str, Any]) -> list[str | None]:
    return [record.get("messageId") for record in event["Records"]]


def kinesis_ids(event: dict[str, Any]) -> list[str]:
    return [record["kinesis"]["sequenceNumber"] for record in event["Records"]]


def dynamodb_ids(event: dict[str, Any]) -> list[str]:
    return [record["dynamodb"]["SequenceNumber"] for record in event["Records"]]


def reported(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def accounted(handler: Any, event: Any, ids: list[Any], seen: list[Any] | None = None) -> BatchResult:
    """Run ``event`` and check the invariant: every record is either succeeded or failed, never both,
    none missing; and the Lambda response reports exactly the failed ids, in batch order.

    The event is run twice (``run`` for the details, then as Lambda calls it); ``seen`` is left
    with what the first run recorded, after checking the second one recorded the same."""
    result = handler.run(event, LambdaContext())
    first = list(seen) if seen is not None else []
    failed, succeeded = result.failed_ids, result.succeeded_ids
    assert not set(failed) & set(succeeded)
    assert Counter(failed) + Counter(succeeded) == Counter(ids)
    assert [failure.index for failure in result.failures] == sorted(failure.index for failure in result.failures)
    assert result.source is not None
    if result.source.partial_batch_response:
        assert reported(result.response()) == failed
        assert reported(handler(event, LambdaContext())) == failed
        if seen is not None:
            assert seen == first + first
            seen[:] = first
    return result


def recording(model: Any = Order, **options: Any) -> tuple[Any, list[Any]]:
    seen: list[Any] = []

    @worker(model, **options)
    def handler(payload: Any) -> None:
        seen.append(payload)

    return handler, seen


def good(order_id: str) -> str:
    return json.dumps({"order_id": order_id, "total": 1})


# --------------------------------------------------------------------------------------------------
# SQS bodies


def test_non_json_body_with_a_model_fails_that_record_only():
    handler, seen = recording()
    event = sqs_event([good("a"), "this is not json", good("b")])
    ids = sqs_ids(event)
    result = accounted(handler, event, ids, seen)
    assert result.failed_ids == [ids[1]]
    (failure,) = result.failures
    assert isinstance(failure.error, ParseError) and isinstance(failure.error, PermanentError)
    assert "not valid JSON for Order" in str(failure.error)
    assert "this is not json" not in str(failure.error)
    assert [order.order_id for order in seen] == ["a", "b"]


def test_json_failing_validation_names_the_field_not_the_value():
    handler, _ = recording()
    event = sqs_event([json.dumps({"order_id": "a", "total": "secret-value"}), good("b")])
    ids = sqs_ids(event)
    result = accounted(handler, event, ids)
    assert result.failed_ids == [ids[0]]
    error = result.failures[0].error
    assert isinstance(error, ParseError)
    assert "total" in str(error)
    assert "secret-value" not in str(error)


@pytest.mark.parametrize(("model", "expected"), [(None, ""), (str, "")])
def test_empty_body_is_empty_text_for_untyped_models(model: Any, expected: Any):
    handler, seen = recording(model)
    event = sqs_event([""])
    accounted(handler, event, sqs_ids(event), seen)
    assert seen[0] == expected


def test_empty_body_with_a_model_is_a_parse_error_saying_empty():
    handler, _ = recording()
    event = sqs_event(["", good("b")])
    ids = sqs_ids(event)
    result = accounted(handler, event, ids)
    assert result.failed_ids == [ids[0]]
    assert isinstance(result.failures[0].error, ParseError)
    assert "empty" in str(result.failures[0].error)


def _sized(build: Callable[[str], str], size: int = SQS_MAX_BODY) -> str:
    body = build("")
    body = build("x" * (size - len(body.encode())))
    assert len(body.encode()) == size
    return body


def test_a_256_kb_body_is_processed():
    handler, seen = recording()
    body = _sized(lambda pad: json.dumps({"order_id": "big", "total": 1, "padding": pad}))
    event = sqs_event([body, good("b")])
    result = accounted(handler, event, sqs_ids(event), seen)
    assert result.failures == []
    assert seen[0] == Order(order_id="big", total=1)


@pytest.mark.parametrize(
    "build",
    [
        lambda pad: json.dumps({"order_id": "big", "total": pad}),
        lambda pad: "{" + pad,
        lambda pad: pad,
    ],
    ids=["invalid-field", "truncated-json", "not-json"],
)
def test_an_invalid_256_kb_body_fails_alone_with_a_short_error(build: Callable[[str], str]):
    handler, _ = recording()
    event = sqs_event([good("a"), _sized(build)])
    ids = sqs_ids(event)
    result = accounted(handler, event, ids)
    assert result.failed_ids == [ids[1]]
    error = result.failures[0].error
    assert isinstance(error, ParseError)
    assert len(str(error)) < 500
    assert "xxxxxxxxxx" not in str(error)


@pytest.mark.parametrize("body", [None, 42, {"order_id": "a"}, ["a"]], ids=["none", "int", "dict", "list"])
def test_sqs_body_that_is_not_a_string_fails_that_record(body: Any):
    handler, _ = recording(None)
    bad = sqs_record("placeholder")
    bad["body"] = body
    event = sqs_event([bad, sqs_record(good("b"))])
    ids = sqs_ids(event)
    result = accounted(handler, event, ids)
    assert result.failed_ids == [ids[0]]
    assert isinstance(result.failures[0].error, ParseError)


def test_sqs_record_without_body_fails_that_record():
    handler, _ = recording(None)
    bad = sqs_record("placeholder")
    del bad["body"]
    event = sqs_event([bad, sqs_record(good("b"))])
    ids = sqs_ids(event)
    result = accounted(handler, event, ids)
    assert result.failed_ids == [ids[0]]
    assert "body" in str(result.failures[0].error)


# --------------------------------------------------------------------------------------------------
# Kinesis data


@pytest.mark.parametrize("model", [Order, list[int], str])
def test_non_utf8_kinesis_data_with_a_model_is_a_parse_error_mentioning_utf8(model: Any):
    handler, seen = recording(model)
    event = kinesis_event([b"\xff\xfe\x00 not utf-8"])
    result = accounted(handler, event, kinesis_ids(event), seen)
    (failure,) = result.failures
    assert isinstance(failure.error, ParseError)
    assert "UTF-8" in str(failure.error)
    assert seen == []


@pytest.mark.parametrize("model", [None, bytes])
def test_non_utf8_kinesis_data_is_bytes_for_untyped_and_bytes_models(model: Any):
    handler, seen = recording(model)
    event = kinesis_event([b"\xff\xfe\x00"])
    result = accounted(handler, event, kinesis_ids(event), seen)
    assert result.failures == []
    assert seen == [b"\xff\xfe\x00"]


def test_invalid_base64_kinesis_data_fails_there_and_stops_the_stream():
    handler, seen = recording()
    records = [kinesis_record(good(str(i))) for i in range(4)]
    records[1]["kinesis"]["data"] = "%%% not base64 %%%"
    event = kinesis_event(records)
    ids = kinesis_ids(event)
    result = accounted(handler, event, ids, seen)
    assert result.failed_ids == ids[1:]
    assert isinstance(result.failures[0].error, ParseError)
    assert "base64" in str(result.failures[0].error)
    assert all(isinstance(failure.error, NotStartedError) for failure in result.failures[1:])
    assert [order.order_id for order in seen] == ["0"]


def test_kinesis_record_without_data_fails_there():
    handler, _ = recording()
    records = [kinesis_record(good("0")), kinesis_record(good("1"))]
    del records[0]["kinesis"]["data"]
    event = kinesis_event(records)
    ids = kinesis_ids(event)
    result = accounted(handler, event, ids)
    assert result.failed_ids == ids
    assert isinstance(result.failures[0].error, ParseError)


# --------------------------------------------------------------------------------------------------
# DynamoDB images


def test_dynamodb_unknown_attribute_type_fails_there_and_stops_the_stream():
    handler, seen = recording(None)
    records = [dynamodb_record({"id": str(i)}) for i in range(3)]
    records[1]["dynamodb"]["NewImage"]["weird"] = {"XX": "1"}
    event = dynamodb_event(records)
    ids = dynamodb_ids(event)
    result = accounted(handler, event, ids, seen)
    assert result.failed_ids == ids[1:]
    assert isinstance(result.failures[0].error, ParseError)
    assert "XX" in str(result.failures[0].error)
    assert seen == [{"id": "0"}]


def test_dynamodb_record_without_change_data_fails():
    handler, _ = recording(None)
    records = [dynamodb_record({"id": "0"}), dynamodb_record({"id": "1"})]
    del records[0]["dynamodb"]["NewImage"]
    del records[0]["dynamodb"]["Keys"]
    event = dynamodb_event(records)
    ids = dynamodb_ids(event)
    result = accounted(handler, event, ids)
    assert result.failed_ids == ids
    assert isinstance(result.failures[0].error, ParseError)


# --------------------------------------------------------------------------------------------------
# SNS and EventBridge envelopes


def test_sns_envelope_with_non_json_message_and_a_model_fails_that_record():
    handler, seen = recording()
    event = sns_to_sqs_event(["plain words", good("b")])
    ids = sqs_ids(event)
    result = accounted(handler, event, ids, seen)
    assert result.failed_ids == [ids[0]]
    assert isinstance(result.failures[0].error, ParseError)
    assert [order.order_id for order in seen] == ["b"]


def test_sns_envelope_with_non_json_message_is_text_for_untyped_models():
    handler, seen = recording(None)
    event = sns_to_sqs_event(["plain words"])
    accounted(handler, event, sqs_ids(event), seen)
    assert seen[0] == "plain words"

    direct, direct_seen = recording(None)
    assert direct(sns_event(["plain words"]), LambdaContext()) is None
    assert direct_seen == ["plain words"]


def test_sns_to_lambda_non_json_message_with_a_model_raises_parse_error():
    handler, _ = recording()
    event = sns_event(["plain words"])
    result = accounted(handler, event, [event["Records"][0]["Sns"]["MessageId"]])
    assert isinstance(result.failures[0].error, ParseError)
    with pytest.raises(ParseError):
        handler(event, LambdaContext())


def test_sns_envelope_whose_message_is_not_a_string_fails_that_record():
    handler, _ = recording(None)
    envelope = sns_envelope("x")
    envelope["Message"] = {"already": "an object"}
    event = sqs_event([json.dumps(envelope), good("b")])
    ids = sqs_ids(event)
    result = accounted(handler, event, ids)
    assert result.failed_ids == [ids[0]]
    assert isinstance(result.failures[0].error, ParseError)

    record = sns_record("x")
    del record["Sns"]["Message"]
    with pytest.raises(ParseError):
        handler({"Records": [record]}, LambdaContext())


def test_eventbridge_event_without_detail_fails_the_invocation_naming_the_event():
    handler, seen = recording()
    event = eventbridge_event({"order_id": "a", "total": 1}, event_id="evt-without-detail")
    del event["detail"]
    result = accounted(handler, event, ["evt-without-detail"], seen)
    assert isinstance(result.failures[0].error, ParseError)
    with pytest.raises(ParseError, match="evt-without-detail"):
        handler(event, LambdaContext())
    assert seen == []


def test_eventbridge_event_without_detail_in_sqs_fails_only_that_record():
    handler, seen = recording()
    broken = eventbridge_event({"order_id": "a", "total": 1}, event_id="evt-without-detail")
    del broken["detail"]
    fine = eventbridge_event({"order_id": "b", "total": 1})
    event = sqs_event([json.dumps(broken), json.dumps(fine)])
    ids = sqs_ids(event)
    result = accounted(handler, event, ids, seen)
    assert result.failed_ids == [ids[0]]
    assert "evt-without-detail" in str(result.failures[0].error)
    assert [order.order_id for order in seen] == ["b"]


# --------------------------------------------------------------------------------------------------
# Mixed batches


def test_a_mixed_batch_reports_only_the_bad_records():
    @worker(Order, concurrency=3)
    def handler(order: Order) -> None:
        if order.order_id == "raises":
            raise ConnectionError("dependency down")
        if order.order_id == "permanent":
            raise PermanentError("never going to work")

    bodies = [
        good("a"),
        "garbage",
        good("b"),
        json.dumps({"order_id": "c"}),
        good("raises"),
        "",
        good("permanent"),
        good("d"),
    ]
    event = sqs_event(bodies)
    ids = sqs_ids(event)
    result = accounted(handler, event, ids)
    assert result.failed_ids == [ids[i] for i in (1, 3, 4, 5, 6)]
    assert [type(failure.error).__name__ for failure in result.failures] == [
        "ParseError",
        "ParseError",
        "ConnectionError",
        "ParseError",
        "PermanentError",
    ]
    assert result.succeeded_ids == [ids[i] for i in (0, 2, 7)]


def test_a_mixed_fifo_batch_reports_bad_records_and_the_rest_of_their_group():
    handler, seen = recording()
    bodies = [good("a0"), "garbage", good("a1"), good("b1"), good("c0")]
    event = sqs_event(bodies, group_ids=["a", "b", "a", "b", "c"])
    ids = sqs_ids(event)
    result = accounted(handler, event, ids, seen)
    assert result.failed_ids == [ids[1], ids[3]]
    assert isinstance(result.failures[0].error, ParseError)
    assert isinstance(result.failures[1].error, NotStartedError)


def test_permanent_error_from_the_record_function_fails_that_record():
    raised = PermanentError("customer c-1 does not exist")

    @worker(Order)
    def handler(order: Order) -> None:
        if order.order_id == "bad":
            raise raised

    event = sqs_event([good("ok"), good("bad"), good("ok2")])
    ids = sqs_ids(event)
    result = accounted(handler, event, ids)
    assert result.failed_ids == [ids[1]]
    assert result.failures[0].error is raised
    assert result.failures[0].started


# --------------------------------------------------------------------------------------------------
# Batches and events msgworker cannot take


def test_empty_records_list_reports_nothing():
    handler, seen = recording()
    assert handler({"Records": []}, LambdaContext()) == {"batchItemFailures": []}
    result = handler.run({"Records": []}, LambdaContext())
    assert result.failures == [] and result.succeeded_ids == []
    assert seen == []


@pytest.mark.parametrize(
    ("event", "named"),
    [
        ({"detail": {"x": 1}, "source": "s"}, ["detail", "source"]),
        ({}, ["keys []"]),
        ([{"Records": []}], ["list"]),
        ("Records", ["str"]),
        (None, ["NoneType"]),
        (42, ["int"]),
        ({"Records": "not a list"}, ["'Records' is a str"]),
        ({"Records": {"0": {}}}, ["'Records' is a dict"]),
        ({"Records": [{"eventSource": "aws:codecommit", "codecommit": {}}]}, ["aws:codecommit"]),
        ({"eventSource": "aws:kafka", "records": ["not", "by", "partition"]}, ["eventSource", "records"]),
        ({"Records": [{"EventSource": "aws:ses", "ses": {}}]}, ["aws:ses"]),
        ({"Records": [{"body": "x", "messageId": "m"}]}, ["None", "body", "messageId"]),
        ({"Records": ["a string record"]}, ["str"]),
    ],
    ids=[
        "keys",
        "empty-dict",
        "list",
        "string",
        "none",
        "int",
        "records-str",
        "records-dict",
        "codecommit",
        "kafka-records-not-by-partition",
        "ses",
        "no-event-source",
        "record-not-object",
    ],
)
def test_unknown_event_shape_fails_the_invocation_naming_what_it_saw(event: Any, named: list[str]):
    handler, seen = recording()
    with pytest.raises(UnrecognisedEventError) as caught:
        handler(event, LambdaContext())
    for word in named:
        assert word in str(caught.value)
    if word.startswith("aws:"):  # a source msgworker has none for: forcing one would not help
        assert "has no source for" in str(caught.value) and "envelope" not in str(caught.value)
    else:
        assert "envelope" in str(caught.value)  # says how to force a source
    with pytest.raises(UnrecognisedEventError):
        handler.run(event, LambdaContext())
    assert seen == []


def test_sqs_record_without_message_id_that_fails_fails_the_invocation():
    handler, _seen = recording()
    anonymous = sqs_record("garbage")
    del anonymous["messageId"]
    event = sqs_event([sqs_record(good("a")), anonymous])
    result = handler.run(event, LambdaContext())
    assert result.failed_ids == [None]
    assert result.succeeded_ids == [event["Records"][0]["messageId"]]
    with pytest.raises(BatchReportError, match="no id"):
        handler(event, LambdaContext())
    with pytest.raises(BatchReportError):
        result.response()


def test_sqs_record_without_message_id_that_succeeds_is_fine():
    handler, seen = recording()
    anonymous = sqs_record(good("anon"))
    del anonymous["messageId"]
    failing = sqs_record("garbage")
    event = sqs_event([anonymous, failing])
    result = accounted(handler, event, sqs_ids(event), seen)
    assert result.failed_ids == [failing["messageId"]]
    assert result.succeeded_ids == [None]
    assert reported(handler(event, LambdaContext())) == [failing["messageId"]]


def test_stream_record_without_sequence_number_that_fails_fails_the_invocation():
    handler, _ = recording()
    records = [kinesis_record(good("0")), kinesis_record("garbage")]
    del records[1]["kinesis"]["sequenceNumber"]
    with pytest.raises(BatchReportError):
        handler(kinesis_event(records), LambdaContext())


def test_record_of_another_source_inside_an_sqs_batch_fails_the_invocation():
    handler, _ = recording(None)
    event = {"Records": [sqs_record(good("a")), kinesis_record(good("b"))]}
    with pytest.raises(MsgworkerError):
        handler(event, LambdaContext())


@pytest.mark.parametrize("fifo", [False, True], ids=["standard", "fifo"])
@pytest.mark.parametrize("junk", [None, "a string"], ids=["none", "str"])
def test_non_object_record_after_the_first_fails_the_invocation_with_a_msgworker_error(fifo: bool, junk: Any):
    """Not a shape AWS sends, but the invocation should fail with msgworker's own clear error
    (naming the bad record), not an AttributeError from deep inside."""
    handler, _ = recording(None)
    first = sqs_record(good("a"), queue="q.fifo" if fifo else "q")
    with pytest.raises(MsgworkerError):
        handler({"Records": [first, junk]}, LambdaContext())


def test_base64_of_event_data_is_checked_strictly():
    """Data with characters outside the base64 alphabet is not silently skipped over."""
    handler, seen = recording(bytes)
    record = kinesis_record(b"abc")
    record["kinesis"]["data"] = base64.b64encode(b"abc").decode() + "*"
    result = accounted(handler, kinesis_event([record]), [record["kinesis"]["sequenceNumber"]], seen)
    assert isinstance(result.failures[0].error, ParseError)
    assert seen == []
