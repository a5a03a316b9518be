"""Poison messages straight to the dead-letter queue, with the error attached.

A record that fails with a :class:`~msgworker.errors.PermanentError` (a payload that does
not parse, bad business data, an idempotency key reused with another payload) will fail
on every receive. Left alone it is retried ``maxReceiveCount`` times before SQS moves it
to the DLQ, without saying why. With ``worker(..., dead_letter=True)`` it is sent to the
DLQ on its first failure, its original body intact, with message attributes that say what
went wrong; then it is reported done, so Lambda deletes it from the source queue. If the
send fails it stays reported failed: nothing is lost.

Only SQS sources have a queue to move records between; for SNS or EventBridge → Lambda
and for streams ``dead_letter`` does nothing (their own retry and on-failure settings
apply).

Example:
    >>> DeadLetter("arn:aws:sqs:us-east-1:123456789012:orders-dlq").queue
    'arn:aws:sqs:us-east-1:123456789012:orders-dlq'
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import _warm
from .._layers import Invocation
from ..errors import ConfigurationError, PermanentError
from ._aws import (
    AwsAccess,
    Failures,
    SqsQueue,
    error_code,
    failure_text,
    queue_of,
    receive_count,
    sqs_failures,
)
from ._letters import (
    ERROR_MESSAGE_ATTRIBUTE,
    ERROR_TYPE_ATTRIBUTE,
    MAX_MESSAGE_BYTES,
    MESSAGE_ID_ATTRIBUTE,
    OWN_ATTRIBUTES,
    RECEIVE_COUNT_ATTRIBUTE,
    SOURCE_ARN_ATTRIBUTE,
    Letter,
    attributes_size,
    by_size,
    fit,
)

MAX_ATTRIBUTES = 10
"""SQS accepts at most 10 message attributes per message."""
MAX_ERROR_MESSAGE = 1_000
"""Characters of the error message kept in its attribute (it counts towards the message size)."""
# Characters SQS accepts in a string value; anything else (most control characters) would
# make the whole entry fail.
_NOT_ALLOWED = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Where, and for which errors, failed SQS records go straight to a dead-letter queue.

    ``queue`` is the DLQ's URL or ARN; ``None`` means the source queue's own DLQ, read once
    per container from its ``RedrivePolicy`` (``sqs:GetQueueAttributes``). ``on`` are the
    exception types that send a record there (default: :class:`PermanentError`, which
    includes :class:`~msgworker.errors.ParseError` and
    :class:`~msgworker.errors.IdempotencyKeyReusedError`).

    ``worker(..., dead_letter=True)`` is ``DeadLetter()``; ``dead_letter="https://..."`` or
    an ARN is ``DeadLetter(queue=...)``.

    Example:
        >>> class CustomerUnknown(Exception): ...
        >>> DeadLetter(on=(PermanentError, CustomerUnknown)).queue is None
        True
    """

    queue: str | None = None
    on: tuple[type[BaseException], ...] = field(default=(PermanentError,))

    def __post_init__(self) -> None:
        if self.queue is not None:
            _parse_queue(self.queue)
        if not self.on or not all(isinstance(kind, type) and issubclass(kind, BaseException) for kind in self.on):
            raise ConfigurationError(f"DeadLetter(on=...) takes a tuple of exception types, got {self.on!r}")


def _parse_queue(queue: str) -> SqsQueue:
    try:
        if queue.startswith(("https://", "http://")):
            return SqsQueue.from_url(queue)
        return SqsQueue.from_arn(queue)
    except ValueError as error:
        raise ConfigurationError(
            f"dead-letter queue {queue!r} is neither an SQS queue URL nor an SQS queue ARN: {error}"
        ) from None


def dead_letter_option(option: object) -> DeadLetter | None:
    """The target for ``worker(dead_letter=option)``: ``None``/``False`` (off), ``True``
    (the source queue's RedrivePolicy target), a queue URL or ARN, or a :class:`DeadLetter`.

    Example:
        >>> dead_letter_option(True)
        DeadLetter(queue=None, on=(<class 'msgworker.errors.PermanentError'>,))
    """
    if option is None or option is False:
        return None
    if option is True:
        return DeadLetter()
    if isinstance(option, str):
        return DeadLetter(option)
    if isinstance(option, DeadLetter):
        return option
    raise ConfigurationError(
        f"worker(dead_letter=...) takes True (the queue's RedrivePolicy target), a queue URL or ARN, or "
        f"DeadLetter(...), got {option!r}"
    )


def error_attributes(record: Mapping[str, Any], error: BaseException) -> dict[str, dict[str, str]]:
    """The message attributes msgworker adds to a dead-lettered record: the error's type
    and (truncated) message, the original message id, its receive count and source queue.

    Example:
        >>> attributes = error_attributes({"messageId": "m-1"}, PermanentError("negative total"))
        >>> attributes["msgworker.error_type"]["StringValue"], attributes["msgworker.error_message"]["StringValue"]
        ('msgworker.errors.PermanentError', 'negative total')
    """
    kind = type(error)
    message = _NOT_ALLOWED.sub("?", str(error)) or "(no message)"
    if len(message) > MAX_ERROR_MESSAGE:
        message = message[: MAX_ERROR_MESSAGE - 1] + "…"
    attributes = {
        ERROR_TYPE_ATTRIBUTE: _string(f"{kind.__module__}.{kind.__qualname__}"),
        ERROR_MESSAGE_ATTRIBUTE: _string(message),
        RECEIVE_COUNT_ATTRIBUTE: {"DataType": "Number", "StringValue": str(receive_count(record))},
    }
    for name, value in (
        (MESSAGE_ID_ATTRIBUTE, record.get("messageId")),
        (SOURCE_ARN_ATTRIBUTE, record.get("eventSourceARN")),
    ):
        if isinstance(value, str) and value:
            attributes[name] = _string(value)
    return attributes


def _string(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


def original_attributes(record: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The record's own message attributes, in the shape SendMessage takes."""
    attributes = record.get("messageAttributes")
    converted: dict[str, dict[str, Any]] = {}
    if not isinstance(attributes, Mapping):
        return converted
    for name, attribute in attributes.items():
        if not isinstance(attribute, Mapping) or not attribute.get("dataType"):
            continue
        if attribute.get("stringValue") is not None:
            converted[name] = {"DataType": attribute["dataType"], "StringValue": attribute["stringValue"]}
        elif attribute.get("binaryValue") is not None:
            converted[name] = {
                "DataType": attribute["dataType"],
                "BinaryValue": base64.b64decode(attribute["binaryValue"]),
            }
    return converted


class DeadLetterAction:
    """After a batch, send SQS records that failed with one of ``target.on`` to the DLQ and
    return their indices: resolved, they are reported done (and Lambda deletes them).

    The DLQ gets the original body and the original message attributes (as many as fit
    beside msgworker's five: SQS allows ten), plus ``msgworker.error_type``,
    ``msgworker.error_message``, ``msgworker.message_id``, ``msgworker.receive_count`` and
    ``msgworker.source_arn``. A FIFO DLQ also gets the original message group (ordering
    within the group is kept) and the original message id as deduplication id (so a
    retried send is not stored twice). Records go in ``SendMessageBatch`` calls of at
    most ten.

    A record whose send fails stays failed, and so comes back and is retried: nothing is
    lost. A queue without a RedrivePolicy (and no queue given) is logged once and its
    records stay failed. Metrics: ``DeadLettered``, ``DeadLetterFailed``.
    """

    def __init__(self, target: DeadLetter, access: AwsAccess) -> None:
        self.target = target
        self.access = access
        self._explicit = _parse_queue(target.queue) if target.queue is not None else None
        self._redrive_targets: dict[str, SqsQueue | None] = {}
        _warm.remember(self)

    def reset_warm_state(self) -> None:
        """Forget the dead-letter queues found (``msgworker.testing.reset()``)."""
        self._redrive_targets.clear()

    def __call__(self, invocation: Invocation, failures: Failures) -> frozenset[int]:
        """Send what qualifies to the DLQ; return the indices SQS confirmed (now resolved)."""
        by_queue: dict[SqsQueue, list[tuple[int, Mapping[str, Any], BaseException]]] = {}
        for index, record, error in sqs_failures(invocation, failures):
            queue = queue_of(record)
            if isinstance(error, self.target.on) and isinstance(record.get("body"), str) and queue is not None:
                by_queue.setdefault(queue, []).append((index, record, error))
        resolved: set[int] = set()
        for source, records in by_queue.items():
            dead_letter_queue = self._target_for(invocation, source)
            if dead_letter_queue is None:
                invocation.count("DeadLetterFailed", len(records))
                continue
            letters = [
                self._letter(index, record, error, source, dead_letter_queue) for index, record, error in records
            ]
            for letter in letters:
                if not letter.fits:
                    self._log_too_large(letter, dead_letter_queue)
            letters = [letter for letter in letters if letter.fits]  # the others stay failed: SQS moves them
            sent = self._send(invocation, dead_letter_queue, letters)
            for letter in letters:
                if letter.index in sent:
                    self._log_sent(letter, dead_letter_queue)
            resolved |= sent
            if sent:
                invocation.count("DeadLettered", len(sent))
            if len(sent) < len(records):
                invocation.count("DeadLetterFailed", len(records) - len(sent))
        return frozenset(resolved)

    def _target_for(self, invocation: Invocation, source: SqsQueue) -> SqsQueue | None:
        if self._explicit is not None:
            return self._explicit
        if source.arn in self._redrive_targets:
            return self._redrive_targets[source.arn]
        if not self.access.time_left(invocation, "looking up the dead-letter queue"):
            return None
        try:
            answer = self.access.client("sqs", source.region).get_queue_attributes(
                QueueUrl=self.access.queue_url(source), AttributeNames=["RedrivePolicy"]
            )
        except Exception as error:  # not cached: a throttled or denied call may work next time
            code = error_code(error)
            self._no_target(
                source,
                "redrive",
                failure_text(
                    f"msgworker could not read the RedrivePolicy of {source.name}, so permanent failures stay "
                    "reported failed and SQS moves them after maxReceiveCount receives",
                    code,
                    error,
                    "sqs:GetQueueAttributes on the queue",
                )
                + " Or",
            )
            return None
        policy = answer.get("Attributes", {}).get("RedrivePolicy")
        target: SqsQueue | None = None
        try:
            target = SqsQueue.from_arn(json.loads(policy)["deadLetterTargetArn"]) if policy else None
        except (ValueError, KeyError, TypeError):
            target = None
        if target is None:
            self._no_target(
                source,
                "no-redrive",
                f"worker(dead_letter=True) but queue {source.name} has no RedrivePolicy with a deadLetterTargetArn: "
                "permanent failures stay reported failed. Give the queue a dead-letter queue, or",
            )
        self._redrive_targets[source.arn] = target
        return target

    def _no_target(self, source: SqsQueue, why: str, text: str) -> None:
        """Say once per container and queue why its DLQ is unknown, and the way round it."""
        self.access.warn_once(
            ("dead-letter", why, source.arn),
            f"{text} pass worker(dead_letter=<the DLQ's URL or ARN>).",
            queue=source.arn,
        )

    def _letter(
        self, index: int, record: Mapping[str, Any], error: BaseException, source: SqsQueue, queue: SqsQueue
    ) -> Letter:
        own = error_attributes(record, error)
        originals = {name: value for name, value in original_attributes(record).items() if name not in own}
        room = MAX_ATTRIBUTES - len(own)
        kept = dict(list(originals.items())[:room])
        dropped = tuple(name for name in originals if name not in kept)
        body: str = record["body"]
        entry: dict[str, Any] = {"Id": str(index), "MessageBody": body, "MessageAttributes": {**kept, **own}}
        if queue.fifo:
            attributes = record.get("attributes")
            group = attributes.get("MessageGroupId") if isinstance(attributes, Mapping) else None
            message_id = str(record.get("messageId") or index)
            # A standard source has no group: one group per source queue keeps the DLQ's
            # order the order of failure.
            entry["MessageGroupId"] = group if isinstance(group, str) and group else source.name
            entry["MessageDeduplicationId"] = message_id[:128]
        return fit(Letter(index, record, error, entry, dropped, len(body.encode("utf-8")) + attributes_size(entry)))

    def _send(self, invocation: Invocation, queue: SqsQueue, letters: list[Letter]) -> set[int]:
        sent: set[int] = set()
        for batch in by_size(letters):
            if not self.access.time_left(invocation, "dead-lettering records"):
                break
            try:
                answer = self.access.client("sqs", queue.region).send_message_batch(
                    QueueUrl=self.access.queue_url(queue), Entries=[letter.entry for letter in batch]
                )
            except Exception as error:
                self._warn(queue, error_code(error), error)
                continue
            sent.update(int(entry["Id"]) for entry in answer.get("Successful", []))
            rejected = answer.get("Failed", [])
            if rejected:
                self._warn(queue, ", ".join(sorted({str(entry.get("Code")) for entry in rejected})), None)
        return sent

    def _warn(self, queue: SqsQueue, code: str, error: BaseException | None) -> None:
        self.access.call_failed(
            ("dead-letter", "send", queue.arn),
            queue,
            code,
            error,
            f"msgworker could not send permanent failures to the dead-letter queue {queue.name}; they stay "
            "reported failed and come back",
            "sqs:SendMessage on the DLQ (and kms:GenerateDataKey if it uses a customer managed key)",
        )

    def _log_too_large(self, letter: Letter, queue: SqsQueue) -> None:
        self.access.logger.error(
            "record not sent to the dead-letter queue: too large even without copied attributes and error text",
            extra={
                "message_id": letter.record.get("messageId"),
                "dead_letter_queue": queue.arn,
                "message_bytes": letter.size,
                "limit_bytes": MAX_MESSAGE_BYTES,
                "reason": "its body alone is above SQS's message size limit; it stays reported failed, and SQS "
                "moves it to the DLQ after maxReceiveCount receives (raise the DLQ's MaximumMessageSize to "
                "the source queue's to let msgworker send it)",
            },
        )

    def _log_sent(self, letter: Letter, queue: SqsQueue) -> None:
        kind = type(letter.error)
        extra: dict[str, object] = {
            "message_id": letter.record.get("messageId"),
            "error_type": f"{kind.__module__}.{kind.__qualname__}",
            "dead_letter_queue": queue.arn,
            "source": letter.record.get("eventSourceARN"),
        }
        if letter.dropped:
            extra["dropped_attributes"] = list(letter.dropped)
        if letter.truncated:
            extra["error_message_truncated"] = True
        self.access.logger.warning("record sent to the dead-letter queue", extra=extra)


__all__ = [
    "ERROR_MESSAGE_ATTRIBUTE",
    "ERROR_TYPE_ATTRIBUTE",
    "MAX_MESSAGE_BYTES",
    "MESSAGE_ID_ATTRIBUTE",
    "OWN_ATTRIBUTES",
    "RECEIVE_COUNT_ATTRIBUTE",
    "SOURCE_ARN_ATTRIBUTE",
    "DeadLetter",
    "DeadLetterAction",
    "dead_letter_option",
    "error_attributes",
    "original_attributes",
]
