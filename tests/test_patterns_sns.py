"""Conformance, SNS: the examples of AWS's SNS documentation, in both filter policy scopes.

Every case is (page, policy, attributes or body, expected). Pages (docs.aws.amazon.com):

- SNS_STRING  sns/latest/dg/string-value-matching.html
- SNS_NUMERIC sns/latest/dg/numeric-value-matching.html
- SNS_KEYS    sns/latest/dg/attribute-key-matching.html
- SNS_LOGIC   sns/latest/dg/and-or-logic.html
- SNS_EXAMPLE sns/latest/dg/example-filter-policies.html
- SNS_LIMITS  sns/latest/dg/subscription-filter-policy-constraints.html

The SNS pages disagree on ``anything-but`` against a String.Array attribute (one version:
it matches when some element is not listed; a newer one: when none is); msgworker follows
the first, which the numeric page's Number.Array example also shows.
"""

from __future__ import annotations

from typing import Any

import pytest

from msgworker.patterns import FilterPolicy, InvalidPatternError

SNS_STRING = "sns string-value-matching"
SNS_NUMERIC = "sns numeric-value-matching"
SNS_KEYS = "sns attribute-key-matching"
SNS_LOGIC = "sns and-or-logic"
SNS_EXAMPLE = "sns example-filter-policies"
SNS_LIMITS = "sns subscription-filter-policy-constraints"


def string(value: str) -> dict[str, str]:
    return {"Type": "String", "Value": value}


def number(value: str) -> dict[str, str]:
    return {"Type": "Number", "Value": value}


def array(value: str, kind: str = "String.Array") -> dict[str, str]:
    return {"Type": kind, "Value": value}


INTERESTS = {"customer_interests": ["rugby", "tennis"]}

ATTRIBUTE_CASES: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    (SNS_STRING, INTERESTS, {"customer_interests": string("rugby")}, True),
    (SNS_STRING, INTERESTS, {"customer_interests": string("tennis")}, True),
    (SNS_STRING, INTERESTS, {"customer_interests": string("baseball")}, False),
    (SNS_STRING, INTERESTS, {"customer_interests": array('["rugby", "tennis"]')}, True),
    (SNS_STRING, INTERESTS, {"customer_interests": array('["baseball"]')}, False),
    (
        SNS_STRING,
        {"customer_interests": [{"anything-but": ["rugby", "tennis"]}]},
        {"customer_interests": string("baseball")},
        True,
    ),
    (
        SNS_STRING,
        {"customer_interests": [{"anything-but": ["rugby", "tennis"]}]},
        {"customer_interests": string("rugby")},
        False,
    ),
    (
        SNS_STRING,
        {"customer_interests": [{"anything-but": ["rugby", "tennis"]}]},
        {"customer_interests": array('["rugby", "baseball"]')},
        True,
    ),
    (
        SNS_STRING,
        {"customer_interests": [{"anything-but": ["rugby", "tennis"]}, {"exists": False}]},
        {"store": string("example_corp")},
        True,
    ),
    (
        SNS_STRING,
        {"customer_interests": [{"anything-but": {"prefix": "bas"}}]},
        {"customer_interests": string("rugby")},
        True,
    ),
    (
        SNS_STRING,
        {"customer_interests": [{"anything-but": {"prefix": "bas"}}]},
        {"customer_interests": string("baseball")},
        False,
    ),
    (
        SNS_STRING,
        {"customer_interests": [{"anything-but": {"suffix": "ball"}}]},
        {"customer_interests": string("baseball")},
        False,
    ),
    (
        SNS_STRING,
        {"customer_interests": [{"equals-ignore-case": "tennis"}]},
        {"customer_interests": string("TeNnis")},
        True,
    ),
    (
        SNS_STRING,
        {"customer_interests": [{"equals-ignore-case": "tennis"}]},
        {"customer_interests": string("rugby")},
        False,
    ),
    (SNS_STRING, {"customer_interests": [{"prefix": "bas"}]}, {"customer_interests": string("baseball")}, True),
    (SNS_STRING, {"customer_interests": [{"prefix": "bas"}]}, {"customer_interests": string("basketball")}, True),
    (SNS_STRING, {"customer_interests": [{"prefix": "bas"}]}, {"customer_interests": string("rugby")}, False),
    (SNS_STRING, {"customer_interests": [{"suffix": "ball"}]}, {"customer_interests": string("baseball")}, True),
    (SNS_STRING, {"customer_interests": [{"suffix": "ball"}]}, {"customer_interests": string("rugby")}, False),
    (SNS_STRING, {"source_ip": [{"cidr": "10.0.0.0/24"}]}, {"source_ip": string("10.0.0.0")}, True),
    (SNS_STRING, {"source_ip": [{"cidr": "10.0.0.0/24"}]}, {"source_ip": string("10.0.0.255")}, True),
    (SNS_STRING, {"source_ip": [{"cidr": "10.0.0.0/24"}]}, {"source_ip": string("10.1.1.0")}, False),
    (SNS_NUMERIC, {"price_usd": [{"numeric": ["=", 301.5]}]}, {"price_usd": number("301.5")}, True),
    (SNS_NUMERIC, {"price_usd": [{"numeric": ["=", 301.5]}]}, {"price_usd": number("3.015e2")}, True),
    (SNS_NUMERIC, {"price": [{"anything-but": [100, 500]}]}, {"price": number("101")}, True),
    (SNS_NUMERIC, {"price": [{"anything-but": [100, 500]}]}, {"price": number("100.1")}, True),
    (SNS_NUMERIC, {"price": [{"anything-but": [100, 500]}]}, {"price": array("[100, 50]", "Number.Array")}, True),
    (SNS_NUMERIC, {"price": [{"anything-but": [100, 500]}]}, {"price": number("100")}, False),
    (SNS_NUMERIC, {"price_usd": [{"numeric": ["<", 0]}]}, {"price_usd": number("-3")}, True),
    (SNS_NUMERIC, {"price_usd": [{"numeric": [">", 0, "<=", 150]}]}, {"price_usd": number("150")}, True),
    (SNS_NUMERIC, {"price_usd": [{"numeric": [">", 0, "<=", 150]}]}, {"price_usd": number("0")}, False),
    (SNS_NUMERIC, {"price_usd": [{"numeric": [">", 0, "<=", 150]}]}, {"price_usd": string("100")}, False),
    (
        SNS_KEYS,
        {"store": [{"exists": True}]},
        {"store": string("fans"), "customer_interests": array('["baseball", "basketball"]')},
        True,
    ),
    (SNS_KEYS, {"store": [{"exists": True}]}, {"customer_interests": array('["baseball", "basketball"]')}, False),
    (SNS_KEYS, {"store": [{"exists": False}]}, {"customer_interests": array('["baseball", "basketball"]')}, True),
    (SNS_KEYS, {"store": [{"exists": False}]}, {"store": string("fans")}, False),
    (SNS_KEYS, {"store": [{"exists": False}]}, {}, False),  # an empty set of attributes matches nothing
    (SNS_LIMITS, {"picture": [{"exists": True}]}, {"picture": {"Type": "Binary", "Value": "AA=="}}, False),
    (
        SNS_LOGIC,
        {"customer_interests": ["rugby", "football", "baseball"], "price_usd": [{"numeric": [">=", 100]}]},
        {"customer_interests": string("football"), "price_usd": number("120")},
        True,
    ),
    (
        SNS_LOGIC,
        {"customer_interests": ["rugby", "football", "baseball"], "price_usd": [{"numeric": [">=", 100]}]},
        {"customer_interests": string("football"), "price_usd": number("80")},
        False,
    ),
    (
        SNS_LOGIC,
        {"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}]},
        {"source": string("aws.cloudwatch"), "namespace": string("AWS/EC2")},
        True,
    ),
    (
        SNS_LOGIC,
        {"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}]},
        {"source": string("aws.cloudwatch"), "namespace": string("AWS/ES")},
        False,
    ),
]

TRANSACTION_POLICY = {
    "store": ["example_corp"],
    "event": [{"anything-but": "order_cancelled"}],
    "customer_interests": ["rugby", "football", "baseball"],
    "price_usd": [{"numeric": [">=", 100]}],
}
TRANSACTION_ATTRIBUTES = {
    "customer_interests": array('["soccer", "rugby", "hockey"]'),
    "store": string("example_corp"),
    "event": string("order_placed"),
    "price_usd": number("210.75"),
}
TRANSACTION_BODY = (
    '{"customer_interests": ["soccer", "rugby", "hockey"], "store": "example_corp",'
    ' "event": "order_placed", "price_usd": 210.75}'
)

BODY_CASES: list[tuple[str, dict[str, Any], Any, bool]] = [
    (SNS_EXAMPLE, TRANSACTION_POLICY, TRANSACTION_BODY, True),
    (SNS_EXAMPLE, {**TRANSACTION_POLICY, "price_usd": [{"numeric": [">", 500]}]}, TRANSACTION_BODY, False),
    (SNS_STRING, INTERESTS, {"customer_interests": "rugby"}, True),
    (SNS_STRING, INTERESTS, {"customer_interests": "baseball"}, False),
    (
        SNS_STRING,
        {"customer_interests": [{"anything-but": ["rugby", "tennis"]}]},
        {"customer_interests": ["rugby", "baseball"]},
        True,
    ),
    (SNS_NUMERIC, {"price_usd": [{"numeric": ["=", 301.5]}]}, {"price_usd": 3.015e2}, True),
    (SNS_NUMERIC, {"price": [{"anything-but": [100, 500]}]}, {"price": [100, 50]}, True),
    (SNS_NUMERIC, {"price": [{"anything-but": [100, 500]}]}, {"price": 100}, False),
    (SNS_KEYS, {"store": [{"exists": True}]}, {"store": "fans", "customer_interests": ["baseball"]}, True),
    (SNS_KEYS, {"store": [{"exists": True}]}, {"customer_interests": ["baseball"]}, False),
    (SNS_KEYS, {"store": [{"exists": True}]}, {"store": None}, False),  # "a non-null and non-empty value"
    (SNS_KEYS, {"store": [{"exists": False}]}, {"customer_interests": ["baseball"]}, True),
    (
        SNS_LIMITS,
        {"finding": {"region": [{"prefix": "us-"}], "account": [{"exists": True}]}},
        {"finding": {"region": "us-east-1", "account": "1"}},
        True,
    ),
    (SNS_LIMITS, {"finding": {"region": [{"prefix": "us-"}]}}, {"finding": {"region": "eu-west-1"}}, False),
    (SNS_LIMITS, {"store": ["example_corp"]}, "not JSON at all", False),
    (SNS_LIMITS, {"store": ["example_corp"]}, '["example_corp"]', False),
]

INVALID_POLICIES: list[tuple[str, dict[str, Any], str, str]] = [
    (SNS_LIMITS, {"store": {"name": ["x"]}}, "MessageAttributes", "store"),
    (SNS_LIMITS, {"a": ["1"], "b": ["1"], "c": ["1"], "d": ["1"], "e": ["1"], "f": ["1"]}, "MessageAttributes", ""),
    (SNS_LIMITS, {"a": ["1"], "b": ["1"], "c": ["1"], "d": ["1"], "e": ["1"], "f": ["1"]}, "MessageBody", ""),
    (SNS_LIMITS, {"a": list("abcdef"), "b": list("abcde"), "c": list("abcdef")}, "MessageAttributes", ""),
    (SNS_LIMITS, {"price": [{"numeric": [">", 2_000_000_000]}]}, "MessageAttributes", "price[0]"),
    (SNS_STRING, {"name": [{"wildcard": "a*"}]}, "MessageAttributes", "name[0]"),
    (SNS_STRING, {"name": [{"anything-but": {"wildcard": "a*"}}]}, "MessageBody", "name[0]"),
]


@pytest.mark.parametrize(("page", "policy", "attributes", "expected"), ATTRIBUTE_CASES)
def test_attribute_policy_matches_as_documented(
    page: str, policy: dict[str, Any], attributes: dict[str, Any], expected: bool
) -> None:
    compiled = FilterPolicy(policy)
    assert compiled.matches(attributes=attributes) is expected, page
    assert compiled.explain(attributes=attributes).matched is expected


@pytest.mark.parametrize(("page", "policy", "body", "expected"), BODY_CASES)
def test_body_policy_matches_as_documented(page: str, policy: dict[str, Any], body: Any, expected: bool) -> None:
    compiled = FilterPolicy(policy, scope="MessageBody")
    assert compiled.matches(body=body) is expected, page
    assert compiled.explain(body=body).matched is expected


def test_the_documented_transaction_policy_accepts_the_attributes_version_too() -> None:
    assert FilterPolicy(TRANSACTION_POLICY).matches(attributes=TRANSACTION_ATTRIBUTES)


def test_the_documented_combination_count_is_accepted() -> None:
    # SNS_LIMITS: 3 x 1 x 2 = 6 combinations.
    FilterPolicy({"key_a": ["value_one", "value_two", "value_three"], "key_b": ["value_one"],
                  "key_c": ["value_one", "value_two"]})  # fmt: skip


@pytest.mark.parametrize(("page", "policy", "scope", "where"), INVALID_POLICIES)
def test_invalid_policy_is_refused(page: str, policy: dict[str, Any], scope: Any, where: str) -> None:
    with pytest.raises(InvalidPatternError) as raised:
        FilterPolicy(policy, scope=scope)
    assert raised.value.where == where, page
    assert str(raised.value).startswith("invalid filter policy")
