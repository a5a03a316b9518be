"""``msgworker pattern test``: does an event pattern (or SNS filter policy) match an event?

    msgworker pattern test '{"detail-type": ["OrderPlaced"]}' -e events/eventbridge/high-value-order.json
    msgworker pattern test policy.json --filter-policy -e notification.json

PATTERN and EVENT are each inline JSON (text starting with ``{``) or a file path; EVENT
may be ``-`` for standard input. Prints ``match`` or ``no match`` with the fields that
failed; exit status 0 on a match, 1 on no match, 2 when the pattern is invalid or an
input cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..patterns import EventPattern, Explanation, FilterPolicy, InvalidPatternError
from .run import CommandError


def add_pattern_command(commands: Any) -> None:
    pattern = commands.add_parser(
        "pattern",
        help="test an EventBridge event pattern or SNS filter policy against an event",
        description="Test event patterns and filter policies locally, with AWS's semantics.",
    )
    actions = pattern.add_subparsers(dest="action", required=True, metavar="ACTION")
    test = actions.add_parser(
        "test",
        help="match a pattern against an event",
        description="Match an EventBridge event pattern (or, with --filter-policy, an SNS subscription filter "
        "policy) against an event, and say which field failed which condition. PATTERN and EVENT are inline JSON "
        "(starting with '{') or a file path; EVENT may be '-' for stdin. Exit status: 0 match, 1 no match, "
        "2 invalid pattern or unreadable input.",
    )
    test.add_argument("pattern", metavar="PATTERN", help="the pattern or policy: inline JSON or a file")
    test.add_argument(
        "-e",
        "--event",
        required=True,
        metavar="EVENT",
        help="the event (EventBridge event or any JSON object); with --filter-policy: the message attributes "
        "(SNS form), the message body, or a whole SNS notification / SNS Lambda event",
    )
    test.add_argument("--filter-policy", action="store_true", help="PATTERN is an SNS subscription filter policy")
    test.add_argument(
        "--service",
        choices=("eventbridge", "lambda"),
        default="eventbridge",
        help="check PATTERN as an EventBridge rule accepts it (default), or as Lambda event filtering and Pipes do",
    )
    test.add_argument(
        "--scope",
        choices=("MessageAttributes", "MessageBody"),
        default="MessageAttributes",
        help="the filter policy's FilterPolicyScope (default MessageAttributes)",
    )
    test.add_argument("-q", "--quiet", action="store_true", help="print nothing; answer with the exit status only")
    test.set_defaults(handle=test_pattern)


def test_pattern(arguments: argparse.Namespace) -> int:
    source = _read(arguments.pattern, "pattern")
    event = _read(arguments.event, "event")
    try:
        if arguments.filter_policy:
            explanation = _explain_policy(FilterPolicy(source, scope=arguments.scope), event)
        else:
            if not isinstance(event, Mapping):
                raise CommandError("the event must be a JSON object")
            explanation = EventPattern(source, service=arguments.service).explain(event)
    except InvalidPatternError as error:
        raise CommandError(str(error)) from None
    if not arguments.quiet:
        print(explanation)
    return 0 if explanation.matched else 1


def _explain_policy(policy: FilterPolicy, event: Any) -> Explanation:
    notification = _notification(event)
    if policy.scope == "MessageBody":
        return policy.explain(body=notification.get("Message") if notification is not None else event)
    if notification is not None:
        attributes = notification.get("MessageAttributes") or {}
    elif isinstance(event, Mapping):
        attributes = event
    else:
        raise CommandError("with --scope MessageAttributes the event must be a JSON object of message attributes")
    return policy.explain(attributes=attributes)


def _notification(event: Any) -> Mapping[str, Any] | None:
    """The SNS notification inside ``event`` when it is one (or an SNS → Lambda event)."""
    if not isinstance(event, Mapping):
        return None
    records = event.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], Mapping) and "Sns" in records[0]:
        sns = records[0]["Sns"]
        return sns if isinstance(sns, Mapping) else None
    if event.get("Type") == "Notification" and "Message" in event:
        return event
    return None


def _read(value: str, what: str) -> Any:
    """Inline JSON when ``value`` starts with ``{`` (or ``[``), stdin for ``-``, else a file."""
    if value.lstrip().startswith(("{", "[")):
        text, origin = value, f"the inline {what}"
    else:
        try:
            text = sys.stdin.read() if value == "-" else Path(value).read_text()
        except OSError as error:
            raise CommandError(f"cannot read {what} file {value}: {error.strerror}") from None
        origin = f"{what} file {value}"
    try:
        return json.loads(text)
    except ValueError as error:
        raise CommandError(f"{origin} is not JSON: {error}") from None
