"""Kinesis Data Streams events: records with base64 data, as Lambda's stream poller delivers them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ._common import DEFAULT_ACCOUNT, DEFAULT_REGION, b64, epoch_ms, is_record, next_sequence, to_bytes, utc

_SHARD_ID = "shardId-000000000000"
# A base value gives sequence numbers the 56 digits Kinesis uses, so code that stores or compares them
# as strings is exercised; the stride stops consecutive values from differing only in their last digit.
_KINESIS_SEQUENCE = (
    49_657_245_312_108_455_921_368_810_458_032_217_663_310_930_557_745_741_826,
    2**64 + 97_531,
)


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

    >>> import base64
    >>> record = kinesis_record({"order_id": "o-1"}, partition_key="customer-1", stream="orders")
    >>> base64.b64decode(record["kinesis"]["data"])
    b'{"order_id": "o-1"}'
    """
    sequence = str(sequence_number) if sequence_number is not None else next_sequence(_KINESIS_SEQUENCE)
    arrived = utc(arrival)
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key if partition_key is not None else str(uuid.uuid4()),
            "sequenceNumber": sequence,
            "data": b64(to_bytes(data)),
            "approximateArrivalTimestamp": epoch_ms(arrived) / 1000,
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
    records = [dict(item) if is_record(item, "eventSource") else kinesis_record(item, **kwargs) for item in datas]
    return {"Records": records}
