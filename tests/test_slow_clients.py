"""Slow clients: the request timeout bounds our work, not the client's download, and
clients that stall (sending headers, or reading a body) are dropped (SPEC §4, README
"Operations").

These tests are about time passing, so some wait on purpose: a reader pauses longer than
the request timeout; a stalled reader or a slow header sender is waited on until the
server drops it, with a bound. The timeouts are set to fractions of a second.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from config import Settings
from proxy.app import connection_options, create_app
from storage import FileStorage, Storage
from tests.serving import MakeClient, eventually, make_settings

LARGE = "t1/full/l/a/large.bin"


async def raw_connection(
    port: int, rcvbuf: int = 0
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    sock = socket.socket()
    if rcvbuf:  # a small window, so a reader that stops reading stalls the sender fast
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return await asyncio.open_connection(sock=sock, limit=1 << 20)


async def read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split(" ")[1]), fields


async def test_large_object_streams_to_a_slow_reader_past_the_request_timeout(
    make_client: MakeClient, storage: Storage
) -> None:
    body = os.urandom(3_000_000)
    await storage.put(LARGE, body, content_type="application/octet-stream")
    client = await make_client(
        "[server]\nrequest_timeout = 0.3\nsend_timeout = 5\n[cache]\nmax_item_bytes = 65536\n"
    )
    assert client.server.port is not None
    reader, writer = await raw_connection(client.server.port, rcvbuf=16384)
    writer.write(f"GET /{LARGE} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    status, fields = await read_head(reader)
    assert status == 200
    assert int(fields["Content-Length"]) == len(body)
    received = bytearray(await reader.read(65536))
    await asyncio.sleep(0.9)  # the reader is slow: three request timeouts go by
    async with asyncio.timeout(20):
        while chunk := await reader.read(1 << 20):
            received += chunk
    writer.close()
    assert bytes(received) == body


async def test_a_reader_that_stops_reading_is_dropped_after_the_send_timeout(
    make_client: MakeClient, storage: Storage
) -> None:
    body = os.urandom(48_000_000)
    await storage.put(LARGE, body, content_type="application/octet-stream")
    client = await make_client("[server]\nsend_timeout = 0.3\n[cache]\nmax_item_bytes = 65536\n")
    assert client.server.port is not None
    reader, writer = await raw_connection(client.server.port, rcvbuf=4096)
    writer.write(f"GET /{LARGE} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    status, _ = await read_head(reader)
    assert status == 200
    # Stalled: the server's buffers fill, a chunk waits past send_timeout, and the server
    # drops the connection (its handler's list of connections empties).
    await eventually(lambda: not client.server.handler.connections, "the stalled reader dropped")
    received = 0
    async with asyncio.timeout(20):
        try:
            while chunk := await reader.read(1 << 20):
                received += len(chunk)
        except ConnectionResetError:
            pass
    writer.close()
    assert received < len(body)
    health = await client.get("/healthz")
    assert health.status == 200


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[int, Settings]]:
    """The app as `mediaproxy serve` runs it (connection options included), on a port."""
    settings = make_settings(tmp_path, "[server]\nkeepalive_timeout = 0.5\n")
    runner = web.AppRunner(
        create_app(settings, storage=FileStorage(tmp_path / "media")),
        **connection_options(settings),
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield port, settings
    await runner.cleanup()


async def test_clients_sending_headers_slowly_are_dropped_and_others_still_served(
    served: tuple[int, Settings],
) -> None:
    port, _ = served
    slow = [await raw_connection(port) for _ in range(200)]
    for _, writer in slow:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # never finished
    reader, writer = await raw_connection(port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (await read_head(reader))[0] == 200
    writer.close()
    async with asyncio.timeout(10):  # the keep-alive timeout closes every one of them
        closed = await asyncio.gather(*(reader.read() for reader, _ in slow))
    assert closed == [b""] * len(slow)
    for _, writer in slow:
        writer.close()
