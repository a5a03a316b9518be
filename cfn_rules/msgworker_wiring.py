"""cfn-lint rules for wiring msgworker consumers (SAM or plain CloudFormation).

Use them on your own template:

    cfn-lint --append-rules cfn_rules/ template.yaml

E9501  SQS, Kinesis and DynamoDB event sources report batch item failures
E9502  every SQS queue has a dead-letter queue of the same type, keeping messages longer
E9503  a source queue's visibility timeout is at least 6x its consumer's function timeout
E9504  no batching window on FIFO queue event sources
E9505  every SAM function lists a sample event for each of its event sources (Metadata.SampleEvents)

The rules read SAM functions' `Events` and plain `AWS::Lambda::EventSourceMapping`
resources alike. cfn-lint merges SAM `Globals` into the functions before rules run; the
rules also read `Globals` themselves in case a cfn-lint version does not. Silence a rule
for one resource with `Metadata: {cfn-lint: {config: {ignore_checks: [E9503]}}}`.

cfn-lint loads every file of the rules folder as a standalone module, so this file keeps
its helpers to itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

SQS_QUEUE = "AWS::SQS::Queue"
SAM_FUNCTION = "AWS::Serverless::Function"
LAMBDA_FUNCTION = "AWS::Lambda::Function"
EVENT_SOURCE_MAPPING = "AWS::Lambda::EventSourceMapping"

# CloudFormation defaults used when a property is absent.
DEFAULT_VISIBILITY_TIMEOUT = 30
DEFAULT_FUNCTION_TIMEOUT = 3
DEFAULT_RETENTION = 345600

# Keys under which a template names a queue that receives failed messages or events:
# SQS RedrivePolicy, SNS subscription RedrivePolicy, Lambda DeadLetterConfig / SAM
# DeadLetterQueue, EventBridge target DeadLetterConfig, on-failure destinations.
DEAD_LETTER_KEYS = frozenset({"deadLetterTargetArn", "DeadLetterConfig", "DeadLetterQueue", "OnFailure"})

# SAM event type -> what the first record of its sample event must look like.
SAMPLE_SHAPES: dict[str, tuple[str, str]] = {
    "SQS": ("eventSource", "aws:sqs"),
    "Kinesis": ("eventSource", "aws:kinesis"),
    "DynamoDB": ("eventSource", "aws:dynamodb"),
    "SNS": ("EventSource", "aws:sns"),
}
EVENTBRIDGE_TYPES = frozenset({"EventBridgeRule", "CloudWatchEvent", "Schedule"})


# --------------------------------------------------------------------------------------
# Template helpers
# --------------------------------------------------------------------------------------


def _referenced_id(value: Any) -> str | None:
    """The logical id a Ref / GetAtt / simple Sub points at, else None."""
    if not isinstance(value, dict) or len(value) != 1:
        return None
    (key, arg), *_ = value.items()
    if key == "Ref" and isinstance(arg, str):
        return arg
    if key == "Fn::GetAtt":
        if isinstance(arg, list) and arg and isinstance(arg[0], str):
            return arg[0]
        if isinstance(arg, str):
            return arg.split(".", 1)[0]
    if key == "Fn::Sub" and isinstance(arg, str) and arg.startswith("${") and arg.endswith("}"):
        inner = arg[2:-1]
        if "${" not in inner:
            return inner.split(".", 1)[0]
    return None


def _all_referenced_ids(value: Any) -> Iterator[str]:
    """Every logical id referenced anywhere inside value."""
    ref = _referenced_id(value)
    if ref is not None:
        yield ref
    elif isinstance(value, dict):
        for item in value.values():
            yield from _all_referenced_ids(item)
    elif isinstance(value, list):
        for item in value:
            yield from _all_referenced_ids(item)


def _resources(cfn: Any) -> dict[str, Any]:
    resources = cfn.template.get("Resources")
    return resources if isinstance(resources, dict) else {}


def _properties(resource: Any) -> dict[str, Any]:
    props = resource.get("Properties") if isinstance(resource, dict) else None
    return props if isinstance(props, dict) else {}


def _resource_of_type(cfn: Any, logical_id: str | None, *types: str) -> dict[str, Any] | None:
    if logical_id is None:
        return None
    resource = _resources(cfn).get(logical_id)
    if isinstance(resource, dict) and resource.get("Type") in types:
        return resource
    return None


def _as_int(cfn: Any, value: Any) -> int | None:
    """An integer property, following a Ref to a parameter's Default; None when unknown."""
    ref = _referenced_id(value)
    if ref is not None and isinstance(value, dict) and "Ref" in value:
        parameters = cfn.template.get("Parameters") or {}
        parameter = parameters.get(ref) if isinstance(parameters, dict) else None
        value = parameter.get("Default") if isinstance(parameter, dict) else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _sam_function_globals(cfn: Any) -> dict[str, Any]:
    globals_section = cfn.transform_pre.get("Globals") or cfn.template.get("Globals") or {}
    function = globals_section.get("Function") if isinstance(globals_section, dict) else None
    return function if isinstance(function, dict) else {}


def _function_timeout(cfn: Any, function_id: str) -> int | None:
    function = _resource_of_type(cfn, function_id, SAM_FUNCTION, LAMBDA_FUNCTION)
    if function is None:
        return None
    props = _properties(function)
    if "Timeout" in props:
        return _as_int(cfn, props["Timeout"])
    if function.get("Type") == SAM_FUNCTION and "Timeout" in _sam_function_globals(cfn):
        return _as_int(cfn, _sam_function_globals(cfn)["Timeout"])
    return DEFAULT_FUNCTION_TIMEOUT


class EventSource:
    """One poll-based event source of a function: a SAM event or an EventSourceMapping.

    (A plain class: cfn-lint does not register rule modules in sys.modules, which
    dataclasses need.)
    """

    __slots__ = ("function_id", "kind", "label", "path", "props", "source")

    def __init__(
        self,
        kind: str,
        function_id: str | None,
        source: Any,
        props: dict[str, Any],
        path: list[str | int],
        label: str,
    ) -> None:
        self.kind = kind  # "SQS", "Kinesis" or "DynamoDB"
        self.function_id = function_id
        self.source = source  # the queue / stream ARN expression
        self.props = props
        self.path = path
        self.label = label

    def queue_id(self, cfn: Any) -> str | None:
        ref = _referenced_id(self.source)
        return ref if _resource_of_type(cfn, ref, SQS_QUEUE) else None

    def is_fifo_queue(self, cfn: Any) -> bool:
        queue = _resource_of_type(cfn, self.queue_id(cfn), SQS_QUEUE)
        if queue is not None:
            return _is_true(_properties(queue).get("FifoQueue"))
        return isinstance(self.source, str) and self.source.endswith(".fifo")


def _kind_of_arn(cfn: Any, arn: Any) -> str | None:
    ref = _referenced_id(arn)
    if ref is not None:
        resource = _resources(cfn).get(ref)
        resource_type = resource.get("Type") if isinstance(resource, dict) else None
        return {
            SQS_QUEUE: "SQS",
            "AWS::Kinesis::Stream": "Kinesis",
            "AWS::Kinesis::StreamConsumer": "Kinesis",
            "AWS::DynamoDB::Table": "DynamoDB",
            "AWS::DynamoDB::GlobalTable": "DynamoDB",
        }.get(resource_type or "")
    if isinstance(arn, str):
        for marker, kind in ((":sqs:", "SQS"), (":kinesis:", "Kinesis"), (":dynamodb:", "DynamoDB")):
            if marker in arn:
                return kind
    return None


def event_sources(cfn: Any) -> Iterator[EventSource]:
    """SQS, Kinesis and DynamoDB event sources of every function in the template."""
    for name, resource in _resources(cfn).items():
        if not isinstance(resource, dict):
            continue
        props = _properties(resource)
        if resource.get("Type") == SAM_FUNCTION:
            events = props.get("Events")
            if not isinstance(events, dict):
                continue
            for event_name, event in events.items():
                if not isinstance(event, dict) or event.get("Type") not in ("SQS", "Kinesis", "DynamoDB"):
                    continue
                event_props = event.get("Properties")
                event_props = event_props if isinstance(event_props, dict) else {}
                source_key = "Queue" if event["Type"] == "SQS" else "Stream"
                yield EventSource(
                    kind=event["Type"],
                    function_id=name,
                    source=event_props.get(source_key),
                    props=event_props,
                    path=["Resources", name, "Properties", "Events", event_name, "Properties"],
                    label=f"{name} event {event_name}",
                )
        elif resource.get("Type") == EVENT_SOURCE_MAPPING:
            kind = _kind_of_arn(cfn, props.get("EventSourceArn"))
            if kind is None:
                continue
            yield EventSource(
                kind=kind,
                function_id=_referenced_id(props.get("FunctionName")),
                source=props.get("EventSourceArn"),
                props=props,
                path=["Resources", name, "Properties"],
                label=f"event source mapping {name}",
            )


def dead_letter_queue_ids(cfn: Any) -> set[str]:
    """Queues the template uses to receive failures (they need no DLQ of their own)."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in DEAD_LETTER_KEYS:
                    found.update(_all_referenced_ids(item))
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(_resources(cfn))
    for name, resource in _resources(cfn).items():
        # A queue that declares who may use it as a DLQ is one.
        is_queue = isinstance(resource, dict) and resource.get("Type") == SQS_QUEUE
        if is_queue and "RedriveAllowPolicy" in _properties(resource):
            found.add(name)
    return found


def _redrive_policy(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


# --------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------


class BatchItemFailuresReported(CloudFormationLintRule):
    id = "E9501"
    shortdesc = "Event sources of msgworker functions report batch item failures"
    description = (
        "msgworker answers SQS, Kinesis and DynamoDB batches with batchItemFailures. Lambda reads that "
        "answer only when the event source has FunctionResponseTypes: [ReportBatchItemFailures]; "
        "without it a batch that returns normally counts as fully processed and its failed records "
        "are deleted or skipped."
    )
    source_url = "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html"
    tags = ["msgworker", "lambda", "sqs", "kinesis", "dynamodb"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for source in event_sources(cfn):
            response_types = source.props.get("FunctionResponseTypes")
            if not isinstance(response_types, list) or "ReportBatchItemFailures" not in response_types:
                matches.append(
                    RuleMatch(
                        source.path,
                        f"{source.label} ({source.kind}) must set FunctionResponseTypes: "
                        "[ReportBatchItemFailures], or records msgworker reports failed are lost",
                    )
                )
        return matches


class QueueHasSameTypeDeadLetterQueue(CloudFormationLintRule):
    id = "E9502"
    shortdesc = "Every SQS queue has a dead-letter queue of the same type that keeps messages longer"
    description = (
        "A queue without a RedrivePolicy redelivers a poison message until it expires. Its DLQ must be "
        "FIFO for a FIFO queue and standard for a standard one, and retain messages longer than the "
        "source: a standard queue's message keeps its original enqueue time when moved. Queues that "
        "are themselves used to receive failures (named in a RedrivePolicy, DeadLetterConfig, "
        "DeadLetterQueue or OnFailure destination, or declaring a RedriveAllowPolicy) are exempt."
    )
    source_url = (
        "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html"
    )
    tags = ["msgworker", "sqs"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        exempt = dead_letter_queue_ids(cfn)
        for name, resource in cfn.get_resources([SQS_QUEUE]).items():
            if name in exempt:
                continue
            props = _properties(resource)
            path: list[str | int] = ["Resources", name, "Properties"]
            policy = _redrive_policy(props.get("RedrivePolicy"))
            if policy is None or "deadLetterTargetArn" not in policy:
                matches.append(RuleMatch(path, f"Queue {name} has no dead-letter queue (RedrivePolicy)"))
                continue
            if "maxReceiveCount" not in policy:
                message = f"Queue {name}: RedrivePolicy needs maxReceiveCount"
                matches.append(RuleMatch([*path, "RedrivePolicy"], message))
            dlq_id = _referenced_id(policy["deadLetterTargetArn"])
            dlq = _resource_of_type(cfn, dlq_id, SQS_QUEUE)
            fifo = _is_true(props.get("FifoQueue"))
            if dlq is None:
                target = policy["deadLetterTargetArn"]
                if isinstance(target, str) and target.endswith(".fifo") != fifo:
                    matches.append(
                        RuleMatch([*path, "RedrivePolicy"], f"Queue {name} and its DLQ {target} differ in type")
                    )
                continue
            dlq_props = _properties(dlq)
            if _is_true(dlq_props.get("FifoQueue")) != fifo:
                kinds = ("FIFO", "standard") if fifo else ("standard", "FIFO")
                matches.append(
                    RuleMatch(
                        [*path, "RedrivePolicy"],
                        f"Queue {name} is {kinds[0]} but its DLQ {dlq_id} is {kinds[1]}",
                    )
                )
            retention = _as_int(cfn, props.get("MessageRetentionPeriod", DEFAULT_RETENTION))
            dlq_retention = _as_int(cfn, dlq_props.get("MessageRetentionPeriod", DEFAULT_RETENTION))
            if retention is not None and dlq_retention is not None and dlq_retention <= retention:
                matches.append(
                    RuleMatch(
                        [*path, "RedrivePolicy"],
                        f"DLQ {dlq_id} keeps messages {dlq_retention} s, not longer than {name}'s {retention} s",
                    )
                )
        return matches


class VisibilityTimeoutCoversRetries(CloudFormationLintRule):
    id = "E9503"
    shortdesc = "A source queue's visibility timeout is at least 6x its consumer's function timeout"
    description = (
        "Lambda's guidance for SQS event sources: a visibility timeout of at least six times the "
        "function timeout leaves room for throttled retries, so a message is not received again "
        "while a batch holding it still runs. The function Timeout includes SAM Globals."
    )
    source_url = "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html"
    tags = ["msgworker", "lambda", "sqs"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for source in event_sources(cfn):
            if source.kind != "SQS" or source.function_id is None:
                continue
            queue_id = source.queue_id(cfn)
            queue = _resource_of_type(cfn, queue_id, SQS_QUEUE)
            timeout = _function_timeout(cfn, source.function_id)
            if queue is None or timeout is None:
                continue
            visibility = _as_int(cfn, _properties(queue).get("VisibilityTimeout", DEFAULT_VISIBILITY_TIMEOUT))
            if visibility is not None and visibility < 6 * timeout:
                matches.append(
                    RuleMatch(
                        ["Resources", queue_id, "Properties"],
                        f"Queue {queue_id} visibility timeout {visibility} s is less than 6 x "
                        f"{source.function_id}'s timeout {timeout} s = {6 * timeout} s ({source.label})",
                    )
                )
        return matches


class NoBatchingWindowOnFifo(CloudFormationLintRule):
    id = "E9504"
    shortdesc = "No batching window on FIFO queue event sources"
    description = (
        "Lambda does not support MaximumBatchingWindowInSeconds for FIFO queues; the deployment of the "
        "event source mapping fails."
    )
    source_url = "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html"
    tags = ["msgworker", "lambda", "sqs"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        return [
            RuleMatch(
                [*source.path, "MaximumBatchingWindowInSeconds"],
                f"{source.label} reads a FIFO queue: remove MaximumBatchingWindowInSeconds",
            )
            for source in event_sources(cfn)
            if source.kind == "SQS" and source.is_fifo_queue(cfn) and "MaximumBatchingWindowInSeconds" in source.props
        ]


class SampleEventForEachEventSource(CloudFormationLintRule):
    id = "E9505"
    shortdesc = "Every SAM function has a sample event for each of its event sources"
    description = (
        "Metadata.SampleEvents of an AWS::Serverless::Function maps each name in its Events to a JSON "
        "file (path relative to the template, e.g. events/sqs/orders.json) holding an event of that "
        "source, for `sam local invoke -e` and `msgworker invoke`."
    )
    source_url = "https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-cli-command-reference-sam-local-invoke.html"
    tags = ["msgworker", "lambda"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches: list[RuleMatch] = []
        base = Path(cfn.filename).resolve().parent if cfn.filename else None
        for name, resource in cfn.get_resources([SAM_FUNCTION]).items():
            events = _properties(resource).get("Events")
            if not isinstance(events, dict) or not events:
                continue
            metadata = resource.get("Metadata")
            samples = metadata.get("SampleEvents") if isinstance(metadata, dict) else None
            if not isinstance(samples, dict):
                matches.append(
                    RuleMatch(
                        ["Resources", name],
                        f"Function {name} has no Metadata.SampleEvents (a sample event file per event source)",
                    )
                )
                continue
            for event_name, event in events.items():
                event_type = event.get("Type") if isinstance(event, dict) else None
                path: list[str | int] = ["Resources", name, "Metadata", "SampleEvents"]
                if event_name not in samples:
                    matches.append(
                        RuleMatch(path, f"Function {name}: Metadata.SampleEvents has no sample for event {event_name}")
                    )
                    continue
                problem = self._check_sample(base, samples[event_name], event_type)
                if problem:
                    matches.append(RuleMatch([*path, event_name], f"Function {name}, event {event_name}: {problem}"))
            for extra in sorted(set(samples) - set(events)):
                matches.append(
                    RuleMatch(
                        ["Resources", name, "Metadata", "SampleEvents", extra],
                        f"Function {name}: Metadata.SampleEvents names {extra}, which is not one of its Events",
                    )
                )
        return matches

    @staticmethod
    def _check_sample(base: Path | None, relative: Any, event_type: str | None) -> str | None:
        if not isinstance(relative, str) or not relative:
            return "the sample event must be a file path"
        if Path(relative).is_absolute():
            return f"sample event path {relative} must be relative to the template"
        if base is None:  # template read from stdin: nothing to resolve paths against
            return None
        path = base / relative
        if not path.is_file():
            return f"sample event file {relative} does not exist"
        try:
            sample = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            return f"sample event file {relative} is not JSON ({exc})"
        if event_type in SAMPLE_SHAPES:
            key, expected = SAMPLE_SHAPES[event_type]
            records = sample.get("Records") if isinstance(sample, dict) else None
            first = records[0] if isinstance(records, list) and records else None
            if not isinstance(first, dict) or first.get(key) != expected:
                return f"sample event file {relative} is not a {event_type} event (Records[0].{key} != {expected})"
        elif event_type in EVENTBRIDGE_TYPES and (not isinstance(sample, dict) or "detail-type" not in sample):
            return f"sample event file {relative} is not an EventBridge event (no detail-type)"
        return None
