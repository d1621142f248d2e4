"""Objects in an S3-compatible bucket (AWS, MinIO, R2, Ceph, GCS interop, moto).

One aiobotocore client per process, opened by `S3Storage.open` and closed by `close`:
its connection pool is the concurrency limit towards the bucket, and a client per request
would pay TLS and credential resolution every time. Every call runs under
`asyncio.timeout`, so a stalled bucket answers 504 instead of holding a request forever;
any other failure is a 502. botocore's own text stays in `__cause__`, for the logs only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from botocore.exceptions import ClientError

from .base import GetStatus, ListedObject, ObjectMeta, StoredObject
from .errors import StorageError
from .s3answers import (
    MISSING,
    S3Body,
    error_code,
    guard,
    http_status,
    object_meta,
    response_date,
    utc,
)

if TYPE_CHECKING:  # the stubs are a dev dependency: types only, never imported at run time
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import ObjectIdentifierTypeDef

DELETE_BATCH = 1000  # the DeleteObjects limit


class S3Storage:
    """`Storage` on one bucket, optionally under a key prefix (`media/` → `media/<key>`)."""

    def __init__(
        self,
        client: S3Client,
        stack: AsyncExitStack,
        bucket: str,
        prefix: str,
        *,
        timeout: float,
        page_size: int = 1000,
    ) -> None:
        """Wrap an entered client; `stack` closes it. Use `open` rather than this."""
        self._client, self._stack = client, stack
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""  # "" or "a/b/"
        self._timeout, self._page_size = timeout, page_size
        self.describe = f"s3://{bucket}/{self.prefix}".rstrip("/")

    @classmethod
    async def open(
        cls,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None,
        region: str,
        max_connections: int,
        timeout: float,  # noqa: ASYNC109 - the bound on every later call, not on this one
        page_size: int = 1000,
        session: AioSession | None = None,
    ) -> S3Storage:
        """Create the long-lived client.

        `page_size` (listing) exists for tests; so does `session`: a shared session keeps
        its loaded service models, making each further client ~20x cheaper to create.
        """
        config = AioConfig(
            max_pool_connections=max_connections,
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=timeout,
            read_timeout=timeout,
            # botocore >= 1.36 adds CRC checksums to every upload by default, which
            # several S3-compatible stores reject; send them only where S3 requires one.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        stack = AsyncExitStack()
        creator = (session or get_session()).create_client(
            "s3", region_name=region, endpoint_url=endpoint_url or None, config=config
        )
        client: S3Client = await stack.enter_async_context(creator)
        return cls(client, stack, bucket, prefix, timeout=timeout, page_size=page_size)

    async def get(self, key: str, *, if_none_match: str | None = None) -> StoredObject:
        params = self._params(key)
        # S3 ETags are ASCII, so a validator with other bytes can match none of them (and
        # botocore cannot send it): the object is fetched whole and compared by the caller.
        if if_none_match and if_none_match.isascii():
            params["IfNoneMatch"] = if_none_match
        async with guard(self._timeout):
            try:
                resp = await self._client.get_object(**params)
            except ClientError as exc:
                if http_status(exc) == 304:
                    return StoredObject(GetStatus.NOT_MODIFIED)
                if error_code(exc) == "NoSuchKey":
                    return StoredObject(GetStatus.NOT_FOUND)
                raise
        return StoredObject(
            GetStatus.OK, object_meta(key, resp), S3Body(resp["Body"], self._timeout)
        )

    async def head(self, key: str) -> ObjectMeta | None:
        async with guard(self._timeout):
            try:
                resp = await self._client.head_object(**self._params(key))
            except ClientError as exc:
                if error_code(exc) in MISSING:
                    return None
                raise
        return object_meta(key, resp)

    async def put(
        self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None
    ) -> ObjectMeta:
        """Store `data`. S3 does not return Last-Modified on PUT; the response date stands in."""
        params = self._params(key) | {"Body": data, "ContentType": content_type}
        params["ContentLength"] = len(data)
        if cache_control:
            params["CacheControl"] = cache_control
        async with guard(self._timeout):
            resp = await self._client.put_object(**params)
        modified = response_date(resp)
        return ObjectMeta(key, len(data), content_type, resp["ETag"], modified, cache_control)

    async def delete(self, keys: Sequence[str]) -> None:
        """Delete in DeleteObjects batches; S3 reports no error for keys that do not exist."""
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            objects: list[ObjectIdentifierTypeDef] = [{"Key": self.prefix + k} for k in batch]
            async with guard(self._timeout):
                resp = await self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
                )
            if errors := resp.get("Errors"):
                detail = f"DeleteObjects failed for {len(errors)} keys, first: {errors[0]}"
                raise StorageError() from RuntimeError(detail)

    async def list(self, prefix: str) -> AsyncIterator[ListedObject]:
        """Every key under `prefix`, page by page (ListObjectsV2), prefix stripped."""
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.bucket,
            Prefix=self.prefix + prefix,
            PaginationConfig={"PageSize": self._page_size},
        ).__aiter__()
        while True:
            async with guard(self._timeout):
                page = await anext(pages, None)
            if page is None:
                return
            for item in page.get("Contents", ()):
                key = item["Key"][len(self.prefix) :]
                yield ListedObject(key, item["Size"], utc(item["LastModified"]))

    async def subdirectories(self, prefix: str) -> Sequence[str]:
        """Common prefixes one level below `prefix` (ListObjectsV2 with Delimiter="/")."""
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix, Delimiter="/"
        ).__aiter__()
        names: list[str] = []
        while True:
            async with guard(self._timeout):
                page = await anext(pages, None)
            if page is None:
                return sorted(names)
            start = len(self.prefix + prefix)
            names += [item["Prefix"][start:].rstrip("/") for item in page.get("CommonPrefixes", ())]

    async def ping(self) -> None:
        """Raise StorageError unless the bucket answers (and exists) right now."""
        async with guard(self._timeout):
            await self._client.head_bucket(Bucket=self.bucket)

    async def close(self) -> None:
        await self._stack.aclose()

    def _params(self, key: str) -> dict[str, Any]:
        return {"Bucket": self.bucket, "Key": self.prefix + key}
