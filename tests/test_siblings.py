"""Siblings (rendering.siblings, `render_siblings = true`): an original's first miss also
renders, in the background, the other sizes its decode gives byte-identically.

Every ordering here is forced with hooks (a storage double that holds calls, pool
blockers, a render that waits for the test), never with sleeps: the answer comes while
siblings are held; a read queued with siblings runs first; reads filling the queue drop
them; a write while one renders leaves nothing stale; with the option off, nothing changes.

The source is 2400x1800: every seed size decodes at JPEG shrink 8 but `310x` (shrink 4),
so a render of `70x70` has seven siblings, and `310x` is never one of them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import pyvips
from aiohttp import web
from aiohttp.test_utils import TestClient

from proxy.app import create_app
from proxy.services import SERVICES, Services
from resize import Decoder, Limits, RenderParams, render_many, render_single
from resize import render as render_module
from storage import FileStorage, ObjectMeta, Storage, StoredObject
from tests import images
from tests.serving import (
    GUARD,
    UPLOAD_KEY,
    MakeClient,
    PoolBlockers,
    StorageDouble,
    dims,
    eventually,
    make_settings,
)

Client = TestClient[web.Request, web.Application]
SEEDS = ["300x", "300x300", "70x70", "170x170", "215x170", "65x65", "310x", "210x", "90x"]
REL = "s/i/sibling.jpg"
ORIGINAL = f"t1/full/{REL}"
ON = "render_siblings = true"
AUTH = {"Authorization": f"Bearer {UPLOAD_KEY}"}


def key(size: str, rel: str = REL) -> str:
    return f"t1/{size}/{rel}"


SIBLINGS_OF_70 = [key(s) for s in SEEDS if s not in {"70x70", "310x"}]


def picture(value: int, w: int = 2400, h: int = 1800) -> bytes:
    image = (pyvips.Image.black(w, h, bands=3) + value).cast("uchar")
    return bytes(image.copy(interpretation="srgb").jpegsave_buffer(Q=90))


def is_dark(data: bytes) -> bool:
    return float(pyvips.Image.new_from_buffer(data, "").avg()) < 128


class Gates(StorageDouble):
    """Holds `head` of the keys in `heads` and `get` of the keys in `gets` until the test
    opens that key's gate; counts gets per key."""

    def __init__(self, inner: Storage, *, heads: Sequence[str] = (), gets: Sequence[str] = ()):
        super().__init__(inner)
        self.gates = {k: asyncio.Event() for k in [*heads, *gets]}
        self.reached = {k: asyncio.Event() for k in self.gates}
        self._heads, self._gets = set(heads), set(gets)
        self.got: dict[str, int] = {}

    async def _pass(self, key: str) -> None:
        self.reached[key].set()
        await self.gates[key].wait()

    async def head(self, key: str) -> ObjectMeta | None:
        if key in self._heads:
            await self._pass(key)
        return await self.inner.head(key)

    async def get(self, key: str, *, if_none_match: str | None = None) -> StoredObject:
        self.got[key] = self.got.get(key, 0) + 1
        if key in self._gets:
            await self._pass(key)
        return await self.inner.get(key, if_none_match=if_none_match)

    def open(self, key: str) -> None:
        self.gates[key].set()


AppClient = Callable[..., Awaitable[Client]]


@pytest.fixture
def app(aiohttp_client: AppClient, tmp_path: Path) -> Callable[..., Awaitable[Client]]:
    """`await app(storage, extra, site=...)`: the app on one file-backed storage double."""

    async def make(storage: Storage, extra: str = "", *, site: str = "") -> Client:
        return await aiohttp_client(create_app(make_settings(tmp_path, extra, site=site), storage))

    return make


def services_of(client: Client) -> Services:
    return client.app[SERVICES]


async def quiet(client: Client) -> None:
    """Every sibling set ended and every store landed."""
    services = services_of(client)
    async with asyncio.timeout(GUARD):
        await services.renderer.siblings.settle()
    await services.tasks.drain(GUARD)


async def stored(storage: Storage, keys: Sequence[str]) -> list[str]:
    return [k for k in keys if await storage.head(k) is not None]


async def get_ok(client: Client, path: str, **headers: str) -> bytes:
    response = await client.get(path, headers=headers)
    assert response.status == 200, await response.text()
    return await response.read()


async def test_a_first_miss_stores_the_siblings_its_decode_gives(
    make_client: MakeClient, storage: Storage
) -> None:
    data = images.jpeg(2400, 1800)
    await storage.put(ORIGINAL, data, content_type="image/jpeg")
    client = await make_client(site=ON)
    await get_ok(client, f"/{key('70x70')}")
    await quiet(client)
    every = [key(s) for s in SEEDS]
    assert await stored(storage, every) == [k for k in every if k != key("310x")]
    router = services_of(client).router
    for sibling in SIBLINGS_OF_70:  # byte for byte what a request alone renders
        found = await storage.get(sibling)
        assert found.body is not None
        size = router.parse("/" + sibling).size
        assert size is not None
        assert await found.body.read() == render_single(data, size.params, Limits()).data
    assert services_of(client).renderer.siblings.rendered == len(SIBLINGS_OF_70)


async def test_the_answer_never_waits_for_siblings(tmp_path: Path, app: AppClient) -> None:
    files = FileStorage(tmp_path / "held")
    await files.put(ORIGINAL, picture(40), content_type="image/jpeg")
    gates = Gates(files, heads=[SIBLINGS_OF_70[0]])  # the first-miss check of the siblings
    client = await app(gates, site=ON)
    response = await client.get(f"/{key('70x70')}")
    assert response.status == 200  # answered while every sibling is still held
    assert response.headers["X-Mediaproxy"] == "render"
    await gates.reached[SIBLINGS_OF_70[0]].wait()
    assert await stored(files, SIBLINGS_OF_70) == []
    gates.open(SIBLINGS_OF_70[0])
    await quiet(client)
    assert await stored(files, SIBLINGS_OF_70) == SIBLINGS_OF_70


async def test_a_read_queued_with_siblings_runs_first(
    tmp_path: Path, app: AppClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = "o/t/other.jpg"
    files = FileStorage(tmp_path / "prio")
    await files.put(ORIGINAL, picture(40), content_type="image/jpeg")
    await files.put(f"t1/full/{other}", picture(200, 1600, 1200), content_type="image/jpeg")
    renders: list[str] = []  # what each pool job rendered, in the order threads ran them
    real, real_kept = Decoder.render, Decoder.render_kept

    def spy(self: Decoder, params: Sequence[RenderParams], keep: Any = ()) -> Any:
        renders.append(f"{self.header.stored_width} decoded")
        return real(self, params, keep)

    def spy_kept(self: Decoder, params: Sequence[RenderParams]) -> Any:
        renders.append(f"{self.header.stored_width} kept")
        return real_kept(self, params)

    monkeypatch.setattr(Decoder, "render", spy)
    monkeypatch.setattr(Decoder, "render_kept", spy_kept)
    gates = Gates(files, heads=[SIBLINGS_OF_70[0]])
    client = await app(gates, "[resize]\nworkers = 1\n", site=ON)
    pool = services_of(client).pool
    await get_ok(client, f"/{key('70x70')}")
    await gates.reached[SIBLINGS_OF_70[0]].wait()
    async with PoolBlockers(pool, 1):  # the only thread is busy
        gates.open(SIBLINGS_OF_70[0])
        await eventually(lambda: pool.depth == 2, "the first sibling queued")
        read = asyncio.create_task(client.get(f"/{key('70x70', other)}"))
        await eventually(lambda: pool.depth == 3, "the read queued behind it")
    assert (await read).status == 200
    await quiet(client)
    # The read went before the sibling queued earlier, and every sibling came after it.
    assert renders[:3] == ["2400 decoded", "1600 decoded", "2400 kept"]
    assert await stored(files, SIBLINGS_OF_70) == SIBLINGS_OF_70


async def test_reads_filling_the_queue_drop_the_siblings(tmp_path: Path, app: AppClient) -> None:
    files = FileStorage(tmp_path / "busy")
    await files.put(ORIGINAL, picture(40), content_type="image/jpeg")
    others = [f"t1/full/b/u/busy{n}.jpg" for n in range(2)]
    for other in others:
        await files.put(other, picture(90, 800, 600), content_type="image/jpeg")
    gates = Gates(files, heads=[SIBLINGS_OF_70[0]], gets=others)
    # One thread and a queue of 2: two reads waiting fill half of it ("under pressure").
    client = await app(gates, "[resize]\nworkers = 1\nqueue = 2\n", site=ON)
    await get_ok(client, f"/{key('70x70')}")
    await gates.reached[SIBLINGS_OF_70[0]].wait()
    reads = [asyncio.create_task(client.get("/" + o.replace("/full/", "/90x/"))) for o in others]
    for other in others:
        await gates.reached[other].wait()
    assert services_of(client).pool.under_pressure
    gates.open(SIBLINGS_OF_70[0])
    await services_of(client).renderer.siblings.settle()
    for other in others:
        gates.open(other)
    assert [(await r).status for r in reads] == [200, 200]
    await quiet(client)
    assert await stored(files, SIBLINGS_OF_70) == []
    assert services_of(client).renderer.siblings.dropped == len(SIBLINGS_OF_70)


@pytest.mark.parametrize("write", ["put", "delete"])
async def test_a_write_while_a_sibling_renders_leaves_nothing_stale(
    tmp_path: Path, app: AppClient, monkeypatch: pytest.MonkeyPatch, write: str
) -> None:
    files = FileStorage(tmp_path / "race")
    await files.put(ORIGINAL, picture(30), content_type="image/jpeg")
    entered, go = threading.Event(), threading.Event()
    real = Decoder.render_kept

    def held(self: Decoder, params: Sequence[RenderParams]) -> Any:
        if (params[0].width, params[0].height) == (65, 65):
            entered.set()  # the 65x65 sibling of the old picture, in its thread
            go.wait(GUARD)
        return real(self, params)

    monkeypatch.setattr(Decoder, "render_kept", held)
    client = await app(files, "[resize]\nworkers = 2\n", site=ON)
    assert is_dark(await get_ok(client, f"/{key('70x70')}"))
    await eventually(entered.is_set, "the 65x65 sibling rendering")
    if write == "put":
        response = await client.put("/" + ORIGINAL, data=picture(230), headers=AUTH)
        assert response.status == 201, await response.text()
    else:
        response = await client.delete("/" + ORIGINAL, headers=AUTH)
        assert response.status == 204
    go.set()
    await quiet(client)
    every = [key(s) for s in SEEDS]
    if write == "delete":
        assert await stored(files, every) == []
        return
    for size_key in every:
        found = await files.get(size_key)
        assert found.body is not None, size_key
        assert not is_dark(await found.body.read()), f"{size_key} is the old picture"
        assert not is_dark(await get_ok(client, "/" + size_key)), size_key


async def test_off_renders_only_what_is_asked(tmp_path: Path, app: AppClient) -> None:
    files = FileStorage(tmp_path / "off")
    await files.put(ORIGINAL, picture(40), content_type="image/jpeg")
    client = await app(files, site="render_siblings = false")
    await get_ok(client, f"/{key('70x70')}")
    await quiet(client)
    assert await stored(files, [key(s) for s in SEEDS]) == [key("70x70")]
    assert services_of(client).renderer.siblings.rendered == 0


async def test_siblings_only_on_a_first_miss(tmp_path: Path, app: AppClient) -> None:
    files = FileStorage(tmp_path / "again")
    await files.put(ORIGINAL, picture(40), content_type="image/jpeg")
    await files.put(SIBLINGS_OF_70[0], picture(40, 300, 225), content_type="image/jpeg")
    client = await app(files, site=ON)  # an earlier render made 300x
    await get_ok(client, f"/{key('70x70')}")
    await quiet(client)
    assert await stored(files, SIBLINGS_OF_70) == SIBLINGS_OF_70[:1]


async def test_a_read_for_a_waiting_sibling_needs_no_new_decode(
    tmp_path: Path, app: AppClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = FileStorage(tmp_path / "kept")
    await files.put(ORIGINAL, picture(40), content_type="image/jpeg")
    decodes: list[int] = []
    real_load = render_module.load  # type: ignore[attr-defined]

    def counted(data: bytes, fmt: Any, *, shrink: int = 1) -> pyvips.Image:
        decodes.append(shrink)
        return real_load(data, fmt, shrink=shrink)

    monkeypatch.setattr(render_module, "load", counted)
    gates = Gates(files, heads=[SIBLINGS_OF_70[0]])
    client = await app(gates, site=ON)
    await get_ok(client, f"/{key('70x70')}")
    await gates.reached[SIBLINGS_OF_70[0]].wait()  # siblings waiting, the decode kept
    body = await get_ok(client, f"/{key('65x65')}")
    assert dims(body) == (65, 49)
    assert decodes == [8]  # the read rendered from the kept decode
    assert gates.got[ORIGINAL] == 1  # and from the download the siblings hold
    gates.open(SIBLINGS_OF_70[0])
    await quiet(client)
    assert decodes == [8]


async def test_siblings_keep_the_asked_format_and_avif_has_none(
    tmp_path: Path, app: AppClient
) -> None:
    files = FileStorage(tmp_path / "formats")
    await files.put(ORIGINAL, picture(40), content_type="image/jpeg")
    client = await app(files, site=f'{ON}\nformats = ["avif", "webp"]')
    await get_ok(client, f"/{key('70x70')}", Accept="image/webp")
    await quiet(client)
    webp = [f"{k}.webp" for k in SIBLINGS_OF_70]
    every = [*SIBLINGS_OF_70, *webp, *[f"{k}.avif" for k in SIBLINGS_OF_70]]
    assert await stored(files, every) == webp
    await get_ok(client, f"/{key('70x70')}", Accept="image/avif")
    await quiet(client)
    assert await stored(files, every) == webp
    assert await stored(files, [f"{key('70x70')}.avif"]) == [f"{key('70x70')}.avif"]


async def test_kept_decodes_have_a_memory_bound(
    tmp_path: Path, app: AppClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = FileStorage(tmp_path / "bound")
    rels = [f"m/e/mem{n}.jpg" for n in range(2)]
    for rel in rels:
        await files.put(f"t1/full/{rel}", picture(40), content_type="image/jpeg")
    gates = Gates(files, heads=[key("300x", rel) for rel in rels])
    client = await app(gates, "[resize]\nsibling_memory = 1\n", site=ON)  # room for one set
    siblings = services_of(client).renderer.siblings
    await get_ok(client, f"/{key('70x70', rels[0])}")
    await gates.reached[key("300x", rels[0])].wait()
    await get_ok(client, f"/{key('70x70', rels[1])}")  # its set pushes the first one out
    await gates.reached[key("300x", rels[1])].wait()
    assert siblings.pending == 1
    gates.open(key("300x", rels[1]))
    await quiet(client)
    assert await stored(files, [key("300x", rel) for rel in rels]) == [key("300x", rels[1])]


@pytest.mark.parametrize("size", [(2400, 1800), (1001, 667)])
def test_webp_shrinks_on_load_and_stays_byte_identical(size: tuple[int, int]) -> None:
    data = images.webp(*size)
    params = [RenderParams(70, 70), RenderParams(300, None), RenderParams(215, 170)]
    together = render_many(data, params, Limits())
    for one, out in zip(params, together, strict=True):
        assert render_single(data, one, Limits()).data == out.data
    decoder = Decoder(data, Limits())
    assert decoder.shrink(params[0]) > 1
    assert [(r.width, r.height) for r in together][1][0] == 300
