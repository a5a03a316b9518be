"""SQS events: records as Lambda's SQS event source mapping delivers them, standard and FIFO."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from ._common import (
    DEFAULT_ACCOUNT,
    DEFAULT_REGION,
    MessageAttributeValue,
    b64,
    epoch_ms,
    is_record,
    next_sequence,
    to_text,
    typed_attribute,
    utc,
)

_SENDER_ID = "AIDAQ3EXAMPLEMSGWRKR7"
# A base value gives FIFO sequence numbers the 20 digits SQS uses, so code that stores or compares
# them as strings is exercised; the stride stops consecutive values from differing only in their last digit.
_SQS_SEQUENCE = (18_862_415_396_531_846_144, 8_388_608)


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
    text = to_text(body)
    sent_ms = epoch_ms(utc(sent_at))
    attributes: dict[str, str] = {
        "ApproximateReceiveCount": str(receive_count),
        "SentTimestamp": str(sent_ms),
    }
    if fifo:
        attributes["SequenceNumber"] = next_sequence(_SQS_SEQUENCE)
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
        "receiptHandle": "AQEB" + b64(os.urandom(132)),
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
        if is_record(item, "eventSource"):
            records.append(dict(item))
        elif group_ids is not None:
            records.append(sqs_record(item, **{**record_kwargs, "group_id": group_ids[index]}))
        else:
            records.append(sqs_record(item, **record_kwargs))
    return {"Records": records}


def _sqs_attributes(attributes: Mapping[str, MessageAttributeValue] | None) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in (attributes or {}).items():
        data_type, text = typed_attribute(name, value)
        value_key = "binaryValue" if data_type == "Binary" else "stringValue"
        result[name] = {value_key: text, "stringListValues": [], "binaryListValues": [], "dataType": data_type}
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
