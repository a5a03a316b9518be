"""The msgworker console command: run a handler on an event file, print sample events."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from msgworker.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def region(monkeypatch):
    """`run` sets the region variables, as Lambda does; monkeypatch puts them back afterwards."""
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_run_prints_only_the_response_on_stdout_and_logs_on_stderr(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    status, out, err = run(capsys, "run", "handlers.orders:handler", "-e", "events/sqs/orders.json")
    assert status == 0
    failed = json.loads(out)["batchItemFailures"]
    assert len(failed) == 1
    assert failed[0]["itemIdentifier"] in err  # the failure was logged, on stderr


def test_run_exits_1_with_the_error_when_the_invocation_fails(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    event = tmp_path / "unknown.json"
    event.write_text('{"hello": "world"}')
    status, out, _ = run(capsys, "run", "handlers.orders:handler", "-e", str(event))
    assert status == 1
    assert json.loads(out)["errorType"] == "UnrecognisedEventError"
    assert "1 other key" in json.loads(out)["errorMessage"]  # counted: a key msgworker does not know may be data
    assert "hello" not in json.loads(out)["errorMessage"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "handlers.nope:handler", "-e", "events/sqs/orders.json"], "cannot import handlers.nope"),
        (["run", "handlers", "-e", "events/sqs/orders.json"], "must be module.attribute"),
        (["run", "handlers..handler", "-e", "events/sqs/orders.json"], "must be module.attribute"),
        (["run", "handlers.orders:missing", "-e", "events/sqs/orders.json"], "has no callable 'missing'"),
        (["run", "handlers.orders:handler", "-e", "events/none.json"], "cannot read event file"),
        (["run", "handlers.orders:handler", "-e", "README.md"], "is not JSON"),
        (["event", "eventbridge", "--body", "not json"], "must be a JSON object for eventbridge"),
        (["event", "dynamodb", "--body", "{}", "--body", "[1]"], "--body #2 must be a JSON object"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_2(capsys, monkeypatch, argv, expected):
    monkeypatch.chdir(ROOT)
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert out == ""
    assert expected in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("source", ["sqs", "sns", "sns-sqs", "eventbridge", "eventbridge-sqs", "kinesis", "dynamodb"])
def test_generated_events_run_through_a_worker(capsys, monkeypatch, tmp_path, source):
    monkeypatch.chdir(ROOT)
    status, out, _ = run(capsys, "event", source, "--body", '{"order_id": "o-1", "customer_id": "c", "total": 3}')
    assert status == 0
    event = tmp_path / "event.json"
    event.write_text(out)
    status, out, err = run(capsys, "run", "handlers.orders:handler", "-e", str(event))
    assert status == 0, err
    assert json.loads(out) in (None, {"batchItemFailures": []})


@pytest.mark.parametrize("handler", ["handlers.orders.handler", "handlers/orders.handler", "handlers.orders:handler"])
def test_run_takes_the_handler_as_a_template_names_it(capsys, monkeypatch, handler):
    monkeypatch.chdir(ROOT)
    status, out, err = run(capsys, "run", handler, "-e", "events/sqs/orders-fifo.json")
    assert status == 0, err
    assert json.loads(out) == {"batchItemFailures": []}


@pytest.mark.parametrize("source", ["sqs", "sns", "sns-sqs", "kinesis"])
def test_text_bodies_reach_the_function_as_they_are(capsys, monkeypatch, tmp_path, source):
    status, out, err = run(capsys, "event", source, "--body", "not json", "--body", "{also not json")
    assert status == 0, err
    event = tmp_path / "event.json"
    event.write_text(out)
    module = f"echo_{source.replace('-', '_')}"  # one per case: the process keeps what it imported
    (tmp_path / f"{module}.py").write_text(
        "from msgworker import worker\n"
        "seen = []\n"
        "handler = worker(str)(seen.append)\n"
        "def check(event, context):\n"
        "    handler(event, context)\n"
        "    return seen\n"
    )
    status, out, err = run(capsys, "run", f"{module}.check", "-e", str(event), "--path", str(tmp_path))
    assert status == 0, err
    assert json.loads(out) == ["not json", "{also not json"]


def test_fifo_events_cycle_the_given_groups(capsys):
    status, out, _ = run(capsys, "event", "sqs", "--group", "a", "--group", "b", "--body", "1", "--body", "2")
    groups = [record["attributes"]["MessageGroupId"] for record in json.loads(out)["Records"]]
    assert status == 0 and groups == ["a", "b"]


def test_console_script_is_installed():
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "msgworker"), "--help"], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0
    assert "run" in completed.stdout and "event" in completed.stdout
