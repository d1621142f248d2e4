"""Fixtures shared by the whole suite: a real S3 (moto) server, buckets, storage backends.

moto runs as a threaded HTTP server on 127.0.0.1, not as the in-process `mock_aws`
patch (which cannot see aiobotocore's aiohttp transport), so the S3 backend is tested
over real HTTP. moto keeps its buckets in process-wide state: every moto server in this
process sees every bucket, and a restarted server still has them.

    moto_endpoint   session  "http://127.0.0.1:PORT" of a running moto server
    aio_session     session  AioSession to pass to S3Storage.open: cheap clients
    s3_raw          session  RawS3: straight-to-bucket access that bypasses storage/
    s3_bucket       test     name of a fresh, empty bucket on that server
    open_s3         test     async (endpoint=..., timeout=..., ...) -> S3Storage on s3_bucket,
                             prefix `media/`; after the test, fails it if a connection is
                             still held (a body neither read nor closed), then closes it
    storage         test     a Storage, parametrised over ["file", "s3"]
    flaky_moto      test     MotoServer a test may stop() and start() again (outages)
    make_client     test     async (extra TOML, site=..., storage=..., settings=...,
                             **MEDIAPROXY_ env) -> test client of the app on `storage` (or the
                             double given), site t1 (tests/serving.py) unless `settings` are
                             given; closed, its stores drained, before `storage` is
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import botocore.session
import pytest
from aiobotocore.session import AioSession, get_session
from moto.server import ThreadedMotoServer

from config import Settings
from proxy.app import create_app
from storage import FileStorage, S3Storage, Storage
from tests.serving import Client, MakeClient, free_port, make_settings

REGION = "us-east-1"


class MotoServer:
    """A moto server on 127.0.0.1 that can be stopped and started again on the same port."""

    def __init__(self) -> None:
        self.port = 0
        self._server: Any = None
        self.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if self.port:  # ThreadedMotoServer waits forever if its bind fails: fail here instead
            free_port(self.port)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        server.start()
        self.port = server.get_host_and_port()[1]
        self._server = server

    def stop(self) -> None:
        """Stop serving and close the listening socket, so clients get connection refused."""
        if self._server is not None:
            self._server.stop()
            self._server._server.server_close()  # stop() alone leaves the port bound
            self._server = None


class RawS3:
    """A plain botocore client on the moto server, to set up and check buckets directly.

    Synchronous so sync tests (CLI, bulk tools) can use it too; moto serves from its own
    thread, so calling it from an async test blocks nothing that matters.
    """

    def __init__(self, endpoint: str) -> None:
        session = botocore.session.get_session()
        self.client: Any = session.create_client("s3", region_name=REGION, endpoint_url=endpoint)

    def create_bucket(self) -> str:
        name = f"test-{uuid.uuid4().hex[:16]}"
        self.client.create_bucket(Bucket=name)
        return name

    def get(self, bucket: str, key: str) -> tuple[bytes, str, str | None]:
        """(bytes, Content-Type, Cache-Control or None) exactly as stored in the bucket."""
        resp = self.client.get_object(Bucket=bucket, Key=key)
        with resp["Body"] as body:
            data: bytes = body.read()
        return data, resp["ContentType"], resp.get("CacheControl")

    def put(self, bucket: str, key: str, data: bytes, content_type: str = "image/jpeg") -> None:
        self.client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)

    def list(self, bucket: str, prefix: str = "") -> list[str]:
        """Every raw key under `prefix`, bucket prefix included."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]


@pytest.fixture(scope="session")
def _aws_env() -> Iterator[None]:
    """Test credentials only: never a developer's profile, token or endpoint override."""
    patch = pytest.MonkeyPatch()
    patch.setenv("AWS_ACCESS_KEY_ID", "testing")
    patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    patch.setenv("AWS_DEFAULT_REGION", REGION)
    patch.setenv("AWS_CONFIG_FILE", os.devnull)
    patch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        patch.delenv(name, raising=False)
    patch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.WARNING)  # moto's access log would bury failure reports
    yield
    werkzeug.setLevel(level)
    patch.undo()


@pytest.fixture(scope="session")
def moto_endpoint(_aws_env: None) -> Iterator[str]:
    server = MotoServer()
    yield server.endpoint
    server.stop()


@pytest.fixture(scope="session")
def aio_session(_aws_env: None) -> AioSession:
    """Pass as `S3Storage.open(..., session=aio_session)`: new clients then cost ~10 ms."""
    return get_session()


@pytest.fixture(scope="session")
def s3_raw(moto_endpoint: str) -> Iterator[RawS3]:
    raw = RawS3(moto_endpoint)
    yield raw
    raw.client.close()


@pytest.fixture
def s3_bucket(s3_raw: RawS3) -> str:
    return s3_raw.create_bucket()


@pytest.fixture
def flaky_moto(_aws_env: None) -> Iterator[MotoServer]:
    """A second moto server (same buckets as moto_endpoint) that a test may take down."""
    server = MotoServer()
    yield server
    server.stop()


class OpenS3(Protocol):
    async def __call__(
        self,
        *,
        endpoint: str | None = None,
        prefix: str = "media/",
        max_connections: int = 4,
        timeout: float = 5.0,  # noqa: ASYNC109 - S3Storage's bound on each call
    ) -> S3Storage: ...


@pytest.fixture
async def open_s3(request: pytest.FixtureRequest) -> AsyncIterator[OpenS3]:
    """Opens S3Storage on this test's bucket (`s3_bucket`, on the shared moto unless
    `endpoint` says otherwise); after the test, checks that no connection is still held
    (see `held_connections`) and closes every one.

    A pool of 4 connections by default, so a leaked body shows up fast, and listings of
    10 keys a page, so every listing test also crosses page boundaries. moto and the
    bucket are asked for on the first call only: a file-only test never starts moto.
    """
    opened: list[S3Storage] = []

    async def open_(
        *,
        endpoint: str | None = None,
        prefix: str = "media/",
        max_connections: int = 4,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> S3Storage:
        s3 = await S3Storage.open(
            request.getfixturevalue("s3_bucket"),
            prefix,
            endpoint_url=endpoint or request.getfixturevalue("moto_endpoint"),
            region=REGION,
            max_connections=max_connections,
            timeout=timeout,
            page_size=10,
            session=request.getfixturevalue("aio_session"),
        )
        opened.append(s3)
        return s3

    yield open_
    held = {s3.describe: held_connections(s3) for s3 in opened}
    for s3 in opened:
        await s3.close()
    leaked = {name: count for name, count in held.items() if count}
    assert not leaked, (
        f"S3 connections still in use after the test: {leaked}: a body neither read nor"
        " closed, or an app still running on this storage (close it first: make_client does)"
    )


def held_connections(s3: S3Storage) -> int:
    """Connections of `s3`'s pool handed out and not given back: a GetObject body neither
    read to the end nor closed holds one until the client closes, silently (aiohttp warns
    only in asyncio debug mode, and only if the response is collected first). A peek at
    aiobotocore's aiohttp session: should its insides change, this fails loudly."""
    client: Any = s3._client  # private aiobotocore attributes, not in the S3Client stubs
    sessions = client._endpoint.http_session._sessions or {}
    return sum(len(session.connector._acquired) for session in sessions.values())


@pytest.fixture(params=["file", "s3"])
async def storage(
    request: pytest.FixtureRequest, tmp_path: Path, open_s3: OpenS3
) -> AsyncIterator[Storage]:
    """Each backend in turn: files under tmp_path, or S3 on moto under the prefix `media/`
    (from `open_s3`, which closes it, after any app of `make_client`)."""
    if request.param == "s3":
        yield await open_s3()
        return
    files = FileStorage(tmp_path / "media")
    yield files
    await files.close()


@pytest.fixture
async def make_client(
    aiohttp_client: Callable[..., Awaitable[Client]], storage: Storage, tmp_path: Path
) -> AsyncIterator[MakeClient]:
    """Clients are closed here, before `storage`: closing an app drains its background
    stores, which must not meet a storage closed under them."""
    clients: list[Client] = []
    shared = storage

    async def make(
        extra: str = "",
        *,
        site: str = "",
        storage: Storage | None = None,
        settings: Settings | None = None,
        **env: str,
    ) -> Client:
        settings = settings or make_settings(tmp_path, extra, site=site, **env)
        client = await aiohttp_client(create_app(settings, storage=storage or shared))
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
