"""msgworker.testing.local_aws: a moto server on loopback holding a template's tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from msgworker.testing import local_aws

ROOT = Path(__file__).resolve().parent.parent


def test_the_templates_tables_have_the_shape_the_design_promises():
    with local_aws(ROOT / "template.yaml") as aws:
        dynamodb = aws.client("dynamodb")
        assert {"IdempotencyTable", "BreakerTable"} <= set(aws.tables)
        for name in ("IdempotencyTable", "BreakerTable"):
            table = dynamodb.describe_table(TableName=name)["Table"]
            # A string partition key named id and nothing else: the shape of Powertools'
            # idempotency table, so users can point msgworker at a table they already have.
            assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
            assert table["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
        ttl = dynamodb.describe_time_to_live(TableName="IdempotencyTable")["TimeToLiveDescription"]
        assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiration"}
        assert aws.environment["AWS_ENDPOINT_URL"] == aws.endpoint_url
        assert aws.endpoint_url.startswith("http://127.0.0.1:")


def test_without_a_template_it_creates_nothing():
    # moto keeps its state per process, so other tests' queues and tables may be listed
    # here: what matters is that this endpoint added none.
    with local_aws() as aws:
        before = set(aws.client("dynamodb").list_tables()["TableNames"])
        assert aws.tables == ()
    with local_aws() as aws:
        assert set(aws.client("dynamodb").list_tables()["TableNames"]) == before


def test_a_table_without_a_key_schema_is_a_clear_error(tmp_path: Path):
    template = tmp_path / "template.yaml"
    template.write_text("Resources:\n  Bare:\n    Type: AWS::DynamoDB::Table\n    Properties: {}\n")
    expected = r"table Bare .* needs KeySchema and AttributeDefinitions"
    with pytest.raises(ValueError, match=expected), local_aws(template):
        pass
