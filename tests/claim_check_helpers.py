"""Fixtures the claim-check tests share: a moto server for the module, a new bucket per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from esm_emulator import local_endpoint

from msgworker.testing import LocalAws


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    with local_endpoint() as local:
        yield local


@pytest.fixture
def bucket(aws: LocalAws) -> str:
    name = f"payloads-{uuid.uuid4().hex[:8]}"
    aws.client("s3").create_bucket(Bucket=name)
    return name
