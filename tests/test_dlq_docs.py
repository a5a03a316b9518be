"""Every ``msgworker dlq`` command of docs/dlq.md and the README runs as written, in order,
against a local endpoint holding the example template's order queues under their deployed
names, with two orders dead-lettered by msgworker; each exits as its ``# exit N`` says."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from msgworker import PermanentError, worker
from msgworker._aws_clients import reset
from msgworker.cli import main
from msgworker.testing import local_aws, sqs_event, sqs_record
from tests.doc_blocks import blocks, shell_commands

ROOT = Path(__file__).resolve().parent.parent
BLOCKS = blocks("dlq.md")
COMMANDS = shell_commands("dlq.md", ".venv/bin/msgworker dlq ")
README_COMMANDS = re.findall(r"^(\.venv/bin/msgworker dlq .*)$", (ROOT / "README.md").read_text(), re.MULTILINE)


@pytest.fixture
def example_stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with local_aws() as aws:
        for name, value in aws.environment.items():
            monkeypatch.setenv(name, value)
        reset()
        sqs = aws.client("sqs")

        def queue(name: str, dead_letter: str | None = None) -> str:
            attributes = {"FifoQueue": "true"} if name.endswith(".fifo") else {}
            if dead_letter is not None:
                arn = sqs.get_queue_attributes(QueueUrl=dead_letter, AttributeNames=["QueueArn"])["Attributes"]
                policy = {"deadLetterTargetArn": arn["QueueArn"], "maxReceiveCount": 5}
                attributes["RedrivePolicy"] = json.dumps(policy)
            return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])

        urls = [queue("msgworker-orders-dlq"), queue("msgworker-orders-dlq.fifo")]
        urls += [queue("msgworker-orders", urls[0]), queue("msgworker-orders.fifo", urls[1])]

        @worker(dead_letter=True)
        def handler(order: Any) -> None:
            raise PermanentError(f"order {order['order_id']} has a negative total")

        orders = [json.dumps({"order_id": f"o-{n}", "total": -5}) for n in (1, 2)]
        assert handler(sqs_event([sqs_record(order, queue="msgworker-orders") for order in orders]), None) == {
            "batchItemFailures": []
        }
        try:
            yield sqs
        finally:
            for url in urls:  # moto keeps queues per process: the next test's stack starts clean
                sqs.delete_queue(QueueUrl=url)
            reset()


def test_the_guides_commands_run_in_order_and_exit_as_documented(
    example_stack: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    assert len(COMMANDS) == 5
    outputs = []
    for line in COMMANDS:
        expected = int(line.rsplit("# exit ", 1)[1])
        assert main(shlex.split(line, comments=True)[1:]) == expected, line
        outputs.append(capsys.readouterr().out)
    listing, peek, dry_run, moved, again = outputs
    assert re.search(r"msgworker-orders-dlq\s+2\s+0\s+msgworker-orders\s+OrdersDeadLetterQueue", listing)
    assert peek.count("msgworker.errors.PermanentError: order o-") == 2
    assert "dry run: would move about 2 message(s)" in dry_run
    assert "moved 2 of 2 message(s) from msgworker-orders-dlq to msgworker-orders" in moved
    assert "moved 0 of 0" in again


def test_the_readme_dlq_commands_run(
    example_stack: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    assert README_COMMANDS
    for line in README_COMMANDS:
        assert main(shlex.split(line, comments=True)[1:]) == 0, line
    capsys.readouterr()


def test_the_python_example_defines_what_it_says() -> None:
    [python] = [body for language, body in BLOCKS if language == "python"]
    namespace: dict[str, object] = {}
    exec(compile(python, "docs/dlq.md", "exec"), namespace)
    assert callable(namespace["empty_the_orders_dlq"])
