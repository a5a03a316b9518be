"""An SNS → SQS consumer: the SNS Message is the payload, the topic is on the Message."""

from __future__ import annotations

from pydantic import BaseModel

from msgworker import Message, PermanentError, worker


class Notification(BaseModel):
    user_id: str
    text: str


sent: list[tuple[str, str | None]] = []


@worker(Notification)
def handler(notification: Notification, message: Message) -> None:
    if not notification.text:
        raise PermanentError("empty notification")
    sent.append((notification.user_id, message.topic_arn))
