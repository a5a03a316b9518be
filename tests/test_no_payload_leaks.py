"""No payload byte in logs, responses or raised exceptions (unless ``log_payload=True``).

A secret (a card number, or arbitrary text hypothesis picks) is put in the payload of a
record and travels every source (SQS, SNS and EventBridge inside SQS, SNS → Lambda,
EventBridge → Lambda, Kinesis, DynamoDB Streams) through every failure path: the model
rejecting a value, an extra key, a dict key or a discriminator tag; the function's own
pydantic ValidationError; its own exception chained to another carrying the secret; a
PermanentError quoting it; an idempotency key reused; retries; an open breaker's count;
a record without an id. Everything that leaves the worker is collected: every log call
(message, fields, and the traceback a handler would print), the response, and the raised
exception with its whole chain (``__cause__``, ``__context__``, ``str``, ``repr``, the
formatted traceback). The secret appears in none of it.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field

from msgworker import PermanentError, retry, worker
from msgworker.breaker import InMemoryStore as BreakerMemory
from msgworker.breaker import circuit_breaker
from msgworker.idempotency import InMemoryStore, idempotent
from msgworker.testing import (
    LambdaContext,
    dynamodb_event,
    dynamodb_record,
    eventbridge_event,
    eventbridge_to_sqs_event,
    kinesis_event,
    sns_event,
    sns_to_sqs_event,
    sqs_event,
)


class Cat(BaseModel):
    kind: Literal["cat"]


class Dog(BaseModel):
    kind: Literal["dog"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str
    total: float = 0.0
    items: dict[str, int] = {}
    pet: Annotated[Cat | Dog, Field(discriminator="kind")] | None = None


class Card(BaseModel):
    number: int


class Collected(logging.Handler):
    """Everything the loggers were given, as a handler that prints tracebacks would print it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        extra = {key: value for key, value in vars(record).items() if key not in ("exc_info", "args")}
        self.texts.append(json.dumps(extra, default=repr))
        if record.exc_info and record.exc_info[1] is not None:
            self.texts.append("".join(traceback.format_exception(record.exc_info[1])))


class Logger:
    """A LoggerLike that keeps what it is given (and the traceback of exc_info)."""

    def __init__(self, into: Collected) -> None:
        self.into = into

    def _keep(self, msg: object, extra: Any = None, exc_info: BaseException | None = None) -> None:
        self.into.texts.append(json.dumps({"msg": msg, **(extra or {})}, default=repr))
        if exc_info is not None:
            self.into.texts.append("".join(traceback.format_exception(exc_info)))

    def warning(self, msg: object, *args: object, extra: Any = None, exc_info: Any = None) -> None:
        self._keep(msg, extra, exc_info)

    def error(self, msg: object, *args: object, exc_info: Any = None, extra: Any = None) -> None:
        self._keep(msg, extra, exc_info)

    def info(self, msg: object, *args: object, extra: Any = None, exc_info: Any = None) -> None:
        self._keep(msg, extra, exc_info)


@contextmanager
def collected() -> Iterator[Collected]:
    into = Collected()
    root = logging.getLogger("msgworker")
    root.addHandler(into)
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        yield into
    finally:
        root.removeHandler(into)
        root.setLevel(level)


def chain_text(error: BaseException) -> str:
    """Everything a raised exception shows: its whole chain's str, repr, args and traceback."""
    parts = ["".join(traceback.format_exception(error))]
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [str(current), repr(current), repr(current.args)]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


# -- the failure paths: (model, payload with the secret, record function) ----------------------

Path = tuple[Any, Callable[[str], Any], Callable[..., Any]]


def _ok(order: Any) -> None:
    return None


def _validates_inside(order: Any) -> None:
    Card.model_validate({"number": order["order_id"]})  # the user's own validation


def _chained(order: Any) -> None:
    try:
        raise KeyError(order["order_id"])
    except KeyError as error:
        raise RuntimeError(f"charging {order['order_id']} failed") from error


def _context(order: Any) -> None:
    try:
        raise ValueError(order["order_id"])
    except ValueError:
        raise ConnectionError(f"lost while sending {order}")  # noqa: B904  (implicit __context__)


def _permanent(order: Any) -> None:
    raise PermanentError(f"order {order['order_id']} is not allowed")


def paths() -> dict[str, Path]:
    store = InMemoryStore()
    reused = idempotent(key="order_id", name="reused", store=store)(_ok)

    def reuse(order: Any) -> None:
        reused({**order, "variant": 1})
        reused({**order, "variant": 2})  # same key, other payload: IdempotencyKeyReusedError

    flaky = retry(attempts=2, on=(ConnectionError,), sleep=lambda seconds: None)(_context)
    guarded = circuit_breaker("leaks", store=BreakerMemory(), failure_threshold=1, cache_seconds=0)(_chained)
    return {
        "model rejects a value": (Strict, lambda s: {"order_id": "o-1", "total": s}, _ok),
        "extra key forbidden": (Strict, lambda s: {"order_id": "o-1", s: 1}, _ok),
        "dict key": (Strict, lambda s: {"order_id": "o-1", "items": {s: "x"}}, _ok),
        "discriminator tag": (Strict, lambda s: {"order_id": "o-1", "pet": {"kind": s}}, _ok),
        "function's ValidationError": (None, lambda s: {"order_id": s}, _validates_inside),
        "chained exceptions": (None, lambda s: {"order_id": s}, _chained),
        "implicit context": (None, lambda s: {"order_id": s}, _context),
        "PermanentError quoting it": (None, lambda s: {"order_id": s}, _permanent),
        "idempotency key reused": (None, lambda s: {"order_id": s}, reuse),
        "retries": (None, lambda s: {"order_id": s}, flaky),
        "breaker counts it": (None, lambda s: {"order_id": s}, guarded),
    }


def events(payload: Any) -> dict[str, dict[str, Any]]:
    text = json.dumps(payload)
    no_id = sqs_event([text])
    del no_id["Records"][0]["messageId"]  # a failure with no id: BatchReportError
    return {
        "sqs": sqs_event([text]),
        "sqs without id": no_id,
        "sns in sqs": sns_to_sqs_event([text]),
        "eventbridge in sqs": eventbridge_to_sqs_event([payload]),
        "sns": sns_event([text]),
        "eventbridge": eventbridge_event(payload),
        "kinesis": kinesis_event([text.encode()]),
        "dynamodb": dynamodb_event([dynamodb_record(new_image=payload, keys={"id": "k-1"})]),
    }


def everything_out(model: Any, function: Callable[..., Any], event: dict[str, Any], log_payload: bool) -> str:
    """Run ``event`` and return all that left the worker, as text."""
    with collected() as into:
        handler = worker(model, logger=Logger(into), log_payload=log_payload, metrics=False)(function)
        try:
            out = json.dumps(handler(event, LambdaContext()), default=repr)
        except Exception as error:
            out = chain_text(error)
    return "\n".join([out, *into.texts])


SECRETS = st.one_of(
    st.from_regex(r"4[0-9]{3}-[0-9]{4}-[0-9]{4}-[0-9]{4}", fullmatch=True),
    # arbitrary text, marked so that it cannot occur in msgworker's own words by chance
    st.text(st.characters(codec="utf-8", exclude_characters="\\\"'"), min_size=4, max_size=12).map(
        lambda text: f"Q7{text}Z9"
    ),
)
PATH_NAMES = sorted(paths())


@pytest.mark.parametrize("path", PATH_NAMES)
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secret=SECRETS)
def test_no_source_and_no_failure_path_lets_the_payload_out(path: str, secret: str) -> None:
    model, payload_of, function = paths()[path]  # fresh stores: an open breaker would hide the path
    for source, event in events(payload_of(secret)).items():
        out = everything_out(model, function, event, log_payload=False)
        assert secret not in out, f"{path} via {source}"
        assert json.dumps(secret)[1:-1] not in out, f"{path} via {source} (JSON-escaped)"


def test_with_log_payload_the_same_paths_do_show_it() -> None:
    """The check above can fail: opting in puts the payload where the operator sees it."""
    secret = "4111-1111-1111-1111"
    for path, (model, payload_of, function) in paths().items():
        if path in ("idempotency key reused",):  # (the key's text stays a digest even then)
            continue
        out = everything_out(model, function, sqs_event([json.dumps(payload_of(secret))]), log_payload=True)
        assert secret in out, path
