"""The ``msgworker`` console command.

    msgworker invoke OrdersFunction -e events/sqs/orders.json [-t template.yaml] [-n env.json]
    msgworker run handlers.orders:handler -e events/sqs/orders.json
    msgworker event sqs --body '{"order_id": "o-1", "total": 5}' --fifo --group customer-1
    msgworker pattern test '{"detail-type": ["OrderPlaced"]}' -e events/eventbridge/high-value-order.json
    msgworker dlq list | peek QUEUE [-n N] | redrive QUEUE [--to SOURCE] [--dry-run]
    msgworker local -t template.yaml
    msgworker local-aws -t template.yaml

Every user error (a handler that does not import, an event file that is not JSON, an
unknown option) is one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .dlq import add_dlq_command
from .events import add_event_command
from .invoke import add_invoke_command
from .local import add_local_command
from .local_aws import add_local_aws_command
from .pattern import add_pattern_command
from .run import CommandError, add_run_command

__all__ = ["CommandError", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="msgworker", description="Run and test msgworker Lambda handlers locally.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_invoke_command(commands)
    add_run_command(commands)
    add_event_command(commands)
    add_pattern_command(commands)
    add_dlq_command(commands)
    add_local_command(commands)
    add_local_aws_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    try:
        status: int = arguments.handle(arguments)
    except CommandError as error:
        print(f"msgworker {arguments.command}: {error}", file=sys.stderr)
        return 2
    return status
