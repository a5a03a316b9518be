"""Event factories, a fake Lambda context and a manual clock for testing msgworker handlers.

Every factory returns plain dicts in the shape AWS Lambda hands to a function, so a handler can be
exercised exactly as it runs in production, without boto3, LocalStack or network access:

>>> from msgworker.testing import LambdaContext, ManualClock, sqs_event
>>> event = sqs_event([{"order_id": "o-1"}, {"order_id": "o-2"}], queue="orders")
>>> [record["body"] for record in event["Records"]]
['{"order_id": "o-1"}', '{"order_id": "o-2"}']
>>> clock = ManualClock()
>>> context = LambdaContext(timeout=3, clock=clock)
>>> context.get_remaining_time_in_millis()
3000
>>> clock.advance(2.5)
>>> context.get_remaining_time_in_millis()
500

Bodies, messages, details and data may be ``str``, ``bytes``, a pydantic model (serialised with
``model_dump_json()``) or any JSON-serialisable value (serialised with ``json.dumps``).

Ids are random (uuid4) on every call; sequence numbers come from one module-level counter, so they
strictly increase across calls, as AWS guarantees within a FIFO group, shard or stream partition.

The factories live in one private module per source, mirroring ``msgworker.sources``; import them
from here. ``local_aws`` starts a moto server and imports boto3 and moto only when called.

Isolation: :func:`reset` makes the process look like a new Lambda container (no cached AWS
client, store, warm cache or breaker state); :func:`use_memory_stores` keeps every
``@idempotent`` and ``@circuit_breaker`` state in memory; :func:`guard_real_aws` stops
msgworker's clients from reaching real AWS. ``pip install "msgworker[testing]"`` also
installs a pytest plugin that does all of this around every test and offers the fixtures
``lambda_context``, ``memory_stores``, ``local_aws`` and ``local_aws_server``
(``msgworker.testing._plugin``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._common import DEFAULT_ACCOUNT, DEFAULT_REGION, MessageAttributeValue
from ._context import LambdaContext, ManualClock
from ._dynamodb import dynamodb_event, dynamodb_record, to_dynamodb_json
from ._eventbridge import eventbridge_event, eventbridge_to_sqs_event
from ._isolation import MemoryStores, guard_real_aws, memory_stores, reset, use_aws_stores, use_memory_stores
from ._kafka import kafka_event, kafka_record
from ._kinesis import kinesis_event, kinesis_record
from ._local_aws import LocalAws, local_aws
from ._s3 import s3_eventbridge_event, s3_notification, s3_record, s3_test_event, s3_to_sqs_event
from ._sns import sns_envelope, sns_event, sns_record, sns_to_sqs_event
from ._sqs import sqs_event, sqs_record

# -- local_stack (issue 16): imported on first use, so `import msgworker.testing` stays light.
if TYPE_CHECKING:
    from ..local import local_stack
else:

    def local_stack(template, parameter_overrides=None):
        from ..local import local_stack as start

        return start(template, parameter_overrides)

    local_stack.__doc__ = "The template's topology running locally; see :func:`msgworker.local.local_stack`."

__all__ = [
    "DEFAULT_ACCOUNT",
    "DEFAULT_REGION",
    "LambdaContext",
    "LocalAws",
    "ManualClock",
    "MemoryStores",
    "MessageAttributeValue",
    "dynamodb_event",
    "dynamodb_record",
    "eventbridge_event",
    "eventbridge_to_sqs_event",
    "guard_real_aws",
    "kafka_event",
    "kafka_record",
    "kinesis_event",
    "kinesis_record",
    "local_aws",
    "local_stack",
    "memory_stores",
    "reset",
    "s3_eventbridge_event",
    "s3_notification",
    "s3_record",
    "s3_test_event",
    "s3_to_sqs_event",
    "sns_envelope",
    "sns_event",
    "sns_record",
    "sns_to_sqs_event",
    "sqs_event",
    "sqs_record",
    "to_dynamodb_json",
    "use_aws_stores",
    "use_memory_stores",
]
