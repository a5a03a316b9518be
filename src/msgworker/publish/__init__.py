"""Producers: send to SQS, SNS and EventBridge in batches, never losing an entry silently.

::

    from msgworker.publish import Offload, Outgoing, send_messages

    ids = send_messages(queue_url, [Outgoing(order, id=order["order_id"]) for order in orders],
                        offload=Offload("my-payload-bucket"))

- **Batched by the services' limits**: 10 entries a request, and the request's bytes
  (SQS 1 MiB, SNS 256 KiB unless the topic allows more, EventBridge 1 MB).
- **Failures are retried one by one**: SendMessageBatch, PublishBatch and PutEvents answer
  200 and report failures per entry; only the failed entries are sent again (throttling
  and service errors; an entry's own fault is reported at once), with exponential backoff
  and full jitter, ``attempts`` times in all.
- **FIFO order holds**: a FIFO queue or topic (``.fifo``) gets at most one entry per message
  group in a request, and a group waits for its failed entry (see ``_delivery``).
- **What could not be sent is raised**: :class:`~msgworker.errors.PublishError` lists every
  such entry (:class:`FailedEntry`: id and error code, no payload) and what was sent.
- **Large payloads go to S3** with ``offload=Offload(bucket)``, in AWS's extended-client
  format: the SQS and SNS Extended Client libraries (any language) read what this writes,
  and ``worker`` reads what they write. EventBridge has no such format: an event too large
  is reported failed (``EntryTooLarge``).

Each function returns ``{entry id: the service's message or event id}``.

Example (moto stands in for SQS):
    >>> from moto import mock_aws
    >>> import boto3
    >>> with mock_aws():
    ...     sqs = boto3.client("sqs", region_name="eu-west-1")
    ...     url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    ...     sent = send_messages(url, [Outgoing({"order_id": "o-1"}, id="o-1"), "plain text"], client=sqs)
    ...     sorted(sent)
    ['1', 'o-1']
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import PublishError
from ._delivery import Delivery, Pending, deliver
from ._entries import (
    EVENTBRIDGE_MAX_BYTES,
    MAX_ENTRIES,
    SNS_MAX_BYTES,
    SQS_MAX_BYTES,
    FailedEntry,
    Offload,
    Outgoing,
    OutgoingEvent,
)
from ._services import event_entry, eventbridge_sender, message_entry, offload, sns_sender, sqs_sender

ATTEMPTS = 5
"""Tries per entry, the first included."""
BACKOFF = 0.1
"""Seconds: the backoff's scale (the n-th retry waits up to ``BACKOFF * 2**n``)."""
MAX_BACKOFF = 5.0
"""Seconds: the longest wait between attempts."""

Sleep = Callable[[float], None]


def send_messages(
    queue_url: str,
    messages: Iterable[Outgoing | Any],
    *,
    offload: Offload | None = None,
    max_message_size: int = SQS_MAX_BYTES,
    attempts: int = ATTEMPTS,
    backoff: float = BACKOFF,
    client: Any = None,
    sleep: Sleep = time.sleep,
) -> dict[str, str]:
    """Send ``messages`` to an SQS queue (FIFO when its URL ends in ``.fifo``) with
    SendMessageBatch; a message that is not an :class:`Outgoing` is its body.

    Raises:
        PublishError: some messages could not be sent (``failed``); the rest were (``sent``).

    Example:
        >>> send_messages("https://sqs.eu-west-1.amazonaws.com/1/q", [])
        {}
    """
    return _send_messages("sqs", queue_url, messages, offload, max_message_size, attempts, backoff, client, sleep)


def publish_messages(
    topic_arn: str,
    messages: Iterable[Outgoing | Any],
    *,
    offload: Offload | None = None,
    max_message_size: int = SNS_MAX_BYTES,
    attempts: int = ATTEMPTS,
    backoff: float = BACKOFF,
    client: Any = None,
    sleep: Sleep = time.sleep,
) -> dict[str, str]:
    """Publish ``messages`` to an SNS topic (FIFO when its ARN ends in ``.fifo``) with
    PublishBatch. ``max_message_size`` is the topic's ``MaximumMessageSize`` (256 KiB by
    default; SNS allows up to 1 MiB when the topic is set so).

    Raises:
        PublishError: some messages could not be published.

    Example:
        >>> publish_messages("arn:aws:sns:eu-west-1:1:orders", [])
        {}
    """
    return _send_messages("sns", topic_arn, messages, offload, max_message_size, attempts, backoff, client, sleep)


def put_events(
    events: Iterable[OutgoingEvent],
    *,
    bus: str | None = None,
    endpoint_id: str | None = None,
    max_request_size: int = EVENTBRIDGE_MAX_BYTES,
    attempts: int = ATTEMPTS,
    backoff: float = BACKOFF,
    client: Any = None,
    sleep: Sleep = time.sleep,
) -> dict[str, str]:
    """Put ``events`` on EventBridge (``bus``: the default bus when ``None``) with PutEvents,
    which reports failed entries in a 200 response (``FailedEntryCount``): those are retried.

    Raises:
        PublishError: some events could not be put.

    Example:
        >>> put_events([])
        {}
    """
    pending: list[Pending] = []
    too_large: list[FailedEntry] = []
    for index, event in enumerate(events):
        entry_id = event.id if event.id is not None else str(index)
        request, size = event_entry(event, bus)
        if size > max_request_size:
            too_large.append(_too_large(entry_id, size, max_request_size, "EventBridge"))
            continue
        pending.append(Pending(index, entry_id, None, size, request))
    _check_unique([*pending, *(Pending(-1, entry.id, None, 0, {}) for entry in too_large)])
    if not pending and not too_large:
        return {}
    send = eventbridge_sender(client if client is not None else _client("events"), endpoint_id)
    delivery = Delivery(pending, send, fifo=False, max_entries=MAX_ENTRIES, max_bytes=max_request_size, tries=attempts)
    deliver(delivery, attempts=attempts, backoff=backoff, max_backoff=MAX_BACKOFF, sleep=sleep)
    return _finish(delivery, too_large)


def _send_messages(
    service: str,
    target: str,
    messages: Iterable[Outgoing | Any],
    settings: Offload | None,
    limit: int,
    attempts: int,
    backoff: float,
    client: Any,
    sleep: Sleep,
) -> dict[str, str]:
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    pending: list[Pending] = []
    for index, message in enumerate(messages):
        outgoing = message if isinstance(message, Outgoing) else Outgoing(message)
        entry_id = outgoing.id if outgoing.id is not None else str(index)
        request, size = message_entry(outgoing, service)
        pending.append(Pending(index, entry_id, outgoing.group_id, size, request))
    _check_unique(pending)
    if not pending:
        return {}
    failed: list[FailedEntry] = []
    if settings is not None:
        failed = offload(pending, service, settings, limit)
        refused = {entry.id for entry in failed}
        pending = [entry for entry in pending if entry.id not in refused]
    fits = [entry for entry in pending if entry.size <= limit]
    service_name = "SQS" if service == "sqs" else "SNS"
    failed.extend(_too_large(entry.id, entry.size, limit, service_name) for entry in pending if entry.size > limit)
    if client is None:
        client = _client(service)
    send = sqs_sender(client, target) if service == "sqs" else sns_sender(client, target)
    delivery = Delivery(
        fits, send, fifo=target.endswith(".fifo"), max_entries=MAX_ENTRIES, max_bytes=limit, tries=attempts
    )
    return _finish(deliver(delivery, attempts=attempts, backoff=backoff, max_backoff=MAX_BACKOFF, sleep=sleep), failed)


def _check_unique(entries: list[Pending]) -> None:
    seen: set[str] = set()
    for entry in entries:
        if entry.id in seen:
            raise ValueError(f"two entries have the id {entry.id!r}: ids name entries in results and errors")
        seen.add(entry.id)


def _too_large(entry_id: str, size: int, limit: int, service: str) -> FailedEntry:
    hint = "" if service == "EventBridge" else "; pass offload=Offload(bucket) to send it through S3"
    return FailedEntry(entry_id, "EntryTooLarge", f"{size} bytes, above {service}'s {limit}{hint}", retryable=False)


def _client(service: str) -> Any:
    from .._aws_clients import aws_client

    return aws_client(service)


def _finish(delivery: Delivery, refused: list[FailedEntry]) -> dict[str, str]:
    failed = [*refused, *delivery.failed]
    if failed:
        shown = ", ".join(str(entry) for entry in failed[:20]) + (", ..." if len(failed) > 20 else "")
        raise PublishError(
            f"{len(failed)} of {len(failed) + len(delivery.sent)} entries could not be sent: {shown}. The error's "
            "`failed` lists them all and `sent` what went through; send the failed ones again once the cause is "
            "fixed (retryable ones were already retried)",
            failed=failed,
            sent=delivery.sent,
        )
    return delivery.sent


__all__ = [
    "ATTEMPTS",
    "EVENTBRIDGE_MAX_BYTES",
    "MAX_ENTRIES",
    "SNS_MAX_BYTES",
    "SQS_MAX_BYTES",
    "FailedEntry",
    "Offload",
    "Outgoing",
    "OutgoingEvent",
    "PublishError",
    "publish_messages",
    "put_events",
    "send_messages",
]
