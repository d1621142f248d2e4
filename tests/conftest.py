"""Fixtures shared by the whole suite: a real S3 (moto) server, buckets, storage backends.

moto runs as a threaded HTTP server on 127.0.0.1, not as the in-process `mock_aws`
patch (which cannot see aiobotocore's aiohttp transport), so the S3 backend is tested
over real HTTP. moto keeps its buckets in process-wide state: every moto server in this
process sees every bucket, and a restarted server still has them.

    moto_endpoint   session  "http://127.0.0.1:PORT" of a running moto server
    aio_session     session  AioSession to pass to S3Storage.open: cheap clients
    s3_raw          session  RawS3: straight-to-bucket access that bypasses storage/
    s3_bucket       test     name of a fresh, empty bucket on that server
    storage         test     a Storage, parametrised over ["file", "s3"]
    flaky_moto      test     MotoServer a test may stop() and start() again (outages)
    make_client     test     async (extra TOML, site=..., **MEDIAPROXY_ env) -> test client
                             of the app on `storage`, site t1 (tests/serving.py)
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from aiobotocore.session import AioSession, get_session
from moto.server import ThreadedMotoServer

from proxy.app import create_app
from storage import FileStorage, S3Storage, Storage
from tests.serving import Client, MakeClient, make_settings

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
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(("127.0.0.1", self.port))
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


@pytest.fixture(params=["file", "s3"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    """Each backend in turn: files under tmp_path, or S3 on moto under the prefix `media/`.

    The S3 one has a pool of 4 connections (a leaked body shows up fast) and lists 10 keys
    a page, so every listing test also crosses page boundaries.
    """
    backend: Storage
    if request.param == "file":
        backend = FileStorage(tmp_path / "media")
    else:
        backend = await S3Storage.open(
            request.getfixturevalue("s3_bucket"),
            "media/",
            endpoint_url=request.getfixturevalue("moto_endpoint"),
            region=REGION,
            max_connections=4,
            timeout=5.0,
            page_size=10,
            session=request.getfixturevalue("aio_session"),
        )
    yield backend
    await backend.close()


@pytest.fixture
def make_client(
    aiohttp_client: Callable[..., Awaitable[Client]], storage: Storage, tmp_path: Path
) -> MakeClient:
    async def make(extra: str = "", *, site: str = "", **env: str) -> Client:
        settings = make_settings(tmp_path, extra, site=site, **env)
        return await aiohttp_client(create_app(settings, storage=storage))

    return make
