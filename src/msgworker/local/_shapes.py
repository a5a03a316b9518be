"""The shapes AWS hands around: message attributes, Lambda's SQS / SNS / stream records.

Pure conversions, shared by the pollers, the fan-out and the test API.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..testing._common import iso_s, typed_attribute


def to_message_attributes(attributes: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Plain values (str → String, int/float → Number, list → String.Array, bytes → Binary)
    or boto3's ``MessageAttributes`` shape, as SQS ``SendMessage`` and SNS ``Publish`` take them.

    >>> to_message_attributes({"channel": "email", "priority": 2})
    {'channel': {'DataType': 'String', 'StringValue': 'email'}, 'priority': {'DataType': 'Number', 'StringValue': '2'}}
    >>> to_message_attributes({"raw": {"DataType": "Binary", "BinaryValue": b"\\x00"}})["raw"]["DataType"]
    'Binary'
    """
    result: dict[str, dict[str, Any]] = {}
    for name, value in (attributes or {}).items():
        if isinstance(value, Mapping) and "DataType" in value:
            result[name] = dict(value)
            continue
        data_type, text = typed_attribute(name, value)
        if data_type == "Binary":
            result[name] = {"DataType": "Binary", "BinaryValue": bytes(value)}
        else:
            result[name] = {"DataType": data_type, "StringValue": text}
    return result


def plain_attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    """Received message attributes as plain values: the inverse of :func:`to_message_attributes`.

    >>> plain_attributes({"n": {"DataType": "Number", "StringValue": "2.5"},
    ...                   "s": {"DataType": "String", "StringValue": "x"}})
    {'n': 2.5, 's': 'x'}
    """
    values: dict[str, Any] = {}
    for name, attribute in (attributes or {}).items():
        kind = str(attribute.get("DataType", ""))
        if kind.startswith("Binary"):
            values[name] = attribute.get("BinaryValue")
        elif kind.startswith("Number"):
            text = str(attribute.get("StringValue"))
            values[name] = float(text) if any(c in text for c in ".eE") else int(text)
        elif kind == "String.Array":
            values[name] = json.loads(str(attribute.get("StringValue")))
        else:
            values[name] = attribute.get("StringValue")
    return values


def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """The record Lambda puts in an SQS event for a received message."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _lambda_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _lambda_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    attribute: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    return attribute


def raw_delivery_attributes(envelope: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """An SNS notification's attributes as raw message delivery sends them to SQS."""
    result: dict[str, dict[str, Any]] = {}
    for name, attribute in (envelope.get("MessageAttributes") or {}).items():
        kind, value = str(attribute.get("Type")), attribute.get("Value")
        if kind.startswith("Binary"):
            result[name] = {
                "DataType": kind,
                "BinaryValue": base64.b64decode(value) if isinstance(value, str) else value,
            }
        else:
            result[name] = {"DataType": kind, "StringValue": str(value)}
    return result


def sns_envelope(notification: Mapping[str, Any]) -> dict[str, Any]:
    """The notification SNS writes into an SQS body (raw delivery off), from moto's copy:
    the documented keys only, Binary values as base64 text."""
    keys = ("Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion", "Signature")
    envelope = {key: notification[key] for key in keys if notification.get(key) is not None}
    envelope["SigningCertURL"] = notification.get("SigningCertURL", "")
    envelope["UnsubscribeURL"] = notification.get("UnsubscribeURL", "")
    attributes = _sns_attributes(notification)
    if attributes:
        envelope["MessageAttributes"] = attributes
    return envelope


def sns_lambda_event(notification: Mapping[str, Any], subscription_arn: str) -> dict[str, Any]:
    """The event SNS invokes a subscribed function with: one record."""
    sns = {
        "Type": "Notification",
        "MessageId": notification["MessageId"],
        "TopicArn": notification["TopicArn"],
        "Subject": notification.get("Subject"),
        "Message": notification["Message"],
        "Timestamp": notification["Timestamp"],
        "SignatureVersion": notification.get("SignatureVersion", "1"),
        "Signature": notification.get("Signature", ""),
        "SigningCertUrl": notification.get("SigningCertURL", ""),
        "UnsubscribeUrl": notification.get("UnsubscribeURL", ""),
        "MessageAttributes": _sns_attributes(notification),
    }
    return {
        "Records": [
            {"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": subscription_arn, "Sns": sns}
        ]
    }


def _sns_attributes(notification: Mapping[str, Any]) -> dict[str, Any]:
    attributes = {}
    for name, attribute in (notification.get("MessageAttributes") or {}).items():
        value = attribute.get("Value")
        if isinstance(value, bytes):
            value = base64.b64encode(value).decode("ascii")
        attributes[name] = {"Type": attribute.get("Type"), "Value": value}
    return attributes


def eventbridge_event(delivered: Mapping[str, Any]) -> dict[str, Any]:
    """An event as EventBridge hands it to targets, from the copy moto's rule sent to the
    runtime's queue (moto writes ``time`` as epoch seconds; EventBridge as ISO 8601)."""
    event = dict(delivered)
    event.pop("ingestion-time", None)
    moment = event.get("time")
    if isinstance(moment, int | float):
        event["time"] = iso_s(datetime.fromtimestamp(moment, UTC))
    return event
