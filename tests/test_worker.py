"""`mediaproxy worker` (SPEC §11) on real bucket events: moto serves S3, SQS and SNS from one
process state, so `put_bucket_notification_configuration` makes moto itself send the
standard event JSON (and the `s3:TestEvent`) to the queue, as S3 does; nothing is
injected except where a test says so (events moto cannot produce: other buckets, keys
outside the prefix, tagging). Real libvips; every size compared byte for byte with what
resize/ makes of the original's bytes.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path

import pytest
from aiobotocore.session import AioSession

from config import Settings
from storage import Storage
from tests import images
from tests.conftest import RawS3
from tests.workerkit import (
    M2_HASHES,
    PREFIX,
    Queues,
    Recorder,
    Sqs,
    expected,
    messages,
    notify,
    records,
    running,
    s3_record,
    settings,
    size_keys,
    sqs,
    until,
    write_settings,
)

ORIGINALS = {"t1": "t1/full/1/3/ab.jpg", "m2": "media/catalog/product/a/b/ab.jpg"}


@pytest.fixture
def queues(sqs: Sqs) -> Queues:
    return sqs.create()


def stored(s3: RawS3, bucket: str, keys: list[str]) -> dict[str, bytes]:
    """The bytes of each of `keys` in the bucket now (a key deleted meanwhile is absent)."""
    found = {}
    for key in set(keys) & set(s3.list(bucket, PREFIX)):
        with contextlib.suppress(s3.client.exceptions.NoSuchKey):
            found[key] = s3.get(bucket, key)[0]
    return found


@pytest.mark.parametrize("site", ["t1", "m2"])
async def test_bucket_events_create_replace_and_delete_every_size(
    site: str,
    settings: Settings,
    sqs: Sqs,
    queues: Queues,
    s3_raw: RawS3,
    s3_bucket: str,
    aio_session: AioSession,
) -> None:
    notify(s3_raw.client, s3_bucket, queue_arn=queues.arn)
    key = ORIGINALS[site]
    keys = size_keys(settings, key)
    assert len(keys) == (3 if site == "t1" else len(M2_HASHES) * 2)  # m2: both URL formats
    drained = lambda: sqs.depth(queues.url) == 0  # noqa: E731
    async with running(settings, queues.url, aio_session) as worker:
        first = images.jpeg(640, 480)
        s3_raw.put(s3_bucket, PREFIX + key, first)
        want = expected(settings, key, first)
        await until(lambda: stored(s3_raw, s3_bucket, keys) == want, "every size made")
        await until(drained, "the queue drained")

        second = images.jpeg(300, 500)  # other bytes and other proportions
        s3_raw.put(s3_bucket, PREFIX + key, second)
        want = expected(settings, key, second)
        await until(lambda: stored(s3_raw, s3_bucket, keys) == want, "every size replaced")
        await until(drained, "the queue drained")

        s3_raw.client.delete_object(Bucket=s3_bucket, Key=PREFIX + key)
        await until(lambda: not stored(s3_raw, s3_bucket, keys), "no size left")
        await until(drained, "the queue drained")
    metrics = worker.metrics
    assert records(metrics, "test") == 1  # moto's s3:TestEvent on configuring notifications
    assert (records(metrics, "rendered"), records(metrics, "deleted")) == (2, 1)
    assert records(metrics, "ignored") >= len(want)  # our own size writes came back as events
    assert messages(metrics, "failed") == 0
    assert messages(metrics, "processed") == messages(metrics, "received")


async def test_keys_that_are_no_originals_are_acknowledged_without_any_storage_call(
    settings: Settings,
    sqs: Sqs,
    queues: Queues,
    s3_raw: RawS3,
    s3_bucket: str,
    aio_session: AioSession,
) -> None:
    image = images.jpeg(64, 48)
    s3_raw.put(s3_bucket, PREFIX + "t1/full/1/3/ab.jpg", image)  # before notifications: no event
    notify(s3_raw.client, s3_bucket, queue_arn=queues.arn)
    for key in (
        "t1/300x/1/3/ab.jpg",  # a size (what the worker writes itself)
        "t1/full/1/3/notes.txt",  # not an image
        "t1/full/1/3/bad name.jpg",  # not a valid path (the event says bad+name.jpg)
        "nosite/full/1/3/ab.jpg",  # no such site
        "media/catalog/product/cache/0f4c1d1c3e8e9d1e1b2a3c4d5e6f7a8b/a/b/ab.jpg",
        "media/catalog/product/placeholder/default/x.jpg",
    ):
        s3_raw.put(s3_bucket, PREFIX + key, image)
    injected = [
        s3_record("another-bucket", PREFIX + "t1/full/1/3/ab.jpg"),
        s3_record(s3_bucket, "t1/full/1/3/ab.jpg"),  # outside the storage prefix
        s3_record(s3_bucket, PREFIX + "t1/full/1/3/ab.jpg", "ObjectTagging:Put"),
        # %2561 is a stored "%61": decoded twice it would be "a", i.e. ab.jpg
        s3_record(s3_bucket, f"{PREFIX}t1/full/1/3/%2561b.jpg"),
    ]
    sqs.send(queues.url, {"Records": injected})
    wrapped: list[Recorder] = []

    def wrap(inner: Storage) -> Storage:
        wrapped.append(Recorder(inner))
        return wrapped[0]

    async with running(settings, queues.url, aio_session, wrap=wrap) as worker:
        await until(lambda: sqs.depth(queues.url) == 0, "every message acknowledged")
    assert wrapped[0].calls == []
    assert records(worker.metrics, "ignored") == 6 + len(injected)
    assert messages(worker.metrics, "failed") == 0
    assert not [key for key in s3_raw.list(s3_bucket) if "/70x70/" in key or "/90x/" in key]


async def test_originals_with_invalid_keys_are_acknowledged_with_one_warning_each(
    settings: Settings,
    sqs: Sqs,
    queues: Queues,
    s3_raw: RawS3,
    s3_bucket: str,
    aio_session: AioSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    notify(s3_raw.client, s3_bucket, queue_arn=queues.arn)
    invalid = [
        "t1/full/1/3/bad name.jpg",  # the event says bad+name.jpg
        "t1/full/1/3/%ZZ.jpg",  # no escape: stays %ZZ once decoded
        "t1/full/1/3/h\u00e9.jpg",
        "media/catalog/product/a/b/-ab.jpg",
    ]
    quiet = [
        "t1/300x/1/3/bad name.jpg",  # no original's key: no one expects sizes of it
        "t1/full/1/3/bad name.txt",  # not an image: stored as it is
        "media/catalog/product/cache/bad name/a/b/ab.jpg",
    ]
    image = images.jpeg(16, 16)
    with caplog.at_level(logging.WARNING, logger="mediaproxy.worker"):
        async with running(settings, queues.url, aio_session) as worker:
            for key in invalid + quiet:
                s3_raw.put(s3_bucket, PREFIX + key, image)
            await until(
                lambda: records(worker.metrics, "ignored") == len(invalid + quiet),
                "every event handled",
            )
            await until(lambda: sqs.depth(queues.url) == 0, "every message acknowledged")
    warned = [r.getMessage() for r in caplog.records if r.name == "mediaproxy.worker"]
    assert sorted(warned) == sorted(
        f"worker: {key}\tignored: not a valid image path: each segment is ASCII letters, "
        "digits, '.', '_' and '-', not starting with '.' or '-'; rename it"
        for key in invalid
    )
    assert messages(worker.metrics, "failed") == 0
    assert set(s3_raw.list(s3_bucket)) == {PREFIX + key for key in invalid + quiet}


async def test_unrenderable_originals_end_in_the_dead_letter_queue_while_good_work_goes_on(
    tmp_path: Path,
    sqs: Sqs,
    s3_raw: RawS3,
    s3_bucket: str,
    moto_endpoint: str,
    aio_session: AioSession,
) -> None:
    settings = write_settings(
        tmp_path, s3_bucket, moto_endpoint, "[resize]\nmax_source_pixels = 500_000\n"
    )
    queues = sqs.create(max_receive=2)
    notify(s3_raw.client, s3_bucket, queue_arn=queues.arn)
    bad = {
        "t1/full/1/3/corrupt.jpg": images.jpeg(64, 48)[:200],  # truncated
        "t1/full/1/3/huge.jpg": images.jpeg(1000, 800),  # 800k pixels: over the limit
    }
    good = [f"t1/full/g/{n}/g{n}.jpg" for n in range(3)]
    async with running(settings, queues.url, aio_session, retry_delay=0) as worker:
        for key, data in bad.items():
            s3_raw.put(s3_bucket, PREFIX + key, data)
        for key in good:
            s3_raw.put(s3_bucket, PREFIX + key, images.jpeg(320, 240))
        every = [k for key in good for k in size_keys(settings, key)]
        await until(lambda: sqs.depth(queues.dlq) == 2, "both bad originals in the DLQ")
        await until(lambda: len(stored(s3_raw, s3_bucket, every)) == len(every), "good sizes")
        await until(lambda: sqs.depth(queues.url) == 0, "the queue drained")
    dead = [json.loads(body)["Records"][0]["s3"]["object"] for body in sqs.take_all(queues.dlq)]
    assert sorted(obj["key"].replace("%2F", "/") for obj in dead) == sorted(PREFIX + k for k in bad)
    left = [key for key in s3_raw.list(s3_bucket) if "corrupt" in key or "huge" in key]
    assert sorted(left) == sorted(PREFIX + key for key in bad)  # the originals, no size
    assert messages(worker.metrics, "failed") == 4  # each bad one: received twice, failed twice
    assert records(worker.metrics, "rendered") == len(good)


async def test_events_wrapped_in_sns_are_handled_alike(
    settings: Settings,
    sqs: Sqs,
    queues: Queues,
    s3_raw: RawS3,
    s3_bucket: str,
    aio_session: AioSession,
) -> None:
    topic = sqs.sns.create_topic(Name=f"media-{queues.arn.rsplit(':', 1)[1]}")["TopicArn"]
    sqs.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queues.arn)
    notify(s3_raw.client, s3_bucket, topic_arn=topic)
    key = ORIGINALS["t1"]
    data = images.png(200, 150, alpha=True)
    async with running(settings, queues.url, aio_session) as worker:
        s3_raw.put(s3_bucket, PREFIX + key, data, "image/png")
        want = expected(settings, key, data)
        await until(lambda: stored(s3_raw, s3_bucket, list(want)) == want, "every size made")
        await until(lambda: sqs.depth(queues.url) == 0, "the queue drained")
    assert records(worker.metrics, "test") == 1  # the TestEvent, through SNS too
    assert records(worker.metrics, "rendered") == 1
