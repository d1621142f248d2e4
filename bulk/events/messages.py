"""What a queue message says: S3 event records, direct or in an SNS envelope, and our own.

S3 sends `{"Records": [...]}` with one record per changed object (the standard event JSON,
also what MinIO sends); through SNS the same JSON arrives as the string `Message` of a
`{"Type": "Notification"}` envelope. Object keys in records are form-encoded (`+` is a
space, `%2B` a plus, and moto also encodes `/` as `%2F`), so each is decoded exactly once
here and nowhere else: decoding twice would turn a stored `%2561` into `a`.

`pregen --enqueue` writes the same shape (`eventSource: mediaproxy:pregen`), plus an
optional `mediaproxy.sizes` list naming the only sizes to make, so the worker needs one
path for both.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any
from urllib.parse import quote_plus, unquote_plus

PREGEN_SOURCE = "mediaproxy:pregen"
PREGEN_EVENT = "ObjectCreated:Pregen"


class BadMessage(ValueError):
    """A body that is neither an S3 event, an SNS envelope of one, nor a test event. It is
    never acknowledged: it ends in the dead-letter queue for someone to read."""


class Kind(Enum):
    CREATED = "created"  # ObjectCreated:* (Put, Post, Copy, CompleteMultipartUpload, Pregen)
    REMOVED = "removed"  # ObjectRemoved:*, LifecycleExpiration:*
    OTHER = "other"  # tagging, ACL, restore...: nothing to do for sizes


@dataclass(frozen=True)
class Change:
    """One record: an object of `bucket` changed. `key` is the full bucket key, decoded;
    `etag` (unquoted) is the object's as the event saw it, when the event says it."""

    kind: Kind
    bucket: str
    key: str
    etag: str | None = None
    time: datetime | None = None
    sizes: tuple[str, ...] | None = None  # pregen --enqueue: only these size names


def parse_body(body: str) -> list[Change]:
    """The changes a message body reports: [] for `s3:TestEvent`; BadMessage otherwise."""
    try:
        document = json.loads(body)
    except ValueError as error:
        raise BadMessage(f"not JSON: {error}") from error
    if not isinstance(document, dict):
        raise BadMessage("not a JSON object")
    if document.get("Type") == "Notification" and isinstance(document.get("Message"), str):
        return parse_body(document["Message"])  # SNS envelope (not raw delivery)
    if document.get("Event") == "s3:TestEvent":
        return []
    records = document.get("Records")
    if not isinstance(records, list):
        raise BadMessage("no Records: not an S3 event notification")
    return [_change(record) for record in records]


def _change(record: Any) -> Change:
    try:
        name = str(record["eventName"])
        bucket = str(record["s3"]["bucket"]["name"])
        obj = record["s3"]["object"]
        key = unquote_plus(str(obj["key"]))
    except (KeyError, TypeError) as error:
        raise BadMessage(f"S3 record without {error}") from error
    etag = obj.get("eTag") or obj.get("etag")
    extra = record.get("mediaproxy")
    sizes = extra.get("sizes") if isinstance(extra, dict) else None
    return Change(
        kind=_kind(name),
        bucket=bucket,
        key=key,
        etag=str(etag).strip('"') if etag else None,
        time=_time(record.get("eventTime")),
        sizes=tuple(str(size) for size in sizes) if isinstance(sizes, list) else None,
    )


def _kind(event_name: str) -> Kind:
    family = event_name.removeprefix("s3:").split(":", 1)[0]
    if family == "ObjectCreated":
        return Kind.CREATED
    if family in ("ObjectRemoved", "LifecycleExpiration"):
        return Kind.REMOVED
    return Kind.OTHER


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def pregen_body(bucket: str, key: str, sizes: Sequence[str] | None, now: datetime) -> str:
    """The message `pregen --enqueue` sends for one original: an S3 event record (the key
    encoded as S3 encodes it), so a worker handles it exactly like a bucket event."""
    record: dict[str, Any] = {
        "eventVersion": "2.1",
        "eventSource": PREGEN_SOURCE,
        "eventTime": now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "eventName": PREGEN_EVENT,
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": bucket},
            "object": {"key": quote_plus(key, safe="/")},
        },
    }
    if sizes is not None:
        record["mediaproxy"] = {"sizes": list(sizes)}
    return json.dumps({"Records": [record]}, separators=(",", ":"))
