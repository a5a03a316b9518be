"""What failure logs and errors say: one traceback per failure, none of msgworker's own
exceptions in an ``async def`` failure's traceback, the user's service name, settings read
at the first batch, and table errors naming the table (or the variable that is unset)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from msgworker import ConfigurationError, idempotent, retry, worker
from msgworker.testing import LambdaContext, local_aws, reset, sqs_event


def log_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def failure_log(capsys: pytest.CaptureFixture[str], handler: Any) -> dict[str, Any]:
    capsys.readouterr()
    handler(sqs_event(["{}"]), LambdaContext())
    (line,) = [line for line in log_lines(capsys.readouterr().out) if line["message"] == "record failed"]
    return line


def test_an_async_failure_carries_only_its_own_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    @worker
    async def handler(payload: Any) -> None:
        raise ValueError("boom")

    (failure,) = handler.run(sqs_event(["{}"])).failures
    assert failure.error.__context__ is None
    logged = failure_log(capsys, handler)["traceback"]
    assert "no running event loop" not in logged
    assert "During handling of the above exception" not in logged


def test_each_failure_log_holds_one_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    @worker
    def handler(payload: Any) -> None:
        raise ValueError("boom")

    line = failure_log(capsys, handler)
    assert line["traceback"].count("Traceback (most recent call last)") == 1
    assert "stack_trace" not in line, "the same traceback again, structured"


@pytest.mark.parametrize(
    ("variables", "service"),
    [
        ({"POWERTOOLS_SERVICE_NAME": "shop", "AWS_LAMBDA_FUNCTION_NAME": "shop-payments"}, "shop"),
        ({"AWS_LAMBDA_FUNCTION_NAME": "shop-payments"}, "shop-payments"),
        ({}, "msgworker"),
    ],
)
def test_logs_carry_the_users_service_name(
    variables: dict[str, str], service: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    @worker
    def handler(payload: Any) -> None:
        raise ValueError("boom")

    # Set after the handler is made, as a test or `msgworker invoke` does: read at first use.
    for name in ("POWERTOOLS_SERVICE_NAME", "AWS_LAMBDA_FUNCTION_NAME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    reset()
    assert failure_log(capsys, handler)["service"] == service


def test_the_metrics_namespace_is_read_at_the_first_batch_not_at_decoration(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE", raising=False)

    @worker
    def handler(payload: Any) -> None: ...

    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Shop")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "payments")
    capsys.readouterr()
    handler(sqs_event(["{}"]), LambdaContext())
    (emf,) = [line for line in log_lines(capsys.readouterr().out) if "_aws" in line]
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Shop"
    assert emf["service"] == "payments"
    assert emf["RecordsProcessed"] == [1.0]


def test_an_unset_table_variable_is_named_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MSGWORKER_IDEMPOTENCY_TABLE", raising=False)

    @worker
    @idempotent(key="id", name="tables")
    def handler(payload: Any) -> None: ...

    with local_aws(apply=True):
        error = handler.run(sqs_event([{"id": "k-1"}])).failures[0].error
    assert isinstance(error, ConfigurationError)
    assert "no idempotency table configured: set the environment variable MSGWORKER_IDEMPOTENCY_TABLE" in str(error)


def test_a_missing_table_is_named_by_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    @worker
    @idempotent(key="id", name="tables")
    def handler(payload: Any) -> None: ...

    with local_aws(apply=True):
        monkeypatch.setenv("MSGWORKER_IDEMPOTENCY_TABLE", "shop-idempotency")
        error = handler.run(sqs_event([{"id": "k-1"}])).failures[0].error
    assert isinstance(error, ConfigurationError)
    assert str(error).startswith("idempotency table 'shop-idempotency' does not exist")


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_retried_failure_logs_the_last_attempts_traceback_only(
    asynchronous: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail(payload: Any) -> None:
        raise ConnectionError("down")

    async def fail_async(payload: Any) -> None:
        raise ConnectionError("down")

    function: Any = fail_async if asynchronous else fail
    handler = worker(retry(attempts=3, on=(ConnectionError,), initial=0.001, maximum=0.001)(function))
    (failure,) = handler.run(sqs_event(["{}"])).failures
    assert failure.error.__context__ is None
    logged = failure_log(capsys, handler)["traceback"]
    assert logged.count("Traceback (most recent call last)") == 1
    assert "During handling of the above exception" not in logged
