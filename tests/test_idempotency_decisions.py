"""The idempotency layer's rules with plain values: no store, no clock, no worker.

The behaviour they add up to is tested end to end in test_idempotency.py; here each rule
is pinned on its own, over arbitrary stored records and payload hashes."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from msgworker._redaction import key_digest
from msgworker.errors import (
    ConfigurationError,
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
    IdempotencyStoreError,
)
from msgworker.idempotency._cache import CompletedEntry
from msgworker.idempotency._decisions import (
    COMPLETION_FAILED,
    DUPLICATES,
    IN_PROGRESS_METRIC,
    LEASE_WITHOUT_LAMBDA,
    STORE_ERRORS,
    UNGUARDED,
    Entry,
    Outcome,
    Status,
    Step,
    claim_failed,
    claim_of,
    claimed,
    follow,
    judge,
    lease_end,
    needs_renewal,
    renewal_refused,
    store_failed,
    verdict,
)
from msgworker.idempotency._options import OnPayloadMismatch, OnStoreError, Options
from msgworker.idempotency._store import COMPLETED, IN_PROGRESS, StoredRecord

KEY = "charge#o-1"
hashes = st.sampled_from(["h1", "h2", "h3"])  # few values, so equal and different hashes both come up
seconds = st.floats(min_value=0, max_value=1e10, allow_nan=False)
results = st.none() | st.sampled_from(['{"charged":5}', "null", "[]"])
mismatch_policies = st.sampled_from(["error", "duplicate"])
stored_records = st.builds(
    StoredRecord,
    key=st.just(KEY),
    status=st.sampled_from([IN_PROGRESS, COMPLETED]),
    owner=st.none() | st.sampled_from(["a", "b"]),
    validation=st.none() | hashes,
    expiration=seconds,
    lease_expiration=st.none() | seconds,
    result=results,
)
cached_entries = st.builds(CompletedEntry, validation=st.none() | hashes, result=results, expiration=seconds)


def same(one: Outcome, other: Outcome) -> bool:
    """Equal outcomes, errors compared by type and message (exceptions compare by identity)."""
    return (one.status, one.result, one.stored, type(one.error), str(one.error)) == (
        other.status,
        other.result,
        other.stored,
        type(other.error),
        str(other.error),
    )


# -- judging an existing record -------------------------------------------------------------------


@given(stored=stored_records | cached_entries, validation=hashes, on_payload_mismatch=mismatch_policies)
def test_an_existing_record_is_exactly_one_of_duplicate_in_progress_or_reused(
    stored: StoredRecord | CompletedEntry, validation: str, on_payload_mismatch: OnPayloadMismatch
) -> None:
    outcome = judge(KEY, stored, validation, on_payload_mismatch)
    reused = stored.validation is not None and stored.validation != validation and on_payload_mismatch == "error"
    completed = isinstance(stored, CompletedEntry) or stored.status == COMPLETED
    expected = Status.REUSED if reused else Status.DUPLICATE if completed else Status.IN_PROGRESS
    assert outcome.status is expected
    assert outcome.stored is stored  # a later record of the same key in the batch is judged against it too
    if outcome.status is Status.DUPLICATE:
        assert outcome.error is None and outcome.result == stored.result
    else:
        error_type = IdempotencyKeyReusedError if reused else IdempotencyInProgressError
        assert type(outcome.error) is error_type and outcome.result is None
        assert key_digest(KEY) in str(outcome.error) and KEY not in str(outcome.error)  # payload-derived


def test_in_progress_says_until_when_the_lease_holds() -> None:
    stored = StoredRecord(KEY, IN_PROGRESS, "other", "h1", expiration=5000.0, lease_expiration=1234.5)
    assert "until 1234.500 (epoch seconds)" in str(judge(KEY, stored, "h1", "error").error)


def test_a_record_stored_without_a_hash_is_never_a_reused_key() -> None:
    stored = StoredRecord(KEY, COMPLETED, None, None, expiration=5000.0, result="1")
    outcome = judge(KEY, stored, "h1", "error")
    assert (outcome.status, outcome.result) == (Status.DUPLICATE, "1")


@given(stored=st.none() | stored_records, validation=hashes, on_payload_mismatch=mismatch_policies)
def test_a_claims_answer_is_ours_only_when_nothing_was_in_the_way(
    stored: StoredRecord | None, validation: str, on_payload_mismatch: OnPayloadMismatch
) -> None:
    outcome = claimed(KEY, validation, stored, on_payload_mismatch)
    assert (outcome.status is Status.CLAIMED) == (stored is None)
    if stored is not None:
        assert same(outcome, judge(KEY, stored, validation, on_payload_mismatch))


# -- a key repeated within one batch ------------------------------------------------------------


@given(stored=stored_records | cached_entries, first_hash=hashes, validation=hashes, policy=mismatch_policies)
def test_a_repeat_of_a_key_that_met_a_stored_record_is_judged_against_it(
    stored: StoredRecord | CompletedEntry, first_hash: str, validation: str, policy: OnPayloadMismatch
) -> None:
    first = Entry(0, KEY, first_hash)
    first.adopt(judge(KEY, stored, first_hash, policy))
    assert same(follow(KEY, validation, first, policy), judge(KEY, stored, validation, policy))


@pytest.mark.parametrize("status", [Status.CLAIMED, Status.RUNNING, Status.FAILED, Status.RELEASED])
def test_a_repeat_of_a_key_whose_first_record_has_not_completed_is_in_progress(status: Status) -> None:
    outcome = follow(KEY, "h1", Entry(0, KEY, "h1", status=status), "error")
    assert outcome.status is Status.IN_PROGRESS and isinstance(outcome.error, IdempotencyInProgressError)
    assert "earlier record of this batch" in str(outcome.error)


def test_a_repeat_of_a_completed_key_is_a_duplicate_returning_its_result() -> None:
    first = Entry(0, KEY, "h1", status=Status.COMPLETED, result='{"charged":5}')
    outcome = follow(KEY, "h1", first, "error")
    assert (outcome.status, outcome.result, outcome.error) == (Status.DUPLICATE, '{"charged":5}', None)


@pytest.mark.parametrize("status", [Status.COMPLETED, Status.RUNNING])
def test_a_repeat_with_another_payload_is_a_reused_key_unless_told_otherwise(status: Status) -> None:
    first = Entry(0, KEY, "h1", status=status, result="1")
    assert follow(KEY, "h2", first, "error").status is Status.REUSED
    expected = Status.DUPLICATE if status is Status.COMPLETED else Status.IN_PROGRESS
    assert follow(KEY, "h2", first, "duplicate").status is expected


def test_a_repeat_shares_its_first_records_store_failure() -> None:
    error = IdempotencyStoreError("down")
    outcome = follow(KEY, "h2", Entry(0, KEY, "h1", status=Status.STORE_ERROR, error=error), "error")
    assert (outcome.status, outcome.error) == (Status.STORE_ERROR, error)


# -- failed store calls ------------------------------------------------------------------------------


def test_a_failed_claim_is_a_store_error_caused_by_the_original() -> None:
    original = TimeoutError("read timeout")
    outcome = claim_failed("charge", original)
    assert outcome.status is Status.STORE_ERROR and isinstance(outcome.error, IdempotencyStoreError)
    assert outcome.error.__cause__ is original and "'charge'" in str(outcome.error)
    already = IdempotencyStoreError("throttled")
    assert store_failed("charge", already).error is already


def test_a_claim_that_kept_changing_hands_is_in_progress() -> None:
    error = IdempotencyInProgressError("changed hands three times")
    assert claim_failed("charge", error).status is Status.IN_PROGRESS
    assert claim_failed("charge", error).error is error


def test_a_refused_renewal_is_in_progress() -> None:
    outcome = renewal_refused(KEY)
    assert outcome.status is Status.IN_PROGRESS and "lapsed" in str(outcome.error)


# -- what a record that will not run turns into -------------------------------------------------------


verdict_cases = st.sampled_from(
    [
        (Status.DUPLICATE, None),
        (Status.IN_PROGRESS, IdempotencyInProgressError("held")),
        (Status.REUSED, IdempotencyKeyReusedError("reused")),
        (Status.STORE_ERROR, IdempotencyStoreError("down")),
        (Status.STORE_ERROR, ConfigurationError("no table")),
        (Status.KEY_ERROR, KeyError("order_id")),
    ]
)


@given(case=verdict_cases, on_store_error=st.sampled_from(["fail", "run"]))
def test_only_a_reachable_store_outage_with_run_runs_unguarded_and_only_duplicates_return(
    case: tuple[Status, BaseException | None], on_store_error: OnStoreError
) -> None:
    status, error = case
    decided = verdict(status, error, on_store_error)
    outage = status is Status.STORE_ERROR and not isinstance(error, ConfigurationError)
    if status is Status.DUPLICATE:
        assert decided.step is Step.RETURN and decided.metrics == (DUPLICATES,)
    elif outage and on_store_error == "run":
        assert decided.step is Step.RUN_UNGUARDED and decided.metrics == (STORE_ERRORS, UNGUARDED)
    else:
        assert decided.step is Step.RAISE
        expected = (STORE_ERRORS,) if outage else (IN_PROGRESS_METRIC,) if status is Status.IN_PROGRESS else ()
        assert decided.metrics == expected
    assert COMPLETION_FAILED not in decided.metrics  # counted only by a write, never by a verdict


# -- leases and claims ----------------------------------------------------------------------------


@given(now=seconds, lease=st.none() | st.floats(min_value=0.001, max_value=1e6), lambda_end=st.just(math.inf) | seconds)
def test_a_lease_never_outlives_the_lambda(now: float, lease: float | None, lambda_end: float) -> None:
    end = lease_end(now, lease, lambda_end)
    assert end <= lambda_end
    assert end == min(now + (lease if lease is not None else LEASE_WITHOUT_LAMBDA), lambda_end)


@given(lease_expiration=seconds, now=seconds, lease=st.none() | st.floats(min_value=0.001, max_value=1e6))
def test_a_claim_renews_only_with_a_configured_lease_half_gone(
    lease_expiration: float, now: float, lease: float | None
) -> None:
    renew = needs_renewal(lease_expiration, now, lease)
    assert renew == (lease is not None and lease_expiration - now < lease / 2)


@given(now=seconds, ttl=st.floats(min_value=0.001, max_value=1e7), lease_expiration=seconds)
def test_a_claim_outlives_its_lease_so_ttl_never_removes_a_live_claim(
    now: float, ttl: float, lease_expiration: float
) -> None:
    claim = claim_of(Entry(0, KEY, "h1", owner="me", lease_expiration=lease_expiration), now, ttl)
    assert (claim.key, claim.owner, claim.validation, claim.lease_expiration) == (KEY, "me", "h1", lease_expiration)
    assert claim.expiration >= lease_expiration and claim.expiration >= now + ttl


# -- options ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"ttl": 0}, "ttl"),
        ({"ttl": math.nan}, "ttl"),
        ({"ttl": math.inf}, "ttl"),
        ({"ttl": True}, "ttl"),
        ({"lease": -1}, "lease"),
        ({"on_payload_mismatch": "ignore"}, "on_payload_mismatch"),
        ({"on_store_error": "retry"}, "on_store_error"),
        ({"name": ""}, "name"),
        ({"name": "a#b"}, "name"),
        ({"cache_size": -1}, "cache_size"),
        ({"cache_size": 1.5}, "cache_size"),
    ],
)
def test_a_bad_option_is_a_value_error_naming_it(options: dict[str, object], named: str) -> None:
    with pytest.raises(ValueError, match=rf"^idempotent\({named}=\.\.\.\) must be "):
        Options(**options)  # type: ignore[arg-type]


def test_options_default_to_what_idempotent_documents() -> None:
    assert Options() == Options(
        name=None,
        ttl=3600,
        lease=None,
        store_result=False,
        on_payload_mismatch="error",
        on_store_error="fail",
        cache_size=1024,
    )
