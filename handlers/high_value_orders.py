"""High-value orders routed by an EventBridge rule, to an SQS queue or straight to Lambda.

The rule filters on ``detail.total`` (numeric matching); the record function receives
the event's ``detail`` and reads the event's own fields from the Message.
"""

from __future__ import annotations

import asyncio
import logging

from pydantic import BaseModel

from msgworker import Message, worker

log = logging.getLogger(__name__)


class HighValueOrder(BaseModel):
    order_id: str
    customer_id: str
    total: float
    currency: str


@worker(HighValueOrder, concurrency=8)
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
