"""The failure actions' pipeline (``FailureActions.apply``): each action sees only what the
ones before it left standing, the input is never changed, and an action that breaks
resolves nothing. The actions themselves are tested on real queues in test_dead_letter.py,
test_redelivery.py and test_pause_source.py."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from msgworker._layers import Invocation
from msgworker.errors import PermanentError
from msgworker.failure_actions import FailureActions, failure_actions


class Resolves:
    """An action resolving the records that failed with ``kind``; it keeps what it saw."""

    def __init__(self, kind: type[BaseException], extra: frozenset[int] = frozenset()) -> None:
        self.kind = kind
        self.extra = extra
        self.seen: list[dict[int, BaseException]] = []

    def __call__(self, invocation: Invocation, failures: Mapping[int, BaseException]) -> frozenset[int]:
        self.seen.append(dict(failures))
        return frozenset(index for index, error in failures.items() if isinstance(error, self.kind)) | self.extra


class Breaks:
    def __call__(self, invocation: Invocation, failures: Mapping[int, BaseException]) -> frozenset[int]:
        raise RuntimeError("bug in an action")


def failures() -> dict[int, BaseException]:
    return {0: PermanentError("bad"), 1: ConnectionError("down"), 2: PermanentError("worse")}


def test_each_action_sees_what_the_previous_ones_left_and_the_rest_is_returned() -> None:
    first, second = Resolves(PermanentError), Resolves(ConnectionError)
    given = failures()
    before = dict(given)
    remaining = FailureActions((first, second)).apply(Invocation(), given)
    assert remaining == {}
    assert list(first.seen[0]) == [0, 1, 2]
    assert list(second.seen[0]) == [1], "what the first resolved is gone"
    assert given == before, "the input is not changed"


def test_an_action_that_resolves_nothing_leaves_every_failure() -> None:
    given = failures()
    remaining = FailureActions((Resolves(KeyError),)).apply(Invocation(), given)
    assert remaining == given and remaining is not given


def test_indices_that_were_not_failures_are_ignored() -> None:
    remaining = FailureActions((Resolves(KeyError, extra=frozenset({7})),)).apply(Invocation(), failures())
    assert list(remaining) == [0, 1, 2]


def test_a_broken_action_resolves_nothing_and_the_next_still_runs(caplog: pytest.LogCaptureFixture) -> None:
    after = Resolves(ConnectionError)
    actions = FailureActions((Breaks(), after))
    for _ in range(2):
        assert list(actions.apply(Invocation(), failures())) == [0, 2]
    assert len(after.seen) == 2
    assert caplog.text.count("failure action Breaks failed") == 1, "logged once per container"


def test_no_failures_left_means_no_more_actions() -> None:
    after = Resolves(ConnectionError)
    FailureActions((Resolves(Exception), after)).apply(Invocation(), failures())
    assert after.seen == []


def test_dead_lettering_comes_first_and_only_with_the_option() -> None:
    names = [type(action).__name__ for action in failure_actions(dead_letter=True, redelivery=True).actions]
    assert names == ["DeadLetterAction", "VisibilityAction", "PauseSourceAction"]
    assert [type(action).__name__ for action in failure_actions().actions] == ["VisibilityAction", "PauseSourceAction"]
