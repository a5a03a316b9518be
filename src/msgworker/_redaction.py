"""The one place that decides what of an exception may leave msgworker: in a log line, a
response, or an exception raised to the Lambda runtime.

Text msgworker writes itself (its own errors' messages) is payload-free by construction.
Text it did not write may quote the payload: a pydantic ``ValidationError`` carries the
input values, a ``ValueError(f"bad card {card}")`` carries whatever the code put in it,
and a chained cause carries its own. So, unless the worker was built with
``log_payload=True``:

- :func:`describe` gives an error's type and, for msgworker's own errors, its message;
  for a pydantic ``ValidationError``, the payload-free summary (locations, error types);
  for anything else only its type name;
- :func:`traceback_text` gives the traceback, frames (file, line, code) and the chain,
  with every exception in it rendered by :func:`describe`;
- :func:`public` gives the exception to raise to the Lambda runtime (SNS and EventBridge
  → Lambda): msgworker's own error without its chain, or a
  :class:`~msgworker.errors.RecordsFailedError` naming the record's error type.

Every log, response and raise of a record's failure goes through here.
"""

from __future__ import annotations

import hashlib
import traceback
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, TypeGuard

from . import errors
from ._layers import current_invocation

if TYPE_CHECKING:
    from pydantic import ValidationError

WITHHELD = "message withheld (it may quote the payload; worker(log_payload=True) shows it)"

# Raised by users with their own text (``PermanentError(f"order {id} ...")``): not msgworker's words.
_USERS_TO_RAISE = (errors.MsgworkerError, errors.PermanentError)


def payload_allowed(log_payload: bool | None = None) -> bool:
    """``log_payload`` if given, else the running worker's setting (``False`` outside one)."""
    if log_payload is not None:
        return log_payload
    invocation = current_invocation()
    return invocation is not None and invocation.log_payload


def is_own(error: BaseException) -> bool:
    """Did msgworker write this error's message (so it is payload-free)?"""
    kind = type(error)
    # Any msgworker module: the router's NoRouteError and the patterns' errors are msgworker's words too.
    return kind.__module__.partition(".")[0] == "msgworker" and kind not in _USERS_TO_RAISE


def describe(error: BaseException, log_payload: bool | None = None) -> str:
    """``"Type: message"`` where the message cannot carry payload, else ``"Type (withheld)"``.

    Example:
        >>> describe(ValueError("card 4111-1111-1111-1111 declined"))
        'ValueError (message withheld (it may quote the payload; worker(log_payload=True) shows it))'
        >>> describe(errors.ParseError("payload is empty"))
        'ParseError: payload is empty'
    """
    name = type(error).__name__
    if payload_allowed(log_payload) or is_own(error):
        return f"{name}: {error}"
    if _is_validation_error(error):
        from ._parsing import validation_failure

        return f"{name}: {validation_failure(error, error.title, None, include_input=False)}"
    return f"{name} ({WITHHELD})"


def error_text(error: BaseException, log_payload: bool | None = None) -> str:
    """:func:`describe` without the leading type name (for a log's ``error`` field beside ``error_type``)."""
    text = describe(error, log_payload)
    name = type(error).__name__
    return text[len(name) + 2 :] if text.startswith(f"{name}: ") else WITHHELD


def _is_validation_error(error: BaseException) -> TypeGuard[ValidationError]:
    # By name, so that a breaker or retry used alone does not import pydantic for this.
    return any(
        kind.__name__ == "ValidationError" and kind.__module__.startswith("pydantic") for kind in type(error).__mro__
    )


def traceback_text(error: BaseException, log_payload: bool | None = None) -> str:
    """The traceback of ``error`` and its chain, each exception shown by :func:`describe`.

    Example:
        >>> card = "4111-1111-1111-1111"
        >>> try:
        ...     raise KeyError(card)
        ... except KeyError as caught:
        ...     "4111" in traceback_text(caught)
        False
    """
    if payload_allowed(log_payload):
        return "".join(traceback.format_exception(error))
    parts: list[str] = []
    for position, (link, how) in enumerate(_chain(error)):
        if position:
            parts.append(how)
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(link.__traceback__))
        parts.append(describe(link, False) + "\n")
    return "".join(parts)


_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


def _chain(error: BaseException) -> Iterator[tuple[BaseException, str]]:
    """The chain as Python prints it: oldest first, each with the words that link it on."""
    links: list[tuple[BaseException, str]] = []
    seen: set[int] = set()
    current: BaseException | None = error
    how = ""
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        links.append((current, how))
        if current.__cause__ is not None:
            current, how = current.__cause__, _CAUSE
        elif current.__context__ is not None and not current.__suppress_context__:
            current, how = current.__context__, _CONTEXT
        else:
            current = None
    # Printed oldest first; each later one is introduced by how the one after it was linked.
    ordered = list(reversed(links))
    for index, (link, _) in enumerate(ordered):
        yield link, ordered[index - 1][1] if index else ""


def public(
    errors_: Sequence[BaseException], ids: Sequence[str | None], source: str, total: int, log_payload: bool
) -> BaseException:
    """The exception an SNS or EventBridge → Lambda invocation raises for its failed records.

    One failure is raised as its own type, so Lambda's ``errorType`` (and a caller's
    ``except``) still recognise it: msgworker's own error as itself without its chain;
    another exception as a fresh instance of its class whose only argument says its text
    was withheld. What cannot be rebuilt that way (a pydantic ``ValidationError``, a class
    whose ``__init__`` or ``__str__`` needs more), and several failures, become a
    :class:`~msgworker.errors.RecordsFailedError` naming each record's id and error type;
    its ``failures`` keep the originals for code that explicitly wants them.
    """
    if len(errors_) == 1:
        error = errors_[0]
        if log_payload:
            return error
        if is_own(error):
            error.__cause__ = error.__context__ = None
            error.__suppress_context__ = True
            return error
        same = _without_text(error)
        if same is not None:
            return same
    listed = "; ".join(
        f"{record_id} ({describe(error, log_payload)})" for record_id, error in zip(ids, errors_, strict=True)
    )
    return errors.RecordsFailedError(
        f"{len(errors_)} of {total} {source} records failed: {listed}", failures=list(errors_)
    )


def _without_text(error: BaseException) -> BaseException | None:
    """A new exception of ``error``'s class carrying only :data:`WITHHELD`, or ``None``."""
    if _is_validation_error(error):
        return None
    kind = type(error)
    try:
        same = kind.__new__(kind)
        same.args = (WITHHELD,)
        str(same)  # a __str__ that reads what __init__ would have set fails here, not in Lambda's log
    except Exception:
        return None
    return same


def key_digest(key: str) -> str:
    """How an idempotency key (payload-derived) appears in messages: its namespace and a
    short SHA-256, never the key itself.

    Example:
        >>> key_digest("charge#4111-1111-1111-1111")
        "'charge' key sha256:b3f846b293ce"
    """
    name, _, rest = key.partition("#")
    rest = rest or name
    digest = hashlib.sha256(rest.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{name!r} key sha256:{digest}" if rest else f"key sha256:{digest}"


__all__ = ["WITHHELD", "describe", "error_text", "is_own", "key_digest", "payload_allowed", "public", "traceback_text"]
