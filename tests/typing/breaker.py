"""Checked by mypy in `make typecheck`: a function decorated with circuit_breaker keeps its
type (ParamSpec), sync and async alike, so users' type checkers see the real signature."""

from typing import assert_type

from msgworker import circuit_breaker
from msgworker.breaker import InMemoryStore


@circuit_breaker("payments-api", store=InMemoryStore())
def charge(order_id: str, *, amount: float) -> int:
    return 1


@circuit_breaker("payments-api", store=InMemoryStore())
async def refund(order_id: str) -> bool:
    return True


async def decorated_functions_keep_their_signatures() -> None:
    assert_type(charge("o-1", amount=2.0), int)
    charge("o-1", amount="2")  # type: ignore[arg-type]
    assert_type(await refund("o-1"), bool)
    await refund(order_id=1)  # type: ignore[arg-type]
