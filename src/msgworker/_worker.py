"""``worker``: turn a record function into a Lambda handler for a batch of records."""

from __future__ import annotations

import functools
import inspect
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict, Unpack, overload

from ._checks import flag, seconds, whole
from ._claim_check import Claims, delete_payloads, fetch_claims, find_claims
from ._layers import Batch, Clock, Invocation, Item, _invocation, find_layers, innermost, is_async, positional_arity
from ._message import Message
from ._observability import LoggerLike, MetricsLike, Observer
from ._outcome import BatchResult, RecordFailure
from ._parsing import make_parser
from ._pipeline import Failures, Step, parsed, run_chain, run_chain_async
from ._redaction import describe, traceback_text
from ._scheduling import AsyncRunner, ThreadRunner
from .errors import PermanentError
from .sources import Record, Source, check_envelope, detect

if TYPE_CHECKING:  # imported when first needed: a plain worker whose batches succeed never loads them
    from .failure_actions import FailureActions

DEFAULT_TIMEOUT_MARGIN = 1.0
"""Seconds of Lambda time kept free: no record starts with less than this remaining."""

NO_DEADLINE = math.inf
"""The deadline when there is no Lambda context (a direct call in a test or script)."""

RecordFunction = Callable[..., Any]
Plan = Callable[[Sequence[Record], float], Failures]
Counts = Mapping[str, int]


class Worker:
    """A Lambda handler ``(event, context)`` built from a record function by :func:`worker`.

    ``record_function`` is the user's own function, under every per-record decorator,
    for unit tests; ``__wrapped__`` is the decorated chain. :meth:`run` returns the
    detailed :class:`~msgworker._outcome.BatchResult` instead of the Lambda response.
    """

    def __init__(
        self,
        function: RecordFunction,
        *,
        model: Any,
        concurrency: int,
        envelope: str,
        timeout_margin: float,
        logger: LoggerLike | None,
        metrics: MetricsLike | bool | None,
        log_payload: bool,
        redelivery: Any = None,
        dead_letter: Any = None,
        clock: Clock = time.monotonic,
        delete_payload: bool = False,
        value_deserializer: Callable[[Any], Any] | None = None,
    ):
        whole("worker", "concurrency", concurrency, minimum=1, meaning="records run at once")
        seconds("worker", "timeout_margin", timeout_margin, zero=True)
        flag("worker", "log_payload", log_payload)
        flag("worker", "delete_payload", delete_payload)
        self._function = function
        self.record_function = innermost(function)
        self.model = model
        self.concurrency = concurrency
        self.envelope = check_envelope(envelope)
        self.timeout_margin = timeout_margin
        self._clock = clock
        self.delete_payload = delete_payload
        self._parser = make_parser(model, include_input=log_payload, deserializer=value_deserializer)
        self._log_payload = log_payload
        # Batch hooks run in the wrappers' order: prepare outermost first (an open circuit
        # outside @idempotent stops the batch before any claim), finish innermost first.
        layers = find_layers(function)
        for layer in layers:  # the model is known now: an option that cannot work on it fails here, at import
            check_model = getattr(layer, "check_model", None)
            if check_model is not None:
                check_model(model)
        self._prepare = [layer.prepare for layer in layers if hasattr(layer, "prepare")]
        self._finish = [layer.finish for layer in reversed(layers) if hasattr(layer, "finish")]
        self._logger = logger
        # Without options, built on the first failed batch (they then act only on an open circuit).
        self._failure_actions: FailureActions | None = None
        if redelivery is not None or dead_letter is not None:
            self._failure_actions = _actions(redelivery=redelivery, dead_letter=dead_letter, logger=logger)
        self._wants_message = wants_message(function)
        self._is_async = is_async(function)
        self._threads = ThreadRunner(concurrency) if concurrency > 1 and not self._is_async else None
        self._async = AsyncRunner(concurrency) if self._is_async else None
        self._plans: dict[Source, Plan] = {}
        self._steps: dict[Source, Step] = {}
        self._observer = Observer(logger=logger, metrics=metrics, log_payload=log_payload)
        functools.update_wrapper(self, function)

    def __call__(self, event: Any, context: Any = None) -> dict[str, Any] | None:
        source, records, failures, counts = self._execute(event, context, act=True)
        if source is None:
            return {"batchItemFailures": []}
        if not failures and self._observer.quiet_on_success:
            # The common case, answered without building a BatchResult: nothing to log
            # and no metrics to emit.
            return {"batchItemFailures": []} if source.partial_batch_response else None
        result = _result(source, records, failures, self._log_payload)
        self._observer.observe(result, counts)
        return result.response()

    def run(self, event: Any, context: Any = None) -> BatchResult:
        """Process ``event`` and return what happened to each record, without logging,
        metrics, raising for failed records, or failure actions (no dead-lettering, no
        visibility change, no pause: nothing is sent to SQS, Lambda or the scheduler).
        For tests, scripts and the demo."""
        return _result(*self._execute(event, context, act=False)[:3], self._log_payload)

    def _execute(
        self, event: Any, context: Any, *, act: bool
    ) -> tuple[Source | None, Sequence[Record], Failures, Counts | None]:
        """Run a batch: its source, records, failures by index, and the layers' counts."""
        source, records = detect(event, self.envelope)
        if source is None:
            return None, records, {}, None
        if context is None:
            deadline = ends = NO_DEADLINE
        else:
            # Read once per batch: the remaining time only shrinks with the clock.
            ends = self._clock() + context.get_remaining_time_in_millis() / 1000
            deadline = ends - self.timeout_margin
        invocation = Invocation(source, context, deadline, ends, records, self._clock, log_payload=self._log_payload)
        token = _invocation.set(invocation)
        try:
            failures = self._run(invocation)
            if failures and act:
                failures = self._act_on(invocation, failures)
        finally:
            _invocation.reset(token)
        return source, records, failures, invocation.metrics

    def _run(self, invocation: Invocation) -> Failures:
        """Run a batch through the layers' batch hooks.

        A ``prepare`` hook that raises stops the batch before anything runs: every record
        fails with that error (an open circuit's :class:`CircuitOpenError`, or a store
        that cannot be reached: nothing runs unguarded, nothing is lost).
        """
        source, records = invocation.source, invocation.records
        assert source is not None
        plan = self._plans.get(source) or self._plan(source)
        batch = Batch(invocation, self._parsed_items)
        failures: Failures
        # Offloaded payloads first, all at once: the layers' prepare hooks (idempotency keys)
        # and the chains then see the real payloads.
        claims = invocation.claims = find_claims(source, records)
        try:
            if claims is not None:
                fetch_claims(claims)
            for prepare in self._prepare:
                prepare(batch)
        except Exception as error:
            failures = dict.fromkeys(range(len(records)), error)
        else:
            try:
                failures = plan(records, invocation.deadline)
            except BaseException:
                # The batch is failing as a whole (the error propagates); let the hooks
                # still flush what finished records already did, e.g. idempotency completions.
                self._finish_batch(batch)
                raise
        batch.failures = failures
        self._finish_batch(batch)
        if claims is not None and self.delete_payload:
            self._delete_payloads(source, claims, failures)
        return failures

    def _delete_payloads(self, source: Source, claims: Claims, failures: Failures) -> None:
        """``delete_payload=True``: delete the S3 objects of records that completed, after
        the batch (never before: a failed record comes back and needs its payload; so does
        every record of a source that retries whole events, unless all succeeded)."""
        if failures and not source.partial_batch_response:
            return
        done = [claim.pointer for index, claim in claims.items() if index not in failures and claim.error is None]
        for pointer, code in delete_payloads(done):
            # The record stands as done; the bucket's lifecycle rule removes what is left.
            self._observer.logger.warning(
                "could not delete an offloaded payload",
                extra={"bucket": pointer.bucket, "key": pointer.key, "error_code": code},
            )

    def _act_on(self, invocation: Invocation, failures: Failures) -> Failures:
        """Run the failure actions (DLQ, visibility, pausing) on a batch's failures: what
        is left is reported failed (a dead-lettered record is reported done)."""
        actions = self._failure_actions
        if actions is None:
            actions = self._failure_actions = _actions(logger=self._logger)
        return actions.apply(invocation, failures)

    def _finish_batch(self, batch: Batch) -> None:
        deferred = batch.invocation.deferred
        # Then what layers met while the records ran asked for (a breaker around a helper).
        hooks = [*self._finish, *deferred.values()] if deferred else self._finish
        for finish in hooks:
            try:
                finish(batch)
            except Exception as error:  # the records' outcomes stand; say why the hook failed
                self._observer.logger.error(
                    "batch hook failed",
                    extra={"hook": repr(finish), "error": describe(error, self._log_payload)}
                    | {"traceback": traceback_text(error, self._log_payload)},
                )

    def _parsed_items(self, invocation: Invocation) -> list[Item]:
        """Every record that decodes and parses, for the layers' ``prepare`` hooks (the
        pipeline parses again when it runs the record; a parse costs microseconds, the
        round trips the hooks save cost milliseconds)."""
        assert invocation.source is not None
        return parsed(self._step(invocation.source), invocation.records)

    def _step(self, source: Source) -> Step:
        step = self._steps.get(source)
        if step is None:
            step = self._steps[source] = Step(source, self._parser, self._function, self._wants_message, self._clock)
        return step

    def _plan(self, source: Source) -> Plan:
        """Build, once per source, the function that runs a whole batch."""
        step = self._step(source)
        key_of = step.key_of
        plan: Plan
        if self._async is not None:
            runner = self._async
            run_async = functools.partial(run_chain_async, step)

            def plan(records: Sequence[Record], deadline: float) -> Failures:
                return runner.run(records, run_async, key_of, deadline)

        elif self._threads is not None:
            threads = self._threads
            run_items = functools.partial(run_chain, step)

            def plan(records: Sequence[Record], deadline: float) -> Failures:
                return threads.run(records, run_items, key_of, deadline)

        else:

            def plan(records: Sequence[Record], deadline: float) -> Failures:
                return run_chain(step, enumerate(records), deadline)

        self._plans[source] = plan
        return plan


def _actions(**options: Any) -> FailureActions:
    from .failure_actions import failure_actions  # here, not at import: see TYPE_CHECKING above

    return failure_actions(**options)


def _result(source: Source | None, records: Sequence[Record], failures: Failures, log_payload: bool) -> BatchResult:
    if source is None or not failures:
        return BatchResult(source, records, log_payload=log_payload)
    record_id = source.record_id
    return BatchResult(
        source,
        records,
        [RecordFailure(index, record_id(records[index]), failures[index]) for index in sorted(failures)],
        log_payload,
    )


def wants_message(function: RecordFunction) -> bool:
    """Does the record function take a second argument (the :class:`Message`)?

    The signature is the user's own, seen through every ``functools.wraps`` decorator
    (the per-record layers keep it).
    """
    arity = positional_arity(function)
    if arity == 0:
        raise TypeError(f"record function {function!r} must take the payload as its first argument")
    return arity is None or arity >= 2


class WorkerOptions(TypedDict, total=False):
    """The keyword options of :func:`worker`, for its typed overloads."""

    concurrency: int
    envelope: str
    timeout_margin: float
    logger: LoggerLike | None
    metrics: MetricsLike | bool | None
    log_payload: bool
    redelivery: Any
    dead_letter: Any
    clock: Clock
    delete_payload: bool
    value_deserializer: Callable[[Any], Any] | None


# A model class first: a class is callable too, so the function overload would take it.
@overload
def worker(model: type[Any] | None = None, **options: Unpack[WorkerOptions]) -> Callable[[RecordFunction], Worker]: ...
@overload
def worker(model: RecordFunction) -> Worker: ...
@overload
def worker(model: Any = None, **options: Unpack[WorkerOptions]) -> Callable[[RecordFunction], Worker]: ...


def worker(
    model: Any = None,
    *,
    concurrency: int = 1,
    envelope: str = "auto",
    timeout_margin: float = DEFAULT_TIMEOUT_MARGIN,
    logger: LoggerLike | None = None,
    metrics: MetricsLike | bool | None = None,
    log_payload: bool = False,
    redelivery: Any = None,
    dead_letter: Any = None,
    clock: Clock = time.monotonic,
    delete_payload: bool = False,
    value_deserializer: Callable[[Any], Any] | None = None,
) -> Worker | Callable[[RecordFunction], Worker]:
    """Make a record function the Lambda entry point for a batch of messages.

    The event's source is detected (SQS standard/FIFO, SNS or EventBridge envelopes in
    SQS bodies, SNS → Lambda, EventBridge → Lambda, Kinesis, DynamoDB Streams, Kafka
    (MSK and self-managed), S3 event notifications), each
    record's payload is parsed into ``model`` and passed to the function, and failures
    are reported the way the source expects: ``batchItemFailures`` for SQS and streams,
    a raised exception for SNS and EventBridge so Lambda's own retries apply.

    Args:
        model: a pydantic model, any type pydantic's ``TypeAdapter`` accepts, ``str`` or
            ``bytes`` for the raw payload, or ``None`` for the decoded JSON (or text).
        concurrency: records run at once (threads for plain functions, tasks for
            ``async def``); FIFO groups and streams keep their order regardless.
        envelope: ``"auto"``, or force one of ``sqs``, ``sns``, ``eventbridge``,
            ``kinesis``, ``dynamodb``, ``kafka``, ``s3`` (for SQS events: what the body holds).
        timeout_margin: seconds; no record starts when the Lambda has less left.
            Those records are reported failed and come back.
        logger: a Powertools ``Logger`` or ``logging.Logger`` for failure logs.
        metrics: a Powertools ``Metrics`` to add the record counts to; ``None`` emits
            them as EMF when ``POWERTOOLS_METRICS_NAMESPACE`` is set; ``False`` never.
        log_payload: include records and invalid values in failure logs (off: logs
            carry ids and error messages only).
        redelivery: SQS redelivery backoff for failed records (see
            :mod:`msgworker.failure_actions`); ``None`` leaves visibility as it is.
        dead_letter: send records failing with :class:`PermanentError` straight to the
            dead-letter queue (``True``: the queue's RedrivePolicy target; a string: that
            queue's URL or ARN); ``None`` reports them failed like any other.
        clock: the monotonic clock deadlines are measured on (``time.monotonic``);
            tests pass a manual one to control time.
        delete_payload: for records that arrived as an extended-client pointer (payload
            offloaded to S3, see docs/large-payloads.md; always fetched before the function
            runs), delete the S3 object once the record completed. Off: the bucket's
            lifecycle rule expires it (a duplicate delivery can then still be processed).
        value_deserializer: turns each payload still to decode (the bytes of a Kafka
            value or Kinesis record, the text of an SQS body) into the value validated
            against ``model``, e.g. ``avro_deserializer(schema)`` from
            :mod:`msgworker.sources.kafka`; what it raises fails that record with a
            :class:`~msgworker.errors.ParseError`.

    Example:
        >>> from pydantic import BaseModel
        >>> class Order(BaseModel):
        ...     order_id: str
        >>> @worker(Order, concurrency=4)
        ... def handler(order: Order) -> None:
        ...     print(order.order_id)
    """
    options: Mapping[str, Any] = {
        "concurrency": concurrency,
        "envelope": envelope,
        "timeout_margin": timeout_margin,
        "logger": logger,
        "metrics": metrics,
        "log_payload": log_payload,
        "redelivery": redelivery,
        "dead_letter": dead_letter,
        "clock": clock,
        "delete_payload": delete_payload,
        "value_deserializer": value_deserializer,
    }
    if hasattr(model, "__msgworker_record_function__"):  # a Router: it parses with each route's own model
        return Worker(model.__msgworker_record_function__(), model=None, **options)
    if inspect.isfunction(model) or inspect.iscoroutinefunction(model):
        return Worker(model, model=None, **options)

    def decorate(function: RecordFunction) -> Worker:
        return Worker(function, model=model, **options)

    return decorate


__all__ = ["DEFAULT_TIMEOUT_MARGIN", "Message", "PermanentError", "Worker", "worker"]
