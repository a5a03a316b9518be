"""The same handler module written with aws-lambda-powertools' batch utility."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from order_model import Order
from pydantic import Json


class OrderSqsRecord(SqsRecordModel):
    body: Json[Order]


processor = BatchProcessor(event_type=EventType.SQS, model=OrderSqsRecord)


def record_handler(record: OrderSqsRecord) -> None:
    pass


def handler(event: dict[str, Any], context: Any) -> Any:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
