"""Template functions, run in this process as Lambda would run them.

Each function's handler is imported from its ``CodeUri`` under its own environment, and
called with a Lambda context carrying its name, ``Timeout`` and ``MemorySize``. An
invocation that returns after its ``Timeout`` counts as timed out (Lambda would have
stopped it; a thread cannot be stopped from outside). ``ReservedConcurrentExecutions``
caps concurrent invocations: one over the cap is throttled, not run.

Each invocation is recorded (event, response or error) and logged as one line through the
``msgworker.local`` logger: function, source, records, outcome, duration; never a payload.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..cli.run import import_handler
from ..testing._context import LambdaContext
from ._environ import function_environment
from ._model import Function

log = logging.getLogger("msgworker.local")


class FunctionTimedOut(Exception):
    """The invocation ran past the function's Timeout."""


@dataclass
class Invocation:
    """One invocation of a function: what it was given and what it answered."""

    function: str
    source: str
    """What invoked it: the event source mapping, subscription or rule (logical ids)."""
    event: Any
    response: Any = None
    error: BaseException | None = None
    started: float = 0.0
    duration: float = 0.0
    attempt: int = 1

    @property
    def failed(self) -> bool:
        return self.error is not None


@dataclass
class FunctionStats:
    invocations: int = 0
    failures: int = 0
    throttles: int = 0
    running: int = 0


@dataclass
class LocalFunction:
    """A template function, ready to invoke in-process."""

    logical_id: str
    model: Function
    region: str = "us-east-1"
    stats: FunctionStats = field(default_factory=FunctionStats)
    history: list[Invocation] = field(default_factory=list)
    on_change: Callable[[], None] = lambda: None
    _handler: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _container: Any = field(default_factory=contextlib.nullcontext)
    """Held around an invocation when the function cannot take two at once (see below)."""

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:123456789012:function:{self.model.spec.function_name}"

    def environment(self) -> dict[str, str]:
        spec = self.model.spec
        return {
            **spec.environment,
            "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        }

    def handler(self) -> Any:
        with self._lock:
            if self._handler is None:
                module, _, attribute = self.model.spec.handler.rpartition(".")
                with function_environment(self.environment()):
                    self._handler = import_handler(module, attribute, [self.model.spec.code_dir])
                if _keeps_an_event_loop(self._handler):
                    self._container = threading.Lock()
            return self._handler

    def invoke(self, event: Any, source: str, *, records: int = 1, attempt: int = 1) -> Invocation | None:
        """Run the handler on ``event``; ``None`` when throttled (over the reserved concurrency)."""
        handler = self.handler()
        limit = self.model.reserved_concurrency
        with self._lock:
            if limit is not None and self.stats.running >= limit:
                self.stats.throttles += 1
                log.info(
                    "%s throttled (%s): %d running, reserved concurrency %d", self.logical_id, source, limit, limit
                )
                self.on_change()
                return None
            self.stats.running += 1
        spec = self.model.spec
        invocation = Invocation(self.logical_id, source, event, started=time.time(), attempt=attempt)
        context = LambdaContext(
            function_name=spec.function_name,
            timeout=spec.timeout,
            memory_limit_in_mb=spec.memory_mb,
            region=self.region,
        )
        self.on_change()
        begun = time.monotonic()
        try:
            with self._container, function_environment(self.environment()):
                invocation.response = handler(event, context)
        except Exception as error:  # Lambda: a function error, reported to whoever invoked it
            invocation.error = error
        invocation.duration = time.monotonic() - begun
        if invocation.error is None and invocation.duration > spec.timeout:
            invocation.error = FunctionTimedOut(f"Task timed out after {spec.timeout:.2f} seconds")
        with self._lock:
            self.stats.running -= 1
            self.stats.invocations += 1
            self.stats.failures += invocation.failed
            self.history.append(invocation)
        _log(invocation, records)
        self.on_change()
        return invocation


def _keeps_an_event_loop(handler: Any) -> bool:
    """Lambda runs one invocation per container at a time; here a function's invocations
    share one module. Plain functions take concurrent calls, but an ``async def`` record
    function under ``worker`` runs on the one event loop msgworker keeps per container, so
    its invocations are taken one at a time (they still queue up to the mapping's limits)."""
    record_function = getattr(handler, "record_function", handler)
    return inspect.iscoroutinefunction(record_function) or inspect.iscoroutinefunction(handler)


def _log(invocation: Invocation, records: int) -> None:
    reported = invocation.response.get("batchItemFailures") if isinstance(invocation.response, dict) else None
    if invocation.error is not None:
        outcome = f"failed: {type(invocation.error).__name__}"
    elif isinstance(reported, list) and reported:
        outcome = f"{len(reported)} reported failed"
    else:
        outcome = "ok"
    retry = f", attempt {invocation.attempt}" if invocation.attempt > 1 else ""
    plural = "record" if records == 1 else "records"
    log.info(
        "%s <- %s: %d %s, %s (%.0f ms%s)",
        invocation.function,
        invocation.source,
        records,
        plural,
        outcome,
        invocation.duration * 1000,
        retry,
    )
