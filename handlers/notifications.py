"""Notifications published to an SNS topic, delivered to an SQS queue (enveloped or raw)
or straight to Lambda. The same function handles all three deliveries."""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel

from msgworker import Message, worker

log = logging.getLogger(__name__)


class Notification(BaseModel):
    user_id: str
    channel: Literal["email", "sms", "push"]
    text: str


@worker(Notification)
def handler(notification: Notification, message: Message) -> None:
    log.info(
        "notify %s by %s (topic %s, subject %s)",
        notification.user_id,
        notification.channel,
        message.topic_arn,
        message.subject,
    )
