"""``msgworker dlq list / peek / redrive`` against moto's server on loopback, standard and
FIFO queues. Where moto lacks what AWS does (message-move tasks, per-entry send failures)
a stub enforcing AWS's documented behaviour stands in, and the test says so."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from msgworker import PermanentError, worker
from msgworker._aws_clients import reset, session
from msgworker.cli import main
from msgworker.dlq import DlqTools, redrive, sqs_client
from msgworker.testing import LocalAws, local_aws, sqs_event, sqs_record
from tests.sqs_move_tasks import FAIL_NEXT, move_tasks

CREATED: list[str] = []


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    with local_aws() as endpoint, pytest.MonkeyPatch.context() as patch:
        for name, value in endpoint.environment.items():
            patch.setenv(name, value)
        reset()
        yield endpoint
        sqs = endpoint.client("sqs")
        for url in CREATED:  # moto keeps queues per process: leave none to later tests
            sqs.delete_queue(QueueUrl=url)
        CREATED.clear()
    reset()


@pytest.fixture
def sqs(aws: LocalAws) -> Any:
    return aws.client("sqs")


class Pair:
    """A source queue and its DLQ (names unique to the test)."""

    def __init__(self, sqs: Any, *, fifo: bool = False, sources: int = 1) -> None:
        suffix = ".fifo" if fifo else ""
        attributes = {"FifoQueue": "true"} if fifo else {}
        tag = uuid.uuid4().hex[:8]
        self.sqs = sqs
        self.dlq_name = f"dlq-{tag}{suffix}"
        self.dlq = sqs.create_queue(QueueName=self.dlq_name, Attributes=attributes)["QueueUrl"]
        self.dlq_arn = self.arn(self.dlq)
        policy = json.dumps({"deadLetterTargetArn": self.dlq_arn, "maxReceiveCount": 3})
        self.source_names = [f"src{index}-{tag}{suffix}" for index in range(sources)]
        self.sources = [
            sqs.create_queue(QueueName=name, Attributes={**attributes, "RedrivePolicy": policy})["QueueUrl"]
            for name in self.source_names
        ]
        self.source = self.sources[0]
        CREATED.extend([self.dlq, *self.sources])

    def arn(self, url: str) -> str:
        return str(self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])

    def send(self, body: str, *, group: str | None = None, dedup: str | None = None, **attributes: str) -> None:
        extra: dict[str, Any] = {}
        if group is not None:
            extra = {"MessageGroupId": group, "MessageDeduplicationId": dedup or uuid.uuid4().hex}
        self.sqs.send_message(
            QueueUrl=self.dlq,
            MessageBody=body,
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
            },
            **extra,
        )

    def depth(self, url: str) -> tuple[int, int]:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        answer = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        return int(answer[names[0]]), int(answer[names[1]])

    def drain(self, url: str) -> list[dict[str, Any]]:
        """Every message of ``url``, received and deleted, in the order SQS gives them."""
        found: list[dict[str, Any]] = []
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"]
            ).get("Messages", [])
            if not messages:
                return found
            for message in messages:
                found.append(message)
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["dlq", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def tools(**options: Any) -> DlqTools:
    return DlqTools(sqs_client(), wait_seconds=0, **options)


# -- list ------------------------------------------------------------------------------


def test_list_shows_each_dlq_with_its_depth_and_the_queues_it_serves(capsys, sqs):
    standard, fifo = Pair(sqs, sources=2), Pair(sqs, fifo=True)
    standard.send("a")
    standard.send("b")
    status, out, _ = run(capsys, "list", "--json")
    assert status == 0
    queues = {queue["name"]: queue for queue in json.loads(out)}
    assert queues[standard.dlq_name]["visible"] == 2
    assert sorted(source.rsplit(":", 1)[-1] for source in queues[standard.dlq_name]["sources"]) == sorted(
        standard.source_names
    )
    assert queues[fifo.dlq_name]["visible"] == 0
    assert [source.rsplit(":", 1)[-1] for source in queues[fifo.dlq_name]["sources"]] == fifo.source_names
    assert not any(name in queues for name in standard.source_names)  # sources are not DLQs

    status, out, _ = run(capsys, "list")
    line = next(line for line in out.splitlines() if line.startswith(standard.dlq_name))
    assert line.split()[1:3] == ["2", "0"] and all(name in line for name in standard.source_names)


def test_with_a_template_its_dlqs_are_listed_by_logical_id_and_named_by_it(capsys, sqs, tmp_path: Path):
    tag = uuid.uuid4().hex[:8]
    template = tmp_path / "template.yaml"
    template.write_text(
        "Parameters:\n  Prefix: {Type: String, Default: app}\n"
        "Resources:\n"
        "  Orders:\n    Type: AWS::SQS::Queue\n    Properties:\n"
        f"      QueueName: !Sub ${{Prefix}}-orders-{tag}\n"
        "      RedrivePolicy: {deadLetterTargetArn: !GetAtt OrdersDLQ.Arn, maxReceiveCount: 3}\n"
        "  OrdersDLQ:\n    Type: AWS::SQS::Queue\n    Properties:\n"
        f"      QueueName: !Sub ${{Prefix}}-orders-dlq-{tag}\n"
        "  Payments:\n    Type: AWS::SQS::Queue\n    Properties:\n"
        "      RedrivePolicy: {deadLetterTargetArn: !GetAtt PaymentsDLQ.Arn, maxReceiveCount: 3}\n"
        "  PaymentsDLQ:\n    Type: AWS::SQS::Queue\n"
        f"  Local{tag}:\n    Type: AWS::SQS::Queue\n    Properties: {{FifoQueue: true}}\n"
    )
    # msgworker local names a queue without QueueName by its logical id (.fifo added for FIFO).
    local = sqs.create_queue(QueueName=f"Local{tag}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    CREATED.append(local)
    sqs.send_message(QueueUrl=local, MessageBody="local", MessageGroupId="g", MessageDeduplicationId="d")
    dlq = sqs.create_queue(QueueName=f"prod-orders-dlq-{tag}")["QueueUrl"]
    CREATED.append(dlq)
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    source = sqs.create_queue(
        QueueName=f"prod-orders-{tag}",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 3})},
    )
    CREATED.append(source["QueueUrl"])
    sqs.send_message(QueueUrl=dlq, MessageBody="x")
    options = ("-t", str(template), "--parameter-overrides", "Prefix=prod")
    status, out, _ = run(capsys, "list", *options, "--json")
    assert status == 0
    by_id = {queue["logical_id"]: queue for queue in json.loads(out) if queue["logical_id"]}
    assert by_id["OrdersDLQ"]["name"] == f"prod-orders-dlq-{tag}"
    assert by_id["OrdersDLQ"]["visible"] == 1
    assert by_id["OrdersDLQ"]["sources"] == [arn.replace(f"prod-orders-dlq-{tag}", f"prod-orders-{tag}")]
    assert by_id["PaymentsDLQ"]["visible"] is None  # declared, not at this endpoint

    status, out, _ = run(capsys, "peek", "OrdersDLQ", *options, "-n", "1", "--json")
    assert status == 0 and json.loads(out)["body"] == "x"
    status, out, _ = run(capsys, "peek", f"Local{tag}", *options, "-n", "1", "--json")
    assert status == 0 and json.loads(out)["body"] == "local"
    status, _, err = run(capsys, "peek", "PaymentsDLQ", *options)
    assert status == 2 and "queue PaymentsDLQ (template logical id PaymentsDLQ) does not exist" in err


# -- peek ------------------------------------------------------------------------------


def test_peek_shows_msgworkers_error_attributes_and_consumes_nothing(capsys, sqs, monkeypatch):
    pair = Pair(sqs)

    @worker(dead_letter=True)
    def handler(payload: Any) -> None:
        raise PermanentError("negative total")

    # msgworker's own dead-lettering puts the messages in the DLQ, with its attributes.
    event = sqs_event([sqs_record(json.dumps({"order_id": f"o-{n}"}), queue=pair.source_names[0]) for n in range(3)])
    for record in event["Records"]:
        record["eventSourceARN"] = pair.arn(pair.source)
    assert handler(event, None) == {"batchItemFailures": []}
    assert pair.depth(pair.dlq) == (3, 0)
    capsys.readouterr()  # the worker's log lines

    status, out, err = run(capsys, "peek", pair.dlq_name, "-n", "3", "--json")
    assert status == 0
    peeked = [json.loads(line) for line in out.splitlines()]
    assert sorted(message["body"] for message in peeked) == sorted(json.dumps({"order_id": f"o-{n}"}) for n in range(3))
    assert {message["error_type"] for message in peeked} == {"msgworker.errors.PermanentError"}
    assert {message["error_message"] for message in peeked} == {"negative total"}
    assert {message["source_arn"] for message in peeked} == {pair.arn(pair.source)}
    assert {message["receive_count"] for message in peeked} == {1}
    assert "ApproximateReceiveCount went up by one" in err
    assert pair.depth(pair.dlq) == (3, 0)  # all still there, and visible

    _, out, _ = run(capsys, "peek", pair.dlq, "-n", "3", "--json")  # by URL this time
    assert {json.loads(line)["receive_count"] for line in out.splitlines()} == {2}  # the peek's own receives count
    assert pair.depth(pair.dlq) == (3, 0)


def test_peek_of_a_fifo_queue_shows_groups_and_leaves_them_receivable_in_order(capsys, sqs):
    pair = Pair(sqs, fifo=True)
    for n in range(3):
        pair.send(f"m-{n}", group="g-1", dedup=f"d-{n}", tenant="t-1")
    status, out, _ = run(capsys, "peek", pair.dlq_arn, "-n", "2")  # by ARN
    assert status == 0
    assert "group      g-1  deduplication id d-0" in out and "attributes tenant=t-1" in out
    assert "body       m-0" in out and "m-2" not in out
    assert [message["Body"] for message in pair.drain(pair.dlq)] == ["m-0", "m-1", "m-2"]


# -- redrive ---------------------------------------------------------------------------


def test_redrive_moves_every_message_once_with_its_attributes(capsys, sqs):
    pair = Pair(sqs)
    for n in range(25):
        pair.send(f"body-{n}", tenant=f"t-{n}", **{"msgworker.error_type": "E"})
    status, out, _ = run(capsys, "redrive", pair.dlq_name)
    assert status == 0, out
    assert f"moved 25 of 25 message(s) from {pair.dlq_name} to {pair.source_names[0]}" in out
    moved = pair.drain(pair.source)
    assert sorted(message["Body"] for message in moved) == sorted(f"body-{n}" for n in range(25))
    for message in moved:
        n = message["Body"].removeprefix("body-")
        assert message["MessageAttributes"] == {
            "tenant": {"StringValue": f"t-{n}", "DataType": "String"},
            "msgworker.error_type": {"StringValue": "E", "DataType": "String"},  # kept, as AWS's redrive keeps it
        }
    assert pair.depth(pair.dlq) == (0, 0)


def test_a_fifo_redrive_keeps_group_order_and_deduplication_ids(sqs):
    pair = Pair(sqs, fifo=True)
    for n in range(12):
        pair.send(f"m-{n}", group=f"g-{n % 2}", dedup=f"d-{n}")
    later = time.time() + 301  # past the deduplication interval of the original sends
    result = redrive(tools(clock=lambda: later), pair.dlq_name)
    assert result.complete and result.moved == 12
    moved = pair.drain(pair.source)
    for group in ("g-0", "g-1"):
        mine = [message for message in moved if message["Attributes"]["MessageGroupId"] == group]
        assert [message["Body"] for message in mine] == [f"m-{n}" for n in range(12) if f"g-{n % 2}" == group]
        assert all(message["Attributes"]["MessageDeduplicationId"] == f"d-{message['Body'][2:]}" for message in mine)


def test_a_fifo_message_sent_within_the_deduplication_interval_is_held_in_the_dlq(capsys, sqs):
    # The target may have accepted its deduplication id in the last 5 minutes and would
    # then drop the redriven copy while answering "sent": the message stays in the DLQ.
    pair = Pair(sqs, fifo=True)
    pair.send("fresh", group="g", dedup="d")
    status, out, _ = run(capsys, "redrive", pair.dlq_name)
    assert status == 1
    assert "deduplication interval" in out and "moved 0 of 1" in out
    assert pair.depth(pair.dlq) == (1, 0)  # still there, visible again


@pytest.fixture
def rejected_sends() -> Iterator[set[str]]:
    """SendMessageBatch rejecting the entries whose body is in the yielded set, as AWS
    rejects single entries (``Failed`` with a code, the others stored). moto validates a
    batch as a whole instead, so a botocore hook on msgworker's client session does it:
    before the call it takes the rejected entries out of the request (moto stores the
    rest), after the call it adds them to ``Failed``."""
    poisoned: set[str] = set()
    taken: list[str] = []

    def before(params: dict[str, Any], **_: Any) -> None:
        taken[:] = [entry["Id"] for entry in params["Entries"] if entry["MessageBody"] in poisoned]
        params["Entries"] = [entry for entry in params["Entries"] if entry["MessageBody"] not in poisoned]

    def after(parsed: dict[str, Any], **_: Any) -> None:
        parsed.setdefault("Failed", []).extend(
            {"Id": entry_id, "SenderFault": True, "Code": "InvalidMessageContents"} for entry_id in taken
        )

    # Clients copy the session's handlers when they are made: the CLI and tools() make theirs after this.
    events = session().get_component("event_emitter")
    events.register("provide-client-params.sqs.SendMessageBatch", before, unique_id="test-reject-before")
    events.register("after-call.sqs.SendMessageBatch", after, unique_id="test-reject-after")
    try:
        yield poisoned
    finally:
        events.unregister("provide-client-params.sqs.SendMessageBatch", unique_id="test-reject-before")
        events.unregister("after-call.sqs.SendMessageBatch", unique_id="test-reject-after")


def test_a_rejected_send_leaves_that_message_in_the_dlq_and_moves_the_rest(capsys, sqs, rejected_sends):
    pair = Pair(sqs)
    for n in range(15):
        pair.send(f"body-{n}")
    rejected_sends.update({"body-3", "body-11"})
    status, out, _ = run(capsys, "redrive", pair.dlq_name)
    assert status == 1
    assert "moved 13 of 15" in out and out.count("send failed: InvalidMessageContents") == 2
    assert sorted(message["Body"] for message in pair.drain(pair.source)) == sorted(
        f"body-{n}" for n in range(15) if n not in (3, 11)
    )
    assert pair.depth(pair.dlq) == (2, 0)  # visible again, at once
    assert sorted(message["Body"] for message in pair.drain(pair.dlq)) == ["body-11", "body-3"]


def test_after_a_rejected_fifo_send_the_rest_of_its_group_stays_too(sqs, rejected_sends):
    pair = Pair(sqs, fifo=True)
    for n in range(6):
        pair.send(f"m-{n}", group=f"g-{n % 2}", dedup=f"d-{n}")
    rejected_sends.add("m-2")  # group g-0: m-0 goes, m-2 fails, so m-4 must not overtake it
    later = time.time() + 301
    result = redrive(tools(clock=lambda: later), pair.dlq_name)
    assert sorted(result_left.message_id for result_left in result.left) and not result.complete
    assert [message["Body"] for message in pair.drain(pair.source)] == ["m-0", "m-1", "m-3", "m-5"]
    assert [message["Body"] for message in pair.drain(pair.dlq)] == ["m-2", "m-4"]


def test_dry_run_changes_nothing(capsys, sqs):
    pair = Pair(sqs)
    for n in range(3):
        pair.send(f"body-{n}")
    status, out, _ = run(capsys, "redrive", pair.dlq_name, "--dry-run")
    assert status == 0
    assert f"dry run: would move about 3 message(s) from {pair.dlq_name} to {pair.source_names[0]}" in out
    assert pair.depth(pair.dlq) == (3, 0) and pair.depth(pair.source) == (0, 0)
    assert {message["Attributes"]["ApproximateReceiveCount"] for message in pair.drain(pair.dlq)} == {"1"}


def test_several_sources_need_to_and_to_takes_any_queue_reference(capsys, sqs):
    pair = Pair(sqs, sources=2)
    pair.send("x")
    status, _, err = run(capsys, "redrive", pair.dlq_name)
    assert status == 2 and "several queues" in err and "--to" in err
    status, out, err = run(capsys, "redrive", pair.dlq_name, "--to", pair.sources[1])
    assert status == 0, out + err
    assert [message["Body"] for message in pair.drain(pair.sources[1])] == ["x"]


@pytest.mark.parametrize(
    ("make", "argv", "expected"),
    [
        (lambda sqs: Pair(sqs), ["redrive", "no-such-queue"], "queue no-such-queue does not exist"),
        (lambda sqs: Pair(sqs), ["peek", "arn:aws:sns:us-east-1:1:topic"], "is not an SQS queue ARN"),
        (lambda sqs: Pair(sqs), ["redrive", "{dlq}", "--to", "{dlq}"], "itself"),
        (lambda sqs: Pair(sqs), ["redrive", "{dlq}", "--method", "task"], "does not run message-move tasks"),
    ],
)
def test_bad_requests_are_one_line_on_stderr_and_exit_2(capsys, sqs, make, argv, expected):
    pair = make(sqs)
    status, out, err = run(capsys, *(item.format(dlq=pair.dlq_name) for item in argv))
    assert status == 2 and out == ""
    assert expected in err and len(err.strip().splitlines()) == 1


def test_a_standard_dlq_is_not_redriven_into_a_fifo_queue(capsys, sqs):
    pair, fifo = Pair(sqs), Pair(sqs, fifo=True)
    pair.send("x")
    status, _, err = run(capsys, "redrive", pair.dlq_name, "--to", fifo.source_names[0])
    assert status == 2 and "no message group" in err
    assert pair.depth(pair.dlq) == (1, 0)


# -- message-move tasks (a stub: moto has none) ----------------------------------------------


def test_where_the_endpoint_runs_move_tasks_the_redrive_is_one(capsys, sqs):
    pair = Pair(sqs, fifo=True)
    for n in range(4):
        pair.send(f"m-{n}", group="g", dedup=f"d-{n}", tenant="t")
    with move_tasks() as tasks:
        status, out, err = run(capsys, "redrive", pair.dlq_name)
        assert status == 0, out + err
        assert f"moved 4 of 4 message(s) from {pair.dlq_name} to {pair.source_names[0]} (message-move task)" in out
        [task] = tasks[pair.dlq_arn]
        assert task["Status"] == "COMPLETED" and task["DestinationArn"] == pair.arn(pair.source)
    moved = pair.drain(pair.source)
    assert [message["Body"] for message in moved] == ["m-0", "m-1", "m-2", "m-3"]
    assert [message["Attributes"]["MessageDeduplicationId"] for message in moved] == ["d-0", "d-1", "d-2", "d-3"]
    assert {message["MessageAttributes"]["tenant"]["StringValue"] for message in moved} == {"t"}


def test_a_dry_run_starts_no_move_task(capsys, sqs):
    pair = Pair(sqs)
    pair.send("x")
    with move_tasks() as tasks:
        status, out, _ = run(capsys, "redrive", pair.dlq_name, "--dry-run")
        assert status == 0 and "by message-move task; nothing changed" in out
        assert pair.dlq_arn not in tasks
    assert pair.depth(pair.dlq) == (1, 0)


def test_a_refused_move_task_falls_back_to_receive_send_delete(capsys, sqs):
    # AWS refuses a task whose source no queue uses as its DLQ; with --to the redrive still works.
    lone = sqs.create_queue(QueueName=f"lone-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    CREATED.append(lone)
    target = Pair(sqs)
    sqs.send_message(QueueUrl=lone, MessageBody="x")
    with move_tasks():
        status, out, err = run(capsys, "redrive", lone, "--to", target.source)
    assert status == 0
    assert "StartMessageMoveTask was refused (InvalidParameterValue)" in err and "(receive, send, delete)" in out
    assert [message["Body"] for message in target.drain(target.source)] == ["x"]


def test_a_running_move_task_is_reported_and_nothing_else_starts(capsys, sqs):
    pair = Pair(sqs)
    pair.send("x")
    with move_tasks() as tasks:
        tasks[pair.dlq_arn] = [{"TaskHandle": "h-1", "Status": "RUNNING", "SourceArn": pair.dlq_arn, "stuck": True}]
        status, _, err = run(capsys, "redrive", pair.dlq_name)
    assert status == 2 and "already running" in err and "--task-handle h-1" in err
    assert pair.depth(pair.dlq) == (1, 0)


def test_the_trace_header_is_sent_along(capsys, sqs):
    # moto's SendMessageBatch drops MessageSystemAttributes (AWS keeps them), so what the
    # redrive asks SQS to store is read off the request, with a botocore hook.
    pair = Pair(sqs)
    sqs.send_message(
        QueueUrl=pair.dlq,
        MessageBody="traced",
        MessageSystemAttributes={"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5e1b4151-5ac6c58f"}},
    )
    requests: list[dict[str, Any]] = []
    events = session().get_component("event_emitter")
    events.register("provide-client-params.sqs.SendMessageBatch", lambda params, **_: requests.append(params), "t")
    try:
        status, _, _ = run(capsys, "redrive", pair.dlq_name)
    finally:
        events.unregister("provide-client-params.sqs.SendMessageBatch", unique_id="t")
    assert status == 0
    [request] = requests
    assert request["Entries"][0]["MessageSystemAttributes"] == {
        "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5e1b4151-5ac6c58f"}
    }
    assert [message["Body"] for message in pair.drain(pair.source)] == ["traced"]


def test_endpoint_region_and_profile_come_from_the_options(capsys, sqs, aws, monkeypatch, tmp_path: Path):
    pair = Pair(sqs)
    pair.send("x")
    config = tmp_path / "config"
    config.write_text("[profile dlq-test]\nregion = us-east-1\naws_access_key_id = p\naws_secret_access_key = p\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    for name in ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    options = ("--endpoint-url", aws.endpoint_url, "--profile", "dlq-test")
    status, out, err = run(capsys, "peek", pair.dlq_name, "-n", "1", "--json", *options)
    assert status == 0, err
    assert json.loads(out)["body"] == "x"
    status, _, err = run(capsys, "list", "--endpoint-url", aws.endpoint_url, "--profile", "no-such-profile")
    assert status == 2 and "no-such-profile" in err


def test_a_move_task_that_fails_is_reported_and_exits_1(capsys, sqs):
    pair = Pair(sqs)
    pair.send("x")
    with move_tasks():
        FAIL_NEXT.append("AWS.SimpleQueueService.KmsAccessDenied")
        status, out, _ = run(capsys, "redrive", pair.dlq_name)
    assert status == 1
    assert "the move task ended FAILED: AWS.SimpleQueueService.KmsAccessDenied" in out
    assert pair.depth(pair.dlq) == (1, 0)
