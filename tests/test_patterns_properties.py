"""Properties of the matcher that hold for any pattern and event (hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from msgworker.patterns import EventPattern, FilterPolicy, PatternSet

FIELDS = ["a", "b", "c"]
TEXTS = st.sampled_from(["x", "y", "xy", "X", "", "yx", "10.0.0.7", "2001:db8::1"])
NUMBERS = st.sampled_from([-1, 0, 1, 2.5, 100, 1e8])
SCALARS = st.one_of(TEXTS, NUMBERS, st.booleans(), st.none())
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3))

LITERALS = st.lists(st.one_of(TEXTS, NUMBERS, st.booleans(), st.none()), min_size=1, max_size=3)
SNS_OPERATORS = st.one_of(
    st.builds(lambda t: {"prefix": t}, TEXTS),
    st.builds(lambda t: {"suffix": t}, TEXTS),
    st.builds(lambda t: {"equals-ignore-case": t}, TEXTS),
    st.builds(lambda t: {"prefix": {"equals-ignore-case": t}}, TEXTS),
    st.builds(lambda ts: {"anything-but": ts}, st.lists(TEXTS, min_size=1, max_size=2)),
    st.builds(lambda ns: {"anything-but": ns}, st.lists(NUMBERS, min_size=1, max_size=2)),
    st.builds(lambda t: {"anything-but": {"prefix": t}}, TEXTS),
    st.builds(lambda n: {"numeric": [">", n]}, NUMBERS),
    st.builds(lambda n: {"numeric": ["<=", n]}, NUMBERS),
    st.builds(lambda n: {"numeric": [">=", n, "<", n + 10]}, NUMBERS),
    st.builds(lambda b: {"exists": b}, st.booleans()),
    st.just({"cidr": "10.0.0.0/24"}),
    st.just({"cidr": "2001:db8::/32"}),
)
OPERATORS = st.one_of(
    SNS_OPERATORS, st.builds(lambda t: {"wildcard": t}, st.sampled_from(["x*", "*y", "x*y", "*", "?"]))
)
MATCH_LISTS = st.lists(st.one_of(SCALARS, OPERATORS), min_size=1, max_size=3)


def leaf_patterns(fields: list[str] = FIELDS) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(fields), MATCH_LISTS, min_size=1, max_size=2)


PATTERNS = st.one_of(
    leaf_patterns(),
    st.builds(lambda inner, outer: {"d": inner, **outer}, leaf_patterns(), st.dictionaries(st.just("a"), MATCH_LISTS)),
    st.builds(lambda alternatives: {"$or": alternatives}, st.lists(leaf_patterns(), min_size=2, max_size=3)),
)
FLAT_EVENTS = st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=3)
EVENTS = st.builds(
    lambda flat, nested: {**flat, **({"d": nested} if nested is not None else {})},
    FLAT_EVENTS,
    st.one_of(st.none(), FLAT_EVENTS, st.lists(FLAT_EVENTS, max_size=2)),
)


@given(st.lists(st.one_of(TEXTS, NUMBERS), min_size=1, max_size=3), SCALARS)
def test_anything_but_is_the_complement_of_the_exact_match_on_a_present_value(values: list[Any], value: Any) -> None:
    strings = [item for item in values if isinstance(item, str)]
    excluded = strings or [item for item in values if not isinstance(item, str)]
    event = {"f": value}
    exact = EventPattern({"f": excluded}).matches(event)
    assert EventPattern({"f": [{"anything-but": excluded}]}).matches(event) is not exact


@given(TEXTS, SCALARS)
def test_anything_but_prefix_is_the_complement_of_prefix_on_strings(prefix: str, value: Any) -> None:
    event = {"f": value}
    prefixed = EventPattern({"f": [{"prefix": prefix}]}).matches(event)
    other = EventPattern({"f": [{"anything-but": {"prefix": prefix}}]}).matches(event)
    assert other is (not prefixed)  # non-strings: never a prefix match, always "anything but"


@given(st.lists(leaf_patterns(), min_size=2, max_size=3), EVENTS)
def test_or_of_patterns_is_the_union_of_their_matches(
    alternatives: list[dict[str, Any]], event: dict[str, Any]
) -> None:
    union = any(EventPattern(alternative).matches(event) for alternative in alternatives)
    assert EventPattern({"$or": alternatives}).matches(event) is union


@given(MATCH_LISTS, MATCH_LISTS, FLAT_EVENTS)
def test_a_list_of_match_values_is_the_union_of_its_entries(first: list[Any], second: list[Any], event: Any) -> None:
    both = EventPattern({"a": first + second}).matches(event)
    assert both is (EventPattern({"a": first}).matches(event) or EventPattern({"a": second}).matches(event))


@given(PATTERNS, EVENTS)
def test_explain_agrees_with_matches(pattern: dict[str, Any], event: Any) -> None:
    compiled = EventPattern(pattern)
    explanation = compiled.explain(event)
    assert explanation.matched is compiled.matches(event)
    assert explanation.matched or explanation.failures


@given(PATTERNS, st.sampled_from(FIELDS))
def test_explanations_never_quote_the_event(pattern: dict[str, Any], field: str) -> None:
    secret = "4111-1111-1111-1111"
    event = {field: secret, "d": {field: [secret, {"x": secret}]}}
    assert secret not in str(EventPattern(pattern).explain(event))


@settings(max_examples=200)
@given(st.lists(PATTERNS, max_size=12), st.lists(EVENTS, min_size=1, max_size=4))
def test_the_indexed_pattern_set_agrees_with_matching_each_pattern_alone(
    patterns: list[dict[str, Any]], events: list[dict[str, Any]]
) -> None:
    compiled = [EventPattern(pattern) for pattern in patterns]
    rules = PatternSet(dict(enumerate(compiled)))
    for event in events:
        expected = [index for index, pattern in enumerate(compiled) if pattern.matches(event)]
        assert rules.matching(event) == expected
        assert rules.first(event) == (expected[0] if expected else None)


@given(st.dictionaries(st.sampled_from(FIELDS), st.lists(st.one_of(TEXTS, SNS_OPERATORS), min_size=1, max_size=2),
                       min_size=1, max_size=2),
       st.dictionaries(st.sampled_from(FIELDS), st.sampled_from(["x", "y", "xy", "10.0.0.7"]), min_size=1))  # fmt: skip
def test_attribute_and_body_scopes_agree_on_string_attributes(policy: dict[str, Any], values: dict[str, str]) -> None:
    attributes = {name: {"Type": "String", "Value": value} for name, value in values.items()}
    by_attributes = FilterPolicy(policy).matches(attributes=attributes)
    assert by_attributes is FilterPolicy(policy, scope="MessageBody").matches(body=values)


@given(st.integers(-1000, 1000), st.integers(-1000, 1000), st.integers(-1000, 1000))
def test_a_numeric_range_matches_exactly_the_numbers_inside_it(low: int, high: int, value: int) -> None:
    if low >= high:
        low, high = high - 1, low
    pattern = EventPattern({"n": [{"numeric": [">", low, "<=", high]}]})
    assert pattern.matches({"n": value}) is (low < value <= high)
    assert pattern.matches({"n": float(value)}) is (low < value <= high)


JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5)),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.sampled_from([*FIELDS, "d"]), children, max_size=3)
    ),
    max_leaves=12,
)


@given(PATTERNS, JSON)
def test_any_json_value_is_matched_without_raising(pattern: dict[str, Any], event: Any) -> None:
    compiled = EventPattern(pattern)
    assert compiled.matches(event) is compiled.explain(event).matched
    assert PatternSet({0: compiled}).matching(event) == ([0] if compiled.matches(event) else [])


ATTRIBUTE = st.fixed_dictionaries(
    {
        "Type": st.sampled_from(["String", "Number", "String.Array", "Number.Array", "Binary", "Nonsense"]),
        "Value": st.one_of(st.text(max_size=6), st.sampled_from(["1e3", "[1, 2]", '["x"]', "[", "nan", "inf"])),
    }
)


@given(
    st.dictionaries(st.sampled_from(FIELDS), st.lists(st.one_of(TEXTS, SNS_OPERATORS), min_size=1, max_size=2),
                    min_size=1, max_size=2),
    st.dictionaries(st.sampled_from(FIELDS), st.one_of(ATTRIBUTE, JSON), max_size=3),
    JSON,
)  # fmt: skip
def test_any_attributes_or_body_are_matched_without_raising(policy: dict[str, Any], attributes: Any, body: Any) -> None:
    by_attributes = FilterPolicy(policy)
    assert by_attributes.matches(attributes=attributes) is by_attributes.explain(attributes=attributes).matched
    by_body = FilterPolicy(policy, scope="MessageBody")
    assert by_body.matches(body=body) is by_body.explain(body=body).matched
