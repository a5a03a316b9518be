"""A minimal msgworker Lambda handler module, as a user would deploy it."""

from order_model import Order

from msgworker import worker


@worker(Order)
def handler(order: Order) -> None:
    pass
