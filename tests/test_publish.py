"""Producers (``msgworker.publish``) against moto's SQS, SNS and EventBridge, with failures
injected between msgworker and moto.

moto never fails an entry of a batch, and never throttles; AWS does both (SendMessageBatch,
PublishBatch and PutEvents answer 200 with per-entry failures; a throttled request fails as a
whole). :class:`Flaky` is the small stub that does what AWS documents: it forwards the entries
it lets through to moto's real client and reports the others failed in the same answer, or
throttles a whole request. What reached the queue is then read back from moto.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from esm_emulator import local_endpoint
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from msgworker.errors import PublishError
from msgworker.publish import Outgoing, OutgoingEvent, publish_messages, put_events, send_messages
from msgworker.testing import LocalAws

SENDER_FAULTS = {"InvalidMessageContents", "InvalidParameterValue"}

Decide = Callable[[dict[str, Any]], str | None]
"""Given a request entry, the error code to fail it with this time, or None to let it through."""


class Flaky:
    """A client that fails entries as ``decide`` says and throttles the requests whose
    number is in ``throttled`` (1-based), forwarding the rest to moto."""

    def __init__(self, real: Any, decide: Decide, throttled: frozenset[int] = frozenset()):
        self.real = real
        self.decide = decide
        self.throttled = throttled
        self.requests: list[list[dict[str, Any]]] = []

    def _throttle(self, operation: str) -> None:
        if len(self.requests) in self.throttled:
            raise ClientError(
                {"Error": {"Code": "RequestThrottled", "Message": "Rate exceeded"}, "ResponseMetadata": {}}, operation
            )

    def _split(self, entries: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        forward, failed = [], []
        for entry in entries:
            code = self.decide(entry)
            if code is None:
                forward.append(entry)
            else:
                failed.append(
                    {"Id": entry["Id"], "Code": code, "SenderFault": code in SENDER_FAULTS, "Message": "injected"}
                )
        return forward, failed

    def _batch(self, operation: str, entries: list[dict[str, Any]], call: Callable[..., Any]) -> dict[str, Any]:
        self.requests.append(entries)
        self._throttle(operation)
        forward, failed = self._split(entries)
        answer = call(forward) if forward else {}
        return {"Successful": answer.get("Successful", []), "Failed": [*answer.get("Failed", []), *failed]}

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        return self._batch(
            "SendMessageBatch", Entries, lambda f: self.real.send_message_batch(QueueUrl=QueueUrl, Entries=f)
        )

    def publish_batch(self, TopicArn: str, PublishBatchRequestEntries: list[dict[str, Any]]) -> dict[str, Any]:
        call = lambda f: self.real.publish_batch(TopicArn=TopicArn, PublishBatchRequestEntries=f)  # noqa: E731
        return self._batch("PublishBatch", PublishBatchRequestEntries, call)

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.requests.append(Entries)
        self._throttle("PutEvents")
        codes = [self.decide(entry) for entry in Entries]
        forward = [entry for entry, code in zip(Entries, codes, strict=True) if code is None]
        answers = iter(self.real.put_events(Entries=forward)["Entries"] if forward else [])
        results = [next(answers) if code is None else {"ErrorCode": code, "ErrorMessage": "injected"} for code in codes]
        return {"FailedEntryCount": sum(code is not None for code in codes), "Entries": results}


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    with local_endpoint() as local:
        yield CachedClients(local.endpoint_url, local.tables, local.environment)


class CachedClients(LocalAws):
    """One boto3 client per service for the module (making one costs ~100 ms)."""

    def client(self, service: str) -> Any:
        cache = self.__dict__.setdefault("_clients", {})
        if service not in cache:
            cache[service] = super().client(service)
        return cache[service]


def new_queue(aws: LocalAws, *, fifo: bool = False) -> str:
    attributes = {"FifoQueue": "true", "ContentBasedDeduplication": "true"} if fifo else {}
    name = f"q-{uuid.uuid4().hex[:8]}{'.fifo' if fifo else ''}"
    return str(aws.client("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


def received(aws: LocalAws, url: str) -> list[dict[str, Any]]:
    """Every message of the queue, in the order SQS hands them out (deleted as read, so a
    FIFO group's next message becomes available)."""
    sqs = aws.client("sqs")
    found: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get("Messages", [])
        if not messages:
            return found
        found.extend(json.loads(message["Body"]) for message in messages)
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)],
        )


def no_sleep(waits: list[float]) -> Callable[[float], None]:
    return waits.append


def fails_times(plan: dict[str, list[str]]) -> Decide:
    """Fail the entry whose body has ``n`` with the codes ``plan[n]`` in turn, then let it through."""

    def decide(entry: dict[str, Any]) -> str | None:
        body = entry.get("MessageBody") or entry.get("Message") or entry.get("Detail")
        remaining = plan.get(json.loads(body)["n"], [])
        return remaining.pop(0) if remaining else None

    return decide


# -- properties: nothing lost, nothing twice, FIFO order ---------------------------------

entry_fates = st.lists(
    st.tuples(
        st.sampled_from("abc"),  # message group
        st.lists(st.sampled_from(["InternalError", "ThrottlingException", "InvalidMessageContents"]), max_size=3),
    ),
    min_size=1,
    max_size=16,
)


@pytest.mark.parametrize("fifo", [False, True], ids=["standard", "fifo"])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fates=entry_fates, throttled=st.frozensets(st.integers(1, 6), max_size=2))
def test_every_entry_is_sent_once_or_reported_and_fifo_groups_keep_order(
    aws: LocalAws, fifo: bool, fates: list[tuple[str, list[str]]], throttled: frozenset[int]
) -> None:
    url = new_queue(aws, fifo=fifo)
    plan = {str(n): list(codes) for n, (_, codes) in enumerate(fates)}
    client = Flaky(aws.client("sqs"), fails_times(plan), throttled)
    messages = [
        Outgoing({"n": str(n), "group": group}, id=f"m-{n}", group_id=group if fifo else None)
        for n, (group, _) in enumerate(fates)
    ]

    try:
        sent = send_messages(url, messages, attempts=3, client=client, sleep=no_sleep([]))
        failed: list[Any] = []
    except PublishError as error:
        sent, failed = error.sent, error.failed

    ids = [message.id for message in messages]
    failed_ids = [entry.id for entry in failed]
    assert sorted([*sent, *failed_ids]) == sorted(ids)  # each entry in exactly one of the two
    in_queue = [body["n"] for body in received(aws, url)]
    assert sorted(in_queue) == sorted(entry_id.removeprefix("m-") for entry_id in sent)  # each sent once
    tries = {entry_id: 0 for entry_id in ids}
    for request in client.requests:
        for entry in request:
            tries[f"m-{json.loads(entry['MessageBody'])['n']}"] += 1
    for entry in failed:
        # Failed only for a reason: its own fault (at once), its tries spent, or (FIFO) never
        # tried because an earlier entry of its group could not be sent.
        if entry.code == "InvalidMessageContents":
            assert not entry.retryable
        elif entry.code == "NotSent":
            assert fifo and tries[entry.id] == 0
        else:
            assert entry.retryable and tries[entry.id] == 3
    if fifo:
        for group in "abc":
            wanted = [str(n) for n, (g, _) in enumerate(fates) if g == group]
            got = [n for n in in_queue if n in wanted]
            assert got == wanted[: len(got)]  # in order, and nothing after a failed entry of the group


# -- examples ---------------------------------------------------------------------------


def test_only_the_failed_entries_are_sent_again(aws: LocalAws) -> None:
    url = new_queue(aws)
    client = Flaky(aws.client("sqs"), fails_times({"3": ["InternalError"], "7": ["ThrottlingException"]}))
    waits: list[float] = []

    sent = send_messages(url, [{"n": str(n)} for n in range(12)], client=client, sleep=no_sleep(waits))

    assert len(sent) == 12 and len(waits) == 1
    assert [len(request) for request in client.requests] == [10, 2, 2]
    assert sorted(json.loads(entry["MessageBody"])["n"] for entry in client.requests[-1]) == ["3", "7"]


def test_an_entry_at_fault_is_reported_at_once_with_ids_and_codes_but_no_payload(aws: LocalAws) -> None:
    url = new_queue(aws)
    client = Flaky(aws.client("sqs"), fails_times({"1": ["InvalidMessageContents"]}))
    messages = [Outgoing({"n": str(n), "card": "4111-secret"}, id=f"order-{n}") for n in range(3)]

    with pytest.raises(PublishError) as raised:
        send_messages(url, messages, client=client, sleep=no_sleep([]))

    error = raised.value
    assert [(entry.id, entry.code, entry.retryable) for entry in error.failed] == [
        ("order-1", "InvalidMessageContents", False)
    ]
    assert sorted(error.sent) == ["order-0", "order-2"] and len(client.requests) == 1
    assert "order-1 (InvalidMessageContents)" in str(error) and "4111-secret" not in str(error)


def test_batches_are_cut_by_bytes_as_well_as_entries(aws: LocalAws) -> None:
    url = new_queue(aws)
    client = Flaky(aws.client("sqs"), lambda entry: None)
    blob = "x" * 300_000

    send_messages(url, [{"n": str(n), "blob": blob} for n in range(7)], client=client, sleep=no_sleep([]))

    sizes = [sum(len(entry["MessageBody"]) for entry in request) for request in client.requests]
    assert [len(request) for request in client.requests] == [3, 3, 1] and max(sizes) <= 1024 * 1024
    assert len(received(aws, url)) == 7


def test_a_message_above_the_limit_without_offload_is_reported_not_sent(aws: LocalAws) -> None:
    url = new_queue(aws)

    with pytest.raises(PublishError) as raised:
        send_messages(url, [Outgoing("x" * (1024 * 1024 + 1), id="huge"), '{"n": "0"}'], sleep=no_sleep([]))

    [entry] = raised.value.failed
    assert (entry.id, entry.code) == ("huge", "EntryTooLarge") and "offload=Offload" in entry.message
    assert len(received(aws, url)) == 1


def test_sns_publish_batch_retries_its_failed_entries(aws: LocalAws) -> None:
    sns = aws.client("sns")
    topic = sns.create_topic(Name=f"t-{uuid.uuid4().hex[:8]}")["TopicArn"]
    url = new_queue(aws)
    arn = aws.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    client = Flaky(sns, fails_times({"2": ["InternalError", "InternalError"]}), throttled=frozenset({1}))

    sent = publish_messages(topic, [{"n": str(n)} for n in range(4)], client=client, sleep=no_sleep([]))

    assert len(sent) == 4 and sorted(body["n"] for body in received(aws, url)) == ["0", "1", "2", "3"]


def test_put_events_retries_what_failed_entry_count_reports(aws: LocalAws) -> None:
    events = aws.client("events")
    client = Flaky(events, fails_times({"1": ["ThrottlingException"], "2": ["InvalidArgument"]}))
    batch = [OutgoingEvent({"n": str(n)}, source="com.example", detail_type="Tested", id=f"e-{n}") for n in range(3)]

    with pytest.raises(PublishError) as raised:
        put_events(batch, client=client, sleep=no_sleep([]))

    assert [(entry.id, entry.code) for entry in raised.value.failed] == [("e-2", "InvalidArgument")]
    assert sorted(raised.value.sent) == ["e-0", "e-1"] and [len(r) for r in client.requests] == [3, 1]


def test_retries_stop_after_the_attempts_with_backoff_between_them(aws: LocalAws) -> None:
    url = new_queue(aws)
    client = Flaky(aws.client("sqs"), lambda entry: "InternalError")
    waits: list[float] = []

    with pytest.raises(PublishError) as raised:
        send_messages(url, ['{"n": "0"}'], attempts=4, backoff=0.5, client=client, sleep=no_sleep(waits))

    assert len(client.requests) == 4 and len(waits) == 3 and all(0 <= wait <= 5.0 for wait in waits)
    [entry] = raised.value.failed
    assert entry.retryable and entry.code == "InternalError"
