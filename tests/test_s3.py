"""S3 event notifications: in SQS bodies (directly and through SNS), straight to Lambda and
through EventBridge; URL-decoded keys, several S3 records in one SQS message, s3:TestEvent."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from typing import Any

import pytest
from conftest import load_event
from hypothesis import given, settings
from hypothesis import strategies as st
from test_sources import collector, reported

from msgworker import Message, PermanentError, worker
from msgworker.cli import main
from msgworker.errors import NotStartedError, ParseError
from msgworker.idempotency import InMemoryStore, idempotent
from msgworker.routing import Router
from msgworker.sources.s3 import S3EventBridgeDetail, S3EventRecord
from msgworker.testing import (
    LambdaContext,
    ManualClock,
    eventbridge_to_sqs_event,
    s3_eventbridge_event,
    s3_notification,
    s3_record,
    s3_test_event,
    s3_to_sqs_event,
    sns_event,
    sqs_event,
)

# --------------------------------------------------------------------------------------------------
# S3 → SQS: the payload is the S3 record, the Message names the object


def test_an_s3_notification_in_an_sqs_body_gives_the_record_and_the_object() -> None:
    handler, seen = collector()
    record = s3_record("photos", "2026/summer trip+beach (1).jpg", size=2048)
    event = s3_to_sqs_event([s3_notification([record])], queue="uploads")
    assert handler(event, LambdaContext()) == {"batchItemFailures": []}
    ((payload, message),) = seen
    assert payload == record
    assert message.source == "sqs" and message.envelope_names == ("sqs", "s3")
    assert message.id == event["Records"][0]["messageId"]
    assert (message.bucket, message.key, message.size) == ("photos", "2026/summer trip+beach (1).jpg", 2048)
    assert message.event_name == "ObjectCreated:Put"
    assert isinstance(message.event_time, datetime)
    assert message.raw is event["Records"][0]


@pytest.mark.parametrize(
    ("in_event", "key"),
    [
        ("a+b.txt", "a b.txt"),
        ("a%2Bb.txt", "a+b.txt"),
        ("caf%C3%A9%20%26%20bar", "café & bar"),
        ("plain/key", "plain/key"),
    ],
)
def test_keys_are_url_decoded_as_aws_requires(in_event: str, key: str) -> None:
    handler, seen = collector()
    record = s3_record("b", "x")
    record["s3"]["object"]["key"] = in_event
    handler(s3_to_sqs_event([s3_notification([record])]), LambdaContext())
    assert seen[0][1].key == key
    assert S3EventRecord.model_validate(record).s3.object.key == key


def test_a_delete_event_has_no_size() -> None:
    handler, seen = collector()
    handler(
        s3_to_sqs_event([s3_notification([s3_record("b", "k", event_name="ObjectRemoved:Delete")])]), LambdaContext()
    )
    assert (seen[0][1].event_name, seen[0][1].size) == ("ObjectRemoved:Delete", None)


def test_typed_models_validate_records_and_eventbridge_details() -> None:
    handler, seen = collector(S3EventRecord)
    handler(
        s3_to_sqs_event([s3_notification([s3_record("photos", "a b.jpg", size=5, version_id="v1")])]), LambdaContext()
    )
    record = seen[0][0]
    assert isinstance(record, S3EventRecord)
    assert (record.s3.bucket.name, record.s3.object.key, record.s3.object.size) == ("photos", "a b.jpg", 5)
    assert record.s3.object.version_id == "v1" and record.event_time.year >= 2026
    detail_handler, details = collector(S3EventBridgeDetail)
    detail_handler(s3_eventbridge_event("photos", "c d.jpg", size=9), LambdaContext())
    assert (details[0][0].bucket.name, details[0][0].object.key, details[0][0].reason) == (
        "photos",
        "c d.jpg",
        "PutObject",
    )


def test_a_body_that_only_looks_like_s3_stays_the_users_json() -> None:
    handler, seen = collector()
    bodies = [{"url": "s3://bucket/key"}, {"Records": [{"eventSource": "aws:s3"}]}, {"Event": "s3:TestEvent"}]
    handler(sqs_event([json.dumps(body) for body in bodies]), LambdaContext())
    assert [payload for payload, _ in seen] == bodies
    assert {message.envelope_names for _, message in seen} == {("sqs",)}


# --------------------------------------------------------------------------------------------------
# Several S3 records in one SQS message: one call each, the message is the unit reported


def test_each_s3_record_of_a_message_is_its_own_call_and_the_message_fails_if_any_did() -> None:
    calls: list[str] = []

    @worker
    def handler(record: dict[str, Any], message: Message) -> None:
        calls.append(str(message.key))
        if message.key == "bad":
            raise RuntimeError("cannot copy")

    event = s3_to_sqs_event(
        [
            s3_notification([s3_record("b", "a1"), s3_record("b", "bad"), s3_record("b", "a3")]),
            s3_notification([s3_record("b", "b1"), s3_record("b", "b2")]),
        ]
    )
    assert reported(handler(event, LambdaContext())) == [event["Records"][0]["messageId"]]
    assert calls == ["a1", "bad", "a3", "b1", "b2"]  # a3 still ran: the records are independent


def test_a_transient_failure_beside_a_permanent_one_keeps_the_message_retryable() -> None:
    @worker
    def handler(record: dict[str, Any], message: Message) -> None:
        if message.key == "permanent":
            raise PermanentError("unsupported file type")
        if message.key == "transient":
            raise ConnectionError("storage unreachable")

    event = s3_to_sqs_event([s3_notification([s3_record("b", "permanent"), s3_record("b", "transient")])])
    (failure,) = handler.run(event, LambdaContext()).failures
    assert isinstance(failure.error, ConnectionError)  # not dead-lettered as permanent: it may yet succeed


def test_with_idempotency_a_redelivered_message_redoes_only_the_failed_record() -> None:
    effects: list[str] = []
    broken = {"b2"}

    @worker
    @idempotent(key=lambda record, message: f"{message.bucket}/{message.key}", store=InMemoryStore(), name="copy")
    def handler(record: dict[str, Any], message: Message) -> None:
        if message.key in broken:
            raise ConnectionError("storage unreachable")
        effects.append(str(message.key))

    event = s3_to_sqs_event([s3_notification([s3_record("b", "b1"), s3_record("b", "b2"), s3_record("b", "b3")])])
    assert reported(handler(event, LambdaContext())) == [event["Records"][0]["messageId"]]
    broken.clear()
    assert handler(event, LambdaContext()) == {"batchItemFailures": []}  # SQS delivers the message again
    assert effects == ["b1", "b3", "b2"]


messages = st.lists(
    st.lists(st.booleans(), min_size=1, max_size=4), min_size=1, max_size=8
)  # per message: does each record fail?


@settings(max_examples=100, deadline=None)
@given(plan=messages, concurrency=st.sampled_from([1, 3]))
def test_a_message_is_reported_iff_one_of_its_s3_records_failed(plan: list[list[bool]], concurrency: int) -> None:
    failing = {f"m{m}-r{r}" for m, flags in enumerate(plan) for r, fails in enumerate(flags) if fails}
    calls: list[str] = []

    @worker(concurrency=concurrency)
    def handler(record: dict[str, Any], message: Message) -> None:
        calls.append(str(message.key))
        if message.key in failing:
            raise RuntimeError("fails")

    notifications = [
        s3_notification([s3_record("b", f"m{m}-r{r}") for r in range(len(flags))]) for m, flags in enumerate(plan)
    ]
    event = s3_to_sqs_event(notifications)
    ids = [record["messageId"] for record in event["Records"]]
    assert sorted(reported(handler(event, LambdaContext()))) == sorted(
        ids[m] for m, flags in enumerate(plan) if any(flags)
    )
    assert sorted(calls) == sorted(f"m{m}-r{r}" for m, flags in enumerate(plan) for r in range(len(flags)))


# --------------------------------------------------------------------------------------------------
# s3:TestEvent, SNS in between, forcing the envelope


def test_a_test_event_is_acknowledged_without_a_call() -> None:
    handler, seen = collector()
    event = s3_to_sqs_event([s3_test_event("photos"), s3_notification([s3_record("photos", "k")])])
    assert handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert [message.key for _, message in seen] == ["k"]
    forced, forced_seen = collector(envelope="s3")
    assert forced(event, LambdaContext()) == {"batchItemFailures": []}
    assert len(forced_seen) == 1


def test_s3_through_sns_to_sqs_unwraps_both() -> None:
    handler, seen = collector()
    event = s3_to_sqs_event([s3_notification([s3_record("b", "via sns")])], via_sns=True, topic="uploads")
    handler(event, LambdaContext())
    ((payload, message),) = seen
    assert message.envelope_names == ("sqs", "sns", "s3")
    assert (message.key, message.topic_arn) == ("via sns", "arn:aws:sns:us-east-1:123456789012:uploads")
    assert payload["eventSource"] == "aws:s3"
    sns_only, sns_seen = collector(envelope="sns")  # forced: stop at the SNS message
    sns_only(event, LambdaContext())
    assert sns_seen[0][1].envelope_names == ("sqs", "sns")
    assert sns_seen[0][0]["Records"][0]["s3"]["object"]["key"] == "via+sns"


def test_forcing_s3_on_a_body_that_is_not_s3_fails_that_record() -> None:
    handler, seen = collector(envelope="s3")
    event = sqs_event([json.dumps({"order_id": "o-1"}), json.dumps(s3_notification([s3_record("b", "k")]))])
    result = handler.run(event, LambdaContext())
    (failure,) = result.failures
    assert failure.id == event["Records"][0]["messageId"]
    assert isinstance(failure.error, ParseError) and "envelope='s3'" in str(failure.error)
    assert [message.key for _, message in seen] == ["k"]


# --------------------------------------------------------------------------------------------------
# EventBridge and S3 → Lambda


def test_eventbridge_object_created_gives_the_detail_and_the_object() -> None:
    handler, seen = collector()
    event = s3_eventbridge_event("photos", "2026/a b.jpg", size=77)
    assert handler(event, LambdaContext()) is None
    ((payload, message),) = seen
    assert payload == event["detail"]
    assert message.source == "eventbridge" and message.envelope_names == ("eventbridge", "s3")
    assert (message.bucket, message.key, message.size, message.event_name) == (
        "photos",
        "2026/a b.jpg",
        77,
        "Object Created",
    )
    assert (message.event_source, message.detail_type) == ("aws.s3", "Object Created")
    queued, queued_seen = collector()
    assert queued(eventbridge_to_sqs_event([event]), LambdaContext()) == {"batchItemFailures": []}
    assert queued_seen[0][1].envelope_names == ("sqs", "eventbridge", "s3")
    assert queued_seen[0][1].key == "2026/a b.jpg"


def test_s3_straight_to_lambda_raises_on_failure_so_lambda_retries() -> None:
    @worker
    def handler(record: dict[str, Any], message: Message) -> None:
        if message.key == "bad":
            raise RuntimeError("cannot process")

    assert handler(s3_notification([s3_record("b", "ok")]), LambdaContext()) is None
    with pytest.raises(RuntimeError):  # its message withheld: it may quote the payload
        handler(s3_notification([s3_record("b", "bad")]), LambdaContext())
    result = handler.run(s3_notification([s3_record("b", "ok"), {"eventSource": "aws:s3"}]), LambdaContext())
    assert "S3 record has no 's3' object" in str(result.failures[0].error)


def test_sample_events() -> None:
    handler, seen = collector()
    handler(load_event("s3/uploads-to-sqs.json"), LambdaContext())
    assert [m.key for _, m in seen] == [
        "reports/2026 Q3/summary (final).pdf",
        "photos/café.jpg",
    ]  # the TestEvent: no call
    seen.clear()
    handler(load_event("s3/uploads-via-sns-to-sqs.json"), LambdaContext())
    assert [(m.envelope_names, m.key) for _, m in seen] == [(("sqs", "sns", "s3"), "invoices/2026/inv 0042.pdf")]
    seen.clear()
    handler(load_event("s3/object-created.json"), LambdaContext())
    assert [(m.bucket, m.key, m.size) for _, m in seen] == [("msgworker-uploads", "photos/2026/beach day.jpg", 5)]


def test_msgworker_event_prints_s3_events_the_worker_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    handler, seen = collector()
    for argv in (
        ["s3-sqs", "--object", "a b.txt", "--object", "c"],
        ["s3-sqs", "--sns"],
        ["s3-eventbridge", "--name", "pics"],
    ):
        assert main(["event", *argv]) == 0
        handler(json.loads(capsys.readouterr().out), LambdaContext())
    assert [(m.bucket, m.key) for _, m in seen] == [
        ("msgworker-uploads", "a b.txt"),
        ("msgworker-uploads", "c"),
        ("msgworker-uploads", "uploads/report.pdf"),
        ("pics", "uploads/report.pdf"),
    ]


def test_out_of_time_inside_a_message_leaves_the_rest_unstarted_and_the_message_failed() -> None:
    clock = ManualClock()
    calls: list[str] = []

    @worker(clock=clock, timeout_margin=1.0)
    def handler(record: dict[str, Any], message: Message) -> None:
        calls.append(str(message.key))
        clock.advance(5)  # a slow copy: the Lambda is now within its margin

    event = s3_to_sqs_event([s3_notification([s3_record("b", "k1"), s3_record("b", "k2")])])
    result = handler.run(event, LambdaContext(timeout=5, clock=clock))
    assert calls == ["k1"]
    (failure,) = result.failures
    assert isinstance(failure.error, NotStartedError) and failure.error.reason == "deadline"


def test_s3_through_sns_straight_to_lambda_unwraps_the_notification_too() -> None:
    handler, seen = collector()
    notification = json.dumps(s3_notification([s3_record("b", "one"), s3_record("b", "two")]))
    assert handler(sns_event([notification, json.dumps({"not": "s3"})]), LambdaContext()) is None
    assert [(m.source, m.envelope_names, m.key) for _, m in seen] == [
        ("sns", ("sns", "s3"), "one"),
        ("sns", ("sns", "s3"), "two"),
        ("sns", ("sns",), None),
    ]


def test_routes_match_s3_records_and_s3_eventbridge_events() -> None:
    seen: list[tuple[str, Any]] = []
    router = Router()

    @router.route({"eventName": [{"prefix": "ObjectRemoved:"}]})
    def removed(record: Any, message: Message) -> None:
        seen.append(("removed", message.key))

    @router.route({"source": ["aws.s3"], "detail-type": ["Object Created"]})
    def created_via_eventbridge(detail: Any, message: Message) -> None:
        seen.append(("created_via_eventbridge", message.key))

    @router.route()
    def rest(record: Any, message: Message) -> None:
        seen.append(("rest", message.key))

    handler = worker(router)
    notification = s3_notification([s3_record("b", "old", event_name="ObjectRemoved:Delete"), s3_record("b", "new")])
    handler(s3_to_sqs_event([notification]), LambdaContext())
    handler(s3_eventbridge_event("b", "via eb"), LambdaContext())
    assert seen == [("removed", "old"), ("rest", "new"), ("created_via_eventbridge", "via eb")]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(["s3", "aws:s3", "s3:TestEvent", "Amazon S3", "x"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["s3", "Records", "Event", "eventSource", "k"]), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(payload=st.dictionaries(st.sampled_from(["Records", "Event", "Service", "s3", "note"]), json_values, max_size=3))
def test_user_json_mentioning_s3_is_unwrapped_only_when_it_is_a_notification(payload: dict[str, Any]) -> None:
    handler, seen = collector()
    handler(sqs_event([json.dumps(payload)]), LambdaContext())
    records = payload.get("Records")
    notification = (
        isinstance(records, list)
        and bool(records)
        and all(
            isinstance(r, dict) and r.get("eventSource") == "aws:s3" and isinstance(r.get("s3"), dict) for r in records
        )
    )
    test_event = payload.get("Event") == "s3:TestEvent" and payload.get("Service") == "Amazon S3"
    if notification:
        assert [p for p, _ in seen] == records
    elif test_event:
        assert seen == []
    else:
        assert [(p, m.envelope_names) for p, m in seen] == [(payload, ("sqs",))]


def test_a_plain_handler_loads_neither_the_s3_models_nor_fastavro() -> None:
    code = (
        "import sys, msgworker\n"
        "from msgworker.testing import LambdaContext, kafka_event, s3_notification, s3_record, s3_to_sqs_event\n"
        "handler = msgworker.worker(lambda payload: None)\n"
        "handler(s3_to_sqs_event([s3_notification([s3_record('b', 'k')])]), LambdaContext())\n"
        "handler(kafka_event([b'x']), LambdaContext())\n"
        "print(sorted(m for m in ('msgworker.sources._s3_models', 'fastavro') if m in sys.modules))\n"
        "from msgworker.sources.s3 import S3EventRecord\n"
        "print('msgworker.sources._s3_models' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split("\n")[:2] == ["[]", "True"], result.stdout + result.stderr
