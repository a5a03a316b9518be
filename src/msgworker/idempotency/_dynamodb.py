"""The DynamoDB idempotency store: one small item per key, written with conditional requests.

The table is the shape aws-lambda-powertools uses: a string partition key ``id`` and the
TTL attribute ``expiration`` (epoch seconds). An item is::

    id                      "{name}#{key}"
    status                  "INPROGRESS" or "COMPLETED"
    owner                   random token of the delivery holding the claim
    validation              SHA-256 of the payload
    expiration              epoch seconds; past it the item counts as absent (TTL deletes it lazily)
    in_progress_expiration  epoch milliseconds; the end of an in-progress claim's lease
    data                    the function's JSON result (only when results are stored)

That is about 250 bytes, so every write costs one write unit. Each operation is one
conditional request; none uses transactions or relies on TTL deletion having happened,
so the store also works on DynamoDB implementations without them (dynalite).

The client comes from :mod:`msgworker._aws_clients` (botocore, imported on first use: the
Lambda runtime provides it, the layer does not ship it).
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from .. import _warm
from .._aws_clients import POOL_CONNECTIONS, aws_client, botocore, new_client
from .._redaction import key_digest
from ..errors import ConfigurationError, IdempotencyInProgressError, IdempotencyStoreError
from ._store import COMPLETED, IN_PROGRESS, Claim, StoredRecord

TABLE_VARIABLE = "MSGWORKER_IDEMPOTENCY_TABLE"
DEFAULT_CONCURRENCY = 16
"""Store calls in flight at once (and HTTP connections kept): more than one SQS batch of 10."""

CLAIM_ATTEMPTS = 3
"""Claims retried when a key changes hands between a failed claim and the read after it."""

# Attribute names go through placeholders: ``status`` and ``owner`` are reserved words.
_NAMES = {
    "#id": "id",
    "#status": "status",
    "#owner": "owner",
    "#expiration": "expiration",
    "#lease": "in_progress_expiration",
}
_CLAIM_CONDITION = "attribute_not_exists(#id) OR #expiration < :now OR (#status = :in_progress AND #lease < :now_ms)"


def _number(value: float) -> dict[str, str]:
    return {"N": str(value)}


class DynamoDBStore:
    """An :class:`~msgworker.idempotency._store.IdempotencyStore` in a DynamoDB table.

    Args:
        table: the table name; ``None`` reads ``MSGWORKER_IDEMPOTENCY_TABLE`` at first use.
        client: a boto3 DynamoDB client to use; by default the container's, made at first
            use (short timeouts, msgworker's retry policy, a pool for ``concurrency``).
        concurrency: store calls run at once (one batch's claims go out together).
        config: a ``botocore.config.Config`` merged into the default client's.

    Example:
        >>> store = DynamoDBStore("idempotency")  # nothing is called until first use
        >>> store.table_name
        'idempotency'
    """

    def __init__(
        self,
        table: str | None = None,
        *,
        client: Any = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        config: Any = None,
    ):
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self._table = table
        self._client = client
        self._config = config
        self.concurrency = concurrency
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self.fallback_reads = 0
        """Claims whose conditional-check failure carried no item, so the item was read
        (DynamoDB implementations without ``ReturnValuesOnConditionCheckFailure``)."""

    @property
    def table_name(self) -> str:
        """The table, from ``table=`` or ``MSGWORKER_IDEMPOTENCY_TABLE`` (read now, not at import)."""
        table = self._table or os.environ.get(TABLE_VARIABLE)
        if not table:
            raise ConfigurationError(
                f"no idempotency table configured: set the environment variable {TABLE_VARIABLE} to the name of "
                "a DynamoDB table with partition key `id` (String) and TTL attribute `expiration`, "
                "or pass idempotent(table=...)"
            )
        return table

    @property
    def client(self) -> Any:
        """The DynamoDB client: the one given, else the container's (see
        :mod:`msgworker._aws_clients`), or one of the store's own when it needs a bigger
        connection pool or has a ``config``; made on first use (thread-safe)."""
        if self._client is not None:
            return self._client
        if self._config is None and self.concurrency <= POOL_CONNECTIONS:
            return aws_client("dynamodb")
        with self._lock:
            if self._client is None:
                pool = max(self.concurrency, POOL_CONNECTIONS)
                self._client = new_client("dynamodb", pool=pool, config=self._config)
        return self._client

    @property
    def executor(self) -> Executor:
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(
                        max_workers=self.concurrency, thread_name_prefix="msgworker-idempotency"
                    )
        return self._executor

    def _call(self, operation: str, **parameters: Any) -> dict[str, Any]:
        """One DynamoDB request; a failed condition is re-raised as botocore's ClientError,
        everything else becomes a store or configuration error."""
        exceptions = botocore("exceptions")
        BotoCoreError, ClientError = exceptions.BotoCoreError, exceptions.ClientError

        table = self.table_name
        try:
            response: dict[str, Any] = getattr(self.client, operation)(TableName=table, **parameters)
            return response
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == "ConditionalCheckFailedException":
                raise
            if code == "ResourceNotFoundException":
                region = getattr(self.client.meta, "region_name", None)
                raise ConfigurationError(
                    f"idempotency table {table!r} does not exist (region {region}, endpoint "
                    f"{self.client.meta.endpoint_url}): create it with partition key `id` (String) and TTL "
                    f"attribute `expiration`, or point {TABLE_VARIABLE} / idempotent(table=...) at an existing one"
                ) from error
            # The code, not AWS's message: a ValidationException's text can quote the item.
            raise IdempotencyStoreError(
                f"idempotency table {table!r}: {operation} failed with {code or 'an error'}; the record is retried"
            ) from error
        except BotoCoreError as error:
            raise IdempotencyStoreError(
                f"idempotency table {table!r} could not be reached ({type(error).__name__}); the record is retried"
            ) from error

    def claim(self, claim: Claim, now: float) -> StoredRecord | None:
        ClientError = botocore("exceptions").ClientError

        item = {
            "id": {"S": claim.key},
            "status": {"S": IN_PROGRESS},
            "owner": {"S": claim.owner},
            "validation": {"S": claim.validation},
            "expiration": _number(math.ceil(claim.expiration)),
            "in_progress_expiration": _number(math.floor(claim.lease_expiration * 1000)),
        }
        values = {":now": _number(now), ":now_ms": _number(math.floor(now * 1000)), ":in_progress": {"S": IN_PROGRESS}}
        record: StoredRecord | None = None
        for _ in range(CLAIM_ATTEMPTS):
            try:
                self._call(
                    "put_item",
                    Item=item,
                    ConditionExpression=_CLAIM_CONDITION,
                    ExpressionAttributeNames={
                        name: _NAMES[name] for name in ("#id", "#status", "#expiration", "#lease")
                    },
                    ExpressionAttributeValues=values,
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return None
            except ClientError as error:
                old = error.response.get("Item")
            if old:
                return _record(old)
            # No item in the failure (dynalite ignores ReturnValuesOnConditionCheckFailure):
            # read it. It may have been released or expired in between; then claim again.
            self.fallback_reads += 1
            record = self.read(claim.key)
            if record is not None and not record.is_available(now):
                return record
        if record is not None:
            return record
        raise IdempotencyInProgressError(
            f"idempotency {key_digest(claim.key)} changed hands {CLAIM_ATTEMPTS} times during one claim; "
            "the record is retried"
        )

    def read(self, key: str) -> StoredRecord | None:
        """The record of ``key`` (a strongly consistent read), or ``None``."""
        response = self._call("get_item", Key={"id": {"S": key}}, ConsistentRead=True)
        item = response.get("Item")
        return _record(item) if item else None

    def _conditional(self, operation: str, key: str, owner: str, **parameters: Any) -> bool:
        ClientError = botocore("exceptions").ClientError

        names = {"#owner": "owner", **parameters.pop("ExpressionAttributeNames", {})}
        values = {":owner": {"S": owner}, **parameters.pop("ExpressionAttributeValues", {})}
        try:
            self._call(
                operation,
                Key={"id": {"S": key}},
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                **parameters,
            )
        except ClientError:
            return False  # someone else's claim now (our lease ran out and it was taken over)
        return True

    def renew(self, key: str, owner: str, lease_expiration: float) -> bool:
        return self._conditional(
            "update_item",
            key,
            owner,
            UpdateExpression="SET #lease = :lease",
            ExpressionAttributeNames={"#lease": "in_progress_expiration"},
            ExpressionAttributeValues={":lease": _number(math.floor(lease_expiration * 1000))},
        )

    def complete(self, key: str, owner: str, *, expiration: float, result: str | None) -> bool:
        names = {"#status": "status", "#expiration": "expiration", "#lease": "in_progress_expiration"}
        values: dict[str, Any] = {":completed": {"S": COMPLETED}, ":expiration": _number(math.ceil(expiration))}
        update = "SET #status = :completed, #expiration = :expiration"
        if result is not None:
            names["#data"] = "data"
            values[":data"] = {"S": result}
            update += ", #data = :data"
        return self._conditional(
            "update_item",
            key,
            owner,
            UpdateExpression=update + " REMOVE #lease",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def release(self, key: str, owner: str) -> bool:
        return self._conditional("delete_item", key, owner)

    def close(self) -> None:
        """Stop the store's threads (a Lambda container never needs to; tests and scripts may)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


def _record(item: dict[str, Any]) -> StoredRecord:
    def text(name: str) -> str | None:
        value = item.get(name)
        return value.get("S") if value else None

    def number(name: str) -> float | None:
        value = item.get(name)
        return float(value["N"]) if value and "N" in value else None

    lease_ms = number("in_progress_expiration")
    return StoredRecord(
        key=text("id") or "",
        status=text("status") or IN_PROGRESS,
        owner=text("owner"),
        validation=text("validation"),
        expiration=number("expiration") or math.inf,
        lease_expiration=None if lease_ms is None else lease_ms / 1000,
        result=text("data"),
    )


_shared: dict[tuple[str | None, ...], DynamoDBStore] = {}
_shared_lock = threading.Lock()


def shared_store(table: str | None) -> DynamoDBStore:
    """One store (one client, one connection pool) per table and endpoint in the process,
    shared by every ``idempotent`` function that names no store of its own.

    The endpoint and region variables are part of the identity, so code that points
    boto3 elsewhere (tests, local runs) gets a client for the new place.
    """
    identity = (
        table,
        *(os.environ.get(name) for name in ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL", "AWS_REGION")),
        os.environ.get("AWS_DEFAULT_REGION"),
    )
    with _shared_lock:
        store = _shared.get(identity)
        if store is None:
            store = _shared[identity] = DynamoDBStore(table)
        return store


def _forget_shared() -> None:
    with _shared_lock:
        stores = list(_shared.values())
        _shared.clear()
    for store in stores:
        if store._executor is not None:
            store._executor.shutdown(wait=False)  # idle threads; calls in flight still finish


_warm.on_reset(_forget_shared)


__all__ = ["DEFAULT_CONCURRENCY", "TABLE_VARIABLE", "DynamoDBStore", "shared_store"]
