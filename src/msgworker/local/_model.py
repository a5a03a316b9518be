"""A template's messaging topology as plain values: what the local runtime creates and drives.

Everything is named by the template's logical ids. SAM's ``Events`` on a function and the
plain CloudFormation resources (``AWS::Lambda::EventSourceMapping``, ``AWS::SNS::Subscription``,
``AWS::Events::Rule`` targets, ``AWS::Lambda::EventInvokeConfig``) give the same model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..cli.template import FunctionSpec, TemplateError, function_ids, load_template, resolve_function, resolver
from ..patterns import EventPattern, FilterPolicy

QUEUE, TOPIC, BUS, TABLE, STREAM = (
    "AWS::SQS::Queue",
    "AWS::SNS::Topic",
    "AWS::Events::EventBus",
    "AWS::DynamoDB::Table",
    "AWS::Kinesis::Stream",
)
StreamKind = Literal["kinesis", "dynamodb"]


@dataclass(frozen=True)
class Queue:
    logical_id: str
    name: str
    fifo: bool = False
    content_based_deduplication: bool = False
    visibility_timeout: int = 30
    dead_letter: str | None = None
    """The logical id of the queue its RedrivePolicy names."""
    max_receive_count: int | None = None
    delay_seconds: int = 0


@dataclass(frozen=True)
class SqsMapping:
    """An SQS event source mapping."""

    name: str
    function: str
    queue: str
    batch_size: int = 10
    window: float = 0.0
    report_failures: bool = False
    max_concurrency: int | None = None
    filters: tuple[EventPattern, ...] = ()
    enabled: bool = True


@dataclass(frozen=True)
class StreamMapping:
    """A Kinesis or DynamoDB Streams event source mapping."""

    name: str
    function: str
    kind: StreamKind
    source: str
    """The stream's (Kinesis) or table's (DynamoDB) logical id."""
    batch_size: int = 100
    window: float = 0.0
    report_failures: bool = False
    bisect: bool = False
    max_retries: int = -1
    max_record_age: float = -1
    on_failure: str | None = None
    starting_position: str = "LATEST"
    filters: tuple[EventPattern, ...] = ()
    enabled: bool = True


@dataclass(frozen=True)
class Subscription:
    name: str
    topic: str
    protocol: Literal["sqs", "lambda"]
    target: str
    raw: bool = False
    policy: FilterPolicy | None = None


@dataclass(frozen=True)
class Target:
    kind: Literal["sqs", "lambda"]
    target: str
    input: str | None = None
    input_path: str | None = None
    input_transformer: Mapping[str, Any] | None = None
    group_id: str | None = None


@dataclass(frozen=True)
class Rule:
    name: str
    bus: str
    pattern: EventPattern
    targets: tuple[Target, ...]


@dataclass(frozen=True)
class AsyncConfig:
    """What Lambda does with a failed asynchronous invocation of a function."""

    max_retries: int = 2
    max_event_age: float = 21600
    on_failure: str | None = None
    on_success: str | None = None
    dead_letter: str | None = None


@dataclass(frozen=True)
class Function:
    spec: FunctionSpec
    async_config: AsyncConfig = AsyncConfig()
    reserved_concurrency: int | None = None


@dataclass(frozen=True)
class Topology:
    """Every resource of a template the local runtime runs, by logical id."""

    path: Path
    queues: dict[str, Queue] = field(default_factory=dict)
    topics: dict[str, str] = field(default_factory=dict)
    buses: dict[str, str] = field(default_factory=dict)
    tables: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    """Table logical id → its resolved properties (physical name under ``TableName``)."""
    streams: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Kinesis stream logical id → (name, shard count)."""
    functions: dict[str, Function] = field(default_factory=dict)
    sqs_mappings: list[SqsMapping] = field(default_factory=list)
    stream_mappings: list[StreamMapping] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)

    def queue(self, logical_id: str) -> Queue:
        if logical_id not in self.queues:
            known = ", ".join(self.queues) or "none"
            raise KeyError(f"no queue {logical_id!r} in {self.path} (queues: {known})")
        return self.queues[logical_id]

    def consumed_queues(self) -> list[str]:
        return sorted({mapping.queue for mapping in self.sqs_mappings})


def load_topology(path: str | Path, parameters: Mapping[str, Any] | None = None) -> Topology:
    """Read ``path`` into a :class:`Topology`; ``parameters`` override the template's defaults.

    Example:
        >>> topology = load_topology("template.yaml")
        >>> topology.queues["OrdersQueue"].dead_letter
        'OrdersDeadLetterQueue'
    """
    template_path = Path(path)
    template = load_template(template_path)
    overrides = {name: str(value) for name, value in (parameters or {}).items()}
    resolve = resolver(template, overrides)
    topology = Topology(path=template_path)
    resources: Mapping[str, Any] = template["Resources"]
    for logical_id, resource in resources.items():
        kind = resource.get("Type") if isinstance(resource, Mapping) else None
        properties = resolve.resolve(resource.get("Properties") or {}) if kind else {}
        name = str(resolve.ref(logical_id))
        if kind == QUEUE:
            topology.queues[logical_id] = _queue(logical_id, name, properties, resource.get("Properties") or {})
        elif kind == TOPIC:
            topology.topics[logical_id] = name
        elif kind == BUS:
            topology.buses[logical_id] = name
        elif kind == TABLE:
            topology.tables[logical_id] = {**properties, "TableName": name}
        elif kind == STREAM:
            topology.streams[logical_id] = (name, int(properties.get("ShardCount") or 1))
    for logical_id in function_ids(template):
        spec = resolve_function(template, template_path, logical_id, parameters=overrides)
        raw = resources[logical_id].get("Properties") or {}
        properties = resolve.resolve({**((template.get("Globals") or {}).get("Function") or {}), **raw})
        topology.functions[logical_id] = Function(
            spec, _async_config(properties, raw), _int(properties.get("ReservedConcurrentExecutions"))
        )
        for event_name, event in (raw.get("Events") or {}).items():
            _sam_event(topology, logical_id, f"{logical_id}.{event_name}", event, resolve)
    for logical_id, resource in resources.items():
        _cloudformation_resource(topology, logical_id, resource, resolve)
    return topology


# -- resources -----------------------------------------------------------------------


def _queue(logical_id: str, name: str, properties: Mapping[str, Any], raw: Mapping[str, Any]) -> Queue:
    redrive = properties.get("RedrivePolicy") or {}
    if isinstance(redrive, str):
        redrive = json.loads(redrive)
    fifo = _bool(properties.get("FifoQueue"))
    return Queue(
        logical_id=logical_id,
        name=name if not fifo or name.endswith(".fifo") else f"{name}.fifo",
        fifo=fifo,
        content_based_deduplication=_bool(properties.get("ContentBasedDeduplication")),
        visibility_timeout=int(properties.get("VisibilityTimeout") or 30),
        dead_letter=_target(
            ((raw.get("RedrivePolicy") or {}) if isinstance(raw, Mapping) else {}).get("deadLetterTargetArn")
        ),
        max_receive_count=_int(redrive.get("maxReceiveCount")),
        delay_seconds=int(properties.get("DelaySeconds") or 0),
    )


def _async_config(properties: Mapping[str, Any], raw: Mapping[str, Any]) -> AsyncConfig:
    config = properties.get("EventInvokeConfig") or {}
    destinations = (raw.get("EventInvokeConfig") or {}).get("DestinationConfig") or {}
    dead_letter = (raw.get("DeadLetterQueue") or {}).get("TargetArn")
    return AsyncConfig(
        max_retries=_int(config.get("MaximumRetryAttempts"), 2),
        max_event_age=float(_int(config.get("MaximumEventAgeInSeconds"), 21600)),
        on_failure=_target((destinations.get("OnFailure") or {}).get("Destination")),
        on_success=_target((destinations.get("OnSuccess") or {}).get("Destination")),
        dead_letter=_target(dead_letter),
    )


def _sam_event(topology: Topology, function: str, name: str, event: Mapping[str, Any], resolve: Any) -> None:
    kind = event.get("Type")
    raw = event.get("Properties") or {}
    properties = resolve.resolve(raw)
    if kind == "SQS":
        topology.sqs_mappings.append(
            _sqs_mapping(name, function, _required(_target(raw.get("Queue")), name), properties)
        )
    elif kind in ("Kinesis", "DynamoDB"):
        source = _required(_target(raw.get("Stream")), name)
        topology.stream_mappings.append(
            _stream_mapping(name, function, "kinesis" if kind == "Kinesis" else "dynamodb", source, properties, raw)
        )
    elif kind == "SNS":
        policy = _policy(properties.get("FilterPolicy"), properties.get("FilterPolicyScope"))
        topology.subscriptions.append(
            Subscription(name, _required(_target(raw.get("Topic")), name), "lambda", function, policy=policy)
        )
    elif kind in ("EventBridgeRule", "CloudWatchEvent"):
        target = Target(
            "lambda",
            function,
            input=properties.get("Input"),
            input_path=properties.get("InputPath"),
            input_transformer=properties.get("InputTransformer"),
        )
        bus = _target(raw.get("EventBusName")) or "default"
        topology.rules.append(Rule(name, bus, EventPattern(properties.get("Pattern") or {}), (target,)))


def _cloudformation_resource(topology: Topology, logical_id: str, resource: Any, resolve: Any) -> None:
    if not isinstance(resource, Mapping):
        return
    kind = resource.get("Type")
    raw = resource.get("Properties") or {}
    properties = resolve.resolve(raw)
    if kind == "AWS::Lambda::EventSourceMapping":
        function = _required(_target(raw.get("FunctionName")), logical_id)
        source = _required(_target(raw.get("EventSourceArn")), logical_id)
        if source in topology.queues:
            topology.sqs_mappings.append(_sqs_mapping(logical_id, function, source, properties))
        else:
            stream_kind: StreamKind = "kinesis" if source in topology.streams else "dynamodb"
            topology.stream_mappings.append(_stream_mapping(logical_id, function, stream_kind, source, properties, raw))
    elif kind == "AWS::SNS::Subscription" and properties.get("Protocol") in ("sqs", "lambda"):
        topology.subscriptions.append(
            Subscription(
                logical_id,
                _required(_target(raw.get("TopicArn")), logical_id),
                properties["Protocol"],
                _required(_target(raw.get("Endpoint")), logical_id),
                raw=_bool(properties.get("RawMessageDelivery")),
                policy=_policy(properties.get("FilterPolicy"), properties.get("FilterPolicyScope")),
            )
        )
    elif (
        kind == "AWS::Events::Rule"
        and properties.get("EventPattern")
        and properties.get("State", "ENABLED") == "ENABLED"
    ):
        targets = []
        for target, raw_target in zip(properties.get("Targets") or [], raw.get("Targets") or [], strict=False):
            arn = _target(raw_target.get("Arn"))
            if arn in topology.queues or arn in topology.functions:
                targets.append(
                    Target(
                        "sqs" if arn in topology.queues else "lambda",
                        arn,
                        input=target.get("Input"),
                        input_path=target.get("InputPath"),
                        input_transformer=target.get("InputTransformer"),
                        group_id=(target.get("SqsParameters") or {}).get("MessageGroupId"),
                    )
                )
        bus = _target(raw.get("EventBusName")) or "default"
        topology.rules.append(Rule(logical_id, bus, EventPattern(properties["EventPattern"]), tuple(targets)))
    elif kind == "AWS::Lambda::EventInvokeConfig":
        function_id = _target(raw.get("FunctionName"))
        if function_id is not None and function_id in topology.functions:
            function = function_id
            current = topology.functions[function]
            destinations = raw.get("DestinationConfig") or {}
            config = AsyncConfig(
                max_retries=_int(properties.get("MaximumRetryAttempts"), 2),
                max_event_age=float(_int(properties.get("MaximumEventAgeInSeconds"), 21600)),
                on_failure=_target((destinations.get("OnFailure") or {}).get("Destination")),
                on_success=_target((destinations.get("OnSuccess") or {}).get("Destination")),
                dead_letter=current.async_config.dead_letter,
            )
            topology.functions[function] = Function(current.spec, config, current.reserved_concurrency)


def _sqs_mapping(name: str, function: str, queue: str, properties: Mapping[str, Any]) -> SqsMapping:
    scaling = properties.get("ScalingConfig") or {}
    return SqsMapping(
        name=name,
        function=function,
        queue=queue,
        batch_size=_int(properties.get("BatchSize"), 10),
        window=float(properties.get("MaximumBatchingWindowInSeconds") or 0),
        report_failures="ReportBatchItemFailures" in (properties.get("FunctionResponseTypes") or []),
        max_concurrency=_int(scaling.get("MaximumConcurrency")),
        filters=_filters(properties),
        enabled=_bool(properties.get("Enabled", True)),
    )


def _stream_mapping(
    name: str, function: str, kind: StreamKind, source: str, properties: Mapping[str, Any], raw: Mapping[str, Any]
) -> StreamMapping:
    on_failure = ((raw.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    return StreamMapping(
        name=name,
        function=function,
        kind=kind,
        source=source,
        batch_size=_int(properties.get("BatchSize"), 100),
        window=float(properties.get("MaximumBatchingWindowInSeconds") or 0),
        report_failures="ReportBatchItemFailures" in (properties.get("FunctionResponseTypes") or []),
        bisect=_bool(properties.get("BisectBatchOnFunctionError")),
        max_retries=_int(properties.get("MaximumRetryAttempts"), -1),
        max_record_age=float(_int(properties.get("MaximumRecordAgeInSeconds"), -1)),
        on_failure=_target(on_failure),
        starting_position=str(properties.get("StartingPosition") or "LATEST"),
        filters=_filters(properties),
        enabled=_bool(properties.get("Enabled", True)),
    )


def _filters(properties: Mapping[str, Any]) -> tuple[EventPattern, ...]:
    filters = (properties.get("FilterCriteria") or {}).get("Filters") or []
    return tuple(EventPattern(item["Pattern"], service="lambda") for item in filters if item.get("Pattern"))


def _policy(policy: Any, scope: Any) -> FilterPolicy | None:
    if not policy:
        return None
    return FilterPolicy(policy, scope="MessageBody" if scope == "MessageBody" else "MessageAttributes")


def _target(value: Any) -> str | None:
    """The logical id a reference names: ``!GetAtt X.Arn``, ``!Ref X``, or a ``${X.Arn}`` Sub."""
    if isinstance(value, Mapping) and len(value) == 1:
        ((name, argument),) = value.items()
        if name == "Fn::GetAtt":
            return str(argument[0] if isinstance(argument, list) else str(argument).split(".", 1)[0])
        if name == "Ref":
            return str(argument)
        if name == "Fn::Sub" and isinstance(argument, str) and argument.startswith("${") and argument.endswith("}"):
            return argument[2:-1].split(".", 1)[0]
    if isinstance(value, str):
        return value
    return None


def _required(value: str | None, where: str) -> str:
    if value is None:
        raise TemplateError(f"{where}: its source or target is not a !Ref or !GetAtt of a template resource")
    return value


def _int(value: Any, default: int | None = None) -> Any:
    return default if value is None or value == "" else int(value)


def _bool(value: Any) -> bool:
    return value is True or str(value).lower() == "true"
