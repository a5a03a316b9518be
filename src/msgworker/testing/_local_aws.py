"""A local AWS endpoint (a moto server on loopback) for tests, demos and local runs.

moto is imported only when a server starts; it comes with ``pip install "msgworker[testing]"``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._common import DEFAULT_REGION as REGION

TABLE_VARIABLES = ("MSGWORKER_IDEMPOTENCY_TABLE", "MSGWORKER_BREAKER_TABLE")
"""The variables naming msgworker's own tables, taken from the template's functions."""


@dataclass(frozen=True)
class LocalAws:
    """A running local endpoint: where it is, and the environment that points SDKs at it.

    :func:`local_aws` builds one; tests may build one by hand for an endpoint they run themselves.
    ``environment`` holds the endpoint, region and (fake) credentials, and the variables
    naming msgworker's tables (``MSGWORKER_IDEMPOTENCY_TABLE``, ``MSGWORKER_BREAKER_TABLE``)
    as the template's functions set them.

    >>> aws = LocalAws("http://127.0.0.1:5000", tables=("orders",))
    >>> aws.endpoint_url, aws.tables
    ('http://127.0.0.1:5000', ('orders',))
    """

    endpoint_url: str
    tables: tuple[str, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)
    template: Path | None = None
    """The template the tables come from."""

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` at this endpoint."""
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def clear(self) -> None:
        """Empty msgworker's own tables (idempotency records, breaker states: those the
        environment names), so one test's state does not reach the next; the pytest
        plugin calls it after every test while this endpoint runs. Other tables keep
        what a session fixture put in them."""
        dynamodb = self.client("dynamodb")
        for name in sorted(
            {self.environment[variable] for variable in TABLE_VARIABLES if variable in self.environment}
        ):
            with suppress(dynamodb.exceptions.ResourceNotFoundException):  # deleted by the code under test
                for page in dynamodb.get_paginator("scan").paginate(TableName=name, ProjectionExpression="id"):
                    for item in page.get("Items", []):
                        dynamodb.delete_item(TableName=name, Key={"id": item["id"]})


_running: list[LocalAws] = []
"""Endpoints :func:`local_aws` is serving now (the plugin clears their tables after each test)."""


def running() -> tuple[LocalAws, ...]:
    """The local AWS endpoints running in this process, oldest first."""
    return tuple(_running)


@contextmanager
def local_aws(template: str | Path | None = None, *, apply: bool = False) -> Iterator[LocalAws]:
    """Start a moto server on 127.0.0.1 (a free port) and, if given a SAM/CloudFormation
    template, create its DynamoDB tables there (key schema and TTL as declared). Stops
    the server on exit.

    With ``apply=True`` the environment is set in this process for the ``with`` block
    (and restored after), with :func:`~msgworker.testing.reset` on the way in and out,
    so every msgworker client is made for this endpoint and none outlives it: the
    natural function- or session-scoped fixture::

        @pytest.fixture
        def aws():
            with local_aws("template.yaml", apply=True) as aws:
                yield aws

    (the plugin's ``local_aws`` fixture does this with one server for the session).
    Otherwise pass ``environment`` to a subprocess::

        with local_aws("template.yaml") as aws:
            subprocess.run(["msgworker", "invoke", "OrdersFunction", "-e", "event.json"],
                           env={**os.environ, **aws.environment})

    While it runs, moto handles one request at a time: DynamoDB applies each conditional
    write atomically, and moto's threaded server does not (two concurrent claims of one
    idempotency key could both succeed), so a test of concurrent duplicates sees AWS's
    behaviour.
    """
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as error:
        raise RuntimeError('local_aws needs moto\'s server: pip install "msgworker[testing]"') from error

    # The request log of moto's HTTP server (werkzeug) would fill every test's output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with _one_request_at_a_time():
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            environment = {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
            }
            aws = LocalAws(endpoint, environment=environment)
            if template is not None:
                path = Path(template)
                environment.update(_table_environment(path))
                aws = LocalAws(endpoint, _create_tables(aws, path), environment, path)
            _running.append(aws)
            try:
                with _applied(environment) if apply else nullcontext():
                    yield aws
            finally:
                _running.remove(aws)
                # moto keeps its resources per process, not per server: what this endpoint
                # created is removed, so the next local_aws in the same process starts clean.
                _delete_tables(aws)
        finally:
            server.stop()


@contextmanager
def _applied(environment: Mapping[str, str]) -> Iterator[None]:
    from ._isolation import reset

    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    reset()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reset()


_serialised: list[Any] = []  # (original call_action, lock, users) while any local_aws runs
_serialising = threading.Lock()


@contextmanager
def _one_request_at_a_time() -> Iterator[None]:
    """Serialise moto's request handling (``BaseResponse.call_action``) while a server runs."""
    from moto.core.responses import BaseResponse

    with _serialising:
        if not _serialised:
            original, lock = BaseResponse.call_action, threading.RLock()

            def call_action(self: Any) -> Any:
                with lock:
                    return original(self)

            call_action.serialised_by_msgworker = True  # type: ignore[attr-defined]

            BaseResponse.call_action = call_action  # type: ignore[method-assign]
            _serialised.extend([original, 0])
        _serialised[1] += 1
    try:
        yield
    finally:
        with _serialising:
            _serialised[1] -= 1
            if not _serialised[1]:
                BaseResponse.call_action = _serialised[0]  # type: ignore[method-assign]
                _serialised.clear()


def _table_environment(template_path: Path) -> dict[str, str]:
    """``MSGWORKER_*_TABLE`` as the template's functions set them (when they agree)."""
    from ..cli.template import function_ids, load_template, resolve_function

    template = load_template(template_path)
    values: dict[str, set[str]] = {}
    for logical_id in function_ids(template):
        try:
            environment = resolve_function(template, template_path, logical_id).environment
        except Exception:  # a function this reader cannot resolve sets nothing here
            continue
        for variable in TABLE_VARIABLES:
            if environment.get(variable):
                values.setdefault(variable, set()).add(environment[variable])
    # Functions naming different tables: no single value is right for every test.
    return {variable: next(iter(names)) for variable, names in values.items() if len(names) == 1}


_table_users: dict[str, int] = {}
"""How many running endpoints use each table: moto keeps one state per process, so two
endpoints started from one template (a session fixture and a test's own) share its tables."""


def _delete_tables(aws: LocalAws) -> None:
    dynamodb = aws.client("dynamodb")
    for name in aws.tables:
        _table_users[name] -= 1
        if _table_users[name]:
            continue
        del _table_users[name]
        with suppress(dynamodb.exceptions.ResourceNotFoundException):  # deleted by the code under test
            dynamodb.delete_table(TableName=name)


def _create_tables(aws: LocalAws, template_path: Path) -> tuple[str, ...]:
    from ..cli.template import load_template, physical_name

    template = load_template(template_path)
    dynamodb = aws.client("dynamodb")
    created = []
    for logical_id, resource in template["Resources"].items():
        if not isinstance(resource, Mapping) or resource.get("Type") != "AWS::DynamoDB::Table":
            continue
        properties = resource.get("Properties") or {}
        name = physical_name(template, logical_id)
        if "KeySchema" not in properties or "AttributeDefinitions" not in properties:
            raise ValueError(f"table {logical_id} in {template_path} needs KeySchema and AttributeDefinitions")
        _create_table(dynamodb, name, properties)
        _table_users[name] = _table_users.get(name, 0) + 1
        created.append(name)
    return tuple(created)


def _create_table(dynamodb: Any, name: str, properties: Mapping[str, Any]) -> None:
    """Create the table unless it exists (made by another running endpoint: the same one here)."""
    try:
        dynamodb.create_table(
            TableName=name,
            AttributeDefinitions=properties["AttributeDefinitions"],
            KeySchema=properties["KeySchema"],
            BillingMode="PAY_PER_REQUEST",
        )
    except dynamodb.exceptions.ResourceInUseException:
        return
    ttl = properties.get("TimeToLiveSpecification") or {}
    if ttl.get("Enabled"):
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
        )


def restore_tables(aws: LocalAws) -> None:
    """Create again the template's tables that are gone: moto keeps one state per process,
    and leaving a ``moto.mock_aws()`` block resets all of it, a session's server included."""
    if aws.template is None:
        return
    from ..cli.template import load_template, physical_name

    template = load_template(aws.template)
    dynamodb = aws.client("dynamodb")
    for logical_id, resource in template["Resources"].items():
        if isinstance(resource, Mapping) and resource.get("Type") == "AWS::DynamoDB::Table":
            _create_table(dynamodb, physical_name(template, logical_id), resource.get("Properties") or {})
