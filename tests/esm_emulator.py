"""A small emulator of Lambda's SQS event source mapping, on a real (moto server) queue.

It does what the mapping does and nothing else, so that the queue's real behaviour decides
everything the tests observe: visibility timeouts, ``ApproximateReceiveCount`` and the
redrive to the dead-letter queue after ``maxReceiveCount`` receives are moto's own.

- ``poll()``: receive up to ``batch_size`` messages (all attributes), build the Lambda SQS
  event from them (the shape of ``msgworker.testing.sqs_record``, ``eventSourceARN`` the
  queue's), call the handler with a ``msgworker.testing.LambdaContext`` carrying the
  function's name, then delete the messages that did not fail (``batchItemFailures``). A
  handler that raises, or answers something Lambda cannot read as a batch response, fails
  the whole batch, as Lambda does (the rule and the record shape are the local runtime's,
  ``msgworker.local._decisions`` and ``_shapes``; that runtime is the full mapping).
  Failed messages are left alone: their visibility is whatever the queue or a
  ``ChangeMessageVisibility`` made it.
- The mapping is real too: a function and an event source mapping are created in moto's
  Lambda, and the emulator polls only while ``get_event_source_mapping`` says ``Enabled``.
  msgworker's ``pause_source`` disables it through the same API.
- EventBridge Scheduler is emulated: before each poll, one-time schedules that are due
  (moto stores them but does not run them) are applied. Only the universal target
  ``aws-sdk:lambda:updateEventSourceMapping`` is understood: its ``Input`` (``Uuid``,
  ``Enabled``) goes to ``update_event_source_mapping``; then the schedule is deleted when
  its ``ActionAfterCompletion`` is ``DELETE``.
"""

from __future__ import annotations

import functools
import io
import json
import time
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from msgworker import _aws_clients as aws_clients
from msgworker.errors import CircuitOpenError
from msgworker.failure_actions._pause_source import DEFAULT_SCHEDULE_GROUP, RESUME_TARGET_ARN, SCHEDULE_GROUP_ENV
from msgworker.local._decisions import sqs_failed_ids
from msgworker.local._shapes import sqs_record
from msgworker.testing import LambdaContext, LocalAws, local_aws

Handler = Callable[[Any, Any], Any]


@dataclass
class Poll:
    """What one poll did."""

    received: list[str] = field(default_factory=list)
    """Message ids handed to the function."""
    failed: list[str] = field(default_factory=list)
    """Message ids the function reported failed (or all, when it raised)."""
    receive_counts: dict[str, int] = field(default_factory=dict)
    response: Any = None
    error: BaseException | None = None
    context: LambdaContext | None = None
    started: float = 0.0
    """``time.monotonic()`` when the function was called (its LambdaContext starts then)."""
    finished: float = 0.0


class EventSourceMappingEmulator:
    """Lambda's SQS poller for one queue and one handler, against a local AWS endpoint."""

    def __init__(
        self,
        aws: LocalAws,
        handler: Handler,
        *,
        queue_url: str,
        function_name: str = "msgworker-function",
        batch_size: int = 10,
        function_timeout: float = 30.0,
        poll_interval: float = 0.1,
    ) -> None:
        self.aws = aws
        self.handler = handler
        self.queue_url = queue_url
        self.function_name = function_name
        self.batch_size = batch_size
        self.function_timeout = function_timeout
        self.poll_interval = poll_interval
        self.sqs = aws.client("sqs")
        self.lambda_ = aws.client("lambda")
        self.scheduler = aws.client("scheduler")
        attributes = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
        self.queue_arn: str = attributes["QueueArn"]
        self.region = self.queue_arn.split(":")[3]
        self.polls: list[Poll] = []
        self.pauses = 0
        """Times the mapping was found disabled after being enabled."""
        self.resumes = 0
        """Resume schedules applied."""
        self._was_enabled = True
        self.uuid = self._create_mapping()

    # -- the mapping ---------------------------------------------------------------

    def _create_mapping(self) -> str:
        iam = self.aws.client("iam")
        role_name = f"{self.function_name}-role"
        try:
            role = iam.get_role(RoleName=role_name)["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            trust = {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
            role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        try:
            self.lambda_.get_function(FunctionName=self.function_name)
        except self.lambda_.exceptions.ResourceNotFoundException:
            code = io.BytesIO()
            with zipfile.ZipFile(code, "w") as archive:
                archive.writestr("handler.py", "def handler(event, context):\n    return None\n")
            self.lambda_.create_function(
                FunctionName=self.function_name,
                Runtime="python3.11",
                Role=role,
                Handler="handler.handler",
                Code={"ZipFile": code.getvalue()},
            )
        mapping = self.lambda_.create_event_source_mapping(
            FunctionName=self.function_name,
            EventSourceArn=self.queue_arn,
            BatchSize=self.batch_size,
            FunctionResponseTypes=["ReportBatchItemFailures"],
        )
        return str(mapping["UUID"])

    @property
    def enabled(self) -> bool:
        state = self.lambda_.get_event_source_mapping(UUID=self.uuid).get("State")
        return state in ("Enabled", "Enabling", "Updating")

    def fire_due_schedules(self, now: float | None = None) -> int:
        """Apply every one-time schedule whose time has come; the number applied."""
        moment = time.time() if now is None else now
        fired = 0
        for summary in self.scheduler.list_schedules().get("Schedules", []):
            schedule = self.scheduler.get_schedule(Name=summary["Name"], GroupName=summary.get("GroupName", "default"))
            due = _at_time(schedule.get("ScheduleExpression", ""))
            if due is None or due > moment or schedule.get("State") != "ENABLED":
                continue
            target = schedule["Target"]
            if target["Arn"] != RESUME_TARGET_ARN:
                raise AssertionError(f"the emulator runs only {RESUME_TARGET_ARN} schedules, got {target['Arn']}")
            request = json.loads(target["Input"])
            self.lambda_.update_event_source_mapping(UUID=request["Uuid"], Enabled=request["Enabled"])
            if schedule.get("ActionAfterCompletion") == "DELETE":
                self.scheduler.delete_schedule(Name=schedule["Name"], GroupName=schedule.get("GroupName", "default"))
            fired += 1
        self.resumes += fired
        return fired

    # -- polling -------------------------------------------------------------------

    def poll(self) -> Poll | None:
        """One poll of the mapping: ``None`` when it is disabled or the queue had nothing."""
        self.fire_due_schedules()
        enabled = self.enabled
        if self._was_enabled and not enabled:
            self.pauses += 1
        self._was_enabled = enabled
        if not enabled:
            return None
        answer = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(self.batch_size, 10),
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = answer.get("Messages", [])
        if not messages:
            return None
        records = [self.record(message) for message in messages]
        poll = Poll(
            received=[record["messageId"] for record in records],
            receive_counts={r["messageId"]: int(r["attributes"]["ApproximateReceiveCount"]) for r in records},
        )
        context = LambdaContext(function_name=self.function_name, timeout=self.function_timeout, region=self.region)
        poll.context, poll.started = context, time.monotonic()
        try:
            poll.response = self.handler({"Records": records}, context)
            failed = _failed_ids(poll.response, poll.received)
        except Exception as error:  # Lambda: a function error fails the whole batch
            poll.error = error
            failed = set(poll.received)
        poll.finished = time.monotonic()
        poll.failed = [message_id for message_id in poll.received if message_id in failed]
        done = [
            {"Id": str(number), "ReceiptHandle": message["ReceiptHandle"]}
            for number, message in enumerate(messages)
            if message["MessageId"] not in failed
        ]
        if done:
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=done)
        self.polls.append(poll)
        return poll

    def run(self, until: Callable[[], bool], *, timeout: float) -> None:
        """Poll until ``until()`` is true; fail the test after ``timeout`` seconds."""
        give_up = time.monotonic() + timeout
        while not until():
            if time.monotonic() > give_up:
                raise AssertionError(f"the emulated event source did not get there within {timeout} s")
            if self.poll() is None:
                time.sleep(self.poll_interval)

    def record(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """The Lambda SQS record for a received message (the local runtime's own shape)."""
        return sqs_record(message, self.queue_arn, self.region)


# The Lambda SQS record for a message ReceiveMessage returned (the local runtime's shape).
lambda_record = sqs_record


def _failed_ids(response: Any, received: list[str]) -> set[str]:
    """The ids a ReportBatchItemFailures response reports failed (the local runtime's rule)."""
    return sqs_failed_ids(response, None, received, True)


def _at_time(expression: str) -> float | None:
    if not (expression.startswith("at(") and expression.endswith(")")):
        return None
    return datetime.fromisoformat(expression[3:-1]).replace(tzinfo=UTC).timestamp()


# -- helpers the tests share ----------------------------------------------------------


@contextmanager
def local_endpoint(**environment: str) -> Iterator[LocalAws]:
    """A moto server on loopback, with the process environment pointing boto3 at it (plus
    ``environment``) for as long as the block runs.

    moto keeps its state per process, not per server: every server started in this test
    process sees the same queues, tables and mappings. So the state is reset when the
    block starts (nothing left over from other tests) and when it ends (nothing left for
    them)."""
    with local_aws() as local, pytest.MonkeyPatch.context() as patch:
        reset_moto(local.endpoint_url)
        try:
            for name, value in {**local.environment, **environment}.items():
                patch.setenv(name, value)
            # As in an account where template.yaml is deployed: resume schedules have a group of their own.
            group = environment.get(SCHEDULE_GROUP_ENV, DEFAULT_SCHEDULE_GROUP)
            local.client("scheduler").create_schedule_group(Name=group)
            yield local
        finally:
            reset_moto(local.endpoint_url)
            boto3.DEFAULT_SESSION = None  # drops any ApiCalls recorder with the session
            aws_clients.reset()  # msgworker's clients pointed at this server (and recorders on them)


def reset_moto(endpoint_url: str) -> None:
    """Empty every moto backend of this process (moto's own reset endpoint)."""
    request = urllib.request.Request(f"{endpoint_url}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=10) as answer:
        answer.read()


class ApiCalls:
    """Every AWS API call msgworker's clients (and boto3's default session's) make, as
    ``(service, operation, params)``: the real calls, observed on their way to the real
    (local) endpoint. Each recorder starts new sessions (msgworker's clients are made
    again); ``local_endpoint`` drops them when its block ends."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        boto3.setup_default_session()
        boto3.DEFAULT_SESSION.events.register("provide-client-params.*.*", self._record)
        aws_clients.reset()
        aws_clients.session().register("provide-client-params.*.*", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.service_model.service_name, model.name, dict(params)))

    def of(self, operation: str) -> list[dict[str, Any]]:
        return [params for _, name, params in self.calls if name == operation]

    def clear(self) -> None:
        self.calls.clear()


def open_circuit(
    reopens_in: float,
    *,
    pause_source: bool = False,
    name: str = "payments",
    is_open: Callable[[], bool] = lambda: True,
    reopens_at: float | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A per-record layer standing in for an open circuit breaker: while ``is_open()``, it
    rejects every record with ``CircuitOpenError`` (reopening ``reopens_in`` seconds from
    the call, or at ``reopens_at`` when given, as one real opening does), as
    ``circuit_breaker`` does, without the breaker's own state machine, so a test controls
    ``reopens_at`` exactly."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if is_open():
                raise CircuitOpenError(
                    f"circuit {name!r} is open",
                    name=name,
                    reopens_at=reopens_at if reopens_at is not None else time.time() + reopens_in,
                    pause_source=pause_source,
                )
            return function(*args, **kwargs)

        return wrapper

    return decorate


def log_lines(captured: str) -> list[dict[str, Any]]:
    """The JSON log lines msgworker's default logger wrote (pytest's captured stdout)."""
    lines = []
    for line in captured.splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    return lines


@dataclass(frozen=True)
class QueuePair:
    """A source queue and its dead-letter queue (a real RedrivePolicy between them)."""

    url: str
    arn: str
    dead_letter_url: str
    dead_letter_arn: str


def create_queue_pair(
    aws: LocalAws,
    name: str,
    *,
    visibility_timeout: int = 30,
    max_receive_count: int = 3,
    fifo: bool = False,
) -> QueuePair:
    """Create ``name`` with a dead-letter queue ``name-dlq`` after ``max_receive_count`` receives."""
    sqs = aws.client("sqs")
    suffix = ".fifo" if fifo else ""
    fifo_attributes = {"FifoQueue": "true"} if fifo else {}
    dead_letter_url = sqs.create_queue(QueueName=f"{name}-dlq{suffix}", Attributes=fifo_attributes)["QueueUrl"]
    dead_letter_arn = _arn(sqs, dead_letter_url)
    redrive = {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": str(max_receive_count)}
    attributes = {
        "VisibilityTimeout": str(visibility_timeout),
        "RedrivePolicy": json.dumps(redrive),
        **fifo_attributes,
    }
    if fifo:
        attributes["ContentBasedDeduplication"] = "true"
    url = sqs.create_queue(QueueName=f"{name}{suffix}", Attributes=attributes)["QueueUrl"]
    return QueuePair(url, _arn(sqs, url), dead_letter_url, dead_letter_arn)


def _arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def messages_in(aws: LocalAws, url: str) -> int:
    """Messages in a queue: visible, in flight and delayed (moto's counts are exact)."""
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    attributes = aws.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes.get(name, 0)) for name in names)


def drain(aws: LocalAws, url: str) -> list[dict[str, Any]]:
    """Receive every visible message of a queue (with all attributes), without deleting."""
    sqs = aws.client("sqs")
    found: list[dict[str, Any]] = []
    while True:
        answer = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            VisibilityTimeout=60,
        )
        batch = answer.get("Messages", [])
        if not batch:
            return found
        found.extend(batch)
