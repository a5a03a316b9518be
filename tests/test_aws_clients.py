"""msgworker's one AWS client factory (``msgworker._aws_clients``): endpoints from the
environment as botocore reads them (checked against a real moto server), one retry policy
for every module, ``reset()``, retries that stop when the Lambda's time would run out
(against a real HTTP server answering 500), and a clear error without botocore."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import msgworker
from msgworker import _aws_clients, worker
from msgworker.breaker._dynamodb import DynamoDBStore as BreakerStore
from msgworker.errors import ConfigurationError
from msgworker.failure_actions._aws import AwsAccess
from msgworker.idempotency._dynamodb import DynamoDBStore as IdempotencyStore
from msgworker.testing import LambdaContext, LocalAws, local_aws, sns_event

POLICY = {"mode": "standard", "total_max_attempts": _aws_clients.ATTEMPTS}


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_LAMBDA_FUNCTION_NAME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
    }.items():
        monkeypatch.setenv(name, value)
    _aws_clients.reset()
    yield monkeypatch
    _aws_clients.reset()


@pytest.fixture(scope="module")
def moto() -> Iterator[LocalAws]:
    with local_aws() as aws:
        yield aws


def test_the_service_endpoint_variable_wins_over_the_general_one(
    environment: pytest.MonkeyPatch, moto: LocalAws
) -> None:
    environment.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    environment.setenv("AWS_ENDPOINT_URL_SQS", moto.endpoint_url)
    sqs = _aws_clients.aws_client("sqs")
    url = sqs.create_queue(QueueName="endpoint-variables")["QueueUrl"]
    assert sqs.get_queue_url(QueueName="endpoint-variables")["QueueUrl"] == url
    assert sqs.meta.endpoint_url == moto.endpoint_url
    assert _aws_clients.aws_client("dynamodb").meta.endpoint_url == "http://127.0.0.1:9"


def test_a_changed_endpoint_variable_gets_a_new_client(environment: pytest.MonkeyPatch, moto: LocalAws) -> None:
    environment.setenv("AWS_ENDPOINT_URL", moto.endpoint_url)
    first = _aws_clients.aws_client("dynamodb")
    assert _aws_clients.aws_client("dynamodb") is first, "one client per service for the container"
    first.list_tables()
    environment.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    assert _aws_clients.aws_client("dynamodb").meta.endpoint_url == "http://127.0.0.1:9"
    assert _aws_clients.aws_client("dynamodb", "eu-west-1").meta.region_name == "eu-west-1"


def test_reset_makes_the_next_call_build_a_new_client(environment: pytest.MonkeyPatch) -> None:
    first = _aws_clients.aws_client("sqs")
    _aws_clients.reset()
    second = _aws_clients.aws_client("sqs")
    assert second is not first
    assert _aws_clients.aws_client("sqs") is second


def test_every_module_gets_the_same_retry_policy_and_timeouts(environment: pytest.MonkeyPatch) -> None:
    clients = {
        "idempotency": IdempotencyStore("table").client,
        "idempotency, bigger pool": IdempotencyStore("table", concurrency=64).client,
        "breaker": BreakerStore("table").client,
        "failure actions (sqs)": AwsAccess().client("sqs", "us-east-1"),
        "failure actions (lambda)": AwsAccess().client("lambda"),
        "failure actions (scheduler)": AwsAccess().client("scheduler"),
    }
    for name, client in clients.items():
        config = client.meta.config
        assert config.retries == POLICY, name
        assert (config.connect_timeout, config.read_timeout) == (1.0, 2.0), name
    assert clients["idempotency"] is clients["breaker"], "one DynamoDB client for the container"
    assert clients["idempotency, bigger pool"].meta.config.max_pool_connections == 64


def test_no_module_makes_a_client_of_its_own() -> None:
    """Only the factory calls boto3.client / create_client or builds a Config (the testing
    helper LocalAws.client aside: it is for users' own test code)."""
    root = Path(msgworker.__file__).parent
    allowed = {root / "_aws_clients.py", root / "testing" / "_local_aws.py"}
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or path in allowed:
                continue
            function = node.func
            name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
            owner = function.value if isinstance(function, ast.Attribute) else None
            owner_name = getattr(owner, "id", getattr(owner, "attr", ""))
            if name in {"create_client", "Config"} or (name == "client" and owner_name in {"boto3", "session"}):
                offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert offenders == []


class Failing(BaseHTTPRequestHandler):
    """DynamoDB answering 500 to everything, counting the requests."""

    requests = 0

    def do_POST(self) -> None:
        type(self).requests += 1
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": "down"})
        self.send_response(500)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def failing_dynamodb(environment: pytest.MonkeyPatch) -> Iterator[type[Failing]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    environment.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{server.server_address[1]}")
    Failing.requests = 0
    yield Failing
    server.shutdown()
    server.server_close()


def get_item(payload: Any) -> None:
    dynamodb = _aws_clients.aws_client("dynamodb")
    try:
        dynamodb.get_item(TableName="t", Key={"id": {"S": "k"}})
    except dynamodb.exceptions.InternalServerError as error:  # the modelled class, whichever attempt ended it
        raise RuntimeError(
            f"InternalServerError after {error.response['ResponseMetadata']['HTTPStatusCode']}"
        ) from error


@pytest.mark.parametrize(("timeout", "attempts"), [(60, _aws_clients.ATTEMPTS), (2, 1)])
def test_a_retry_starts_only_when_it_can_end_before_the_lambda(
    failing_dynamodb: type[Failing], timeout: int, attempts: int
) -> None:
    # redelivery= puts the worker on its path with an Invocation, whose end the hook reads.
    # log_payload=True: the record's own exception text (which attempt ended it) is raised as it is.
    handler = worker(redelivery=True, metrics=False, log_payload=True)(get_item)
    with pytest.raises(RuntimeError, match="InternalServerError after 500"):
        handler(sns_event(["{}"]), LambdaContext(timeout=timeout))
    assert failing_dynamodb.requests == attempts


def test_outside_a_worker_every_attempt_is_made(failing_dynamodb: type[Failing]) -> None:
    with pytest.raises(RuntimeError, match="InternalServerError after 500"):
        get_item(None)
    assert failing_dynamodb.requests == _aws_clients.ATTEMPTS


def test_without_botocore_the_error_says_what_to_install() -> None:
    code = (
        "import sys\n"
        "sys.modules['botocore'] = sys.modules['boto3'] = None\n"
        "from msgworker._aws_clients import aws_client\n"
        "from msgworker.errors import ConfigurationError\n"
        "try:\n"
        "    aws_client('sqs', 'us-east-1')\n"
        "except ConfigurationError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert 'pip install "msgworker[aws]"' in result.stdout, result.stdout + result.stderr


def test_a_client_that_cannot_be_made_is_a_configuration_error(environment: pytest.MonkeyPatch) -> None:
    environment.delenv("AWS_DEFAULT_REGION")
    environment.delenv("AWS_REGION", raising=False)
    environment.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(ConfigurationError, match="AWS_REGION"):
        _aws_clients.aws_client("sqs")


def test_in_lambdas_init_phase_the_decorators_make_their_client(environment: pytest.MonkeyPatch) -> None:
    from msgworker import idempotent

    made: list[str] = []
    _aws_clients.session().register("creating-client-class.dynamodb", lambda **_: made.append("dynamodb"))
    idempotent(key="order_id", table="t")(lambda order: None)
    assert made == [], "outside Lambda: on first use"
    environment.setenv("AWS_LAMBDA_FUNCTION_NAME", "orders")
    idempotent(key="order_id", table="t")(lambda order: None)
    assert made == ["dynamodb"]
