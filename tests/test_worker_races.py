"""Events racing each other: per-original ordering (settle.py), several workers on one
queue, and visibility kept while a long render is in hand. Real moto S3 and SQS; a worker
is caught mid-write by holding its first put (Recorder), never by timing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime

import pytest
from aiobotocore.session import AioSession

from bulk.events import Change, Kind, Outcome, Queue, Settler, connect, pregen_body
from config import Settings
from layouts import ImageRequest, Router
from rendering import ResizePool, limits_of
from storage import Storage
from telemetry import Metrics
from tests import images
from tests.conftest import RawS3
from tests.workerkit import (
    GUARD,
    PREFIX,
    Recorder,
    Sqs,
    expected,
    messages,
    notify,
    records,
    redeliveries,
    running,
    settings,
    size_keys,
    sqs,
    until,
    write_settings,
)

KEY = "t1/full/1/3/ab.jpg"


@pytest.fixture
async def storage(settings: Settings, aio_session: AioSession, sqs: Sqs) -> AsyncIterator[Storage]:
    clients = await connect(settings, sqs.create().url, max_connections=20, session=aio_session)
    yield clients.storage
    await clients.close()


@pytest.fixture
def pool() -> Iterator[ResizePool]:
    resize = ResizePool(2, 0)
    yield resize
    resize.close()


def settler(storage: Storage, pool: ResizePool, settings: Settings) -> Settler:
    return Settler(storage, pool, limits_of(settings), "public, max-age=60", Metrics())


def image_of(settings: Settings) -> ImageRequest:
    found = Router.from_settings(settings).original_of(KEY)
    assert found is not None
    return found


def change(kind: Kind, etag: str | None = None) -> Change:
    return Change(kind, "any", PREFIX + KEY, etag)


def sizes_in(s3: RawS3, bucket: str, settings: Settings) -> dict[str, bytes]:
    present = set(s3.list(bucket, PREFIX))
    return {key: s3.get(bucket, key)[0] for key in size_keys(settings, KEY) if key in present}


async def test_a_removal_while_sizes_are_being_written_ends_with_no_size(
    settings: Settings, storage: Storage, pool: ResizePool, s3_raw: RawS3, s3_bucket: str
) -> None:
    s3_raw.put(s3_bucket, PREFIX + KEY, images.jpeg(400, 300))
    held = Recorder(storage, hold=True)
    creating = asyncio.create_task(
        settler(held, pool, settings).settle(image_of(settings), change(Kind.CREATED))
    )
    await asyncio.wait_for(held.arrived.wait(), GUARD)  # rendered, about to put its sizes
    s3_raw.client.delete_object(Bucket=s3_bucket, Key=PREFIX + KEY)
    removal = await settler(storage, pool, settings).settle(
        image_of(settings), change(Kind.REMOVED)
    )
    assert removal.outcome is Outcome.DELETED
    held.release.set()  # the late puts land after the removal deleted every size...
    assert (await creating).outcome is Outcome.DELETED  # ...and are seen and undone
    assert sizes_in(s3_raw, s3_bucket, settings) == {}


async def test_a_replacement_while_old_sizes_are_being_written_ends_with_the_new_ones(
    settings: Settings, storage: Storage, pool: ResizePool, s3_raw: RawS3, s3_bucket: str
) -> None:
    s3_raw.put(s3_bucket, PREFIX + KEY, images.jpeg(400, 300))
    held = Recorder(storage, hold=True)
    old = asyncio.create_task(
        settler(held, pool, settings).settle(image_of(settings), change(Kind.CREATED))
    )
    await asyncio.wait_for(held.arrived.wait(), GUARD)
    new = images.jpeg(200, 400)
    s3_raw.put(s3_bucket, PREFIX + KEY, new)
    settled = await settler(storage, pool, settings).settle(
        image_of(settings), change(Kind.CREATED)
    )
    assert settled.outcome is Outcome.RENDERED
    held.release.set()  # stale sizes land last, then the original's new ETag is noticed
    assert (await old).outcome is Outcome.RENDERED
    assert sizes_in(s3_raw, s3_bucket, settings) == expected(settings, KEY, new)
    assert [op for op, _ in held.calls].count("get") == 2  # went round again


async def test_outdated_events_write_nothing(
    settings: Settings, storage: Storage, pool: ResizePool, s3_raw: RawS3, s3_bucket: str
) -> None:
    s3_raw.put(s3_bucket, PREFIX + KEY, images.jpeg(64, 48))
    recorder = Recorder(storage)
    settle = settler(recorder, pool, settings).settle
    stale_create = change(Kind.CREATED, etag="0" * 32)  # the original has another ETag now
    assert (await settle(image_of(settings), stale_create)).outcome is Outcome.SUPERSEDED
    # a removal whose original is back: the re-creation's own event does the work
    assert (await settle(image_of(settings), change(Kind.REMOVED))).outcome is Outcome.SUPERSEDED
    s3_raw.client.delete_object(Bucket=s3_bucket, Key=PREFIX + KEY)
    gone = change(Kind.CREATED, etag="0" * 32)  # created, then deleted before we looked
    assert (await settle(image_of(settings), gone)).outcome is Outcome.SUPERSEDED
    assert recorder.writes() == []


async def test_two_workers_share_one_queue(
    settings: Settings, sqs: Sqs, s3_raw: RawS3, s3_bucket: str, aio_session: AioSession
) -> None:
    queues = sqs.create()
    notify(s3_raw.client, s3_bucket, queue_arn=queues.arn)
    originals = [f"t1/full/{n % 10}/{n}/p{n}.jpg" for n in range(20)]
    every = {key for original in originals for key in size_keys(settings, original)}
    data = images.jpeg(160, 120)

    def upload() -> None:  # all 20 at once, as `aws s3 sync` would
        for key in originals:
            s3_raw.put(s3_bucket, PREFIX + key, data)

    async with (
        running(settings, queues.url, aio_session) as one,
        running(settings, queues.url, aio_session) as two,
    ):
        await asyncio.to_thread(upload)
        await until(lambda: every <= set(s3_raw.list(s3_bucket, PREFIX)), "every size of all 20")
        await until(lambda: sqs.depth(queues.url) == 0, "the queue drained")
    rendered = records(one.metrics, "rendered") + records(two.metrics, "rendered")
    redelivered = redeliveries(one.metrics) + redeliveries(two.metrics)
    duplicates = rendered - len(originals)
    print(f"two workers: rendered {rendered} for 20 originals, duplicates {duplicates}")
    assert 0 <= duplicates <= redelivered  # an original rendered twice was delivered twice
    assert records(one.metrics, "rendered") > 0
    assert records(two.metrics, "rendered") > 0
    assert messages(one.metrics, "failed") + messages(two.metrics, "failed") == 0


class CountingQueue(Queue):
    """The real queue, telling the test each time visibility is extended."""

    def __init__(self, inner: Queue) -> None:
        super().__init__(inner.client, inner.url)
        self.extended = 0
        self.changed = asyncio.Event()

    async def extend(self, handles: Sequence[str], seconds: int) -> None:
        await super().extend(handles, seconds)
        self.extended += 1
        self.changed.set()


async def test_visibility_is_extended_while_a_long_render_is_in_hand(
    settings: Settings, sqs: Sqs, s3_raw: RawS3, s3_bucket: str, aio_session: AioSession
) -> None:
    queues = sqs.create()
    s3_raw.put(s3_bucket, PREFIX + KEY, images.jpeg(320, 240))
    sqs.send(queues.url, pregen_body(s3_bucket, PREFIX + KEY, None, datetime.now(UTC)))
    held: list[Recorder] = []
    counting: list[CountingQueue] = []

    def hold(inner: Storage) -> Storage:
        held.append(Recorder(inner, hold=True))
        return held[0]

    def count(inner: Queue) -> Queue:
        counting.append(CountingQueue(inner))
        return counting[0]

    visibility = 2  # seconds; extended every second while the message is in hand
    held_worker = running(
        settings, queues.url, aio_session, wrap=hold, wrap_queue=count, visibility=visibility
    )
    async with held_worker as one:
        async with asyncio.timeout(GUARD):
            await held[0].arrived.wait()  # in hand, its render done, its first put held
        # A second worker now, which would take the message if it became visible again.
        async with running(settings, queues.url, aio_session) as other:
            while counting[0].extended <= visibility:  # well past the first timeout
                counting[0].changed.clear()
                async with asyncio.timeout(GUARD):
                    await counting[0].changed.wait()
            held[0].release.set()
            await until(lambda: sqs.depth(queues.url) == 0, "the message acknowledged")
    assert messages(other.metrics, "received") == 0
    assert (messages(one.metrics, "received"), records(one.metrics, "rendered")) == (1, 1)
