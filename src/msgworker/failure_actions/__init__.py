"""What ``worker`` does with failed records before reporting them: dead-letter permanent
failures, delay the redelivery of the others (exponential backoff; until the circuit may
close when a breaker is open), and pause the event source while a circuit is open.

An action is a callable ``(invocation, failures) -> frozenset[int]`` run after a batch
that has failures. It reads ``failures`` (exception by record index), never changes it,
and returns the indices it *resolved*: records now safely somewhere else (confirmed in
the dead-letter queue), which are then reported done. Everything else an action does
(visibility, pausing) is best effort and resolves nothing, so those records are reported
failed and come back, which is always safe.

:class:`FailureActions` runs the actions as a pipeline: each sees only the failures the
ones before it left standing, and :meth:`FailureActions.apply` returns what is left, as a
new dict. An action that raises resolves nothing (the error is logged once per container).

Layout: ``_aws`` holds what the actions share (queues, clients, warn-once, time left);
``_dead_letter``, ``_redelivery`` and ``_pause_source`` hold one action each and import
only ``_aws``; this module imports them all and is the only place their order lives.

Example:
    >>> actions = failure_actions(redelivery=True, dead_letter=True)
    >>> [type(action).__name__ for action in actions.actions]
    ['DeadLetterAction', 'VisibilityAction', 'PauseSourceAction']
    >>> from msgworker.errors import PermanentError
    >>> from msgworker._layers import Invocation
    >>> actions.apply(Invocation(), {0: PermanentError("bad total")})  # not SQS: nothing to act on
    {0: PermanentError('bad total')}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .._layers import Invocation
from .._observability import LoggerLike
from ._aws import AwsAccess
from ._dead_letter import (
    ERROR_MESSAGE_ATTRIBUTE,
    ERROR_TYPE_ATTRIBUTE,
    MESSAGE_ID_ATTRIBUTE,
    RECEIVE_COUNT_ATTRIBUTE,
    SOURCE_ARN_ATTRIBUTE,
    DeadLetter,
    DeadLetterAction,
    dead_letter_option,
)
from ._pause_source import SCHEDULE_GROUP_ENV, SCHEDULER_ROLE_ENV, PauseSourceAction
from ._redelivery import MAX_VISIBILITY_TIMEOUT, Redelivery, RedeliveryBackoff, VisibilityAction, redelivery_policy


class FailureAction(Protocol):
    """One thing done with a batch's failed records (see the module docstring)."""

    def __call__(self, invocation: Invocation, failures: Mapping[int, BaseException], /) -> frozenset[int]:
        """Act on ``failures`` (read only); return the indices now resolved."""
        ...


@dataclass(frozen=True, slots=True)
class FailureActions:
    """The failure actions of one worker, run in order by :meth:`apply`.

    Example:
        >>> FailureActions(()).apply(Invocation(), {3: ValueError("down")})
        {3: ValueError('down')}
    """

    actions: tuple[FailureAction, ...]
    access: AwsAccess = field(default_factory=AwsAccess)
    """Where an action's unexpected error is logged (once per container and action)."""

    def apply(self, invocation: Invocation, failures: Mapping[int, BaseException]) -> dict[int, BaseException]:
        """Run every action on the failures still standing; return those left, as a new
        dict (``failures`` itself is not changed)."""
        remaining = dict(failures)
        for action in self.actions:
            if not remaining:
                break
            try:
                resolved = action(invocation, remaining)
            except Exception as error:  # an action never fails the invocation: its records stay failed
                name = type(action).__name__
                self.access.error_once(("unexpected", name), f"msgworker's failure action {name} failed", error)
                continue
            if resolved:
                remaining = {index: error for index, error in remaining.items() if index not in resolved}
        return remaining


def failure_actions(
    *, redelivery: Any = None, dead_letter: Any = None, logger: LoggerLike | None = None
) -> FailureActions:
    """The actions a worker runs after each batch with failures, for its ``redelivery`` and
    ``dead_letter`` options (see :class:`RedeliveryBackoff` and :class:`DeadLetter`).

    Present whatever the options (``worker`` asks for them when it has per-record layers
    or either option, or when an open circuit stops a record): records that failed
    because a circuit is open are kept invisible until the circuit may close, and a
    circuit opened with ``pause_source=True`` pauses the event source mapping. With
    ``dead_letter``, permanent failures go to the dead-letter queue; with ``redelivery``,
    the other failed records come back after an exponential backoff.

    The order lives here and nowhere else. Dead-lettering first: a record it resolves is
    deleted from the source queue, so it needs no visibility change, and the visibility
    action, no longer seeing it, releases the records held behind it in its FIFO group at
    once. Visibility next: one call per ten records protects every failed record's receive
    count, so it gets the time left before pausing, which takes three calls and only adds
    to what visibility already keeps away.

    Raises:
        TypeError: an option of the wrong kind (the message says which kinds work).

    Example:
        >>> [type(action).__name__ for action in failure_actions().actions]
        ['VisibilityAction', 'PauseSourceAction']
    """
    policy = redelivery_policy(redelivery)
    target = dead_letter_option(dead_letter)
    access = AwsAccess(logger)
    actions: list[FailureAction] = []
    if target is not None:
        actions.append(DeadLetterAction(target, access))
    actions.append(VisibilityAction(policy, access))
    actions.append(PauseSourceAction(access))
    return FailureActions(tuple(actions), access)


__all__ = [
    "ERROR_MESSAGE_ATTRIBUTE",
    "ERROR_TYPE_ATTRIBUTE",
    "MAX_VISIBILITY_TIMEOUT",
    "MESSAGE_ID_ATTRIBUTE",
    "RECEIVE_COUNT_ATTRIBUTE",
    "SCHEDULER_ROLE_ENV",
    "SCHEDULE_GROUP_ENV",
    "SOURCE_ARN_ATTRIBUTE",
    "DeadLetter",
    "FailureAction",
    "FailureActions",
    "Redelivery",
    "RedeliveryBackoff",
    "failure_actions",
]
