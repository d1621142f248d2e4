"""Helpers for tests that run the aiohttp app: settings from a TOML text, raw HTTP, ports,
and the doubles that let a test decide when storage or the resize pool may go on.

Nothing here waits for time to pass: a test holds a storage call or a pool thread, waits
for the state it needs (`GatedStorage.wait_until`, `eventually`), then lets go. `GUARD`
only bounds those waits, so a broken synchronisation fails instead of hanging.
"""

from __future__ import annotations

import asyncio
import re
import socket
import textwrap
import threading
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import pyvips
from aiohttp import web
from aiohttp.test_utils import TestClient

from config import Settings, load_settings
from rendering import Priority, ResizePool
from storage import GetStatus, ListedObject, ObjectMeta, Storage, StoredObject

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]
UPLOAD_KEY = "test-upload-key-0123456789"
SIZES = "300x, 300x300, 70x70, 170x170, 215x170, 65x65, 310x, 210x, 90x"
GUARD = 20.0  # seconds: a failure guard on waits for an event, never a expected duration


def make_settings(tmp_path: Path, extra: str = "", *, site: str = "", **env: str) -> Settings:
    """Settings for site `t1` with the seed sizes; `site` adds or replaces keys of that
    site, `extra` adds TOML sections, `env` gives MEDIAPROXY_* overrides."""
    defaults = {
        "sizes": f'"{SIZES}"',
        "placeholder": '"small_image.jpg"',
        "upload_keys": f'["{UPLOAD_KEY}"]',
        "upload_allow": '["127.0.0.1/32"]',
    }
    site = textwrap.dedent(site)
    lines = [f"{key} = {value}" for key, value in defaults.items() if f"{key} =" not in site]
    toml = "[sites.t1]\n" + "\n".join(lines) + "\n" + site + "\n" + textwrap.dedent(extra)
    path = tmp_path / "mediaproxy.toml"
    path.write_text(toml)
    return load_settings(path, {f"MEDIAPROXY_{k}".upper(): v for k, v in env.items()})


def dims(data: bytes) -> tuple[int, int]:
    image = pyvips.Image.new_from_buffer(data, "")
    return int(image.width), int(image.height)


def free_port(port: int = 0) -> int:
    """A port on 127.0.0.1 that nothing listens on now: any (`port=0`), or `port` itself
    (OSError when taken). The probe is closed again, so a server started next can bind it."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
        return int(probe.getsockname()[1])


async def raw_get(port: int, target: str) -> tuple[int, bytes]:
    """Send `target` byte for byte (HTTP clients normalise `..` and escapes away)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode("latin-1"))
    await writer.drain()
    response = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def eventually(check: Callable[[], bool], what: str) -> None:
    """Poll `check` until true, for state that changes in other threads (the resize pool);
    fails after GUARD seconds. State changed on the loop has events: prefer those."""
    try:
        async with asyncio.timeout(GUARD):
            while not check():  # noqa: ASYNC110 - other threads change it: nothing to await
                await asyncio.sleep(0.005)
    except TimeoutError:
        pytest.fail(f"still waiting after {GUARD}s for {what}")


@asynccontextmanager
async def within(seconds: float, what: str) -> AsyncIterator[None]:
    """Fail (not hang) when the block takes over `seconds`: for behaviour that must be quick."""
    scope = asyncio.timeout(seconds)
    try:
        async with scope:
            yield
    except TimeoutError:
        if scope.expired():
            pytest.fail(f"{what} took over {seconds}s")
        raise


class StorageDouble:
    """A real backend with every call passed through; subclasses change what they fake."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner

    @property
    def describe(self) -> str:
        return self.inner.describe

    async def get(self, key: str, *, if_none_match: str | None = None) -> StoredObject:
        return await self.inner.get(key, if_none_match=if_none_match)

    async def head(self, key: str) -> ObjectMeta | None:
        return await self.inner.head(key)

    async def put(
        self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None
    ) -> ObjectMeta:
        return await self.inner.put(
            key, data, content_type=content_type, cache_control=cache_control
        )

    async def delete(self, keys: Sequence[str]) -> None:
        await self.inner.delete(keys)

    def list(self, prefix: str) -> AsyncIterator[ListedObject]:
        return self.inner.list(prefix)

    async def ping(self) -> None:
        await self.inner.ping()

    async def close(self) -> None:
        await self.inner.close()


def _nothing(key: str) -> bool:
    return False


class GatedStorage(StorageDouble):
    """Gets and puts of the keys `hold_gets` / `hold_puts` pick wait at a gate until the
    test calls `open()`; every get answered is counted per key. A test waits for what it
    needs (`wait_until(lambda: gated.parked == 1, ...)`) instead of for time to pass."""

    def __init__(
        self,
        inner: Storage,
        *,
        hold_gets: Callable[[str], bool] = _nothing,
        hold_puts: Callable[[str], bool] = _nothing,
    ) -> None:
        super().__init__(inner)
        self._hold_gets, self._hold_puts = hold_gets, hold_puts
        self._gate = asyncio.Event()
        self._changed = asyncio.Event()
        self.parked = 0  # calls waiting at the gate right now
        self.answered: Counter[str] = Counter()  # gets answered, by key

    def open(self) -> None:
        self._gate.set()

    async def wait_until(self, check: Callable[[], bool], what: str) -> None:
        """Wait until `check()` holds, re-checking after every change this double sees."""
        try:
            async with asyncio.timeout(GUARD):
                while not check():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            pytest.fail(f"still waiting after {GUARD}s for {what}")

    async def get(self, key: str, *, if_none_match: str | None = None) -> StoredObject:
        if self._hold_gets(key):
            await self._wait_at_gate()
        found = await self.inner.get(key, if_none_match=if_none_match)
        self.answered[key] += 1
        self._changed.set()
        return found

    async def put(
        self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None
    ) -> ObjectMeta:
        if self._hold_puts(key):
            await self._wait_at_gate()
        return await self.inner.put(
            key, data, content_type=content_type, cache_control=cache_control
        )

    async def _wait_at_gate(self) -> None:
        self.parked += 1
        self._changed.set()
        try:
            await self._gate.wait()
        finally:
            self.parked -= 1
            self._changed.set()


class PoolBlockers:
    """Jobs that hold `count` threads of a resize pool until released: "every worker is
    busy" as a fact, not as a hope about how long a real render takes.

        async with PoolBlockers(services.pool, 2) as blockers:   # both threads held now
            ...
            blockers.release(1)                                   # one thread free again
    """

    def __init__(self, pool: ResizePool, count: int, priority: Priority = Priority.READ) -> None:
        self._pool, self._count, self._priority = pool, count, priority
        self._started = threading.Semaphore(0)
        self._release = threading.Semaphore(0)
        self._released = 0
        self._jobs: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> PoolBlockers:
        self._jobs = [
            asyncio.create_task(self._pool.run(self._hold, self._priority))
            for _ in range(self._count)
        ]
        for _ in range(self._count):
            if not await asyncio.to_thread(self._started.acquire, timeout=GUARD):
                self.release(self._count)
                pytest.fail(f"the pool did not start {self._count} blocking jobs")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.release(self._count - self._released)
        await asyncio.gather(*self._jobs)

    def release(self, count: int = 1) -> None:
        for _ in range(count):
            self._released += 1
            self._release.release()

    def _hold(self) -> None:
        self._started.release()
        if not self._release.acquire(timeout=GUARD):
            raise TimeoutError("a pool blocker was never released")


async def stored_bytes(storage: Storage, key: str) -> bytes | None:
    """The object's bytes, or None when there is no such key."""
    found = await storage.get(key)
    if found.status is not GetStatus.OK or found.body is None:
        return None
    return await found.body.read()


async def puts(client: Client) -> float:
    """Storage PUTs the app has made, from its /metrics."""
    text = await (await client.get("/metrics")).text()
    found = re.search(r'^mediaproxy_storage_seconds_count\{op="put"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0
