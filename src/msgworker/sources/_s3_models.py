"""Typed models of S3 event notification records and of EventBridge ``aws.s3`` details,
for ``worker(S3EventRecord)`` / ``worker(S3EventBridgeDetail)``; import them from
:mod:`msgworker.sources.s3`, which loads this module on first use."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Keys are URL-decoded as Powertools' S3 data classes do (``unquote_plus``); unknown fields
# are kept.


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow", frozen=True)


class S3Bucket(_Model):
    name: str
    arn: str | None = None
    owner_identity: dict[str, Any] | None = Field(default=None, alias="ownerIdentity")


class _Object(_Model):
    key: str
    size: int | None = None
    sequencer: str | None = None

    @field_validator("key")
    @classmethod
    def _decoded(cls, key: str) -> str:
        return unquote_plus(key)


class S3Object(_Object):
    """The object of a notification; ``key`` is URL-decoded (``a+b%21`` → ``a b!``)."""

    etag: str | None = Field(default=None, alias="eTag")
    version_id: str | None = Field(default=None, alias="versionId")


class S3Entity(_Model):
    schema_version: str | None = Field(default=None, alias="s3SchemaVersion")
    configuration_id: str | None = Field(default=None, alias="configurationId")
    bucket: S3Bucket
    object: S3Object


class S3EventRecord(_Model):
    """One record of an S3 event notification.

    Example:
        >>> from msgworker.testing import s3_record
        >>> record = S3EventRecord.model_validate(s3_record("photos", "2026/a b.jpg", size=5))
        >>> record.s3.bucket.name, record.s3.object.key, record.event_name
        ('photos', '2026/a b.jpg', 'ObjectCreated:Put')
    """

    event_version: str = Field(alias="eventVersion")
    event_source: str = Field(alias="eventSource")
    aws_region: str = Field(alias="awsRegion")
    event_time: datetime = Field(alias="eventTime")
    event_name: str = Field(alias="eventName")
    user_identity: dict[str, Any] | None = Field(default=None, alias="userIdentity")
    request_parameters: dict[str, Any] | None = Field(default=None, alias="requestParameters")
    response_elements: dict[str, Any] | None = Field(default=None, alias="responseElements")
    s3: S3Entity


class S3DetailBucket(_Model):
    name: str


class S3DetailObject(_Object):
    """The object of an EventBridge S3 event; ``key`` is URL-decoded like a notification's."""

    etag: str | None = None
    version_id: str | None = Field(default=None, alias="version-id")


class S3EventBridgeDetail(_Model):
    """The ``detail`` of an EventBridge event from ``aws.s3`` ("Object Created", ...).

    Example:
        >>> detail = S3EventBridgeDetail.model_validate(
        ...     {"bucket": {"name": "photos"}, "object": {"key": "a.jpg", "size": 5}, "reason": "PutObject"}
        ... )
        >>> detail.bucket.name, detail.object.size, detail.reason
        ('photos', 5, 'PutObject')
    """

    version: str | None = None
    bucket: S3DetailBucket
    object: S3DetailObject
    request_id: str | None = Field(default=None, alias="request-id")
    requester: str | None = None
    source_ip_address: str | None = Field(default=None, alias="source-ip-address")
    reason: str | None = None
    deletion_type: str | None = Field(default=None, alias="deletion-type")
