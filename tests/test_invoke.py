"""msgworker invoke: run a SAM template function on an event file, without Docker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from msgworker.testing import local_aws

MSGWORKER = str(Path(sys.executable).parent / "msgworker")

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
Globals:
  Function:
    Runtime: python3.11
    Timeout: 12
    MemorySize: 256
    Environment:
      Variables:
        STAGE: !Ref Stage
        TABLE: !Ref IdempotencyTable
        GLOBAL_ONLY: from-globals
Resources:
  EchoFunction:
    Type: AWS::Serverless::Function
    Metadata:
      SampleEvents:
        Queue: event.json
    Properties:
      CodeUri: code/
      Handler: app.handler
      FunctionName: !Sub "${AWS::StackName}-echo-${Stage}"
      Environment:
        Variables:
          QUEUE_ARN: !GetAtt Queue.Arn
          REGION_TEXT: !Sub "region ${AWS::Region}"
          GLOBAL_ONLY: overridden-by-function
  FailingFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code/
      Handler: app.failing
  ClientFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code/
      Handler: app.with_client
  BrokenFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code/
      Handler: missing_module.handler
  IdempotencyTable:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: idempotency-local
  Queue:
    Type: AWS::SQS::Queue
"""

APP = """
import os

def handler(event, context):
    print("this goes to the logs, not the response")
    return {
        "event": event,
        "env": {name: os.environ.get(name) for name in
                ["STAGE", "TABLE", "GLOBAL_ONLY", "QUEUE_ARN", "REGION_TEXT", "AWS_LAMBDA_FUNCTION_NAME",
                 "AWS_REGION", "AWS_DEFAULT_REGION"]},
        "function_name": context.function_name,
        "memory": context.memory_limit_in_mb,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "request_id": context.aws_request_id,
    }

def failing(event, context):
    raise ValueError("bad order")

def with_client(event, context):
    import botocore.session
    botocore.session.get_session().create_client("sqs")  # logs where it found credentials, at INFO
    return "made"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "app.py").write_text(textwrap.dedent(APP))
    (tmp_path / "event.json").write_text('{"hello": "world"}')
    return tmp_path


# No region anywhere (no variable, no AWS config file): what a new user's machine may well have.
NO_REGION = {
    **{name: value for name, value in os.environ.items() if name not in ("AWS_REGION", "AWS_DEFAULT_REGION")},
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
}


def invoke(project: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MSGWORKER, "invoke", *argv],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=NO_REGION if env is None else env,
    )


def test_invoke_resolves_code_handler_globals_environment_and_context(project: Path):
    started = time.monotonic()
    completed = invoke(project, "EchoFunction", "-e", "event.json")
    spent_ms = (time.monotonic() - started) * 1000
    assert completed.returncode == 0, completed.stderr
    response = json.loads(completed.stdout)
    assert response["event"] == {"hello": "world"}
    assert response["env"] == {
        "STAGE": "dev",
        "TABLE": "idempotency-local",
        "GLOBAL_ONLY": "overridden-by-function",
        "QUEUE_ARN": "arn:aws:local:us-east-1:123456789012:Queue/Arn",
        "REGION_TEXT": "region us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": "local-echo-dev",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    assert response["function_name"] == "local-echo-dev"
    assert response["memory"] == 256
    # Counts down from the template's Timeout (12 s): less at most by the whole command's run time.
    assert 12_000 - spent_ms <= response["remaining_ms"] <= 12_000
    assert len(response["request_id"]) == 36
    assert "this goes to the logs" in completed.stderr


def test_env_vars_file_overrides_declared_variables_like_sam(project: Path):
    (project / "env.json").write_text(
        json.dumps(
            {
                "Parameters": {"STAGE": "test", "TABLE": "global-table", "UNDECLARED": "ignored"},
                "EchoFunction": {"TABLE": "function-table"},
            }
        )
    )
    completed = invoke(project, "EchoFunction", "-e", "event.json", "-n", "env.json")
    env = json.loads(completed.stdout)["env"]
    assert (env["STAGE"], env["TABLE"]) == ("test", "function-table")


def test_parameter_overrides_replace_template_defaults(project: Path):
    completed = invoke(project, "EchoFunction", "-e", "event.json", "--parameter-overrides", "Stage=prod")
    response = json.loads(completed.stdout)
    assert response["env"]["STAGE"] == "prod"
    assert response["function_name"] == "local-echo-prod"
    completed = invoke(
        project, "EchoFunction", "-e", "event.json", "--parameter-overrides", "ParameterKey=Stage,ParameterValue=qa"
    )
    assert json.loads(completed.stdout)["env"]["STAGE"] == "qa"


def test_event_from_stdin_and_template_elsewhere(project: Path, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("cwd")
    completed = subprocess.run(
        [MSGWORKER, "invoke", "EchoFunction", "-e", "-", "-t", str(project / "template.yaml")],
        input='{"from": "stdin"}',
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["event"] == {"from": "stdin"}


def test_a_failing_function_exits_1_with_the_error_on_stdout(project: Path):
    completed = invoke(project, "FailingFunction", "-e", "event.json")
    assert completed.returncode == 1
    assert json.loads(completed.stdout) == {"errorType": "ValueError", "errorMessage": "bad order"}
    assert "Traceback" in completed.stderr


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["NoSuchFunction", "-e", "event.json"], "no function 'NoSuchFunction'"),
        (["EchoFunction", "-e", "missing.json"], "cannot read event file missing.json"),
        (["EchoFunction", "-e", "template.yaml"], "is not JSON"),
        (["BrokenFunction", "-e", "event.json"], "cannot import missing_module"),
        (["EchoFunction", "-e", "event.json", "-t", "nope.yaml"], "cannot read template nope.yaml"),
        (["EchoFunction", "-e", "event.json", "-t", "code/app.py"], "is not valid YAML"),
        (["EchoFunction", "-e", "event.json", "-t", "event.json"], "no Resources section"),
        (["EchoFunction", "-e", "event.json", "--parameter-overrides", "Nope=1"], "Nope not declared"),
        (["EchoFunction", "-e", "event.json", "--parameter-overrides", "Stage"], "is not Key=Value"),
        (["EchoFunction", "-e", "event.json", "-n", "event.json"], None),
        (["EchoFunction", "-e", "event.json", "--region", ""], None),
    ],
)
def test_bad_input_is_one_line_naming_what_is_wrong(project: Path, argv, expected):
    completed = invoke(project, *argv)
    if expected is None:  # an env file with no matching keys is fine
        assert completed.returncode == 0, completed.stderr
        return
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert expected in completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1, completed.stderr
    if expected.startswith("no function"):
        assert "EchoFunction, FailingFunction, ClientFunction, BrokenFunction" in completed.stderr


def region_of(completed: subprocess.CompletedProcess[str]) -> tuple[str, str, str]:
    assert completed.returncode == 0, completed.stderr
    env = json.loads(completed.stdout)["env"]
    return env["AWS_REGION"], env["AWS_DEFAULT_REGION"], env["REGION_TEXT"]


def test_the_region_is_chosen_as_sam_local_invoke_chooses_it(project: Path):
    # Nothing set: us-east-1, in both variables and in AWS::Region.
    assert region_of(invoke(project, "EchoFunction", "-e", "event.json")) == ("us-east-1",) * 2 + ("region us-east-1",)
    # The SDK's own setting comes next...
    sdk = {**NO_REGION, "AWS_DEFAULT_REGION": "eu-north-1"}
    assert region_of(invoke(project, "EchoFunction", "-e", "event.json", env=sdk))[:2] == ("eu-north-1",) * 2
    # ...below samconfig.toml beside the template (sam local invoke's section, else the global one)...
    (project / "samconfig.toml").write_text(
        'version = 0.1\n[default.global.parameters]\nregion = "ap-south-1"\n'
        '[default.local_invoke.parameters]\nregion = "eu-west-2"\n'
    )
    expected = ("eu-west-2", "eu-west-2", "region eu-west-2")
    assert region_of(invoke(project, "EchoFunction", "-e", "event.json", env=sdk)) == expected
    # ...and --region above everything.
    chosen = invoke(project, "EchoFunction", "-e", "event.json", "--region", "ca-central-1", env=sdk)
    assert region_of(chosen) == ("ca-central-1", "ca-central-1", "region ca-central-1")


def test_the_sdks_info_lines_stay_out_of_the_output(project: Path):
    env = {**NO_REGION, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
    completed = invoke(project, "ClientFunction", "-e", "event.json", env=env)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == "made"
    assert "credentials" not in completed.stderr.lower(), completed.stderr


AWS_TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  StoreFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code/
      Handler: store.handler
      Runtime: python3.11
      Environment:
        Variables:
          TABLE_NAME: !Ref ItemsTable
  ItemsTable:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: items-local
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - AttributeName: id
          AttributeType: S
      KeySchema:
        - AttributeName: id
          KeyType: HASH
"""

STORE = """
import os
import boto3

def handler(event, context):
    table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])
    table.put_item(Item={"id": event["id"], "by": context.function_name})
    return {"stored": event["id"]}
"""


def test_aws_calls_go_where_the_environment_points(tmp_path: Path):
    (tmp_path / "template.yaml").write_text(AWS_TEMPLATE)
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "store.py").write_text(textwrap.dedent(STORE))
    (tmp_path / "event.json").write_text('{"id": "item-1"}')
    with local_aws(tmp_path / "template.yaml") as aws:
        assert aws.tables == ("items-local",)
        completed = subprocess.run(
            [MSGWORKER, "invoke", "StoreFunction", "-e", "event.json"],
            cwd=tmp_path,
            env={**os.environ, **aws.environment},
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert completed.returncode == 0, completed.stderr
        assert json.loads(completed.stdout) == {"stored": "item-1"}
        item = aws.client("dynamodb").get_item(TableName="items-local", Key={"id": {"S": "item-1"}})["Item"]
        assert item == {"id": {"S": "item-1"}, "by": {"S": "StoreFunction"}}
