"""Checked by mypy in `make typecheck`: `@idempotent(...)` keeps a function's signature and
return type, sync or async, for users' type checkers (ParamSpec)."""

from collections.abc import Coroutine
from typing import Any, assert_type

from msgworker import idempotent
from msgworker.idempotency import InMemoryStore


@idempotent(key="order_id", store=InMemoryStore())
def charge(order_id: str, amount: float, *, currency: str = "EUR") -> dict[str, float]:
    return {order_id: amount}


@idempotent(key="order_id", store=InMemoryStore())
async def refund(order_id: str) -> bool:
    return True


def keeps_signatures() -> None:
    assert_type(charge("o-1", 5.0, currency="USD"), dict[str, float])
    charge("o-1", amount="five")  # type: ignore[arg-type]


async def keeps_async_signatures() -> None:
    assert_type(await assert_type(refund("o-1"), Coroutine[Any, Any, bool]), bool)
    await refund()  # type: ignore[call-arg]
