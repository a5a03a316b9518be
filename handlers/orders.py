"""Orders from an SQS queue (standard or FIFO), a Kinesis stream or a DynamoDB stream.

One record function serves every source: msgworker detects the event, decodes the
payload (SQS body, Kinesis data, DynamoDB image) and validates it into ``Order``.
A record that does not validate is reported failed on its own; the rest go on.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, Field

from msgworker import Message, PermanentError, worker

log = logging.getLogger(__name__)


class Order(BaseModel):
    order_id: str
    customer_id: str
    total: float = Field(ge=0)
    currency: str = Field(default="EUR", min_length=3, max_length=3)


SUPPORTED_CURRENCIES = frozenset({"EUR", "USD", "GBP"})


@worker(Order, concurrency=4)
def handler(order: Order, message: Message) -> None:
    if order.currency not in SUPPORTED_CURRENCIES:
        # Retrying cannot make an unsupported currency supported.
        raise PermanentError(f"order {order.order_id}: currency {order.currency} is not supported")
    log.info("order %s of %s %.2f accepted (from %s)", order.order_id, order.currency, order.total, message.source)
