"""The README's first command: `mediaproxy serve` with no config works on a fresh checkout."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import aiohttp

from tests.serving import dims, free_port


async def wait_ready(url: str, process: asyncio.subprocess.Process) -> None:
    """Poll `url` until it answers 200: the child gives no other sign that it listens."""
    async with aiohttp.ClientSession() as session:
        try:
            async with asyncio.timeout(15):
                while True:
                    assert process.returncode is None, "mediaproxy serve exited early"
                    try:
                        async with session.get(url) as response:
                            if response.status == 200:
                                return
                    except aiohttp.ClientConnectionError:
                        pass
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError("mediaproxy serve did not become ready in 15 s") from None


async def test_serve_without_config_shows_the_demo_image(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAPROXY_")}
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "cli.main", "serve", "--port", str(port)],
        cwd=tmp_path, env=env | {"PYTHONPATH": str(Path(__file__).parents[1])},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_ready(base + "/healthz", process)
        async with aiohttp.ClientSession() as session:
            async with session.get(base + "/") as response:
                links = re.findall(r'href="(/demo/[^"]+)"', await response.text())
            assert links == ["/demo/full/s/a/sample.jpg", "/demo/300x/s/a/sample.jpg"]
            for link, size in zip(links, [(1600, 1200), (300, 225)], strict=True):
                async with session.get(base + link) as response:
                    assert response.status == 200
                    assert dims(await response.read()) == size
            async with session.get(base + "/demo/215x170/s/a/sample.jpg") as response:
                assert response.status == 200
                assert dims(await response.read()) == (215, 161)
            async with session.get(base + "/demo/300x/n/o/nothing.jpg") as response:
                assert response.status == 404
                assert response.headers["Content-Type"] == "image/jpeg"  # the placeholder
        assert (tmp_path / "var" / "media" / "demo" / "full" / "s" / "a" / "sample.jpg").is_file()
    finally:
        process.terminate()
        async with asyncio.timeout(20):
            output = (await process.communicate())[0].decode()
    assert "mediaproxy on http://127.0.0.1" in output
    assert '"GET /demo/215x170/s/a/sample.jpg HTTP/1.1" 200' in output
