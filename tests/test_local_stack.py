"""The local runtime's delivery semantics, through ``msgworker.testing.local_stack``.

One stack of tests/local_stack/template.yaml serves the module (starting one takes about
a second); each test uses its own queues, topics' filter values or streams, and reads only
the invocations its own messages caused. Queues, topics, buses, tables and streams are
moto's (its server on loopback); redrive to the DLQ after ``maxReceiveCount`` is moto's
own, which follows SQS (moved on the receive after the last allowed one).
"""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from msgworker.local import Invocation, LocalStack
from msgworker.testing import local_stack

TEMPLATE = Path(__file__).parent / "local_stack" / "template.yaml"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with local_stack(TEMPLATE, parameter_overrides={"MaxReceiveCount": 2}) as running:
        yield running


def of(stack: LocalStack, function: str, source: str) -> list[Invocation]:
    return [i for i in stack.invocations(function) if i.source == f"{function}.{source}"]


def bodies(invocation: Invocation) -> list[Any]:
    return [json.loads(record["body"]) for record in invocation.event["Records"]]


def queue_messages(stack: LocalStack, queue: str) -> list[dict[str, Any]]:
    """Everything in a queue nothing consumes (received and deleted)."""
    sqs, url, found = stack.client("sqs"), stack.url(queue), []
    while True:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], AttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        found.extend(messages)


# -- SQS event source mappings --------------------------------------------------------


def test_only_failed_records_come_back_with_a_rising_receive_count_until_the_dlq(stack: LocalStack) -> None:
    done = stack.send("JobsQueue", {"kind": "job", "n": 1})
    failing = stack.send("JobsQueue", {"kind": "job", "n": 2, "fail": True})
    stack.drain(timeout=30)

    seen: dict[str, list[int]] = {}
    for invocation in of(stack, "PartialFunction", "Jobs"):
        for record in invocation.event["Records"]:
            seen.setdefault(record["messageId"], []).append(int(record["attributes"]["ApproximateReceiveCount"]))
    assert seen[done] == [1]
    assert seen[failing] == [1, 2]  # MaxReceiveCount 2: the third receive moved it
    [letter] = [letter for letter in stack.dead_letters("JobsQueue") if letter.message_id == failing]
    assert letter.json() == {"kind": "job", "n": 2, "fail": True}
    assert stack.status().queues[0].visible == 0


def test_records_no_filter_matches_are_deleted_without_an_invocation(stack: LocalStack) -> None:
    other = stack.send("JobsQueue", {"kind": "other"})
    stack.drain(timeout=30)
    ids = {r["messageId"] for i in stack.invocations("PartialFunction") for r in i.event["Records"]}
    assert other not in ids
    assert other not in {letter.message_id for letter in stack.dead_letters("JobsQueue")}
    assert next(q for q in stack.status().queues if q.queue == "JobsQueue").in_flight == 0


def test_without_report_batch_item_failures_one_failure_fails_the_whole_batch(stack: LocalStack) -> None:
    good = stack.send("PlainQueue", {"n": 1})
    bad = stack.send("PlainQueue", {"n": 2, "fail": True})
    stack.drain(timeout=30)
    invocations = of(stack, "RaisingFunction", "Plain")
    assert [sorted(r["messageId"] for r in i.event["Records"]) for i in invocations] == [sorted([good, bad])] * 2
    assert all(i.failed for i in invocations)
    assert {letter.message_id for letter in stack.dead_letters("PlainQueue")} >= {good, bad}


def test_the_batching_window_gathers_messages_up_to_batch_size(stack: LocalStack) -> None:
    for n in range(7):
        stack.send("WindowQueue", {"n": n})
    stack.drain(timeout=30)
    sizes = [len(i.event["Records"]) for i in of(stack, "PartialFunction", "Window")]
    assert sizes == [5, 2]


def test_fifo_groups_run_in_order_and_a_failure_holds_the_rest_of_its_group(stack: LocalStack) -> None:
    for n, group, fail in [(1, "a", False), (2, "a", True), (3, "a", False), (4, "b", False), (5, "b", False)]:
        stack.send("OrderedQueue", {"n": n, "fail": fail}, group_id=group)
    stack.drain(timeout=30)
    order_a: list[int] = []
    for invocation in of(stack, "OrderedFunction", "Ordered"):
        numbers = {r["messageId"]: json.loads(r["body"])["n"] for r in invocation.event["Records"]}
        in_a = [n for n in numbers.values() if n <= 3]
        assert in_a == sorted(in_a)  # each batch carries a group in send order
        order_a.extend(in_a)
        failed = {numbers[f["itemIdentifier"]] for f in invocation.response["batchItemFailures"]}
        if 2 in numbers.values():
            assert {n for n in in_a if n >= 2} <= failed  # nothing after 2 ran while 2 was there
    assert list(dict.fromkeys(order_a)) == [1, 2, 3]
    # 3 waits behind 2 and may use up its receives too (SQS counts a receive whether or not
    # the function got to the record): it is in the DLQ or ran after 2 left.
    letters = [letter.json()["n"] for letter in stack.dead_letters("OrderedQueue")]
    assert letters in ([2], [2, 3])
    group_b = [body["n"] for i in of(stack, "OrderedFunction", "Ordered") for body in bodies(i) if body["n"] > 3]
    assert group_b == [4, 5]


def test_maximum_concurrency_caps_the_batches_running_at_once(stack: LocalStack) -> None:
    for n in range(8):
        stack.send("WideQueue", {"n": n})
    stack.drain(timeout=30)
    probe = sys.modules["probe"]
    assert len(of(stack, "SlowFunction", "Wide")) == 8
    assert 1 <= probe.most_running <= 2


def test_an_invocation_over_the_reserved_concurrency_is_throttled_and_its_batch_comes_back(stack: LocalStack) -> None:
    probe = sys.modules["probe"]
    first = stack.send("GatedQueue", {"n": 1})
    second = stack.send("GatedQueue", {"n": 2})
    # The first invocation holds the one reserved slot until the gate opens; the second
    # batch (MaximumConcurrency 2) arrives meanwhile and is throttled.
    waited = 0
    while next(f for f in stack.status().functions if f.function == "ReservedFunction").throttles == 0:
        assert waited < 3000, "no throttle was seen"
        waited += 1
        time.sleep(0.01)
    probe.gate.set()
    stack.drain(timeout=30)
    ran = {r["messageId"] for i in stack.invocations("ReservedFunction") for r in i.event["Records"]}
    assert ran == {first, second}  # the throttled batch came back after its visibility timeout


def test_sends_take_plain_attribute_values_and_fifo_needs_a_group(stack: LocalStack) -> None:
    message = stack.send("JobsQueue", {"kind": "job"}, attributes={"s": "x", "n": 2, "b": b"\x00", "l": ["a"]})
    stack.drain(timeout=30)
    [record] = [
        r for i in stack.invocations("PartialFunction") for r in i.event["Records"] if r["messageId"] == message
    ]
    types = {name: value["dataType"] for name, value in record["messageAttributes"].items()}
    assert types == {"s": "String", "n": "Number", "b": "Binary", "l": "String.Array"}
    with pytest.raises(ValueError, match="FIFO queue: pass group_id"):
        stack.send("OrderedQueue", {"n": 1})


def test_drain_names_what_did_not_settle(stack: LocalStack) -> None:
    stack.send("WindowQueue", {"n": 0, "fail": True})  # no DLQ: it comes back for ever
    with pytest.raises(TimeoutError, match=r"(?s)WindowQueue +\d+ +\d+.*still going on: .*WindowQueue"):
        stack.drain(timeout=1)
    stack.client("sqs").purge_queue(QueueUrl=stack.url("WindowQueue"))
    stack.drain(timeout=30)


# -- SNS and EventBridge routing ------------------------------------------------------


def test_sns_delivers_by_filter_policy_enveloped_raw_and_to_functions(stack: LocalStack) -> None:
    stack.publish("EventsTopic", {"amount": 150}, subject="big")  # body policy: amount > 100
    stack.publish("EventsTopic", {"amount": 50}, attributes={"kind": "raw-1", "size": 3})  # raw, by attribute
    stack.publish("EventsTopic", {"amount": 1}, attributes={"kind": "direct"})  # the Lambda subscription
    stack.publish("EventsTopic", {"amount": 2}, attributes={"kind": "nobody"})
    stack.drain(timeout=30)

    [enveloped] = queue_messages(stack, "SubscriberQueue")
    envelope = json.loads(enveloped["Body"])
    assert (envelope["Type"], envelope["Subject"], json.loads(envelope["Message"])) == (
        "Notification",
        "big",
        {"amount": 150},
    )
    [raw] = queue_messages(stack, "RawSubscriberQueue")
    assert json.loads(raw["Body"]) == {"amount": 50}
    assert raw["MessageAttributes"]["size"] == {"DataType": "Number", "StringValue": "3"}
    [direct] = of(stack, "RaisingFunction", "Notified")
    record = direct.event["Records"][0]
    assert record["EventSource"] == "aws:sns" and json.loads(record["Sns"]["Message"]) == {"amount": 1}


def test_eventbridge_rules_route_with_input_path_and_input_transformer(stack: LocalStack) -> None:
    stack.put_event("Bus", source="tests", detail_type="Order", detail={"amount": 20})
    stack.put_event("Bus", source="tests", detail_type="Order", detail={"amount": 5})
    stack.put_event("Bus", source="tests", detail_type="Direct", detail={"id": "o-1", "fail": False})
    stack.drain(timeout=30)
    assert [json.loads(m["Body"]) for m in queue_messages(stack, "RuleTargetQueue")] == [{"amount": 20}]
    events = [i.event for i in of(stack, "RaisingFunction", "Routed")]
    assert events == [{"fail": False, "id": "o-1", "note": "order o-1"}]


def test_asynchronous_invocations_are_retried_then_dead_lettered(stack: LocalStack) -> None:
    stack.put_event("Bus", source="tests", detail_type="Direct", detail={"id": "o-2", "fail": True})
    stack.drain(timeout=30)
    attempts = [i for i in of(stack, "RaisingFunction", "Routed") if i.event.get("id") == "o-2"]
    assert [i.attempt for i in attempts] == [1, 2]  # MaximumRetryAttempts 1
    [letter] = [d for d in stack.dead_letters("RaisingFunction") if d.json().get("id") == "o-2"]
    assert letter.attributes["ErrorMessage"] == "the event asked to fail"


def test_an_on_failure_destination_receives_the_invocation_record(stack: LocalStack) -> None:
    stack.put_event("Bus", source="tests", detail_type="Destined", detail={"fail": True})
    stack.drain(timeout=30)
    [letter] = stack.dead_letters("DestinedFunction")
    record = letter.json()
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestPayload"]["detail"] == {"fail": True}
    assert record["responsePayload"]["errorType"] == "ValueError"


def test_an_event_older_than_maximum_event_age_is_not_retried_again(stack: LocalStack) -> None:
    stack.put_event("Bus", source="tests", detail_type="Aged", detail={"fail": True})
    stack.drain(timeout=30)
    # Retries come after 60 s, then 120 s: the second retry would be past the 90 s age limit.
    assert [i.attempt for i in of(stack, "AgedFunction", "Routed")] == [1, 2]
    [record] = [d.json() for d in stack.dead_letters("AgedFunction") if "requestPayload" in d.json()]
    assert record["requestContext"]["condition"] == "EventAgeExceeded"


# -- streams --------------------------------------------------------------------------


def put(stack: LocalStack, stream: str, payloads: list[dict[str, Any]]) -> list[str]:
    kinesis = stack.client("kinesis")
    return [
        kinesis.put_record(StreamName=stream, Data=json.dumps(p).encode(), PartitionKey="k")["SequenceNumber"]
        for p in payloads
    ]


def kinesis_batches(stack: LocalStack, function: str, source: str) -> list[list[int]]:
    return [
        [json.loads(base64.b64decode(r["kinesis"]["data"]))["n"] for r in i.event["Records"]]
        for i in of(stack, function, source)
    ]


def failures_for(
    stack: LocalStack, key: str, stream_name: str, queue: str = "StreamFailureQueue"
) -> list[dict[str, Any]]:
    letters = [letter.json() for letter in stack.dead_letters(queue)]
    return [letter for letter in letters if key in letter and letter[key]["streamArn"].endswith(stream_name)]


def test_a_stream_checkpoints_at_the_reported_failure_and_gives_up_after_the_retries(stack: LocalStack) -> None:
    put(stack, "PartialStream", [{"n": 1}, {"n": 2, "fail": True}, {"n": 3}])
    stack.drain(timeout=30)
    assert kinesis_batches(stack, "PartialFunction", "Bisected") == [[1, 2, 3], [2, 3]]
    [failure] = failures_for(stack, "KinesisBatchInfo", "/PartialStream")
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["KinesisBatchInfo"]["batchSize"] == 2


def test_bisect_splits_a_failing_batch_until_the_poison_record_is_alone(stack: LocalStack) -> None:
    numbers = put(stack, "RaisingStream", [{"n": 1}, {"n": 2}, {"n": 3, "fail": True}, {"n": 4}])
    stack.drain(timeout=30)
    assert kinesis_batches(stack, "RaisingFunction", "Bisected") == [[1, 2, 3, 4], [1, 2], [3, 4], [3], [4]]
    [failure] = failures_for(stack, "KinesisBatchInfo", "/RaisingStream")
    info = failure["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (numbers[2], numbers[2], 1)


def test_a_dynamodb_stream_delivers_changes_in_order(stack: LocalStack) -> None:
    dynamodb = stack.client("dynamodb")
    for key, fail in [("a", False), ("b", True), ("c", False)]:
        dynamodb.put_item(TableName="ItemsTable", Item={"id": {"S": key}, "fail": {"BOOL": fail}})
    stack.drain(timeout=30)
    batches = [
        [r["dynamodb"]["Keys"]["id"]["S"] for r in i.event["Records"]] for i in of(stack, "PartialFunction", "Table")
    ]
    assert batches == [["a", "b", "c"]]  # MaximumRetryAttempts 0: b and what follows it are given up
    [failure] = failures_for(stack, "DDBStreamBatchInfo", "")
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"


# -- functions ------------------------------------------------------------------------


def test_functions_run_with_their_own_environment_context_and_the_local_endpoint(stack: LocalStack) -> None:
    stack.put_event("Bus", source="tests", detail_type="Environment", detail={})
    stack.drain(timeout=30)
    [invocation] = stack.invocations("EnvironmentFunction")
    seen = invocation.response
    assert (seen["own"], seen["shared"], seen["endpoint"]) == (
        "environment",
        "everyone",
        stack.environment["AWS_ENDPOINT_URL"],
    )
    assert (seen["function_name"], seen["memory"]) == ("EnvironmentFunction", 512)
    assert 0 < seen["remaining_ms"] <= 7000
    import os

    assert os.environ.get("OWN_SETTING") is None  # only while that function runs


def test_a_stream_gives_a_failing_batch_up_once_its_records_are_older_than_the_maximum_age(stack: LocalStack) -> None:
    put(stack, "AgedStream", [{"n": 1, "fail": True}])
    stack.drain(timeout=30)
    tries = of(stack, "AgedFunction", "Old")
    assert len(tries) > 1 and all(i.failed for i in tries)  # MaximumRetryAttempts -1: retried until too old
    [failure] = failures_for(stack, "KinesisBatchInfo", "/AgedStream", queue="AgedFunction")
    assert failure["requestContext"]["condition"] == "RecordAgeExceeded"
