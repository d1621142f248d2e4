"""One behaviour suite for every storage backend, then what only one backend can show.

Every test taking `storage` runs against files and against S3 on moto (prefix `media/`);
`only_file` / `only_s3` narrow a test to one backend.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import os
import random
import signal
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from config import StorageSettings
from config.storageurl import S3Location, parse_storage_url
from storage import (
    FileStorage,
    GetStatus,
    S3Storage,
    Storage,
    StorageError,
    StoredObject,
    etag_matches,
    fileops,
    open_storage,
)
from storage.files import _FileBody
from tests.conftest import MotoServer, OpenS3, RawS3
from tests.serving import GUARD, eventually, within

only_file = pytest.mark.parametrize("storage", ["file"], indirect=True)
only_s3 = pytest.mark.parametrize("storage", ["s3"], indirect=True)
REPO = Path(__file__).resolve().parents[1]
KEY = "t1/full/1/3/1335478295542.jpg"
JPEG = "image/jpeg"
LONG = "public, max-age=31536000"


def etag_of(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


async def body_of(obj: StoredObject) -> bytes:
    assert obj.status is GetStatus.OK
    assert obj.body is not None
    return await obj.body.read()


async def keys_under(storage: Storage, prefix: str) -> list[str]:
    return [item.key async for item in storage.list(prefix)]


# --- the behaviour suite: both backends ------------------------------------------------


async def test_put_then_get_round_trips_bytes_and_metadata(storage: Storage) -> None:
    data = b"\xff\xd8 not really a jpeg"
    put = await storage.put(KEY, data, content_type=JPEG, cache_control=LONG)
    got = await storage.get(KEY)

    assert await body_of(got) == data
    assert got.meta is not None
    assert (got.meta.key, got.meta.size, got.meta.content_type) == (KEY, len(data), JPEG)
    assert got.meta.cache_control == LONG
    assert got.meta.etag == put.etag == etag_of(data)
    modified = got.meta.last_modified
    assert modified.tzinfo == UTC
    assert modified.microsecond == 0
    assert abs(modified - datetime.now(UTC)) < timedelta(seconds=5)
    assert abs(modified - put.last_modified) <= timedelta(seconds=1)


async def test_no_cache_control_and_empty_body(storage: Storage) -> None:
    await storage.put("t1/full/empty.txt", b"", content_type="text/plain")
    got = await storage.get("t1/full/empty.txt")
    assert got.meta is not None
    assert got.meta.cache_control is None
    assert got.meta.size == 0
    assert got.body is not None
    assert [chunk async for chunk in got.body.iter_chunks()] == []


async def test_missing_key(storage: Storage) -> None:
    await storage.put("t1/full/a/b.jpg", b"x", content_type=JPEG)
    for key in ("t1/full/nope.jpg", "t1/full/a", "t1/full/a/b.jpg/c"):
        assert await storage.get(key) == StoredObject(GetStatus.NOT_FOUND)
        assert await storage.head(key) is None


async def test_if_none_match(storage: Storage) -> None:
    put = await storage.put(KEY, b"v1", content_type=JPEG)
    assert await storage.get(KEY, if_none_match=put.etag) == StoredObject(GetStatus.NOT_MODIFIED)
    assert await body_of(await storage.get(KEY, if_none_match=etag_of(b"old"))) == b"v1"
    missing = await storage.get("t1/full/nope.jpg", if_none_match=put.etag)
    assert missing.status is GetStatus.NOT_FOUND


async def test_head_matches_get(storage: Storage) -> None:
    await storage.put(KEY, b"abc", content_type=JPEG, cache_control=LONG)
    got = await storage.get(KEY)
    await body_of(got)
    assert await storage.head(KEY) == got.meta


async def test_overwrite_replaces_bytes_and_metadata(storage: Storage) -> None:
    await storage.put(KEY, b"old", content_type=JPEG, cache_control=LONG)
    await storage.put(KEY, b"newer", content_type="image/png")
    got = await storage.get(KEY)
    assert await body_of(got) == b"newer"
    assert got.meta is not None
    assert (got.meta.content_type, got.meta.cache_control) == ("image/png", None)
    assert got.meta.etag == etag_of(b"newer")


async def test_delete_ignores_missing_keys(storage: Storage) -> None:
    await storage.put("t1/full/a.jpg", b"a", content_type=JPEG)
    await storage.put("t1/70x70/a.jpg", b"b", content_type=JPEG)
    await storage.delete(["t1/full/a.jpg", "t1/full/never.jpg", "t1/70x70/a.jpg"])
    await storage.delete([])
    assert await keys_under(storage, "") == []
    assert (await storage.get("t1/full/a.jpg")).status is GetStatus.NOT_FOUND


async def test_delete_more_keys_than_one_batch(storage: Storage) -> None:
    keys = [f"t1/full/{i:04d}.jpg" for i in range(1001)]
    present = [keys[0], keys[999], keys[1000]]  # the last one is in the second S3 batch
    await asyncio.gather(*(storage.put(k, b"x", content_type=JPEG) for k in present))
    await storage.delete(keys)
    assert await keys_under(storage, "t1/") == []


async def test_list_by_prefix_is_a_string_prefix(storage: Storage) -> None:
    keys = [
        "t1/300x/1/3/a.jpg",
        "t1/full/1/3/a.jpg",
        "t1/full/1/3/b.jpg",
        "t1/full/small_image.jpg",
        "t1/full-x.jpg",
        "t10/full/x.jpg",
        "t2/full/y.jpg",
    ]
    for key in keys:
        await storage.put(key, key.encode(), content_type=JPEG)

    assert await keys_under(storage, "") == sorted(keys)
    assert await keys_under(storage, "t1/") == sorted(keys)[:5]
    assert await keys_under(storage, "t1/full/") == [
        "t1/full/1/3/a.jpg",
        "t1/full/1/3/b.jpg",
        "t1/full/small_image.jpg",
    ]
    assert await keys_under(storage, "t1/full") == sorted(keys)[1:5]
    assert await keys_under(storage, "t1/full/1/3/b") == ["t1/full/1/3/b.jpg"]
    assert await keys_under(storage, "t3/") == []
    listed = [item async for item in storage.list("t2/")]
    assert [(i.size, i.last_modified.tzinfo) for i in listed] == [(len(keys[-1]), UTC)]


async def test_list_crosses_pages(storage: Storage) -> None:
    keys = [f"t1/full/{i // 10}/{i}.jpg" for i in range(45)]  # S3 lists 10 a page here
    await asyncio.gather(*(storage.put(k, b"x", content_type=JPEG) for k in keys))
    assert await keys_under(storage, "t1/full/") == sorted(keys)


async def test_streams_a_large_body_in_chunks(storage: Storage) -> None:
    data = random.Random(7).randbytes(3 * 1024 * 1024 + 17)
    await storage.put(KEY, data, content_type=JPEG)
    got = await storage.get(KEY)
    assert got.body is not None
    chunks = [chunk async for chunk in got.body.iter_chunks(65536)]
    assert len(chunks) > 1
    assert max(map(len, chunks)) <= 65536
    assert b"".join(chunks) == data


async def test_closing_bodies_early_frees_the_pool(storage: Storage) -> None:
    data = random.Random(8).randbytes(1536 * 1024)  # streamed, not inlined, by both
    await storage.put(KEY, data, content_type=JPEG)
    for _ in range(100):  # the S3 pool holds 4 connections
        got = await storage.get(KEY)
        assert got.body is not None
        async for _chunk in got.body.iter_chunks(1024):
            break
        await got.body.close()
        await got.body.close()
    assert await body_of(await storage.get(KEY)) == data


async def test_ping(storage: Storage) -> None:
    await storage.ping()
    assert storage.describe.startswith(("file:/", "s3://test-"))


# --- S3 only ---------------------------------------------------------------------------


@only_s3
async def test_s3_prefix_prefixes_raw_keys(storage: Storage, s3_raw: RawS3) -> None:
    assert isinstance(storage, S3Storage)
    await storage.put(KEY, b"img", content_type=JPEG, cache_control=LONG)
    s3_raw.put(storage.bucket, "elsewhere/t1/full/x.jpg", b"not ours")

    assert s3_raw.list(storage.bucket) == ["elsewhere/t1/full/x.jpg", f"media/{KEY}"]
    assert s3_raw.get(storage.bucket, f"media/{KEY}") == (b"img", JPEG, LONG)
    assert await keys_under(storage, "") == [KEY]
    assert storage.describe == f"s3://{storage.bucket}/media"


@only_s3
async def test_s3_deletes_in_batches_of_1000(storage: Storage) -> None:
    assert isinstance(storage, S3Storage)
    sizes: list[int] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sizes.append(len(params["Delete"]["Objects"]))

    storage._client.meta.events.register("provide-client-params.s3.DeleteObjects", record)
    await storage.delete([f"t1/full/{i}.jpg" for i in range(2345)])
    assert sizes == [1000, 1000, 345]


@only_s3
async def test_s3_missing_bucket_fails_ping(storage: Storage) -> None:
    assert isinstance(storage, S3Storage)
    storage.bucket = "no-such-bucket-here"
    with pytest.raises(StorageError) as caught:
        await storage.ping()
    assert caught.value.status == 502
    assert caught.value.__cause__ is not None


async def test_s3_outage_fails_fast_then_recovers(flaky_moto: MotoServer, open_s3: OpenS3) -> None:
    s3 = await open_s3(endpoint=flaky_moto.endpoint, prefix="media", timeout=1.0)
    await s3.put(KEY, b"before", content_type=JPEG)
    flaky_moto.stop()
    async with within(3, "three calls while storage is down"):
        failures = await asyncio.gather(
            s3.get(KEY), s3.put(KEY, b"x", content_type=JPEG), s3.ping(), return_exceptions=True
        )
    for failure in failures:
        assert isinstance(failure, StorageError), failure
        assert failure.reason in ("storage unavailable", "storage timed out")
        assert failure.__cause__ is not None  # the backend's text, for the logs only
    flaky_moto.start()
    assert await body_of(await s3.get(KEY)) == b"before"
    await s3.ping()


# --- files only ------------------------------------------------------------------------

BAD_KEYS = ["", "/etc/passwd", "../x", "t1/../../x", "t1/./x", "t1//x", "t1/", "a\\b", "a\0b"]
BAD_KEYS += [".meta/t1/full/a.jpg.json", "t1/.a.jpg.1234.tmp"]


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_file_refuses_keys_outside_the_object_tree(tmp_path: Path, key: str) -> None:
    files = FileStorage(tmp_path / "media")
    with pytest.raises(ValueError, match="refusing storage key"):
        await files.get(key)
    with pytest.raises(ValueError, match="refusing storage key"):
        await files.put(key, b"x", content_type=JPEG)
    with pytest.raises(ValueError, match="refusing storage key"):
        await files.delete(["t1/full/ok.jpg", key])
    assert names_in(tmp_path) == ["media"]


def names_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp")]


@only_file
async def test_file_put_leaves_no_temp_files(storage: Storage) -> None:
    assert isinstance(storage, FileStorage)
    for i in range(3):
        await storage.put(f"t1/full/{i}.jpg", b"x" * i, content_type=JPEG)
    await storage.put("t1/full/0.jpg", b"again", content_type=JPEG)
    assert temp_files(storage.root) == []
    assert (storage.root / "t1/full/0.jpg").read_bytes() == b"again"  # a plain file tree


@only_file
async def test_file_failed_write_keeps_the_old_object(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(storage, FileStorage)
    await storage.put(KEY, b"old", content_type=JPEG)

    def disk_full(fd: int, data: bytes) -> None:
        os.write(fd, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileops, "write_fd", disk_full)
    with pytest.raises(StorageError):
        await storage.put(KEY, b"new" * 1000, content_type="image/png")
    got = await storage.get(KEY)
    assert await body_of(got) == b"old"
    assert got.meta is not None
    assert got.meta.content_type == JPEG
    assert temp_files(storage.root) == []


KILLED_WRITER = """
import asyncio, os, signal, sys
from pathlib import Path
from storage import FileStorage, fileops

def half_then_killed(fd, data):
    os.write(fd, data[: len(data) // 2])
    os.kill(os.getpid(), signal.SIGKILL)

fileops.write_fd = half_then_killed
store = FileStorage(Path(sys.argv[1]))
asyncio.run(store.put(sys.argv[2], b"new" * 100_000, content_type="image/png"))
"""


@only_file
async def test_file_killed_writer_keeps_the_old_object(storage: Storage) -> None:
    assert isinstance(storage, FileStorage)
    await storage.put(KEY, b"old", content_type=JPEG, cache_control=LONG)
    writer = await asyncio.create_subprocess_exec(
        sys.executable, "-c", KILLED_WRITER, str(storage.root), KEY, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert await writer.wait() == -signal.SIGKILL
    assert len(temp_files(storage.root)) == 1  # killed mid-write, as intended
    got = await storage.get(KEY)
    assert await body_of(got) == b"old"
    assert got.meta is not None
    assert (got.meta.content_type, got.meta.cache_control) == (JPEG, LONG)
    assert await keys_under(storage, "") == [KEY]


@only_file
async def test_file_metadata_falls_back_to_the_file_itself(storage: Storage) -> None:
    assert isinstance(storage, FileStorage)
    await storage.put("t1/full/a.png", b"first", content_type="image/x-custom", cache_control=LONG)
    (storage.root / "t1/full/a.png").write_bytes(b"changed by hand")  # sidecar now stale
    (storage.root / "t1/full/copied.webp").write_bytes(b"dropped in")  # no sidecar at all
    for key, data, content_type in [
        ("t1/full/a.png", b"changed by hand", "image/png"),
        ("t1/full/copied.webp", b"dropped in", "image/webp"),
    ]:
        meta = await storage.head(key)
        assert meta is not None
        assert (meta.etag, meta.content_type, meta.cache_control) == (
            etag_of(data), content_type, None
        )  # fmt: skip


@only_file
async def test_file_ping_fails_when_the_root_is_gone(storage: Storage) -> None:
    assert isinstance(storage, FileStorage)
    await asyncio.to_thread(storage.root.rmdir)
    with pytest.raises(StorageError) as caught:
        await storage.ping()
    assert caught.value.reason == "storage unavailable"  # the path stays in __cause__


# --- urls and helpers ------------------------------------------------------------------


async def test_open_storage_file_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for url, root in [
        ("file:./var/media", tmp_path / "var/media"),
        ("file:rel", tmp_path / "rel"),
        (f"file:{tmp_path}/abs", tmp_path / "abs"),
        (f"file://{tmp_path}/three", tmp_path / "three"),
        (f"file://localhost{tmp_path}/host", tmp_path / "host"),
    ]:
        opened = await open_storage(StorageSettings(url=url))
        await opened.close()
        assert opened.describe == f"file:{root}"
        assert root.is_dir()


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://media-bucket", "media-bucket", ""),
        ("s3://media-bucket/", "media-bucket", ""),
        ("s3://media.bucket/some/prefix", "media.bucket", "some/prefix/"),
        ("s3://b12/media/", "b12", "media/"),
    ],
)
def test_parse_s3_urls(url: str, bucket: str, prefix: str) -> None:
    assert parse_storage_url(url) == S3Location(bucket, prefix)


@pytest.mark.usefixtures("_aws_env")
async def test_open_storage_s3_url() -> None:
    settings = StorageSettings(
        url="s3://media.bucket/some/prefix/", endpoint_url="http://127.0.0.1:9"
    )
    opened = await open_storage(settings)
    try:
        assert isinstance(opened, S3Storage)
        assert (opened.bucket, opened.prefix) == ("media.bucket", "some/prefix/")
        assert opened.describe == "s3://media.bucket/some/prefix"
    finally:
        await opened.close()


@pytest.mark.parametrize(
    "url",
    [
        "", "media", "http://bucket", "s3://", "s3://Bucket", "s3://a", "s3://bucket/a//b",
        "s3://bucket/../x", "s3://bucket/.hidden", "s3://bucket?versioning", "s3://bucket#x",
        "s3://user@bucket", "file:", "file://server/share",
    ],
)  # fmt: skip
async def test_open_storage_rejects_bad_urls(url: str) -> None:
    with pytest.raises(ValueError, match="storage url"):
        await open_storage(StorageSettings(url=url))


async def test_a_file_url_that_is_no_directory_is_refused_with_its_reason(
    tmp_path: Path,
) -> None:
    (tmp_path / "plain").write_bytes(b"x")
    for url in (f"file:{tmp_path}/plain", f"file:{tmp_path}/plain/below"):
        with pytest.raises(ValueError, match=f"{tmp_path}/plain is not a directory"):
            await open_storage(StorageSettings(url=url))
    assert (tmp_path / "plain").read_bytes() == b"x"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, False), ("", False), ('"abc"', True), ('"abd"', False), ("*", True),
        ('W/"abc"', True), ('"x", "abc"', True), ('"x","y"', False), ("abc", False),
    ],
)  # fmt: skip
def test_etag_matches(header: str | None, expected: bool) -> None:
    assert etag_matches(header, '"abc"') is expected


async def test_a_cancelled_file_get_closes_the_file_its_thread_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A get cancelled while its thread runs (a request timeout, a render abandoned) must
    not leak the open file of a large object: ResourceWarning is an error in this suite."""
    backend = FileStorage(tmp_path / "media")
    await backend.put("a/big.bin", os.urandom(2 * 1024 * 1024), content_type="x/y")
    real_get = FileStorage._get_sync
    opened, proceed = threading.Event(), threading.Event()
    found: list[StoredObject] = []

    def held_get(self: FileStorage, key: str, if_none_match: str | None) -> StoredObject:
        """The real get, then a stop with the file open until the test has cancelled."""
        found.append(real_get(self, key, if_none_match))
        opened.set()
        proceed.wait(GUARD)
        return found[-1]

    def abandoned_closed(got: StoredObject) -> bool:
        return isinstance(got.body, _FileBody) and got.body.closed

    monkeypatch.setattr(FileStorage, "_get_sync", held_get)
    for _ in range(3):
        opened.clear()
        proceed.clear()
        task = asyncio.ensure_future(backend.get("a/big.bin"))
        assert await asyncio.to_thread(opened.wait, GUARD), "the get's thread never ran"
        task.cancel()  # while its thread holds the open file
        proceed.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        await eventually(lambda: abandoned_closed(found[-1]), "the abandoned file closed")
    gc.collect()
