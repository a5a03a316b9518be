"""The settings of one ``@idempotent`` function, checked once when they are made.

They are apart from the layer so that a bad setting fails when the handler module is
imported (``idempotent(ttl=0)`` raises before any function is decorated), and so that the
pure decisions in :mod:`._decisions` read plain values rather than a layer object.

Errors are ``ValueError``: that is what ``idempotent`` has always raised for a bad option,
and :class:`~msgworker.errors.ConfigurationError` (a missing table, an unset variable) is
not a ``ValueError``. Each message names the option and what it accepts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ._cache import DEFAULT_CACHE_SIZE

DEFAULT_TTL = 3600

OnPayloadMismatch = Literal["error", "duplicate"]
OnStoreError = Literal["fail", "run"]


@dataclass(frozen=True, slots=True)
class Options:
    """What ``idempotent(...)`` was given besides its key, table and store.

    Example:
        >>> Options(ttl=60).lease is None
        True
        >>> Options(ttl=0)
        Traceback (most recent call last):
        ...
        ValueError: idempotent(ttl=...) must be a positive, finite number of seconds ... got 0
    """

    name: str | None = None
    """Namespace of the function's keys; ``None``: the function's ``module.qualname``."""
    ttl: float = DEFAULT_TTL
    """Seconds a completed key is remembered."""
    lease: float | None = None
    """Seconds a claim holds its key; ``None``: until the Lambda's own end."""
    store_result: bool = False
    on_payload_mismatch: OnPayloadMismatch = "error"
    on_store_error: OnStoreError = "fail"
    cache_size: int = DEFAULT_CACHE_SIZE
    """Completed keys remembered in the warm container (0 turns the cache off)."""

    def __post_init__(self) -> None:
        if not _is_seconds(self.ttl):
            raise ValueError(
                "idempotent(ttl=...) must be a positive, finite number of seconds "
                f"(how long a completed key is remembered), got {self.ttl!r}"
            )
        if self.lease is not None and not _is_seconds(self.lease):
            raise ValueError(
                "idempotent(lease=...) must be a positive, finite number of seconds, or None to hold a claim "
                f"until the Lambda's end, got {self.lease!r}"
            )
        if self.on_payload_mismatch not in ("error", "duplicate"):
            raise ValueError(
                f"idempotent(on_payload_mismatch=...) must be 'error' or 'duplicate', got {self.on_payload_mismatch!r}"
            )
        if self.on_store_error not in ("fail", "run"):
            raise ValueError(f"idempotent(on_store_error=...) must be 'fail' or 'run', got {self.on_store_error!r}")
        if self.name is not None and (not isinstance(self.name, str) or not self.name or "#" in self.name):
            raise ValueError(
                "idempotent(name=...) must be a non-empty string without '#' (stored ids are '{name}#{key}'), "
                f"got {self.name!r}"
            )
        if not isinstance(self.cache_size, int) or isinstance(self.cache_size, bool) or self.cache_size < 0:
            raise ValueError(
                f"idempotent(cache_size=...) must be a whole number of keys >= 0 (0 turns the cache off), "
                f"got {self.cache_size!r}"
            )


def _is_seconds(value: object) -> bool:
    # bool is an int, but ttl=True is a slip, not one second.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


__all__ = ["DEFAULT_TTL", "OnPayloadMismatch", "OnStoreError", "Options"]
