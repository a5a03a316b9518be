"""`msgworker local-aws -t template.yaml`: a local AWS with the template's tables, in the
foreground, printing the environment to use; and `msgworker invoke` of an `@idempotent`
function against it, the way a user of their own template runs it."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from msgworker.cli.local_aws import READY
from msgworker.testing import LocalAws, sqs_event

MSGWORKER = str(Path(sys.executable).parent / "msgworker")

# A user's own small template: a consumer using the layer by parameter, its tables under names of
# its own choosing.
TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  MsgworkerLayerArn:
    Type: String
    Default: arn:aws:lambda:us-east-1:123456789012:layer:msgworker:1
Globals:
  Function:
    Runtime: python3.11
    Layers: [!Ref MsgworkerLayerArn]
    Environment:
      Variables:
        MSGWORKER_IDEMPOTENCY_TABLE: !Ref Claims
Resources:
  Payments:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.payments.handler
  Claims:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: payment-claims
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      TimeToLiveSpecification: {AttributeName: expiration, Enabled: true}
"""

PAYMENTS = """
from pydantic import BaseModel
from msgworker import idempotent, worker

class Payment(BaseModel):
    payment_id: str

@worker(Payment)
@idempotent(key="payment_id")
def handler(payment: Payment) -> None:
    pass
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    (tmp_path / "src" / "app").mkdir(parents=True)
    (tmp_path / "src" / "app" / "payments.py").write_text(textwrap.dedent(PAYMENTS))
    (tmp_path / "event.json").write_text(json.dumps(sqs_event([{"payment_id": "p-1"}, {"payment_id": "p-2"}])))
    return tmp_path


class Started:
    def __init__(self, process: subprocess.Popen[str], exports: dict[str, str]) -> None:
        self.process = process
        self.exports = exports


@pytest.fixture
def local(project: Path) -> Iterator[Started]:
    process = subprocess.Popen(
        [MSGWORKER, "local-aws", "-t", "template.yaml"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    exports: dict[str, str] = {}
    for line in process.stdout:
        if line.rstrip("\n") == READY:
            break
        (name, value), *_ = (part.split("=", 1) for part in shlex.split(line.removeprefix("export ")))
        exports[name] = value
    else:  # stdout closed before READY: the command failed
        assert process.stderr is not None
        pytest.fail(f"msgworker local-aws exited with {process.wait(timeout=30)}: {process.stderr.read()}")
    try:
        yield Started(process, exports)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def test_it_prints_the_environment_with_the_templates_tables(local: Started) -> None:
    assert local.exports["MSGWORKER_IDEMPOTENCY_TABLE"] == "payment-claims"
    assert (local.exports["AWS_REGION"], local.exports["AWS_DEFAULT_REGION"]) == ("us-east-1", "us-east-1")
    aws = LocalAws(local.exports["AWS_ENDPOINT_URL"])
    described = aws.client("dynamodb").describe_time_to_live(TableName="payment-claims")
    assert described["TimeToLiveDescription"]["AttributeName"] == "expiration"


def test_invoke_of_an_idempotent_function_against_it_needs_no_region_of_its_own(local: Started, project: Path) -> None:
    # The endpoint and credentials only: invoke sets the region itself, as sam local invoke does.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {k: v for k, v in local.exports.items() if k.startswith("AWS_") and "REGION" not in k}
    env["AWS_CONFIG_FILE"] = str(project / "no-aws-config")
    completed = subprocess.run(
        [MSGWORKER, "invoke", "Payments", "-e", "event.json"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == {"batchItemFailures": []}
    claims = LocalAws(local.exports["AWS_ENDPOINT_URL"]).client("dynamodb").scan(TableName="payment-claims")
    assert sorted(item["status"]["S"] for item in claims["Items"]) == ["COMPLETED", "COMPLETED"]


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_stops_it_cleanly(local: Started, stop: signal.Signals) -> None:
    url = urlsplit(local.exports["AWS_ENDPOINT_URL"])
    local.process.send_signal(stop)
    _, stderr = local.process.communicate(timeout=60)
    assert local.process.returncode == 0, stderr
    assert "Traceback" not in stderr and "local AWS stopped" in stderr
    with pytest.raises(ConnectionRefusedError), socket.create_connection((url.hostname, url.port), timeout=5):
        pass


def test_a_template_that_cannot_be_read_is_one_line(tmp_path: Path) -> None:
    completed = subprocess.run(
        [MSGWORKER, "local-aws", "-t", "missing.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 2 and completed.stdout == ""
    assert (
        completed.stderr.strip() == "msgworker local-aws: cannot read template missing.yaml: No such file or directory"
    )
