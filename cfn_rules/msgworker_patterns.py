"""cfn-lint rule: every event pattern, filter policy and filter criteria is valid.

    cfn-lint --append-rules cfn_rules/ template.yaml

E9506  EventBridge rule patterns (AWS::Events::Rule EventPattern, SAM EventBridgeRule /
       CloudWatchEvent Pattern), SNS subscription filter policies (AWS::SNS::Subscription
       FilterPolicy with its FilterPolicyScope, SAM SNS events) and Lambda event filtering
       (FilterCriteria.Filters[].Pattern of event source mappings, SAM SQS / Kinesis /
       DynamoDB events, EventBridge Pipes, with their narrower operator set) are checked
       with msgworker.patterns, the engine the router and `msgworker pattern test` use, so
       an invalid one fails before deploy.

Intrinsic functions inside a pattern become placeholders; a pattern that is a `Fn::Sub`
string has its `${Parameter}` references replaced by the parameters' defaults (it is
skipped when one has none). msgworker.patterns is imported from the installed package,
or else from this repository's src/ folder.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

try:
    from msgworker.patterns import EventPattern, FilterPolicy, InvalidPatternError
except ImportError:  # cfn-lint runs from its own virtualenv: use this checkout's source
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    from msgworker.patterns import EventPattern, FilterPolicy, InvalidPatternError

PLACEHOLDER = "msgworker-placeholder"
_SUB_REFERENCE = re.compile(r"\$\{([^}!]+)\}")


class _Unknown(Exception):
    """A pattern whose final text cannot be known before deploy."""


def _resolve(cfn: Any, value: Any) -> Any:
    """The pattern as plain JSON data (a dict), or raise _Unknown."""
    if isinstance(value, dict) and len(value) == 1 and "Fn::Sub" in value:
        argument = value["Fn::Sub"]
        text, variables = (argument[0], argument[1]) if isinstance(argument, list) else (argument, {})
        if not isinstance(text, str):
            raise _Unknown
        parameters = cfn.template.get("Parameters") or {}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            parameter = parameters.get(name) if isinstance(parameters, dict) else None
            if isinstance(parameter, dict) and "Default" in parameter:
                return str(parameter["Default"])
            if name in variables or name.startswith("AWS::") or "." in name or name in _resources(cfn):
                return PLACEHOLDER
            raise _Unknown

        value = _SUB_REFERENCE.sub(substitute, text)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value  # the engine reports it as not JSON
    return _placeholders(value, in_list=False)


def _placeholders(value: Any, *, in_list: bool) -> Any:
    if isinstance(value, dict):
        intrinsic = any(str(key).startswith("Fn::") for key in value)
        if intrinsic or (len(value) == 1 and next(iter(value)) in ("Ref", "Condition")):
            return PLACEHOLDER if in_list else [PLACEHOLDER]
        return {key: _placeholders(item, in_list=False) for key, item in value.items()}
    if isinstance(value, list):
        return [_placeholders(item, in_list=True) for item in value]
    return value


def _resources(cfn: Any) -> dict[str, Any]:
    resources = cfn.template.get("Resources")
    return resources if isinstance(resources, dict) else {}


def _properties(value: Any) -> dict[str, Any]:
    props = value.get("Properties") if isinstance(value, dict) else None
    return props if isinstance(props, dict) else {}


def _filters(props: dict[str, Any], path: list[str | int]) -> Iterator[tuple[str, Any, str, list[str | int]]]:
    criteria = props.get("FilterCriteria")
    filters = criteria.get("Filters") if isinstance(criteria, dict) else None
    for index, item in enumerate(filters if isinstance(filters, list) else []):
        if isinstance(item, dict) and "Pattern" in item:
            yield "filter", item["Pattern"], "", [*path, "FilterCriteria", "Filters", index, "Pattern"]


def patterns(cfn: Any) -> Iterator[tuple[str, Any, str, list[str | int]]]:
    """``(kind, pattern, scope, path)`` for every pattern in the template."""
    for name, resource in _resources(cfn).items():
        if not isinstance(resource, dict):
            continue
        kind, props, path = resource.get("Type"), _properties(resource), ["Resources", name, "Properties"]
        if kind == "AWS::Events::Rule" and "EventPattern" in props:
            yield "event", props["EventPattern"], "", [*path, "EventPattern"]
        elif kind == "AWS::SNS::Subscription" and "FilterPolicy" in props:
            scope = props.get("FilterPolicyScope", "MessageAttributes")
            yield "policy", props["FilterPolicy"], scope, [*path, "FilterPolicy"]
        elif kind == "AWS::Lambda::EventSourceMapping":
            yield from _filters(props, path)
        elif kind == "AWS::Pipes::Pipe":
            yield from _filters(_properties({"Properties": props.get("SourceParameters")}), [*path, "SourceParameters"])
        elif kind == "AWS::Serverless::Function":
            events = props.get("Events")
            for event_name, event in (events if isinstance(events, dict) else {}).items():
                event_props = _properties(event)
                event_path = [*path, "Events", event_name, "Properties"]
                event_type = event.get("Type") if isinstance(event, dict) else None
                if event_type in ("EventBridgeRule", "CloudWatchEvent") and "Pattern" in event_props:
                    yield "event", event_props["Pattern"], "", [*event_path, "Pattern"]
                elif event_type == "SNS" and "FilterPolicy" in event_props:
                    scope = event_props.get("FilterPolicyScope", "MessageAttributes")
                    yield "policy", event_props["FilterPolicy"], scope, [*event_path, "FilterPolicy"]
                else:
                    yield from _filters(event_props, event_path)


class PatternsAreValid(CloudFormationLintRule):
    id = "E9506"
    shortdesc = "Event patterns, SNS filter policies and Lambda filter criteria are valid"
    description = (
        "Every EventBridge event pattern, SNS subscription filter policy and Lambda event filtering pattern "
        "is checked with msgworker.patterns (operators, value types, numeric ranges, SNS's key and "
        "combination limits), so a pattern AWS would refuse fails before deploy."
    )
    source_url = (
        "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html"
    )
    tags = ["msgworker", "eventbridge", "sns", "lambda"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for kind, raw, scope, path in patterns(cfn):
            try:
                pattern = _resolve(cfn, raw)
            except _Unknown:
                continue
            try:
                if kind == "policy":
                    FilterPolicy(pattern, scope="MessageBody" if scope == "MessageBody" else "MessageAttributes")
                else:
                    EventPattern(pattern, service="lambda" if kind == "filter" else "eventbridge")
            except InvalidPatternError as error:
                matches.append(RuleMatch(path, str(error)))
        return matches
