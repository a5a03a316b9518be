"""Conformance, EventBridge: the examples of AWS's documentation, each matched as the page says.

Every case is (page, pattern, event, expected). Pages (docs.aws.amazon.com):

- EB_OPS      eventbridge/latest/userguide/eb-create-pattern-operators.html
- EB_FILTER   eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html
- EB_PATTERNS eventbridge/latest/userguide/eb-event-patterns.html
- EB_ARRAYS   eventbridge/latest/userguide/eb-event-patterns-arrays.html
- EB_NULL     eventbridge/latest/userguide/eb-event-patterns-null-values.html
- RULER       the aws/event-ruler README (the engine behind EventBridge): wildcard escapes,
              IPv6 cidr, exists on non-leaf nodes, array consistency, ``$or``

SNS filter policies are in tests/test_patterns_sns.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from msgworker.errors import ConfigurationError
from msgworker.patterns import EventPattern, InvalidPatternError

EB_OPS = "eb-create-pattern-operators"
EB_FILTER = "eb-event-patterns-content-based-filtering"
EB_PATTERNS = "eb-event-patterns"
EB_ARRAYS = "eb-event-patterns-arrays"
EB_NULL = "eb-event-patterns-null-values"
RULER = "aws/event-ruler README"

EC2_EVENT = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "111122223333",
    "time": "2017-12-22T18:43:48Z",
    "region": "us-west-1",
    "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
    "detail": {"instance-id": "i-1234567890abcdef0", "state": "terminated"},
}
RULER_EVENT = {
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "time": "2017-10-02T16:24:49Z",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
    "detail": {"c-count": 5, "d-count": 3, "x-limit": 301.8, "source-ip": "10.0.0.33", "state": "running"},
}
EMPLOYEES = {
    "employees": [
        {"firstName": "John", "lastName": "Doe"},
        {"firstName": "Anna", "lastName": "Smith"},
        {"firstName": "Peter", "lastName": "Jones"},
    ]
}


def detail(**fields: Any) -> dict[str, Any]:
    return {"detail": fields}


EVENT_PATTERN_CASES: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    # exact, nested, arrays
    (
        EB_PATTERNS,
        {
            "source": ["aws.ec2"],
            "detail-type": ["EC2 Instance State-change Notification"],
            "detail": {"state": ["terminated"]},
        },
        EC2_EVENT,
        True,
    ),
    (EB_PATTERNS, {"source": ["aws.ec2"], "detail": {"state": ["running"]}}, EC2_EVENT, False),
    (EB_PATTERNS, {"source": ["aws.s3"]}, EC2_EVENT, False),
    (EB_OPS, {"Location": ["New York"], "Day": ["Monday"]}, {"Location": "New York", "Day": "Monday"}, True),
    (EB_OPS, {"Location": ["New York"], "Day": ["Monday"]}, {"Location": "New York", "Day": "Sunday"}, False),
    (EB_OPS, {"PaymentType": ["Credit", "Debit"]}, {"PaymentType": "Debit"}, True),
    (EB_OPS, {"PaymentType": ["Credit", "Debit"]}, {"PaymentType": "Cash"}, False),
    (EB_OPS, {"Price": [100]}, {"Price": 100}, True),
    (EB_OPS, {"Price": [100]}, {"Price": "100"}, False),
    (
        EB_ARRAYS,
        {"resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0", "arn:other"]},
        EC2_EVENT,
        True,
    ),
    (EB_ARRAYS, {"resources": ["arn:other"]}, EC2_EVENT, False),
    (EB_ARRAYS, {"detail": {"colors": ["red"]}}, detail(colors=["blue", "red"]), True),
    # null and empty strings
    (EB_NULL, {"responseElements": [None]}, {"responseElements": None}, True),
    (EB_NULL, {"responseElements": [None]}, {"responseElements": "x"}, False),
    (EB_NULL, {"responseElements": [None]}, {}, False),
    (EB_NULL, {"eventVersion": [""]}, {"eventVersion": ""}, True),
    (EB_NULL, {"eventVersion": [""]}, {"eventVersion": "1.0"}, False),
    # prefix / suffix / equals-ignore-case / wildcard
    (EB_FILTER, {"time": [{"prefix": "2017-10-02"}]}, {"time": "2017-10-02T18:43:48Z"}, True),
    (EB_FILTER, {"time": [{"prefix": "2017-10-02"}]}, {"time": "2017-10-03T18:43:48Z"}, False),
    (EB_FILTER, {"time": [{"prefix": "2017"}]}, {"time": 2017}, False),
    (
        EB_FILTER,
        {"detail": {"service": [{"prefix": {"equals-ignore-case": "EventB"}}]}},
        detail(service="EVENTBRIDGE"),
        True,
    ),
    (EB_FILTER, {"detail": {"service": [{"prefix": {"equals-ignore-case": "EventB"}}]}}, detail(service="Bus"), False),
    (EB_FILTER, {"FileName": [{"suffix": ".png"}]}, {"FileName": "image.png"}, True),
    (EB_FILTER, {"FileName": [{"suffix": ".png"}]}, {"FileName": "image.PNG"}, False),
    (
        EB_FILTER,
        {"detail": {"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}},
        detail(FileName="image.PNG"),
        True,
    ),
    (EB_FILTER, {"detail-type": [{"equals-ignore-case": "ec2 instance state-change notification"}]}, EC2_EVENT, True),
    (EB_FILTER, {"detail-type": [{"equals-ignore-case": "ec2 instance"}]}, EC2_EVENT, False),
    (
        EB_FILTER,
        {"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]},
        {"EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/default"},
        True,
    ),
    (
        EB_FILTER,
        {"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]},
        {"EventBusArn": "arn:aws:events:us-west-2:123456789012:event-bus/default"},
        False,
    ),
    (EB_OPS, {"FilePath": [{"wildcard": "dir/*.png"}]}, {"FilePath": "dir/a.png"}, True),
    (EB_OPS, {"FilePath": [{"wildcard": "dir/*.png"}]}, {"FilePath": "other/a.png"}, False),
    (RULER, {"source": [{"wildcard": "Simple*Service"}]}, {"source": "SimpleQueueService"}, True),
    (RULER, {"source": [{"wildcard": "Simple*Service"}]}, {"source": "SimpleQueue"}, False),
    (RULER, {"name": [{"wildcard": "a\\*b"}]}, {"name": "a*b"}, True),
    (RULER, {"name": [{"wildcard": "a\\*b"}]}, {"name": "axxb"}, False),
    (RULER, {"name": [{"wildcard": "a\\\\b"}]}, {"name": "a\\b"}, True),
    # anything-but and its forms
    (EB_FILTER, {"detail": {"state": [{"anything-but": "initializing"}]}}, detail(state="running"), True),
    (EB_FILTER, {"detail": {"state": [{"anything-but": "initializing"}]}}, detail(state="initializing"), False),
    (EB_FILTER, {"detail": {"state": [{"anything-but": "initializing"}]}}, detail(), False),
    (EB_FILTER, {"detail": {"x-limit": [{"anything-but": 123}]}}, detail(**{"x-limit": 456}), True),
    (EB_FILTER, {"detail": {"x-limit": [{"anything-but": 123}]}}, detail(**{"x-limit": 123}), False),
    (EB_FILTER, {"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}, detail(state="running"), True),
    (EB_FILTER, {"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}, detail(state="stopped"), False),
    (EB_FILTER, {"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}}, RULER_EVENT, True),
    (EB_FILTER, {"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}}, detail(**{"x-limit": 200}), False),
    (EB_FILTER, {"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}, detail(state="running"), True),
    (EB_FILTER, {"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}, detail(state="initializing"), False),
    (EB_OPS, {"FileName": [{"anything-but": {"suffix": ".png"}}]}, {"FileName": "a.txt"}, True),
    (EB_OPS, {"FileName": [{"anything-but": {"suffix": ".png"}}]}, {"FileName": "a.png"}, False),
    (EB_OPS, {"state": [{"anything-but": {"equals-ignore-case": "initializing"}}]}, {"state": "INITIALIZING"}, False),
    (EB_OPS, {"state": [{"anything-but": {"equals-ignore-case": ["initializing", "stopped"]}}]}, {"state": "Up"}, True),
    (EB_OPS, {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}, {"FilePath": "/usr/bin/x"}, True),
    (EB_OPS, {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}, {"FilePath": "/usr/lib/x"}, False),
    (EB_OPS, {"FilePath": [{"anything-but": {"wildcard": ["*/lib/*", "*/bin/*"]}}]}, {"FilePath": "/usr/bin/x"}, False),
    (EB_OPS, {"Weather": [{"anything-but": ["Raining"]}]}, {"Weather": "Sunny"}, True),
    # numeric
    (
        EB_FILTER,
        {
            "detail": {
                "c-count": [{"numeric": [">", 0, "<=", 5]}],
                "d-count": [{"numeric": ["<", 10]}],
                "x-limit": [{"numeric": ["=", 3.018e2]}],
            }
        },
        RULER_EVENT,
        True,
    ),
    (EB_FILTER, {"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}}, detail(**{"c-count": 6}), False),
    (EB_FILTER, {"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}}, detail(**{"c-count": 0}), False),
    (EB_FILTER, {"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}}, detail(**{"c-count": "5"}), False),
    (EB_OPS, {"Price": [{"numeric": [">", 10, "<=", 20]}]}, {"Price": 20}, True),
    (EB_OPS, {"Price": [{"numeric": [">", 10, "<=", 20]}]}, {"Price": 10}, False),
    (EB_OPS, {"Price": [{"numeric": [">=", 10, "<", 20]}]}, {"Price": 10.0}, True),
    (EB_OPS, {"Price": [{"numeric": ["=", 100]}]}, {"Price": 1.0e2}, True),
    (EB_OPS, {"Price": [{"numeric": ["<", 0]}]}, {"Price": [-1, 5]}, True),
    # cidr
    (EB_FILTER, {"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}, RULER_EVENT, True),
    (EB_FILTER, {"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}, detail(**{"source-ip": "10.0.1.1"}), False),
    (EB_FILTER, {"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}, detail(**{"source-ip": "not an ip"}), False),
    (RULER, {"ip": [{"cidr": "2001:db8::/32"}]}, {"ip": "2001:db8::ff00:42:8329"}, True),
    (RULER, {"ip": [{"cidr": "2001:db8::/32"}]}, {"ip": "2001:db9::1"}, False),
    (RULER, {"ip": [{"cidr": "2001:db8::/32"}]}, {"ip": "10.0.0.1"}, False),
    # exists
    (EB_FILTER, {"detail": {"c-count": [{"exists": True}]}}, RULER_EVENT, True),
    (EB_FILTER, {"detail": {"c-count": [{"exists": True}]}}, detail(state="x"), False),
    (EB_FILTER, {"detail": {"c-count": [{"exists": False}]}}, detail(state="x"), True),
    (EB_FILTER, {"detail": {"c-count": [{"exists": False}]}}, RULER_EVENT, False),
    (RULER, {"detail": {"c-count": [{"exists": False}]}}, detail(**{"c-count": {"c1": 100}}), True),
    (EB_FILTER, {"detail": {"tags": [{"exists": True}]}}, detail(tags=[]), False),
    (EB_FILTER, {"detail": {"tags": [{"exists": False}]}}, detail(tags=[]), True),
    (EB_FILTER, {"detail": {"tags": [{"exists": True}]}}, detail(tags=["a"]), True),
    # arrays of objects: array consistency
    (RULER, {"employees": {"firstName": ["Anna"]}}, EMPLOYEES, True),
    (RULER, {"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}}, EMPLOYEES, False),
    (RULER, {"employees": {"firstName": ["Anna"], "lastName": ["Smith"]}}, EMPLOYEES, True),
    (
        RULER,
        {"employees": {"firstName": ["Peter"]}},
        {"employees": [[EMPLOYEES["employees"][0]], [EMPLOYEES["employees"][2]]]},
        True,
    ),
    # $or
    (
        EB_FILTER,
        {
            "detail": {
                "$or": [
                    {"c-count": [{"numeric": [">", 0, "<=", 5]}]},
                    {"d-count": [{"numeric": ["<", 10]}]},
                    {"x-limit": [{"numeric": ["=", 3.018e2]}]},
                ]
            }
        },
        detail(**{"d-count": 3}),
        True,
    ),
    (
        EB_FILTER,
        {"detail": {"$or": [{"c-count": [{"numeric": [">", 0, "<=", 5]}]}, {"d-count": [{"numeric": ["<", 10]}]}]}},
        detail(**{"d-count": 30}),
        False,
    ),
    (EB_OPS, {"$or": [{"Location": ["New York"]}, {"Day": ["Monday"]}]}, {"Location": "Paris", "Day": "Monday"}, True),
    (
        RULER,
        {
            "source": ["aws.cloudwatch"],
            "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"namespace": ["AWS/EC2", "AWS/ES"]}],
        },
        {"source": "aws.cloudwatch", "namespace": "AWS/ES"},
        True,
    ),
    (
        RULER,
        {
            "source": ["aws.cloudwatch"],
            "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"namespace": ["AWS/EC2", "AWS/ES"]}],
        },
        {"source": "aws.s3", "namespace": "AWS/ES"},
        False,
    ),
    (
        RULER,
        {
            "source": ["aws.cloudwatch"],
            "$or": [
                {"metricName": ["CPUUtilization"]},
                {
                    "metricType": ["MetricType"],
                    "namespace": ["AWS/EC2"],
                    "$or": [{"metricId": [1234]}, {"spaceId": [1000]}],
                },
            ],
        },
        {"source": "aws.cloudwatch", "metricType": "MetricType", "namespace": "AWS/EC2", "spaceId": 1000},
        True,
    ),
    # "$or" that is not a list of two or more objects is an ordinary field name
    (
        RULER,
        {"source": ["aws.cloudwatch"], "$or": {"metricType": ["MetricType"]}},
        {"source": "aws.cloudwatch", "$or": {"metricType": "MetricType"}},
        True,
    ),
]

INVALID_EVENT_PATTERNS: list[tuple[str, Any, str]] = [
    (EB_FILTER, {"detail": {"c-count": [{"numeric": [">", "0"]}]}}, "detail.c-count[0]"),
    (EB_FILTER, {"detail": {"c-count": [{"numeric": [">", 0, ">", 5]}]}}, "detail.c-count[0]"),
    (EB_FILTER, {"detail": {"c-count": [{"numeric": [">", 5, "<", 1]}]}}, "detail.c-count[0]"),
    (EB_FILTER, {"detail": {"c-count": [{"numeric": ["=", 1, "<", 5]}]}}, "detail.c-count[0]"),
    (EB_FILTER, {"detail": {"c-count": [{"numeric": ["!=", 1]}]}}, "detail.c-count[0]"),
    (EB_FILTER, {"x": [{"numeric": [">", 6.0e9]}]}, "x[0]"),
    (EB_FILTER, {"x": [{"anything-but": ["a", 1]}]}, "x[0]"),
    (EB_FILTER, {"x": [{"anything-but": []}]}, "x[0]"),
    (EB_FILTER, {"x": [{"anything-but": True}]}, "x[0]"),
    (EB_FILTER, {"x": [{"anything-but": {"numeric": [">", 1]}}]}, "x[0]"),
    (EB_FILTER, {"x": [{"prefix": 5}]}, "x[0]"),
    (EB_FILTER, {"x": [{"prefix": "a", "suffix": "b"}]}, "x[0]"),
    (EB_FILTER, {"x": [{"exists": "true"}]}, "x[0]"),
    (EB_FILTER, {"x": [{"cidr": "10.0.0.0"}]}, "x[0]"),
    (EB_FILTER, {"x": [{"cidr": "10.0.0.300/24"}]}, "x[0]"),
    (EB_FILTER, {"x": [{"contains": "a"}]}, "x[0]"),
    (RULER, {"x": [{"wildcard": "a**b"}]}, "x[0]"),
    (RULER, {"x": [{"wildcard": "a\\b"}]}, "x[0]"),
    (EB_PATTERNS, {"source": "aws.ec2"}, "source"),
    (EB_PATTERNS, {"source": []}, "source"),
    (EB_PATTERNS, {"source": [["aws.ec2"]]}, "source[0]"),
    (EB_PATTERNS, {"detail": {}}, "detail"),
    (EB_PATTERNS, {}, ""),
    (EB_PATTERNS, '{"source": ["aws.ec2"]', ""),
    (EB_PATTERNS, "[1, 2]", ""),
]


@pytest.mark.parametrize(("page", "pattern", "event", "expected"), EVENT_PATTERN_CASES)
def test_event_pattern_matches_as_documented(page: str, pattern: dict[str, Any], event: Any, expected: bool) -> None:
    compiled = EventPattern(pattern)
    assert compiled.matches(event) is expected, page
    assert compiled.explain(event).matched is expected


@pytest.mark.parametrize(("page", "pattern", "where"), INVALID_EVENT_PATTERNS)
def test_invalid_event_pattern_is_refused_saying_where(page: str, pattern: Any, where: str) -> None:
    with pytest.raises(InvalidPatternError) as raised:
        EventPattern(pattern)
    assert raised.value.where == where, page
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, ConfigurationError)


# EB_OPS: "Pipe support: No" for wildcard and anything-but's prefix, suffix, ignore-case and
# wildcard forms; Lambda event filtering shares the Pipes filter language.
LAMBDA_REFUSED = [
    {"FilePath": [{"wildcard": "dir/*.png"}]},
    {"Region": [{"anything-but": {"prefix": "us-"}}]},
    {"FileName": [{"anything-but": {"suffix": ".png"}}]},
    {"state": [{"anything-but": {"equals-ignore-case": "initializing"}}]},
    {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]},
]
LAMBDA_ACCEPTED = [
    {"body": {"state": [{"anything-but": ["initializing"]}]}},
    {"body": {"service": [{"prefix": {"equals-ignore-case": "eventb"}}]}},
    {"body": {"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}},
    {"body": {"Price": [{"numeric": [">", 10, "<=", 20]}], "$or": [{"a": [{"exists": True}]}, {"b": [None]}]}},
]


@pytest.mark.parametrize("pattern", LAMBDA_REFUSED)
def test_lambda_event_filtering_refuses_what_pipes_do_not_support(pattern: dict[str, Any]) -> None:
    EventPattern(pattern)  # an EventBridge rule accepts it
    with pytest.raises(InvalidPatternError, match="invalid Lambda filter pattern at"):
        EventPattern(pattern, service="lambda")


@pytest.mark.parametrize("pattern", LAMBDA_ACCEPTED)
def test_lambda_event_filtering_accepts_its_operators(pattern: dict[str, Any]) -> None:
    EventPattern(pattern, service="lambda")
