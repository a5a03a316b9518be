"""The one place msgworker makes AWS clients: the idempotency and breaker stores and the
failure actions all get theirs here, with one retry policy and one set of timeouts.

- **One policy.** Standard retry mode, :data:`ATTEMPTS` attempts in all (the SDKs'
  standard default): enough to ride out a throttle or a dropped connection, few enough
  that a dependency that is down fails the record (it comes back) instead of the Lambda.
  Each attempt may take :data:`CONNECT_TIMEOUT` + :data:`READ_TIMEOUT` seconds.
- **Bounded by the Lambda's time.** Clients are made once per container and outlive every
  invocation, and botocore fixes timeouts when a client is made (its HTTP pool has no
  per-request timeout), so the timeouts are a cap chosen at creation. What the current
  invocation bounds is the retries: a ``needs-retry`` hook, asked before botocore's own
  retry handler, stops retrying when the backoff and one more whole attempt would not
  end before the Lambda does (``current_invocation().ends``), and the caller gets the
  error the last attempt had, as if it had been the last one allowed. Otherwise a throttled call
  near the end could outlive the Lambda, and Lambda would then fail the whole batch,
  records that succeeded included. The first attempt always goes: only the caller knows
  whether skipping it is better (the failure actions skip calls with less than 0.5 s left;
  an idempotency completion is better tried). Outside ``worker`` nothing is bounded.
- **One client per service, region and endpoint** for the container, made on first use
  under a lock; :func:`reset` drops them all (tests whose local AWS server restarts on
  another port, and ``msgworker.testing``).
- **Endpoints as botocore resolves them**: ``AWS_ENDPOINT_URL_<SERVICE>``, then
  ``AWS_ENDPOINT_URL`` (and the config file's ``services`` sections); both are part of the
  cache key, so a changed variable gets a new client.
- **botocore directly, not boto3.** ``boto3.client`` imports boto3 (and s3transfer) and
  builds a boto3 session on top of botocore's; msgworker uses clients only, so it creates
  them from a botocore session: same credentials chain, region and endpoint variables,
  less cold start (measured in docs/decisions/0013-aws-clients.md, ``bench/cold_clients.py``).
- **Requests are not validated again client-side** (``parameter_validation=False``): every
  request here is built by msgworker, and validation costs about a sixth of a DynamoDB
  call's client time, paid once per record.

Example:
    >>> client_config().retries
    {'mode': 'standard', 'total_max_attempts': 3}
"""

from __future__ import annotations

import os
import threading
from typing import Any

from . import _warm
from ._layers import current_invocation
from .errors import ConfigurationError

ATTEMPTS = 3
"""Attempts per call, the first included (botocore's ``total_max_attempts``)."""
CONNECT_TIMEOUT = 1.0
"""Seconds to open a connection: an AWS endpoint in the same region answers in milliseconds."""
READ_TIMEOUT = 2.0
"""Seconds to wait for a response (between bytes): DynamoDB and SQS answer in milliseconds."""
POOL_CONNECTIONS = 16
"""HTTP connections kept per client: one SQS batch's idempotency claims in flight at once."""
MAX_BACKOFF = 20.0
"""The longest sleep botocore's standard mode takes before a retry."""

INSTALL_HINT = (
    "msgworker's AWS features (idempotency, the circuit breaker's DynamoDB store, dead-lettering, redelivery "
    'backoff, pause_source) need botocore, which is not installed: pip install "msgworker[aws]" (the AWS Lambda '
    "Python runtime includes it, so a function needs it neither in its package nor in a layer)"
)

_clients: dict[tuple[str | None, ...], Any] = {}
_loader: list[Any] = []  # botocore's data loader, kept across reset(): it caches the parsed service models
_send_hooks: list[Any] = []  # ``before-send`` handlers every new session gets (msgworker.testing's guard)
_session: list[Any] = []  # the botocore session, made once (loading its data files costs milliseconds)
_lock = threading.Lock()


def aws_client(service: str, region: str | None = None) -> Any:
    """The container's client for ``service`` (``"dynamodb"``, ``"sqs"``...), made on first
    use. ``region`` defaults to botocore's (``AWS_DEFAULT_REGION``, which Lambda sets).

    Raises:
        ConfigurationError: botocore is not installed, or the client cannot be made (no
            region configured, an unknown service).

    Example:
        >>> aws_client("sqs", "eu-west-1") is aws_client("sqs", "eu-west-1")
        True
    """
    key = _key(service, region)
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = _create(service, region, client_config())
    return client


def prepare(service: str) -> None:
    """In a Lambda's init phase, make ``service``'s client now rather than in the first batch.

    Called where a decorator that will need the client is applied (``@idempotent``,
    ``@circuit_breaker`` with a DynamoDB table), which in Lambda is the handler module's
    import. Only when ``AWS_LAMBDA_FUNCTION_NAME`` is set: tests and scripts keep making
    clients on first use, after they have pointed the environment where they want. A
    failure here is not raised: the first use makes the client again and reports it.

    Example:
        >>> prepare("dynamodb")  # outside Lambda: nothing happens until first use
    """
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        try:
            aws_client(service)
        except Exception:  # never fail the init phase; first use says what is wrong
            return


def new_client(
    service: str,
    region: str | None = None,
    *,
    pool: int | None = None,
    config: Any = None,
    endpoint_url: str | None = None,
    profile: str | None = None,
) -> Any:
    """A client of its own (not shared, not cached) with the same policy, for a store with
    settings of its own: ``pool`` HTTP connections, and ``config`` (a
    ``botocore.config.Config``) merged over the rest. The CLI passes ``endpoint_url``
    (``--endpoint-url``, over the environment's) and ``profile`` (``--profile``: a
    botocore session of its own, reading that profile of the config files).

    Example:
        >>> new_client("dynamodb", "eu-west-1", pool=64).meta.config.max_pool_connections
        64
        >>> new_client("sqs", "eu-west-1", endpoint_url="http://127.0.0.1:5000").meta.endpoint_url
        'http://127.0.0.1:5000'
    """
    merged = client_config() if pool is None else client_config(max_pool_connections=pool)
    if config is not None:
        merged = merged.merge(config)
    with _lock:
        return _create(service, region, merged, endpoint_url=endpoint_url, profile=profile)


def client_config(**overrides: Any) -> Any:
    """The ``botocore.config.Config`` every msgworker client is made with (``overrides``
    replace single settings).

    Example:
        >>> client_config(read_timeout=5).read_timeout
        5
    """
    config = botocore("config").Config
    settings: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT,
        "read_timeout": READ_TIMEOUT,
        "retries": {"mode": "standard", "total_max_attempts": ATTEMPTS},
        "max_pool_connections": POOL_CONNECTIONS,
        "parameter_validation": False,
    }
    return config(**{**settings, **overrides})


def session() -> Any:
    """The botocore session every client here is made from (made on first use). Handlers
    registered on its events apply to the clients made afterwards: tests record the calls
    msgworker makes that way (after :func:`reset`, so that every client is new).

    Example:
        >>> session() is session()
        True
    """
    with _lock:
        return _session_locked()


def reset() -> None:
    """Forget every client (and the botocore session, with the credentials it loaded): the
    next :func:`aws_client` call makes a new one from the environment as it is then.

    Example:
        >>> reset()
    """
    with _lock:
        _clients.clear()
        _session.clear()


_warm.on_reset(reset)


def _key(service: str, region: str | None) -> tuple[str | None, ...]:
    environ = os.environ
    return (
        service,
        region or environ.get("AWS_DEFAULT_REGION") or environ.get("AWS_REGION"),
        environ.get(f"AWS_ENDPOINT_URL_{service.upper().replace('-', '_')}"),
        environ.get("AWS_ENDPOINT_URL"),
    )


def _create(
    service: str, region: str | None, config: Any, *, endpoint_url: str | None = None, profile: str | None = None
) -> Any:
    """A new client (call with the lock held: the session is shared)."""
    exceptions = botocore("exceptions")
    try:
        session = botocore("session").Session(profile=profile) if profile else _session_locked()
        client = session.create_client(service, region_name=region, config=config, endpoint_url=endpoint_url)
    except exceptions.BotoCoreError as error:
        raise ConfigurationError(
            f"cannot create an AWS {service} client: {error} (set AWS_REGION or AWS_DEFAULT_REGION, "
            "or pass a client of your own)"
        ) from error
    # Before botocore's own retry handler, which then never sees a retry that cannot fit.
    service_event = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register_first(f"needs-retry.{service_event}", _RetryInTime(client))
    return client


def _session_locked() -> Any:
    if not _session:
        made = botocore("session").get_session()
        # A new session after reset() reads the environment and credentials again, but
        # not botocore's model files: parsing them again would make every first call of
        # a test (msgworker.testing resets before each) tens of milliseconds slower.
        if _loader:
            made.register_component("data_loader", _loader[0])
        else:
            _loader.append(made.get_component("data_loader"))
        for hook in _send_hooks:
            made.register("before-send", hook)
        _session.append(made)
    return _session[0]


def set_send_hook(hook: Any) -> None:
    """Have every client made from now on call ``hook`` before each request (botocore's
    ``before-send`` event; ``None`` removes it). The clients already made are forgotten.
    ``msgworker.testing`` keeps tests from reaching real AWS this way.

    Example:
        >>> set_send_hook(None)
    """
    with _lock:
        _send_hooks.clear()
        if hook is not None:
            _send_hooks.append(hook)
        _clients.clear()
        _session.clear()


class _RetryInTime:
    """``needs-retry`` hook: no opinion (None) while a retry fits before the Lambda ends;
    otherwise it raises what the client would raise had this been the last attempt allowed,
    so no retry (and no backoff sleep) starts."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __call__(
        self,
        attempts: int,
        response: Any = None,
        caught_exception: BaseException | None = None,
        operation: Any = None,
        **_: Any,
    ) -> None:
        if caught_exception is None and (response is None or response[0].status_code < 300):
            return  # a success: nothing to retry anyway
        invocation = current_invocation()
        if invocation is None:
            return
        # The longest backoff standard mode may sleep before this retry, then a whole attempt.
        needed = min(MAX_BACKOFF, 2.0 ** (attempts - 1)) + CONNECT_TIMEOUT + READ_TIMEOUT
        if invocation.ends - invocation.clock() >= needed:
            return
        if caught_exception is not None:
            raise caught_exception
        # The error response as the client raises it: the modelled exception class, so
        # `except client.exceptions.ThrottlingException` still catches it.
        parsed = response[1]
        error = parsed.get("Error", {})
        kind = self._client.exceptions.from_code(error.get("QueryErrorCode") or error.get("Code"))
        raise kind(parsed, getattr(operation, "name", "call"))


def botocore(module: str) -> Any:
    """A botocore module, imported on first use (untyped: botocore ships no type hints).

    Raises:
        ConfigurationError: botocore is not installed (the message says what to install).

    Example:
        >>> botocore("exceptions").ClientError.__name__
        'ClientError'
    """
    from importlib import import_module

    try:
        return import_module(f"botocore.{module}")
    except ImportError as error:
        raise ConfigurationError(INSTALL_HINT) from error


__all__ = [
    "ATTEMPTS",
    "CONNECT_TIMEOUT",
    "POOL_CONNECTIONS",
    "READ_TIMEOUT",
    "aws_client",
    "botocore",
    "client_config",
    "new_client",
    "prepare",
    "reset",
    "session",
    "set_send_hook",
]
