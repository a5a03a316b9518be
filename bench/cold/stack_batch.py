"""A cold invocation of a full-stack handler: import MODULE, run one 10-record SQS batch of
fresh order ids (so every key is claimed, not a duplicate), print the peak RSS in KiB.

Usage: ``python stack_batch.py MODULE``. The event and the context are plain dicts and a stub,
so the Powertools process never imports msgworker.
"""

import importlib
import json
import resource
import sys
import uuid


class Context:
    function_name = "bench"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def event() -> dict[str, object]:
    records = []
    for _ in range(10):
        order = {"order_id": uuid.uuid4().hex, "customer_id": "c-1", "total": 12.5, "currency": "EUR"}
        records.append(
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "handle",
                "body": json.dumps(order),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1700000000000",
                    "SenderId": "AIDA",
                    "ApproximateFirstReceiveTimestamp": "1700000000000",
                },
                "messageAttributes": {},
                "md5OfBody": "0" * 32,
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:orders",
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


def main() -> None:
    module = importlib.import_module(sys.argv[1])
    response = module.handler(event(), Context())
    if response != {"batchItemFailures": []}:
        sys.exit(f"unexpected response: {response!r}")
    print(peak_kib())


def peak_kib() -> int:
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over from the parent across
    # fork + exec, so a child of a large benchmark process would report the parent's size.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


if __name__ == "__main__":
    main()
