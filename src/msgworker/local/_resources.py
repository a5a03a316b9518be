"""The template's resources, created on the local endpoint with their local names."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..testing._common import DEFAULT_ACCOUNT
from ._model import Topology

TAP_PREFIX = "msgworker-local-tap-"
TAP_RULE = "msgworker-local-tap"


@dataclass
class Created:
    """Where each resource is, by logical id."""

    queue_urls: dict[str, str] = field(default_factory=dict)
    queue_arns: dict[str, str] = field(default_factory=dict)
    topic_arns: dict[str, str] = field(default_factory=dict)
    bus_names: dict[str, str] = field(default_factory=dict)
    taps: dict[tuple[str, str], str] = field(default_factory=dict)
    """(``topic`` or ``bus``, logical id) → the runtime's tap queue URL."""
    stream_arns: dict[str, str] = field(default_factory=dict)
    """Kinesis stream or DynamoDB table logical id → stream ARN."""


def create(topology: Topology, client: Any) -> Created:
    """Create every queue, topic, bus, table and stream of ``topology`` (``client(service)``
    makes a boto3 client for the endpoint), and the taps the router reads."""
    created = Created()
    sqs = client("sqs")
    for queue in topology.queues.values():
        attributes = {"VisibilityTimeout": str(queue.visibility_timeout), "DelaySeconds": str(queue.delay_seconds)}
        if queue.fifo:
            attributes["FifoQueue"] = "true"
            attributes["ContentBasedDeduplication"] = "true" if queue.content_based_deduplication else "false"
        url = sqs.create_queue(QueueName=queue.name, Attributes=attributes)["QueueUrl"]
        created.queue_urls[queue.logical_id] = url
        created.queue_arns[queue.logical_id] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
    for queue in topology.queues.values():
        if queue.dead_letter in created.queue_arns and queue.max_receive_count:
            policy = {
                "deadLetterTargetArn": created.queue_arns[queue.dead_letter],
                "maxReceiveCount": queue.max_receive_count,
            }
            sqs.set_queue_attributes(
                QueueUrl=created.queue_urls[queue.logical_id], Attributes={"RedrivePolicy": json.dumps(policy)}
            )

    sns = client("sns")
    for logical_id, name in topology.topics.items():
        arn = sns.create_topic(Name=name)["TopicArn"]
        created.topic_arns[logical_id] = arn
        url, tap_arn = _tap(sqs, f"{TAP_PREFIX}{name}")
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=tap_arn)
        created.taps[("topic", logical_id)] = url

    events = client("events")
    buses = {rule.bus for rule in topology.rules} | set(topology.buses)
    for bus in sorted(buses):
        name = topology.buses.get(bus, bus)
        if name != "default":
            events.create_event_bus(Name=name)
        created.bus_names[bus] = name
        url, tap_arn = _tap(sqs, f"{TAP_PREFIX}{name}")
        events.put_rule(Name=TAP_RULE, EventBusName=name, EventPattern=json.dumps({"account": [DEFAULT_ACCOUNT]}))
        events.put_targets(Rule=TAP_RULE, EventBusName=name, Targets=[{"Id": "tap", "Arn": tap_arn}])
        created.taps[("bus", bus)] = url

    dynamodb = client("dynamodb")
    for logical_id, properties in topology.tables.items():
        created_table = dynamodb.create_table(**_table(properties))["TableDescription"]
        ttl = properties.get("TimeToLiveSpecification") or {}
        if ttl.get("Enabled") in (True, "true"):
            dynamodb.update_time_to_live(
                TableName=properties["TableName"],
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        if created_table.get("LatestStreamArn"):
            created.stream_arns[logical_id] = created_table["LatestStreamArn"]

    kinesis = client("kinesis")
    for logical_id, (name, shards) in topology.streams.items():
        kinesis.create_stream(StreamName=name, ShardCount=shards)
        created.stream_arns[logical_id] = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
            "StreamARN"
        ]
    return created


def _tap(sqs: Any, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name[:80], Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _table(properties: Mapping[str, Any]) -> dict[str, Any]:
    table: dict[str, Any] = {
        "TableName": properties["TableName"],
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if properties.get(key):
            table[key] = [{k: v for k, v in index.items() if k != "ProvisionedThroughput"} for index in properties[key]]
    stream = properties.get("StreamSpecification") or {}
    if stream.get("StreamViewType"):
        table["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    return table
