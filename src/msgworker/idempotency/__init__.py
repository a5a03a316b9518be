"""Idempotent record processing backed by DynamoDB: ``@idempotent``.

    from msgworker import worker, idempotent

    @worker(Order)
    @idempotent(key="order_id")
    def handler(order: Order) -> None:
        charge(order)

A record's effect happens at most once per key within the TTL, even when SQS delivers
it twice at once; see docs/idempotency.md. The modules, shaped like
:mod:`msgworker.breaker` (pure rules, a store protocol, DynamoDB apart):

- :mod:`~msgworker.idempotency._decorator`: ``idempotent``, its sync and async wrappers;
- :mod:`~msgworker.idempotency._options`: the options and their checks;
- :mod:`~msgworker.idempotency._decisions`: the rules (duplicate, in progress, key reused,
  leases, what a call does next) as pure functions, no I/O;
- :mod:`~msgworker.idempotency._batch`: the batch hooks: claims for a whole batch, writes
  waited for at its end;
- :mod:`~msgworker.idempotency._layer`: the layer object (store, warm cache) and a call
  on its own outside a batch;
- :mod:`~msgworker.idempotency._keys`: key functions, payload hash, namespacing;
- :mod:`~msgworker.idempotency._store`: the store protocol and an in-memory store;
- :mod:`~msgworker.idempotency._dynamodb`: the DynamoDB store;
- :mod:`~msgworker.idempotency._cache`: the warm container's cache of completed keys.
"""

from ..errors import (
    IdempotencyError,
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
    IdempotencyStoreError,
)
from ._cache import CompletedCache
from ._decorator import idempotent
from ._dynamodb import TABLE_VARIABLE, DynamoDBStore
from ._keys import field, payload_hash
from ._layer import Idempotency
from ._store import Claim, IdempotencyStore, InMemoryStore, StoredRecord

__all__ = [
    "TABLE_VARIABLE",
    "Claim",
    "CompletedCache",
    "DynamoDBStore",
    "Idempotency",
    "IdempotencyError",
    "IdempotencyInProgressError",
    "IdempotencyKeyReusedError",
    "IdempotencyStore",
    "IdempotencyStoreError",
    "InMemoryStore",
    "StoredRecord",
    "field",
    "idempotent",
    "payload_hash",
]
