"""Kafka events: Amazon MSK and self-managed Apache Kafka batches, as Lambda's event source mapping delivers them."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from ._common import DEFAULT_ACCOUNT, DEFAULT_REGION, b64, epoch_ms, to_bytes, utc

_OFFSETS = itertools.count(100)
_CLUSTER_ID = "a1b2c3d4-e5f6-7890-abcd-ef1234567890-1"


def kafka_record(
    value: object,
    *,
    topic: str = "msgworker-topic",
    partition: int = 0,
    offset: int | None = None,
    key: object | None = None,
    headers: Mapping[str, object] | Iterable[tuple[str, object]] = (),
    timestamp: datetime | None = None,
    timestamp_type: str = "CREATE_TIME",
) -> dict[str, Any]:
    """Build one Kafka record as Lambda receives it: ``key`` and ``value`` as base64, headers
    as lists of ``{name: [byte, ...]}``, the timestamp in epoch milliseconds.

    ``value`` and ``key`` are turned into bytes (str as UTF-8, models and other values as
    JSON); ``value=None`` makes a tombstone (no ``value`` key). Offsets increase with every
    call unless given.

    >>> import base64
    >>> record = kafka_record({"order_id": "o-1"}, topic="orders", partition=2, offset=7, headers={"h": b"v"})
    >>> base64.b64decode(record["value"]), record["offset"], record["headers"]
    (b'{"order_id": "o-1"}', 7, [{'h': [118]}])
    """
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    record: dict[str, Any] = {
        "topic": topic,
        "partition": partition,
        "offset": offset if offset is not None else next(_OFFSETS),
        "timestamp": epoch_ms(utc(timestamp)),
        "timestampType": timestamp_type,
    }
    if key is not None:
        record["key"] = b64(to_bytes(key))
    if value is not None:
        record["value"] = b64(to_bytes(value))
    record["headers"] = [{name: list(to_bytes(data))} for name, data in pairs]
    return record


def kafka_event(
    values: Iterable[object],
    *,
    topic: str = "msgworker-topic",
    partitions: Iterable[int] | None = None,
    self_managed: bool = False,
    cluster: str = "msgworker-cluster",
    region: str = DEFAULT_REGION,
    account: str = DEFAULT_ACCOUNT,
    **kwargs: Any,
) -> dict[str, Any]:
    """Build a Kafka event (MSK, or self-managed with ``self_managed=True``) from values
    and/or ready-made records, grouped by ``"topic-partition"`` as Lambda groups them.

    Items with a ``"topic"`` and ``"partition"`` are kept as records; others go to
    :func:`kafka_record` with ``kwargs``, on partition ``partitions[i]`` (cycled; 0 by
    default). Offsets increase within each partition.

    >>> event = kafka_event([b"a", b"b", b"c"], topic="orders", partitions=[0, 1])
    >>> event["eventSource"], sorted(event["records"])
    ('aws:kafka', ['orders-0', 'orders-1'])
    >>> [r["offset"] for r in event["records"]["orders-0"]] == sorted(r["offset"] for r in event["records"]["orders-0"])
    True
    """
    cycle = itertools.cycle(list(partitions) if partitions is not None else [0])
    by_partition: dict[str, list[dict[str, Any]]] = {}
    for item in values:
        if isinstance(item, Mapping) and "topic" in item and "partition" in item:
            record = dict(item)
        else:
            record = kafka_record(item, topic=topic, partition=next(cycle), **kwargs)
        by_partition.setdefault(f"{record['topic']}-{record['partition']}", []).append(record)
    brokers = "b-1.msgworker.kafka.example.com:9092,b-2.msgworker.kafka.example.com:9092"
    if self_managed:
        return {"eventSource": "SelfManagedKafka", "bootstrapServers": brokers, "records": by_partition}
    return {
        "eventSource": "aws:kafka",
        "eventSourceArn": f"arn:aws:kafka:{region}:{account}:cluster/{cluster}/{_CLUSTER_ID}",
        "bootstrapServers": brokers,
        "records": by_partition,
    }
