"""Breaker state in a DynamoDB table: one item per breaker name, key ``id`` (string).

Every operation of :class:`~.store.BreakerStore` is one request (counting failures is
two only when a window has run out): ``GetItem`` (consistent) to read, ``UpdateItem``
with ``ADD`` to count failures, a conditional ``PutItem`` on ``version`` for state
changes, and a conditional ``UpdateItem`` on ``probes`` for half-open slots. No
transactions and no ``ReturnValuesOnConditionCheckFailure``, so moto and dynalite serve
it as DynamoDB does.

The client comes from :mod:`msgworker._aws_clients`, made when the first request is (the
Lambda runtime provides botocore).

Item attributes: ``state`` (closed / open / half_open), ``version``, ``failures``,
``window_start``, ``opened_at``, ``half_opened_at``, ``probes`` (times in epoch seconds).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._aws_clients import aws_client
from ..errors import ConfigurationError
from ._machine import CircuitState, Snapshot

TABLE_ENV = "MSGWORKER_BREAKER_TABLE"
"""The environment variable naming the breaker table when ``table=`` is not given."""

_NAMES = {
    "#state": "state",
    "#version": "version",
    "#failures": "failures",
    "#window_start": "window_start",
    "#opened_at": "opened_at",
    "#half_opened_at": "half_opened_at",
    "#probes": "probes",
}
_CONDITION_FAILED = "ConditionalCheckFailedException"
_WINDOW_ATTEMPTS = 4


class DynamoDBStore:
    """A :class:`~.store.BreakerStore` on the DynamoDB table ``table`` (key ``id``, string).

    Pass ``client`` to use a boto3 DynamoDB client of your own (endpoint, retries,
    event hooks); otherwise it uses the container's, made on first use from the environment
    (``AWS_ENDPOINT_URL`` and region included), with short timeouts and few retries, as
    the breaker's state is not worth holding up a record for.

    Example:
        >>> store = DynamoDBStore("payments-breaker")   # no request until first use
        >>> store.table
        'payments-breaker'
    """

    def __init__(self, table: str, *, client: Any = None) -> None:
        if not table:
            raise ConfigurationError(f"the circuit breaker table name is empty: pass table= or set {TABLE_ENV}")
        self.table = table
        self._client = client

    @property
    def client(self) -> Any:
        """The DynamoDB client: the one given, else the container's (made on first use)."""
        return self._client if self._client is not None else aws_client("dynamodb")

    def read(self, name: str) -> Snapshot:
        response = self._request("get_item", TableName=self.table, Key=_key(name), ConsistentRead=True)
        item = response.get("Item")
        return Snapshot() if item is None else _snapshot(item)

    def add_failures(self, name: str, count: int, *, now: float, window: float) -> Snapshot:
        cutoff = now - window
        values = {":count": _number(count), ":now": _number(now), ":cutoff": _number(cutoff)}
        for _ in range(_WINDOW_ATTEMPTS):
            # Add to the current window, or (first failure since a state change) open one.
            added = self._update_if(
                name,
                "ADD #failures :count SET #window_start = if_not_exists(#window_start, :now)",
                "attribute_not_exists(#window_start) OR #window_start > :cutoff",
                values,
            )
            if added is not None:
                return added
            # The window ran out: the first to notice starts a new one with its count.
            restarted = self._update_if(
                name, "SET #failures = :count, #window_start = :now", "#window_start <= :cutoff", values
            )
            if restarted is not None:
                return restarted
        # Another writer restarted the window between each of our two steps, every time:
        # the count is unknown, so the caller treats this like an unreachable store.
        raise RuntimeError(f"could not count failures of breaker {name!r}: the window kept changing under contention")

    def replace(self, name: str, new: Snapshot, *, expected_version: int) -> bool:
        condition = "#version = :expected"
        if expected_version == 0:
            condition = "attribute_not_exists(#version) OR #version = :expected"
        try:
            self._request(
                "put_item",
                TableName=self.table,
                Item={**_key(name), **_item(new)},
                ConditionExpression=condition,
                ExpressionAttributeNames={"#version": "version"},
                ExpressionAttributeValues={":expected": _number(expected_version)},
            )
        except _ConditionFailed:
            return False
        return True

    def claim_probe(self, name: str, *, version: int, limit: int) -> bool:
        claimed = self._update_if(
            name,
            "ADD #probes :one",
            "#version = :version AND #state = :half_open AND #probes < :limit",
            {
                ":one": _number(1),
                ":version": _number(version),
                ":half_open": {"S": CircuitState.HALF_OPEN.value},
                ":limit": _number(limit),
            },
        )
        return claimed is not None

    def release_probe(self, name: str, *, version: int) -> None:
        self._update_if(
            name,
            "ADD #probes :minus_one",
            "#version = :version AND #probes > :zero",
            {":minus_one": _number(-1), ":version": _number(version), ":zero": _number(0)},
        )

    def _update_if(self, name: str, update: str, condition: str, values: Mapping[str, Any]) -> Snapshot | None:
        """One conditional UpdateItem; the item after it, or None when the condition failed."""
        names = {alias: attribute for alias, attribute in _NAMES.items() if alias in update or alias in condition}
        try:
            response = self._request(
                "update_item",
                TableName=self.table,
                Key=_key(name),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=dict(values),
                ReturnValues="ALL_NEW",
            )
        except _ConditionFailed:
            return None
        return _snapshot(response.get("Attributes", {}))

    def _request(self, operation: str, **parameters: Any) -> Any:
        client = self.client
        try:
            return getattr(client, operation)(**parameters)
        except client.exceptions.ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == _CONDITION_FAILED:
                raise _ConditionFailed from None
            if code == "ResourceNotFoundException":
                raise ConfigurationError(
                    f"the circuit breaker table {self.table!r} does not exist (or is not in this account and "
                    f"region): create it with a string partition key 'id', or point table= / {TABLE_ENV} at one"
                ) from error
            if code == "ValidationException" and "key" in str(error).lower():
                raise ConfigurationError(
                    f"the circuit breaker table {self.table!r} does not have the expected key: it needs a string "
                    f"partition key named 'id' and no sort key ({error})"
                ) from error
            raise


class _ConditionFailed(Exception):
    """A conditional write lost: another writer got there first."""


def _key(name: str) -> dict[str, Any]:
    return {"id": {"S": name}}


def _number(value: float) -> dict[str, str]:
    if isinstance(value, int):
        return {"N": str(value)}
    return {"N": format(value, ".6f")}


def _item(snapshot: Snapshot) -> dict[str, Any]:
    item: dict[str, Any] = {
        "state": {"S": snapshot.state.value},
        "version": _number(snapshot.version),
        "failures": _number(snapshot.failures),
        "probes": _number(snapshot.probes),
    }
    for attribute in ("window_start", "opened_at", "half_opened_at"):
        value = getattr(snapshot, attribute)
        if value is not None:
            item[attribute] = _number(float(value))
    return item


def _snapshot(item: Mapping[str, Any]) -> Snapshot:
    def number(attribute: str) -> float | None:
        value = item.get(attribute)
        return None if value is None else float(value["N"])

    return Snapshot(
        state=CircuitState(item["state"]["S"]) if "state" in item else CircuitState.CLOSED,
        version=int(number("version") or 0),
        failures=int(number("failures") or 0),
        window_start=number("window_start"),
        opened_at=number("opened_at"),
        half_opened_at=number("half_opened_at"),
        probes=int(number("probes") or 0),
    )


__all__ = ["TABLE_ENV", "DynamoDBStore"]
