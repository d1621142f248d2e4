"""botocore's answers in the storage interface's terms: bodies, metadata, errors.

Every S3 call runs inside `guard`: a stall is StorageTimeout (504), any other failure
StorageError (502), with botocore's own text kept in `__cause__` for the logs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

import aiohttp
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

from .base import ObjectMeta
from .errors import StorageError, StorageTimeout

if TYPE_CHECKING:  # the stubs are a dev dependency: types only, never imported at run time
    from aiobotocore.response import StreamingBody
    from types_aiobotocore_s3.type_defs import (
        GetObjectOutputTypeDef,
        HeadObjectOutputTypeDef,
        PutObjectOutputTypeDef,
    )

MISSING = {"NoSuchKey", "404", "NotFound"}  # what HeadObject and GetObject say for no object


class S3Body:
    """A GetObject body streamed from its connection.

    Draining it returns the connection to the pool; closing it early drops the
    connection (the rest of the body is never read), which frees the pool slot too.
    """

    def __init__(self, stream: StreamingBody, timeout: float) -> None:
        self._stream, self._timeout = stream, timeout

    async def iter_chunks(self, size: int = 65536) -> AsyncIterator[bytes]:
        try:
            while True:
                async with guard(self._timeout):  # a stall between chunks is a timeout
                    chunk: bytes = await self._stream.read(size)
                if not chunk:
                    return
                yield chunk
        finally:
            await self.close()

    async def read(self) -> bytes:
        try:
            async with guard(self._timeout):
                data: bytes = await self._stream.read()
                return data
        finally:
            await self.close()

    async def close(self) -> None:
        self._stream.close()


@asynccontextmanager
async def guard(seconds: float) -> AsyncIterator[None]:
    """Bound a storage call in time and turn whatever it raises into StorageError."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except (TimeoutError, ConnectTimeoutError, ReadTimeoutError) as exc:
        raise StorageTimeout() from exc
    except (BotoCoreError, ClientError, aiohttp.ClientError, OSError) as exc:
        raise StorageError() from exc


def http_status(exc: ClientError) -> int | None:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status if isinstance(status, int) else None


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def object_meta(key: str, resp: GetObjectOutputTypeDef | HeadObjectOutputTypeDef) -> ObjectMeta:
    return ObjectMeta(
        key=key,
        size=resp["ContentLength"],
        content_type=resp.get("ContentType") or "application/octet-stream",
        etag=resp["ETag"],
        last_modified=utc(resp["LastModified"]),
        cache_control=resp.get("CacheControl"),
    )


def utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(microsecond=0)


def response_date(resp: PutObjectOutputTypeDef) -> datetime:
    date = resp["ResponseMetadata"]["HTTPHeaders"].get("date") or ""
    try:
        return utc(parsedate_to_datetime(date))
    except (TypeError, ValueError):
        return utc(datetime.now(UTC))
