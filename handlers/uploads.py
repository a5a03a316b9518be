"""Uploads: S3 event notifications through an SQS queue (directly or via SNS), or S3 events
through EventBridge.

The payload is the S3 record (or the EventBridge event's ``detail``); the Message says
which object it is about: ``bucket``, ``key`` (URL-decoded, as S3 requires), ``size`` and
``event_name``. One SQS message may carry several S3 records: the function runs once per
record, and the message comes back if any of them failed. ``s3:TestEvent`` messages (sent
when a bucket's notifications are configured) are acknowledged without a call.
"""

from __future__ import annotations

import logging
from typing import Any

from msgworker import Message, PermanentError, worker

log = logging.getLogger(__name__)


@worker(concurrency=4)
def handler(record: dict[str, Any], message: Message) -> None:
    if not message.bucket or not message.key:
        raise PermanentError("S3 event without a bucket or key")
    log.info("%s: s3://%s/%s (%s bytes)", message.event_name, message.bucket, message.key, message.size)
