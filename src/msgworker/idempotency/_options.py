"""The settings of one ``@idempotent`` function, checked once when they are made.

They are apart from the layer so that a bad setting fails when the handler module is
imported (``idempotent(ttl=0)`` raises before any function is decorated), and so that the
pure decisions in :mod:`._decisions` read plain values rather than a layer object.

Errors are :class:`~msgworker.errors.ConfigurationError` (also a ``ValueError``, which is
what a bad option raised before). Each message names the option and what it accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .._checks import choice, flag, seconds, whole
from ..errors import ConfigurationError
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
        msgworker.errors.ConfigurationError: idempotent(ttl=...) must be a positive number of seconds ... got 0 (int)
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
        seconds("idempotent", "ttl", self.ttl)
        seconds("idempotent", "lease", self.lease, none="hold a claim until the Lambda's end")
        flag("idempotent", "store_result", self.store_result)
        choice("idempotent", "on_payload_mismatch", self.on_payload_mismatch, ("error", "duplicate"))
        choice("idempotent", "on_store_error", self.on_store_error, ("fail", "run"))
        if self.name is not None and (not isinstance(self.name, str) or not self.name or "#" in self.name):
            raise ConfigurationError(
                "idempotent(name=...) must be a non-empty string without '#' (stored ids are '{name}#{key}'), "
                f"got {self.name!r}"
            )
        whole("idempotent", "cache_size", self.cache_size, minimum=0, meaning="0 turns the cache off")


__all__ = ["DEFAULT_TTL", "OnPayloadMismatch", "OnStoreError", "Options"]
