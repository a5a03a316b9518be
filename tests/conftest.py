from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from msgworker.testing import LocalAws

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"


class Order(BaseModel):
    order_id: str
    total: float = Field(ge=0)


def load_event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


@pytest.fixture
def order_json():
    def make(order_id: str, total: float = 10.0) -> str:
        return json.dumps({"order_id": order_id, "total": total})

    return make


@pytest.fixture(scope="module")
def template_aws() -> Iterator[LocalAws]:
    """A moto server holding template.yaml's tables, with the environment the template gives
    the functions (table variables, AWS endpoint) applied: for running the example handlers,
    whose layers keep state in DynamoDB, in-process."""
    from msgworker.cli.template import load_template, table_variables
    from msgworker.testing import local_aws

    template = load_template(ROOT / "template.yaml")
    with local_aws(ROOT / "template.yaml") as aws, pytest.MonkeyPatch.context() as patch:
        for name, value in {**aws.environment, **table_variables(template)}.items():
            patch.setenv(name, value)
        yield aws


@pytest.fixture(scope="session", autouse=True)
def moto_serves_one_request_at_a_time() -> Iterator[None]:
    """DynamoDB applies each conditional write atomically; moto, in-process or as a threaded
    server, does not (two threads can both pass one condition), which made the race tests
    flaky (about 1 run in 25 ran a key twice). Serialising moto's request handling makes it
    behave as AWS documents; the races under test are between msgworker's own threads and
    containers, not inside the store."""
    import threading

    from moto.core.responses import BaseResponse

    lock = threading.RLock()
    original = BaseResponse.call_action

    def call_action(self: BaseResponse) -> Any:
        with lock:
            return original(self)

    BaseResponse.call_action = call_action  # type: ignore[method-assign]
    try:
        yield
    finally:
        BaseResponse.call_action = original  # type: ignore[method-assign]
