"""The decorator forms that tests/typing/decorators.py type-checks also run."""

from tests.typing.decorators import forms


def test_every_typed_decorator_form_runs() -> None:
    forms()
