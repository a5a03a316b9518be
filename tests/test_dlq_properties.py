"""The books of a receive → send → delete redrive (``msgworker.dlq.MoveLedger``), for any
mix of stored, rejected and unanswered sends and failed deletes: nothing is deleted that
SQS did not confirm storing, nothing is sent twice, every message ends in exactly one
place, and a FIFO group's messages are sent in order and never past one left behind."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from msgworker.dlq import MoveLedger

NOW = 1_000_000.0


@st.composite
def moves(draw: st.DrawFn) -> dict[str, Any]:
    fifo = draw(st.booleans())
    count = draw(st.integers(0, 40))
    messages = []
    for n in range(count):
        attributes: dict[str, str] = {}
        if fifo:
            attributes["MessageGroupId"] = draw(st.sampled_from(["a", "b", "c"]))
            attributes["MessageDeduplicationId"] = f"d-{n}"
        # Mostly old enough to move; some inside the FIFO deduplication interval (held).
        attributes["SentTimestamp"] = str(int((NOW - draw(st.sampled_from([1000, 1000, 1000, 10]))) * 1000))
        messages.append({"MessageId": f"m-{n}", "ReceiptHandle": f"r-{n}", "Body": f"b-{n}", "Attributes": attributes})
    return {
        "fifo": fifo,
        "messages": messages,
        "limit": draw(st.integers(0, count + 3)),
        "receive_sizes": draw(st.lists(st.integers(1, 10), min_size=1, max_size=8)),
        "send": draw(st.lists(st.sampled_from(["stored", "stored", "rejected", "silent"]), min_size=1)),
        "delete_fails": draw(st.lists(st.booleans(), min_size=1)),
        "call_fails": draw(st.lists(st.booleans(), min_size=1)),
    }


@settings(max_examples=300, deadline=None)
@given(moves())
def test_nothing_is_deleted_that_was_not_stored_and_every_message_ends_in_one_place(move: dict[str, Any]) -> None:
    fifo, messages = move["fifo"], move["messages"]
    ledger = MoveLedger(target_fifo=fifo, limit=move["limit"], now=NOW)
    stored: set[str] = set()
    sent_order: list[str] = []
    deleted: list[str] = []
    received: list[dict[str, Any]] = []
    queue = list(messages)
    draws = {"send": 0, "delete": 0, "call": 0}

    def pick(name: str, key: str) -> Any:
        values = move[name]
        draws[key] += 1
        return values[draws[key] % len(values)]

    for size in move["receive_sizes"] * 3:
        if ledger.finished or not queue:
            break
        batch_received, queue = queue[:size], queue[size:]
        received.extend(batch_received)
        for batch in ledger.batches(ledger.admit(batch_received)):
            entries = [entry for entry, _ in batch]
            assert len(entries) <= 10 and len({entry["Id"] for entry in entries}) == len(entries)
            if fifo:
                groups = [entry["MessageGroupId"] for entry in entries]
                assert len(set(groups)) == len(groups), "one message per group in a batch"
            successful: list[str] = []
            failed: dict[str, str] = {}
            if pick("call_fails", "call"):
                failed = {entry["Id"]: "ServiceUnavailable" for entry in entries}
            else:
                for entry, message in batch:
                    outcome = pick("send", "send")
                    if outcome == "stored":
                        successful.append(entry["Id"])
                        stored.add(message["MessageId"])
                    elif outcome == "rejected":
                        failed[entry["Id"]] = "InvalidMessageContents"
            for _, message in batch:
                assert message["MessageId"] not in sent_order, "sent twice"
                sent_order.append(message["MessageId"])
            to_delete = ledger.settle(batch, successful, failed)
            assert {message["MessageId"] for message in to_delete} <= stored, "deleted without a confirmed send"
            delete_failed = {
                message["MessageId"]: "Throttled" for message in to_delete if pick("delete_fails", "delete")
            }
            deleted.extend(message["MessageId"] for message in to_delete)
            ledger.deleted(to_delete, delete_failed)

    assert set(deleted) <= stored
    moved, left, duplicated = set(ledger.moved), set(ledger.left), {item.message_id for item in ledger.duplicated}
    assert not (moved & left) and not (moved & duplicated) and not (left & duplicated)
    assert moved | left | duplicated == {message["MessageId"] for message in received}
    assert moved | duplicated == set(deleted)
    assert {message_id for message_id, _ in ledger.to_release()} == left  # every one left is made visible again

    if fifo:
        order = {message["MessageId"]: index for index, message in enumerate(received)}
        group_of = {message["MessageId"]: message["Attributes"]["MessageGroupId"] for message in received}
        for group in "abc":
            mine = [message["MessageId"] for message in received if group_of[message["MessageId"]] == group]
            sent = [message_id for message_id in sent_order if group_of[message_id] == group]
            assert sent == sorted(sent, key=order.__getitem__), "a group's messages go in order"
            done = [message_id for message_id in mine if message_id in moved or message_id in duplicated]
            assert done == mine[: len(done)], "nothing of a group moves past one left behind"
