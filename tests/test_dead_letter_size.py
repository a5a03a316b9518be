"""Dead-letter sends stay within SQS's message size limit (1 MiB, body and attributes
together, since January 2026).

moto does not enforce the limit: it stores a message of any size. So SendMessageBatch
goes through a stub that enforces what AWS documents: an entry over the limit fails
(``InvalidParameterValue``), a request whose entries add up to more fails whole
(``BatchRequestTooLong``); requests within it go on to moto's server, whose DLQ then
holds what was sent.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from esm_emulator import create_queue_pair, drain, local_endpoint, log_lines

from msgworker import PermanentError, worker
from msgworker import _aws_clients as aws_clients
from msgworker.failure_actions import ERROR_MESSAGE_ATTRIBUTE, ERROR_TYPE_ATTRIBUTE
from msgworker.testing import LambdaContext, LocalAws, sqs_event, sqs_record

LIMIT = 1024 * 1024
"""AWS's documented maximum: 1 MiB per message, and per SendMessageBatch request."""


def message_size(entry: dict[str, Any]) -> int:
    """A message's size as SQS counts it: the body plus each attribute's name, type and value."""
    size = len(entry["MessageBody"].encode("utf-8"))
    for name, attribute in entry.get("MessageAttributes", {}).items():
        value = attribute.get("StringValue")
        raw = value.encode("utf-8") if value is not None else bytes(attribute.get("BinaryValue", b""))
        size += len(name.encode("utf-8")) + len(attribute["DataType"].encode("utf-8")) + len(raw)
    return size


class SizeLimitedSqs:
    """The stub: answers SendMessageBatch as SQS does when a limit is passed; otherwise the
    request goes on to moto. ``rejected`` counts the entries it refused."""

    def __init__(self) -> None:
        self.rejected = 0
        self.largest = 0
        aws_clients.reset()  # msgworker's next clients are made on the session hooked here
        aws_clients.session().register("before-call.sqs.SendMessageBatch", self._check)

    def _check(self, params: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]] | None:
        from botocore.awsrequest import AWSResponse

        body = json.loads(params["body"]) if isinstance(params.get("body"), bytes | str) else params["body"]
        entries = body["Entries"]
        sizes = [message_size(entry) for entry in entries]
        self.largest = max([self.largest, *sizes])
        metadata = {"HTTPStatusCode": 200, "HTTPHeaders": {}}
        if sum(sizes) > LIMIT and len(entries) > 1:
            self.rejected += len(entries)
            error = {"Code": "BatchRequestTooLong", "Message": "the batch is longer than the limit"}
            return AWSResponse("http://stub", 400, {}, None), {
                "Error": error,
                "ResponseMetadata": metadata | {"HTTPStatusCode": 400},
            }
        too_long = [entry for entry, size in zip(entries, sizes, strict=True) if size > LIMIT]
        if not too_long:
            return None
        self.rejected += len(too_long)
        failed = [
            {"Id": entry["Id"], "SenderFault": True, "Code": "InvalidParameterValue", "Message": "message too long"}
            for entry in too_long
        ]
        return AWSResponse("http://stub", 200, {}, None), {
            "Successful": [],
            "Failed": failed,
            "ResponseMetadata": metadata,
        }


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    with local_endpoint() as local:
        yield local


def record_with(body: str, queue: str, attributes: int) -> dict[str, Any]:
    return sqs_record(body, queue=queue, message_attributes={f"copied{n}": "v" * 200 for n in range(attributes)})


def test_a_letter_near_the_limit_drops_copied_attributes_then_cuts_the_error_text(
    aws: LocalAws, capsys: pytest.CaptureFixture[str]
) -> None:
    queue = create_queue_pair(aws, f"size-{uuid.uuid4().hex[:8]}")
    name = queue.arn.rsplit(":", 1)[1]
    stub = SizeLimitedSqs()

    @worker(metrics=False, dead_letter=True)
    def handler(payload: Any) -> None:
        raise PermanentError("rejected: " + "r" * 990)  # a long error text, as a validation summary can be

    body = "b" * (LIMIT - 700)  # fits alone; with five copied attributes and the error text it would not
    event = {"Records": [record_with(body, name, attributes=5)]}
    capsys.readouterr()
    assert handler(event, LambdaContext()) == {"batchItemFailures": []}  # sent, so reported done

    [letter] = drain(aws, queue.dead_letter_url)
    assert letter["Body"] == body  # the body is never cut
    kept = letter["MessageAttributes"]
    assert not any(name.startswith("copied") for name in kept)
    assert kept[ERROR_TYPE_ATTRIBUTE]["StringValue"] == "msgworker.errors.PermanentError"
    text = kept[ERROR_MESSAGE_ATTRIBUTE]["StringValue"]
    assert text.startswith("rejected: rrr") and text.endswith("…") and len(text) < 1000
    assert stub.rejected == 0 and LIMIT - 1000 < stub.largest <= LIMIT  # the stub saw the send
    [log] = [line for line in log_lines(capsys.readouterr().out) if line["message"].startswith("record sent")]
    assert sorted(log["dropped_attributes"]) == [f"copied{n}" for n in range(5)]
    assert log["error_message_truncated"] is True


def test_copied_attributes_alone_are_dropped_when_that_is_enough(aws: LocalAws) -> None:
    queue = create_queue_pair(aws, f"size-{uuid.uuid4().hex[:8]}")
    name = queue.arn.rsplit(":", 1)[1]
    stub = SizeLimitedSqs()
    handler = worker(metrics=False, dead_letter=True)(lambda payload: (_ for _ in ()).throw(PermanentError("no")))
    body = "b" * (LIMIT - 800)
    assert handler({"Records": [record_with(body, name, attributes=5)]}, LambdaContext()) == {"batchItemFailures": []}
    [letter] = drain(aws, queue.dead_letter_url)
    assert letter["MessageAttributes"][ERROR_MESSAGE_ATTRIBUTE]["StringValue"] == "no"  # not cut
    assert stub.rejected == 0


def test_a_body_too_large_for_the_dlq_stays_failed_and_the_reason_is_logged(
    aws: LocalAws, capsys: pytest.CaptureFixture[str]
) -> None:
    queue = create_queue_pair(aws, f"size-{uuid.uuid4().hex[:8]}")
    name = queue.arn.rsplit(":", 1)[1]
    stub = SizeLimitedSqs()
    handler = worker(metrics=False, dead_letter=True)(lambda payload: (_ for _ in ()).throw(PermanentError("no")))
    small = sqs_record('{"ok": false}', queue=name)
    large = sqs_record("b" * (LIMIT - 10), queue=name)  # its msgworker attributes alone push it over
    event = sqs_event([]) | {"Records": [large, small]}
    capsys.readouterr()

    response = handler(event, LambdaContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": large["messageId"]}]}  # failed, never lost
    assert [letter["Body"] for letter in drain(aws, queue.dead_letter_url)] == ['{"ok": false}']
    assert stub.rejected == 0  # msgworker did not send what SQS would refuse
    [log] = [line for line in log_lines(capsys.readouterr().out) if "too large" in line["message"]]
    assert log["message_id"] == large["messageId"] and log["limit_bytes"] == LIMIT
    assert "b" * 20 not in json.dumps(log)  # the reason, not the payload
