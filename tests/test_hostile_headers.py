"""No header of any request yields a 500 (SPEC §4: bad input never yields 500).

Requests go out byte for byte on a raw socket (HTTP client libraries refuse or rewrite
bytes that are not ASCII), with every byte 0x80-0xff in Authorization, Host,
If-None-Match, Accept and If-Modified-Since, alone and inside a plausible value, on GET,
HEAD, PUT and DELETE. Memory caching is off, so every read reaches storage and passes the
header values on to it. Every answer must be below 500, and an error's body short. On S3
(slower per request) every byte runs for the header reads hand on to storage,
If-None-Match, on GET and HEAD; the rest is code above storage, run in full on files.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import FileStorage, Storage
from tests import images
from tests.serving import UPLOAD_KEY, MakeClient

HEADERS = ["Authorization", "Host", "If-None-Match", "Accept", "If-Modified-Since"]
PLAUSIBLE = {
    "Authorization": b"Bearer %s" + UPLOAD_KEY.encode(),
    "Host": b"shop%s.example",
    "If-None-Match": b'"abc%sdef", W/"x"',
    "Accept": b"image/webp%s,*/*;q=0.8",
    "If-Modified-Since": b"Mon, 01 Jan 2024 00:00:0%s GMT",
}
TARGETS = {
    "GET": "/t1/300x/h/o/hostile.jpg",
    "HEAD": "/t1/full/h/o/hostile.jpg",
    "PUT": "/t1/full/h/o/upload.txt",
    "DELETE": "/t1/full/h/o/nothing.jpg",
}
CONNECTIONS = 16


def cases(methods: list[str], headers: list[str]) -> Iterator[tuple[str, str, bytes]]:
    for method in methods:
        for header in headers:
            for byte in range(0x80, 0x100):
                raw = bytes([byte])
                yield method, header, raw
                yield method, header, PLAUSIBLE[header].replace(b"%s", raw)


def request(method: str, header: str, value: bytes) -> bytes:
    lines = {
        b"Host": b"localhost",
        b"Authorization": b"Bearer " + UPLOAD_KEY.encode(),
        b"Connection": b"close",
    }
    lines[header.encode()] = value
    body = b"a short text file\n" if method == "PUT" else b""
    lines[b"Content-Length"] = str(len(body)).encode()
    head = b"".join(name + b": " + data + b"\r\n" for name, data in lines.items())
    return f"{method} {TARGETS[method]} HTTP/1.1\r\n".encode() + head + b"\r\n" + body


async def exchange(port: int, data: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        response = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def test_every_high_byte_in_every_header_is_answered_below_500(
    make_client: MakeClient, storage: Storage, tmp_path: Path
) -> None:
    await storage.put("t1/full/h/o/hostile.jpg", images.jpeg(400, 300), content_type="image/jpeg")
    await storage.put("t1/300x/h/o/hostile.jpg", images.jpeg(300, 225), content_type="image/jpeg")
    client = await make_client("[cache]\nmemory_bytes = 0\n")
    port = client.server.port
    assert port is not None
    slots = asyncio.Semaphore(CONNECTIONS)
    failures: list[str] = []

    async def one(method: str, header: str, value: bytes) -> None:
        async with slots:
            status, body = await exchange(port, request(method, header, value))
        if status >= 500 or (status >= 400 and len(body) > 200):
            failures.append(f"{method} {header}: {value!r} -> {status} {body[:80]!r}")

    files = isinstance(storage, FileStorage)
    methods, headers = (list(TARGETS), HEADERS) if files else (["GET", "HEAD"], ["If-None-Match"])
    all_cases = list(cases(methods, headers))
    await asyncio.gather(*(one(*case) for case in all_cases))
    assert len(all_cases) == len(methods) * len(headers) * 128 * 2
    assert not failures, f"{len(failures)} of {len(all_cases)}: " + "\n".join(failures[:10])


@pytest.mark.parametrize("value", [b"Bearer \xff", b"Bearer \xc3\x28", b"\xff\xfe", b"Bearer "])
async def test_undecodable_upload_key_is_401(make_client: MakeClient, value: bytes) -> None:
    client = await make_client()
    port = client.server.port
    assert port is not None
    for method in ("PUT", "DELETE"):
        status, body = await exchange(port, request(method, "Authorization", value))
        assert status == 401
        assert b'"status": 401' in body
