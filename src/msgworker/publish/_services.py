"""SQS, SNS and EventBridge: an entry in each service's request shape, one batched request,
and its per-entry outcomes (the services answer 200 and report failures per entry)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._claim_check import LEGACY_SIZE_ATTRIBUTE, RESERVED_ATTRIBUTES, SIZE_ATTRIBUTE, pointer_body
from ._delivery import Outcome, Pending
from ._entries import FailedEntry, Offload, Outgoing, OutgoingEvent, attributes_size, message_attributes, utf8_size

RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "KMSThrottlingException",
        "KMSThrottling",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "InternalException",
        "InternalServerError",
        "RequestTimeout",
    }
)
"""Error codes worth retrying, per entry or for a whole request."""


def request_failure(entry_id: str, error: BaseException) -> FailedEntry:
    """What an exception from a whole request means for one of its entries."""
    response = getattr(error, "response", None)
    if isinstance(response, Mapping):
        details = response.get("Error") or {}
        code = str(details.get("Code") or "Unknown")
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0
        retryable = code in RETRYABLE_CODES or int(status) >= 500
        return FailedEntry(entry_id, code, str(details.get("Message") or ""), retryable=retryable)
    # No response: the connection failed or timed out, so the request may be tried again.
    return FailedEntry(entry_id, type(error).__name__, "", retryable=True)


def batch_outcomes(request: Sequence[Pending], answer: Mapping[str, Any]) -> list[Outcome]:
    """SendMessageBatch / PublishBatch: ``Successful`` and ``Failed`` by batch entry ``Id``
    (its position); an entry in neither is retried rather than assumed sent."""
    outcomes: list[Outcome | None] = [None] * len(request)
    for success in answer.get("Successful") or ():
        outcomes[int(success["Id"])] = str(success.get("MessageId") or "")
    for failure in answer.get("Failed") or ():
        position = int(failure["Id"])
        code = str(failure.get("Code") or "Unknown")
        retryable = code in RETRYABLE_CODES or not failure.get("SenderFault", False)
        outcomes[position] = FailedEntry(request[position].id, code, str(failure.get("Message") or ""), retryable)
    return [
        outcome if outcome is not None else FailedEntry(entry.id, "NoResult", "the service did not report it", True)
        for entry, outcome in zip(request, outcomes, strict=True)
    ]


def _calling(call: Callable[[list[dict[str, Any]]], Mapping[str, Any]]) -> Callable[[Sequence[Pending]], list[Outcome]]:
    def send(request: Sequence[Pending]) -> list[Outcome]:
        entries = [{"Id": str(position), **entry.request} for position, entry in enumerate(request)]
        try:
            answer = call(entries)
        except Exception as error:
            return [request_failure(entry.id, error) for entry in request]
        return batch_outcomes(request, answer)

    return send


def sqs_sender(client: Any, queue_url: str) -> Callable[[Sequence[Pending]], list[Outcome]]:
    return _calling(lambda entries: client.send_message_batch(QueueUrl=queue_url, Entries=entries))


def sns_sender(client: Any, topic_arn: str) -> Callable[[Sequence[Pending]], list[Outcome]]:
    return _calling(lambda entries: client.publish_batch(TopicArn=topic_arn, PublishBatchRequestEntries=entries))


def eventbridge_sender(client: Any, endpoint_id: str | None) -> Callable[[Sequence[Pending]], list[Outcome]]:
    extra = {"EndpointId": endpoint_id} if endpoint_id else {}

    def send(request: Sequence[Pending]) -> list[Outcome]:
        try:
            answer = client.put_events(Entries=[entry.request for entry in request], **extra)
        except Exception as error:
            return [request_failure(entry.id, error) for entry in request]
        results = list(answer.get("Entries") or ())
        outcomes: list[Outcome] = []
        # PutEvents answers positionally, FailedEntryCount > 0 in a 200 response.
        for position, entry in enumerate(request):
            result = results[position] if position < len(results) else {}
            if result.get("EventId"):
                outcomes.append(str(result["EventId"]))
                continue
            code = str(result.get("ErrorCode") or "NoResult")
            retryable = code in RETRYABLE_CODES or code == "NoResult"
            outcomes.append(FailedEntry(entry.id, code, str(result.get("ErrorMessage") or ""), retryable))
        return outcomes

    return send


# -- entries -------------------------------------------------------------------------


def message_entry(message: Outgoing, service: str) -> tuple[dict[str, Any], int]:
    """An SQS or SNS request entry (without ``Id``) and its size by the service's rule."""
    if service == "sqs" and message.subject is not None:
        raise ValueError(f"entry {message.id!r}: subject is SNS only")
    if service == "sns" and message.delay_seconds is not None:
        raise ValueError(f"entry {message.id!r}: delay_seconds is SQS only (set a delivery delay on the queue)")
    attributes = message_attributes(message.attributes)
    reserved = [name for name in attributes if name in RESERVED_ATTRIBUTES]
    if reserved:
        raise ValueError(f"entry {message.id!r}: message attribute {reserved[0]!r} is reserved for offloaded payloads")
    text = message.text
    entry: dict[str, Any] = {"MessageBody" if service == "sqs" else "Message": text}
    if attributes:
        entry["MessageAttributes"] = attributes
    if message.group_id is not None:
        entry["MessageGroupId"] = message.group_id
    if message.deduplication_id is not None:
        entry["MessageDeduplicationId"] = message.deduplication_id
    if message.delay_seconds is not None:
        entry["DelaySeconds"] = message.delay_seconds
    if message.subject is not None:
        entry["Subject"] = message.subject
    return entry, utf8_size(text) + attributes_size(attributes)


def event_entry(event: OutgoingEvent, bus: str | None) -> tuple[dict[str, Any], int]:
    """A PutEvents request entry and its size by EventBridge's rule."""
    from ._entries import as_text

    entry: dict[str, Any] = {"Source": event.source, "DetailType": event.detail_type, "Detail": as_text(event.detail)}
    if event.bus or bus:
        entry["EventBusName"] = event.bus or bus
    if event.resources:
        entry["Resources"] = list(event.resources)
    if event.time is not None:
        entry["Time"] = event.time
    if event.trace_header is not None:
        entry["TraceHeader"] = event.trace_header
    return entry, event.size


def offload(entries: Sequence[Pending], service: str, settings: Offload, limit: int) -> list[FailedEntry]:
    """Put the payloads above the threshold in S3 (all at once) and point at them instead,
    in the extended-client format; returns the entries whose upload failed."""
    threshold = settings.threshold if settings.threshold is not None else limit
    body_key = "MessageBody" if service == "sqs" else "Message"
    chosen = [entry for entry in entries if settings.always or entry.size > threshold]
    if not chosen:
        return []
    client = settings.client
    if client is None:
        from .._aws_clients import aws_client

        client = aws_client("s3")
    failures: dict[int, FailedEntry] = {}

    def upload(entry: Pending) -> None:
        data = entry.request[body_key].encode("utf-8")
        key = f"{settings.prefix}{uuid.uuid4()}"
        try:
            client.put_object(Bucket=settings.bucket, Key=key, Body=data)
        except Exception as error:
            failure = request_failure(entry.id, error)
            failures[entry.index] = FailedEntry(entry.id, f"S3.{failure.code}", failure.message, failure.retryable)
            return
        body = pointer_body(settings.bucket, key, legacy=settings.legacy)
        size_attribute = {"DataType": "Number", "StringValue": str(len(data))}
        attributes = {**entry.request.get("MessageAttributes", {})}
        attributes[LEGACY_SIZE_ATTRIBUTE if settings.legacy else SIZE_ATTRIBUTE] = size_attribute
        entry.request = {**entry.request, body_key: body, "MessageAttributes": attributes}
        entry.size = utf8_size(body) + attributes_size(attributes)

    from .._claim_check import concurrently

    concurrently(upload, chosen)
    return [failures[index] for index in sorted(failures)]


__all__ = [
    "RETRYABLE_CODES",
    "batch_outcomes",
    "event_entry",
    "eventbridge_sender",
    "message_entry",
    "offload",
    "request_failure",
    "sns_sender",
    "sqs_sender",
]
