"""Redelivery backoff and open-circuit visibility for failed SQS records.

The delays are checked as values (a hypothesis property over receive counts) and on a real
queue (moto's server): the message is not receivable before its delay and is afterwards,
and the ChangeMessageVisibilityBatch requests msgworker sends are observed on their way
to the endpoint.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any, TypeVar

import pytest
from esm_emulator import (
    ApiCalls,
    EventSourceMappingEmulator,
    create_queue_pair,
    local_endpoint,
    log_lines,
    open_circuit,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from msgworker import _aws_clients as aws_clients
from msgworker import retry, worker
from msgworker._layers import Invocation
from msgworker.errors import CircuitOpenError, ConfigurationError, NotStartedError, PermanentError
from msgworker.failure_actions import MAX_VISIBILITY_TIMEOUT, RedeliveryBackoff, failure_actions
from msgworker.failure_actions._redelivery import VISIBILITY_LIMIT, visibility_seconds
from msgworker.sources import detect
from msgworker.testing import LambdaContext, LocalAws, sns_event, sqs_event

T = TypeVar("T")

# ---------------------------------------------------------------------------------------
# The backoff as values
# ---------------------------------------------------------------------------------------

bases = st.floats(min_value=0.1, max_value=600)
factors = st.floats(min_value=1.0, max_value=10)
caps = st.floats(min_value=600, max_value=MAX_VISIBILITY_TIMEOUT)
counts = st.integers(min_value=1, max_value=100_000)


@given(base=bases, factor=factors, cap=caps, count=counts)
def test_delays_are_exponential_capped_and_jitter_never_shortens_them(
    base: float, factor: float, cap: float, count: int
) -> None:
    plain = RedeliveryBackoff(base=base, factor=factor, cap=cap, jitter=False)
    jittered = RedeliveryBackoff(base=base, factor=factor, cap=cap, jitter=True)
    # In log space, so that huge receive counts do not overflow a float.
    expected = min(cap, base * math.exp(min((count - 1) * math.log(factor), 700.0)))
    assert plain(count) == pytest.approx(expected, rel=1e-9)
    delay = jittered(count)
    # Jitter spreads upwards only (so the receive-count budget still holds) and never past the cap.
    assert plain(count) * (1 - 1e-9) <= delay <= min(cap, plain(count) * 1.5) * (1 + 1e-9)
    assert 0 <= visibility_seconds(delay) <= VISIBILITY_LIMIT


@given(base=bases, factor=factors, cap=caps, count=st.integers(min_value=1, max_value=1_000))
def test_delays_never_shrink_as_the_receive_count_grows(base: float, factor: float, cap: float, count: int) -> None:
    backoff = RedeliveryBackoff(base=base, factor=factor, cap=cap, jitter=False)
    assert backoff(count) <= backoff(count + 1) <= cap


@settings(max_examples=50)
@given(count=st.integers(min_value=1, max_value=12))
def test_the_default_backoff_doubles_from_two_seconds_up_to_fifteen_minutes(count: int) -> None:
    delay = RedeliveryBackoff()(count)
    step = min(900.0, 2.0 * 2 ** (count - 1))
    assert step <= delay <= min(900.0, step * 1.5)


def test_jitter_spreads_records_that_failed_together() -> None:
    delays = {RedeliveryBackoff(base=10)(3) for _ in range(50)}
    assert len(delays) > 40
    assert all(40 <= delay <= 60 for delay in delays)


def test_visibility_is_whole_seconds_within_what_sqs_allows() -> None:
    assert visibility_seconds(2.1) == 3
    assert visibility_seconds(-5) == 0
    assert visibility_seconds(math.inf) == VISIBILITY_LIMIT
    assert visibility_seconds(10**9) == VISIBILITY_LIMIT
    assert VISIBILITY_LIMIT < MAX_VISIBILITY_TIMEOUT


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"base": 0}, "base must be a positive number"),
        ({"factor": 0.5}, "factor must be at least 1"),
        ({"cap": 50_000}, "at most 12 hours"),
        ({"base": 10, "cap": 5}, "cap must be between base"),
    ],
)
def test_impossible_backoffs_are_refused_with_the_reason(options: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RedeliveryBackoff(**options)


def test_redelivery_option_forms() -> None:
    def fixed(count: int) -> float:
        return 30

    for option in (None, False, True, RedeliveryBackoff(base=5), fixed):
        failure_actions(redelivery=option)  # accepted
    with pytest.raises(ConfigurationError, match=r"worker\(redelivery=...\) takes True, a RedeliveryBackoff"):
        failure_actions(redelivery="fast")
    with pytest.raises(ConfigurationError, match="redelivery"):
        worker(redelivery=5)(lambda payload: None)


# ---------------------------------------------------------------------------------------
# On a real queue
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    with local_endpoint() as local:
        yield local


@pytest.fixture
def calls(aws: LocalAws) -> ApiCalls:
    return ApiCalls()


def queue_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def timed(call: Callable[[], T]) -> tuple[T, float]:
    """``call()``'s result and the wall-clock seconds it took."""
    before = time.time()
    result = call()
    return result, time.time() - before


def until_reopening(reopens_in: float, spent: float) -> range:
    """The visibility timeouts (whole seconds, at least 1) that keep a record away until a circuit
    reopening ``reopens_in`` seconds after some moment in a call lasting ``spent`` seconds: exact
    bounds for however long the call took, so no window on elapsed time is assumed."""
    return range(max(1, math.ceil(reopens_in - spent)), math.ceil(reopens_in) + 1)


def receive(aws: LocalAws, url: str, *, visibility: int | None = None) -> list[dict[str, Any]]:
    options: dict[str, Any] = {"VisibilityTimeout": visibility} if visibility is not None else {}
    answer = aws.client("sqs").receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"], **options
    )
    return list(answer.get("Messages", []))


def test_a_failed_record_is_not_redelivered_before_its_backoff_and_is_after(aws: LocalAws) -> None:
    queue = create_queue_pair(aws, queue_name("backoff"), visibility_timeout=1, max_receive_count=5)
    aws.client("sqs").send_message(QueueUrl=queue.url, MessageBody='{"order_id": "o-1"}')

    @worker(metrics=False, redelivery=RedeliveryBackoff(base=5, jitter=False))
    def handler(order: dict[str, Any]) -> None:
        raise ConnectionError("payments API unreachable")

    emulator = EventSourceMappingEmulator(aws, handler, queue_url=queue.url, function_name=queue_name("fn"))
    poll = emulator.poll()
    assert poll is not None and poll.failed == poll.received

    # The queue's own visibility timeout (1 s) has passed: without the backoff it would be back.
    time.sleep(1.5)
    assert receive(aws, queue.url) == []
    emulator.run(lambda: len(emulator.polls) == 2, timeout=15)
    assert emulator.polls[1].received == poll.received
    assert emulator.polls[1].receive_counts == {poll.received[0]: 2}


def test_the_visibility_follows_each_records_receive_count(aws: LocalAws, calls: ApiCalls) -> None:
    queue = create_queue_pair(aws, queue_name("counts"), visibility_timeout=30)
    sqs = aws.client("sqs")
    for number in range(6):
        sqs.send_message(QueueUrl=queue.url, MessageBody=json.dumps({"n": number}))
    messages = receive(aws, queue.url)
    assert len(messages) == 6
    emulator = EventSourceMappingEmulator(aws, lambda event, context: None, queue_url=queue.url)
    records = [emulator.record(message) for message in messages]
    for count, record in enumerate(records, start=1):
        record["attributes"]["ApproximateReceiveCount"] = str(count)
    backoff = RedeliveryBackoff(base=3, factor=3, cap=200, jitter=False)

    @worker(metrics=False, redelivery=backoff)
    def handler(payload: dict[str, Any]) -> None:
        raise ConnectionError("down")

    calls.clear()
    response = handler({"Records": records}, LambdaContext(function_name="counts"))

    assert len(response["batchItemFailures"]) == 6
    [request] = calls.of("ChangeMessageVisibilityBatch")
    timeouts = {entry["ReceiptHandle"]: entry["VisibilityTimeout"] for entry in request["Entries"]}
    assert [timeouts[record["receiptHandle"]] for record in records] == [3, 9, 27, 81, 200, 200]


def test_more_than_ten_failures_go_in_calls_of_ten(aws: LocalAws, calls: ApiCalls) -> None:
    queue = create_queue_pair(aws, queue_name("many"), visibility_timeout=30)
    sqs = aws.client("sqs")
    for start in range(0, 25, 10):
        sqs.send_message_batch(
            QueueUrl=queue.url,
            Entries=[{"Id": str(n), "MessageBody": str(n)} for n in range(start, min(start + 10, 25))],
        )
    emulator = EventSourceMappingEmulator(aws, lambda event, context: None, queue_url=queue.url)
    records = [emulator.record(message) for _ in range(3) for message in receive(aws, queue.url)]
    assert len(records) == 25

    @worker(metrics=True, redelivery=RedeliveryBackoff(jitter=False))
    def handler(payload: Any) -> None:
        raise ConnectionError("down")

    calls.clear()
    response = handler({"Records": records}, LambdaContext())  # run() takes no failure actions
    assert response is not None and len(response["batchItemFailures"]) == 25
    sizes = [len(request["Entries"]) for request in calls.of("ChangeMessageVisibilityBatch")]
    assert sorted(sizes) == [5, 10, 10]


def test_an_open_circuit_keeps_its_records_invisible_until_it_may_close(aws: LocalAws, calls: ApiCalls) -> None:
    queue = create_queue_pair(aws, queue_name("circuit"), visibility_timeout=1)
    aws.client("sqs").send_message(QueueUrl=queue.url, MessageBody='{"order_id": "o-1"}')
    opens_for = 6.0

    @worker(metrics=False)  # no redelivery option: the open-circuit visibility comes with the layer
    @open_circuit(opens_for)
    def handler(order: dict[str, Any]) -> None:
        pass

    emulator = EventSourceMappingEmulator(aws, handler, queue_url=queue.url, function_name=queue_name("fn"))
    calls.clear()
    poll, spent = timed(emulator.poll)
    assert poll is not None and poll.failed == poll.received

    [request] = calls.of("ChangeMessageVisibilityBatch")
    [entry] = request["Entries"]
    assert entry["VisibilityTimeout"] in until_reopening(opens_for, spent)
    time.sleep(1.5)
    assert receive(aws, queue.url) == []  # the queue's 1 s would have brought it back


def test_a_circuit_open_in_a_helper_of_a_plain_worker_still_keeps_its_records_invisible(
    aws: LocalAws, calls: ApiCalls
) -> None:
    queue = create_queue_pair(aws, queue_name("helper-circuit"), visibility_timeout=1)
    aws.client("sqs").send_message(QueueUrl=queue.url, MessageBody='{"order_id": "o-1"}')
    opens_for = 6.0

    @open_circuit(opens_for)
    def charge(order: dict[str, Any]) -> None:
        pass

    @worker(metrics=False)  # no layer and no option: the plain path, until a record fails
    def handler(order: dict[str, Any]) -> None:
        charge(order)

    emulator = EventSourceMappingEmulator(aws, handler, queue_url=queue.url, function_name=queue_name("fn"))
    calls.clear()
    poll, spent = timed(emulator.poll)
    assert poll is not None and poll.failed == poll.received

    [request] = calls.of("ChangeMessageVisibilityBatch")
    [entry] = request["Entries"]
    assert entry["VisibilityTimeout"] in until_reopening(opens_for, spent)


def test_an_open_circuit_waits_for_the_longer_of_reopening_and_the_backoff(aws: LocalAws, calls: ApiCalls) -> None:
    queue = create_queue_pair(aws, queue_name("longer"), visibility_timeout=30)
    aws.client("sqs").send_message(QueueUrl=queue.url, MessageBody="{}")
    emulator = EventSourceMappingEmulator(aws, lambda event, context: None, queue_url=queue.url)
    records = [emulator.record(message) for message in receive(aws, queue.url)]
    records[0]["attributes"]["ApproximateReceiveCount"] = "4"
    source, _ = detect({"Records": records}, "auto")

    def visibility(redelivery: object, reopens_in: float) -> tuple[int, float]:
        actions = failure_actions(redelivery=redelivery)
        calls.clear()

        def apply() -> dict[int, BaseException]:
            failures = {0: CircuitOpenError("open", name="payments", reopens_at=time.time() + reopens_in)}
            remaining = actions.apply(Invocation(source, records=records), failures)
            assert remaining == failures, "visibility resolves nothing: the record stays failed"
            return remaining

        _, spent = timed(apply)
        [request] = calls.of("ChangeMessageVisibilityBatch")
        return int(request["Entries"][0]["VisibilityTimeout"]), spent

    backoff = RedeliveryBackoff(base=10, jitter=False)
    assert visibility(backoff, 2)[0] == 80  # the backoff (10 x 2^3) is the longer
    later, spent = visibility(backoff, 500)
    assert later in until_reopening(500, spent)
    soon, spent = visibility(None, 2)
    assert soon in until_reopening(2, spent)


def test_records_that_never_started_keep_the_queues_visibility(aws: LocalAws, calls: ApiCalls) -> None:
    queue = create_queue_pair(aws, queue_name("unstarted"), visibility_timeout=30)
    aws.client("sqs").send_message(QueueUrl=queue.url, MessageBody="{}")
    emulator = EventSourceMappingEmulator(aws, lambda event, context: None, queue_url=queue.url)
    [record] = [emulator.record(message) for message in receive(aws, queue.url)]

    @worker(metrics=False, redelivery=True)
    def handler(payload: Any) -> None:
        raise NotStartedError("deadline", reason="deadline")

    calls.clear()
    response = handler({"Records": [record]}, LambdaContext())
    assert response == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert calls.of("ChangeMessageVisibilityBatch") == []


def test_without_a_redelivery_option_ordinary_failures_keep_the_queues_visibility(
    aws: LocalAws, calls: ApiCalls
) -> None:
    @worker(metrics=False)
    def handler(payload: Any) -> None:
        raise PermanentError("bad")

    calls.clear()
    response = handler(sqs_event(["{}"], queue="anything"), LambdaContext())
    assert len(response["batchItemFailures"]) == 1
    assert calls.calls == []


def test_other_sources_make_no_calls(aws: LocalAws, calls: ApiCalls) -> None:
    @worker(metrics=False, redelivery=True)
    def handler(payload: Any) -> None:
        raise CircuitOpenError("open", name="payments", reopens_at=time.time() + 60)

    calls.clear()
    with pytest.raises(CircuitOpenError):
        handler(sns_event(["{}"]), LambdaContext())
    assert calls.calls == []


def test_a_failed_change_leaves_the_record_failed_and_warns_once_per_container(
    aws: LocalAws, calls: ApiCalls, capsys: pytest.CaptureFixture[str]
) -> None:
    queue = create_queue_pair(aws, queue_name("rejected"), visibility_timeout=30)
    name = queue.arn.rsplit(":", 1)[1]

    @worker(metrics=True, redelivery=True)
    def handler(payload: Any) -> None:
        raise ConnectionError("down")

    capsys.readouterr()
    for _ in range(3):
        # Receipt handles SQS never issued: every entry of the batch call fails.
        response = handler(sqs_event(["{}", "{}"], queue=name), LambdaContext())
        assert response is not None and len(response["batchItemFailures"]) == 2
    assert len(calls.of("ChangeMessageVisibilityBatch")) == 3
    warnings = [line for line in log_lines(capsys.readouterr().out) if "visibility timeout" in line.get("message", "")]
    assert len(warnings) == 1
    assert warnings[0]["level"] == "WARNING"
    assert "ReceiptHandleIsInvalid" in warnings[0]["message"]
    # Not a permission problem, so no advice to grant one.
    assert "allow sqs:ChangeMessageVisibility" not in warnings[0]["message"]


def test_a_denied_change_says_which_permission_to_grant(aws: LocalAws, capsys: pytest.CaptureFixture[str]) -> None:
    # moto does not enforce IAM: a before-call hook answers as SQS does for a role without
    # the permission (403 AccessDenied).
    queue = create_queue_pair(aws, queue_name("denied"), visibility_timeout=30)
    name = queue.arn.rsplit(":", 1)[1]

    def deny(model: Any, **_: Any) -> Any:
        if model.name == "ChangeMessageVisibilityBatch":
            error = {"Code": "AccessDenied", "Message": "not authorized to perform sqs:ChangeMessageVisibility"}
            return SimpleNamespace(status_code=403), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 403}}
        return None

    aws_clients.reset()
    aws_clients.session().register("before-call.sqs", deny)

    @worker(redelivery=True)
    def handler(payload: Any) -> None:
        raise ConnectionError("down")

    capsys.readouterr()
    handler(sqs_event(["{}"], queue=name), LambdaContext())
    warnings = [line for line in log_lines(capsys.readouterr().out) if "visibility timeout" in line.get("message", "")]
    assert len(warnings) == 1
    assert "(AccessDenied): allow sqs:ChangeMessageVisibility on the queue" in warnings[0]["message"]


def test_an_unreachable_endpoint_leaves_the_record_failed_and_warns_once(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A port nothing listens on: every SQS call fails to connect (as a denied or broken
    # network path would), and the batch's outcome must not change.
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:9")

    @worker(metrics=False, redelivery=True)
    def handler(payload: Any) -> None:
        raise ConnectionError("down")

    capsys.readouterr()
    for _ in range(2):
        response = handler(sqs_event(["{}"], queue="orders"), LambdaContext())
        assert len(response["batchItemFailures"]) == 1
    warnings = [line for line in log_lines(capsys.readouterr().out) if "visibility timeout" in line["message"]]
    assert len(warnings) == 1


def test_retry_under_the_emulator_never_runs_past_the_lambda_deadline(aws: LocalAws) -> None:
    queue = create_queue_pair(aws, queue_name("deadline"), visibility_timeout=30)
    aws.client("sqs").send_message(QueueUrl=queue.url, MessageBody='{"order_id": "o-1"}')
    attempts: list[float] = []
    margin = 1.0

    @worker(metrics=False, redelivery=True, timeout_margin=margin)
    @retry(attempts=1_000, on=(ConnectionError,), initial=0.2, maximum=0.2, jitter=False)
    def handler(order: dict[str, Any]) -> None:
        attempts.append(time.monotonic())
        raise ConnectionError("payments API unreachable")

    emulator = EventSourceMappingEmulator(
        aws, handler, queue_url=queue.url, function_name=queue_name("fn"), function_timeout=3.0
    )
    poll = emulator.poll()

    assert poll is not None and poll.error is None and poll.failed == poll.received
    assert len(attempts) > 1, "it did retry"
    lambda_ends = poll.started + 3.0
    assert max(attempts) < lambda_ends - margin, "no attempt started past the deadline"
    assert poll.finished < lambda_ends, "the invocation returned within the Lambda's time"
