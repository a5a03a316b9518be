"""What ``worker`` does with failed records before reporting them (SQS redelivery
backoff, visibility while a circuit is open, pausing the source, dead-lettering
permanent failures).

Each action is a callable ``(invocation, failures) -> None`` run after the batch, in
order. An action may remove a record from ``failures`` only once that record is safely
somewhere else (e.g. sent to the dead-letter queue); otherwise it leaves the failure in
place so the record is reported failed and comes back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .layers import Invocation

Failures = dict[int, BaseException]
FailureAction = Callable[[Invocation, Failures], None]


def failure_actions(*, redelivery: Any = None, dead_letter: Any = None) -> list[FailureAction]:
    """The actions a worker runs after each batch, for its options."""
    return []


__all__ = ["FailureAction", "failure_actions"]
