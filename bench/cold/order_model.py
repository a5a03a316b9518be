"""The payload model, alone: the import floor of any pydantic-based handler."""

from pydantic import BaseModel


class Order(BaseModel):
    order_id: str
    customer_id: str
    total: float
    currency: str
