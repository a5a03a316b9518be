"""Event factories and a fake Lambda context for testing msgworker handlers.

Every factory returns plain dicts in the shape AWS Lambda hands to a function, so a handler can be
exercised exactly as it runs in production, without boto3, LocalStack or network access:

>>> from msgworker.testing import LambdaContext, sqs_event
>>> event = sqs_event([{"order_id": "o-1"}, {"order_id": "o-2"}], queue="orders")
>>> [record["body"] for record in event["Records"]]
['{"order_id": "o-1"}', '{"order_id": "o-2"}']
>>> context = LambdaContext(timeout=3)
>>> context.get_remaining_time_in_millis() <= 3000
True

Bodies, messages, details and data may be ``str``, ``bytes``, a pydantic model (serialised with
``model_dump_json()``) or any JSON-serialisable value (serialised with ``json.dumps``).

Ids are random (uuid4) on every call; sequence numbers come from one module-level counter, so they
strictly increase across calls, as AWS guarantees within a FIFO group, shard or stream partition.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import math
import os
import sys
import time as _time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeAlias, TypeGuard

from .local_aws import LocalAws, local_aws

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = [
    "DEFAULT_ACCOUNT",
    "DEFAULT_REGION",
    "LambdaContext",
    "LocalAws",
    "MessageAttributeValue",
    "dynamodb_event",
    "dynamodb_record",
    "eventbridge_event",
    "eventbridge_to_sqs_event",
    "kinesis_event",
    "kinesis_record",
    "local_aws",
    "sns_envelope",
    "sns_event",
    "sns_record",
    "sns_to_sqs_event",
    "sqs_event",
    "sqs_record",
    "to_dynamodb_json",
]

DEFAULT_REGION = "us-east-1"
"""Region used by every factory unless ``region=`` is given.

>>> DEFAULT_REGION
'us-east-1'
"""

DEFAULT_ACCOUNT = "123456789012"
"""AWS account id used by every factory unless ``account=`` is given.

>>> DEFAULT_ACCOUNT
'123456789012'
"""

MessageAttributeValue: TypeAlias = str | int | float | bytes | list[str]
"""A message attribute value: ``str`` (String), ``int``/``float`` (Number), ``bytes`` (Binary) or
``list[str]`` (SNS ``String.Array``).

>>> attributes: dict[str, MessageAttributeValue] = {"tenant": "acme", "priority": 5}
"""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SENDER_ID = "AIDAQ3EXAMPLEMSGWRKR7"
_SHARD_ID = "shardId-000000000000"
_STREAM_LABEL = "2026-11-25T00:00:00.000"
# Base values give each source's sequence numbers the length AWS uses (SQS FIFO: 20 digits, Kinesis:
# 56 digits, DynamoDB Streams: 28 digits) so code that stores or compares them as strings is exercised;
# the strides stop consecutive values from differing only in their last digit.
_SQS_SEQUENCE = (18_862_415_396_531_846_144, 8_388_608)
_KINESIS_SEQUENCE = (
    49_657_245_312_108_455_921_368_810_458_032_217_663_310_930_557_745_741_826,
    2**64 + 97_531,
)
_DYNAMODB_SEQUENCE = (6_307_851_200_000_000_014_856_031_120, 100_000_007)
# itertools.count.__next__ is atomic under the GIL, so concurrent test threads still get unique values.
_sequence = itertools.count(1)
# EventBridge serialises events without whitespace; SQS bodies from an EventBridge target look like this.
_COMPACT = (",", ":")
_DYNAMODB_EVENT_NAMES = frozenset({"INSERT", "MODIFY", "REMOVE"})


# --------------------------------------------------------------------------------------------------
# shared helpers


def _is_model(value: object) -> TypeGuard[BaseModel]:
    # A BaseModel instance implies pydantic is already imported, so looking the module up answers the
    # isinstance question without making `import msgworker.testing` pay pydantic's import cost.
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(value, pydantic.BaseModel)


def _to_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8")
    if _is_model(value):
        return value.model_dump_json()
    return json.dumps(value)


def _to_bytes(value: object) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return _to_text(value).encode("utf-8")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _utc(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.now(UTC)
    # Naive datetimes are read as UTC rather than local time so tests behave the same on every machine.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _epoch_ms(moment: datetime) -> int:
    # Integer arithmetic on timedeltas avoids the float rounding of datetime.timestamp() * 1000.
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _iso_ms(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def _iso_s(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}Z"


def _next_sequence(base_and_stride: tuple[int, int]) -> str:
    base, stride = base_and_stride
    return str(base + next(_sequence) * stride)


def _check_attribute_value(name: str, value: object) -> None:
    # bool is an int subclass; silently sending it as Number "1" would hide a likely mistake.
    if isinstance(value, bool) or not isinstance(value, str | int | float | bytes | list):
        raise TypeError(
            f"message attribute {name!r}: expected str, int, float, bytes or list[str], got {type(value).__name__}"
        )
    if isinstance(value, list) and not all(isinstance(item, str) for item in value):
        raise TypeError(f"message attribute {name!r}: list values must all be str")


def _attribute_number(value: int | float) -> str:
    # repr() is the shortest text that round-trips a float, so the consumer parses back the same number.
    return repr(value) if isinstance(value, float) else str(value)


def _sqs_attributes(attributes: Mapping[str, MessageAttributeValue] | None) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in (attributes or {}).items():
        _check_attribute_value(name, value)
        if isinstance(value, bytes):
            result[name] = {
                "binaryValue": _b64(value),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "Binary",
            }
            continue
        if isinstance(value, str):
            text, data_type = value, "String"
        elif isinstance(value, list):
            # SNS raw delivery forwards String.Array attributes to SQS as their JSON text.
            text, data_type = json.dumps(value, separators=(",", ":")), "String.Array"
        else:
            text, data_type = _attribute_number(value), "Number"
        result[name] = {
            "stringValue": text,
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": data_type,
        }
    return result


def _sns_attributes(attributes: Mapping[str, MessageAttributeValue] | None) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in (attributes or {}).items():
        _check_attribute_value(name, value)
        if isinstance(value, bytes):
            result[name] = {"Type": "Binary", "Value": _b64(value)}
        elif isinstance(value, str):
            result[name] = {"Type": "String", "Value": value}
        elif isinstance(value, list):
            result[name] = {"Type": "String.Array", "Value": json.dumps(value, separators=(",", ":"))}
        else:
            result[name] = {"Type": "Number", "Value": _attribute_number(value)}
    return result


def _md5_of_message_attributes(attributes: Mapping[str, Any]) -> str:
    # SQS's documented digest: for each attribute in name order, the length-prefixed name, data type,
    # a transport byte (1 = string, 2 = binary) and the length-prefixed value.
    digest = hashlib.md5(usedforsecurity=False)

    def put(chunk: bytes) -> None:
        digest.update(len(chunk).to_bytes(4, "big"))
        digest.update(chunk)

    for name in sorted(attributes):
        attribute = attributes[name]
        put(name.encode("utf-8"))
        put(attribute["dataType"].encode("utf-8"))
        if "binaryValue" in attribute:
            digest.update(b"\x02")
            put(base64.b64decode(attribute["binaryValue"]))
        else:
            digest.update(b"\x01")
            put(attribute["stringValue"].encode("utf-8"))
    return digest.hexdigest()


def _is_record(item: object, source_key: str) -> TypeGuard[Mapping[str, Any]]:
    return isinstance(item, Mapping) and source_key in item


# --------------------------------------------------------------------------------------------------
# SQS


def sqs_record(
    body: object,
    *,
    message_id: str | None = None,
    queue: str = "msgworker-queue",
    group_id: str | None = None,
    deduplication_id: str | None = None,
    receive_count: int = 1,
    sent_at: datetime | None = None,
    message_attributes: Mapping[str, MessageAttributeValue] | None = None,
    sender_id: str = _SENDER_ID,
    region: str = DEFAULT_REGION,
    account: str = DEFAULT_ACCOUNT,
) -> dict[str, Any]:
    """Build one SQS record as Lambda receives it in ``event["Records"]``.

    A ``queue`` name ending in ``.fifo`` yields a FIFO record whose ``attributes`` carry
    ``MessageGroupId`` (``group_id``, default ``"group-1"``), ``MessageDeduplicationId``
    (``deduplication_id``, default the SHA-256 of the body, as content-based deduplication does) and a
    ``SequenceNumber`` that increases with every call. ``md5OfMessageAttributes`` is present only when
    message attributes are.

    >>> record = sqs_record({"order_id": "o-1"}, queue="orders.fifo", group_id="customer-1")
    >>> record["body"], record["attributes"]["MessageGroupId"]
    ('{"order_id": "o-1"}', 'customer-1')

    Raises:
        ValueError: ``group_id`` or ``deduplication_id`` given for a standard (non-FIFO) queue, or
            ``receive_count`` below 1.
    """
    fifo = queue.endswith(".fifo")
    if not fifo and (group_id is not None or deduplication_id is not None):
        raise ValueError(
            f"queue {queue!r} is a standard queue: group_id/deduplication_id need a FIFO queue "
            "(a name ending in '.fifo')"
        )
    if receive_count < 1:
        raise ValueError(f"receive_count must be >= 1, got {receive_count}")
    text = _to_text(body)
    sent = _utc(sent_at)
    sent_ms = _epoch_ms(sent)
    attributes: dict[str, str] = {
        "ApproximateReceiveCount": str(receive_count),
        "SentTimestamp": str(sent_ms),
    }
    if fifo:
        attributes["SequenceNumber"] = _next_sequence(_SQS_SEQUENCE)
        attributes["MessageGroupId"] = group_id if group_id is not None else "group-1"
    attributes["SenderId"] = sender_id
    if fifo:
        attributes["MessageDeduplicationId"] = (
            deduplication_id if deduplication_id is not None else hashlib.sha256(text.encode("utf-8")).hexdigest()
        )
    # Lambda polls within milliseconds of the send; a small fixed lag keeps the two timestamps ordered.
    attributes["ApproximateFirstReceiveTimestamp"] = str(sent_ms + 12)

    sqs_attributes = _sqs_attributes(message_attributes)
    record: dict[str, Any] = {
        "messageId": message_id if message_id is not None else str(uuid.uuid4()),
        "receiptHandle": "AQEB" + _b64(os.urandom(132)),
        "body": text,
        "attributes": attributes,
        "messageAttributes": sqs_attributes,
    }
    if sqs_attributes:
        record["md5OfMessageAttributes"] = _md5_of_message_attributes(sqs_attributes)
    record["md5OfBody"] = hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()
    record["eventSource"] = "aws:sqs"
    record["eventSourceARN"] = f"arn:aws:sqs:{region}:{account}:{queue}"
    record["awsRegion"] = region
    return record


def sqs_event(
    bodies: Iterable[object],
    *,
    group_ids: Sequence[str] | None = None,
    **record_kwargs: Any,
) -> dict[str, Any]:
    """Build an SQS event (``{"Records": [...]}``) from bodies and/or ready-made records.

    Items that are already record dicts (they have an ``"eventSource"`` key) are kept as is; any other
    item is a body passed to :func:`sqs_record` with ``record_kwargs``. ``group_ids[i]`` sets the
    message group of item ``i`` (ignored for ready-made records) and implies a FIFO queue:
    ``"msgworker-queue.fifo"`` unless ``queue=`` is given.

    >>> event = sqs_event(["a", "b", "c"], group_ids=["g1", "g2", "g1"])
    >>> [r["attributes"]["MessageGroupId"] for r in event["Records"]]
    ['g1', 'g2', 'g1']

    Raises:
        ValueError: ``group_ids`` does not have one entry per item.
    """
    items = list(bodies)
    if group_ids is not None:
        if len(group_ids) != len(items):
            raise ValueError(f"group_ids has {len(group_ids)} entries for {len(items)} bodies")
        record_kwargs.setdefault("queue", "msgworker-queue.fifo")
    records: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        if _is_record(item, "eventSource"):
            records.append(dict(item))
        elif group_ids is not None:
            records.append(sqs_record(item, **{**record_kwargs, "group_id": group_ids[index]}))
        else:
            records.append(sqs_record(item, **record_kwargs))
    return {"Records": records}


# --------------------------------------------------------------------------------------------------
# SNS


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
    envelope["Message"] = _to_text(message)
    envelope["Timestamp"] = _iso_ms(_utc(timestamp))
    envelope["SignatureVersion"] = "1"
    # Real signatures are RSA-2048 (256 bytes); the fake has the same size so length checks behave alike.
    envelope["Signature"] = _b64(os.urandom(256))
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


def sns_record(
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
    """Build one SNS → Lambda record (an item of ``event["Records"]`` for an SNS-triggered function).

    Unlike the SQS envelope, ``Sns`` always carries ``Subject`` (``None`` when absent) and
    ``MessageAttributes`` (``{}`` when absent), and spells ``SigningCertUrl``/``UnsubscribeUrl``.

    >>> record = sns_record("hello", topic="notifications")
    >>> record["EventSource"], record["Sns"]["Message"], record["Sns"]["Subject"]
    ('aws:sns', 'hello', None)
    """
    envelope = sns_envelope(
        message,
        topic=topic,
        subject=subject,
        message_attributes=message_attributes,
        message_id=message_id,
        timestamp=timestamp,
        region=region,
        account=account,
    )
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
        "Subject": subject,
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
    records = [dict(item) if _is_record(item, "EventSource") else sns_record(item, **kwargs) for item in messages]
    return {"Records": records}


# --------------------------------------------------------------------------------------------------
# EventBridge


def eventbridge_event(
    detail: object,
    *,
    source: str = "com.example.orders",
    detail_type: str = "OrderPlaced",
    event_id: str | None = None,
    time: datetime | None = None,
    resources: Iterable[str] = (),
    bus: str | None = None,
    region: str = DEFAULT_REGION,
    account: str = DEFAULT_ACCOUNT,
) -> dict[str, Any]:
    """Build an EventBridge event as a Lambda target (or an SQS target's body) receives it.

    ``detail`` may be a Mapping, a pydantic model (``model_dump(mode="json")``), a JSON string or bytes
    of a JSON object. EventBridge does not put the bus name into delivered events, so ``bus`` adds no
    key; it is accepted so tests can say which bus they model and is checked to be a non-empty name.

    >>> event = eventbridge_event({"order_id": "o-1"}, detail_type="OrderPlaced", bus="orders")
    >>> event["detail-type"], event["detail"], event["version"]
    ('OrderPlaced', {'order_id': 'o-1'}, '0')

    Raises:
        ValueError: ``bus`` is an empty string.
        TypeError: ``detail`` is not a JSON object.
    """
    if bus is not None and not bus:
        raise ValueError("bus must be a non-empty event bus name")
    payload: object
    if _is_model(detail):
        payload = detail.model_dump(mode="json")
    elif isinstance(detail, str | bytes | bytearray):
        payload = json.loads(detail)
    else:
        payload = detail
    if not isinstance(payload, Mapping):
        raise TypeError(f"EventBridge detail must be a JSON object, got {type(payload).__name__}")
    return {
        "version": "0",
        "id": event_id if event_id is not None else str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": _iso_s(_utc(time)),
        "region": region,
        "resources": list(resources),
        "detail": dict(payload),
    }


def eventbridge_to_sqs_event(
    details: Iterable[object],
    *,
    source: str = "com.example.orders",
    detail_type: str = "OrderPlaced",
    bus: str | None = None,
    queue: str = "msgworker-queue",
    region: str = DEFAULT_REGION,
    account: str = DEFAULT_ACCOUNT,
    eventbridge: Mapping[str, Any] | None = None,
    sqs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build an SQS event for a queue that is the target of an EventBridge rule.

    Each body is the compact JSON text of :func:`eventbridge_event`. The common options are named parameters
    (``source``, ``detail_type``, ``bus`` for EventBridge; ``queue`` for SQS; ``region`` and
    ``account`` for both). Any other :func:`eventbridge_event` option (``time``, ``resources``) goes in
    the ``eventbridge`` mapping and any other :func:`sqs_event` option (``sent_at``, ``receive_count``,
    ``message_attributes``, ``group_ids``, ...) in the ``sqs`` mapping. Items that are already whole
    EventBridge events (they have ``"detail-type"`` and ``"detail"`` keys) are used as is.

    >>> event = eventbridge_to_sqs_event([{"order_id": "o-1"}], queue="high-value-orders")
    >>> json.loads(event["Records"][0]["body"])["detail"]
    {'order_id': 'o-1'}
    """
    eventbridge_options = dict(eventbridge or {})
    sqs_options = dict(sqs or {})
    # EventBridge hands the event to SQS right after it occurs, so default the send time to the event time.
    if "time" in eventbridge_options:
        sqs_options.setdefault("sent_at", eventbridge_options["time"])
    bodies: list[str] = []
    for detail in details:
        if isinstance(detail, Mapping) and "detail-type" in detail and "detail" in detail:
            bodies.append(json.dumps(dict(detail), separators=_COMPACT))
            continue
        event = eventbridge_event(
            detail,
            source=source,
            detail_type=detail_type,
            bus=bus,
            region=region,
            account=account,
            **eventbridge_options,
        )
        bodies.append(json.dumps(event, separators=_COMPACT))
    return sqs_event(bodies, queue=queue, region=region, account=account, **sqs_options)


# --------------------------------------------------------------------------------------------------
# Kinesis


def kinesis_record(
    data: object,
    *,
    partition_key: str | None = None,
    sequence_number: str | int | None = None,
    stream: str = "msgworker-stream",
    arrival: datetime | None = None,
    shard_id: str = _SHARD_ID,
    region: str = DEFAULT_REGION,
    account: str = DEFAULT_ACCOUNT,
) -> dict[str, Any]:
    """Build one Kinesis Data Streams record as Lambda receives it.

    ``data`` is turned into bytes (str as UTF-8, models and other values as JSON) and base64-encoded
    into ``kinesis.data``. The sequence number increases with every call unless given; the partition
    key defaults to a random uuid.

    >>> record = kinesis_record({"order_id": "o-1"}, partition_key="customer-1", stream="orders")
    >>> base64.b64decode(record["kinesis"]["data"])
    b'{"order_id": "o-1"}'
    """
    sequence = str(sequence_number) if sequence_number is not None else _next_sequence(_KINESIS_SEQUENCE)
    arrived = _utc(arrival)
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key if partition_key is not None else str(uuid.uuid4()),
            "sequenceNumber": sequence,
            "data": _b64(_to_bytes(data)),
            "approximateArrivalTimestamp": _epoch_ms(arrived) / 1000,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{sequence}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": f"arn:aws:iam::{account}:role/msgworker-function-role",
        "awsRegion": region,
        "eventSourceARN": f"arn:aws:kinesis:{region}:{account}:stream/{stream}",
    }


def kinesis_event(datas: Iterable[object], **kwargs: Any) -> dict[str, Any]:
    """Build a Kinesis event from data items and/or ready-made records.

    Items with an ``"eventSource"`` key are kept as records; others go to :func:`kinesis_record` with
    ``kwargs``.

    >>> event = kinesis_event([b"a", b"b"], stream="orders", partition_key="p")
    >>> [r["kinesis"]["data"] for r in event["Records"]]
    ['YQ==', 'Yg==']
    """
    records = [dict(item) if _is_record(item, "eventSource") else kinesis_record(item, **kwargs) for item in datas]
    return {"Records": records}


# --------------------------------------------------------------------------------------------------
# DynamoDB Streams


def _dynamodb_number(value: int | float | Decimal) -> str:
    if isinstance(value, int):
        return str(value)
    number = Decimal(repr(value)) if isinstance(value, float) else value
    if not number.is_finite():
        raise ValueError(f"DynamoDB numbers must be finite, got {value!r}")
    if number.is_zero():
        return "0"
    # DynamoDB returns numbers without trailing zeros or exponents ("10.50" comes back as "10.5").
    return format(number.normalize(), "f")


def _is_number(value: object) -> TypeGuard[int | float | Decimal]:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def to_dynamodb_json(value: object) -> dict[str, Any]:
    """Serialise one Python value to a DynamoDB JSON attribute value (as found in stream images).

    ``str``→S, ``bool``→BOOL, ``int``/``float``/``Decimal``→N (a string), ``bytes``→B (base64),
    ``None``→NULL, Mapping→M, ``list``/``tuple``→L, and non-empty sets of str/numbers/bytes→SS/NS/BS
    (sorted, so output is deterministic).

    >>> to_dynamodb_json({"total": 12.5, "tags": {"new", "vip"}, "paid": True})
    {'M': {'total': {'N': '12.5'}, 'tags': {'SS': ['new', 'vip']}, 'paid': {'BOOL': True}}}

    Raises:
        TypeError: unsupported type, non-str Mapping key, or a set mixing kinds.
        ValueError: empty set, or a non-finite number (DynamoDB rejects both).
    """
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if _is_number(value):
        return {"N": _dynamodb_number(value)}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"B": _b64(bytes(value))}
    if isinstance(value, Mapping):
        members: dict[str, Any] = {}
        for key, member in value.items():
            if not isinstance(key, str):
                raise TypeError(f"DynamoDB map keys must be str, got {type(key).__name__}")
            members[key] = to_dynamodb_json(member)
        return {"M": members}
    if isinstance(value, list | tuple):
        return {"L": [to_dynamodb_json(member) for member in value]}
    if isinstance(value, set | frozenset):
        return _dynamodb_set(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to DynamoDB JSON")


def _dynamodb_set(value: set[Any] | frozenset[Any]) -> dict[str, Any]:
    if not value:
        raise ValueError("DynamoDB does not allow empty sets")
    if all(isinstance(member, str) for member in value):
        return {"SS": sorted(value)}
    if all(_is_number(member) for member in value):
        # Distinct Python values can print the same (0.1 and Decimal("0.1")); DynamoDB rejects duplicates.
        return {"NS": sorted({_dynamodb_number(member) for member in value}, key=Decimal)}
    if all(isinstance(member, bytes) for member in value):
        return {"BS": [_b64(member) for member in sorted(value)]}
    raise TypeError("a DynamoDB set must hold only str, only numbers or only bytes")


_ImagePair: TypeAlias = tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]


def _image(image: Mapping[str, Any]) -> dict[str, Any]:
    return {name: to_dynamodb_json(member) for name, member in image.items()}


def dynamodb_record(
    new_image: Mapping[str, Any] | None = None,
    old_image: Mapping[str, Any] | None = None,
    *,
    keys: Mapping[str, Any] | None = None,
    event_name: str | None = None,
    sequence_number: str | int | None = None,
    table: str = "msgworker-table",
    key_names: Sequence[str] = ("id",),
    created_at: datetime | None = None,
    stream_label: str = _STREAM_LABEL,
    region: str = DEFAULT_REGION,
    account: str = DEFAULT_ACCOUNT,
) -> dict[str, Any]:
    """Build one DynamoDB Streams record (``NEW_AND_OLD_IMAGES`` view) as Lambda receives it.

    Images and keys are plain Python values, serialised with :func:`to_dynamodb_json`. ``event_name``
    defaults to INSERT (only ``new_image``), REMOVE (only ``old_image``) or MODIFY (both); ``keys``
    defaults to the ``key_names`` attributes of whichever image exists (the new one if both).
    ``SizeBytes`` is an approximation computed from the serialised keys and images.

    >>> record = dynamodb_record({"id": "o-1", "total": 10}, table="orders")
    >>> record["eventName"], record["dynamodb"]["Keys"], record["dynamodb"]["NewImage"]["total"]
    ('INSERT', {'id': {'S': 'o-1'}}, {'N': '10'})

    Raises:
        ValueError: no image given, an unknown ``event_name``, or a key attribute missing from the image.
    """
    if new_image is None and old_image is None:
        raise ValueError("give new_image, old_image or both")
    if event_name is None:
        event_name = "INSERT" if old_image is None else "REMOVE" if new_image is None else "MODIFY"
    elif event_name not in _DYNAMODB_EVENT_NAMES:
        raise ValueError(f"event_name must be one of {sorted(_DYNAMODB_EVENT_NAMES)}, got {event_name!r}")
    if keys is None:
        source = new_image if new_image is not None else old_image
        assert source is not None  # one image exists: checked above
        missing = [name for name in key_names if name not in source]
        if missing:
            raise ValueError(f"key attribute(s) {missing} not in the image; pass keys= or key_names=")
        keys = {name: source[name] for name in key_names}

    body: dict[str, Any] = {"Keys": _image(keys)}
    if new_image is not None:
        body["NewImage"] = _image(new_image)
    if old_image is not None:
        body["OldImage"] = _image(old_image)
    size = len(json.dumps(body, separators=(",", ":")).encode("utf-8"))
    sequence = str(sequence_number) if sequence_number is not None else _next_sequence(_DYNAMODB_SEQUENCE)
    return {
        "eventID": uuid.uuid4().hex,
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": {
            "ApproximateCreationDateTime": _epoch_ms(_utc(created_at)) // 1000,
            **body,
            "SequenceNumber": sequence,
            "SizeBytes": size,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": f"arn:aws:dynamodb:{region}:{account}:table/{table}/stream/{stream_label}",
    }


def dynamodb_event(
    records_or_images: Iterable[Mapping[str, Any] | _ImagePair],
    **kwargs: Any,
) -> dict[str, Any]:
    """Build a DynamoDB Streams event from records, new images and/or ``(new, old)`` image pairs.

    Items with an ``"eventSource"`` key are kept as records; other Mappings are new images (INSERT);
    ``(new_image, old_image)`` tuples give MODIFY, or REMOVE when ``new_image`` is ``None``. ``kwargs``
    go to :func:`dynamodb_record`.

    >>> event = dynamodb_event([{"id": "a"}, ({"id": "a", "n": 2}, {"id": "a", "n": 1}), (None, {"id": "a"})])
    >>> [r["eventName"] for r in event["Records"]]
    ['INSERT', 'MODIFY', 'REMOVE']
    """
    records: list[dict[str, Any]] = []
    for item in records_or_images:
        if isinstance(item, tuple):
            new_image, old_image = item
            records.append(dynamodb_record(new_image, old_image, **kwargs))
        elif _is_record(item, "eventSource"):
            records.append(dict(item))
        else:
            records.append(dynamodb_record(item, **kwargs))
    return {"Records": records}


# --------------------------------------------------------------------------------------------------
# Lambda context


class LambdaContext:
    """A stand-in for the context object the Python Lambda runtime passes to a handler.

    The remaining time counts down in real time from ``remaining_ms`` (default ``timeout * 1000``);
    :meth:`advance` and :meth:`set_remaining` let tests run out of time deterministically.

    >>> context = LambdaContext(function_name="orders", timeout=10)
    >>> context.invoked_function_arn
    'arn:aws:lambda:us-east-1:123456789012:function:orders'
    >>> context.advance(9.5)
    >>> context.get_remaining_time_in_millis() <= 500
    True
    """

    def __init__(
        self,
        *,
        function_name: str = "msgworker-function",
        timeout: float = 30.0,
        memory_limit_in_mb: int = 128,
        remaining_ms: int | None = None,
        aws_request_id: str | None = None,
        region: str = DEFAULT_REGION,
        account: str = DEFAULT_ACCOUNT,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        if remaining_ms is not None and remaining_ms < 0:
            raise ValueError(f"remaining_ms must be >= 0, got {remaining_ms}")
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account}:function:{function_name}"
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = aws_request_id if aws_request_id is not None else str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        # The real runtime exposes these for mobile SDK invocations; handlers may read them.
        self.identity: object | None = None
        self.client_context: object | None = None
        self._budget_ms = remaining_ms if remaining_ms is not None else round(timeout * 1000)
        self._started = _time.monotonic()
        self._advanced = 0.0

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the (simulated) Lambda timeout, never below 0.

        >>> LambdaContext(remaining_ms=0).get_remaining_time_in_millis()
        0
        """
        elapsed = _time.monotonic() - self._started + self._advanced
        return max(0, math.floor(self._budget_ms - elapsed * 1000))

    def advance(self, seconds: float) -> None:
        """Move this context's clock forward by ``seconds``, as if the handler had spent that long.

        >>> context = LambdaContext(timeout=1)
        >>> context.advance(2)
        >>> context.get_remaining_time_in_millis()
        0

        Raises:
            ValueError: ``seconds`` is negative (time does not run backwards; use set_remaining).
        """
        if seconds < 0:
            raise ValueError(f"cannot advance by a negative amount ({seconds}); use set_remaining()")
        self._advanced += seconds

    def set_remaining(self, ms: int) -> None:
        """Restart the countdown from ``ms`` milliseconds.

        >>> context = LambdaContext()
        >>> context.set_remaining(250)
        >>> 240 <= context.get_remaining_time_in_millis() <= 250
        True

        Raises:
            ValueError: ``ms`` is negative.
        """
        if ms < 0:
            raise ValueError(f"remaining time must be >= 0, got {ms}")
        self._budget_ms = ms
        self._started = _time.monotonic()
        self._advanced = 0.0

    def __repr__(self) -> str:
        return (
            f"LambdaContext(function_name={self.function_name!r}, aws_request_id={self.aws_request_id!r}, "
            f"remaining_ms={self.get_remaining_time_in_millis()})"
        )
