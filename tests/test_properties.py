"""Properties of batch reports over arbitrary batches, failures, groups and concurrency."""

from __future__ import annotations

import asyncio
import functools
import json
import math
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from msgworker import Message, NotStartedError, ParseError, Worker, worker
from msgworker.testing import LambdaContext, dynamodb_record, kinesis_record, sqs_event, sqs_record

PROPERTY_SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Item(BaseModel):
    key: str
    fail: bool = False


RAN: list[tuple[str | None, str | None]] = []
"""(message group, record id) of every record the record function was called for, in call order."""


class Planned(Exception):
    pass


def _record_function(is_async: bool) -> Callable[..., Any]:
    if is_async:

        async def run_async(item: Item, message: Message) -> None:
            await asyncio.sleep(0)
            RAN.append((message.group_id, message.id))
            if item.fail:
                raise Planned(item.key)

        return run_async

    def run(item: Item, message: Message) -> None:
        RAN.append((message.group_id, message.id))
        if item.fail:
            raise Planned(item.key)

    return run


@functools.cache
def get_worker(concurrency: int, is_async: bool, timeout_margin: float = 1.0) -> Worker:
    """Workers are shared between examples so thread pools and event loops are made once."""
    return worker(Item, concurrency=concurrency, timeout_margin=timeout_margin)(_record_function(is_async))


def reported(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def body(key: str, fail: bool) -> str:
    return json.dumps({"key": key, "fail": fail})


def _is_valid_item(text: str) -> bool:
    try:
        Item.model_validate_json(text)
    except ValidationError:
        return False
    return True


invalid_bodies = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", "{", "[]", "null", '{"key": 1}', '{"fail": true}', '{"key": "k", "fail": "maybe"}']),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3).map(json.dumps),
).filter(lambda text: not _is_valid_item(text))

KINDS = ("ok", "raises", "invalid")


# --------------------------------------------------------------------------------------------------
# SQS standard: exactly the failed ids are reported, everything else ran exactly once


@st.composite
def standard_batches(draw: st.DrawFn) -> list[tuple[str, str, str]]:
    """(message id, kind, body) per record."""
    ids = draw(st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=10, unique=True))
    batch = []
    for message_id in ids:
        kind = draw(st.sampled_from(KINDS))
        text = draw(invalid_bodies) if kind == "invalid" else body(message_id, kind == "raises")
        batch.append((message_id, kind, text))
    return batch


@PROPERTY_SETTINGS
@given(batch=standard_batches(), concurrency=st.sampled_from([1, 3, 10]), is_async=st.booleans())
def test_sqs_standard_reports_exactly_the_failed_ids_in_batch_order(
    batch: list[tuple[str, str, str]], concurrency: int, is_async: bool
):
    RAN.clear()
    handler = get_worker(concurrency, is_async)
    event = sqs_event([sqs_record(text, message_id=message_id) for message_id, _, text in batch])

    response = handler(event, LambdaContext())

    expected_failed = [message_id for message_id, kind, _ in batch if kind != "ok"]
    assert reported(response) == expected_failed
    expected_to_run = [message_id for message_id, kind, _ in batch if kind != "invalid"]
    assert sorted(message_id for _, message_id in RAN) == sorted(expected_to_run)  # each exactly once


@PROPERTY_SETTINGS
@given(batch=standard_batches())
def test_sqs_standard_failures_have_the_right_kind_and_nothing_is_both(batch: list[tuple[str, str, str]]):
    RAN.clear()
    result = get_worker(1, False).run(sqs_event([sqs_record(t, message_id=i) for i, _, t in batch]), LambdaContext())
    kinds = {message_id: kind for message_id, kind, _ in batch}
    for failure in result.failures:
        expected = ParseError if kinds[failure.id] == "invalid" else Planned
        assert isinstance(failure.error, expected)
        assert failure.started
    assert not set(result.failed_ids) & set(result.succeeded_ids)
    assert sorted(result.failed_ids + result.succeeded_ids) == sorted(kinds)


# --------------------------------------------------------------------------------------------------
# SQS FIFO: per group, the prefix up to and including the first failure runs, in order


@st.composite
def fifo_batches(draw: st.DrawFn) -> tuple[list[str], list[bool]]:
    names = draw(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=4, unique=True))
    size = draw(st.integers(min_value=1, max_value=10))
    groups = draw(st.lists(st.sampled_from(names), min_size=size, max_size=size))
    failing = draw(st.lists(st.booleans(), min_size=size, max_size=size))
    return groups, failing


@PROPERTY_SETTINGS
@given(batch=fifo_batches(), concurrency=st.sampled_from([1, 2, 4, 10]), is_async=st.booleans())
def test_fifo_groups_run_in_order_and_stop_at_their_first_failure(
    batch: tuple[list[str], list[bool]], concurrency: int, is_async: bool
):
    groups, failing = batch
    RAN.clear()
    handler = get_worker(concurrency, is_async)
    event = sqs_event([body(str(i), fail) for i, fail in enumerate(failing)], group_ids=groups, queue="p.fifo")
    ids = [record["messageId"] for record in event["Records"]]

    result = handler.run(event, LambdaContext())

    expected_failed: list[int] = []
    first_failures: set[int] = set()
    for group in set(groups):
        members = [index for index, g in enumerate(groups) if g == group]
        first_failure = next((index for index in members if failing[index]), None)
        prefix = members if first_failure is None else members[: members.index(first_failure) + 1]
        ran_in_group = [message_id for g, message_id in RAN if g == group]
        assert ran_in_group == [ids[index] for index in prefix]
        if first_failure is not None:
            first_failures.add(first_failure)
            expected_failed += members[members.index(first_failure) :]
    expected_failed.sort()
    assert result.failed_ids == [ids[index] for index in expected_failed]
    for failure in result.failures:
        started = failure.index in first_failures
        assert isinstance(failure.error, Planned if started else NotStartedError)
        assert failure.started == started
    assert reported(result.response()) == [ids[index] for index in expected_failed]
    assert len(RAN) == len(set(RAN))


# --------------------------------------------------------------------------------------------------
# Kinesis and DynamoDB Streams: nothing runs after the first failure; the rest is reported


def kinesis(items: list[tuple[str, bool]]) -> tuple[dict[str, Any], list[str]]:
    records = [kinesis_record(body(key, fail)) for key, fail in items]
    return {"Records": records}, [record["kinesis"]["sequenceNumber"] for record in records]


def dynamodb(items: list[tuple[str, bool]]) -> tuple[dict[str, Any], list[str]]:
    records = [dynamodb_record({"id": key, "key": key, "fail": fail}) for key, fail in items]
    return {"Records": records}, [record["dynamodb"]["SequenceNumber"] for record in records]


@PROPERTY_SETTINGS
@given(
    failing=st.lists(st.booleans(), min_size=1, max_size=10),
    make=st.sampled_from([kinesis, dynamodb]),
    concurrency=st.sampled_from([1, 4]),
    is_async=st.booleans(),
)
def test_streams_stop_at_the_first_failure_and_report_from_there_to_the_end(
    failing: list[bool], make: Callable[..., Any], concurrency: int, is_async: bool
):
    RAN.clear()
    event, ids = make([(str(index), fail) for index, fail in enumerate(failing)])
    first = failing.index(True) if any(failing) else len(failing)

    response = get_worker(concurrency, is_async)(event, LambdaContext())

    assert [message_id for _, message_id in RAN] == ids[: first + 1]
    assert reported(response) == ids[first:]


# --------------------------------------------------------------------------------------------------
# Deadline: with less time left than the margin, nothing starts and everything is reported

MARGINS = [0.001, 0.25, 1.0, 3.0, 600.0]


@st.composite
def short_on_time(draw: st.DrawFn) -> tuple[float, int]:
    margin = draw(st.sampled_from(MARGINS))
    remaining_ms = draw(st.integers(min_value=0, max_value=math.ceil(margin * 1000) - 1))
    assert remaining_ms / 1000 < margin
    return margin, remaining_ms


@PROPERTY_SETTINGS
@given(
    time_left=short_on_time(),
    size=st.integers(min_value=1, max_value=10),
    kind=st.sampled_from(["sqs", "fifo", "kinesis", "dynamodb"]),
    concurrency=st.sampled_from([1, 4]),
    is_async=st.booleans(),
)
def test_nothing_starts_inside_the_timeout_margin(
    time_left: tuple[float, int], size: int, kind: str, concurrency: int, is_async: bool
):
    margin, remaining_ms = time_left
    RAN.clear()
    items = [(str(index), False) for index in range(size)]
    if kind == "kinesis":
        event, ids = kinesis(items)
    elif kind == "dynamodb":
        event, ids = dynamodb(items)
    else:
        groups = [f"g{index % 3}" for index in range(size)] if kind == "fifo" else None
        event = sqs_event([body(key, fail) for key, fail in items], group_ids=groups)
        ids = [record["messageId"] for record in event["Records"]]
    handler = get_worker(concurrency, is_async, margin)

    result = handler.run(event, LambdaContext(remaining_ms=remaining_ms))

    assert RAN == []
    assert result.failed_ids == ids
    assert all(isinstance(failure.error, NotStartedError) and not failure.started for failure in result.failures)
    assert reported(handler(event, LambdaContext(remaining_ms=remaining_ms))) == ids
    assert RAN == []
