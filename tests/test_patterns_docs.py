"""Every example of docs/patterns.md runs: the Python blocks in order (later ones use
names the earlier ones define), and each ``msgworker pattern test`` line exits as its
``# exit N`` comment says; the README's pattern commands match as it says."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from msgworker.cli import main
from tests.doc_blocks import blocks, shell_commands

ROOT = Path(__file__).resolve().parent.parent
BLOCKS = blocks("patterns.md")
COMMANDS = shell_commands("patterns.md", ".venv/bin/msgworker pattern ")


def test_the_python_examples_run_in_order() -> None:
    namespace: dict[str, object] = {}
    python = [body for language, body in BLOCKS if language == "python"]
    assert len(python) >= 5
    for body in python:
        exec(compile(body, "docs/patterns.md", "exec"), namespace)


@pytest.mark.parametrize("line", COMMANDS)
def test_the_pattern_commands_exit_as_documented(
    line: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    expected = int(line.rsplit("# exit ", 1)[1])
    argv = shlex.split(line, comments=True)[1:]
    assert main(argv) == expected
    capsys.readouterr()


def test_every_command_example_is_checked() -> None:
    assert len(COMMANDS) == 5


README = (ROOT / "README.md").read_text()
README_COMMANDS = re.findall(r"^(\.venv/bin/msgworker pattern test .*)$", README, flags=re.MULTILINE) + re.findall(
    r"`(\.venv/bin/msgworker pattern test [^`]*)`", README
)


@pytest.mark.parametrize("line", README_COMMANDS)
def test_the_readme_pattern_commands_match(
    line: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    assert main(shlex.split(line)[1:]) == 0
    assert capsys.readouterr().out == "match\n"


def test_the_readme_has_pattern_commands() -> None:
    assert len(README_COMMANDS) == 2
