"""``worker``: turn a record function into a Lambda handler for a batch of records."""

from __future__ import annotations

import functools
import inspect
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

from .errors import CircuitOpenError, PermanentError
from .layers import Batch, Invocation, Item, built, enter, find_layers, fuse, leave
from .message import Message
from .observability import LoggerLike, MetricsLike, Observer
from .outcome import BatchResult, RecordFailure
from .parsing import make_parser
from .pipeline import Failures, Items, async_pipeline, fused_pipeline, key_function, sync_pipeline
from .scheduling import AsyncRunner, ThreadRunner
from .sources import Record, Source, check_envelope, detect

if TYPE_CHECKING:  # imported when first needed: a plain worker whose batches succeed never loads them
    from .failure_actions import FailureActions

DEFAULT_TIMEOUT_MARGIN = 1.0
"""Seconds of Lambda time kept free: no record starts with less than this remaining."""

NO_DEADLINE = math.inf
"""The deadline when there is no Lambda context (a direct call in a test or script)."""

RecordFunction = Callable[..., Any]
Plan = Callable[[Sequence[Record], float], Failures]
FusedPlan = Callable[[Sequence[Record], float, list[float]], Failures]
Counts = Mapping[str, int]


class Worker:
    """A Lambda handler ``(event, context)`` built from a record function by :func:`worker`.

    ``record_function`` (also ``__wrapped__``) is the undecorated function, for unit
    tests; :meth:`run` returns the detailed :class:`~msgworker.outcome.BatchResult`
    instead of the Lambda response.
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
    ):
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        if timeout_margin < 0:
            raise ValueError(f"timeout_margin must be >= 0 seconds, got {timeout_margin}")
        self.record_function = function
        self.model = model
        self.concurrency = concurrency
        self.envelope = check_envelope(envelope)
        self.timeout_margin = timeout_margin
        self._parser = make_parser(model, include_input=log_payload)
        layers = find_layers(function)
        # Batch hooks run innermost first before the batch and outermost first after it.
        self._prepare = [layer.prepare for layer in reversed(layers) if hasattr(layer, "prepare")]
        self._finish = [layer.finish for layer in layers if hasattr(layer, "finish")]
        # A worker without layers or failure options takes the plain path: no Invocation
        # unless an open circuit (a breaker inside the function) stops a record. Its failure
        # actions are built then, so a handler that never meets one never imports them.
        self._plain = not layers and redelivery is None and dead_letter is None
        self._logger = logger
        self._failure_actions: FailureActions | None = (
            None if self._plain else _actions(redelivery=redelivery, dead_letter=dead_letter, logger=logger)
        )
        self._wants_message = bool(layers) or wants_message(function)
        self._is_async = is_async(function)
        self._threads = ThreadRunner(concurrency) if concurrency > 1 and not self._is_async else None
        self._async = AsyncRunner(concurrency) if self._is_async else None
        self._plans: dict[Source, Plan] = {}
        # Layers that can all be bypassed while healthy (retry, a closed circuit breaker)
        # are fused into the worker's own loop: see docs/decisions/0011-layers.md.
        self._fusion = fuse(function) if layers and not self._is_async else None
        self._fused_plans: dict[Source, FusedPlan] = {}
        self._observer = Observer(logger=logger, metrics=metrics, log_payload=log_payload)
        self._quiet_on_success = self._observer.quiet_on_success
        functools.update_wrapper(self, function)

    def __call__(self, event: Any, context: Any = None) -> dict[str, Any] | None:
        source, records, failures, counts = self._execute(event, context)
        if source is None:
            return {"batchItemFailures": []}
        if not failures and self._quiet_on_success:
            # The common case, answered without building a BatchResult: nothing to log
            # and no metrics to emit.
            return {"batchItemFailures": []} if source.partial_batch_response else None
        result = _result(source, records, failures)
        self._observer.observe(result, counts)
        return result.response()

    def run(self, event: Any, context: Any = None) -> BatchResult:
        """Process ``event`` and return what happened to each record, without logging,
        metrics or raising for failed records (for tests, scripts and the demo)."""
        return _result(*self._execute(event, context)[:3])

    def _execute(self, event: Any, context: Any) -> tuple[Source | None, Sequence[Record], Failures, Counts | None]:
        """Run a batch: its source, records, failures by index, and the layers' counts."""
        source, records = detect(event, self.envelope)
        if source is None:
            return None, records, {}, None
        if self._plain:
            plan = self._plans.get(source) or self._plan(source)
            failures = plan(records, NO_DEADLINE if context is None else self._deadline(context))
            # Without options the actions only act on an open circuit (raised by a breaker
            # inside the function): any other failure batch skips them entirely.
            if failures and any(isinstance(error, CircuitOpenError) for error in failures.values()):
                self._act_on(self._invocation(source, records, context), failures)
            return source, records, failures, None
        # Written out rather than in methods: on the fused path a call frame is a
        # measurable share of a quick batch.
        now = time.monotonic()
        if context is None:
            deadline = ends = NO_DEADLINE
        else:
            ends = now + context.get_remaining_time_in_millis() / 1000
            deadline = ends - self.timeout_margin
        fusion = self._fusion
        if fusion is not None and (healthy_until := fusion.healthy_until()) > now:
            # Every layer passes calls straight through until window[0]: their prepare
            # hooks have nothing to do, their finish hooks only when something failed.
            # The Invocation is built only when something asks for it (see layers.built).
            pending: list[Any] = [None, source, context, deadline, ends, records]
            token = enter(pending)
            try:
                fused = self._fused_plans.get(source) or self._fused_plan(source)
                window = [healthy_until if healthy_until < deadline else deadline]
                try:
                    failures = fused(records, deadline, window)
                except BaseException:
                    self._finish_batch(self._batch(built(pending)))
                    raise
                if failures:
                    invocation = built(pending)
                    self._finish_batch(self._batch(invocation, failures))
                    self._act_on(invocation, failures)
            finally:
                leave(token)
            return source, records, failures, None if pending[0] is None else pending[0].metrics
        invocation = Invocation(source, context, deadline, ends, records)
        token = enter(invocation)  # not a `with`: a generator context manager costs a microsecond a batch
        try:
            failures = self._run_with_layers(self._plans.get(source) or self._plan(source), invocation)
        finally:
            leave(token)
        return source, records, failures, invocation.metrics

    def _invocation(self, source: Source, records: Sequence[Record], context: Any) -> Invocation:
        if context is None:
            return Invocation(source, None, NO_DEADLINE, NO_DEADLINE, records)
        deadline = self._deadline(context)
        return Invocation(source, context, deadline, deadline + self.timeout_margin, records)

    def _run_with_layers(self, plan: Plan, invocation: Invocation) -> Failures:
        """Run a batch through the layers' batch hooks and the failure actions.

        A ``prepare`` hook that raises :class:`CircuitOpenError` stops the batch before
        anything runs; any other exception from it fails every record with that error
        (nothing runs unguarded, nothing is lost).
        """
        records = invocation.records
        batch = self._batch(invocation)
        failures: Failures
        try:
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
        if failures:
            self._act_on(invocation, failures)
        return failures

    def _act_on(self, invocation: Invocation, failures: Failures) -> None:
        """Run the failure actions (DLQ, visibility, pausing) on a batch's failures."""
        actions = self._failure_actions
        if actions is None:
            actions = self._failure_actions = _actions(logger=self._logger)
        remaining = actions.apply(invocation, failures)
        for index in failures.keys() - remaining.keys():  # resolved (dead-lettered): reported done
            del failures[index]

    def _batch(self, invocation: Invocation, failures: Failures | None = None) -> Batch:
        """What the batch hooks see: its items parsed only if a hook asks for them."""
        return Batch(invocation, functools.partial(self._parsed_items, invocation), failures)

    def _finish_batch(self, batch: Batch) -> None:
        for finish in self._finish:
            try:
                finish(batch)
            except Exception as error:  # the records' outcomes stand; say why the hook failed
                self._observer.logger.error("batch hook failed", exc_info=error, extra={"hook": repr(finish)})

    def _parsed_items(self, invocation: Invocation) -> list[Item]:
        """Every record that decodes and parses, for the layers' ``prepare`` hooks (the
        pipeline parses again when it runs the record; a parse costs microseconds, the
        round trips the hooks save cost milliseconds)."""
        source = invocation.source
        assert source is not None
        parser, items = self._parser, []
        for index, record in enumerate(invocation.records):
            try:
                payload, serialised, inner = source.decode(record)
                value = parser.from_text(payload) if serialised else parser.from_value(payload)
            except Exception:
                continue  # the pipeline reports it when it reaches the record
            items.append(Item(index, value, Message(record, source.name, source.describe, inner)))
        return items

    def _plan(self, source: Source) -> Plan:
        """Build, once per source, the function that runs a whole batch."""
        key_of = key_function(source)
        plan: Plan
        if self._async is not None:
            runner = self._async
            run_async = async_pipeline(source, self._parser, self.record_function, self._wants_message)

            def plan(records: Sequence[Record], deadline: float) -> Failures:
                return runner.run(records, run_async, key_of, deadline)

        else:
            run_items = sync_pipeline(source, self._parser, self.record_function, self._wants_message)
            threads = self._threads
            if threads is not None:

                def plan(records: Sequence[Record], deadline: float) -> Failures:
                    return threads.run(records, run_items, key_of, deadline)

            else:

                def plan(records: Sequence[Record], deadline: float) -> Failures:
                    return run_items(enumerate(records), deadline)

        self._plans[source] = plan
        return plan

    def _fused_plan(self, source: Source) -> FusedPlan:
        """:meth:`_plan` for batches run through the fused layers."""
        assert self._fusion is not None
        run_items = fused_pipeline(source, self._parser, self.record_function, self._fusion)
        plan: FusedPlan
        threads = self._threads
        if threads is not None:
            key_of = key_function(source)

            def plan(records: Sequence[Record], deadline: float, window: list[float]) -> Failures:
                def run_chain(items: Items, deadline: float) -> Failures:
                    return run_items(items, deadline, window)

                return threads.run(records, run_chain, key_of, deadline)

        else:

            def plan(records: Sequence[Record], deadline: float, window: list[float]) -> Failures:
                return run_items(enumerate(records), deadline, window)

        self._fused_plans[source] = plan
        return plan

    def _deadline(self, context: Any) -> float:
        """The monotonic time after which no record may start.

        Read once per batch: the remaining time only ever shrinks with the clock, and one
        context call per batch instead of per record keeps the guard nearly free.
        """
        remaining_ms: float = context.get_remaining_time_in_millis()
        return time.monotonic() + remaining_ms / 1000 - self.timeout_margin


def _actions(**options: Any) -> FailureActions:
    from .failure_actions import failure_actions  # here, not at import: see TYPE_CHECKING above

    return failure_actions(**options)


def _result(source: Source | None, records: Sequence[Record], failures: Failures) -> BatchResult:
    if source is None or not failures:
        return BatchResult(source, records)
    record_id = source.record_id
    return BatchResult(
        source,
        records,
        [RecordFailure(index, record_id(records[index]), failures[index]) for index in sorted(failures)],
    )


def wants_message(function: RecordFunction) -> bool:
    """Does the record function take a second argument (the :class:`Message`)?"""
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return True
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if not positional and not any(p.kind is p.VAR_POSITIONAL for p in parameters):
        raise TypeError(f"record function {function!r} must take the payload as its first argument")
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in parameters)


def is_async(function: RecordFunction) -> bool:
    """Is this an ``async def`` function, even behind decorators that used functools.wraps,
    or a callable object with an ``async def __call__``?"""
    unwrapped = inspect.unwrap(function)
    return any(
        inspect.iscoroutinefunction(candidate)
        for candidate in (function, unwrapped, getattr(unwrapped, "__call__", None))  # noqa: B004
    )


@overload
def worker(model: RecordFunction) -> Worker: ...
@overload
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
) -> Callable[[RecordFunction], Worker]: ...


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
) -> Worker | Callable[[RecordFunction], Worker]:
    """Make a record function the Lambda entry point for a batch of messages.

    The event's source is detected (SQS standard/FIFO, SNS or EventBridge envelopes in
    SQS bodies, SNS → Lambda, EventBridge → Lambda, Kinesis, DynamoDB Streams), each
    record's payload is parsed into ``model`` and passed to the function, and failures
    are reported the way the source expects: ``batchItemFailures`` for SQS and streams,
    a raised exception for SNS and EventBridge so Lambda's own retries apply.

    Args:
        model: a pydantic model, any type pydantic's ``TypeAdapter`` accepts, ``str`` or
            ``bytes`` for the raw payload, or ``None`` for the decoded JSON (or text).
        concurrency: records run at once (threads for plain functions, tasks for
            ``async def``); FIFO groups and streams keep their order regardless.
        envelope: ``"auto"``, or force one of ``sqs``, ``sns``, ``eventbridge``,
            ``kinesis``, ``dynamodb`` (for SQS events: what the body holds).
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
    }
    if inspect.isfunction(model) or inspect.iscoroutinefunction(model):
        return Worker(model, model=None, **options)

    def decorate(function: RecordFunction) -> Worker:
        return Worker(function, model=model, **options)

    return decorate


__all__ = ["DEFAULT_TIMEOUT_MARGIN", "Message", "PermanentError", "Worker", "worker"]
