"""The test kit users get with ``msgworker[testing]``: reset, in-memory stores, the guard
against real AWS, ``local_aws`` applying its environment, and the pytest plugin, tried on a
new user's project outside this repository (scripts/trial/)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from msgworker import CircuitOpenError, ConfigurationError, circuit_breaker, idempotent, worker
from msgworker import _aws_clients as aws_clients
from msgworker.testing import (
    LambdaContext,
    LocalAws,
    MemoryStores,
    guard_real_aws,
    local_aws,
    memory_stores,
    reset,
    sqs_event,
    use_aws_stores,
    use_memory_stores,
)

ROOT = Path(__file__).resolve().parent.parent
TRIAL = ROOT / "scripts" / "trial"
TABLE_VARIABLES = ("MSGWORKER_IDEMPOTENCY_TABLE", "MSGWORKER_BREAKER_TABLE")


def test_a_new_users_project_passes_its_tests_with_the_plugin(tmp_path: Path) -> None:
    # The "done when" trial, in a fresh directory outside the repository: a FIFO consumer
    # with @idempotent/@circuit_breaker/@retry, an SNS → SQS and an EventBridge → Lambda
    # consumer, their tests on the plugin's fixtures (function and session scope).
    # scripts/trial.sh runs the same project in a venv of its own, installed as the README says.
    project = tmp_path / "shop"
    shutil.copytree(TRIAL, project, ignore=shutil.ignore_patterns("__pycache__", "*.sh"))
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MSGWORKER_", "POWERTOOLS_"))}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q"], cwd=project, env=environment, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "14 passed" in result.stdout.splitlines()[-1]


# -- local_aws(apply=True): the environment, tables included, set and restored -------------


def test_local_aws_sets_the_tables_variables_from_the_template_and_restores_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    monkeypatch.delenv("MSGWORKER_IDEMPOTENCY_TABLE", raising=False)
    before = dict(os.environ)
    with local_aws(TRIAL / "template.yaml", apply=True) as aws:
        assert {name: os.environ[name] for name in TABLE_VARIABLES} == {
            "MSGWORKER_IDEMPOTENCY_TABLE": "IdempotencyTable",
            "MSGWORKER_BREAKER_TABLE": "BreakerTable",
        }
        assert os.environ["AWS_ENDPOINT_URL"] == aws.endpoint_url
        assert os.environ["AWS_REGION"] == "us-east-1"
    assert dict(os.environ) == before


def test_functions_naming_different_tables_leave_the_variable_unset(tmp_path: Path) -> None:
    table = (
        "Type: AWS::DynamoDB::Table\n    Properties:\n"
        "      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]\n"
        "      KeySchema: [{AttributeName: id, KeyType: HASH}]"
    )
    template = tmp_path / "template.yaml"
    template.write_text(
        "Resources:\n"
        f"  A:\n    {table}\n"
        f"  B:\n    {table}\n"
        "  One:\n    Type: AWS::Serverless::Function\n    Properties:\n      Handler: app.one\n"
        "      Environment: {Variables: {MSGWORKER_IDEMPOTENCY_TABLE: !Ref A, MSGWORKER_BREAKER_TABLE: !Ref B}}\n"
        "  Two:\n    Type: AWS::Serverless::Function\n    Properties:\n      Handler: app.two\n"
        "      Environment: {Variables: {MSGWORKER_IDEMPOTENCY_TABLE: !Ref B}}\n"
    )
    with local_aws(template) as aws:
        assert "MSGWORKER_IDEMPOTENCY_TABLE" not in aws.environment  # One and Two disagree
        assert aws.environment["MSGWORKER_BREAKER_TABLE"] == "B"


def test_a_new_server_for_each_test_is_not_called_at_the_old_ones_address() -> None:
    @worker
    @idempotent(key="id", name="restart")
    def handler(payload: Any) -> None: ...

    for run in range(2):  # the second server listens on another port
        with local_aws(TRIAL / "template.yaml", apply=True):
            result = handler.run(sqs_event([{"id": f"k-{run}"}]), LambdaContext())
            assert not result.failures, result.failures


def test_state_outlives_a_table_until_reset_forgets_the_warm_container() -> None:
    calls: list[str] = []

    @worker
    @idempotent(key="id", name="warm")
    @circuit_breaker("warm-api", failure_threshold=1)
    def handler(payload: Any) -> None:
        calls.append(payload["id"])
        if payload.get("fail"):
            raise ConnectionError("down")

    with local_aws(TRIAL / "template.yaml", apply=True) as aws:
        assert not handler.run(sqs_event([{"id": "k-1"}])).failures
        handler.run(sqs_event([{"id": "k-2", "fail": True}]))  # opens the breaker
        aws.clear()  # the tables are empty now, but this container still remembers
        assert isinstance(handler.run(sqs_event([{"id": "k-3"}])).failures[0].error, CircuitOpenError)
        reset()  # a new container: it asks the (empty) tables
        assert not handler.run(sqs_event([{"id": "k-1"}])).failures
    assert calls == ["k-1", "k-2", "k-1"]


def test_moto_serves_one_request_at_a_time_while_local_aws_runs() -> None:
    # DynamoDB applies conditional writes atomically; moto's threaded server only does when
    # requests are serialised, which local_aws does while any runs. A fresh interpreter:
    # this process has servers of its own running.
    code = (
        "from moto.core.responses import BaseResponse\n"
        "from msgworker.testing import local_aws\n"
        "before = BaseResponse.call_action\n"
        "def serialised(): return getattr(BaseResponse.call_action, 'serialised_by_msgworker', False)\n"
        "print(serialised())\n"
        "with local_aws():\n"
        "    print(serialised())\n"
        "    with local_aws():\n"
        "        print(serialised())\n"
        "    print(serialised())\n"
        "print(serialised(), BaseResponse.call_action is before)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "True", "True", "True", "False", "True"]


def test_a_moto_mock_in_an_earlier_test_does_not_take_the_sessions_tables(
    local_aws_server: LocalAws, request: pytest.FixtureRequest
) -> None:
    from moto import mock_aws

    with mock_aws():  # leaving it resets all of moto's state in the process
        pass
    assert "IdempotencyTable" not in local_aws_server.client("dynamodb").list_tables()["TableNames"]
    aws = request.getfixturevalue("local_aws")  # as the next test asking for it would
    assert {"IdempotencyTable", "BreakerTable"} <= set(aws.client("dynamodb").list_tables()["TableNames"])


# -- in-memory stores ------------------------------------------------------------------------


def test_memory_stores_need_no_table_and_switch_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MSGWORKER_IDEMPOTENCY_TABLE", raising=False)
    runs: list[str] = []

    @worker
    @idempotent(key="id", name="memory")
    @circuit_breaker("memory-api")
    def handler(payload: Any) -> None:
        runs.append(payload["id"])

    with memory_stores() as stores:
        assert not handler.run(sqs_event([{"id": "k-1"}, {"id": "k-1"}])).failures
        assert list(stores.idempotency.records) == ["memory#k-1"]
        assert stores.breaker.read("memory-api").failures == 0
    assert runs == ["k-1"]
    failure = handler.run(sqs_event([{"id": "k-2"}])).failures[0].error
    assert isinstance(failure, ConfigurationError) and "MSGWORKER_IDEMPOTENCY_TABLE" in str(failure)


def test_each_switch_to_memory_starts_empty() -> None:
    @idempotent(key="id", name="fresh")
    def charge(order: dict[str, str]) -> str:
        return order["id"]

    first = use_memory_stores()
    charge({"id": "k-1"})
    second = use_memory_stores()
    use_aws_stores()
    assert list(first.idempotency.records) == ["fresh#k-1"]
    assert second.idempotency.records == {}


def test_the_memory_stores_fixture(memory_stores: MemoryStores) -> None:
    @idempotent(key="id", name="fixture")
    def charge(order: dict[str, str]) -> None: ...

    charge({"id": "k-1"})
    assert list(memory_stores.idempotency.records) == ["fixture#k-1"]


def test_the_lambda_context_fixture(lambda_context: LambdaContext) -> None:
    assert 29_000 < lambda_context.get_remaining_time_in_millis() <= 30_000


# -- the guard against real AWS ---------------------------------------------------------------


@pytest.fixture
def real_looking_credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Credentials as a developer's machine has them, and no local endpoint."""
    for name in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("MSGWORKER_IDEMPOTENCY_TABLE", "orders-idempotency")
    reset()
    yield
    reset()


def log_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.usefixtures("real_looking_credentials")
def test_failure_actions_of_a_failing_record_are_refused_real_aws(capsys: pytest.CaptureFixture[str]) -> None:
    @worker(redelivery=True, dead_letter=True)
    def handler(payload: Any) -> None:
        raise ConnectionError("down")

    capsys.readouterr()
    response = handler(sqs_event(["{}"], queue="orders"), LambdaContext())
    assert response is not None and len(response["batchItemFailures"]) == 1
    warnings = [line["message"] for line in log_lines(capsys.readouterr().out) if line["level"] == "WARNING"]
    assert any("refused a call to real AWS (sqs.us-east-1.amazonaws.com)" in text for text in warnings), warnings


@pytest.mark.usefixtures("real_looking_credentials")
def test_an_idempotent_record_is_refused_real_aws_with_what_to_do() -> None:
    @worker
    @idempotent(key="id", name="guarded")
    def handler(payload: Any) -> None: ...

    error = handler.run(sqs_event([{"id": "k-1"}])).failures[0].error
    assert isinstance(error, ConfigurationError)
    assert "refused a call to real AWS (dynamodb.eu-west-1.amazonaws.com)" in str(error)
    assert "local_aws fixture" in str(error) and "msgworker_real_aws" in str(error)


class Sent(Exception):
    """Raised by a test's own before-send hook: the request got as far as being sent."""


def dynamodb_request_outcome() -> type[BaseException]:
    def stop(**_: Any) -> None:
        raise Sent

    aws_clients.session().register("before-send", stop)  # after msgworker's guard, if any
    try:
        aws_clients.aws_client("dynamodb").describe_table(TableName="t")
    except BaseException as error:
        return type(error)
    raise AssertionError("the request neither failed nor was sent")


@pytest.mark.usefixtures("real_looking_credentials")
def test_the_guard_is_on_in_every_test_and_off_outside() -> None:
    assert dynamodb_request_outcome() is ConfigurationError
    guard_real_aws(False)
    assert dynamodb_request_outcome() is Sent
    guard_real_aws()
    assert dynamodb_request_outcome() is ConfigurationError


@pytest.mark.msgworker_real_aws
@pytest.mark.usefixtures("real_looking_credentials")
def test_a_marked_test_may_reach_real_aws() -> None:
    assert dynamodb_request_outcome() is Sent


@pytest.mark.usefixtures("real_looking_credentials")
def test_local_endpoints_and_motos_mock_are_let_through() -> None:
    from moto import mock_aws

    with mock_aws():
        reset()
        client = aws_clients.aws_client("dynamodb")
        assert client.list_tables()["TableNames"] == []
    with local_aws(apply=True):
        assert isinstance(aws_clients.aws_client("dynamodb").list_tables()["TableNames"], list)


def test_the_plugins_local_aws_fixture_applies_the_template(local_aws: LocalAws, pytestconfig: pytest.Config) -> None:
    # This repository's own pytest configuration names no msgworker_template: template.yaml.
    assert os.environ["AWS_ENDPOINT_URL"] == local_aws.endpoint_url
    assert os.environ["MSGWORKER_BREAKER_TABLE"] == "BreakerTable"
    assert {"IdempotencyTable", "BreakerTable"} <= set(local_aws.tables)
