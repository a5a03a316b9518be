"""The fenced blocks of a guide, for the tests that run its examples as written."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def blocks(guide: str) -> list[tuple[str, str]]:
    """``(language, body)`` of each fenced block of ``docs/<guide>``, in order."""
    return re.findall(r"```(\w+)\n(.*?)```", (ROOT / "docs" / guide).read_text(), flags=re.DOTALL)


def shell_commands(guide: str, prefix: str) -> list[str]:
    """The lines of the guide's ``sh`` blocks that start with ``prefix``."""
    return [
        line
        for language, body in blocks(guide)
        if language == "sh"
        for line in body.splitlines()
        if line.startswith(prefix)
    ]
