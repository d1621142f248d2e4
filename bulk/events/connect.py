"""Storage and queue clients for the worker and `pregen --enqueue`, from one AioSession.

One session resolves credentials and loads service models once for both clients (S3 and
SQS), each client keeps its own connection pool, and one `close()` releases both.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass

from aiobotocore.session import AioSession, get_session

from bulk.events.sqs import Queue, open_queue
from config import Settings
from storage import Storage, open_storage


@dataclass
class Clients:
    """The storage and queue a worker (or pregen --enqueue) uses; `close` ends both."""

    storage: Storage
    queue: Queue
    _stack: AsyncExitStack

    async def close(self) -> None:
        await self._stack.aclose()


async def connect(
    settings: Settings,
    queue_url: str,
    *,
    max_connections: int,
    session: AioSession | None = None,
) -> Clients:
    """Open both clients; ValueError (a usage error) for a storage URL no backend takes."""
    session = session or get_session()
    stack = AsyncExitStack()
    try:
        storage = await open_storage(
            settings.storage, max_connections=max_connections, session=session
        )
        stack.push_async_callback(storage.close)
        queue = await open_queue(session, stack, queue_url, default_region=settings.storage.region)
    except BaseException:
        await stack.aclose()
        raise
    return Clients(storage, queue, stack)
