"""Each function's own environment variables, in one process.

Lambda gives every function its own process; the local runtime runs them all in one.
Variables every function shares (the endpoint, the template's ``Globals``) are set in
``os.environ`` itself; a function's own (``POWERTOOLS_SERVICE_NAME`` differs per function
in the example template) are an overlay seen by the code that runs for that invocation:
its thread, the threads and tasks msgworker starts for it (they copy the context), and
nothing else. ``os.environ`` is replaced by a mapping that consults the overlay first for
as long as a runtime runs.
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager

_overlay: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar("msgworker_local_env", default=None)
_lock = threading.Lock()
_installed = 0


class LayeredEnviron(MutableMapping[str, str]):
    """``os.environ`` with the running function's variables on top."""

    def __init__(self, base: MutableMapping[str, str]) -> None:
        self.base = base

    def __getitem__(self, key: str) -> str:
        overlay = _overlay.get()
        if overlay is not None and key in overlay:
            return overlay[key]
        return self.base[key]

    def __setitem__(self, key: str, value: str) -> None:
        self.base[key] = value

    def __delitem__(self, key: str) -> None:
        del self.base[key]

    def __iter__(self) -> Iterator[str]:
        overlay = _overlay.get() or {}
        yield from overlay
        yield from (key for key in self.base if key not in overlay)

    def __len__(self) -> int:
        return len(set(self.base) | set(_overlay.get() or {}))

    def copy(self) -> dict[str, str]:
        return dict(self)


@contextmanager
def layered() -> Iterator[None]:
    """Install the layered ``os.environ`` for the block (nested blocks share one)."""
    global _installed
    with _lock:
        if _installed == 0:
            os.environ = LayeredEnviron(os.environ)  # type: ignore[assignment]  # noqa: B003 - replaced, not cleared
        _installed += 1
    try:
        yield
    finally:
        with _lock:
            _installed -= 1
            if _installed == 0 and isinstance(os.environ, LayeredEnviron):
                os.environ = os.environ.base  # type: ignore[assignment]  # noqa: B003 - the original back


@contextmanager
def function_environment(variables: Mapping[str, str]) -> Iterator[None]:
    """Run the block with ``variables`` over the process environment."""
    token = _overlay.set(variables)
    try:
        yield
    finally:
        _overlay.reset(token)
