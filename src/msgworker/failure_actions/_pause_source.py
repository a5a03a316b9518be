"""Pause an SQS event source while a circuit is open, and resume it when the circuit may close.

Keeping records invisible (see ``VisibilityAction``) still costs one receive per
record each time the circuit half-opens. For long outages a breaker created with
``circuit_breaker(..., pause_source=True)`` goes further: when its open circuit fails a
batch, the function's event source mapping for that queue is disabled, so Lambda stops
receiving altogether, and a one-time EventBridge Scheduler schedule enables it again at
the time the circuit may close. The messages wait in the queue with their receive counts
untouched.

The order makes it safe: the resume schedule is created first, and the mapping is
disabled only once it exists, so a mapping is never left paused with nothing to resume
it. If anything fails the records are still reported failed, with their visibility set:
nothing is lost, the source just keeps being polled.

Needs ``MSGWORKER_SCHEDULER_ROLE_ARN``: a role EventBridge Scheduler assumes, allowed
``lambda:UpdateEventSourceMapping`` on the mappings. The function's own role needs
``lambda:ListEventSourceMappings``, ``lambda:UpdateEventSourceMapping``,
``scheduler:CreateSchedule``, ``scheduler:UpdateSchedule`` and ``iam:PassRole`` on that role
(``template.yaml`` shows the wiring). The schedules go in the schedule group named by
``MSGWORKER_SCHEDULE_GROUP`` (default ``msgworker-resume``, the group template.yaml creates
for its default ``NamePrefix``), so that the role's trust policy can admit only that group.

Example:
    >>> resume_schedule_name("14e0db71-5d35-4eb5-b481-8945cf9d10c2")
    'msgworker-resume-14e0db71-5d35-4eb5-b481-8945cf9d10c2'
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .._layers import Invocation
from ..errors import CircuitOpenError
from ._aws import AwsAccess, Failures, error_code, failure_text, sqs_failures

SCHEDULER_ROLE_ENV = "MSGWORKER_SCHEDULER_ROLE_ARN"
SCHEDULE_GROUP_ENV = "MSGWORKER_SCHEDULE_GROUP"
DEFAULT_SCHEDULE_GROUP = "msgworker-resume"
"""The schedule group of the resume schedules when ``MSGWORKER_SCHEDULE_GROUP`` is not set."""
RESUME_TARGET_ARN = "arn:aws:scheduler:::aws-sdk:lambda:updateEventSourceMapping"
"""EventBridge Scheduler's universal target for Lambda's UpdateEventSourceMapping."""
SCHEDULE_PREFIX = "msgworker-resume-"
MIN_PAUSE_SECONDS = 2.0
"""The resume schedule is at least this far ahead: a one-time schedule must lie in the future."""
RESCHEDULE_TOLERANCE = 1.0
"""A container that paused a mapping until T does not move the schedule for a time within this of T."""


def resume_schedule_name(mapping_uuid: str) -> str:
    """The name of the schedule that resumes the mapping ``mapping_uuid``: one per mapping,
    so concurrent pauses of the same mapping share it."""
    return f"{SCHEDULE_PREFIX}{mapping_uuid}"


def schedule_expression(moment: float) -> str:
    """A one-time schedule expression for the epoch time ``moment`` (UTC, whole seconds up).

    Example:
        >>> schedule_expression(1_767_225_600.2)
        'at(2026-01-01T00:00:01)'
    """
    return f"at({datetime.fromtimestamp(math.ceil(moment), tz=UTC):%Y-%m-%dT%H:%M:%S})"


@dataclass(slots=True)
class _Pause:
    queue_arn: str
    until: float
    circuit: str


class PauseSourceAction:
    """After a batch in which an open circuit with ``pause_source=True`` failed records of
    an SQS queue: schedule the resume of the function's event source mapping for that
    queue at the circuit's ``reopens_at``, then disable the mapping.

    Mappings are found with ``ListEventSourceMappings`` (function = the invoked function's
    ARN, so an alias's own mapping; event source = the record's queue) and cached for the
    container. The schedule (``msgworker-resume-<mapping uuid>``, deleted by Scheduler after
    it runs) is created, or moved to the new time if it already exists. A container that
    already paused a mapping until at least that time does nothing more. Metrics:
    ``SourcePaused``, ``SourcePauseFailed``.
    """

    def __init__(self, access: AwsAccess) -> None:
        self.access = access
        self._mappings: dict[tuple[str, str], list[str]] = {}
        self._paused_until: dict[str, float] = {}

    def __call__(self, invocation: Invocation, failures: Failures) -> frozenset[int]:
        """Pause the sources of open circuits; none is resolved (all stay failed)."""
        pauses: dict[str, _Pause] = {}
        for _, record, error in sqs_failures(invocation, failures):
            if isinstance(error, CircuitOpenError) and error.pause_source:
                arn = str(record["eventSourceARN"])
                pause = pauses.get(arn)
                if pause is None or error.reopens_at > pause.until:
                    pauses[arn] = _Pause(arn, error.reopens_at, error.name)
        if not pauses:
            return frozenset()
        role = os.environ.get(SCHEDULER_ROLE_ENV)
        functions = _functions_of(invocation.context)
        if not role or not functions:
            missing = f"the environment variable {SCHEDULER_ROLE_ENV}" if not role else "a Lambda context"
            self.access.error_once(
                ("pause", "unconfigured"),
                f"a circuit with pause_source=True is open, but the event source was not paused: {missing} is "
                "missing, and without it the mapping could not be resumed automatically. Records stay invisible "
                "until the circuit may close. Set it to the ARN of a role EventBridge Scheduler can assume "
                "(see docs/failure-handling.md).",
            )
            invocation.count("SourcePauseFailed", len(pauses))
            return frozenset()
        for pause in pauses.values():
            self._pause(invocation, functions, role, pause)
        return frozenset()

    def _pause(self, invocation: Invocation, functions: tuple[str, ...], role: str, pause: _Pause) -> None:
        until = max(pause.until, time.time() + MIN_PAUSE_SECONDS)
        try:
            mappings = self._find_mappings(functions, pause.queue_arn)
        except Exception as error:
            self._failed(invocation, pause, "ListEventSourceMappings", error)
            return
        if not mappings:
            self.access.warn_once(
                ("pause", "no-mapping", pause.queue_arn),
                f"pause_source: no event source mapping of {functions[0]} reads {pause.queue_arn}; nothing to pause.",
            )
            return
        for mapping in mappings:
            paused_until = self._paused_until.get(mapping, 0.0)
            if paused_until + RESCHEDULE_TOLERANCE >= pause.until and time.time() < paused_until:
                continue
            if not self.access.time_left(invocation, "pausing the event source"):
                return
            try:
                self._schedule_resume(mapping, until, role, pause)
            except Exception as error:
                self._failed(invocation, pause, "CreateSchedule", error)
                continue
            try:
                self.access.client("lambda").update_event_source_mapping(UUID=mapping, Enabled=False)
            except Exception as error:
                if error_code(error) != "ResourceInUseException":  # already being disabled by another container
                    self._failed(invocation, pause, "UpdateEventSourceMapping", error)
                    continue
            self._paused_until[mapping] = until
            invocation.count("SourcePaused")
            self.access.logger.warning(
                "event source paused while the circuit is open",
                extra={
                    "event_source_mapping": mapping,
                    "queue": pause.queue_arn,
                    "circuit": pause.circuit,
                    "resumes_at": datetime.fromtimestamp(math.ceil(until), tz=UTC).isoformat(),
                    "schedule": resume_schedule_name(mapping),
                },
            )

    def _find_mappings(self, functions: tuple[str, ...], queue_arn: str) -> list[str]:
        """The mappings from ``queue_arn`` to the function: asked by its invoked ARN (an
        alias's mapping targets the alias), then by name (some local emulations only
        filter by name)."""
        key = (functions[0], queue_arn)
        found = self._mappings.get(key)
        if found is None:
            found = []
            client = self.access.client("lambda")
            for function in functions:
                marker: str | None = None
                while True:
                    page: dict[str, Any] = client.list_event_source_mappings(
                        FunctionName=function, EventSourceArn=queue_arn, **({"Marker": marker} if marker else {})
                    )
                    found.extend(str(mapping["UUID"]) for mapping in page.get("EventSourceMappings", []))
                    marker = page.get("NextMarker")
                    if not marker:
                        break
                if found:
                    break
            self._mappings[key] = found
        return found

    def _schedule_resume(self, mapping: str, until: float, role: str, pause: _Pause) -> None:
        scheduler = self.access.client("scheduler")
        request: dict[str, Any] = {
            "Name": resume_schedule_name(mapping),
            # A group of their own: the resume role trusts Scheduler only for this group.
            "GroupName": os.environ.get(SCHEDULE_GROUP_ENV) or DEFAULT_SCHEDULE_GROUP,
            "Description": f"msgworker: resume event source mapping {mapping} when circuit {pause.circuit} may close",
            "ScheduleExpression": schedule_expression(until),
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "ActionAfterCompletion": "DELETE",
            "Target": {
                "Arn": RESUME_TARGET_ARN,
                "RoleArn": role,
                "Input": json.dumps({"Uuid": mapping, "Enabled": True}),
            },
        }
        try:
            scheduler.create_schedule(**request)
        except Exception as error:
            if error_code(error) != "ConflictException":
                raise
            # Another pause of this mapping made it. Move it to this pause's time: if it has
            # already run (and not yet been deleted) it would otherwise never resume the
            # mapping disabled below.
            scheduler.update_schedule(**request)

    def _failed(self, invocation: Invocation, pause: _Pause, call: str, error: BaseException) -> None:
        invocation.count("SourcePauseFailed")
        code = error_code(error)
        text = failure_text(
            f"pause_source: {call} failed, so the event source for {pause.queue_arn} keeps being polled; its records "
            "are still reported failed and kept invisible until the circuit may close",
            code,
            error,
            f"the {call} call (docs/failure-handling.md lists the permissions)",
        )
        text += " (Logged once per container.)"
        # The cause is in the text: a second copy as a traceback would only repeat it.
        self.access.error_once(("pause", call, pause.queue_arn), text, None, code=code)


def _functions_of(context: Any) -> tuple[str, ...]:
    """How to name the invoked function to ListEventSourceMappings: its invoked ARN (with
    the alias or version a mapping may target), then its name."""
    names: list[str] = []
    for attribute in ("invoked_function_arn", "function_name"):
        value = getattr(context, attribute, None)
        if isinstance(value, str) and value and value not in names:
            names.append(value)
    return tuple(names)


__all__ = [
    "DEFAULT_SCHEDULE_GROUP",
    "RESUME_TARGET_ARN",
    "SCHEDULER_ROLE_ENV",
    "SCHEDULE_GROUP_ENV",
    "PauseSourceAction",
    "resume_schedule_name",
    "schedule_expression",
]
