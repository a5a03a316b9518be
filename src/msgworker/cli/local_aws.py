"""``msgworker local-aws``: a local AWS (a moto server on loopback) holding a template's
DynamoDB tables, in the foreground until Ctrl-C, with the environment to point SDKs at it.

stdout carries only shell lines (``export NAME=value``, then a ``#`` comment once the
server is ready), so it can be saved and sourced; what the command says to a person goes
to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shlex
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from .run import CommandError
from .template import TemplateError, load_template, table_variables

READY = "# msgworker local-aws: ready; Ctrl-C stops it"
"""The last line on stdout, once every table exists."""


def add_local_aws_command(commands: Any) -> None:
    local = commands.add_parser(
        "local-aws",
        help="start a local AWS with a template's tables and print the environment to use",
        description="Start a moto server on 127.0.0.1 (a free port) holding the DynamoDB tables of a SAM "
        "template (key schema and TTL as declared), and print export lines for the environment that points "
        "AWS SDKs and msgworker at it: AWS_ENDPOINT_URL, dummy credentials, the region, and each function "
        "variable that names a table (MSGWORKER_IDEMPOTENCY_TABLE...). Runs in the foreground; Ctrl-C stops "
        'it. Needs moto\'s server: pip install "msgworker[testing]".',
    )
    local.add_argument("-t", "--template", default="template.yaml", help="SAM template (default template.yaml)")
    local.add_argument("-v", "--verbose", action="store_true", help="log every request the server answers")
    local.set_defaults(handle=serve)


def serve(arguments: argparse.Namespace) -> int:
    from ..testing import local_aws

    template_path = Path(arguments.template)
    try:
        variables = table_variables(load_template(template_path))
    except TemplateError as error:
        raise CommandError(str(error)) from None
    if not arguments.verbose:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the server's request log
    with contextlib.ExitStack() as running:
        try:
            aws = running.enter_context(local_aws(template_path))
        except RuntimeError as error:  # moto is not installed
            raise CommandError(f'{error}, or everything local-aws needs: pip install "msgworker[testing]"') from None
        except Exception as error:  # a table the template declares but the server refuses
            raise CommandError(
                f"cannot create the tables of {template_path}: {type(error).__name__}: {error}"
            ) from None
        stop = running.enter_context(stopped_by_signals())  # before READY: a signal from then on stops cleanly
        print(shell_lines({**aws.environment, **variables}), flush=True)
        print(READY, flush=True)
        tables = ", ".join(aws.tables) or "none"
        print(f"local AWS at {aws.endpoint_url} with tables: {tables}. Ctrl-C stops it.", file=sys.stderr, flush=True)
        stop.wait()
    print("local AWS stopped", file=sys.stderr)
    return 0


def shell_lines(environment: Mapping[str, str]) -> str:
    """``export`` lines for ``environment``, each value quoted for a POSIX shell.

    Example:
        >>> print(shell_lines({"AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "TABLE": "my table"}))
        export AWS_ENDPOINT_URL=http://127.0.0.1:5000
        export TABLE='my table'
    """
    return "\n".join(f"export {name}={shlex.quote(value)}" for name, value in environment.items())


@contextlib.contextmanager
def stopped_by_signals() -> Iterator[threading.Event]:
    """An event set by Ctrl-C (SIGINT) or SIGTERM, instead of a KeyboardInterrupt raised
    wherever the main thread happens to be; the previous handlers come back on exit.

    Installing a SIGINT handler explicitly also matters when the command was started from a
    non-interactive shell's background job: such a process inherits SIGINT ignored, so
    Python would install no KeyboardInterrupt handler and Ctrl-C would do nothing.
    """
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {number: signal.signal(number, handle) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
