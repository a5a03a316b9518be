"""A FIFO consumer: each payment charged at most once, a breaker around the payments API,
in-process retries of a dropped connection; failed records back off, bad ones go to the DLQ."""

from __future__ import annotations

from pydantic import BaseModel

from msgworker import Message, circuit_breaker, idempotent, retry, worker


class Payment(BaseModel):
    payment_id: str
    customer_id: str
    amount: float


class PaymentsApi:
    """Stands in for the payment provider's client."""

    def __init__(self) -> None:
        self.charged: list[str] = []
        self.down = False

    def charge(self, payment: Payment) -> None:
        if self.down:
            raise ConnectionError("payments API unreachable")
        self.charged.append(payment.payment_id)


api = PaymentsApi()


@worker(Payment, concurrency=2, redelivery=True, dead_letter=True)
@idempotent(key="payment_id", name="charge-payment")
@circuit_breaker("payments-api", failure_threshold=2, recovery_timeout=60)
@retry(attempts=2, on=(ConnectionError,), initial=0.001, maximum=0.002)
def handler(payment: Payment, message: Message) -> None:
    api.charge(payment)
