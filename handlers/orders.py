"""Orders from an SQS queue (standard or FIFO), a Kinesis stream, a DynamoDB stream or a Kafka topic.

One record function serves every source: msgworker detects the event, decodes the
payload (SQS body, Kinesis data, DynamoDB image, Kafka value) and validates it into ``Order``.
A record that does not validate is reported failed on its own; the rest go on. From an
SQS queue such a record goes straight to the queue's DLQ (``dead_letter=True``).
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


# dead_letter=True: a message that can never succeed (it does not validate, or raises
# PermanentError) goes to its queue's DLQ on its first failure. On the FIFO queue this is what
# keeps the valid messages behind it out of the DLQ: each receive of the poison message also
# counts against the messages of its group that wait behind it (reported not started), so
# left to SQS's maxReceiveCount they would be moved to the DLQ together with it.
@worker(Order, concurrency=4, dead_letter=True)
def handler(order: Order, message: Message) -> None:
    if order.currency not in SUPPORTED_CURRENCIES:
        # Retrying cannot make an unsupported currency supported.
        raise PermanentError(f"order {order.order_id}: currency {order.currency} is not supported")
    log.info("order %s of %s %.2f accepted (from %s)", order.order_id, order.currency, order.total, message.source)
