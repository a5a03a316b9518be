"""Cold start as Lambda sees it: import a handler module, then run its first batch.

Usage: ``python first_batch.py MODULE < event.json``. The context is a stub rather than
msgworker.testing's, so the Powertools process never imports msgworker.
"""

import importlib
import json
import sys


class Context:
    function_name = "bench"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def main() -> None:
    event = json.load(sys.stdin)
    module = importlib.import_module(sys.argv[1])
    response = module.handler(event, Context())
    if response != {"batchItemFailures": []}:
        sys.exit(f"unexpected response: {response!r}")


if __name__ == "__main__":
    main()
