"""`mediaproxy pregen` (SPEC §6) against a real moto S3 and real libvips, through the CLI."""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO

import pytest
import pyvips
from aiohttp import web
from aiohttp.test_utils import TestClient

from bulk import PregenOptions, Run, Shard, pregen
from bulk.engine import CHANGED_MEANWHILE
from cli.console import open_for
from cli.main import main
from config import load_settings
from proxy.app import create_app
from storage import ObjectMeta
from tests import images
from tests.conftest import RawS3
from tests.hooks import HookedStorage
from tests.serving import GUARD, SIZES, make_settings

SPECS = [text.strip() for text in SIZES.split(",")]
RELS = ["1/3/1335478295542.jpg", "a/b/ab.png", "c/d/cd.jpg"]
Client = TestClient[web.Request, web.Application]

# Each test gets its own bucket; `config` writes a TOML pointing the CLI at it.
MakeConfig = Callable[..., Path]


@pytest.fixture
def config(tmp_path: Path, s3_bucket: str, moto_endpoint: str) -> MakeConfig:
    def make(site: str = "", extra: str = "") -> Path:
        storage = f'[storage]\nurl = "s3://{s3_bucket}"\nendpoint_url = "{moto_endpoint}"\n'
        make_settings(tmp_path, storage + extra, site=site)
        return tmp_path / "mediaproxy.toml"

    return make


def cli(config: Path, *args: str) -> int:
    return main(["--config", str(config), *args])


def seed(s3_raw: RawS3, bucket: str, rels: list[str] = RELS) -> None:
    for rel in rels:
        data = images.png(320, 240) if rel.endswith(".png") else images.jpeg(320, 240)
        content_type = "image/png" if rel.endswith(".png") else "image/jpeg"
        s3_raw.put(bucket, f"t1/full/{rel}", data, content_type)


def contents(s3_raw: RawS3, bucket: str) -> dict[str, bytes]:
    return {key: s3_raw.get(bucket, key)[0] for key in s3_raw.list(bucket)}


def every_size(rels: list[str]) -> set[str]:
    return {f"t1/{dim}/{rel}" for rel in rels for dim in SPECS}


def is_whole_image(data: bytes) -> bool:
    try:
        pyvips.Image.new_from_buffer(data, "", fail_on="truncated").avg()
    except pyvips.Error:
        return False
    return True


def test_makes_exactly_what_is_missing_then_nothing(
    config: MakeConfig, s3_raw: RawS3, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(s3_raw, s3_bucket)
    marker = images.jpeg(8, 8)  # not what pregen would make: shows whether it was rewritten
    present = {f"t1/300x/{RELS[0]}", f"t1/70x70/{RELS[0]}", f"t1/90x/{RELS[2]}"}
    for key in present:
        s3_raw.put(s3_bucket, key, marker)
    cfg = config()

    assert cli(cfg, "pregen", "--jobs", "2") == 0
    after = contents(s3_raw, s3_bucket)
    assert set(after) == every_size(RELS) | {f"t1/full/{rel}" for rel in RELS}
    assert all(after[key] == marker for key in present)
    assert all(is_whole_image(after[key]) for key in every_size(RELS))
    _, stored_type, cache_control = s3_raw.get(s3_bucket, f"t1/300x/{RELS[1]}")
    assert (stored_type, cache_control) == ("image/png", "public, max-age=31536000")
    summary = capsys.readouterr().err.splitlines()[-1]
    assert f"made {len(RELS) * 9 - 3} sizes of 3 originals, skipped 3, failed 0" in summary

    assert cli(cfg, "pregen") == 0
    assert "made 0 sizes of 0 originals, skipped 27" in capsys.readouterr().err
    assert contents(s3_raw, s3_bucket) == after


def test_overwrite_rewrites_every_size(
    config: MakeConfig, s3_raw: RawS3, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(s3_raw, s3_bucket)
    marker = images.jpeg(8, 8)
    for key in every_size(RELS):
        s3_raw.put(s3_bucket, key, marker)
    cfg = config()
    assert cli(cfg, "pregen") == 0
    assert "made 0 sizes" in capsys.readouterr().err

    assert cli(cfg, "pregen", "--overwrite") == 0
    assert "made 27 sizes of 3 originals" in capsys.readouterr().err
    after = contents(s3_raw, s3_bucket)
    assert all(after[key] != marker and is_whole_image(after[key]) for key in every_size(RELS))


def test_sizes_and_sites_limit_the_work_and_must_be_configured(
    config: MakeConfig, s3_raw: RawS3, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(s3_raw, s3_bucket)
    cfg = config()
    assert cli(cfg, "pregen", "--site", "t1", "--sizes", "70x70, 300x") == 0
    assert set(s3_raw.list(s3_bucket, "t1/")) - {f"t1/full/{r}" for r in RELS} == {
        f"t1/{dim}/{rel}" for rel in RELS for dim in ("70x70", "300x")
    }
    capsys.readouterr()
    assert cli(cfg, "pregen", "--sizes", "300x, 301x") == 2
    assert "'301x' is not configured for site 't1'" in capsys.readouterr().err
    assert cli(cfg, "pregen", "--site", "nope") == 2
    assert "unknown site 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli(cfg, "pregen", "--shard", "3/3")
    assert exit_info.value.code == 2


def test_a_corrupt_original_is_logged_and_skipped(
    config: MakeConfig, s3_raw: RawS3, s3_bucket: str, tmp_path: Path
) -> None:
    seed(s3_raw, s3_bucket)
    s3_raw.put(s3_bucket, "t1/full/b/a/bad.jpg", images.truncated_jpeg(400, 300))
    s3_raw.put(s3_bucket, "t1/full/b/a/page.jpg", images.html())
    s3_raw.put(s3_bucket, "t1/full/b/a/notes.txt", b"not an image name", "text/plain")
    errors = tmp_path / "errors.tsv"

    assert cli(config(), "pregen", "--errors", str(errors)) == 1
    logged = dict(line.split("\t") for line in errors.read_text().splitlines())
    assert logged == {
        "t1/full/b/a/bad.jpg": "corrupt or truncated image data",
        "t1/full/b/a/page.jpg": "not a JPEG, PNG, WebP or GIF image",
    }
    stored = set(s3_raw.list(s3_bucket, "t1/"))
    assert every_size(RELS) <= stored
    assert not any("/b/a/" in key for key in stored if not key.startswith("t1/full/"))


def test_shards_cover_every_original_exactly_once(
    config: MakeConfig, s3_raw: RawS3, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rels = [f"{n % 10}/{n // 10}/{n % 10}{n // 10}{n}.jpg" for n in range(60)]
    tiny = images.jpeg(16, 12)
    for rel in rels:
        s3_raw.put(s3_bucket, f"t1/full/{rel}", tiny)
    cfg = config()
    seen: list[str] = []
    for index in range(3):
        capsys.readouterr()
        assert cli(cfg, "pregen", "--dry-run", "--shard", f"{index}/3") == 0
        lines = capsys.readouterr().out.splitlines()
        originals = {line.split("\t")[1] for line in lines}
        assert len(lines) == 9 * len(originals)
        assert 10 <= len(originals) <= 30  # all three shards take a fair share
        assert all(Shard(index, 3).owns(key) for key in originals)
        seen += originals
    assert sorted(seen) == sorted(f"t1/full/{rel}" for rel in rels)
    assert set(s3_raw.list(s3_bucket)) == {f"t1/full/{rel}" for rel in rels}  # dry: no writes


# The CLI in a child process, its storage wrapped: two originals download, every later
# download waits for a line on stdin, announced by `held` on stdout. The parent interrupts
# while that is so, waits for the child to say it is stopping, then lets the downloads go.
# A shell's `&` (and so maybe this test's runner) leaves SIGINT ignored, which pregen
# respects as Python does; the child restores the default, as an interactive shell would.
INTERRUPTIBLE_PREGEN = """
import asyncio, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from cli import console
from cli.main import main
from tests.serving import StorageDouble

class HeldDownloads(StorageDouble):
    downloads = 0
    released = None

    async def get(self, key, *, if_none_match=None):
        HeldDownloads.downloads += 1
        if HeldDownloads.downloads > 2:
            if HeldDownloads.released is None:
                HeldDownloads.released = asyncio.ensure_future(
                    asyncio.to_thread(sys.stdin.readline)
                )
                print("held", flush=True)
            await asyncio.shield(HeldDownloads.released)
        return await self.inner.get(key, if_none_match=if_none_match)

open_for = console.open_for

async def open_held(settings, jobs):
    return HeldDownloads(await open_for(settings, jobs))

console.open_for = open_held
sys.exit(main(sys.argv[1:]))
"""


class Lines:
    """A child's output, read by a thread so the test can wait for a line with a bound."""

    def __init__(self, stream: IO[str]) -> None:
        self.text = ""
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def wait_for(self, text: str) -> None:
        while True:
            try:
                line = self._lines.get(timeout=GUARD)
            except queue.Empty:
                pytest.fail(f"no {text!r} from the child within {GUARD}s:\n{self.text}")
            if line is None:
                pytest.fail(f"the child ended without saying {text!r}:\n{self.text}")
            self.text += line
            if text in line:
                return

    def rest(self) -> str:
        """Everything, once the child has closed the stream."""
        self._reader.join(GUARD)
        while not self._lines.empty():
            self.text += self._lines.get_nowait() or ""
        return self.text


def test_interrupted_run_stops_cleanly_and_the_next_run_resumes(
    config: MakeConfig, s3_raw: RawS3, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rels = [f"{n % 10}/{n // 10}/{n % 10}{n // 10}photo.jpg" for n in range(24)]
    data = images.jpeg(1200, 900)
    for rel in rels:
        s3_raw.put(s3_bucket, f"t1/full/{rel}", data)
    cfg = config()
    command = [sys.executable, "-c", INTERRUPTIBLE_PREGEN, "--config", str(cfg), "pregen"]
    root = Path(__file__).resolve().parent.parent
    with subprocess.Popen(
        [*command, "--jobs", "1"],
        cwd=root,
        env=os.environ | {"PYTHONPATH": str(root)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdin is not None
        assert proc.stdout is not None
        assert proc.stderr is not None
        try:
            out, err = Lines(proc.stdout), Lines(proc.stderr)
            out.wait_for("held")  # writing has begun; later originals wait
            proc.send_signal(signal.SIGINT)
            err.wait_for("stopping: finishing the images in flight")
            proc.stdin.close()  # the held downloads go on, into a stopping run
            assert proc.wait(GUARD) == 130, err.rest()
        finally:
            proc.kill()
        err_text = err.rest()
        out.rest()

    assert "pregen interrupted: made" in err_text
    made = set(s3_raw.list(s3_bucket)) - {f"t1/full/{rel}" for rel in rels}
    assert 0 < len(made) < 9 * len(rels)
    assert all(is_whole_image(s3_raw.get(s3_bucket, key)[0]) for key in made)

    assert cli(cfg, "pregen") == 0
    assert f"made {9 * len(rels) - len(made)} sizes" in capsys.readouterr().err
    assert set(s3_raw.list(s3_bucket)) >= every_size(rels)


async def test_stop_finishes_the_images_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path, f'[storage]\nurl = "file:{tmp_path / "media"}"\n')
    storage = await open_for(settings, 1)
    rels = [f"x/{n}/x{n}.jpg" for n in range(12)]
    for rel in rels:
        await storage.put(f"t1/full/{rel}", images.jpeg(64, 48), content_type="image/jpeg")
    run = Run("pregen")
    original_put = storage.put

    async def put_then_stop(
        key: str, data: bytes, *, content_type: str, cache_control: str | None = None
    ) -> ObjectMeta:
        run.stop.set()
        return await original_put(key, data, content_type=content_type, cache_control=cache_control)

    monkeypatch.setattr(storage, "put", put_then_stop)
    try:
        report = await pregen(storage, settings, PregenOptions(jobs=1), run)
    finally:
        await storage.close()
    assert report.exit_code == 130
    assert report.made % 9 == 0  # whole originals only
    assert 9 <= report.made < 9 * len(rels)


async def test_pregen_output_equals_on_demand_output_byte_for_byte(
    config: MakeConfig,
    s3_raw: RawS3,
    s3_bucket: str,
    aiohttp_client: Callable[..., Awaitable[Client]],
) -> None:
    """Each size rendered alone on demand (sequential GETs, so no batching) must equal the
    same size rendered by pregen in one batch with the others, for every kind of source."""
    sizes = "300x, 215x170, 70x70, x90"
    framed = 'frame = true\nquality = 77\nbackground = "#336699"'
    sources = {
        "t1/full/j/p/jpeg.jpg": images.jpeg(800, 640),
        "t1/full/r/o/rotated.jpg": images.jpeg(640, 480, orientation=6),
        "t1/full/c/m/cmyk.jpg": images.jpeg(480, 360, cmyk=True),
        "t1/full/p/n/alpha.png": images.png(480, 320, alpha=True),
        "t1/full/w/e/photo.webp": images.webp(480, 360),
        "t1/full/g/i/anim.gif": images.gif(240, 160, frames=2),
        "t2/full/j/p/jpeg.jpg": images.jpeg(800, 640),
        "t2/full/p/n/alpha.png": images.png(480, 320, alpha=True),
    }
    for key, data in sources.items():
        s3_raw.put(s3_bucket, key, data)
    # Siblings off, so every on-demand size is a render of its own.
    alone = "render_siblings = false"
    path = config(
        site=f'sizes = "{sizes}"\n{alone}',
        extra=f'[sites.t2]\nsizes = "{sizes}"\n{framed}\n{alone}\n',
    )
    settings = load_settings(path, {})
    storage = await open_for(settings, 2)
    try:
        report = await pregen(storage, settings, PregenOptions(jobs=2))
        assert report.failures == []
        made = {k: data for k, data in contents(s3_raw, s3_bucket).items() if k not in sources}
        assert len(made) == report.made == 4 * len(sources)
        for key in made:
            s3_raw.client.delete_object(Bucket=s3_bucket, Key=key)

        client = await aiohttp_client(create_app(settings, storage=storage))
        try:
            for key, data in sorted(made.items()):
                response = await client.get(f"/{key}")
                assert response.status == 200, key
                assert response.headers["X-Mediaproxy"] == "render", key
                assert await response.read() == data, key
        finally:
            await client.close()
    finally:
        await storage.close()


@pytest.mark.parametrize("change", ["replaced", "deleted"])
async def test_sizes_of_an_original_changed_during_pregen_are_not_left(
    tmp_path: Path, change: str
) -> None:
    """An upload or delete through a server takes no lock of pregen's: if the original
    changed while its sizes were made, pregen deletes them again once they landed."""
    settings = make_settings(tmp_path, f'[storage]\nurl = "file:{tmp_path / "media"}"\n')
    storage = HookedStorage(await open_for(settings, 1))
    original, late = "t1/full/r/a/race.jpg", "t1/300x/r/a/race.jpg"
    await storage.inner.put(original, images.jpeg(640, 480), content_type="image/jpeg")
    held = storage.pause("put", late)
    try:
        making = asyncio.create_task(pregen(storage, settings, PregenOptions(jobs=1)))
        await held.reached.wait()  # A's other sizes are stored, this one is on its way
        if change == "replaced":
            await storage.inner.put(original, images.jpeg(300, 500), content_type="image/jpeg")
        else:
            await storage.inner.delete([original])
        held.release()
        report = await making
        left = [item.key async for item in storage.inner.list("t1/") if item.key != original]
    finally:
        await storage.close()
    assert left == []
    assert report.failures == [(original, CHANGED_MEANWHILE)]
    assert (report.made, report.exit_code) == (0, 1)
