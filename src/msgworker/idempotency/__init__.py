"""Idempotent record processing backed by DynamoDB: ``@idempotent``.

    from msgworker import worker, idempotent

    @worker(Order)
    @idempotent(key="order_id")
    def handler(order: Order) -> None:
        charge(order)

A record's effect happens at most once per key within the TTL, even when SQS delivers
it twice at once; see docs/idempotency.md. The modules:

- :mod:`~msgworker.idempotency.layer`: the decorator and its batch hooks;
- :mod:`~msgworker.idempotency.keys`: key functions, payload hash, namespacing;
- :mod:`~msgworker.idempotency.store`: the store protocol and an in-memory store;
- :mod:`~msgworker.idempotency.dynamodb`: the DynamoDB store;
- :mod:`~msgworker.idempotency.cache`: the warm container's cache of completed keys.
"""

from ..errors import (
    IdempotencyError,
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
    IdempotencyStoreError,
)
from .cache import CompletedCache
from .dynamodb import TABLE_VARIABLE, DynamoDBStore
from .keys import field, payload_hash
from .layer import Idempotency, idempotent
from .store import Claim, IdempotencyStore, InMemoryStore, StoredRecord

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
