"""``msgworker run``: invoke a handler by import path on an event file, without Docker.

Also the shared machinery of ``msgworker invoke``: reading events, importing handlers
and calling them as Lambda would.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from ..testing._context import LambdaContext
from .region import region_environment, resolve_region

QUIET_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")
"""Loggers kept at WARNING in a run: the AWS SDK's, not the function's."""


class CommandError(Exception):
    """A problem with what the user asked for; printed as one line, exit status 2."""


def add_run_command(commands: Any) -> None:
    run = commands.add_parser(
        "run",
        help="invoke a handler (module.attribute or module:attribute) on an event file",
        description="Invoke a Lambda handler on an event, as Lambda would: prints the response JSON on stdout "
        "and logs on stderr; exits 1 when the invocation fails.",
    )
    run.add_argument(
        "handler",
        help="the handler as module:attribute (handlers.orders:handler) or as a template's Handler "
        "(handlers.orders.handler, or handlers/orders.handler)",
    )
    run.add_argument("-e", "--event", required=True, help="event JSON file ('-' for stdin)")
    run.add_argument("--timeout", type=float, default=30.0, help="the function timeout in seconds (default 30)")
    run.add_argument("--path", action="append", default=[], help="extra import path (default: the current folder)")
    run.add_argument("--region", help="AWS_REGION/AWS_DEFAULT_REGION for the run (default as for invoke)")
    run.set_defaults(handle=run_handler)


def run_handler(arguments: argparse.Namespace) -> int:
    module_name, attribute = split_handler(arguments.handler)
    event = read_event(arguments.event)
    region = resolve_region(arguments.region, Path("template.yaml"))
    os.environ.update(region_environment(region))
    handler = import_handler(module_name, attribute, [Path(path) for path in [".", *arguments.path]])
    return call_handler(handler, event, LambdaContext(timeout=arguments.timeout, function_name=attribute))


def split_handler(handler: str) -> tuple[str, str]:
    """A handler's module and attribute, from ``module:attribute`` or from Lambda's form,
    ``package.module.attribute`` (``package/module.attribute`` too, as the Python runtime takes it).

    Example:
        >>> split_handler("app.notifications.handler"), split_handler("handlers.orders:handler")
        (('app.notifications', 'handler'), ('handlers.orders', 'handler'))
    """
    module_name, separator, attribute = handler.partition(":")
    if not separator:
        module_name, _, attribute = handler.replace("/", ".").rpartition(".")
    if not module_name or not attribute or "" in module_name.split("."):
        raise CommandError(
            f"handler {handler!r} must be module.attribute (as in a template: handlers.orders.handler) "
            "or module:attribute"
        )
    return module_name, attribute


def call_handler(handler: Any, event: Any, context: LambdaContext) -> int:
    """Call ``handler`` as Lambda would: response JSON on stdout, everything the function
    prints or logs on stderr; 1 when it raises, with Lambda's error shape on stdout."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    # The SDK's INFO lines ("Found credentials in environment variables.") are not the function's:
    # the Lambda runtime's root logger is at WARNING, so they do not show there either.
    for sdk in QUIET_LOGGERS:
        logging.getLogger(sdk).setLevel(logging.WARNING)
    try:
        # Lambda sends stdout and stderr alike to the logs; here stdout carries only the
        # response, so whatever the handler prints (Powertools logs, EMF) goes to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            response = handler(event, context)
    except Exception as error:
        traceback.print_exc(file=sys.stderr)
        print(json.dumps({"errorType": type(error).__name__, "errorMessage": str(error)}))
        return 1
    try:
        print(json.dumps(response, default=str))
    except (TypeError, ValueError) as error:
        raise CommandError(f"the handler's response is not JSON-serialisable: {error}") from None
    return 0


def read_event(name: str) -> Any:
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text()
    except OSError as error:
        raise CommandError(f"cannot read event file {name}: {error.strerror}") from None
    try:
        return json.loads(text)
    except ValueError as error:
        raise CommandError(f"event file {name} is not JSON: {error}") from None


def import_handler(module_name: str, attribute: str, paths: list[Path]) -> Any:
    for path in reversed(paths):
        resolved = str(path.resolve())
        if resolved not in sys.path:
            sys.path.insert(0, resolved)
    try:
        module = importlib.import_module(module_name)
    except Exception as error:
        raise CommandError(f"cannot import {module_name}: {type(error).__name__}: {error}") from None
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise CommandError(f"{module_name} has no callable {attribute!r}")
    return handler
