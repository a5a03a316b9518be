"""``circuit_breaker(..., pause_source=True)``: the event source mapping is paused while the
circuit is open and resumed by a one-time EventBridge Scheduler schedule. Against moto's
Lambda (a real function and mapping) and Scheduler, through the emulated mapping."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from esm_emulator import (
    ApiCalls,
    EventSourceMappingEmulator,
    QueuePair,
    create_queue_pair,
    local_endpoint,
    log_lines,
    open_circuit,
)

from msgworker import worker
from msgworker.breaker import InMemoryStore, circuit_breaker
from msgworker.failure_actions import SCHEDULE_GROUP_ENV, SCHEDULER_ROLE_ENV, RedeliveryBackoff
from msgworker.failure_actions._pause_source import (
    DEFAULT_SCHEDULE_GROUP,
    RESUME_TARGET_ARN,
    resume_schedule_name,
    schedule_expression,
)
from msgworker.testing import LambdaContext, LocalAws, sqs_event

ROLE = "arn:aws:iam::123456789012:role/msgworker-resume"


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    with local_endpoint(**{SCHEDULER_ROLE_ENV: ROLE}) as local:
        yield local


def queue_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def open_circuit_handler(
    reopens_in: float,
    *,
    pause_source: bool = True,
    circuit: dict[str, bool] | None = None,
    reopens_at: float | None = None,
    **options: Any,
) -> Any:
    """A worker whose records are rejected by an open circuit (for ``reopens_in`` seconds,
    or until ``reopens_at``) while ``circuit["open"]`` (always, without ``circuit``)."""

    @worker(metrics=True, **options)
    @open_circuit(
        reopens_in, pause_source=pause_source, is_open=lambda: circuit is None or circuit["open"], reopens_at=reopens_at
    )
    def handler(payload: Any) -> None:
        pass

    return handler


def setup(aws: LocalAws, handler: Any, messages: int = 3) -> tuple[QueuePair, EventSourceMappingEmulator]:
    queue = create_queue_pair(aws, queue_name("paused"), visibility_timeout=1)
    for number in range(messages):
        aws.client("sqs").send_message(QueueUrl=queue.url, MessageBody=json.dumps({"n": number}))
    emulator = EventSourceMappingEmulator(aws, handler, queue_url=queue.url, function_name=queue_name("fn"))
    return queue, emulator


def schedules(aws: LocalAws) -> dict[str, dict[str, Any]]:
    scheduler = aws.client("scheduler")
    return {
        item["Name"]: scheduler.get_schedule(Name=item["Name"], GroupName=item["GroupName"])
        for item in scheduler.list_schedules()["Schedules"]
    }


def test_an_open_circuit_pauses_the_mapping_and_a_schedule_resumes_it(aws: LocalAws) -> None:
    circuit = {"open": True}
    handler = open_circuit_handler(reopens_in=3, circuit=circuit)
    _, emulator = setup(aws, handler)
    before = time.time()
    poll = emulator.poll()
    circuit["open"] = False

    assert poll is not None and poll.failed == poll.received, "records still reported failed"
    assert not emulator.enabled, "the mapping is disabled"
    schedule = schedules(aws)[resume_schedule_name(emulator.uuid)]
    at = datetime.fromisoformat(schedule["ScheduleExpression"][3:-1]).replace(tzinfo=UTC).timestamp()
    assert before + 2 <= at <= time.time() + 4
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["Target"]["Arn"] == RESUME_TARGET_ARN
    assert schedule["Target"]["RoleArn"] == ROLE
    assert json.loads(schedule["Target"]["Input"]) == {"Uuid": emulator.uuid, "Enabled": True}
    # In its own group (the one template.yaml creates), never in "default": the resume role
    # trusts Scheduler for that group only.
    assert schedule["GroupName"] == DEFAULT_SCHEDULE_GROUP == "msgworker-resume"

    assert emulator.poll() is None, "a paused mapping does not poll"
    emulator.run(lambda: len(emulator.polls) == 2, timeout=15)
    assert emulator.resumes == 1 and emulator.enabled
    assert resume_schedule_name(emulator.uuid) not in schedules(aws), "the schedule deleted itself"
    second = emulator.polls[1]
    assert set(second.received) == set(poll.received), "the messages were waiting, not consumed"
    assert second.failed == []
    assert set(second.receive_counts.values()) == {2}


def test_the_metrics_and_log_say_what_happened(aws: LocalAws, capsys: pytest.CaptureFixture[str]) -> None:
    handler = open_circuit_handler(reopens_in=60)
    queue, emulator = setup(aws, handler, messages=1)
    [message] = aws.client("sqs").receive_message(QueueUrl=queue.url, AttributeNames=["All"])["Messages"]
    record = emulator.record(message)
    capsys.readouterr()

    handler({"Records": [record]}, LambdaContext(function_name=emulator.function_name))

    lines = log_lines(capsys.readouterr().out)
    [paused] = [line for line in lines if line.get("message") == "event source paused while the circuit is open"]
    assert paused["event_source_mapping"] == emulator.uuid
    assert paused["queue"] == queue.arn
    assert paused["circuit"] == "payments"
    assert paused["schedule"] == resume_schedule_name(emulator.uuid)
    [metrics] = [line for line in lines if "_aws" in line]
    assert metrics["SourcePaused"] == [1.0] or metrics["SourcePaused"] == 1.0
    assert metrics["CircuitOpenDelayed"] in ([1.0], 1.0)


def test_pausing_is_idempotent_across_batches_and_containers(aws: LocalAws) -> None:
    queue, emulator = setup(aws, open_circuit_handler(reopens_in=30), messages=0)
    name = queue.arn.rsplit(":", 1)[1]
    context = LambdaContext(function_name=emulator.function_name)
    calls = ApiCalls()
    # One opening: both batches of a container see the same reopening time, however slow
    # the machine is between them.
    first_container = open_circuit_handler(reopens_in=30, reopens_at=time.time() + 30)
    first_container(sqs_event(["{}"], queue=name), context)
    lookups = len(calls.of("ListEventSourceMappings"))
    first_container(sqs_event(["{}"], queue=name), context)
    assert len(calls.of("CreateSchedule")) == 1, "a container that paused until then does nothing more"
    assert len(calls.of("ListEventSourceMappings")) == lookups, "the mapping is looked up once per container"

    second_container = open_circuit_handler(reopens_in=45)
    second_container(sqs_event(["{}"], queue=name), context)
    assert len(calls.of("UpdateSchedule")) == 1, "the existing schedule moves to the later time"
    [schedule] = [s for n, s in schedules(aws).items() if n == resume_schedule_name(emulator.uuid)]
    assert schedule["ScheduleExpression"] == calls.of("UpdateSchedule")[0]["ScheduleExpression"]
    assert not emulator.enabled


def test_no_schedule_means_no_pause(aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> None:
    # Scheduler unreachable: the mapping must stay enabled, or nothing would resume it.
    monkeypatch.setenv("AWS_ENDPOINT_URL_SCHEDULER", "http://127.0.0.1:9")
    handler = open_circuit_handler(reopens_in=30)
    _, emulator = setup(aws, handler, messages=1)
    calls = ApiCalls()
    poll = emulator.poll()
    assert poll is not None and poll.failed == poll.received
    assert emulator.enabled
    assert calls.of("UpdateEventSourceMapping") == []
    [visibility] = calls.of("ChangeMessageVisibilityBatch")
    assert visibility["Entries"][0]["VisibilityTimeout"] >= 29, "still kept invisible until the circuit may close"


def test_without_the_scheduler_role_nothing_is_paused_and_it_says_why(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(SCHEDULER_ROLE_ENV)
    handler = open_circuit_handler(reopens_in=30)
    _, emulator = setup(aws, handler, messages=2)
    capsys.readouterr()
    emulator.poll()
    emulator.fire_due_schedules()
    assert emulator.enabled
    errors = [line for line in log_lines(capsys.readouterr().out) if line.get("level") == "ERROR"]
    assert len(errors) == 1
    assert SCHEDULER_ROLE_ENV in errors[0]["message"]


def test_the_schedule_goes_in_the_group_the_environment_names(aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> None:
    group = queue_name("orders-resume")
    aws.client("scheduler").create_schedule_group(Name=group)
    monkeypatch.setenv(SCHEDULE_GROUP_ENV, group)
    _, emulator = setup(aws, open_circuit_handler(reopens_in=60))
    emulator.poll()

    assert not emulator.enabled
    listed = aws.client("scheduler").list_schedules(GroupName=group)["Schedules"]
    assert [item["Name"] for item in listed] == [resume_schedule_name(emulator.uuid)]
    assert listed[0]["Arn"].endswith(f":schedule/{group}/{resume_schedule_name(emulator.uuid)}")


def test_a_circuit_without_pause_source_only_sets_visibility(aws: LocalAws) -> None:
    calls = ApiCalls()
    handler = open_circuit_handler(reopens_in=30, pause_source=False)
    _, emulator = setup(aws, handler, messages=1)
    emulator.poll()
    assert emulator.enabled
    assert calls.of("CreateSchedule") == [] and calls.of("ListEventSourceMappings") == []


def test_a_function_without_a_mapping_for_the_queue_is_left_alone(aws: LocalAws) -> None:
    calls = ApiCalls()
    handler = open_circuit_handler(reopens_in=30)
    response = handler(sqs_event(["{}"], queue=queue_name("unmapped")), LambdaContext(function_name="no-mappings"))
    assert len(response["batchItemFailures"]) == 1
    assert calls.of("CreateSchedule") == [] and calls.of("UpdateEventSourceMapping") == []


def test_the_real_breaker_pauses_until_it_may_close(aws: LocalAws) -> None:
    store = InMemoryStore()
    down = True
    processed: list[int] = []

    @worker(metrics=False, redelivery=RedeliveryBackoff(base=1, jitter=False))
    @circuit_breaker("pausing-demo", store=store, failure_threshold=1, recovery_timeout=2, pause_source=True)
    def handler(payload: dict[str, int]) -> None:
        if down:
            raise ConnectionError("payments API unreachable")
        processed.append(payload["n"])

    _, emulator = setup(aws, handler, messages=3)
    first = emulator.poll()
    assert first is not None and not emulator.enabled
    down = False
    emulator.run(lambda: sorted(processed) == [0, 1, 2], timeout=20)
    assert emulator.resumes >= 1


def test_schedule_expressions_are_utc_whole_seconds_rounded_up() -> None:
    assert schedule_expression(0.0) == "at(1970-01-01T00:00:00)"
    assert schedule_expression(1.001) == "at(1970-01-01T00:00:02)"
    assert resume_schedule_name("u") == "msgworker-resume-u"
    assert len(resume_schedule_name(str(uuid.uuid4()))) <= 64
