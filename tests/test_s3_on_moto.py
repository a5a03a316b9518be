"""S3 event notifications end to end on moto: a real bucket notifying a real queue (moto
sends the s3:TestEvent and encodes keys itself), polled by the SQS event source emulator."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from esm_emulator import EventSourceMappingEmulator, create_queue_pair, drain, local_endpoint, messages_in

from msgworker import Message, worker
from msgworker.testing import LocalAws

KEYS = ["2026/summer trip.jpg", "reports/Q3+final (v2).pdf", "café/ß.txt"]


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    with local_endpoint() as local:
        yield local


def notifying_bucket(aws: LocalAws, queue_arn: str) -> str:
    s3 = aws.client("s3")
    bucket = f"uploads-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    configuration = {"QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}]}
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=configuration)
    return bucket


def test_every_uploaded_object_reaches_the_function_once_with_its_real_key(aws: LocalAws) -> None:
    queue = create_queue_pair(aws, f"uploads-{uuid.uuid4().hex[:8]}", visibility_timeout=1, max_receive_count=3)
    bucket = notifying_bucket(aws, queue.arn)  # S3 first sends an s3:TestEvent to the queue
    for key in KEYS:
        aws.client("s3").put_object(Bucket=bucket, Key=key, Body=key.encode())
    seen: list[tuple[str | None, Any, int | None]] = []

    @worker(metrics=False)
    def handler(record: dict[str, Any], message: Message) -> None:
        seen.append((message.bucket, message.key, message.size))

    emulator = EventSourceMappingEmulator(aws, handler, queue_url=queue.url, function_name=f"fn-{bucket}")
    emulator.run(lambda: messages_in(aws, queue.url) == 0, timeout=30)
    assert sorted(seen, key=str) == sorted(((bucket, key, len(key.encode())) for key in KEYS), key=str)
    assert all(poll.failed == [] for poll in emulator.polls)  # the TestEvent was acknowledged, not failed
    assert drain(aws, queue.dead_letter_url) == []


def test_a_failed_object_brings_its_message_back_until_it_succeeds(aws: LocalAws) -> None:
    queue = create_queue_pair(aws, f"uploads-{uuid.uuid4().hex[:8]}", visibility_timeout=1, max_receive_count=5)
    bucket = notifying_bucket(aws, queue.arn)
    aws.client("s3").put_object(Bucket=bucket, Key="flaky.bin", Body=b"x")
    attempts: list[int | None] = []

    @worker(metrics=False)
    def handler(record: dict[str, Any], message: Message) -> None:
        attempts.append(message.receive_count)
        if len(attempts) == 1:
            raise ConnectionError("storage unreachable")

    emulator = EventSourceMappingEmulator(aws, handler, queue_url=queue.url, function_name=f"fn-{bucket}")
    emulator.run(lambda: messages_in(aws, queue.url) == 0, timeout=30)
    assert attempts == [1, 2]  # reported failed, redelivered by SQS, then done
    assert drain(aws, queue.dead_letter_url) == []
