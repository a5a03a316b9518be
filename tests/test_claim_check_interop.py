"""msgworker and AWS's own Extended Client libraries read each other's offloaded payloads, on
moto's S3, SQS and SNS (a server on loopback).

The AWS clients (``amazon-sqs-extended-client``, ``amazon-sns-extended-client`` from PyPI)
patch boto3 globally when imported, so they run in a subprocess (tests/aws_extended_clients.py)
that talks to the same server; this process never imports them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import claim_check_helpers
import pytest
from esm_emulator import lambda_record

from msgworker import Message, worker
from msgworker.publish import Offload, Outgoing, publish_messages, send_messages
from msgworker.testing import LocalAws

# The shared fixtures: a moto server for the module, a new bucket per test.
aws = claim_check_helpers.aws
bucket = claim_check_helpers.bucket

SCRIPT = Path(__file__).with_name("aws_extended_clients.py")


def aws_client_library(aws: LocalAws, **request: Any) -> Any:
    environment = {**os.environ, **aws.environment}
    result = subprocess.run(
        [sys.executable, str(SCRIPT)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def queue(aws: LocalAws) -> tuple[str, str]:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def topic_to_queue(aws: LocalAws, *, raw: bool) -> tuple[str, str, str]:
    """A topic with a queue subscribed (raw message delivery on or off)."""
    sns = aws.client("sns")
    topic = sns.create_topic(Name=f"t-{uuid.uuid4().hex[:8]}")["TopicArn"]
    url, arn = queue(aws)
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true" if raw else "false"}
    )
    return topic, url, arn


def lambda_event(aws: LocalAws, url: str, arn: str) -> dict[str, Any]:
    """What the event source mapping would hand the function: the queue's messages as an SQS event."""
    sqs = aws.client("sqs")
    answer = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
    )
    records = [lambda_record(message, arn, "us-east-1") for message in answer.get("Messages", [])]
    assert records, "the queue is empty"
    return {"Records": records}


def payload(tag: str) -> str:
    return json.dumps({"tag": tag, "blob": "é" * 150_000})  # 300 KB of UTF-8: offloaded by the AWS clients


def consumed(event: dict[str, Any]) -> list[tuple[Any, Message]]:
    seen: list[tuple[Any, Message]] = []

    @worker(metrics=False)
    def handler(body: Any, message: Message) -> None:
        seen.append((body, message))

    assert handler(event) == {"batchItemFailures": []}
    return seen


@pytest.mark.parametrize("legacy", [False, True], ids=["current", "legacy"])
def test_worker_reads_what_the_aws_sqs_extended_client_sent(aws: LocalAws, bucket: str, legacy: bool) -> None:
    url, arn = queue(aws)
    aws_client_library(aws, command="sqs-send", queue_url=url, bucket=bucket, body=payload("sqs"), legacy=legacy)

    [(body, message)] = consumed(lambda_event(aws, url, arn))

    assert body == json.loads(payload("sqs"))
    pointer = message.payload_pointer
    assert pointer is not None and pointer.bucket == bucket and pointer.legacy is legacy
    assert pointer.size == len(payload("sqs").encode())


@pytest.mark.parametrize("raw", [True, False], ids=["raw", "enveloped"])
def test_worker_reads_what_the_aws_sns_extended_client_published(aws: LocalAws, bucket: str, raw: bool) -> None:
    topic, url, arn = topic_to_queue(aws, raw=raw)
    aws_client_library(aws, command="sns-publish", topic_arn=topic, bucket=bucket, message=payload("sns"))

    [(body, message)] = consumed(lambda_event(aws, url, arn))

    assert body == json.loads(payload("sns"))
    assert message.payload_pointer is not None and message.payload_pointer.size == len(payload("sns").encode())
    assert message.envelope_names == (("sqs",) if raw else ("sqs", "sns"))


def test_the_aws_sqs_extended_client_reads_what_msgworker_offloaded(aws: LocalAws, bucket: str) -> None:
    url, _ = queue(aws)
    small = json.dumps({"tag": "small"})

    send_messages(url, [Outgoing(payload("big"), attributes={"tenant": "acme"}), small], offload=Offload(bucket))

    received = aws_client_library(aws, command="sqs-receive", queue_url=url, bucket=bucket)
    assert sorted(message["Body"] for message in received) == sorted([payload("big"), small])
    big = next(message for message in received if message["Body"] == payload("big"))
    assert big["MessageAttributes"]["tenant"]["StringValue"] == "acme"


def test_the_aws_sqs_extended_client_reads_what_msgworker_published_through_sns(aws: LocalAws, bucket: str) -> None:
    topic, url, _ = topic_to_queue(aws, raw=True)

    publish_messages(topic, [payload("via-sns")], offload=Offload(bucket, prefix="orders/"))

    [message] = aws_client_library(aws, command="sqs-receive", queue_url=url, bucket=bucket)
    assert message["Body"] == payload("via-sns")
    keys = [item["Key"] for item in aws.client("s3").list_objects_v2(Bucket=bucket)["Contents"]]
    assert len(keys) == 1 and keys[0].startswith("orders/")


def test_worker_reads_what_msgworker_offloaded_through_sns_enveloped(aws: LocalAws, bucket: str) -> None:
    topic, url, arn = topic_to_queue(aws, raw=False)

    publish_messages(topic, [payload("round-trip")], offload=Offload(bucket))

    [(body, _)] = consumed(lambda_event(aws, url, arn))
    assert body == json.loads(payload("round-trip"))
