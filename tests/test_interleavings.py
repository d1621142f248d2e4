"""No replaced or deleted picture comes back, whatever runs while it is written (SPEC §5).

Each race stores picture A (dark), lets readers get part-way with A's bytes in hand, then
replaces it with B (bright) or deletes it through the write API, and only then lets the
readers go on. Storage hooks (tests/hooks.py) hold each reader at the chosen point, so
every repetition forces the same bad interleaving instead of hoping for it:

    download   a render's shared download of A is held until the write has answered
    store      renders of A are published, their stores held until the write wrote
    cached     reads of A from storage (sizes and original) held until the write answered

After the write answered (and background work drained), nothing may still be A: not in
storage, not in any answer; after a delete nothing may be there at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import pyvips
from aiohttp import web
from aiohttp.test_utils import TestClient

from proxy.app import create_app
from proxy.services import SERVICES
from storage import GetStatus, Storage
from tests.hooks import HookedStorage
from tests.serving import UPLOAD_KEY, eventually, make_settings

Client = TestClient[web.Request, web.Application]
AUTH = {"Authorization": f"Bearer {UPLOAD_KEY}"}
SIX = ["300x", "300x300", "70x70", "170x170", "215x170", "65x65"]
ALL_SIZES = [*SIX, "310x", "210x", "90x"]
DARK, BRIGHT = 20, 235
RACES = {"file": 50, "s3": 8}  # moto is slower; every interleaving is forced either way


def picture(value: int) -> bytes:
    image = (pyvips.Image.black(160, 120, bands=3) + value).cast("uchar")
    return bytes(image.copy(interpretation="srgb").jpegsave_buffer(Q=90))


A, B = picture(DARK), picture(BRIGHT)


def is_a(data: bytes) -> bool:
    return float(pyvips.Image.new_from_buffer(data, "").avg()) < 128


class Race:
    def __init__(self, name: str, n: int) -> None:
        self.rel = f"r/a/{name}{n}.jpg"
        self.original = f"t1/full/{self.rel}"
        self.sizes = [f"t1/{size}/{self.rel}" for size in SIX]
        self.all_sizes = [f"t1/{size}/{self.rel}" for size in ALL_SIZES]


@pytest.fixture
async def setup(
    storage: Storage, aiohttp_client: Callable[..., Awaitable[Client]], tmp_path: Path
) -> tuple[Client, HookedStorage, Storage, int]:
    """An app on `storage` behind hooks; `storage` first, so it is closed after the app."""
    hooked = HookedStorage(storage)
    client = await aiohttp_client(create_app(make_settings(tmp_path), storage=hooked))
    return client, hooked, storage, RACES["s3" if "s3" in storage.describe else "file"]


async def settle(client: Client) -> None:
    await client.app[SERVICES].tasks.drain(20)


async def write(client: Client, race: Race, kind: str) -> None:
    if kind == "put":
        response = await client.put("/" + race.original, data=B, headers=AUTH)
        assert response.status == 201, await response.text()
    else:
        response = await client.delete("/" + race.original, headers=AUTH)
        assert response.status == 204, await response.text()


async def survivors(client: Client, storage: Storage, race: Race, kind: str) -> list[str]:
    """What still shows the old state once the write answered: picture A in storage or in
    an answer after a re-upload; anything at all after a delete."""
    await settle(client)
    stale = []
    for key in [race.original, *race.all_sizes]:
        found = await storage.get(key)
        if found.status is GetStatus.OK and found.body is not None:
            data = await found.body.read()
            if kind == "delete" or is_a(data):
                stale.append(f"storage {key}")
    for key in [race.original, *race.sizes]:
        response = await client.get("/" + key)
        body = await response.read()
        if response.status == 200 and (kind == "delete" or is_a(body)):
            stale.append(f"answer {key} ({response.headers.get('X-Mediaproxy')})")
    return stale


async def download_race(
    client: Client, hooked: HookedStorage, storage: Storage, race: Race, kind: str
) -> list[str]:
    await storage.put(race.original, A, content_type="image/jpeg")
    held = hooked.pause("get", race.original)
    readers = [asyncio.create_task(client.get("/" + key)) for key in race.sizes]
    await held.reached.wait()  # one download of A, shared by all six renders, is in hand
    await write(client, race, kind)
    held.release()
    for response in await asyncio.gather(*readers):
        assert response.status in {200, 404}
        await response.read()
    return await survivors(client, storage, race, kind)


async def store_race(
    client: Client, hooked: HookedStorage, storage: Storage, race: Race, kind: str
) -> list[str]:
    await storage.put(race.original, A, content_type="image/jpeg")
    held = [hooked.pause("put", key, last=True) for key in race.sizes]
    served = await asyncio.gather(*(client.get("/" + key) for key in race.sizes))
    assert [r.status for r in served] == [200] * len(SIX)  # rendered from A, stores held
    await asyncio.gather(*(pause.reached.wait() for pause in held))
    calls = hooked.puts[race.original] if kind == "put" else hooked.deletes[race.original]
    writing = asyncio.create_task(write(client, race, kind))
    await hooked.wait_for(calls, len(calls))  # the write changed the original
    for pause in held:
        pause.release()
    await writing
    return await survivors(client, storage, race, kind)


async def cached_race(
    client: Client, hooked: HookedStorage, storage: Storage, race: Race, kind: str
) -> list[str]:
    response = await client.put("/" + race.original, data=A, headers=AUTH)
    assert response.status == 201
    keys = [race.original, *race.sizes]
    held = [hooked.pause("get", key) for key in keys]
    readers = [asyncio.create_task(client.get("/" + key)) for key in keys]
    await asyncio.gather(*(pause.reached.wait() for pause in held))
    await write(client, race, kind)
    for pause in held:
        pause.release()
    for response in await asyncio.gather(*readers):
        await response.read()
    return await survivors(client, storage, race, kind)


RACE_KINDS = {"download": download_race, "store": store_race, "cached": cached_race}


@pytest.mark.parametrize("kind", ["put", "delete"])
@pytest.mark.parametrize("race", sorted(RACE_KINDS))
async def test_no_old_picture_survives_a_write_racing_readers(
    setup: tuple[Client, HookedStorage, Storage, int], race: str, kind: str
) -> None:
    client, hooked, storage, repetitions = setup
    stale: list[str] = []
    for n in range(repetitions):
        stale += await RACE_KINDS[race](client, hooked, storage, Race(race + kind, n), kind)
    assert not stale, f"{len(stale)} stale survivors in {repetitions} races: {stale[:6]}"


async def test_upload_without_sizes_removes_the_old_sizes(
    setup: tuple[Client, HookedStorage, Storage, int],
) -> None:
    client, _, storage, _ = setup
    race = Race("none", 0)
    assert (await client.put("/" + race.original, data=A, headers=AUTH)).status == 201
    response = await client.put(f"/{race.original}?sizes=none", data=B, headers=AUTH)
    assert response.status == 201
    assert await survivors(client, storage, race, "put") == []


async def test_background_upload_whose_render_fails_leaves_no_old_size(
    setup: tuple[Client, HookedStorage, Storage, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _, storage, _ = setup
    race = Race("background", 0)
    assert (await client.put("/" + race.original, data=A, headers=AUTH)).status == 201

    def broken(*args: object) -> object:
        raise MemoryError("the background render ran out of memory")

    monkeypatch.setattr("proxy.writes.render_many", broken)
    response = await client.put(f"/{race.original}?sizes=background", data=B, headers=AUTH)
    assert response.status == 202
    assert await survivors(client, storage, race, "put") == []


async def test_concurrent_uploads_of_one_original_leave_one_picture_everywhere(
    setup: tuple[Client, HookedStorage, Storage, int],
) -> None:
    """Two uploads of one original: sizes and original all end up the same picture."""
    client, hooked, storage, _ = setup
    race = Race("twice", 0)
    assert (await client.put("/" + race.original, data=A, headers=AUTH)).status == 201
    held = hooked.pause("put", race.sizes[0], last=True)
    first = asyncio.create_task(client.put("/" + race.original, data=B, headers=AUTH))
    await held.reached.wait()  # the first upload is writing its sizes
    second = asyncio.create_task(client.put(f"/{race.original}?sizes=none", data=A, headers=AUTH))
    calls = hooked.puts[race.original]
    await eventually(
        lambda: len(calls) > 2 or _waiting_writers(client, race.original) > 1,
        "the second writer queued on the lock",
    )
    held.release()
    assert [(await task).status for task in (first, second)] == [201, 201]
    await settle(client)
    original = await storage.get(race.original)
    assert original.body is not None
    sizes = [await storage.head(key) for key in race.all_sizes]
    if is_a(await original.body.read()):  # the second upload (no sizes) went last
        assert sizes == [None] * len(ALL_SIZES)
    else:
        assert None not in sizes


def _waiting_writers(client: Client, original: str) -> int:
    """Writers holding or queued on `original`'s lock (0 where there is no such lock)."""
    locks = getattr(client.app[SERVICES], "originals", None)
    return locks.users(original) if locks is not None else 0
