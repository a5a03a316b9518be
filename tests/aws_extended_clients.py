"""Drive AWS's own SQS and SNS Extended Client libraries (from PyPI) against a local endpoint.

Run as a script, in a process of its own, because importing ``sqs_extended_client`` or
``sns_extended_client`` replaces ``boto3.Session`` for the whole process: the tests that use
it (tests/test_claim_check_interop.py) call it with ``subprocess`` so no other test meets a
patched boto3. Arguments are one JSON object on stdin; the answer is JSON on stdout.

    {"command": "sqs-send", "queue_url": ..., "bucket": ..., "body": ..., "legacy": false}
    {"command": "sns-publish", "topic_arn": ..., "bucket": ..., "message": ...}
    {"command": "sqs-receive", "queue_url": ..., "bucket": ...}
"""

from __future__ import annotations

import json
import sys
from typing import Any


def main() -> None:
    request = json.load(sys.stdin)
    command = request["command"]
    if command == "sqs-send":
        import sqs_extended_client
        from sqs_extended_client.client import SQSExtendedClientSession

        sqs: Any = SQSExtendedClientSession().client("sqs")
        sqs.large_payload_support = request["bucket"]
        sqs.use_legacy_attribute = bool(request.get("legacy", False))
        answer = sqs.send_message(QueueUrl=request["queue_url"], MessageBody=request["body"])
        print(json.dumps({"MessageId": answer["MessageId"]}))
    elif command == "sns-publish":
        import sns_extended_client  # noqa: F401
        from sns_extended_client.session import SNSExtendedClientSession

        sns: Any = SNSExtendedClientSession().client("sns")
        sns.large_payload_support = request["bucket"]
        sns.always_through_s3 = True
        answer = sns.publish(TopicArn=request["topic_arn"], Message=request["message"])
        print(json.dumps({"MessageId": answer["MessageId"]}))
    elif command == "sqs-receive":
        import sqs_extended_client  # noqa: F401
        from sqs_extended_client.client import SQSExtendedClientSession

        sqs = SQSExtendedClientSession().client("sqs")
        sqs.large_payload_support = request["bucket"]
        found: list[dict[str, Any]] = []
        while True:
            answer = sqs.receive_message(
                QueueUrl=request["queue_url"], MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            )
            messages = answer.get("Messages", [])
            if not messages:
                break
            for message in messages:
                found.append({"Body": message["Body"], "MessageAttributes": message.get("MessageAttributes", {})})
                sqs.delete_message(QueueUrl=request["queue_url"], ReceiptHandle=message["ReceiptHandle"])
        print(json.dumps(found))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main()
