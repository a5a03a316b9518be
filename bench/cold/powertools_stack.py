"""The same handler with aws-lambda-powertools: BatchProcessor, idempotent_function, its circuit
breaker, and tenacity for the retry (Powertools has none), as their documentation sets them up.

Tables come from ``POWERTOOLS_IDEMPOTENCY_TABLE`` and ``POWERTOOLS_BREAKER_TABLE``.
"""

import os
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.circuit_breaker import CircuitBreakerConfig, circuit_breaker
from aws_lambda_powertools.utilities.circuit_breaker.persistence import CircuitBreakerDynamoDBPersistence
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from order_model import Order
from pydantic import Json
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential


class OrderSqsRecord(SqsRecordModel):
    body: Json[Order]


processor = BatchProcessor(event_type=EventType.SQS, model=OrderSqsRecord)
persistence = DynamoDBPersistenceLayer(table_name=os.environ["POWERTOOLS_IDEMPOTENCY_TABLE"])
config = IdempotencyConfig(event_key_jmespath="order_id")
breaker = circuit_breaker(
    name="payments-api",
    persistence_store=CircuitBreakerDynamoDBPersistence(table_name=os.environ["POWERTOOLS_BREAKER_TABLE"]),
    config=CircuitBreakerConfig(),
)


@idempotent_function(data_keyword_argument="order", persistence_store=persistence, config=config)
@breaker
@retry(stop=stop_after_attempt(3), retry=retry_if_exception_type(ConnectionError), wait=wait_random_exponential(0.1))
def charge(order: dict[str, Any]) -> None:
    pass


def record_handler(record: OrderSqsRecord) -> None:
    charge(order=record.body.model_dump())


def handler(event: dict[str, Any], context: Any) -> Any:
    config.register_lambda_context(context)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
