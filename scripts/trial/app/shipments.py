"""An EventBridge → Lambda consumer: the event's detail is the payload; a failure raises,
so Lambda's asynchronous retries apply."""

from __future__ import annotations

from pydantic import BaseModel

from msgworker import Message, idempotent, worker


class Shipment(BaseModel):
    order_id: str
    carrier: str


shipped: list[str] = []


@worker(Shipment)
@idempotent(key="order_id", name="ship-order")
async def handler(shipment: Shipment, message: Message) -> None:
    if shipment.carrier == "unknown":
        raise ValueError(f"no carrier for {shipment.order_id}")
    shipped.append(shipment.order_id)
