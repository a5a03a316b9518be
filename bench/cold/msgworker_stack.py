"""DESIGN.md's handler as a user deploys it: worker + idempotent + circuit_breaker + retry.

Tables come from ``MSGWORKER_IDEMPOTENCY_TABLE`` and ``MSGWORKER_BREAKER_TABLE``.
"""

from order_model import Order

from msgworker import Message, circuit_breaker, idempotent, retry, worker


@worker(Order, concurrency=4)
@idempotent(key="order_id", name="charge")
@circuit_breaker("payments-api")
@retry(attempts=3, on=(ConnectionError,))
def handler(order: Order, message: Message) -> None:
    pass
