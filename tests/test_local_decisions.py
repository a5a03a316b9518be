"""The local runtime's pure decisions (msgworker.local._decisions), as properties."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from msgworker.local import load_topology
from msgworker.local._decisions import async_next, sqs_failed_ids, stream_step

ids = st.lists(st.uuids().map(str), min_size=1, max_size=10, unique=True)


@given(ids, st.data(), st.booleans())
def test_an_sqs_batch_keeps_exactly_the_reported_records(
    received: list[str], data: st.DataObject, report: bool
) -> None:
    failed = data.draw(st.lists(st.sampled_from(received), unique=True))
    response = {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}
    kept = sqs_failed_ids(response, None, received, report)
    assert kept == (set(failed) if report else set())
    assert sqs_failed_ids(response, RuntimeError(), received, report) == set(received)


@given(ids)
def test_an_unknown_or_empty_identifier_fails_the_whole_batch(received: list[str]) -> None:
    for bad in ({"itemIdentifier": "not-in-the-batch"}, {"itemIdentifier": ""}, {}):
        assert sqs_failed_ids({"batchItemFailures": [bad]}, None, received, True) == set(received)


@given(st.integers(1, 50), st.integers(0, 5), st.booleans())
def test_a_failing_stream_record_is_given_up_after_the_retries_and_nothing_is_lost(
    n: int, max_retries: int, bisect: bool
) -> None:
    """Replay a shard whose first record always fails: every record ends either done or
    given up, the poison one after exactly max_retries retries of a batch holding it alone
    or at the front."""
    pending, limit, attempts = list(range(n)), None, 0
    done, given_up = [], []
    for _ in range(1000):
        if not pending:
            break
        batch = pending[: limit or 10]
        failed_at = 0 if batch[0] == 0 else None
        step = stream_step(
            len(batch),
            failed_at,
            attempts=attempts,
            max_retries=max_retries,
            bisect=bisect,
            expired=False,
            partial=False,
        )
        assert step.done + step.give_up <= len(batch)
        done += batch[: step.done]
        given_up += batch[step.done : step.done + step.give_up]
        pending = pending[step.done + step.give_up :]
        limit, attempts = step.next_limit, step.attempts
    assert not pending
    assert sorted(done + given_up) == list(range(n))
    assert 0 in given_up
    if bisect:
        assert given_up == [0]  # split down to the poison record alone


@given(st.integers(0, 2), st.integers(1, 4))
def test_asynchronous_retries_stop_after_maximum_retry_attempts(max_retries: int, attempt: int) -> None:
    verdict = async_next(attempt, 0.0, max_retries=max_retries, max_event_age=21600)
    assert verdict[0] == ("retry" if attempt <= max_retries else "give_up")


def test_the_example_template_reads_as_its_topology() -> None:
    topology = load_topology("template.yaml", {"MaxReceiveCount": 2})
    assert topology.queues["OrdersQueue"].max_receive_count == 2
    assert topology.queues["OrdersFifoQueue"].fifo
    mappings = {m.name: m for m in topology.sqs_mappings}
    assert mappings["OrdersFunction.OrdersQueueEvent"].batch_size == 20
    assert mappings["HighValueOrdersFunction.HighValueOrdersQueueEvent"].max_concurrency == 2
    assert {m.kind for m in topology.stream_mappings} == {"kinesis", "dynamodb"}
    assert {(s.protocol, s.target) for s in topology.subscriptions} == {
        ("sqs", "NotificationsQueue"),
        ("lambda", "NotificationsFunction"),
    }
    rules = {rule.name: rule for rule in topology.rules}
    assert rules["HighValueOrdersRule"].pattern.matches(
        {"source": "com.example.orders", "detail-type": "OrderPlaced", "detail": {"total": 1000}}
    )
    assert (
        topology.functions["NotificationsFunction"].async_config.dead_letter == "NotificationsFunctionDeadLetterQueue"
    )
