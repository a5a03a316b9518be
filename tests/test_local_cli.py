"""``msgworker local``: the endpoint it prints takes real SDK calls, Ctrl-C stops it cleanly;
and the example template's flow through ``local_stack``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3

from msgworker.testing import local_stack

ROOT = Path(__file__).resolve().parent.parent
MSGWORKER = str(Path(sys.executable).parent / "msgworker")


def test_msgworker_local_prints_its_endpoint_runs_the_template_and_stops_on_ctrl_c() -> None:
    process = subprocess.Popen(
        [MSGWORKER, "local", "-t", "tests/local_stack/template.yaml", "--no-view"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        endpoint = ""
        while not endpoint:
            line = process.stdout.readline()
            assert line, f"msgworker local ended early: {process.stderr.read() if process.stderr else ''}"
            if line.startswith("local AWS endpoint: "):
                endpoint = line.split(": ", 1)[1].strip()
        sqs = boto3.client(
            "sqs", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        url = sqs.get_queue_url(QueueName="JobsQueue")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"kind": "job"}))
        give_up = time.monotonic() + 60
        while int(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]["ApproximateNumberOfMessages"]
        ) or int(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"][
                "ApproximateNumberOfMessagesNotVisible"
            ]
        ):
            assert time.monotonic() < give_up, "the message was never consumed"
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "stopping" in out
    assert "PartialFunction <- PartialFunction.Jobs: 1 record, ok" in err  # one line per invocation


def test_the_example_template_fans_out_routes_and_dead_letters(tmp_path: Path) -> None:
    with local_stack(ROOT / "template.yaml", parameter_overrides={"MaxReceiveCount": 2}) as stack:
        notification = {"user_id": "u-1", "channel": "email", "text": "hello"}
        stack.publish("NotificationsTopic", notification, attributes={"event_type": "order.shipped"})
        stack.publish("NotificationsTopic", notification, attributes={"event_type": "user.welcome"})
        order = {"order_id": "o-1", "customer_id": "c-1", "currency": "EUR", "total": 1500}
        stack.put_event("OrdersBus", source="com.example.orders", detail_type="OrderPlaced", detail=order)
        stack.send("OrdersQueue", {"order_id": "o-2", "customer_id": "c-2", "total": 5, "currency": "CHF"})
        stack.drain(timeout=60)
        sources = {i.source for i in stack.invocations("NotificationsFunction")}
        assert sources == {
            "NotificationsFunction.NotificationsQueueEvent",
            "NotificationsFunction.NotificationsTopicEvent",
        }
        assert [i.source for i in stack.invocations("HighValueOrdersFunction")] == [
            "HighValueOrdersFunction.HighValueOrdersQueueEvent"  # 1500: the queue rule only
        ]
        assert [json.loads(letter.body)["order_id"] for letter in stack.dead_letters("OrdersQueue")] == ["o-2"]
