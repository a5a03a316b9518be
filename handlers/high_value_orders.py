"""High-value orders routed by an EventBridge rule, to an SQS queue or straight to Lambda.

The rule filters on ``detail.total`` (numeric matching); the record function receives
the event's ``detail`` and reads the event's own fields from the Message.

Each order is sent for review at most once, however often it is delivered: the whole
decorator stack of a production consumer, each layer's state in DynamoDB
(``MSGWORKER_IDEMPOTENCY_TABLE`` and ``MSGWORKER_BREAKER_TABLE``, set by template.yaml).
"""

from __future__ import annotations

import asyncio
import logging

from pydantic import BaseModel

from msgworker import Message, circuit_breaker, idempotent, retry, worker

log = logging.getLogger(__name__)


class HighValueOrder(BaseModel):
    order_id: str
    customer_id: str
    total: float
    currency: str


@worker(HighValueOrder, concurrency=8, redelivery=True)  # failed SQS records come back with backoff
@idempotent(key="order_id", name="high-value-review")  # one review per order within the hour
@circuit_breaker("review-api", pause_source=True)  # an outage pauses the queue, not the DLQ
@retry(attempts=3, on=(ConnectionError, TimeoutError))  # transient errors retried in-process
async def handler(order: HighValueOrder, message: Message) -> None:
    # async def works as-is: records run as tasks on one event loop kept warm.
    await asyncio.sleep(0)
    log.info(
        "review order %s (%s %.2f) from %s / %s",
        order.order_id,
        order.currency,
        order.total,
        message.event_source,
        message.detail_type,
    )
