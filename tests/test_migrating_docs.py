"""Every example of docs/migrating-from-powertools.md runs, the Powertools side as well as
msgworker's, each block on its own, against a local AWS holding template.yaml's tables."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

from msgworker.testing import LocalAws, reset

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "migrating-from-powertools.md"
BLOCKS = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL)
SECTIONS = re.findall(r"^## (.+)$", GUIDE.read_text(), flags=re.MULTILINE)


def test_each_section_shows_both_sides() -> None:
    assert len(SECTIONS) == 6
    assert len(BLOCKS) == 2 * len(SECTIONS)
    powertools = BLOCKS[0::2]
    msgworker = BLOCKS[1::2]
    assert all("aws_lambda_powertools" in block for block in powertools)
    assert all("from msgworker import" in block and "aws_lambda_powertools" not in block for block in msgworker)


@pytest.mark.parametrize(
    "block",
    BLOCKS,
    ids=[f"{section}-{side}" for section in SECTIONS for side in ("powertools", "msgworker")],
)
def test_the_example_runs(block: str, local_aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> None:
    reset()
    # A module of its own, as a user's handler module is (pydantic resolves annotations there).
    module = types.ModuleType("migration_example")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(block, str(GUIDE), "exec"), module.__dict__)
