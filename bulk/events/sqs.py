"""The queue: one long-lived aiobotocore SQS client, and the few calls the worker makes.

The client comes from the same AioSession as the storage client (credentials resolved
once, service models loaded once) with the standard AWS configuration: the credential
chain, and the endpoint from `AWS_ENDPOINT_URL_SQS` / `AWS_ENDPOINT_URL` when set. For a
queue URL that is not an AWS host (ElasticMQ, moto, a LocalStack) and no such variable,
the URL's own origin is the endpoint, so `--queue http://elasticmq:9324/000000000000/q`
works as given. Every failure is a QueueError, with botocore's text as `__cause__`.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.type_defs import (
        ChangeMessageVisibilityBatchRequestEntryTypeDef as VisibilityEntry,
    )
    from types_aiobotocore_sqs.type_defs import SendMessageBatchRequestEntryTypeDef as SendEntry

BATCH = 10  # SendMessageBatch / ChangeMessageVisibilityBatch entries per call (SQS limit)
_AWS_HOST = re.compile(r"(?:sqs\.([a-z0-9-]+)|([a-z0-9-]+)\.queue)\.amazonaws\.com(?:\.cn)?")
_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL")
QUEUE_URL_EXAMPLE = "https://sqs.eu-west-1.amazonaws.com/123456789012/media-events"


class QueueError(Exception):
    """The queue could not be reached or refused a call."""


@dataclass(frozen=True)
class Received:
    """One message in hand: delete it with `handle` once its work is stored."""

    id: str
    handle: str
    body: str
    receive_count: int
    sent_at: float | None  # epoch seconds, when SQS says


class Queue:
    """One queue, through the shared client: the calls the worker and enqueue make."""

    def __init__(self, client: SQSClient, url: str) -> None:
        self.client, self.url = client, url  # the client too, for calls not wrapped here

    async def receive(self, count: int, wait: int, visibility: int) -> list[Received]:
        """Up to `count` (≤ 10) messages, long-polling up to `wait` seconds; each stays
        invisible to other consumers for `visibility` seconds unless extended."""
        async with _guard():
            answer = await self.client.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=max(1, min(count, BATCH)),
                WaitTimeSeconds=wait,
                VisibilityTimeout=visibility,
                MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
            )
        found = []
        for message in answer.get("Messages", []):
            attributes = message.get("Attributes", {})
            sent = attributes.get("SentTimestamp")
            found.append(
                Received(
                    id=message.get("MessageId", ""),
                    handle=message.get("ReceiptHandle", ""),
                    body=message.get("Body", ""),
                    receive_count=int(attributes.get("ApproximateReceiveCount", "1")),
                    sent_at=int(sent) / 1000 if sent else None,
                )
            )
        return found

    async def delete(self, handle: str) -> None:
        async with _guard():
            await self.client.delete_message(QueueUrl=self.url, ReceiptHandle=handle)

    async def hide(self, handle: str, seconds: int) -> None:
        """Make a message visible again in `seconds` (0: at once)."""
        async with _guard():
            await self.client.change_message_visibility(
                QueueUrl=self.url, ReceiptHandle=handle, VisibilityTimeout=seconds
            )

    async def extend(self, handles: Sequence[str], seconds: int) -> None:
        """Keep messages in hand invisible for another `seconds` (batched)."""
        for start in range(0, len(handles), BATCH):
            entries: list[VisibilityEntry] = [
                {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": seconds}
                for n, handle in enumerate(handles[start : start + BATCH])
            ]
            async with _guard():
                await self.client.change_message_visibility_batch(
                    QueueUrl=self.url, Entries=entries
                )

    async def send(self, bodies: Sequence[str]) -> list[tuple[int, str]]:
        """Send up to 10 bodies in one call; (index, reason) for each SQS refused."""
        entries: list[SendEntry] = [
            {"Id": str(n), "MessageBody": body} for n, body in enumerate(bodies)
        ]
        async with _guard():
            answer = await self.client.send_message_batch(QueueUrl=self.url, Entries=entries)
        return [
            (int(failed["Id"]), f"{failed.get('Code', '')}: {failed.get('Message', '')}")
            for failed in answer.get("Failed", [])
        ]

    async def attributes(self) -> dict[str, str]:
        """Every attribute of the queue (depth, RedrivePolicy...); QueueError if missing."""
        async with _guard():
            answer = await self.client.get_queue_attributes(
                QueueUrl=self.url, AttributeNames=["All"]
            )
        return {str(name): value for name, value in answer.get("Attributes", {}).items()}


def check_queue_url(url: str) -> str:
    """`url` when it can name a queue (http(s)://HOST[:PORT]/.../NAME), else ValueError
    saying what one looks like: botocore's own words for it ("Invalid endpoint: ://")
    name neither the option nor the fix."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port out of range
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
        usable = usable and bool(parts.path.strip("/"))
    except ValueError:
        usable = False
    if not usable:
        raise ValueError(
            f"{url!r} is not a queue URL; give the URL `aws sqs get-queue-url` prints, "
            f"e.g. {QUEUE_URL_EXAMPLE} (or http://HOST:PORT/ACCOUNT/NAME for ElasticMQ)"
        )
    return url


async def open_queue(
    session: AioSession,
    stack: AsyncExitStack,
    url: str,
    *,
    default_region: str,
    max_connections: int = 10,
    environ: Mapping[str, str] = os.environ,
) -> Queue:
    """A Queue on `url` whose client `stack` closes (see the module docstring)."""
    aws = _AWS_HOST.fullmatch(urlsplit(url).hostname or "")
    region = (aws and (aws[1] or aws[2])) or session.get_config_variable("region")
    endpoint = None
    if not aws and not any(environ.get(name) for name in _ENDPOINT_VARIABLES):
        parts = urlsplit(url)
        endpoint = f"{parts.scheme}://{parts.netloc}"
    config = AioConfig(
        max_pool_connections=max_connections,
        retries={"mode": "standard", "max_attempts": 3},
        # A long poll holds its request for up to 20 s: the read timeout must outlast it.
        read_timeout=60,
        connect_timeout=10,
    )
    creator = session.create_client(
        "sqs", region_name=region or default_region, endpoint_url=endpoint, config=config
    )
    return Queue(await stack.enter_async_context(creator), url)


@asynccontextmanager
async def _guard() -> AsyncIterator[None]:
    """Turn what botocore and its transport raise into QueueError. aiohttp's errors are
    recognised by module: only proxy/ and storage/ may import aiohttp."""
    try:
        yield
    except Exception as error:
        transport = type(error).__module__.split(".", 1)[0] == "aiohttp"
        if transport or isinstance(error, (BotoCoreError, ClientError, OSError, TimeoutError)):
            raise QueueError(f"{type(error).__name__}: {error}") from error
        raise
