"""``circuit_breaker``: one breaker state per dependency, shared by every concurrent
Lambda instance through DynamoDB.

Decisions apart from I/O, one concern a module:

- :mod:`.machine`: the closed / open / half-open rules, pure functions of a snapshot and
  the time.
- :mod:`.store`: the storage protocol (five atomic operations) and an in-memory store.
- :mod:`.dynamodb`: the DynamoDB store (boto3 imported on first use).
- ``_view``: what one container knows of the shared state (the cache, the local view
  while the store is down), and every request to the store.
- ``_admission``: whether a call may run: normally, as a probe, or rejected.
- ``_outcomes``: what a call's outcome does to the shared state (failures batched).
- ``_report``: transition logs and metrics, store-error warnings.
- ``_layer``: :func:`circuit_breaker`, the decorator and the batch hooks, wiring the rest.

Cost model (the reason for most of the code):

- **Closed and healthy: no request per record.** The shared state is read at most once
  per ``cache_seconds`` per container; a success writes nothing.
- **Failures: one request per batch.** Under ``worker`` a failure is counted locally and
  the batch's count is added to the shared one in ``finish``; if the shared count known
  to this container plus the batch's own reaches ``failure_threshold``, it is added at
  once so the breaker trips mid-batch.
- **Transitions: one conditional write**, which exactly one container wins; that one
  logs the transition and counts the metric.
- **Open: no request per record.** The state cannot change before ``reopens_at``, so it
  is not even re-read until then; every call is rejected locally.

When the store cannot be reached, each container carries on with its own view: failures
are counted and the breaker trips locally, and the shared state takes over again once
the store answers (logged, and counted as ``CircuitStoreErrors``).

Example:
    >>> from msgworker.breaker import circuit_breaker
    >>> @circuit_breaker("payments-api", table="breakers")   # the table is read at first call
    ... def charge(order):
    ...     ...
"""

from ._dynamodb import TABLE_ENV, DynamoDBStore
from ._layer import CircuitBreaker, circuit_breaker
from ._machine import CircuitState, Policy, Snapshot
from ._report import BreakerLogger
from ._store import BreakerStore, InMemoryStore

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
