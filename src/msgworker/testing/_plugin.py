"""msgworker's pytest plugin, loaded by pytest on its own once ``msgworker[testing]`` is
installed (the ``pytest11`` entry point).

Around every test (nothing to ask for):

- :func:`~msgworker.testing.reset` before and after: no AWS client, store, warm cache or
  cached breaker state survives from one test into the next;
- the in-memory stores switched off again after a test that used them;
- msgworker's own AWS clients refuse real AWS endpoints (unless the test is marked
  ``@pytest.mark.msgworker_real_aws``): a failing record under ``redelivery=`` or
  ``dead_letter=`` cannot reach SQS through credentials that happen to be on the machine;
- the idempotency and breaker tables of every running :func:`~msgworker.testing.local_aws`
  emptied after the test, so a session-scoped local AWS shares its server, not its state.

Fixtures:

- ``lambda_context``: a :class:`~msgworker.testing.LambdaContext` with 30 s to run;
- ``memory_stores``: ``@idempotent`` and ``@circuit_breaker`` keep state in memory for the
  test (:func:`~msgworker.testing.use_memory_stores`); yields the stores;
- ``local_aws``: the template's tables on a local moto server (one server for the whole
  session, emptied after every test), its environment applied for the test (endpoint,
  region, fake credentials, ``MSGWORKER_IDEMPOTENCY_TABLE`` / ``MSGWORKER_BREAKER_TABLE``);
  yields the :class:`~msgworker.testing.LocalAws`;
- ``local_aws_server``: that server, session-scoped, environment not applied;
- ``msgworker_template``: the template ``local_aws`` builds: the ``msgworker_template`` ini
  option, relative to the rootdir (default ``template.yaml``); override the fixture to
  choose otherwise (``None``: no tables).

Example (the marker a test carries to reach real AWS):
    >>> REAL_AWS_MARKER
    'msgworker_real_aws'
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ._context import LambdaContext
from ._isolation import MemoryStores, guard_real_aws, reset, use_aws_stores, use_memory_stores
from ._local_aws import LocalAws, restore_tables, running
from ._local_aws import local_aws as start_local_aws

REAL_AWS_MARKER = "msgworker_real_aws"
"""``@pytest.mark.msgworker_real_aws``: msgworker's clients may reach real AWS in this test."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "msgworker_template",
        "the SAM template whose tables msgworker's local_aws fixture creates (relative to the rootdir)",
        default="template.yaml",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{REAL_AWS_MARKER}: let msgworker's own AWS clients reach real AWS endpoints in this test"
    )


@pytest.fixture(autouse=True)
def _msgworker_isolation(request: pytest.FixtureRequest) -> Iterator[None]:
    guarded = request.node.get_closest_marker(REAL_AWS_MARKER) is None
    guard_real_aws(guarded)
    reset()
    try:
        yield
    finally:
        use_aws_stores()
        for aws in running():
            aws.clear()
        if guarded:
            guard_real_aws(False)
        reset()


@pytest.fixture
def lambda_context() -> LambdaContext:
    """A Lambda context with 30 seconds to run, counting down in real time."""
    return LambdaContext(timeout=30)


@pytest.fixture
def memory_stores() -> Iterator[MemoryStores]:
    """``@idempotent`` and ``@circuit_breaker`` without ``store=`` keep state in memory."""
    yield use_memory_stores()
    use_aws_stores()


@pytest.fixture(scope="session")
def msgworker_template(pytestconfig: pytest.Config) -> Path | None:
    """The template the ``local_aws`` fixtures build (the ``msgworker_template`` ini option)."""
    path = Path(pytestconfig.rootpath, str(pytestconfig.getini("msgworker_template")))
    if not path.is_file():
        raise pytest.UsageError(
            f"msgworker's local_aws fixture builds its tables from {path}, which does not exist: set "
            "msgworker_template in your pytest configuration (e.g. [tool.pytest.ini_options] "
            'msgworker_template = "infra/template.yaml"), or override the msgworker_template fixture '
            "(return None for no tables)"
        )
    return path


@pytest.fixture(scope="session")
def local_aws_server(msgworker_template: Path | None) -> Iterator[LocalAws]:
    """One local AWS for the session, holding the template's tables (environment not applied)."""
    with start_local_aws(msgworker_template) as aws:
        yield aws


@pytest.fixture
def local_aws(local_aws_server: LocalAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalAws]:
    """The session's local AWS with its environment applied for this test."""
    restore_tables(local_aws_server)  # a moto.mock_aws() block in an earlier test resets moto's state
    for name, value in local_aws_server.environment.items():
        monkeypatch.setenv(name, value)
    reset()  # every client from here on is made for this endpoint
    yield local_aws_server
    reset()
