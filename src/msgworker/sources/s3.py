"""Amazon S3 event notifications: in SQS bodies (directly or through SNS), straight to
Lambda, and through EventBridge (``source`` ``aws.s3``).

The payload is the S3 record (``Records[n]`` of the notification) or, through EventBridge,
the event's ``detail``; :class:`S3EventRecord` and :class:`S3EventBridgeDetail` are typed
models for them. ``Message`` carries ``bucket``, ``key`` (URL-decoded), ``size`` and
``event_name``.

One SQS message can carry several S3 records: the record function is called once per S3
record and the SQS message, the unit SQS retries, is reported failed if any of them failed
(docs/decisions/0022-s3-records-in-one-message.md). An ``s3:TestEvent`` (sent when a
bucket's notifications are configured) has no record: the message succeeds, nothing runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from .._message import Envelope, Fields
from ..errors import ParseError
from . import eventbridge
from .base import (
    ENVELOPE_FIELDS,
    BodyEnvelope,
    Decoded,
    Ordering,
    Parts,
    Record,
    Source,
    iso_time,
    register_body_envelope,
)


def is_notification(candidate: Any) -> bool:
    """An S3 event notification (``Records`` of ``aws:s3`` records) or ``s3:TestEvent``."""
    if not isinstance(candidate, dict):
        return False
    records = candidate.get("Records")
    if isinstance(records, list):
        return bool(records) and all(
            isinstance(r, dict) and r.get("eventSource") == "aws:s3" and isinstance(r.get("s3"), dict) for r in records
        )
    return candidate.get("Event") == "s3:TestEvent" and candidate.get("Service") == "Amazon S3"


def unwrap(notification: Mapping[str, Any]) -> Decoded:
    records = notification.get("Records") or ()  # none in an s3:TestEvent: nothing to run
    return Parts((record, False, (Envelope("s3", _sequencer(record), record),)) for record in records), False, ()


def _sequencer(record: Mapping[str, Any]) -> str | None:
    value = ((record.get("s3") or {}).get("object") or {}).get("sequencer")
    return value if isinstance(value, str) else None


register_body_envelope(BodyEnvelope("s3", "s3", is_notification, unwrap, inside=("sqs", "sns")))


def decode_key(key: Any) -> str | None:
    """An object key as S3 notifications carry it (URL-encoded, spaces as ``+``) decoded.

    Example:
        >>> decode_key("reports/2026+Q1/r%C3%A9sum%C3%A9.pdf")
        'reports/2026 Q1/résumé.pdf'
    """
    return unquote_plus(key) if isinstance(key, str) else None


def envelope_fields(data: Mapping[str, Any]) -> Fields:
    """Message fields of an S3 record, or of an EventBridge event from ``aws.s3``."""
    if "detail" in data:  # through EventBridge: the detail names bucket and object
        detail = data.get("detail") or {}
        bucket, s3_object, event_name, event_time = detail.get("bucket"), detail.get("object"), None, None
        event_name = data.get("detail-type")
    else:
        s3 = data.get("s3") or {}
        bucket, s3_object = s3.get("bucket"), s3.get("object")
        event_name, event_time = data.get("eventName"), iso_time(data.get("eventTime"))
    bucket = bucket if isinstance(bucket, Mapping) else {}
    s3_object = s3_object if isinstance(s3_object, Mapping) else {}
    size = s3_object.get("size")
    fields: Fields = {
        "bucket": bucket.get("name"),
        "key": decode_key(s3_object.get("key")),
        "size": size if isinstance(size, int) else None,
        "event_name": event_name,
    }
    if event_time is not None:
        fields["event_time"] = event_time
    return fields


ENVELOPE_FIELDS["s3"] = envelope_fields
eventbridge.DETAIL_ENVELOPES["aws.s3"] = "s3"


def _decode(record: Record) -> Decoded:
    if not isinstance(record, Mapping) or not isinstance(record.get("s3"), Mapping):
        raise ParseError("S3 record has no 's3' object")
    return record, False, ()


def _fields(record: Record) -> Fields:
    return {"sent_at": iso_time(record.get("eventTime")), **envelope_fields(record)}


S3 = Source(
    name="s3",
    ordering=Ordering.INDEPENDENT,
    partial_batch_response=False,  # S3 invokes Lambda asynchronously: a raised error is retried
    record_id=lambda record: _sequencer(record) if isinstance(record, Mapping) else None,
    decode=_decode,
    fields=_fields,
)
"""S3 → Lambda directly (``Records`` of ``aws:s3`` records at the top of the event)."""


# The typed models live apart and load on first use: defining pydantic models costs
# ≈ 12 ms of cold start, which a handler that never asks for them should not pay.
_MODELS = (
    "S3Bucket",
    "S3Object",
    "S3Entity",
    "S3EventRecord",
    "S3DetailBucket",
    "S3DetailObject",
    "S3EventBridgeDetail",
)


def __getattr__(name: str) -> Any:
    if name in _MODELS:
        from . import _s3_models

        return getattr(_s3_models, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if TYPE_CHECKING:
    from ._s3_models import (
        S3Bucket,
        S3DetailBucket,
        S3DetailObject,
        S3Entity,
        S3EventBridgeDetail,
        S3EventRecord,
        S3Object,
    )

__all__ = [
    "S3",
    "S3Bucket",
    "S3DetailBucket",
    "S3DetailObject",
    "S3Entity",
    "S3EventBridgeDetail",
    "S3EventRecord",
    "S3Object",
    "decode_key",
    "envelope_fields",
    "is_notification",
    "unwrap",
]
