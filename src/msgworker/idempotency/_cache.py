"""A warm container's memory of completed keys, so a duplicate it has seen costs no call.

SQS redelivers to whichever container polls next, often the same warm one; a duplicate
found here is answered without a DynamoDB round trip. Entries live no longer than the
stored record's ``expiration``, and the least recently used entry goes first when full.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

DEFAULT_CACHE_SIZE = 1024


@dataclass(frozen=True, slots=True)
class CompletedEntry:
    """What a duplicate needs: the payload hash to check and the result to return."""

    validation: str | None
    result: str | None
    expiration: float
    """Epoch seconds, the stored record's own expiration."""


class CompletedCache:
    """A bounded, thread-safe LRU of completed keys.

    Example:
        >>> cache = CompletedCache(maxsize=2)
        >>> cache.put("charge#o-1", CompletedEntry("hash-1", None, expiration=200.0))
        >>> cache.get("charge#o-1", now=100.0).validation
        'hash-1'
        >>> cache.get("charge#o-1", now=300.0) is None  # expired
        True
    """

    def __init__(self, maxsize: int = DEFAULT_CACHE_SIZE):
        if maxsize < 0:
            raise ValueError(f"cache size must be >= 0 entries, got {maxsize}")
        self.maxsize = maxsize
        self._entries: OrderedDict[str, CompletedEntry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, now: float) -> CompletedEntry | None:
        if not self.maxsize:
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.expiration < now:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry

    def put(self, key: str, entry: CompletedEntry) -> None:
        if not self.maxsize:
            return
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    def discard(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


__all__ = ["DEFAULT_CACHE_SIZE", "CompletedCache", "CompletedEntry"]
