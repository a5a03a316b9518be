"""Every example in msgworker's docstrings runs and prints what it says."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import msgworker

MODULES = sorted(
    name for _, name, _ in pkgutil.walk_packages(msgworker.__path__, prefix="msgworker.") if "__main__" not in name
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
