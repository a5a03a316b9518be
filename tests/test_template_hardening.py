"""template.yaml's hardening (issue 10) and the cfn-lint rules that keep it (cfn_rules/msgworker_hardening.py,
E9510-E9516): each rule fires on a small template that breaks it, the ids the example handlers write
to the state tables are the ones their roles' dynamodb:LeadingKeys admit (against moto). The FIFO
consumers' poison messages: tests/test_fifo_dead_letter.py.

The tools come from .tools/ (`make tools`), as in tests/test_template.py.
"""

from __future__ import annotations

import fnmatch
import json
import uuid
from typing import Any

import pytest
from esm_emulator import ApiCalls
from test_template import ROOT, TEMPLATE, _edit, lint_templates, load_template

from msgworker.cli.template import physical_name
from msgworker.testing import LambdaContext, LocalAws

# A function wired the way the hardening rules want (and the wiring rules too); each bad
# template below breaks one thing.
_GOOD = """\
Parameters:
  AsyncConcurrency:
    Type: Number
    Default: 10
Globals:
  Function:
    Timeout: 30
    Tracing: Active
    Environment:
      Variables:
        MSGWORKER_IDEMPOTENCY_TABLE: !Ref StateTable
Resources:
  StateTable:
    Type: AWS::DynamoDB::Table
    DeletionPolicy: Retain
    UpdateReplacePolicy: Retain
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      DeletionProtectionEnabled: true
      PointInTimeRecoverySpecification:
        PointInTimeRecoveryEnabled: true
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 180
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt DeadLetterQueue.Arn
        maxReceiveCount: 5
  DeadLetterQueue:
    Type: AWS::SQS::Queue
    DeletionPolicy: Retain
    UpdateReplacePolicy: Retain
    Properties:
      MessageRetentionPeriod: 1209600
  Topic:
    Type: AWS::SNS::Topic
  LogGroup:
    Type: AWS::Logs::LogGroup
    DeletionPolicy: Retain
    UpdateReplacePolicy: Retain
    Properties:
      RetentionInDays: 30
  ScheduleGroup:
    Type: AWS::Scheduler::ScheduleGroup
  ResumeRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: scheduler.amazonaws.com}
            Action: sts:AssumeRole
            Condition:
              StringEquals:
                aws:SourceAccount: !Ref AWS::AccountId
              ArnEquals:
                aws:SourceArn: !GetAtt ScheduleGroup.Arn
  ResumePermissions:
    Type: AWS::IAM::RolePolicy
    Properties:
      RoleName: !Ref ResumeRole
      PolicyName: resume
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action: lambda:UpdateEventSourceMapping
            Resource: !Sub arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:event-source-mapping:*
            Condition:
              ArnLike:
                lambda:FunctionArn: !GetAtt Function.Arn
  FunctionRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: lambda.amazonaws.com}
            Action: sts:AssumeRole
      Policies:
        - PolicyName: function
          PolicyDocument:
            Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Action: [xray:PutTraceSegments, xray:PutTelemetryRecords]
                Resource: "*"
              - Effect: Allow
                Action: [scheduler:CreateSchedule, scheduler:UpdateSchedule]
                Resource: !Sub arn:aws:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${ScheduleGroup}/r-*
              - Effect: Allow
                Action: [dynamodb:GetItem, dynamodb:PutItem, dynamodb:UpdateItem, dynamodb:DeleteItem]
                Resource: !GetAtt StateTable.Arn
                Condition:
                  ForAllValues:StringLike:
                    dynamodb:LeadingKeys: ["charge-order#*"]
  Function:
    Type: AWS::Serverless::Function
    Metadata:
      SampleEvents:
        QueueEvent: events/sqs/orders.json
        TopicEvent: events/sns/notification.json
    Properties:
      Runtime: python3.11
      Handler: orders.handler
      CodeUri: handlers/
      Role: !GetAtt FunctionRole.Arn
      LoggingConfig:
        LogGroup: !Ref LogGroup
      ReservedConcurrentExecutions: !Ref AsyncConcurrency
      Events:
        QueueEvent:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
            BatchSize: 10
            FunctionResponseTypes: [ReportBatchItemFailures]
            ScalingConfig:
              MaximumConcurrency: 2
        TopicEvent:
          Type: SNS
          Properties:
            Topic: !Ref Topic
  ErrorsAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Namespace: AWS/Lambda
      MetricName: Errors
      Dimensions: [{Name: FunctionName, Value: !Ref Function}]
      Statistic: Sum
      Period: 60
      EvaluationPeriods: 1
      Threshold: 0
      ComparisonOperator: GreaterThanThreshold
      AlarmActions: [!Ref Topic]
  ThrottlesAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Namespace: AWS/Lambda
      MetricName: Throttles
      Dimensions: [{Name: FunctionName, Value: !Ref Function}]
      Statistic: Sum
      Period: 60
      EvaluationPeriods: 1
      Threshold: 0
      ComparisonOperator: GreaterThanThreshold
      AlarmActions: [!Ref Topic]
"""


_RETAIN = "    DeletionPolicy: Retain\n    UpdateReplacePolicy: Retain\n"
_STREAM = """\
  Stream:
    Type: AWS::Kinesis::Stream
    Properties:
      ShardCount: 1
"""
_STREAM_EVENT = (
    "        TopicEvent:\n",
    """\
        StreamEvent:
          Type: Kinesis
          Properties:
            Stream: !GetAtt Stream.Arn
            StartingPosition: LATEST
            FunctionResponseTypes: [ReportBatchItemFailures]
        TopicEvent:
""",
)

HARDENING_TEMPLATES: dict[str, tuple[str, str]] = {
    # name: (rule expected, template body)
    "hardened-good": ("", _GOOD),
    # E9510: the resume role, its trust and where schedules go
    "update-any-mapping": (
        "E9510",
        _edit(
            _GOOD,
            (
                "            Condition:\n              ArnLike:\n"
                "                lambda:FunctionArn: !GetAtt Function.Arn\n",
                "",
            ),
        ),
    ),
    "scheduler-trust-without-source-arn": (
        "E9510",
        _edit(_GOOD, ("              ArnEquals:\n                aws:SourceArn: !GetAtt ScheduleGroup.Arn\n", "")),
    ),
    "schedules-in-the-default-group": (
        "E9510",
        _edit(_GOOD, ("schedule/${ScheduleGroup}/r-*", "schedule/default/r-*")),
    ),
    # E9511: async concurrency
    "async-without-reserved-concurrency": (
        "E9511",
        _edit(_GOOD, ("      ReservedConcurrentExecutions: !Ref AsyncConcurrency\n", "")),
    ),
    "reserved-not-above-sqs-maximum": ("E9511", _edit(_GOOD, ("    Default: 10\n", "    Default: 2\n"))),
    # E9512: retained state
    "table-not-retained": (
        "E9512",
        _edit(_GOOD, ("    Type: AWS::DynamoDB::Table\n" + _RETAIN, "    Type: AWS::DynamoDB::Table\n")),
    ),
    "table-without-deletion-protection": ("E9512", _edit(_GOOD, ("      DeletionProtectionEnabled: true\n", ""))),
    "dlq-not-retained": (
        "E9512",
        _edit(
            _GOOD,
            (
                "  DeadLetterQueue:\n    Type: AWS::SQS::Queue\n" + _RETAIN,
                "  DeadLetterQueue:\n    Type: AWS::SQS::Queue\n",
            ),
        ),
    ),
    "log-group-not-retained": (
        "E9512",
        _edit(_GOOD, ("    Type: AWS::Logs::LogGroup\n" + _RETAIN, "    Type: AWS::Logs::LogGroup\n")),
    ),
    # E9513
    "table-without-point-in-time-recovery": (
        "E9513",
        _edit(_GOOD, ("      PointInTimeRecoverySpecification:\n        PointInTimeRecoveryEnabled: true\n", "")),
    ),
    # E9514: alarms
    "alarm-without-actions": (
        "E9514",
        _edit(_GOOD, ("      AlarmActions: [!Ref Topic]\n  ThrottlesAlarm:", "  ThrottlesAlarm:")),
    ),
    "alarm-actions-empty-by-default": (
        "E9514",
        "Conditions:\n  HasTarget: !Equals [!Ref AWS::Region, nowhere]\n"
        + _edit(
            _GOOD,
            (
                "      AlarmActions: [!Ref Topic]\n  ThrottlesAlarm:",
                "      AlarmActions: !If [HasTarget, [!Ref Topic], !Ref AWS::NoValue]\n  ThrottlesAlarm:",
            ),
        ),
    ),
    "no-throttles-alarm": ("E9514", _edit(_GOOD, ("MetricName: Throttles", "MetricName: Duration"))),
    "stream-without-iterator-age-alarm": (
        "E9514",
        _edit(
            _GOOD,
            _STREAM_EVENT,
            ("  Topic:\n    Type: AWS::SNS::Topic\n", "  Topic:\n    Type: AWS::SNS::Topic\n" + _STREAM),
        ),
    ),
    # E9515: tracing
    "no-tracing": ("E9515", _edit(_GOOD, ("    Tracing: Active\n", ""))),
    "role-cannot-write-traces": (
        "E9515",
        _edit(_GOOD, ("[xray:PutTraceSegments, xray:PutTelemetryRecords]", "[xray:PutTraceSegments]")),
    ),
    # E9516: LeadingKeys on the state tables
    "state-table-without-leading-keys": (
        "E9516",
        _edit(
            _GOOD,
            (
                "                Condition:\n                  ForAllValues:StringLike:\n"
                '                    dynamodb:LeadingKeys: ["charge-order#*"]\n',
                "",
            ),
        ),
    ),
    "leading-keys-admit-every-key": ("E9516", _edit(_GOOD, ('["charge-order#*"]', '["*"]'))),
}


@pytest.fixture(scope="module")
def hardening_findings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """cfn-lint (with cfn_rules/) over every template above at once: name -> rule ids found."""
    return lint_templates(tmp_path_factory.mktemp("hardening-templates"), HARDENING_TEMPLATES)


def test_hardened_wiring_passes_every_rule(hardening_findings: dict[str, set[str]]) -> None:
    assert hardening_findings["hardened-good"] == set()


@pytest.mark.parametrize("name", [name for name in HARDENING_TEMPLATES if name != "hardened-good"])
def test_hardening_rule_fires_on_what_breaks_it(name: str, hardening_findings: dict[str, set[str]]) -> None:
    expected = HARDENING_TEMPLATES[name][0]
    found = {rule for rule in hardening_findings[name] if rule.startswith("E951")}
    assert found == {expected}, f"{name}: expected {expected}, cfn-lint reported {sorted(hardening_findings[name])}"


# ---------------------------------------------------------------------------------------------
# The state tables: the ids each example handler uses are the ones its role's LeadingKeys admit
# ---------------------------------------------------------------------------------------------

FUNCTIONS = ("OrdersFunction", "NotificationsFunction", "HighValueOrdersFunction")


def _leading_keys(template: dict[str, Any], role: str) -> dict[str, list[tuple[str, str]]]:
    """Table logical id -> [(operator, pattern)] the role's statements admit."""
    admitted: dict[str, list[tuple[str, str]]] = {}
    for policy in template["Resources"][role]["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for resource in resources:
                if isinstance(resource, dict) and "Fn::GetAtt" in resource:
                    table = resource["Fn::GetAtt"][0]
                    for operator, keys in statement.get("Condition", {}).items():
                        for pattern in keys.get("dynamodb:LeadingKeys", []):
                            admitted.setdefault(table, []).append((operator, pattern))
    return admitted


def _admits(operator: str, pattern: str, key: str) -> bool:
    if operator == "ForAllValues:StringEquals":
        return key == pattern
    assert operator == "ForAllValues:StringLike", operator
    return fnmatch.fnmatchcase(key, pattern)  # IAM's * and ? (no [] classes in the template's patterns)


def _handler(function: str, template: dict[str, Any]) -> Any:
    import importlib

    module, attribute = template["Resources"][function]["Properties"]["Handler"].rsplit(".", 1)
    return getattr(importlib.import_module(f"handlers.{module}"), attribute)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_state_table_id_a_handler_uses_is_one_its_role_admits(function: str, template_aws: LocalAws) -> None:
    template = load_template(TEMPLATE)
    tables = {physical_name(template, name): name for name in ("IdempotencyTable", "BreakerTable")}
    admitted = _leading_keys(template, f"{function}Role")
    calls = ApiCalls()
    handler = _handler(function, template)
    # Fresh order ids: a warm container (this test process) answers keys it has completed from
    # memory, without a call, and other tests have run these samples already.
    fresh = f"ord-{uuid.uuid4().hex[:8]}-"
    for path in template["Resources"][function]["Metadata"]["SampleEvents"].values():
        handler(json.loads((ROOT / path).read_text().replace("ord-", fresh)), LambdaContext(timeout=30))
    used = [
        (tables[params["TableName"]], (params.get("Key") or params.get("Item"))["id"]["S"])
        for service, _, params in calls.calls
        if service == "dynamodb" and params.get("TableName") in tables
    ]
    for table, key in used:
        assert any(_admits(op, pattern, key) for op, pattern in admitted.get(table, [])), (
            f"{function} uses id {key!r} in {table}, which its role's LeadingKeys ({admitted.get(table)}) refuse"
        )
    if function == "HighValueOrdersFunction":
        # The check above cannot pass for want of ids: this handler keeps state in both tables.
        assert {table for table, _ in used} == {"IdempotencyTable", "BreakerTable"}, used
    else:
        assert used == [] and admitted == {}, "no state, no grant"
