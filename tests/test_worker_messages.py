"""Queue message bodies → changes (bulk/events/messages.py) and event keys → storage keys,
table-driven, no I/O."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bulk.events import BadMessage, Change, Kind, Location, parse_body, pregen_body
from tests.workerkit import s3_record


def body(*records: dict[str, Any]) -> str:
    return json.dumps({"Records": list(records)})


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("t1/full/1/3/ab.jpg", "t1/full/1/3/ab.jpg"),  # AWS leaves `/` alone
        ("t1%2Ffull%2F1%2F3%2Fab.jpg", "t1/full/1/3/ab.jpg"),  # moto encodes it
        ("t1/full/a+b.jpg", "t1/full/a b.jpg"),  # form encoding: + is a space
        ("t1/full/a%2Bb.jpg", "t1/full/a+b.jpg"),
        ("t1/full/1/3/%2561b.jpg", "t1/full/1/3/%61b.jpg"),  # once: not ab.jpg
    ],
)
def test_keys_are_decoded_exactly_once(encoded: str, decoded: str) -> None:
    [change] = parse_body(body(s3_record("b", encoded)))
    assert change.key == decoded


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        ("ObjectCreated:Put", Kind.CREATED),
        ("ObjectCreated:CompleteMultipartUpload", Kind.CREATED),
        ("s3:ObjectCreated:Copy", Kind.CREATED),
        ("ObjectRemoved:Delete", Kind.REMOVED),
        ("ObjectRemoved:DeleteMarkerCreated", Kind.REMOVED),
        ("LifecycleExpiration:Delete", Kind.REMOVED),
        ("ObjectTagging:Put", Kind.OTHER),
        ("ObjectRestore:Completed", Kind.OTHER),
    ],
)
def test_event_names_map_to_what_the_worker_does(event: str, kind: Kind) -> None:
    [change] = parse_body(body(s3_record("b", "k.jpg", event)))
    assert change.kind is kind


def test_a_record_carries_bucket_etag_and_time() -> None:
    record = s3_record("shop", "t1/full/a.jpg", eTag='"abc"', sequencer="0055")
    first, second = parse_body(body(record, s3_record("shop", "t1/full/b.jpg")))
    assert first == Change(
        Kind.CREATED, "shop", "t1/full/a.jpg", "abc", datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert (second.key, second.etag) == ("t1/full/b.jpg", None)


def test_sns_envelopes_are_opened_and_test_events_say_nothing() -> None:
    inner = body(s3_record("b", "t1%2Ffull%2Fa.jpg"))
    envelope = {"Type": "Notification", "TopicArn": "arn:aws:sns:x", "Message": inner}
    [change] = parse_body(json.dumps(envelope))
    assert change.key == "t1/full/a.jpg"
    assert parse_body(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"})) == []
    test_in_sns = {"Type": "Notification", "Message": '{"Event": "s3:TestEvent"}'}
    assert parse_body(json.dumps(test_in_sns)) == []


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1, 2]",
        '{"Records": "x"}',
        '{"hello": 1}',
        '{"Records": [{"eventName": "ObjectCreated:Put"}]}',
        '{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {}, "object": {}}}]}',
    ],
)
def test_anything_else_is_a_bad_message(text: str) -> None:
    with pytest.raises(BadMessage):
        parse_body(text)


@pytest.mark.parametrize("sizes", [None, ("300x", "70x70")])
def test_pregen_messages_have_the_s3_shape_and_round_trip(sizes: tuple[str, ...] | None) -> None:
    now = datetime(2026, 5, 1, 12, 30, 0, 123000, tzinfo=UTC)
    text = pregen_body("shop", "p/t1/full/a b+c.jpg", sizes, now)
    record = json.loads(text)["Records"][0]
    assert record["s3"]["object"]["key"] == "p/t1/full/a+b%2Bc.jpg"  # as S3 encodes it
    assert record["eventTime"] == "2026-05-01T12:30:00.123Z"
    [change] = parse_body(text)
    assert change == Change(Kind.CREATED, "shop", "p/t1/full/a b+c.jpg", None, now, sizes)


@pytest.mark.parametrize(
    ("url", "bucket", "key", "storage_key"),
    [
        ("s3://shop/media", "shop", "media/t1/full/a.jpg", "t1/full/a.jpg"),
        ("s3://shop/media", "shop", "other/t1/full/a.jpg", None),  # outside the prefix
        ("s3://shop/media", "elsewhere", "media/t1/full/a.jpg", None),  # another bucket
        ("s3://shop", "shop", "t1/full/a.jpg", "t1/full/a.jpg"),
        ("file:./var/media", "any", "t1/full/a.jpg", "t1/full/a.jpg"),
    ],
)
def test_event_keys_map_to_storage_keys(
    url: str, bucket: str, key: str, storage_key: str | None
) -> None:
    location = Location.of(url)
    assert location.storage_key(bucket, key) == storage_key
    if storage_key is not None and location.bucket:
        assert location.bucket_key(storage_key) == (bucket, key)
