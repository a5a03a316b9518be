"""Real DynamoDB implementations for tests: moto in-process, a moto server and dynalite,
all on loopback.

Test modules import the fixtures (``dynamodb`` is parametrised over the three backends,
``dynamodb_server`` over the two reached by HTTP) or use the context managers directly::

    from dynamodb_servers import (  # noqa: F401  (fixtures pytest finds by their names)
        dynalite_backend_fixture,
        dynamodb_fixture,
        moto_server_backend_fixture,
    )

    def test_something(dynamodb):
        table = dynamodb.create_table()
        ...

The ``dynamodb`` fixture also points boto3 at the backend through the environment
(``AWS_ENDPOINT_URL``, fake credentials, region), so code that creates its own clients
reaches it. dynalite is installed by ``make dynalite`` (``npm ci --prefix tests/dynalite``);
without it the dynalite tests fail, saying so.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

REGION = "us-east-1"
DYNALITE_DIR = Path(__file__).resolve().parent / "dynalite"
DYNALITE_LAUNCHER = DYNALITE_DIR / "launch.js"
BACKENDS = ("moto", "moto_server", "dynalite")

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


@dataclass
class DynamoDB:
    """One running DynamoDB implementation."""

    kind: str
    endpoint_url: str | None
    """``None`` for moto in-process (boto3's default endpoint, intercepted by moto)."""
    supports_ttl: bool = True
    returns_item_on_condition_failure: bool = True
    """dynalite ignores ReturnValuesOnConditionCheckFailure."""
    tables: list[str] = field(default_factory=list)

    @property
    def environment(self) -> dict[str, str]:
        """Variables that point AWS SDKs here (with fake credentials)."""
        environment = dict(CREDENTIALS)
        if self.endpoint_url is not None:
            environment["AWS_ENDPOINT_URL"] = self.endpoint_url
        return environment

    def client(self, **config: Any) -> Any:
        """A DynamoDB client for this backend; ``config`` goes into botocore's Config."""
        return boto3.client(
            "dynamodb",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(**config) if config else None,
        )

    def create_table(self, name: str | None = None, *, ttl: bool = True) -> str:
        """An idempotency-shaped table (partition key ``id``; TTL on ``expiration`` where the
        backend supports it). Names are unique per call so tests never share state."""
        name = name or f"idempotency-{uuid.uuid4().hex[:12]}"
        client = self.client()
        client.create_table(
            TableName=name,
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 100})
        if ttl and self.supports_ttl:
            client.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"}
            )
        self.tables.append(name)
        return name

    def item(self, table: str, key: str) -> dict[str, Any] | None:
        """The raw item stored under ``key`` (a consistent read), or ``None``."""
        response = self.client().get_item(TableName=table, Key={"id": {"S": key}}, ConsistentRead=True)
        item: dict[str, Any] | None = response.get("Item")
        return item

    def drop_tables(self) -> None:
        """Delete the tables this object created (moto's state outlives a test: it is the
        process's, shared with every moto server running in it)."""
        client = self.client()
        for table in self.tables:
            with suppress(client.exceptions.ResourceNotFoundException):
                client.delete_table(TableName=table)
        self.tables.clear()

    def items(self, table: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.client().scan(TableName=table, ConsistentRead=True)["Items"]
        return items


@contextmanager
def moto_in_process() -> Iterator[DynamoDB]:
    """moto's in-process mock: every boto3 client made inside talks to it.

    moto's state is global to the process and shared with any moto server running in a
    thread here (other test modules may keep one for the session), so the mock neither
    resets it on entry nor wipes it on exit; tables have unique names instead."""
    from moto import mock_aws

    mock = mock_aws()
    with _environment(CREDENTIALS, remove=("AWS_ENDPOINT_URL",)):
        mock.start(reset=False)
        try:
            yield DynamoDB("moto", None)
        finally:
            mock.stop(remove_data=False)


@contextmanager
def moto_server() -> Iterator[DynamoDB]:
    """A moto server on 127.0.0.1 and a free port, in a thread of this process."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield DynamoDB("moto_server", f"http://{host}:{port}")
    finally:
        server.stop()


def dynalite_installed() -> bool:
    return (DYNALITE_DIR / "node_modules" / "dynalite" / "package.json").is_file()


@contextmanager
def dynalite(start_timeout: float = 30.0) -> Iterator[DynamoDB]:
    """dynalite (in memory) on 127.0.0.1 and a port the OS picks; stopped on exit."""
    if not dynalite_installed():
        raise RuntimeError(
            f"dynalite is not installed in {DYNALITE_DIR}: run `make dynalite` "
            "(which runs `npm ci --prefix tests/dynalite`; needs Node 20+ and npm)"
        )
    process = subprocess.Popen(
        ["node", str(DYNALITE_LAUNCHER)],
        cwd=DYNALITE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = _read_port(process, start_timeout)
        backend = DynamoDB(
            "dynalite", f"http://127.0.0.1:{port}", supports_ttl=False, returns_item_on_condition_failure=False
        )
        _wait_until_answering(backend, start_timeout)
        yield backend
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _read_port(process: subprocess.Popen[str], timeout: float) -> int:
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        lines.append(process.stdout.readline())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    line = lines[0] if lines else ""
    if not line.startswith("port "):
        process.kill()
        _, errors = process.communicate(timeout=10)
        raise RuntimeError(f"dynalite did not start (printed {line!r}): {errors.strip()[-2000:]}")
    return int(line.split()[1])


def _wait_until_answering(backend: DynamoDB, timeout: float) -> None:
    client = backend.client(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=2)
    give_up = time.monotonic() + timeout
    while True:
        try:
            client.list_tables()
            return
        except Exception:
            if time.monotonic() > give_up:
                raise
            time.sleep(0.05)


@contextmanager
def _environment(values: dict[str, str], remove: tuple[str, ...] = ()) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in (*values, *remove)}
    os.environ.update(values)
    for name in remove:
        os.environ.pop(name, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# -- pytest fixtures: servers live for the session, tables per test ------------------------------


@pytest.fixture(scope="session", name="moto_server_backend")
def moto_server_backend_fixture() -> Iterator[DynamoDB]:
    with moto_server() as backend:
        yield backend


@pytest.fixture(scope="session", name="dynalite_backend")
def dynalite_backend_fixture() -> Iterator[DynamoDB]:
    if not dynalite_installed():
        pytest.fail(
            f"dynalite is not installed in {DYNALITE_DIR}: run `make dynalite` "
            "(npm ci --prefix tests/dynalite); the idempotency tests run on it as well as on moto"
        )
    with dynalite() as backend:
        yield backend


@pytest.fixture(params=BACKENDS, name="dynamodb")
def dynamodb_fixture(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoDB]:
    """Each backend in turn, with the environment pointing boto3 at it."""
    if request.param == "moto":
        with moto_in_process() as backend:
            monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
            yield backend
            backend.drop_tables()
        return
    backend = request.getfixturevalue(f"{request.param}_backend")
    for name, value in backend.environment.items():
        monkeypatch.setenv(name, value)
    yield backend
    backend.drop_tables()


@pytest.fixture(params=("moto_server", "dynalite"), name="dynamodb_server")
def dynamodb_server_fixture(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoDB]:
    """The backends reached over HTTP (for tests that need real concurrency or a subprocess)."""
    backend: DynamoDB = request.getfixturevalue(f"{request.param}_backend")
    for name, value in backend.environment.items():
        monkeypatch.setenv(name, value)
    yield backend
    backend.drop_tables()


class CallCounter:
    """Counts DynamoDB requests a client makes, by operation (a botocore ``before-call`` hook)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, model: Any = None, **_: Any) -> None:
        with self._lock:
            self.calls.append(model.name if model is not None else "?")

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-call.dynamodb", self)
        return client

    def count(self, operation: str | None = None) -> int:
        return len(self.calls) if operation is None else self.calls.count(operation)

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()


def inject_error(client: Any, code: str, *, operations: tuple[str, ...] = (), status: int = 400) -> Callable[[], None]:
    """Make ``client`` answer every request (or those of ``operations``) with the AWS error
    ``code`` without sending it. Returns a function that removes the injection.

    It hooks ``before-call``, where botocore's own Stubber answers: a ``before-send`` hook
    would not stop moto's in-process mock, which runs every ``before-send`` handler and so
    would still apply the request."""
    from botocore.awsrequest import AWSResponse

    def respond(model: Any, **_: Any) -> tuple[Any, dict[str, Any]] | None:
        if operations and model.name not in operations:
            return None
        http = AWSResponse("http://injected", status, {"x-amzn-ErrorType": code}, None)
        parsed = {
            "Error": {"Code": code, "Message": "injected by the test"},
            "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}},
        }
        return http, parsed

    client.meta.events.register_first("before-call.dynamodb", respond)
    return lambda: client.meta.events.unregister("before-call.dynamodb", respond)


def lose_answers(client: Any, operation: str, *, times: int = 1) -> list[int]:
    """Make ``client`` treat the first ``times`` successful answers to ``operation`` as lost:
    the request has landed, and botocore retries it as it would after a dropped connection.

    It hooks ``needs-retry`` (which botocore asks after every attempt): returning 0 there
    means "retry, after 0 seconds". Returns a list holding the number of answers lost so
    far, so a test can check the fault really happened."""
    lost = [0]

    def retry(response: Any = None, attempts: int = 1, **_: Any) -> int | None:
        if lost[0] >= times or response is None or response[0] is None or response[0].status_code != 200:
            return None
        lost[0] += 1
        return 0

    client.meta.events.register_first(f"needs-retry.dynamodb.{operation}", retry)
    return lost


__all__ = [
    "BACKENDS",
    "CallCounter",
    "DynamoDB",
    "dynalite",
    "dynalite_backend_fixture",
    "dynalite_installed",
    "dynamodb_fixture",
    "dynamodb_server_fixture",
    "inject_error",
    "lose_answers",
    "moto_in_process",
    "moto_server",
    "moto_server_backend_fixture",
]
