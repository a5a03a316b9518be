"""The one error a pattern or filter policy can raise: it is invalid."""

from __future__ import annotations

from ..errors import ConfigurationError


class InvalidPatternError(ConfigurationError):  # a ValueError through ConfigurationError
    """An event pattern or filter policy that AWS would refuse, raised when it is built.

    ``where`` is the path of the offending part inside the pattern (``detail.total[0]``,
    empty for the pattern as a whole); the message says what is wrong there and how
    AWS expects it. Patterns are configuration, so the message may quote them.

    Example:
        >>> from msgworker.patterns import EventPattern
        >>> try:
        ...     EventPattern({"detail": {"total": [{"numeric": [">", "100"]}]}})
        ... except InvalidPatternError as error:
        ...     print(error.where)
        detail.total[0]
    """

    def __init__(self, message: str, *, where: str = "", kind: str = "event pattern"):
        located = f" at {where}" if where else ""
        super().__init__(f"invalid {kind}{located}: {message}")
        self.where = where
