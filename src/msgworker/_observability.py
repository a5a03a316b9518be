"""Structured failure logs and EMF metrics, through aws-lambda-powertools.

Nothing here runs on a batch where every record succeeds and no metrics namespace is
configured, and Powertools is imported only when something is logged or emitted, so
an unused feature costs neither import time nor per-batch time.
"""

from __future__ import annotations

import logging
import os
import sys
from collections import Counter
from collections.abc import Mapping
from typing import Any, Protocol, TextIO

from . import _warm
from ._outcome import BatchResult
from ._redaction import error_text, traceback_text
from .errors import NotStartedError, ParseError

METRICS_NAMESPACE_ENV = "POWERTOOLS_METRICS_NAMESPACE"
SERVICE_ENV = "POWERTOOLS_SERVICE_NAME"
FUNCTION_NAME_ENV = "AWS_LAMBDA_FUNCTION_NAME"


class LoggerLike(Protocol):
    """What msgworker needs of a logger: Powertools' Logger and logging.Logger both fit."""

    def warning(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None: ...

    def error(
        self,
        msg: object,
        *args: object,
        exc_info: BaseException | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> None: ...


class MetricsLike(Protocol):
    """What msgworker needs of a metrics object: Powertools' Metrics fits."""

    def add_metric(self, name: str, unit: Any, value: float, *args: Any, **kwargs: Any) -> None: ...


_default_logger: LoggerLike | None = None


class _CurrentStdout(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stdout`` is at the time of each record, so redirection
    (``msgworker run``, test capture) applies to a logger created earlier."""

    @property
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, value: object) -> None:
        pass


def service_name() -> str:
    """The service logs and metrics are labelled with: ``POWERTOOLS_SERVICE_NAME``, else the
    Lambda function's name (``AWS_LAMBDA_FUNCTION_NAME``), else ``"msgworker"``.

    Example:
        >>> import os
        >>> os.environ.get(SERVICE_ENV) or os.environ.get(FUNCTION_NAME_ENV) or service_name()
        'msgworker'
    """
    return os.environ.get(SERVICE_ENV) or os.environ.get(FUNCTION_NAME_ENV) or "msgworker"


def default_logger() -> LoggerLike:
    """A Powertools Logger for msgworker's own records, created on first use (so the
    service name is read then, like every other setting)."""
    global _default_logger
    if _default_logger is None:
        from aws_lambda_powertools import Logger

        # One traceback per failure: the formatted one ("exception"), not also a structured copy.
        _default_logger = Logger(service=service_name(), logger_handler=_CurrentStdout(), serialize_stacktrace=False)
    return _default_logger


def _forget_default_logger() -> None:
    global _default_logger
    _default_logger = None


_warm.on_reset(_forget_default_logger)


class Observer:
    """Logs each failure once and counts records per source, for one worker.

    Settings come from the environment at the first batch, not when the worker is made
    (a test or script may set them after importing the handler), and are then kept, as
    Powertools does: reading them per batch would cost more than the rest of the
    bookkeeping. ``msgworker.testing.reset()`` makes the next batch read them again.
    """

    def __init__(self, *, logger: LoggerLike | None, metrics: MetricsLike | bool | None, log_payload: bool):
        self._logger = logger
        self._metrics_option = metrics
        # None means "emit our own EMF if a namespace is configured": settled to True/False at first use.
        self._metrics: MetricsLike | bool | None = metrics
        self._namespace = "msgworker"
        self._service = "msgworker"
        self._log_payload = log_payload
        if metrics is None:
            _warm.remember(self)

    def reset_warm_state(self) -> None:
        """Read the settings again at the next batch."""
        self._metrics = self._metrics_option

    def _settle(self) -> MetricsLike | bool:
        if self._metrics is None:
            namespace = os.environ.get(METRICS_NAMESPACE_ENV)
            self._namespace, self._service = namespace or "msgworker", service_name()
            self._metrics = bool(namespace)
        return self._metrics

    @property
    def quiet_on_success(self) -> bool:
        """True when a batch without failures needs no logging or metrics at all."""
        metrics = self._metrics
        return (self._settle() if metrics is None else metrics) is False

    @property
    def logger(self) -> LoggerLike:
        return self._logger if self._logger is not None else default_logger()

    def observe(self, result: BatchResult, extra: Mapping[str, int] | None = None) -> None:
        """Log the batch's failures and emit its counts, plus ``extra`` counts that
        per-record layers added (retries, duplicates, breaker transitions...)."""
        if result.failures:
            self._log_failures(result)
        if result.source is not None:
            self._emit_metrics(result, extra)

    def _log_failures(self, result: BatchResult) -> None:
        source = result.source.name if result.source else "unknown"
        not_started: dict[str, list[str | None]] = {}
        for failure in result.failures:
            error = failure.error
            if isinstance(error, NotStartedError):
                not_started.setdefault(error.reason, []).append(failure.id)
                continue
            fields: dict[str, Any] = {
                "message_id": failure.id,
                "source": source,
                "record_index": failure.index,
                "error_type": type(error).__name__,
                "error": error_text(error, self._log_payload),
            }
            if self._log_payload:
                fields["record"] = result.records[failure.index]
            if isinstance(error, ParseError):
                # A known, permanent condition: the message says it all, no traceback.
                self.logger.warning("record rejected", extra=fields)
            else:
                # The traceback as text, not exc_info: a logger would print every chained
                # exception's message (a ValidationError's with its input values).
                fields["traceback"] = traceback_text(error, self._log_payload)
                self.logger.error("record failed", extra=fields)
        for reason, ids in not_started.items():
            self.logger.warning(
                "records not started",
                extra={"source": source, "message_ids": ids, "count": len(ids), "reason": reason},
            )

    def _emit_metrics(self, result: BatchResult, extra: Mapping[str, int] | None) -> None:
        metrics = self._settle()
        if metrics is False:
            return
        counts = _counts(result)
        if extra:
            counts.update(extra)
        if metrics is True:
            self._emit_own(result, counts)
            return
        for name, value in counts.items():
            metrics.add_metric(name=name, unit="Count", value=value)

    def _emit_own(self, result: BatchResult, counts: Mapping[str, int]) -> None:
        from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
            AmazonCloudWatchEMFProvider,
        )

        assert result.source is not None
        provider = AmazonCloudWatchEMFProvider(
            namespace=self._namespace,
            service=self._service,
        )
        provider.add_dimension(name="source", value=result.source.name)
        for name, value in counts.items():
            provider.add_metric(name=name, unit="Count", value=value)
        provider.flush_metrics()


def _counts(result: BatchResult) -> dict[str, int]:
    kinds = Counter("not_started" if not failure.started else "failed" for failure in result.failures)
    return {
        "RecordsProcessed": len(result.records) - len(result.failures),
        "RecordsFailed": kinds["failed"],
        "RecordsNotStarted": kinds["not_started"],
    }


logging.getLogger("msgworker").addHandler(logging.NullHandler())
