"""Dead-letter queue tools: list, peek and redrive, against AWS or any local endpoint.

The ``msgworker dlq`` command is their face (``msgworker dlq list``, ``peek``,
``redrive``; see docs/dlq.md); the same operations are here for scripts and tests.
Decisions are apart from I/O:

- ``_model``: which queues are DLQs and whom they serve, what a peek shows, what a
  received message becomes when sent again (pure);
- ``_move``: the books of a receive → send → delete move: nothing is deleted that SQS
  did not confirm sending, and FIFO group order holds (pure);
- ``_tools``: finding queues, listing, peeking (SQS calls);
- ``_redrive``: the message-move task, or receive → send → delete.

Example:
    >>> from moto import mock_aws
    >>> with mock_aws():
    ...     sqs = sqs_client(region="us-east-1")
    ...     dlq = sqs.create_queue(QueueName="orders-dlq")
    ...     attributes = sqs.get_queue_attributes(QueueUrl=dlq["QueueUrl"], AttributeNames=["QueueArn"])
    ...     arn = attributes["Attributes"]["QueueArn"]
    ...     policy = '{"deadLetterTargetArn": "%s", "maxReceiveCount": 3}' % arn
    ...     _ = sqs.create_queue(QueueName="orders", Attributes={"RedrivePolicy": policy})
    ...     _ = sqs.send_message(QueueUrl=dlq["QueueUrl"], MessageBody='{"order_id": "o-1"}')
    ...     tools = DlqTools(sqs, wait_seconds=0)
    ...     [(queue.name, queue.visible) for queue in tools.dead_letter_queues()]
    ...     result = redrive(tools, "orders-dlq", method="messages")
    ...     result.moved, result.target.name
    [('orders-dlq', 1)]
    (1, 'orders')
"""

from __future__ import annotations

from ._model import DeadLetterQueue, DlqError, PeekedMessage, Queue
from ._move import Left, MoveLedger
from ._redrive import Method, RedriveResult, redrive
from ._tools import PEEK_HOLD, DlqTools, Peek, TemplateQueues, sqs_client

__all__ = [
    "PEEK_HOLD",
    "DeadLetterQueue",
    "DlqError",
    "DlqTools",
    "Left",
    "Method",
    "MoveLedger",
    "Peek",
    "PeekedMessage",
    "Queue",
    "RedriveResult",
    "TemplateQueues",
    "redrive",
    "sqs_client",
]
