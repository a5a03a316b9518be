"""``circuit_breaker``: one breaker state per dependency, shared by every concurrent
Lambda instance through DynamoDB.

- :mod:`.machine`: the closed / open / half-open rules, pure functions.
- :mod:`.store`: the storage protocol and an in-memory store.
- :mod:`.dynamodb`: the DynamoDB store (boto3 imported on first use).
- :mod:`.layer`: the decorator, its per-container cache and the batch hooks.

Example:
    >>> from msgworker.breaker import circuit_breaker
    >>> @circuit_breaker("payments-api", table="breakers")   # the table is read at first call
    ... def charge(order):
    ...     ...
"""

from .dynamodb import TABLE_ENV, DynamoDBStore
from .layer import BreakerLogger, CircuitBreaker, circuit_breaker
from .machine import CircuitState, Policy, Snapshot
from .store import BreakerStore, InMemoryStore

__all__ = [
    "TABLE_ENV",
    "BreakerLogger",
    "BreakerStore",
    "CircuitBreaker",
    "CircuitState",
    "DynamoDBStore",
    "InMemoryStore",
    "Policy",
    "Snapshot",
    "circuit_breaker",
]
