"""Helpers for tests that run the aiohttp app: settings from a TOML text, raw HTTP."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path

import pyvips
from aiohttp import web
from aiohttp.test_utils import TestClient

from config import Settings, load_settings

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]
UPLOAD_KEY = "test-upload-key-0123456789"
SIZES = "300x, 300x300, 70x70, 170x170, 215x170, 65x65, 310x, 210x, 90x"


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
