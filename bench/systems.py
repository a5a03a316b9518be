"""The systems compared: a hand-written loop, msgworker and aws-lambda-powertools.

Each factory returns a Lambda handler ``(event, context) -> response`` built the way a
user of that system would write it, around the same record work.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import (
    AsyncBatchProcessor,
    BatchProcessor,
    EventType,
    async_process_partial_response,
    process_partial_response,
)
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import BaseModel, Json

from msgworker import Message, worker
from msgworker.testing import sqs_event

Event = dict[str, Any]
Handler = Callable[[Event, Any], Any]

BATCH_SIZE = 10
INVALID_INDEX = 5  # the record whose body does not fit the model in the failure scenario
SLEEP_SECONDS = 0.1


class Order(BaseModel):
    order_id: str
    customer_id: str
    total: float
    currency: str


class OrderSqsRecord(SqsRecordModel):
    """Powertools' way to parse the body: the SQS record model with a typed JSON body."""

    body: Json[Order]


def orders_event(*, invalid: bool = False) -> Event:
    bodies: list[object] = [
        Order(order_id=f"o-{index}", customer_id=f"c-{index % 3}", total=10.5 + index, currency="EUR")
        for index in range(BATCH_SIZE)
    ]
    if invalid:
        bodies[INVALID_INDEX] = {"order_id": 1}  # wrong type and three fields missing
    return sqs_event(bodies, queue="orders")


def expected_response(event: Event, *, invalid: bool) -> dict[str, Any]:
    failed = [event["Records"][INVALID_INDEX]["messageId"]] if invalid else []
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


def silent_logger() -> logging.Logger:
    """A logger that builds every record but writes nothing.

    Given to both msgworker and Powertools in the failure scenario: each pays for
    deciding to log and for building its log record, neither for formatting or I/O,
    which depend on the log pipeline rather than on the library.
    """
    logger = logging.getLogger("bench.silent")
    logger.handlers = [logging.NullHandler()]
    logger.propagate = False
    logger.setLevel(logging.WARNING)
    return logger


def json_logger_to_devnull(service: str) -> Logger:
    """A Powertools JSON Logger as msgworker builds by default, writing to /dev/null."""
    # The stream stays open for the life of the benchmark process, as stdout would.
    return Logger(service=service, stream=open(os.devnull, "w"))


# --------------------------------------------------------------------------------------
# record functions: the user's work, identical across systems


def noop(order: Order) -> None:
    pass


def noop_with_message(order: Order, message: Message) -> None:
    pass


def sleeps(order: Order) -> None:
    time.sleep(SLEEP_SECONDS)


async def sleeps_async(order: Order) -> None:
    await asyncio.sleep(SLEEP_SECONDS)


# --------------------------------------------------------------------------------------
# hand-written loop


def hand_loop(record_function: Callable[[Order], None]) -> Handler:
    def handler(event: Event, context: Any) -> dict[str, Any]:
        failures = []
        for record in event["Records"]:
            try:
                record_function(Order.model_validate_json(record["body"]))
            except Exception:
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    return handler


def hand_loop_logging(record_function: Callable[[Order], None], logger: logging.Logger) -> Handler:
    """The hand loop as it is usually written in production: each failure is logged."""

    def handler(event: Event, context: Any) -> dict[str, Any]:
        failures = []
        for record in event["Records"]:
            try:
                record_function(Order.model_validate_json(record["body"]))
            except Exception:
                logger.warning("record failed", extra={"message_id": record["messageId"]}, exc_info=True)
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    return handler


# --------------------------------------------------------------------------------------
# msgworker


def msgworker(record_function: Callable[..., Any], *, concurrency: int = 1, logger: Any = None) -> Handler:
    return worker(Order, concurrency=concurrency, logger=logger)(record_function)


# --------------------------------------------------------------------------------------
# aws-lambda-powertools


def powertools(record_function: Callable[[Order], None], *, logger: Any = None) -> Handler:
    # Powertools' default is no failure log at all (logger=None): only a debug line.
    processor = BatchProcessor(event_type=EventType.SQS, model=OrderSqsRecord, logger=logger)

    def record_handler(record: OrderSqsRecord) -> None:
        record_function(record.body)

    def handler(event: Event, context: Any) -> Any:
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )

    return handler


def powertools_async(record_function: Callable[[Order], Awaitable[None]]) -> Handler:
    # Outside Lambda (no LAMBDA_TASK_ROOT) Powertools runs each batch with asyncio.run,
    # a fresh event loop per batch: well under a millisecond, noise beside 100 ms sleeps.
    processor = AsyncBatchProcessor(event_type=EventType.SQS, model=OrderSqsRecord)

    async def record_handler(record: OrderSqsRecord) -> None:
        await record_function(record.body)

    def handler(event: Event, context: Any) -> Any:
        return async_process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )

    return handler
