"""The public names of ``msgworker``: each one resolves to what it says, whatever was
imported before, and the optional parts stay out of a plain handler's cold start."""

from __future__ import annotations

import subprocess
import sys
import types

import msgworker


def test_every_public_name_resolves_to_an_object_not_a_module() -> None:
    import msgworker._retry
    import msgworker.breaker
    import msgworker.failure_actions
    import msgworker.idempotency

    for name in msgworker.__all__:
        value = getattr(msgworker, name)
        assert not isinstance(value, types.ModuleType), name
    assert callable(msgworker.retry) and msgworker.retry.__module__ == "msgworker._retry"
    assert msgworker.circuit_breaker.__module__ == "msgworker.breaker._layer"
    assert msgworker.idempotent.__module__ == "msgworker.idempotency._decorator"
    assert msgworker.DeadLetter is msgworker.failure_actions.DeadLetter
    assert msgworker.RedeliveryBackoff is msgworker.failure_actions.RedeliveryBackoff


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        msgworker.no_such_thing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as error:
        assert "no_such_thing" in str(error)
    else:
        raise AssertionError("expected AttributeError")


def test_a_plain_worker_imports_none_of_the_optional_parts() -> None:
    code = (
        "import sys, msgworker\n"
        "@msgworker.worker\n"
        "def handle(payload): pass\n"
        "from msgworker.testing import sqs_event, sqs_record\n"
        "handle(sqs_event([sqs_record('{}')]))\n"
        "print(sorted(m for m in ('tenacity', 'boto3', 'msgworker.breaker', 'msgworker.idempotency',"
        " 'msgworker._retry', 'msgworker.failure_actions', 'msgworker._aws_clients', 'botocore')"
        " if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
