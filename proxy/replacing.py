"""Replacing or removing an original and its sizes so that no old size survives (SPEC §5),
whatever reads, renders and stores run meanwhile.

Each write holds its original's lock (proxy.locks), so two writes of one original never
interleave; and once it has written the original it *fences* it: renders under way are
invalidated (they never publish what they read; they download again, or find nothing),
stores of renders published before are awaited, and only then does it write or delete
the sizes itself and purge memory (which refuses bytes read before the purge). The whole
sequence runs as a tracked task to its end even if the request times out or the client
goes: a half-done one is exactly what leaves old sizes behind.

Replicas share no lock: once an upload's sizes have landed it reads the original's ETag,
and if another replica replaced or deleted the original meanwhile, deletes those sizes
again (as a render's store does, proxy.services).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from layouts import ImageRequest
from proxy.services import Services
from resize import Rendered

log = logging.getLogger("mediaproxy.upload")
T = TypeVar("T")


@dataclass(frozen=True)
class Written:
    """An upload's original as stored: its claim (proxy.locks) and its ETag."""

    token: object
    etag: str


async def replace_original(
    services: Services,
    image: ImageRequest,
    body: bytes,
    content_type: str,
    rendered: dict[str, Rendered] | None = None,
    *,
    keep_claim: bool = False,
) -> tuple[dict[str, str], Written]:
    """Store the original, then its new sizes (`rendered`), or delete the old ones (None).

    Returns the reason per size name that could not be stored, and the write: its claim
    on the original (released here unless `keep_claim`: a background render takes it
    over) and the ETag it stored, which its sizes are checked against.
    """
    sizes = size_keys(image)
    async with services.originals.hold(image.original):
        token = services.originals.claim(image.original)  # a background render going: stop
        try:
            stored = await services.storage.put(
                image.key,
                body,
                content_type=content_type,
                cache_control=services.settings.cache.cache_control,
            )
            written = Written(token, stored.etag)
            await _fence(services, image, sizes)
            errors: dict[str, str] = {}
            if rendered is not None:
                errors = await store_sizes(services, image, rendered, written.etag)
            elif sizes:
                await services.storage.delete(sizes)
            services.cache.purge([image.key, *sizes])
        except BaseException:
            services.originals.release(image.original, token)
            raise
    if not keep_claim:
        services.originals.release(image.original, token)
    return errors, written


async def remove_original(services: Services, image: ImageRequest) -> bool:
    """Delete the original and every size; whether any of them existed."""
    sizes = size_keys(image)
    keys = [image.key, *sizes]
    async with services.originals.hold(image.original):
        token = services.originals.claim(image.original)
        try:
            found = await asyncio.gather(*(services.storage.head(key) for key in keys))
            await services.storage.delete(keys)
            if await _fence(services, image, sizes):
                await services.storage.delete(sizes)  # an old render's store landed meanwhile
            services.cache.purge(keys)
        finally:
            services.originals.release(image.original, token)
    return any(found)


async def _fence(services: Services, image: ImageRequest, sizes: list[str]) -> int:
    """After the original was written: nothing read before may land from now on.

    Renders under way are invalidated (they never publish what they read), and stores of
    renders published before are awaited, so the caller's own writes land after them.
    """
    services.renderer.invalidate(image.original)
    services.cache.purge([image.key, *sizes])
    return await services.tasks.settle(sizes)


async def run_to_the_end(
    services: Services, image: ImageRequest, write: Coroutine[Any, Any, T]
) -> T:
    """Run `write` as a tracked task that a timeout or disconnect cannot stop halfway."""

    async def guarded() -> tuple[T | None, Exception | None]:
        try:
            return await write, None
        except Exception as error:
            return None, error

    task = services.tasks.spawn(guarded(), name=f"write {image.key}")
    try:
        result, error = await asyncio.shield(task)
    except asyncio.CancelledError:
        task.add_done_callback(_log_unseen_failure)
        raise
    if error is not None:
        raise error
    return cast(T, result)  # None only with an error


def _log_unseen_failure(task: asyncio.Task[tuple[Any, Exception | None]]) -> None:
    if not task.cancelled() and (error := task.result()[1]) is not None:
        log.error("%s failed after its request ended", task.get_name(), exc_info=error)


async def store_sizes(
    services: Services, image: ImageRequest, rendered: dict[str, Rendered], etag: str
) -> dict[str, str]:
    """Write every size (by key) of the original stored with `etag`; return the reason
    per size name that was not stored.

    A size that could not be stored is deleted, so the old one cannot stay in its place
    (the next request for it renders it). So are all of them when the original no longer
    has `etag` once they landed: another replica replaced or deleted it meanwhile (its
    lock is not ours), and sizes of this picture may have landed over that one's.
    """
    names = {key: name for name, key in image.layout.size_keys(image.rel).items()}

    async def store(key: str, out: Rendered) -> str | None:
        try:
            await services.storage.put(
                key,
                out.data,
                content_type=out.content_type,
                cache_control=services.settings.cache.cache_control,
            )
        except Exception as error:
            services.metrics.store_errors.inc()
            log.warning("upload: could not store %s", key, exc_info=True)
            return getattr(error, "reason", "store failed")
        return None

    outcomes = await asyncio.gather(*(store(key, out) for key, out in rendered.items()))
    failed = [key for key, reason in zip(rendered, outcomes, strict=True) if reason]
    if len(failed) < len(rendered) and not await _still_written(services, image, etag):
        services.metrics.stale_stores.inc(len(rendered) - len(failed))
        log.info("upload: %s changed on another replica meanwhile; its sizes go", image.key)
        failed = list(rendered)  # deleted below: the next request renders the current one
    if failed:
        try:
            await services.storage.delete(failed)
        except Exception:
            log.error("upload: old sizes may remain under %s", ", ".join(failed), exc_info=True)
    services.cache.purge(rendered)
    return {names[key]: reason for key, reason in zip(rendered, outcomes, strict=True) if reason}


async def _still_written(services: Services, image: ImageRequest, etag: str) -> bool:
    meta = await services.storage.head(image.key)
    return meta is not None and meta.etag == etag


def size_keys(image: ImageRequest) -> list[str]:
    return list(image.layout.size_keys(image.rel).values())
