"""Claim check: payloads kept in S3, with a pointer in the message, in the format of AWS's
SQS and SNS Extended Client libraries (Java, Python, and the other SDKs that follow them).

The format, as those clients write it:

- the message body (or SNS ``Message``) is the JSON array
  ``["software.amazon.payloadoffloading.PayloadS3Pointer", {"s3BucketName": ..., "s3Key": ...}]``
  (older clients write the class ``com.amazon.sqs.javamessaging.MessageS3Pointer``);
- the reserved message attribute ``ExtendedPayloadSize`` (legacy ``SQSLargePayloadSize``),
  a ``Number``, holds the payload's size in bytes;
- the S3 object holds the payload's UTF-8 bytes, exactly as the body would have.

This module holds the format (pure: :func:`read_pointer`, :func:`pointer_body`), the batch's
claims (:func:`find_claims`, what the pipeline reads) and the S3 I/O (:func:`fetch_claims`,
:func:`delete_payloads`), which import botocore only when a batch has a pointer.

Example:
    >>> pointer = read_pointer(pointer_body("payloads", "k-1"))
    >>> pointer.bucket, pointer.key, pointer.uri
    ('payloads', 'k-1', 's3://payloads/k-1')
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ._message import Deferred, Envelope, Fields, resolved
from .errors import ParseError, PayloadMissingError, PayloadUnavailableError
from .sources import Record, Source

POINTER_CLASS = "software.amazon.payloadoffloading.PayloadS3Pointer"
LEGACY_POINTER_CLASS = "com.amazon.sqs.javamessaging.MessageS3Pointer"
SIZE_ATTRIBUTE = "ExtendedPayloadSize"
LEGACY_SIZE_ATTRIBUTE = "SQSLargePayloadSize"
RESERVED_ATTRIBUTES = (SIZE_ATTRIBUTE, LEGACY_SIZE_ATTRIBUTE)

MARKER = "S3Pointer"
"""Both class names end in it: the one substring scan an ordinary record pays."""

FETCH_CONCURRENCY = 16
"""S3 reads in flight at once (the shared client's connection pool)."""

_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "404", "NotFound"})


@dataclass(frozen=True, slots=True)
class PayloadPointer:
    """Where a record's offloaded payload is: ``Message.payload_pointer`` for a record that
    arrived as a pointer (``None`` for every other record).

    ``size`` is the reserved attribute's byte count (``None`` when the producer sent none);
    ``legacy`` is True for the older pointer class.

    Example:
        >>> PayloadPointer("payloads", "orders/1", 300_000).uri
        's3://payloads/orders/1'
    """

    bucket: str
    key: str
    size: int | None = None
    legacy: bool = False

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def read_pointer(text: Any) -> PayloadPointer | None:
    """The pointer ``text`` holds, or ``None`` when it is not one.

    Raises:
        ParseError: it names a pointer class but is not a well-formed pointer.

    Example:
        >>> read_pointer('{"order_id": "o-1"}') is None
        True
    """
    if text.__class__ is not str or MARKER not in text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not (isinstance(value, list) and value and value[0] in (POINTER_CLASS, LEGACY_POINTER_CLASS)):
        return None
    where = value[1] if len(value) == 2 and isinstance(value[1], dict) else {}
    bucket, key = where.get("s3BucketName"), where.get("s3Key")
    if not (isinstance(bucket, str) and bucket and isinstance(key, str) and key):
        raise ParseError(
            f"the payload is a {value[0]} without a bucket and key (expected [class, "
            '{"s3BucketName": ..., "s3Key": ...}]): the producer wrote a malformed pointer'
        )
    return PayloadPointer(bucket, key, legacy=value[0] == LEGACY_POINTER_CLASS)


def pointer_body(bucket: str, key: str, *, legacy: bool = False) -> str:
    """The message body that points at ``s3://bucket/key``, as the AWS clients write it.

    Example:
        >>> pointer_body("b", "k")
        '["software.amazon.payloadoffloading.PayloadS3Pointer", {"s3BucketName": "b", "s3Key": "k"}]'
    """
    return json.dumps([LEGACY_POINTER_CLASS if legacy else POINTER_CLASS, {"s3BucketName": bucket, "s3Key": key}])


def declared_size(attributes: Mapping[str, Any]) -> int | None:
    """The payload size the reserved attribute declares (decoded attributes), if any."""
    for name in RESERVED_ATTRIBUTES:
        value = attributes.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
    return None


# -- the batch's claims --------------------------------------------------------------

_TEXT_OF: dict[str, Callable[[Record], Any]] = {
    "sqs": lambda record: record.get("body"),
    "sns": lambda record: (record.get("Sns") or {}).get("Message"),
}
"""Where a pointer can be, per source, before any decoding (an SNS envelope inside an SQS
body keeps the marker: JSON escapes only the quotes around it)."""


@dataclass(slots=True)
class Claim:
    """One record's pointer and, once fetched, its payload or why it could not be read."""

    pointer: PayloadPointer
    payload: str | bytes | None = None
    error: Exception | None = None

    def resolve(self) -> str | bytes:
        """The fetched payload; raises what stopped the fetch (the record then fails)."""
        if self.error is not None:
            raise self.error
        assert self.payload is not None
        return self.payload

    def describe(self, describe: Callable[[Record, tuple[Envelope, ...]], Fields]) -> Callable[..., Fields]:
        """The record's Message fields with the pointer, and without the reserved attribute
        (as the AWS clients hand a message over: the attributes its producer sent)."""
        pointer = self.pointer

        def described(record: Record, inner: tuple[Envelope, ...]) -> Fields:
            fields = describe(record, inner)
            # Deferred still: attributes that do not decode fail only when read (Message fields stand alone).
            fields["attributes"] = Deferred(_without_reserved, fields.get("attributes"))
            fields["payload_pointer"] = pointer
            return fields

        return described


def _without_reserved(attributes: Any) -> dict[str, Any]:
    attributes = (attributes.compute() if isinstance(attributes, Deferred) else attributes) or {}
    return {name: attributes[name] for name in attributes if name not in RESERVED_ATTRIBUTES}


Claims = dict[int, Claim]


def find_claims(source: Source, records: Sequence[Record]) -> Claims | None:
    """The batch's records that are pointers, by index (``None`` when there is none: the
    common case costs one substring scan per record). A record that does not decode is
    left to the pipeline, which reports it."""
    text_of = _TEXT_OF.get(source.name)
    if text_of is None:
        return None
    claims: Claims | None = None
    for index, record in enumerate(records):
        text = text_of(record) if isinstance(record, Mapping) else None
        if text.__class__ is not str or MARKER not in text:
            continue
        try:
            payload, serialised, inner = source.decode(record)
            pointer = read_pointer(payload) if serialised else None
        except Exception as error:  # a malformed pointer fails its record when the pipeline reaches it
            if isinstance(error, ParseError):
                claims = claims or {}
                claims[index] = Claim(PayloadPointer("", ""), error=error)
            continue
        if pointer is None:
            continue
        try:
            size = declared_size(resolved(source.describe(record, inner), "attributes") or {})
        except ParseError:  # an attribute that does not decode: the size is not known, the fetch says
            size = None
        claims = claims or {}
        claims[index] = Claim(replace(pointer, size=size))
    return claims


# -- S3 ------------------------------------------------------------------------------


def fetch_claims(claims: Claims, client: Any = None) -> None:
    """Read every claim's payload, all at once (one S3 round trip of wall time for a batch).

    A missing object fails its record for good (:class:`PayloadMissingError`); any other
    failure (denied, throttled, unreachable) fails it for now (:class:`PayloadUnavailableError`).
    """
    todo = [claim for claim in claims.values() if claim.error is None and claim.payload is None]
    if not todo:
        return
    if client is None:
        from ._aws_clients import aws_client

        try:
            client = aws_client("s3")
        except Exception as error:  # no botocore, no region: the pointers fail, the other records run
            for claim in todo:
                claim.error = fetch_error(claim.pointer, error)
            return
    concurrently(lambda claim: _fetch(client, claim), todo)


def _fetch(client: Any, claim: Claim) -> None:
    pointer = claim.pointer
    try:
        data = client.get_object(Bucket=pointer.bucket, Key=pointer.key)["Body"].read()
    except Exception as error:
        claim.error = fetch_error(pointer, error)
        return
    try:
        claim.payload = data.decode("utf-8")
    except UnicodeDecodeError:
        claim.payload = data  # the parser says what it makes of bytes


def fetch_error(pointer: PayloadPointer, error: BaseException) -> Exception:
    """What a failed read of ``pointer`` means for its record (no payload byte quoted).

    Example:
        >>> type(fetch_error(PayloadPointer("b", "k"), TimeoutError())).__name__
        'PayloadUnavailableError'
    """
    code = _error_code(error)
    if code in _MISSING_CODES:
        return PayloadMissingError(
            f"the record's payload {pointer.uri} does not exist ({code}): it was deleted (worker(delete_payload=True) "
            "after an earlier delivery, or the bucket's lifecycle rule) or never written; the record cannot be "
            "processed, and retrying will not bring it back",
            pointer=pointer,
        )
    return PayloadUnavailableError(
        f"could not read the record's payload {pointer.uri} ({code}): check that the function may s3:GetObject "
        "(and kms:Decrypt) on it and that S3 is reachable; the record is reported failed and comes back",
        pointer=pointer,
    )


def delete_payloads(pointers: Iterable[PayloadPointer], client: Any = None) -> list[tuple[PayloadPointer, str]]:
    """Delete the objects (one DeleteObjects request per bucket and 1000 keys); returns the
    pointers that could not be deleted, with the error code."""
    by_bucket: dict[str, list[PayloadPointer]] = {}
    for pointer in pointers:
        by_bucket.setdefault(pointer.bucket, []).append(pointer)
    if not by_bucket:
        return []
    if client is None:
        from ._aws_clients import aws_client

        client = aws_client("s3")
    failed: list[tuple[PayloadPointer, str]] = []
    for bucket, group in by_bucket.items():
        for start in range(0, len(group), 1000):
            chunk = group[start : start + 1000]
            try:
                answer = client.delete_objects(
                    Bucket=bucket, Delete={"Objects": [{"Key": p.key} for p in chunk], "Quiet": True}
                )
            except Exception as error:
                failed.extend((pointer, _error_code(error)) for pointer in chunk)
                continue
            errors = {entry.get("Key"): str(entry.get("Code")) for entry in answer.get("Errors") or ()}
            failed.extend((pointer, errors[pointer.key]) for pointer in chunk if pointer.key in errors)
    return failed


def _error_code(error: BaseException) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, Mapping):
        code = (response.get("Error") or {}).get("Code")
        if code:
            return str(code)
    return type(error).__name__


def concurrently(work: Callable[[Any], None], items: Sequence[Any]) -> None:
    """Run ``work`` on every item at once (each in a copy of the caller's context, so the
    AWS client's retry hook still sees the Lambda's deadline)."""
    if len(items) == 1:
        work(items[0])
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(FETCH_CONCURRENCY, len(items))) as pool:
        for future in [pool.submit(contextvars.copy_context().run, work, item) for item in items]:
            future.result()


__all__ = [
    "LEGACY_POINTER_CLASS",
    "LEGACY_SIZE_ATTRIBUTE",
    "MARKER",
    "POINTER_CLASS",
    "RESERVED_ATTRIBUTES",
    "SIZE_ATTRIBUTE",
    "Claim",
    "PayloadPointer",
    "concurrently",
    "declared_size",
    "delete_payloads",
    "fetch_claims",
    "fetch_error",
    "find_claims",
    "pointer_body",
    "read_pointer",
]
