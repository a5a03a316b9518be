"""SNS events: notifications as Lambda receives them directly, or as SQS bodies when a queue subscribes."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TypedDict, Unpack

from ._common import (
    DEFAULT_ACCOUNT,
    DEFAULT_REGION,
    MessageAttributeValue,
    b64,
    is_record,
    iso_ms,
    to_text,
    typed_attribute,
    utc,
)
from ._sqs import sqs_event


def sns_envelope(
    message: object,
    *,
    topic: str = "msgworker-topic",
    subject: str | None = None,
    message_attributes: Mapping[str, MessageAttributeValue] | None = None,
    message_id: str | None = None,
    timestamp: datetime | None = None,
    region: str = DEFAULT_REGION,
    account: str = DEFAULT_ACCOUNT,
) -> dict[str, Any]:
    """Build the JSON notification SNS writes into an SQS body when raw message delivery is off.

    ``Subject`` and ``MessageAttributes`` are omitted when empty, as SNS does; the URL keys are spelled
    ``SigningCertURL``/``UnsubscribeURL`` (SNS → Lambda records spell them differently, see
    :func:`sns_record`).

    >>> envelope = sns_envelope({"user_id": "u-1"}, topic="notifications", subject="Welcome")
    >>> envelope["Type"], envelope["Subject"], envelope["Message"]
    ('Notification', 'Welcome', '{"user_id": "u-1"}')
    """
    topic_arn = f"arn:aws:sns:{region}:{account}:{topic}"
    envelope: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": message_id if message_id is not None else str(uuid.uuid4()),
        "TopicArn": topic_arn,
    }
    if subject is not None:
        envelope["Subject"] = subject
    envelope["Message"] = to_text(message)
    envelope["Timestamp"] = iso_ms(utc(timestamp))
    envelope["SignatureVersion"] = "1"
    # Real signatures are RSA-2048 (256 bytes); the fake has the same size so length checks behave alike.
    envelope["Signature"] = b64(os.urandom(256))
    envelope["SigningCertURL"] = f"https://sns.{region}.amazonaws.com/SimpleNotificationService-{uuid.uuid4().hex}.pem"
    envelope["UnsubscribeURL"] = (
        f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic_arn}:{uuid.uuid4()}"
    )
    attributes = _sns_attributes(message_attributes)
    if attributes:
        envelope["MessageAttributes"] = attributes
    return envelope


def sns_to_sqs_event(
    messages: Iterable[object],
    *,
    raw: bool = False,
    topic: str = "msgworker-topic",
    subject: str | None = None,
    message_attributes: Mapping[str, MessageAttributeValue] | None = None,
    region: str = DEFAULT_REGION,
    account: str = DEFAULT_ACCOUNT,
    **sqs_kwargs: Any,
) -> dict[str, Any]:
    """Build an SQS event for a queue subscribed to an SNS topic.

    With ``raw=False`` each SQS body is the JSON text of :func:`sns_envelope`; with ``raw=True`` (raw
    message delivery) the body is the message itself and the SNS message attributes become SQS message
    attributes. ``topic``, ``subject`` and ``message_attributes`` describe the SNS side; ``region`` and
    ``account`` apply to both; everything else (``queue``, ``sent_at``, ``receive_count``,
    ``group_ids``, ...) goes to :func:`sqs_event`.

    >>> event = sns_to_sqs_event(["hello"], topic="notifications", queue="notifications")
    >>> json.loads(event["Records"][0]["body"])["Message"]
    'hello'
    >>> sns_to_sqs_event(["hello"], raw=True)["Records"][0]["body"]
    'hello'
    """
    items = list(messages)
    common: dict[str, Any] = {"region": region, "account": account}
    if raw:
        return sqs_event(items, message_attributes=message_attributes, **common, **sqs_kwargs)
    bodies = [
        # SNS writes the envelope indented, with " : " separators; keeping that whitespace ensures
        # consumers are tested against the text they will really get, not a compact re-encoding.
        json.dumps(
            sns_envelope(
                message,
                topic=topic,
                subject=subject,
                message_attributes=message_attributes,
                # SNS publishes before SQS records the send, so reuse sent_at to keep them consistent.
                timestamp=sqs_kwargs.get("sent_at"),
                **common,
            ),
            indent=2,
            separators=(",", " : "),
        )
        for message in items
    ]
    return sqs_event(bodies, **common, **sqs_kwargs)


class EnvelopeOptions(TypedDict, total=False):
    """The keyword options of :func:`sns_envelope`, which :func:`sns_record` takes too."""

    topic: str
    subject: str | None
    message_attributes: Mapping[str, MessageAttributeValue] | None
    message_id: str | None
    timestamp: datetime | None
    region: str
    account: str


def sns_record(message: object, **options: Unpack[EnvelopeOptions]) -> dict[str, Any]:
    """Build one SNS → Lambda record (an item of ``event["Records"]`` for an SNS-triggered function).

    Unlike the SQS envelope, ``Sns`` always carries ``Subject`` (``None`` when absent) and
    ``MessageAttributes`` (``{}`` when absent), and spells ``SigningCertUrl``/``UnsubscribeUrl``.

    >>> record = sns_record("hello", topic="notifications")
    >>> record["EventSource"], record["Sns"]["Message"], record["Sns"]["Subject"]
    ('aws:sns', 'hello', None)
    """
    envelope = sns_envelope(message, **options)
    unsubscribe_url = envelope["UnsubscribeURL"]
    subscription_arn = unsubscribe_url.partition("SubscriptionArn=")[2]
    sns: dict[str, Any] = {
        "SignatureVersion": envelope["SignatureVersion"],
        "Timestamp": envelope["Timestamp"],
        "Signature": envelope["Signature"],
        "SigningCertUrl": envelope["SigningCertURL"],
        "MessageId": envelope["MessageId"],
        "Message": envelope["Message"],
        "MessageAttributes": envelope.get("MessageAttributes", {}),
        "Type": envelope["Type"],
        "UnsubscribeUrl": unsubscribe_url,
        "TopicArn": envelope["TopicArn"],
        "Subject": envelope.get("Subject"),
    }
    return {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": subscription_arn,
        "Sns": sns,
    }


def sns_event(messages: Iterable[object], **kwargs: Any) -> dict[str, Any]:
    """Build an SNS → Lambda event from messages and/or ready-made records.

    Items with an ``"EventSource"`` key are kept as records; others go to :func:`sns_record` with
    ``kwargs``.

    >>> event = sns_event(["a", "b"], topic="notifications")
    >>> [r["Sns"]["Message"] for r in event["Records"]]
    ['a', 'b']
    """
    records = [dict(item) if is_record(item, "EventSource") else sns_record(item, **kwargs) for item in messages]
    return {"Records": records}


def _sns_attributes(attributes: Mapping[str, MessageAttributeValue] | None) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in (attributes or {}).items():
        data_type, text = typed_attribute(name, value)
        result[name] = {"Type": data_type, "Value": text}
    return result
