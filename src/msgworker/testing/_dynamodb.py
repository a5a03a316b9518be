"""DynamoDB Streams events: ``NEW_AND_OLD_IMAGES`` records, images in DynamoDB JSON."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeAlias, TypeGuard

from ._common import DEFAULT_ACCOUNT, DEFAULT_REGION, b64, epoch_ms, is_record, next_sequence, utc

_STREAM_LABEL = "2026-11-25T00:00:00.000"
# A base value gives sequence numbers the 28 digits DynamoDB Streams uses, so code that stores or compares
# them as strings is exercised; the stride stops consecutive values from differing only in their last digit.
_DYNAMODB_SEQUENCE = (6_307_851_200_000_000_014_856_031_120, 100_000_007)
_DYNAMODB_EVENT_NAMES = frozenset({"INSERT", "MODIFY", "REMOVE"})


def _dynamodb_number(value: int | float | Decimal) -> str:
    if isinstance(value, int):
        return str(value)
    number = Decimal(repr(value)) if isinstance(value, float) else value
    if not number.is_finite():
        raise ValueError(f"DynamoDB numbers must be finite, got {value!r}")
    if number.is_zero():
        return "0"
    # DynamoDB returns numbers without trailing zeros or exponents ("10.50" comes back as "10.5").
    return format(number.normalize(), "f")


def _is_number(value: object) -> TypeGuard[int | float | Decimal]:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def to_dynamodb_json(value: object) -> dict[str, Any]:
    """Serialise one Python value to a DynamoDB JSON attribute value (as found in stream images).

    ``str``→S, ``bool``→BOOL, ``int``/``float``/``Decimal``→N (a string), ``bytes``→B (base64),
    ``None``→NULL, Mapping→M, ``list``/``tuple``→L, and non-empty sets of str/numbers/bytes→SS/NS/BS
    (sorted, so output is deterministic).

    >>> to_dynamodb_json({"total": 12.5, "tags": {"new", "vip"}, "paid": True})
    {'M': {'total': {'N': '12.5'}, 'tags': {'SS': ['new', 'vip']}, 'paid': {'BOOL': True}}}

    Raises:
        TypeError: unsupported type, non-str Mapping key, or a set mixing kinds.
        ValueError: empty set, or a non-finite number (DynamoDB rejects both).
    """
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if _is_number(value):
        return {"N": _dynamodb_number(value)}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"B": b64(bytes(value))}
    if isinstance(value, Mapping):
        members: dict[str, Any] = {}
        for key, member in value.items():
            if not isinstance(key, str):
                raise TypeError(f"DynamoDB map keys must be str, got {type(key).__name__}")
            members[key] = to_dynamodb_json(member)
        return {"M": members}
    if isinstance(value, list | tuple):
        return {"L": [to_dynamodb_json(member) for member in value]}
    if isinstance(value, set | frozenset):
        return _dynamodb_set(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to DynamoDB JSON")


def _dynamodb_set(value: set[Any] | frozenset[Any]) -> dict[str, Any]:
    if not value:
        raise ValueError("DynamoDB does not allow empty sets")
    if all(isinstance(member, str) for member in value):
        return {"SS": sorted(value)}
    if all(_is_number(member) for member in value):
        # Distinct Python values can print the same (0.1 and Decimal("0.1")); DynamoDB rejects duplicates.
        return {"NS": sorted({_dynamodb_number(member) for member in value}, key=Decimal)}
    if all(isinstance(member, bytes) for member in value):
        return {"BS": [b64(member) for member in sorted(value)]}
    raise TypeError("a DynamoDB set must hold only str, only numbers or only bytes")


_ImagePair: TypeAlias = tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]


def _image(image: Mapping[str, Any]) -> dict[str, Any]:
    return {name: to_dynamodb_json(member) for name, member in image.items()}


def dynamodb_record(
    new_image: Mapping[str, Any] | None = None,
    old_image: Mapping[str, Any] | None = None,
    *,
    keys: Mapping[str, Any] | None = None,
    event_name: str | None = None,
    sequence_number: str | int | None = None,
    table: str = "msgworker-table",
    key_names: Sequence[str] = ("id",),
    created_at: datetime | None = None,
    stream_label: str = _STREAM_LABEL,
    region: str = DEFAULT_REGION,
    account: str = DEFAULT_ACCOUNT,
) -> dict[str, Any]:
    """Build one DynamoDB Streams record (``NEW_AND_OLD_IMAGES`` view) as Lambda receives it.

    Images and keys are plain Python values, serialised with :func:`to_dynamodb_json`. ``event_name``
    defaults to INSERT (only ``new_image``), REMOVE (only ``old_image``) or MODIFY (both); ``keys``
    defaults to the ``key_names`` attributes of whichever image exists (the new one if both).
    ``SizeBytes`` is an approximation computed from the serialised keys and images.

    >>> record = dynamodb_record({"id": "o-1", "total": 10}, table="orders")
    >>> record["eventName"], record["dynamodb"]["Keys"], record["dynamodb"]["NewImage"]["total"]
    ('INSERT', {'id': {'S': 'o-1'}}, {'N': '10'})

    Raises:
        ValueError: no image given, an unknown ``event_name``, or a key attribute missing from the image.
    """
    if new_image is None and old_image is None:
        raise ValueError("give new_image, old_image or both")
    if event_name is None:
        event_name = "INSERT" if old_image is None else "REMOVE" if new_image is None else "MODIFY"
    elif event_name not in _DYNAMODB_EVENT_NAMES:
        raise ValueError(f"event_name must be one of {sorted(_DYNAMODB_EVENT_NAMES)}, got {event_name!r}")
    if keys is None:
        source = new_image if new_image is not None else old_image
        assert source is not None  # one image exists: checked above
        missing = [name for name in key_names if name not in source]
        if missing:
            raise ValueError(f"key attribute(s) {missing} not in the image; pass keys= or key_names=")
        keys = {name: source[name] for name in key_names}

    body: dict[str, Any] = {"Keys": _image(keys)}
    if new_image is not None:
        body["NewImage"] = _image(new_image)
    if old_image is not None:
        body["OldImage"] = _image(old_image)
    size = len(json.dumps(body, separators=(",", ":")).encode("utf-8"))
    sequence = str(sequence_number) if sequence_number is not None else next_sequence(_DYNAMODB_SEQUENCE)
    return {
        "eventID": uuid.uuid4().hex,
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": {
            "ApproximateCreationDateTime": epoch_ms(utc(created_at)) // 1000,
            **body,
            "SequenceNumber": sequence,
            "SizeBytes": size,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": f"arn:aws:dynamodb:{region}:{account}:table/{table}/stream/{stream_label}",
    }


def dynamodb_event(
    records_or_images: Iterable[Mapping[str, Any] | _ImagePair],
    **kwargs: Any,
) -> dict[str, Any]:
    """Build a DynamoDB Streams event from records, new images and/or ``(new, old)`` image pairs.

    Items with an ``"eventSource"`` key are kept as records; other Mappings are new images (INSERT);
    ``(new_image, old_image)`` tuples give MODIFY, or REMOVE when ``new_image`` is ``None``. ``kwargs``
    go to :func:`dynamodb_record`.

    >>> event = dynamodb_event([{"id": "a"}, ({"id": "a", "n": 2}, {"id": "a", "n": 1}), (None, {"id": "a"})])
    >>> [r["eventName"] for r in event["Records"]]
    ['INSERT', 'MODIFY', 'REMOVE']
    """
    records: list[dict[str, Any]] = []
    for item in records_or_images:
        if isinstance(item, tuple):
            new_image, old_image = item
            records.append(dynamodb_record(new_image, old_image, **kwargs))
        elif is_record(item, "eventSource"):
            records.append(dict(item))
        else:
            records.append(dynamodb_record(item, **kwargs))
    return {"Records": records}
