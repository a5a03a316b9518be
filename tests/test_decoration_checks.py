"""Mistakes found at decoration, not at run time: an idempotency key that is not a field
(or path) of the worker's model, and options of the wrong type or value, each a
ConfigurationError (also a ValueError) naming the option and what it accepts."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, computed_field
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

from msgworker import ConfigurationError, RedeliveryBackoff, circuit_breaker, idempotent, retry, worker
from msgworker.idempotency import InMemoryStore
from msgworker.testing import sqs_event


class Customer(BaseModel):
    id: str


class Payment(BaseModel):
    order_id: str
    customer: Customer | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reference(self) -> str:
        return f"ref-{self.order_id}"


class PaymentDict(TypedDict):
    order_id: str


@dataclasses.dataclass
class PaymentData:
    order_id: str


def decorate(model: Any, key: Any) -> Callable[..., Any]:
    @worker(model)
    @idempotent(key=key, name="checked", store=InMemoryStore())
    def handler(payment: Any) -> None: ...

    return handler


@pytest.mark.parametrize(
    ("model", "key", "missing"),
    [
        (Payment, "payment_id", "'payment_id'"),
        (Payment, "customer.name", "'name'"),
        (Payment, "payment.order_id.x", "'x'"),  # "payment" is the parameter: the path goes on inside it
        (PaymentDict, "payment_id", "'payment_id'"),
        (PaymentData, "payment_id", "'payment_id'"),
        (str, "order_id", "'order_id'"),
    ],
)
def test_a_key_the_model_does_not_have_fails_at_decoration(model: Any, key: str, missing: str) -> None:
    with pytest.raises(ConfigurationError, match=rf"idempotent\(key={key!r}\): .* has no field {missing}") as raised:
        decorate(model, key)
    assert "pass key= a callable" in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_the_error_lists_the_fields_there_are() -> None:
    with pytest.raises(ConfigurationError, match=r"Payment has no field 'payment_id' \(its fields: order_id, customer"):
        decorate(Payment, "payment_id")


@pytest.mark.parametrize(
    ("model", "key"),
    [
        (Payment, "order_id"),
        (Payment, "customer.id"),
        (Payment, "reference"),  # a computed field / property
        (Payment, "payment.order_id"),
        (PaymentDict, "order_id"),
        (PaymentData, "order_id"),
        (None, "anything.at.all"),  # decoded JSON: any field may be there
        (dict[str, Any], "order_id"),
        (Payment, lambda payment: payment.order_id),
        (Payment, None),
    ],
)
def test_keys_that_can_be_there_are_accepted(model: Any, key: Any) -> None:
    handler = decorate(model, key)
    assert callable(handler)


def test_an_accepted_path_works_at_run_time() -> None:
    handler = decorate(Payment, "customer.id")
    result = handler.run(sqs_event([{"order_id": "o-1", "customer": {"id": "c-1"}}]))  # type: ignore[attr-defined]
    assert not result.failures


BAD_OPTIONS: list[tuple[str, Callable[[], object]]] = [
    ("ttl", lambda: idempotent(ttl="1h")),  # type: ignore[arg-type]
    ("ttl", lambda: idempotent(ttl=-5)),
    ("lease", lambda: idempotent(lease=0)),
    ("cache_size", lambda: idempotent(cache_size=-1)),
    ("store_result", lambda: idempotent(store_result="yes")),  # type: ignore[arg-type]
    ("on_store_error", lambda: idempotent(on_store_error="ignore")),  # type: ignore[arg-type]
    ("key", lambda: idempotent(key="order..id")),
    ("key", lambda: idempotent(key=42)),  # type: ignore[arg-type]
    ("failure_threshold", lambda: circuit_breaker("api", failure_threshold=0)),
    ("failure_threshold", lambda: circuit_breaker("api", failure_threshold=2.5)),  # type: ignore[arg-type]
    ("recovery_timeout", lambda: circuit_breaker("api", recovery_timeout="30s")),  # type: ignore[arg-type]
    ("cache_seconds", lambda: circuit_breaker("api", cache_seconds=-1)),
    ("on", lambda: circuit_breaker("api", on="ConnectionError")),  # type: ignore[arg-type]
    ("name", lambda: circuit_breaker("")),
    ("attempts", lambda: retry(attempts=0)),
    ("attempts", lambda: retry(attempts="3")),  # type: ignore[arg-type]
    ("initial", lambda: retry(initial=-1)),
    ("deadline", lambda: retry(deadline="1m")),  # type: ignore[arg-type]
    ("on", lambda: retry(on=())),
    ("concurrency", lambda: worker(concurrency=0)),
    ("timeout_margin", lambda: worker(timeout_margin=-1)),
    ("envelope", lambda: worker(envelope="kafka-connect")),
    ("redelivery", lambda: worker(redelivery="fast")),
    ("dead_letter", lambda: worker(dead_letter=42)),
    ("delete_payload", lambda: worker(delete_payload="yes")),  # type: ignore[call-overload]
    ("RedeliveryBackoff", lambda: RedeliveryBackoff(base=0)),
]


@pytest.mark.parametrize(("option", "make"), BAD_OPTIONS, ids=[f"{o}-{i}" for i, (o, _) in enumerate(BAD_OPTIONS)])
def test_a_bad_option_is_a_configuration_error_naming_it(option: str, make: Callable[[], object]) -> None:
    # worker(...) checks when it decorates: apply the decorator it returns, if any.
    with pytest.raises(ConfigurationError, match=option) as raised:
        made = make()
        if callable(made) and not isinstance(made, type):
            made(lambda payload: None)
    assert isinstance(raised.value, ValueError), "what bad options raised before"


@given(st.one_of(st.text(max_size=5), st.floats(allow_nan=True), st.integers(max_value=0), st.booleans()))
def test_any_ttl_that_is_not_a_positive_number_is_refused(ttl: object) -> None:
    valid = isinstance(ttl, int | float) and not isinstance(ttl, bool) and ttl > 0 and ttl != float("inf")
    if valid:
        idempotent(ttl=ttl)  # type: ignore[arg-type]
        return
    with pytest.raises(ConfigurationError, match=r"idempotent\(ttl=\.\.\.\) must be a positive number of seconds"):
        idempotent(ttl=ttl)  # type: ignore[arg-type]
