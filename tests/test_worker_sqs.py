"""The worker on SQS batches: parsing, partial failures, FIFO order, deadlines."""

from __future__ import annotations

import json
import threading
import time

import pytest
from conftest import Order

from msgworker import Message, NotStartedError, ParseError, PermanentError, worker
from msgworker.testing import LambdaContext, ManualClock, sqs_event


def ids(event):
    return [record["messageId"] for record in event["Records"]]


def reported(response):
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def test_valid_batch_is_parsed_into_the_model_and_reports_no_failures(order_json):
    seen: list[Order] = []

    @worker(Order)
    def handler(order: Order) -> None:
        seen.append(order)

    event = sqs_event([order_json("a", 1.5), order_json("b", 2)])
    assert handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert seen == [Order(order_id="a", total=1.5), Order(order_id="b", total=2)]


def test_each_failure_is_reported_alone_and_the_rest_of_the_batch_runs(order_json):
    ran: list[str] = []

    @worker(Order)
    def handler(order: Order) -> None:
        ran.append(order.order_id)
        if order.order_id == "boom":
            raise ConnectionError("payments down")

    event = sqs_event([order_json("a"), "not json", order_json("boom"), json.dumps({"order_id": "x"}), order_json("z")])
    record_ids = ids(event)
    response = handler(event, LambdaContext())
    assert reported(response) == [record_ids[1], record_ids[2], record_ids[3]]
    assert ran == ["a", "boom", "z"]


def test_parse_errors_are_permanent_and_name_what_was_wrong_without_the_payload(order_json):
    @worker(Order)
    def handler(order: Order) -> None:
        pass

    secret = json.dumps({"order_id": "a", "total": "card-4111111111111111"})
    event = sqs_event(["not json", secret, "", json.dumps({"order_id": "b", "total": -1})])
    failures = handler.run(event, LambdaContext()).failures
    errors = [failure.error for failure in failures]
    assert all(isinstance(error, ParseError) and isinstance(error, PermanentError) for error in errors)
    assert "not valid JSON for Order" in str(errors[0])
    assert "total" in str(errors[1]) and "4111" not in str(errors[1])
    assert "empty" in str(errors[2])
    assert "greater than or equal to 0" in str(errors[3])


def test_message_metadata_is_given_to_functions_that_ask_for_it(order_json):
    messages: list[Message] = []

    @worker(Order)
    def handler(order: Order, message: Message) -> None:
        messages.append(message)

    event = sqs_event([order_json("a")], receive_count=3, message_attributes={"tenant": "acme", "priority": 5})
    handler(event, LambdaContext())
    (message,) = messages
    assert message.id == event["Records"][0]["messageId"]
    assert message.source == "sqs"
    assert message.envelope_names == ("sqs",)
    assert message.receive_count == 3
    assert message.attributes == {"tenant": "acme", "priority": 5}
    assert message.raw is event["Records"][0]
    assert message.sent_at is not None and message.event_source_arn.startswith("arn:aws:sqs:")


def test_fifo_group_stops_after_a_failure_and_other_groups_continue(order_json):
    ran: list[str] = []

    @worker(Order)
    def handler(order: Order) -> None:
        ran.append(order.order_id)
        if order.order_id == "a2":
            raise RuntimeError("fails")

    bodies = [order_json(i) for i in ["a1", "b1", "a2", "b2", "a3", "b3"]]
    event = sqs_event(bodies, group_ids=["a", "b", "a", "b", "a", "b"])
    record_ids = ids(event)
    result = handler.run(event, LambdaContext())
    assert ran == ["a1", "b1", "a2", "b2", "b3"]
    assert result.failed_ids == [record_ids[2], record_ids[4]]
    assert isinstance(result.failures[1].error, NotStartedError)
    assert not result.failures[1].started


@pytest.mark.parametrize("concurrency", [2, 8])
def test_concurrency_runs_records_in_parallel_but_fifo_groups_in_order(order_json, concurrency):
    order: dict[str, list[str]] = {"a": [], "b": []}
    lock = threading.Lock()

    @worker(Order, concurrency=concurrency)
    def handler(order_: Order, message: Message) -> None:
        time.sleep(0.01)
        with lock:
            order[message.group_id].append(order_.order_id)

    names = [f"{g}{i}" for i in range(5) for g in "ab"]
    event = sqs_event([order_json(n) for n in names], group_ids=[n[0] for n in names])
    assert handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert order == {"a": [f"a{i}" for i in range(5)], "b": [f"b{i}" for i in range(5)]}


def test_no_record_starts_inside_the_timeout_margin(order_json):
    ran: list[str] = []

    @worker(Order, timeout_margin=1.0)
    def handler(order: Order) -> None:
        ran.append(order.order_id)

    event = sqs_event([order_json("a"), order_json("b")])
    response = handler(event, LambdaContext(remaining_ms=900))
    assert ran == []
    assert reported(response) == ids(event)


def test_records_stop_starting_when_time_runs_out_mid_batch(order_json):
    ran: list[str] = []
    clock = ManualClock()
    context = LambdaContext(remaining_ms=1000, clock=clock)

    @worker(Order, timeout_margin=0.5, clock=clock)
    def handler(order: Order) -> None:
        ran.append(order.order_id)
        if order.order_id == "1":
            clock.advance(0.6)  # record 1 runs until less than the 500 ms margin is left

    event = sqs_event([order_json(str(i)) for i in range(4)])
    result = handler.run(event, context)
    assert ran == ["0", "1"]
    assert result.failed_ids == ids(event)[2:]
    assert all(not failure.started for failure in result.failures)


@pytest.mark.parametrize("concurrency", [1, 3, 10])
def test_async_record_functions_run_as_bounded_concurrent_tasks(order_json, concurrency):
    import asyncio

    running = peak = 0
    full = asyncio.Event()

    @worker(Order, concurrency=concurrency)
    async def handler(order: Order) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if running == concurrency:
            full.set()
        # Hold every task until `concurrency` run at once (a guessed sleep would depend on how
        # fast the others start); a worker running fewer would time out here and fail the records.
        await asyncio.wait_for(full.wait(), timeout=10)
        running -= 1

    event = sqs_event([order_json(str(i)) for i in range(10)])
    assert handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert peak == concurrency


def test_undecorated_function_stays_reachable():
    def handle(order: Order) -> str:
        return order.order_id

    handler = worker(Order)(handle)
    assert handler.record_function is handle
    assert handler.__wrapped__ is handle
    assert handler.__name__ == "handle"


def test_worker_accepts_the_model_by_keyword_and_works_bare(order_json):
    @worker(model=Order)
    def typed(order: Order) -> None:
        assert isinstance(order, Order)

    @worker
    def untyped(payload: object) -> None:
        assert payload == {"order_id": "a", "total": 10.0}

    event = sqs_event([order_json("a")])
    assert typed(event, LambdaContext()) == untyped(event, LambdaContext()) == {"batchItemFailures": []}


class Fatal(BaseException):
    """Not an Exception: msgworker does not turn it into a record failure."""


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_base_exception_fails_the_whole_invocation_instead_of_vanishing(order_json, concurrency):
    @worker(Order, concurrency=concurrency)
    def handler(order: Order) -> None:
        time.sleep(0.01)
        if order.order_id == "3":
            raise Fatal("interpreter is going down")

    with pytest.raises(Fatal):
        handler(sqs_event([order_json(str(i)) for i in range(8)]), LambdaContext())


def test_the_package_is_marked_typed():
    import importlib.resources

    assert importlib.resources.files("msgworker").joinpath("py.typed").is_file()
