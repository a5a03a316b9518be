"""EventBridge events: as a Lambda target receives them, or as SQS bodies when a queue is the target."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from ._common import DEFAULT_ACCOUNT, DEFAULT_REGION, is_model, iso_s, utc
from ._sqs import sqs_event

# EventBridge serialises events without whitespace; SQS bodies from an EventBridge target look like this.
_COMPACT = (",", ":")


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
    if is_model(detail):
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
        "time": iso_s(utc(time)),
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
