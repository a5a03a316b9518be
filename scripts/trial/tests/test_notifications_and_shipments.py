"""The SNS → SQS and EventBridge → Lambda consumers."""

from __future__ import annotations

import pytest
from app import notifications, shipments

from msgworker import PermanentError
from msgworker.testing import LambdaContext, LocalAws, eventbridge_event, sns_to_sqs_event


def test_sns_messages_reach_the_function_with_their_topic(lambda_context: LambdaContext) -> None:
    event = sns_to_sqs_event([{"user_id": "u-1", "text": "hi"}, {"user_id": "u-2", "text": ""}], topic="alerts")
    response = notifications.handler(event, lambda_context)
    assert response is not None and len(response["batchItemFailures"]) == 1
    assert [user for user, _ in notifications.sent] == ["u-1"]
    assert str(notifications.sent[0][1]).endswith(":alerts")
    result = notifications.handler.run(event, lambda_context)
    assert isinstance(result.failures[0].error, PermanentError)


def test_an_eventbridge_event_is_shipped_once(local_aws: LocalAws, lambda_context: LambdaContext) -> None:
    event = eventbridge_event({"order_id": "o-1", "carrier": "dhl"}, detail_type="OrderPaid")
    shipments.handler(event, lambda_context)
    shipments.handler(event, lambda_context)
    assert shipments.shipped == ["o-1"]


def test_a_failed_eventbridge_event_raises_its_own_error(local_aws: LocalAws, lambda_context: LambdaContext) -> None:
    event = eventbridge_event({"order_id": "o-2", "carrier": "unknown"}, detail_type="OrderPaid")
    # Its own type, so Lambda's retries apply; its text withheld (it may quote the payload).
    with pytest.raises(ValueError, match="message withheld") as raised:
        shipments.handler(event, lambda_context)
    assert raised.value.__context__ is None, "no unrelated exception in its traceback"
