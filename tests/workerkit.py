"""What the bucket-event worker tests share: queues with a dead-letter queue on the shared
moto server (it serves S3, SQS and SNS from one process state, so moto itself delivers a
bucket's event notifications), a config with a mventory and a Magento 2 site, the expected
bytes of every size, and bounded waits on queue and bucket state (never a fixed sleep).
"""

from __future__ import annotations

import asyncio
import json
import textwrap
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from aiobotocore.session import AioSession

from bulk.events import Queue, WorkerMetrics, WorkerOptions, connect
from bulk.events.worker import Worker
from config import Settings, load_settings
from layouts import Router, SiteLayout
from rendering import limits_of
from resize import render_many
from storage import ListedObject, ObjectMeta, Storage, StoredObject

REGION = "us-east-1"
PREFIX = "shop/"  # the storage URL's prefix: event keys carry it, storage keys do not
T1_SIZES = ("300x", "70x70", "90x")
M2_HASHES = {
    "0f4c1d1c3e8e9d1e1b2a3c4d5e6f7a8b": (240, 300),
    "11112222333344445555666677778888": (90, 90),
}
M2_ORIGINALS = "media/catalog/product/"
GUARD = 30.0  # seconds: bounds a wait for a condition; never an expected duration


def write_settings(tmp_path: Path, bucket: str, endpoint: str, extra: str = "") -> Settings:
    """Storage s3://bucket/shop on moto; site t1 (mventory) and m2 (Magento 2, explicit
    hashes: no crypt key needed)."""
    hashes = "\n".join(
        f'"{h}" = {{ width = {w}, height = {ht} }}' for h, (w, ht) in M2_HASHES.items()
    )
    toml = (
        textwrap.dedent(f"""\
        [storage]
        url = "s3://{bucket}/{PREFIX.rstrip("/")}"
        endpoint_url = "{endpoint}"
        [sites.t1]
        sizes = "{", ".join(T1_SIZES)}"
        [sites.m2]
        layout = "magento2"
        [sites.m2.hashes]
    """)
        + hashes
        + "\n"
        + textwrap.dedent(extra)
    )
    path = tmp_path / "mediaproxy.toml"
    path.write_text(toml)
    return load_settings(path, {})


def layout(settings: Settings, site: str) -> SiteLayout:
    return Router.from_settings(settings).layouts[site]


def size_keys(settings: Settings, key: str) -> list[str]:
    """Every size key (bucket keys, prefix included) of the original at storage key `key`."""
    image = Router.from_settings(settings).original_of(key)
    assert image is not None, key
    return [PREFIX + k for k in image.layout.size_keys(image.rel).values()]


def expected(settings: Settings, key: str, data: bytes) -> dict[str, bytes]:
    """Bucket key → the bytes each size made from `data` must have (resize is deterministic)."""
    image = Router.from_settings(settings).original_of(key)
    assert image is not None, key
    sizes = image.layout.sizes
    out = render_many(data, [size.params for size in sizes], limits_of(settings))
    return {PREFIX + size.key(image.rel): r.data for size, r in zip(sizes, out, strict=True)}


@dataclass(frozen=True)
class Queues:
    url: str
    arn: str
    dlq: str


class Sqs:
    """A plain botocore SQS (and SNS) client on moto, to set up and inspect queues."""

    def __init__(self, endpoint: str) -> None:
        session = botocore.session.get_session()
        self.client: Any = session.create_client("sqs", region_name=REGION, endpoint_url=endpoint)
        self.sns: Any = session.create_client("sns", region_name=REGION, endpoint_url=endpoint)

    def create(self, max_receive: int = 2) -> Queues:
        """A queue whose messages go to its dead-letter queue after `max_receive` receives."""
        name = f"events-{uuid.uuid4().hex[:12]}"
        dlq = self.client.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        policy = {"deadLetterTargetArn": self.arn(dlq), "maxReceiveCount": str(max_receive)}
        url = self.client.create_queue(
            QueueName=name, Attributes={"RedrivePolicy": json.dumps(policy)}
        )["QueueUrl"]
        return Queues(url, self.arn(url), dlq)

    def arn(self, url: str) -> str:
        answer = self.client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(answer["Attributes"]["QueueArn"])

    def depth(self, url: str) -> int:
        """Messages visible, in flight or delayed."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        names.append("ApproximateNumberOfMessagesDelayed")
        attributes = self.client.get_queue_attributes(QueueUrl=url, AttributeNames=names)
        return sum(int(attributes["Attributes"].get(name, 0)) for name in names)

    def in_flight(self, url: str) -> int:
        name = "ApproximateNumberOfMessagesNotVisible"
        attributes = self.client.get_queue_attributes(QueueUrl=url, AttributeNames=[name])
        return int(attributes["Attributes"][name])

    def send(self, url: str, body: str | dict[str, Any]) -> None:
        text = body if isinstance(body, str) else json.dumps(body)
        self.client.send_message(QueueUrl=url, MessageBody=text)

    def take_all(self, url: str) -> list[str]:
        """Receive and delete every visible message; their bodies."""
        bodies: list[str] = []
        while True:
            answer = self.client.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
            messages = answer.get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(message["Body"])
                self.client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def notify(s3: Any, bucket: str, *, queue_arn: str = "", topic_arn: str = "") -> None:
    """What an operator configures: created and removed events under the storage prefix."""
    events = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
    rules = {"Key": {"FilterRules": [{"Name": "prefix", "Value": PREFIX}]}}
    config: dict[str, Any] = {}
    if queue_arn:
        config["QueueConfigurations"] = [{"QueueArn": queue_arn, "Events": events, "Filter": rules}]
    if topic_arn:
        config["TopicConfigurations"] = [{"TopicArn": topic_arn, "Events": events, "Filter": rules}]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)


def s3_record(
    bucket: str, key: str, name: str = "ObjectCreated:Put", **extra: Any
) -> dict[str, Any]:
    """One standard S3 event record; `key` is put in as given (encode it as S3 would)."""
    obj = {"key": key, "size": 1} | extra
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": "2026-01-01T00:00:00.000Z",
        "eventName": name,
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket}, "object": obj},
    }


async def until(check: Callable[[], bool], what: str) -> None:
    """Poll `check` (run in a thread: it may call moto synchronously) until it is true."""
    try:
        async with asyncio.timeout(GUARD):
            # State in moto (another thread) or the bucket: there is no event to await.
            while not await asyncio.to_thread(check):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"still waiting after {GUARD}s for {what}")


@asynccontextmanager
async def running(
    settings: Settings,
    url: str,
    session: AioSession,
    *,
    wrap: Callable[[Storage], Storage] | None = None,
    wrap_queue: Callable[[Queue], Queue] | None = None,
    **options: Any,
) -> AsyncIterator[Worker]:
    """A Worker on `url` running as a task; stopped (work in hand finished) on exit."""
    clients = await connect(settings, url, max_connections=20, session=session)
    storage = wrap(clients.storage) if wrap else clients.storage
    queue = wrap_queue(clients.queue) if wrap_queue else clients.queue
    defaults: dict[str, Any] = {"jobs": 1, "wait": 1, "retry_delay": 0, "depth_every": 0}
    worker = Worker(storage, queue, settings, WorkerOptions(**defaults | options))
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        worker.stop.set()
        try:
            async with asyncio.timeout(GUARD):
                await task
        finally:
            await clients.close()


def records(metrics: WorkerMetrics, outcome: str) -> int:
    return int(metrics.count(outcome))


def redeliveries(metrics: WorkerMetrics) -> int:
    value = metrics.base.registry.get_sample_value("mediaproxy_worker_redelivered_total")
    return int(value or 0)


def messages(metrics: WorkerMetrics, result: str) -> int:
    value = metrics.base.registry.get_sample_value(
        "mediaproxy_worker_messages_total", {"result": result}
    )
    return int(value or 0)


class Recorder:
    """A Storage passing every call through and recording (op, key); `hold` makes the
    first put wait until `release` is set, telling `arrived` (a worker caught mid-write)."""

    def __init__(self, inner: Storage, *, hold: bool = False) -> None:
        self.inner, self.calls = inner, list[tuple[str, str]]()
        self.arrived, self.release = asyncio.Event(), asyncio.Event()
        if not hold:
            self.release.set()

    @property
    def describe(self) -> str:
        return self.inner.describe

    def writes(self) -> list[tuple[str, str]]:
        return [call for call in self.calls if call[0] in ("put", "delete")]

    async def get(self, key: str, *, if_none_match: str | None = None) -> StoredObject:
        self.calls.append(("get", key))
        return await self.inner.get(key, if_none_match=if_none_match)

    async def head(self, key: str) -> ObjectMeta | None:
        self.calls.append(("head", key))
        return await self.inner.head(key)

    async def put(
        self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None
    ) -> ObjectMeta:
        self.calls.append(("put", key))
        self.arrived.set()
        await self.release.wait()
        return await self.inner.put(
            key, data, content_type=content_type, cache_control=cache_control
        )

    async def delete(self, keys: Sequence[str]) -> None:
        self.calls += [("delete", key) for key in keys]
        await self.inner.delete(keys)

    def list(self, prefix: str) -> AsyncIterator[ListedObject]:
        self.calls.append(("list", prefix))
        return self.inner.list(prefix)

    async def subdirectories(self, prefix: str) -> Sequence[str]:
        self.calls.append(("list", prefix))
        return await self.inner.subdirectories(prefix)

    async def ping(self) -> None:
        await self.inner.ping()

    async def close(self) -> None:
        await self.inner.close()


@pytest.fixture(scope="module")
def sqs(moto_endpoint: str) -> Iterator[Sqs]:
    """SQS and SNS on the shared moto server, for a whole worker test module."""
    client = Sqs(moto_endpoint)
    yield client
    client.client.close()
    client.sns.close()


@pytest.fixture
def settings(tmp_path: Path, s3_bucket: str, moto_endpoint: str) -> Settings:
    """Sites t1 (mventory) and m2 (Magento 2, explicit hashes) on a fresh bucket."""
    return write_settings(tmp_path, s3_bucket, moto_endpoint)
