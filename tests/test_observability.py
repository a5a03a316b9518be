"""Failure logs and record-count metrics: structured, once per failure, payload-free by default."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools import Logger, Metrics
from conftest import Order

from msgworker import NotStartedError, worker
from msgworker.testing import LambdaContext, kinesis_event, sns_event, sqs_event

SECRET = "SECRET-PAYLOAD-7f3a"
"""Appears in every test payload; must not reach a log unless log_payload=True."""

_BUFFER = io.StringIO()
# Powertools configures a service's logger once per process, so one Logger is shared by the tests.
_POWERTOOLS_LOGGER = Logger(service="t", logger_handler=logging.StreamHandler(_BUFFER))


class PowertoolsLog:
    def __init__(self) -> None:
        self.logger = _POWERTOOLS_LOGGER

    @property
    def text(self) -> str:
        return _BUFFER.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def failures(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if "message_id" in line]

    def summaries(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if "message_ids" in line]


@pytest.fixture
def plog() -> Iterator[PowertoolsLog]:
    _BUFFER.seek(0)
    _BUFFER.truncate()
    yield PowertoolsLog()
    _BUFFER.seek(0)
    _BUFFER.truncate()


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    collected = Metrics(namespace="T")
    collected.clear_metrics()
    yield collected
    collected.clear_metrics()


@pytest.fixture(autouse=True)
def _no_metrics_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE", raising=False)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)


def order(order_id: str, total: Any = 1) -> str:
    return json.dumps({"order_id": order_id, "total": total, "note": SECRET})


def failing_worker(**options: Any) -> Any:
    @worker(Order, **options)
    def handler(item: Order) -> None:
        if item.order_id.startswith("fail"):
            raise RuntimeError("charge declined")

    return handler


def ids(event: dict[str, Any]) -> list[str]:
    return [record["messageId"] for record in event["Records"]]


# --------------------------------------------------------------------------------------------------
# Failure logs


def test_each_failure_is_logged_once_structured_without_payload(plog: PowertoolsLog):
    handler = failing_worker(logger=plog.logger)
    event = sqs_event([order("a"), order("fail-1"), order("b", total=SECRET), order("c")])
    record_ids = ids(event)

    handler(event, LambdaContext())

    lines = plog.failures()
    assert sorted(line["message_id"] for line in lines) == sorted([record_ids[1], record_ids[2]])
    by_id = {line["message_id"]: line for line in lines}
    raised, rejected = by_id[record_ids[1]], by_id[record_ids[2]]
    assert raised["source"] == "sqs" and rejected["source"] == "sqs"
    assert raised["error_type"] == "RuntimeError"
    # The function's own exception text may quote the payload: withheld (log_payload=True shows it).
    assert raised["error"].startswith("message withheld")
    assert rejected["error_type"] == "ParseError"
    assert "total" in rejected["error"]
    assert SECRET not in plog.text
    assert plog.summaries() == []


def test_log_payload_true_includes_the_record(plog: PowertoolsLog):
    handler = failing_worker(logger=plog.logger, log_payload=True)
    event = sqs_event([order("fail-1"), order("b", total=SECRET)])

    handler(event, LambdaContext())

    lines = plog.failures()
    assert len(lines) == 2
    assert all(SECRET in json.dumps(line) for line in lines)
    assert "charge declined" in plog.text


def test_failures_are_logged_once_with_a_standard_library_logger(caplog: pytest.LogCaptureFixture):
    logger = logging.getLogger("msgworker-tests.observability")
    caplog.set_level(logging.DEBUG, logger=logger.name)
    handler = failing_worker(logger=logger)
    event = sqs_event([order("fail-1"), "not json " + SECRET, order("ok")])
    record_ids = ids(event)

    handler(event, LambdaContext())

    records = [record for record in caplog.records if hasattr(record, "message_id")]
    assert [record.message_id for record in records] == record_ids[:2]
    for record in records:
        assert record.source == "sqs"
        assert record.error_type in {"RuntimeError", "ParseError"}
        assert record.error
    assert SECRET not in caplog.text
    assert all(SECRET not in repr(vars(record)) for record in records)


def test_sns_to_lambda_failure_is_logged_once_and_raised(plog: PowertoolsLog):
    handler = failing_worker(logger=plog.logger)
    event = sns_event([order("fail-1")])
    with pytest.raises(RuntimeError):
        handler(event, LambdaContext())
    lines = plog.failures()
    assert [line["message_id"] for line in lines] == [event["Records"][0]["Sns"]["MessageId"]]
    assert lines[0]["source"] == "sns"


def test_not_started_records_are_one_summary_line_per_reason(plog: PowertoolsLog):
    handler = failing_worker(logger=plog.logger)
    names = ["fail-a", "fail-b", "a1", "b1", "a2", "b2", "c1"]
    groups = ["a", "b", "a", "b", "a", "b", "c"]
    event = sqs_event([order(name) for name in names], group_ids=groups)
    record_ids = ids(event)

    result = handler.run(event, LambdaContext())
    not_started = [failure.id for failure in result.failures if isinstance(failure.error, NotStartedError)]
    assert not_started == record_ids[2:6]

    handler(event, LambdaContext())

    assert sorted(line["message_id"] for line in plog.failures()) == sorted(record_ids[:2])
    (summary,) = plog.summaries()  # both groups were stopped for the same reason
    assert sorted(summary["message_ids"]) == sorted(not_started)
    assert summary["count"] == 4
    assert summary["source"] == "sqs"


def test_stream_records_after_a_failure_are_one_summary_line(plog: PowertoolsLog):
    handler = failing_worker(logger=plog.logger)
    event = kinesis_event([order("a"), order("fail-1"), order("b"), order("c")])
    sequence = [record["kinesis"]["sequenceNumber"] for record in event["Records"]]

    handler(event, LambdaContext())

    assert [line["message_id"] for line in plog.failures()] == [sequence[1]]
    (summary,) = plog.summaries()
    assert summary["message_ids"] == sequence[2:]
    assert summary["count"] == 2
    assert summary["source"] == "kinesis"


def test_records_not_started_for_lack_of_time_are_one_summary_line(plog: PowertoolsLog):
    handler = failing_worker(logger=plog.logger, timeout_margin=1.0)
    event = sqs_event([order(str(index)) for index in range(5)])

    handler(event, LambdaContext(remaining_ms=500))

    assert plog.failures() == []
    (summary,) = plog.summaries()
    assert summary["message_ids"] == ids(event)
    assert summary["count"] == 5


def test_a_batch_without_failures_logs_nothing(
    plog: PowertoolsLog, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], metrics: Metrics
):
    event = sqs_event([order("a"), order("b")])
    failing_worker(logger=plog.logger)(event, LambdaContext())
    failing_worker(logger=plog.logger, metrics=metrics)(event, LambdaContext())
    assert plog.text == ""

    logger = logging.getLogger("msgworker-tests.quiet")
    caplog.set_level(logging.DEBUG, logger=logger.name)
    failing_worker(logger=logger)(event, LambdaContext())
    assert [record for record in caplog.records if record.name == logger.name] == []

    failing_worker()(event, LambdaContext())  # default logger, no metrics configured
    assert capsys.readouterr().out == ""


# --------------------------------------------------------------------------------------------------
# Metrics


def _values(metrics: Metrics) -> dict[str, list[float]]:
    return {name: list(metric["Value"]) for name, metric in metrics.metric_set.items()}


def test_metrics_object_gets_the_record_counts(metrics: Metrics, plog: PowertoolsLog):
    handler = failing_worker(logger=plog.logger, metrics=metrics)
    event = sqs_event(
        [order("a"), order("fail-a"), order("a2"), order("b"), "bad"], group_ids=["a", "a", "a", "b", "c"]
    )

    handler(event, LambdaContext())

    assert _values(metrics) == {"RecordsProcessed": [2.0], "RecordsFailed": [2.0], "RecordsNotStarted": [1.0]}
    emf = metrics.serialize_metric_set()
    assert emf["RecordsProcessed"] == [2.0]
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "T"
    assert {metric["Name"] for metric in emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]} == {
        "RecordsProcessed",
        "RecordsFailed",
        "RecordsNotStarted",
    }


def test_metrics_object_counts_successful_batches_and_raising_sources(metrics: Metrics, plog: PowertoolsLog):
    handler = failing_worker(logger=plog.logger, metrics=metrics)
    handler(sqs_event([order("a"), order("b"), order("c")]), LambdaContext())
    assert _values(metrics) == {"RecordsProcessed": [3.0], "RecordsFailed": [0.0], "RecordsNotStarted": [0.0]}
    metrics.clear_metrics()

    with pytest.raises(RuntimeError):
        handler(sns_event([order("fail-1"), order("ok")]), LambdaContext())
    assert _values(metrics) == {"RecordsProcessed": [1.0], "RecordsFailed": [1.0], "RecordsNotStarted": [0.0]}


def _emf_lines(out: str) -> list[dict[str, Any]]:
    blobs = []
    for line in out.splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict) and "_aws" in parsed:
            blobs.append(parsed)
    return blobs


def test_metrics_true_prints_one_emf_blob_with_a_source_dimension(
    capsys: pytest.CaptureFixture[str], plog: PowertoolsLog
):
    handler = failing_worker(logger=plog.logger, metrics=True)
    handler(kinesis_event([order("a"), order("fail-1"), order("b")]), LambdaContext())

    out = capsys.readouterr().out
    (blob,) = _emf_lines(out)
    assert len(out.strip().splitlines()) == 1
    assert blob["source"] == "kinesis"
    directive = blob["_aws"]["CloudWatchMetrics"][0]
    assert any("source" in dimensions for dimensions in directive["Dimensions"])
    assert (blob["RecordsProcessed"], blob["RecordsFailed"], blob["RecordsNotStarted"]) == ([1.0], [1.0], [1.0])


def test_metrics_true_emits_for_successful_batches_too(capsys: pytest.CaptureFixture[str]):
    handler = failing_worker(metrics=True)
    handler(sqs_event([order("a"), order("b")]), LambdaContext())
    (blob,) = _emf_lines(capsys.readouterr().out)
    assert blob["source"] == "sqs"
    assert blob["RecordsProcessed"] == [2.0]
    assert blob["RecordsFailed"] == [0.0]


def test_namespace_environment_variable_turns_metrics_on(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], plog: PowertoolsLog
):
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "FromEnv")
    handler = failing_worker(logger=plog.logger)
    handler(sqs_event([order("a"), order("fail-1")]), LambdaContext())
    (blob,) = _emf_lines(capsys.readouterr().out)
    directive = blob["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "FromEnv"
    assert blob["source"] == "sqs"
    assert (blob["RecordsProcessed"], blob["RecordsFailed"]) == ([1.0], [1.0])


def test_metrics_false_prints_nothing_even_with_a_namespace(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], plog: PowertoolsLog
):
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "FromEnv")
    handler = failing_worker(logger=plog.logger, metrics=False)
    handler(sqs_event([order("a"), order("fail-1")]), LambdaContext())
    handler(sqs_event([order("a")]), LambdaContext())
    assert capsys.readouterr().out == ""


def test_no_metrics_without_namespace_or_option(capsys: pytest.CaptureFixture[str], plog: PowertoolsLog):
    handler = failing_worker(logger=plog.logger)
    handler(sqs_event([order("a"), order("fail-1")]), LambdaContext())
    assert capsys.readouterr().out == ""
