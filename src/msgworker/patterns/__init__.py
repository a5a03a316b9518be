"""EventBridge event patterns and SNS filter policies, matched locally with AWS's semantics.

    from msgworker.patterns import EventPattern, FilterPolicy, PatternSet, InvalidPatternError

``EventPattern(pattern).matches(event)`` answers as EventBridge (and Lambda event
filtering) would; ``FilterPolicy(policy, scope=...).matches(attributes=, body=)`` as an
SNS subscription would; ``explain()`` on either says which field failed which
condition; ``PatternSet`` matches many patterns at once through an index. An invalid
pattern raises :class:`InvalidPatternError` when it is built. The guide is
``docs/patterns.md``.
"""

from ._api import EventPattern, FilterPolicy, PatternSet
from ._errors import InvalidPatternError
from ._evaluate import Explanation

__all__ = ["EventPattern", "Explanation", "FilterPolicy", "InvalidPatternError", "PatternSet"]
