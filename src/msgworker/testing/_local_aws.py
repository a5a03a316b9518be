"""A local AWS endpoint (a moto server on loopback) for tests, demos and local runs.

moto is imported only when a server starts; install it with ``pip install "moto[server]"``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._common import DEFAULT_REGION as REGION


@dataclass(frozen=True)
class LocalAws:
    """A running local endpoint: where it is, and the environment that points SDKs at it.

    :func:`local_aws` builds one; tests may build one by hand for an endpoint they run themselves.

    >>> aws = LocalAws("http://127.0.0.1:5000", tables=("orders",))
    >>> aws.endpoint_url, aws.tables
    ('http://127.0.0.1:5000', ('orders',))
    """

    endpoint_url: str
    tables: tuple[str, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)

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


@contextmanager
def local_aws(template: str | Path | None = None) -> Iterator[LocalAws]:
    """Start a moto server on 127.0.0.1 (a free port) and, if given a SAM/CloudFormation
    template, create its DynamoDB tables there (key schema and TTL as declared). Stops
    the server on exit.

    Pass ``environment`` to a subprocess, or apply it with ``monkeypatch.setenv``, so
    AWS SDKs (boto3 reads ``AWS_ENDPOINT_URL``) talk to the local endpoint::

        with local_aws("template.yaml") as aws:
            subprocess.run(["msgworker", "invoke", "OrdersFunction", "-e", "event.json"],
                           env={**os.environ, **aws.environment})
    """
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as error:
        raise RuntimeError('local_aws needs moto\'s server: pip install "moto[server]"') from error

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
            aws = LocalAws(endpoint, _create_tables(aws, Path(template)), environment)
        try:
            yield aws
        finally:
            # moto keeps its resources per process, not per server: what this endpoint
            # created is removed, so the next local_aws in the same process starts clean.
            _delete_tables(aws)
    finally:
        server.stop()


def _delete_tables(aws: LocalAws) -> None:
    dynamodb = aws.client("dynamodb")
    for name in aws.tables:
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
        dynamodb.create_table(
            TableName=name,
            AttributeDefinitions=properties["AttributeDefinitions"],
            KeySchema=properties["KeySchema"],
            BillingMode="PAY_PER_REQUEST",
        )
        ttl = properties.get("TimeToLiveSpecification") or {}
        if ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        created.append(name)
    return tuple(created)
