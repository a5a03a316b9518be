"""cfn-lint rules that keep a msgworker stack hardened (least privilege, nothing deleted with
the stack, nobody left unnotified).

    cfn-lint --append-rules cfn_rules/ template.yaml

E9510  roles that update event source mappings are held to the stack's functions
       (lambda:FunctionArn, or named mapping ARNs); Scheduler execution roles trust only one
       schedule group of one account (aws:SourceArn, aws:SourceAccount); schedules are not
       created in the shared "default" group
E9511  functions invoked asynchronously (SNS, EventBridge, S3, ...) have reserved concurrency,
       above the MaximumConcurrency of their own SQS event sources
E9512  tables, dead-letter queues (and on-failure destinations) and log groups are retained
       (DeletionPolicy and UpdateReplacePolicy Retain); tables have deletion protection
E9513  tables have point-in-time recovery (silence it for a table whose state is not worth
       restoring, saying why)
E9514  every alarm notifies someone (AlarmActions, not empty or conditional on nothing); every
       function has an Errors and a Throttles alarm, and one with stream event sources an
       IteratorAge alarm
E9515  every function traces (Tracing: Active) and its role may write to X-Ray
E9516  IAM statements on the msgworker state tables (the tables MSGWORKER_IDEMPOTENCY_TABLE and
       MSGWORKER_BREAKER_TABLE name) are held to key prefixes with dynamodb:LeadingKeys

Silence a rule for one resource with `Metadata: {cfn-lint: {config: {ignore_checks: [E9513]}}}`.
The template helpers come from msgworker_wiring.py in this folder (cfn-lint loads each file
of the folder as a module of its own, so this one imports that file by path).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch


def _load_wiring() -> Any:
    path = Path(__file__).resolve().parent / "msgworker_wiring.py"
    spec = importlib.util.spec_from_file_location("_msgworker_wiring_helpers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_wiring = _load_wiring()
_referenced_id = _wiring._referenced_id
_all_referenced_ids = _wiring._all_referenced_ids
_resources = _wiring._resources
_properties = _wiring._properties
_as_int = _wiring._as_int
_sam_function_globals = _wiring._sam_function_globals
event_sources = _wiring.event_sources
dead_letter_queue_ids = _wiring.dead_letter_queue_ids

SAM_FUNCTION = "AWS::Serverless::Function"
LAMBDA_FUNCTION = "AWS::Lambda::Function"
FUNCTIONS = (SAM_FUNCTION, LAMBDA_FUNCTION)
TABLES = ("AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable")
ROLE = "AWS::IAM::Role"
POLICIES = ("AWS::IAM::RolePolicy", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")

# SAM event types whose service invokes the function asynchronously (no MaximumConcurrency).
ASYNC_EVENT_TYPES = frozenset({"SNS", "S3", "EventBridgeRule", "CloudWatchEvent", "CloudWatchLogs", "IoTRule"})
STATE_TABLE_VARIABLES = ("MSGWORKER_IDEMPOTENCY_TABLE", "MSGWORKER_BREAKER_TABLE")
ITEM_ACTIONS = frozenset(
    {
        "dynamodb:getitem",
        "dynamodb:putitem",
        "dynamodb:updateitem",
        "dynamodb:deleteitem",
        "dynamodb:batchgetitem",
        "dynamodb:batchwriteitem",
        "dynamodb:conditioncheckitem",
        "dynamodb:query",
        "dynamodb:scan",
        "dynamodb:partiql*",
    }
)
XRAY_MANAGED_POLICIES = ("AWSXRayDaemonWriteAccess", "AWSXrayWriteOnlyAccess")


# --------------------------------------------------------------------------------------
# Template helpers
# --------------------------------------------------------------------------------------


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> str:
    """The literal text of a value, with a Fn::Sub's template string; '' for other intrinsics."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1 and "Fn::Sub" in value:
        argument = value["Fn::Sub"]
        argument = argument[0] if isinstance(argument, list) and argument else argument
        return argument if isinstance(argument, str) else ""
    return ""


def _action_matches(actions: Any, wanted: str) -> bool:
    """Whether the statement's actions (with IAM wildcards) cover ``wanted`` (case-insensitive)."""
    import fnmatch

    return any(isinstance(a, str) and fnmatch.fnmatchcase(wanted.lower(), a.lower()) for a in _list(actions))


def _condition_keys(statement: dict[str, Any]) -> set[str]:
    """Every condition key of a statement, lower-cased."""
    keys: set[str] = set()
    condition = statement.get("Condition")
    if isinstance(condition, dict):
        for operator in condition.values():
            if isinstance(operator, dict):
                keys.update(key.lower() for key in operator if isinstance(key, str))
    return keys


class Statement:
    """One Allow statement of an identity policy in the template, with where it is."""

    __slots__ = ("owner", "path", "roles", "statement")

    def __init__(self, owner: str, roles: set[str], statement: dict[str, Any], path: list[str | int]) -> None:
        self.owner = owner  # the resource holding the policy
        self.roles = roles  # the template roles it applies to
        self.statement = statement
        self.path = path


def _statements_of(document: Any, owner: str, roles: set[str], path: list[str | int]) -> Iterator[Statement]:
    statements = document.get("Statement") if isinstance(document, dict) else None
    for index, statement in enumerate(_list(statements) if statements is not None else []):
        if isinstance(statement, dict) and statement.get("Effect") == "Allow":
            yield Statement(owner, roles, statement, [*path, "Statement", index])


def policy_statements(cfn: Any) -> Iterator[Statement]:
    """Allow statements of roles' inline policies and of policy resources attached to roles."""
    for name, resource in _resources(cfn).items():
        if not isinstance(resource, dict):
            continue
        props = _properties(resource)
        if resource.get("Type") == ROLE:
            for index, policy in enumerate(_list(props.get("Policies") or [])):
                if isinstance(policy, dict):
                    path: list[str | int] = ["Resources", name, "Properties", "Policies", index, "PolicyDocument"]
                    yield from _statements_of(policy.get("PolicyDocument"), name, {name}, path)
        elif resource.get("Type") in POLICIES:
            roles = {ref for ref in (_referenced_id(r) for r in _list(props.get("Roles") or [])) if ref}
            role = _referenced_id(props.get("RoleName"))
            if role:
                roles.add(role)
            path = ["Resources", name, "Properties", "PolicyDocument"]
            yield from _statements_of(props.get("PolicyDocument"), name, roles, path)


def _function_property(cfn: Any, resource: dict[str, Any], key: str) -> Any:
    props = _properties(resource)
    if key in props:
        return props[key]
    if resource.get("Type") == SAM_FUNCTION:
        return _sam_function_globals(cfn).get(key)
    return None


def _functions(cfn: Any) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in _resources(cfn).items()
        if isinstance(resource, dict) and resource.get("Type") in FUNCTIONS
    }


# --------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------


class EventSourceMappingChangesAreScoped(CloudFormationLintRule):
    id = "E9510"
    shortdesc = "Event source mapping updates are held to the stack's functions; Scheduler roles trust one group"
    description = (
        "lambda:UpdateEventSourceMapping on every mapping lets a role disable other teams' mappings, add "
        "filter criteria (an SQS mapping deletes what does not match) or redirect their failure "
        "destinations: name the mappings, or hold it to the stack's functions with a lambda:FunctionArn "
        "condition. A role EventBridge Scheduler assumes must name its schedule group (aws:SourceArn) and "
        "account (aws:SourceAccount), and schedules must not be created in the shared default group."
    )
    source_url = "https://docs.aws.amazon.com/scheduler/latest/UserGuide/cross-service-confused-deputy-prevention.html"
    tags = ["msgworker", "iam", "lambda", "scheduler"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for found in policy_statements(cfn):
            statement = found.statement
            actions = statement.get("Action")
            targets = [_text(target) for target in _list(statement.get("Resource"))]
            wildcard = any("*" in target for target in targets)
            if (
                _action_matches(actions, "lambda:UpdateEventSourceMapping")
                and wildcard
                and "lambda:functionarn" not in _condition_keys(statement)
            ):
                matches.append(
                    RuleMatch(
                        found.path,
                        f"{found.owner}: lambda:UpdateEventSourceMapping on a wildcard resource reaches every "
                        "mapping in the account: name the mappings or add a lambda:FunctionArn condition",
                    )
                )
            schedules = _action_matches(actions, "scheduler:CreateSchedule") or _action_matches(
                actions, "scheduler:UpdateSchedule"
            )
            shared = [t for t in targets if ":schedule/default/" in t or ":schedule/*" in t or t == "*"]
            if schedules and shared:
                matches.append(
                    RuleMatch(
                        found.path,
                        f"{found.owner}: schedules may be created in {shared[0]}: put them in a schedule group of "
                        "their own (an AWS::Scheduler::ScheduleGroup) that the execution role's trust policy names",
                    )
                )
        for name, resource in cfn.get_resources([ROLE]).items():
            trust = _properties(resource).get("AssumeRolePolicyDocument")
            statements = trust.get("Statement") if isinstance(trust, dict) else None
            for index, statement in enumerate(_list(statements) if statements is not None else []):
                principal = statement.get("Principal") if isinstance(statement, dict) else None
                services = _list(principal.get("Service")) if isinstance(principal, dict) else []
                if "scheduler.amazonaws.com" not in services:
                    continue
                wanted = {"aws:sourcearn": "aws:SourceArn", "aws:sourceaccount": "aws:SourceAccount"}
                missing = [wanted[key] for key in sorted(set(wanted) - _condition_keys(statement))]
                if missing:
                    matches.append(
                        RuleMatch(
                            ["Resources", name, "Properties", "AssumeRolePolicyDocument", "Statement", index],
                            f"{name} trusts EventBridge Scheduler without {' and '.join(missing)}: name the "
                            "schedule group (aws:SourceArn) and the account (aws:SourceAccount)",
                        )
                    )
        return matches


class AsyncFunctionsHaveReservedConcurrency(CloudFormationLintRule):
    id = "E9511"
    shortdesc = "Functions invoked asynchronously have reserved concurrency above their SQS MaximumConcurrency"
    description = (
        "SNS, EventBridge and other asynchronous invokers start as many instances as events arrive; "
        "ScalingConfig.MaximumConcurrency caps SQS mappings only. ReservedConcurrentExecutions caps the "
        "function, its SQS mappings included, so it must exceed the sum of their MaximumConcurrency or "
        "their pollers are throttled (and each throttled receive counts against maxReceiveCount)."
    )
    source_url = "https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html"
    tags = ["msgworker", "lambda"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        asynchronous = self._async_functions(cfn)
        for name, resource in _functions(cfn).items():
            if name not in asynchronous:
                continue
            reserved_value = _function_property(cfn, resource, "ReservedConcurrentExecutions")
            reserved = _as_int(cfn, reserved_value) if reserved_value is not None else None
            path: list[str | int] = ["Resources", name, "Properties"]
            if reserved is None or reserved < 1:
                matches.append(
                    RuleMatch(
                        path,
                        f"{name} is invoked asynchronously ({asynchronous[name]}) without a concurrency cap: set "
                        "ReservedConcurrentExecutions (a parameter), or put an SQS queue in front",
                    )
                )
                continue
            sqs_cap = 0
            for source in event_sources(cfn):
                scaling = source.props.get("ScalingConfig")
                if source.function_id == name and source.kind == "SQS" and isinstance(scaling, dict):
                    sqs_cap += _as_int(cfn, scaling.get("MaximumConcurrency")) or 0
            if sqs_cap and reserved <= sqs_cap:
                matches.append(
                    RuleMatch(
                        [*path, "ReservedConcurrentExecutions"],
                        f"{name}: reserved concurrency {reserved} is not above the {sqs_cap} its SQS event sources "
                        "may use (MaximumConcurrency): their pollers would be throttled",
                    )
                )
        return matches

    @staticmethod
    def _async_functions(cfn: Any) -> dict[str, str]:
        """Function logical id -> what invokes it asynchronously."""
        found: dict[str, str] = {}
        for name, resource in _functions(cfn).items():
            events = _properties(resource).get("Events")
            for event_name, event in (events or {}).items() if isinstance(events, dict) else ():
                if isinstance(event, dict) and event.get("Type") in ASYNC_EVENT_TYPES:
                    found.setdefault(name, f"event {event_name}")
        functions = set(_functions(cfn))
        for name, resource in _resources(cfn).items():
            kind = resource.get("Type") if isinstance(resource, dict) else None
            props = _properties(resource)
            if kind == "AWS::SNS::Subscription" and str(props.get("Protocol", "")).lower() == "lambda":
                target = _referenced_id(props.get("Endpoint"))
                if target in functions:
                    found.setdefault(target, f"subscription {name}")
            elif kind == "AWS::Events::Rule":
                for target in _list(props.get("Targets") or []):
                    function = _referenced_id(target.get("Arn")) if isinstance(target, dict) else None
                    if function in functions:
                        found.setdefault(function, f"rule {name}")
        return found


class StatefulResourcesAreRetained(CloudFormationLintRule):
    id = "E9512"
    shortdesc = "Tables, dead-letter queues and log groups outlive the stack; tables have deletion protection"
    description = (
        "Deleting or replacing the stack must not delete business state, the failed messages waiting in "
        "dead-letter queues and on-failure destinations, or the logs: DeletionPolicy and "
        "UpdateReplacePolicy Retain. Tables also set DeletionProtectionEnabled."
    )
    source_url = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html"
    tags = ["msgworker", "dynamodb", "sqs", "logs"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        dead_letter = dead_letter_queue_ids(cfn)
        for name, resource in _resources(cfn).items():
            kind = resource.get("Type") if isinstance(resource, dict) else None
            stateful = (
                kind in TABLES or kind == "AWS::Logs::LogGroup" or (kind == "AWS::SQS::Queue" and name in dead_letter)
            )
            if not stateful:
                continue
            for attribute in ("DeletionPolicy", "UpdateReplacePolicy"):
                if resource.get(attribute) not in ("Retain", "RetainExceptOnCreate", "Snapshot"):
                    message = f"{name} ({kind}) needs {attribute}: Retain, or the stack deletes it"
                    matches.append(RuleMatch(["Resources", name], message))
            if kind in TABLES and _properties(resource).get("DeletionProtectionEnabled") not in (True, "true"):
                matches.append(
                    RuleMatch(["Resources", name, "Properties"], f"Table {name} needs DeletionProtectionEnabled: true")
                )
        return matches


class TablesHavePointInTimeRecovery(CloudFormationLintRule):
    id = "E9513"
    shortdesc = "Tables have point-in-time recovery"
    description = (
        "A table holding business state (orders, idempotency records: what has been done) can be restored "
        "after a bad write or deletion only with point-in-time recovery. For a table whose state is not "
        "worth restoring, silence this rule in its Metadata and say why."
    )
    source_url = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/PointInTimeRecovery.html"
    tags = ["msgworker", "dynamodb"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for name, resource in cfn.get_resources(list(TABLES)).items():
            spec = _properties(resource).get("PointInTimeRecoverySpecification")
            enabled = spec.get("PointInTimeRecoveryEnabled") if isinstance(spec, dict) else None
            if enabled not in (True, "true"):
                matches.append(
                    RuleMatch(
                        ["Resources", name, "Properties"],
                        f"Table {name} has no point-in-time recovery (PointInTimeRecoverySpecification)",
                    )
                )
        return matches


class FunctionsAreAlarmed(CloudFormationLintRule):
    id = "E9514"
    shortdesc = "Every alarm notifies someone; every function has error, throttle and stream-lag alarms"
    description = (
        "An alarm without AlarmActions only changes state. Every function needs alarms on its Errors and "
        "Throttles (AWS/Lambda, FunctionName dimension), and a function with Kinesis or DynamoDB stream "
        "event sources one on IteratorAge, the age of the oldest record not yet processed."
    )
    source_url = "https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html"
    tags = ["msgworker", "cloudwatch", "lambda"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        alarmed: dict[str, set[str]] = {}
        for name, alarm in cfn.get_resources(["AWS::CloudWatch::Alarm"]).items():
            props = _properties(alarm)
            if not self._notifies(props.get("AlarmActions")):
                matches.append(
                    RuleMatch(
                        ["Resources", name, "Properties"],
                        f"Alarm {name} notifies no one: give it AlarmActions (an SNS topic the stack creates when "
                        "no target is given)",
                    )
                )
            if props.get("Namespace") == "AWS/Lambda":
                for dimension in _list(props.get("Dimensions") or []):
                    if isinstance(dimension, dict) and dimension.get("Name") == "FunctionName":
                        function = _referenced_id(dimension.get("Value"))
                        if function:
                            alarmed.setdefault(function, set()).add(str(props.get("MetricName")))
        streams = {s.function_id for s in event_sources(cfn) if s.kind in ("Kinesis", "DynamoDB")}
        for name in _functions(cfn):
            wanted = ["Errors", "Throttles"] + (["IteratorAge"] if name in streams else [])
            missing = [metric for metric in wanted if metric not in alarmed.get(name, set())]
            if missing:
                matches.append(
                    RuleMatch(["Resources", name], f"Function {name} has no alarm on {', '.join(missing)} (AWS/Lambda)")
                )
        return matches

    @staticmethod
    def _notifies(actions: Any) -> bool:
        """At least one action, whichever branch of a Fn::If applies."""
        if not isinstance(actions, list) or not actions:
            return False
        for action in actions:
            if isinstance(action, dict) and "Fn::If" in action:
                branches = action["Fn::If"][1:] if isinstance(action["Fn::If"], list) else []
                if any(_referenced_id(b) == "AWS::NoValue" for b in branches) or len(branches) != 2:
                    continue
            return True
        return False


class FunctionsAreTraced(CloudFormationLintRule):
    id = "E9515"
    shortdesc = "Every function traces with X-Ray, and its role may write traces"
    description = (
        "Tracing: Active (SAM, in Globals or the function) or TracingConfig.Mode: Active. SAM adds the X-Ray "
        "write permission only to roles it creates; a function with its own Role needs "
        "xray:PutTraceSegments and xray:PutTelemetryRecords in it."
    )
    source_url = "https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html"
    tags = ["msgworker", "lambda", "xray"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        tracing_roles = self._roles_writing_traces(cfn)
        for name, resource in _functions(cfn).items():
            if resource.get("Type") == SAM_FUNCTION:
                active = _function_property(cfn, resource, "Tracing") == "Active"
            else:
                config = _properties(resource).get("TracingConfig")
                active = isinstance(config, dict) and config.get("Mode") == "Active"
            if not active:
                message = f"Function {name} does not trace (Tracing: Active)"
                matches.append(RuleMatch(["Resources", name, "Properties"], message))
                continue
            role = _referenced_id(_properties(resource).get("Role"))
            if role in _resources(cfn) and role not in tracing_roles:
                matches.append(
                    RuleMatch(
                        ["Resources", name, "Properties", "Role"],
                        f"Function {name} traces, but its role {role} may not write to X-Ray "
                        "(xray:PutTraceSegments, xray:PutTelemetryRecords)",
                    )
                )
        return matches

    @staticmethod
    def _roles_writing_traces(cfn: Any) -> set[str]:
        roles: set[str] = set()
        for found in policy_statements(cfn):
            actions = found.statement.get("Action")
            if all(_action_matches(actions, a) for a in ("xray:PutTraceSegments", "xray:PutTelemetryRecords")):
                roles |= found.roles
        for name, resource in cfn.get_resources([ROLE]).items():
            managed = [_text(arn) for arn in _list(_properties(resource).get("ManagedPolicyArns") or [])]
            if any(arn.endswith(f"/{policy}") for arn in managed for policy in XRAY_MANAGED_POLICIES):
                roles.add(name)
        return roles


class StateTablesAreKeyScoped(CloudFormationLintRule):
    id = "E9516"
    shortdesc = "Access to the msgworker state tables is held to key prefixes (dynamodb:LeadingKeys)"
    description = (
        "The idempotency and circuit-breaker tables are shared by every function of the stack. A statement "
        "granting item access to one of them must carry a dynamodb:LeadingKeys condition "
        "(ForAllValues:StringEquals or ForAllValues:StringLike) naming the role's own ids, or one "
        "compromised function could forge another's idempotency records or trip its breakers."
    )
    source_url = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html"
    tags = ["msgworker", "iam", "dynamodb"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        tables = self._state_tables(cfn)
        for found in policy_statements(cfn):
            statement = found.statement
            targets = set(_all_referenced_ids(statement.get("Resource"))) & tables
            if not targets or not any(_action_matches(statement.get("Action"), a) for a in ITEM_ACTIONS):
                continue
            problem = self._leading_keys_problem(statement)
            if problem:
                matches.append(
                    RuleMatch(found.path, f"{found.owner}: access to {', '.join(sorted(targets))} {problem}")
                )
        return matches

    @staticmethod
    def _state_tables(cfn: Any) -> set[str]:
        environments = [_sam_function_globals(cfn).get("Environment")]
        environments += [_properties(resource).get("Environment") for resource in _functions(cfn).values()]
        tables: set[str] = set()
        for environment in environments:
            variables = environment.get("Variables") if isinstance(environment, dict) else None
            for variable in STATE_TABLE_VARIABLES:
                value = variables.get(variable) if isinstance(variables, dict) else None
                tables.update(_all_referenced_ids(value))
        return tables

    @staticmethod
    def _leading_keys_problem(statement: dict[str, Any]) -> str | None:
        condition = statement.get("Condition")
        for operator in ("ForAllValues:StringEquals", "ForAllValues:StringLike"):
            block = condition.get(operator) if isinstance(condition, dict) else None
            values = block.get("dynamodb:LeadingKeys") if isinstance(block, dict) else None
            if values is None:
                continue
            texts = [value for value in _list(values) if isinstance(value, str)]
            if not texts or any(text.strip("*") == "" for text in texts):
                return "has a dynamodb:LeadingKeys condition that admits every key: name the role's own ids"
            return None
        return (
            "is not held to the role's own keys: add a ForAllValues:StringEquals or ForAllValues:StringLike "
            "dynamodb:LeadingKeys condition"
        )
