"""Tests that do not reach into each other, or into real AWS: :func:`reset`, in-memory
stores, and the guard against real AWS endpoints.

The pytest plugin (``msgworker.testing._plugin``, installed with ``msgworker[testing]``)
does all of this around every test; other runners call these functions themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .. import _warm
from ..errors import ConfigurationError

if TYPE_CHECKING:
    from ..breaker import InMemoryStore as BreakerMemory
    from ..idempotency import InMemoryStore as IdempotencyMemory

AWS_DOMAINS = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")
"""Hosts of real AWS endpoints (what the guard refuses)."""


def reset() -> None:
    """Make this process look like a new Lambda container: forget every AWS client, every
    store made on first use (so the next call reads ``AWS_ENDPOINT_URL`` and the table
    variables as they are then), the idempotency layers' warm caches, the breakers' cached
    states, the failure actions' resolved queues and warnings, and settings read at first
    use (``POWERTOOLS_METRICS_NAMESPACE``, the service name).

    The pytest plugin calls it before and after every test; call it between tests with
    other runners. Stores passed with ``store=`` are kept (their contents too).

    Example:
        >>> from msgworker.breaker import InMemoryStore, circuit_breaker
        >>> store = InMemoryStore()
        >>> breaker = circuit_breaker("payments", store=store)
        >>> _ = breaker.snapshot()  # cached now
        >>> reset()
        >>> breaker.store is store
        True
    """
    _warm.reset()


@dataclass(frozen=True)
class MemoryStores:
    """The in-memory stores :func:`use_memory_stores` switched to: look inside them to
    assert on what the layers recorded (``idempotency.records``, ``breaker.read(name)``)."""

    idempotency: IdempotencyMemory
    breaker: BreakerMemory


def use_memory_stores() -> MemoryStores:
    """Have every ``@idempotent`` and ``@circuit_breaker`` without a ``store=`` keep its
    state in memory (new, empty stores) instead of DynamoDB, from now until
    :func:`use_aws_stores` (the pytest plugin switches back after each test).

    They follow the DynamoDB stores' rules within one process: unit tests need no table,
    no endpoint and no credentials.

    Example:
        >>> from msgworker import idempotent
        >>> @idempotent(key="order_id", name="charge")
        ... def charge(order):
        ...     print("charged", order["order_id"])
        >>> stores = use_memory_stores()
        >>> charge({"order_id": "o-1"}); charge({"order_id": "o-1"})
        charged o-1
        >>> sorted(stores.idempotency.records)
        ['charge#o-1']
        >>> use_aws_stores()
    """
    from ..breaker import InMemoryStore as BreakerMemory
    from ..idempotency import InMemoryStore as IdempotencyMemory

    stores = MemoryStores(IdempotencyMemory(), BreakerMemory())
    _warm.use_memory_stores((stores.idempotency, stores.breaker))
    return stores


def use_aws_stores() -> None:
    """Undo :func:`use_memory_stores`: layers without a ``store=`` use DynamoDB again.

    Example:
        >>> use_aws_stores()
    """
    _warm.use_memory_stores(None)


@contextmanager
def memory_stores() -> Iterator[MemoryStores]:
    """:func:`use_memory_stores` for the ``with`` block only.

    Example:
        >>> with memory_stores() as stores:
        ...     stores.idempotency.records
        {}
    """
    stores = use_memory_stores()
    try:
        yield stores
    finally:
        use_aws_stores()


def refuse_real_aws(request: Any, **_: Any) -> None:
    """botocore ``before-send`` hook: raise instead of sending a request to a real AWS
    endpoint (moto's in-process mock, when active, answers instead and is let through).

    Example:
        >>> class Request: url = "http://127.0.0.1:5000/"
        >>> refuse_real_aws(Request())  # a local endpoint: sent
    """
    host = urlsplit(request.url).hostname or ""
    if not host.endswith(AWS_DOMAINS) or _moto_mock_active():
        return
    raise ConfigurationError(
        f"msgworker.testing refused a call to real AWS ({host}) in a test: use the local_aws fixture (or set "
        "AWS_ENDPOINT_URL to a local endpoint), switch to in-memory stores (the memory_stores fixture, "
        "msgworker.testing.use_memory_stores()), or mark the test @pytest.mark.msgworker_real_aws to allow it"
    )


def _moto_mock_active() -> bool:
    import sys

    models = sys.modules.get("moto.core.models")
    stubber = getattr(models, "botocore_stubber", None)
    return bool(getattr(stubber, "enabled", False))


def guard_real_aws(on: bool = True) -> None:
    """Refuse (``on``) or allow again every request msgworker's own AWS clients (the
    stores, the failure actions) would send to a real AWS endpoint. Local endpoints
    (``AWS_ENDPOINT_URL``) and moto's in-process mock are not affected. The pytest plugin
    turns it on for every test not marked ``msgworker_real_aws``.

    Refused calls fail as :class:`~msgworker.errors.ConfigurationError`: an idempotent
    record fails with it; a failure action (``redelivery=``, ``dead_letter=``,
    ``pause_source``) logs it once and leaves its records reported failed.

    Example:
        >>> guard_real_aws(); guard_real_aws(False)
    """
    from .._aws_clients import set_send_hook  # not at import: a plain worker never loads it

    set_send_hook(refuse_real_aws if on else None)


__all__ = [
    "AWS_DOMAINS",
    "MemoryStores",
    "guard_real_aws",
    "memory_stores",
    "refuse_real_aws",
    "reset",
    "use_aws_stores",
    "use_memory_stores",
]
