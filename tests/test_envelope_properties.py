"""Envelope auto-detection in SQS bodies: real envelopes unwrap exactly, user JSON never does."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from msgworker import Message, worker
from msgworker.testing import LambdaContext, eventbridge_event, sns_envelope, sqs_event

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)

# User payloads that mention the envelope markers, as keys or values, without being envelopes.
look_alikes = st.fixed_dictionaries(
    {},
    optional={
        "TopicArn": st.text(max_size=20),
        "Type": st.sampled_from(["Notification", "order", "detail-type"]),
        "detail-type": st.text(max_size=20),
        "source": st.text(max_size=20),
        "Message": json_values,
        "note": st.just('{"TopicArn": "x", "detail-type": "y"}'),
    },
).flatmap(lambda fixed: st.dictionaries(st.text(max_size=8), json_values, max_size=3).map(lambda extra: extra | fixed))

SETTINGS = settings(max_examples=150, deadline=None)


def run_untyped(event: dict[str, Any]) -> list[tuple[Any, tuple[str, ...]]]:
    seen: list[tuple[Any, tuple[str, ...]]] = []

    @worker
    def handler(payload: Any, message: Message) -> None:
        seen.append((payload, message.envelope_names))

    assert handler(event, LambdaContext()) == {"batchItemFailures": []}
    return seen


def is_real_envelope(value: dict[str, Any]) -> bool:
    sns = value.get("Type") == "Notification" and {"TopicArn", "MessageId", "Message"} <= set(value)
    eventbridge = {"detail-type", "source", "id", "version"} <= set(value)
    return sns or eventbridge


@SETTINGS
@given(payload=look_alikes)
def test_user_json_that_mentions_envelope_keys_is_not_unwrapped(payload: dict[str, Any]):
    assert not is_real_envelope(payload)
    [(seen, envelopes)] = run_untyped(sqs_event([json.dumps(payload)]))
    assert seen == payload
    assert envelopes == ("sqs",)


@SETTINGS
@given(payload=json_values)
def test_sns_envelopes_unwrap_to_exactly_the_published_message(payload: Any):
    body = json.dumps(sns_envelope(json.dumps(payload), subject="s"))
    [(seen, envelopes)] = run_untyped(sqs_event([body]))
    assert seen == payload
    assert envelopes == ("sqs", "sns")


@SETTINGS
@given(detail=st.dictionaries(st.text(max_size=12), json_values, max_size=4))  # PutEvents: Detail is an object
def test_eventbridge_events_unwrap_to_exactly_their_detail(detail: dict[str, Any]):
    body = json.dumps(eventbridge_event(detail))
    [(seen, envelopes)] = run_untyped(sqs_event([body]))
    assert seen == detail
    assert envelopes == ("sqs", "eventbridge")
