"""S3 event notifications: records, notifications as SQS bodies (directly or through SNS), and
EventBridge events from ``aws.s3``."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote_plus

from ._common import DEFAULT_ACCOUNT, DEFAULT_REGION, iso_ms, utc
from ._eventbridge import eventbridge_event
from ._sns import sns_to_sqs_event
from ._sqs import sqs_event

_SEQUENCER = itertools.count(0x0A1B2C3D4E5F678901)
_COMPACT = (",", ":")


def s3_record(
    bucket: str,
    key: str,
    *,
    size: int | None = 1024,
    event_name: str = "ObjectCreated:Put",
    etag: str = "0123456789abcdef0123456789abcdef",
    version_id: str | None = None,
    time: datetime | None = None,
    configuration: str = "msgworker-notification",
    region: str = DEFAULT_REGION,
) -> dict[str, Any]:
    """Build one S3 event notification record. ``key`` is the object's real key; the record
    carries it URL-encoded (spaces as ``+``), as S3 does. The sequencer increases with every
    call; delete events (``ObjectRemoved:*``) carry no size or eTag.

    >>> record = s3_record("photos", "2026/summer trip.jpg")
    >>> record["s3"]["object"]["key"], record["eventName"]
    ('2026/summer+trip.jpg', 'ObjectCreated:Put')
    """
    s3_object: dict[str, Any] = {"key": quote_plus(key, safe="/")}
    if not event_name.startswith("ObjectRemoved"):
        if size is not None:
            s3_object["size"] = size
        s3_object["eTag"] = etag
    if version_id is not None:
        s3_object["versionId"] = version_id
    s3_object["sequencer"] = f"{next(_SEQUENCER):018X}"
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": iso_ms(utc(time)),
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:AIDAQ3EXAMPLEMSGWRKR7"},
        "requestParameters": {"sourceIPAddress": "198.51.100.7"},
        "responseElements": {
            "x-amz-request-id": "C3D13FE58DE4C810",
            "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": configuration,
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": s3_object,
        },
    }


def s3_notification(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """An S3 event notification: the JSON object S3 sends, with its ``Records``.

    >>> len(s3_notification([s3_record("b", "k"), s3_record("b", "l")])["Records"])
    2
    """
    return {"Records": [dict(record) for record in records]}


def s3_test_event(bucket: str, *, time: datetime | None = None) -> dict[str, Any]:
    """The ``s3:TestEvent`` S3 sends to a destination when a bucket's notifications are set up.

    >>> s3_test_event("photos")["Event"]
    's3:TestEvent'
    """
    return {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": iso_ms(utc(time)),
        "Bucket": bucket,
        "RequestId": "5582815E1AEA5ADF",
        "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
    }


def s3_to_sqs_event(
    notifications: Iterable[Mapping[str, Any]], *, via_sns: bool = False, **kwargs: Any
) -> dict[str, Any]:
    """An SQS event whose bodies are S3 notifications (or ``s3:TestEvent`` messages), sent
    by S3 to the queue directly or, with ``via_sns=True``, through an SNS topic (enveloped).
    Other options go to :func:`sqs_event` (or :func:`sns_to_sqs_event`).

    >>> event = s3_to_sqs_event([s3_notification([s3_record("photos", "a.jpg")])], queue="uploads")
    >>> json.loads(event["Records"][0]["body"])["Records"][0]["s3"]["bucket"]["name"]
    'photos'
    """
    bodies = [json.dumps(dict(notification), separators=_COMPACT) for notification in notifications]
    if via_sns:
        return sns_to_sqs_event(bodies, subject="Amazon S3 Notification", **kwargs)
    return sqs_event(bodies, **kwargs)


def s3_eventbridge_event(
    bucket: str,
    key: str,
    *,
    detail_type: str = "Object Created",
    size: int | None = 1024,
    version_id: str | None = None,
    reason: str = "PutObject",
    **kwargs: Any,
) -> dict[str, Any]:
    """An EventBridge event from ``aws.s3`` ("Object Created", "Object Deleted", ...), with
    the key URL-encoded as in notifications; other options go to :func:`eventbridge_event`.

    >>> event = s3_eventbridge_event("photos", "a b.jpg")
    >>> event["source"], event["detail"]["object"]["key"], event["resources"]
    ('aws.s3', 'a+b.jpg', ['arn:aws:s3:::photos'])
    """
    s3_object: dict[str, Any] = {"key": quote_plus(key, safe="/")}
    if size is not None:
        s3_object["size"] = size
    s3_object["etag"] = "0123456789abcdef0123456789abcdef"
    if version_id is not None:
        s3_object["version-id"] = version_id
    s3_object["sequencer"] = f"{next(_SEQUENCER):018X}"
    detail = {
        "version": "0",
        "bucket": {"name": bucket},
        "object": s3_object,
        "request-id": "N4N7GDK58NMKJ12R",
        "requester": kwargs.get("account", DEFAULT_ACCOUNT),
        "source-ip-address": "198.51.100.7",
        "reason": reason,
    }
    return eventbridge_event(
        detail, source="aws.s3", detail_type=detail_type, resources=[f"arn:aws:s3:::{bucket}"], **kwargs
    )
