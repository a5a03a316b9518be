"""``msgworker local``: run a template's whole topology on a local endpoint, in the foreground."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from pathlib import Path
from typing import Any

from .local_aws import stopped_by_signals
from .run import CommandError
from .template import TemplateError, parse_parameter_overrides


def add_local_command(commands: Any) -> None:
    local = commands.add_parser(
        "local",
        help="run the template's queues, topics, rules, streams and functions locally (no Docker)",
        description="Run a SAM template's whole messaging topology on a local AWS endpoint (moto on loopback): "
        "event source mappings, SNS and EventBridge routing, asynchronous retries and destinations, the "
        "functions in this process. Prints the endpoint and a live view; Ctrl-C stops it.",
    )
    local.add_argument("-t", "--template", default="template.yaml", help="SAM template (default template.yaml)")
    local.add_argument("--parameter-overrides", default="", help="template parameter values: 'Key=Value Key2=Value2'")
    local.add_argument("--no-view", action="store_true", help="no live view: log lines only")
    local.set_defaults(handle=run_local)


def run_local(arguments: argparse.Namespace) -> int:
    from ..local import LocalRuntime

    if not logging.getLogger().handlers:
        logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("msgworker.local").setLevel(logging.INFO)
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        runtime = LocalRuntime(Path(arguments.template), parse_parameter_overrides(arguments.parameter_overrides))
    except (TemplateError, OSError) as error:
        raise CommandError(str(error)) from None
    with stopped_by_signals() as stop, runtime:
        print(f"local AWS endpoint: {runtime.endpoint_url}", flush=True)
        for name, value in runtime.aws.environment.items() if runtime.aws else ():
            print(f"  export {name}={value}", flush=True)
        topology = runtime.topology
        print(
            f"running {len(topology.functions)} functions, {len(topology.sqs_mappings)} SQS and "
            f"{len(topology.stream_mappings)} stream mappings, {len(topology.subscriptions)} subscriptions, "
            f"{len(topology.rules)} rules; Ctrl-C stops",
            flush=True,
        )
        if arguments.no_view:
            while not stop.wait(0.5):
                pass
        else:
            _live(runtime, stop)
        print("stopping", flush=True)
    return 0


def _live(runtime: Any, stop: threading.Event) -> None:
    from rich.live import Live

    from ..local._view import render

    with Live(render(runtime.status(), runtime.endpoint_url), refresh_per_second=2, redirect_stderr=True) as live:
        while not stop.wait(0.5):
            live.update(render(runtime.status(), runtime.endpoint_url))
