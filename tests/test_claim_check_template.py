"""template.yaml's payload bucket (claim check): private, encrypted, expiring, TLS only, and
readable only by the consumers of offloaded messages, writable only through the writer policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from msgworker.cli.template import load_template

TEMPLATE = load_template(Path(__file__).resolve().parent.parent / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]


def statements_on_bucket() -> list[tuple[str, dict[str, Any]]]:
    """Every IAM statement in the template that names the payload bucket, with its resource's id."""
    found = []
    for logical_id, resource in RESOURCES.items():
        properties = resource.get("Properties") or {}
        documents = [properties.get("PolicyDocument")] + [p["PolicyDocument"] for p in properties.get("Policies", [])]
        for document in filter(None, documents):
            for statement in document["Statement"]:
                if "PayloadBucket" in repr(statement.get("Resource")) and statement["Effect"] == "Allow":
                    found.append((logical_id, statement))
    return found


def test_the_payload_bucket_is_encrypted_private_and_expires_payloads() -> None:
    bucket = RESOURCES["PayloadBucket"]["Properties"]
    [rule] = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    [expiry] = bucket["LifecycleConfiguration"]["Rules"]
    assert expiry["Status"] == "Enabled" and expiry["Prefix"] == "payloads/"
    assert expiry["ExpirationInDays"] == {"Ref": "PayloadRetentionDays"}


def test_the_bucket_refuses_requests_without_tls() -> None:
    [statement] = RESOURCES["PayloadBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Action"] == "s3:*" and statement["Principal"] == "*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_reading_is_for_the_notifications_consumer_and_writing_for_producers_under_the_prefix() -> None:
    grants = {(logical_id, str(statement["Action"])) for logical_id, statement in statements_on_bucket()}
    assert grants == {("NotificationsFunctionPayloadReading", "s3:GetObject"), ("PayloadWriterPolicy", "s3:PutObject")}
    for _, statement in statements_on_bucket():
        assert statement["Resource"] == {"Fn::Sub": "${PayloadBucket.Arn}/payloads/*"}
    reader = RESOURCES["NotificationsFunctionPayloadReading"]["Properties"]
    assert reader["RoleName"] == {"Ref": "NotificationsFunctionRole"}
