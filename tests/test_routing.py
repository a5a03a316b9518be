"""Router: records of every source go to the first route whose pattern or policy matches."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pydantic import BaseModel

from msgworker import Message, ParseError, PermanentError, retry, worker
from msgworker.patterns import FilterPolicy, InvalidPatternError
from msgworker.routing import NoRouteError, Router
from msgworker.testing import (
    dynamodb_event,
    eventbridge_event,
    eventbridge_to_sqs_event,
    kinesis_event,
    sns_event,
    sns_to_sqs_event,
    sqs_event,
)


class Order(BaseModel):
    order_id: str
    total: float


HIGH_VALUE = {"detail-type": ["OrderPlaced"], "detail": {"total": [{"numeric": [">", 100]}]}}


def order_router(seen: list[tuple[str, Any]], **options: Any) -> Router:
    router = Router(**options)

    @router.route(HIGH_VALUE, model=Order)
    def high_value(order: Order) -> None:
        seen.append(("high_value", order.order_id))

    @router.route({"detail-type": ["OrderPlaced"]}, model=Order)
    def any_order(order: Order, message: Message) -> None:
        seen.append(("any_order", (order.order_id, message.detail_type)))

    return router


def test_eventbridge_to_lambda_takes_the_first_matching_route_in_registration_order() -> None:
    seen: list[tuple[str, Any]] = []
    handler = worker(order_router(seen))
    handler(eventbridge_event({"order_id": "o-1", "total": 250}))
    handler(eventbridge_event({"order_id": "o-2", "total": 5}))
    assert seen == [("high_value", "o-1"), ("any_order", ("o-2", "OrderPlaced"))]


def test_eventbridge_in_sqs_bodies_is_matched_as_the_whole_event() -> None:
    seen: list[tuple[str, Any]] = []
    handler = worker(order_router(seen))
    event = eventbridge_to_sqs_event([{"order_id": "o-1", "total": 250}, {"order_id": "o-2", "total": 5}])
    assert handler(event) == {"batchItemFailures": []}
    assert sorted(seen) == [("any_order", ("o-2", "OrderPlaced")), ("high_value", "o-1")]


def test_a_record_no_route_matches_fails_permanently_without_quoting_the_payload() -> None:
    seen: list[tuple[str, Any]] = []
    handler = worker(order_router(seen))
    event = eventbridge_to_sqs_event([{"order_id": "secret-order", "total": 5}], detail_type="OrderShipped")
    result = handler.run(event)
    (failure,) = result.failures
    assert isinstance(failure.error, NoRouteError) and isinstance(failure.error, PermanentError)
    message = str(failure.error)
    assert "0: high_value (event pattern)" in message and "1: any_order (event pattern)" in message
    assert "secret-order" not in message and "OrderShipped" not in message
    assert seen == []


def test_unmatched_skip_counts_the_record_as_done() -> None:
    seen: list[tuple[str, Any]] = []
    handler = worker(order_router(seen, unmatched="skip"))
    event = eventbridge_to_sqs_event([{"order_id": "o-1", "total": 5}], detail_type="OrderShipped")
    assert handler(event) == {"batchItemFailures": []}
    assert seen == []


def test_each_route_parses_with_its_own_model_and_a_bad_payload_is_a_parse_error() -> None:
    seen: list[tuple[str, Any]] = []
    handler = worker(order_router(seen))
    event = eventbridge_to_sqs_event([{"order_id": "o-1", "total": "lots"}, {"order_id": "o-2", "total": 500}])
    result = handler.run(event)
    (failure,) = result.failures
    assert failure.index == 0 and isinstance(failure.error, ParseError)
    assert "payload does not match Order" in str(failure.error) and "lots" not in str(failure.error)
    assert seen == [("high_value", "o-2")]


def sns_router(seen: list[tuple[str, Any]]) -> Router:
    router = Router()

    @router.route(policy={"event_type": [{"prefix": "user."}]})
    def account(message: dict[str, Any]) -> None:
        seen.append(("account", message["user_id"]))

    @router.route(policy=FilterPolicy({"channel": ["sms"]}, scope="MessageBody"))
    def sms(message: dict[str, Any]) -> None:
        seen.append(("sms", message["user_id"]))

    @router.route({"kind": ["digest"]})
    def digest(message: dict[str, Any]) -> None:
        seen.append(("digest", message["user_id"]))

    @router.route()
    def everything_else(message: Any) -> None:
        seen.append(("everything_else", message))

    return router


@pytest.mark.parametrize(
    ("build", "raw"),
    [
        (lambda message, attributes: sns_event([message], message_attributes=attributes), False),
        (lambda message, attributes: sns_to_sqs_event([message], message_attributes=attributes), False),
        (lambda message, attributes: sns_to_sqs_event([message], message_attributes=attributes, raw=True), True),
    ],
    ids=["sns-lambda", "sns-sqs", "sns-sqs-raw"],
)
def test_sns_records_route_by_attributes_body_policy_or_pattern_on_the_message(build: Any, raw: bool) -> None:
    seen: list[tuple[str, Any]] = []
    handler = worker(sns_router(seen))
    handler(build({"user_id": "u-1", "channel": "email"}, {"event_type": "user.signed_up"}))
    handler(build({"user_id": "u-2", "channel": "sms"}, {"event_type": "order.shipped"}))
    handler(build({"user_id": "u-3", "kind": "digest"}, {"event_type": "news"}))
    handler(build("plain text", {"event_type": "news"}))
    # Raw delivery leaves a plain SQS record (nothing says SNS sent it): patterns then see
    # Lambda event filtering's view, the message under "body", so {"kind": ...} does not match.
    digest = ("everything_else", {"user_id": "u-3", "kind": "digest"}) if raw else ("digest", "u-3")
    assert seen == [("account", "u-1"), ("sms", "u-2"), digest, ("everything_else", "plain text")]


def test_plain_sqs_kinesis_and_dynamodb_records_are_matched_as_lambda_event_filtering_sees_them() -> None:
    seen: list[tuple[str, Any]] = []
    router = Router()

    @router.route({"body": {"type": ["ping"]}, "messageAttributes": {"tenant": {"stringValue": ["acme"]}}})
    def sqs_ping(payload: dict[str, Any]) -> None:
        seen.append(("sqs", payload["type"]))

    @router.route({"partitionKey": ["p-1"], "data": {"type": ["ping"]}})
    def kinesis_ping(payload: dict[str, Any]) -> None:
        seen.append(("kinesis", payload["type"]))

    @router.route({"eventName": ["INSERT"], "dynamodb": {"NewImage": {"status": {"S": ["active"]}}}})
    def dynamodb_active(image: dict[str, Any]) -> None:
        seen.append(("dynamodb", image["id"]))

    handler = worker(router)
    assert handler(sqs_event([{"type": "ping"}], message_attributes={"tenant": "acme"})) == {"batchItemFailures": []}
    assert handler(kinesis_event([{"type": "ping"}], partition_key="p-1")) == {"batchItemFailures": []}
    assert handler(dynamodb_event([{"id": "i-1", "status": "active"}])) == {"batchItemFailures": []}
    unmatched = handler.run(sqs_event([{"type": "ping"}], message_attributes={"tenant": "other"}))
    assert [type(failure.error) for failure in unmatched.failures] == [NoRouteError]
    assert seen == [("sqs", "ping"), ("kinesis", "ping"), ("dynamodb", "i-1")]


def test_async_routes_make_an_async_record_function_and_sync_routes_still_work_beside_them() -> None:
    seen: list[str] = []
    router = Router()

    @router.route({"detail-type": ["OrderPlaced"]}, model=Order)
    async def placed(order: Order) -> None:
        await asyncio.sleep(0)
        seen.append(f"async {order.order_id}")

    @router.route({"detail-type": ["OrderShipped"]}, model=Order)
    def shipped(order: Order) -> None:
        seen.append(f"sync {order.order_id}")

    handler = worker(router, concurrency=2)
    event = eventbridge_to_sqs_event([{"order_id": "o-1", "total": 1}])
    event["Records"] += eventbridge_to_sqs_event([{"order_id": "o-2", "total": 1}], detail_type="OrderShipped")[
        "Records"
    ]
    assert handler(event) == {"batchItemFailures": []}
    assert sorted(seen) == ["async o-1", "sync o-2"]


def test_per_record_decorators_wrap_the_route_function() -> None:
    calls: list[str] = []
    router = Router()

    @router.route({"detail-type": ["OrderPlaced"]}, model=Order)
    @retry(attempts=3, on=(ConnectionError,), sleep=lambda seconds: None)
    def charge(order: Order) -> None:
        calls.append(order.order_id)
        if len(calls) < 2:
            raise ConnectionError("payments down")

    assert worker(router)(eventbridge_to_sqs_event([{"order_id": "o-1", "total": 1}])) == {"batchItemFailures": []}
    assert calls == ["o-1", "o-1"]


def test_routes_are_checked_when_registered() -> None:
    router = Router()
    with pytest.raises(InvalidPatternError, match=r"at detail\.total\[0\]"):
        router.route({"detail": {"total": [{"numeric": [">", "100"]}]}})
    with pytest.raises(ValueError, match="not both"):
        router.route({"a": ["x"]}, policy={"a": ["x"]})
    with pytest.raises(ValueError, match="no routes"):
        worker(Router())
    with pytest.raises(ValueError, match="unmatched"):
        Router(unmatched="drop")  # type: ignore[arg-type]


def test_many_routes_pick_the_same_route_as_trying_them_in_order() -> None:
    router = Router()
    handled: list[str] = []

    def register(index: int) -> None:
        pattern = {"detail-type": [f"Type{index % 100}"], "detail": {"n": [{"numeric": [">=", index]}]}}

        @router.route(pattern, name=f"r{index}")
        def route(detail: dict[str, Any]) -> None:
            handled.append(f"r{index}")

    for index in range(300):
        register(index)

    handler = worker(router)
    for n, detail_type in [(0, "Type0"), (150, "Type50"), (250, "Type50"), (299, "Type99")]:
        handler(eventbridge_event({"n": n}, detail_type=detail_type))
    # Type50 is routes 50, 150, 250: the first whose n-bound holds wins.
    assert handled == ["r0", "r50", "r50", "r99"]
    assert router.routes[:2] == ("r0", "r1")


def test_select_names_the_route_a_payload_would_take() -> None:
    router = order_router([])
    event = eventbridge_event({"order_id": "o-1", "total": 250})
    message = Message.of("eventbridge", raw=event, envelopes=())
    assert router.select(event["detail"], message) == "high_value"


def test_no_route_error_is_msgworkers_own_words_so_the_failure_log_keeps_them() -> None:
    """Its text is payload-free by construction, so the sanitiser lets it through (text of
    errors msgworker did not write is withheld)."""
    lines: list[dict[str, Any]] = []

    class Logs:
        def warning(self, msg: object, *args: object, extra: Any = None) -> None:
            lines.append(dict(extra or {}))

        def error(self, msg: object, *args: object, exc_info: Any = None, extra: Any = None) -> None:
            lines.append(dict(extra or {}))

    handler = worker(order_router([]), logger=Logs(), metrics=False)
    event = eventbridge_to_sqs_event([{"order_id": "secret-order", "total": 5}], detail_type="OrderShipped")
    handler(event)
    (line,) = lines
    assert line["error_type"] == "NoRouteError" and line["error"].startswith("no route matched")
    assert "secret-order" not in json.dumps(line)
