"""Running the real nginx binary on loopback with a template from nginx/, for the tests.

Templates hold `${UPPER_CASE}` placeholders, rendered here the way `envsubst` with an
explicit variable list renders them (nginx's own `$variables` are lower case and stay).
Each nginx runs in the foreground (`daemon off`) as a child of the test, with its pid,
logs, temp files and cache in one directory, and its access log says which upstream
answered each request: `-` means nginx answered by itself and nothing was proxied.

`running_stack` puts the real pieces together for a test module: moto's bucket (public
under a prefix, as nginx/README.md tells shops), one mediaproxy on it serving in the test's
event loop with an access log the test reads, and a `Stack` that starts nginx instances
in front of both and stops them when the test ends.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import textwrap
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import ClientResponse, ClientSession, web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest
from yarl import URL

from proxy.app import create_app
from proxy.services import SERVICES
from tests.conftest import RawS3
from tests.serving import GUARD, free_port, make_settings, raw_get

TEMPLATES = Path(__file__).resolve().parent.parent / "nginx"
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
START_TIMEOUT = 10.0
CONTENT_TYPE = {"avif": "image/avif", "webp": "image/webp", "jpeg": "image/jpeg"}

WRAPPER = """\
{user}
worker_processes 2;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{
    worker_connections 512;
}}
http {{
    log_format test '$request_method $request_uri $status up=$upstream_addr'
                    ' cache=$upstream_cache_status';
    access_log {root}/access.log test;
    client_body_temp_path {root}/temp/body;
    proxy_temp_path {root}/temp/proxy;
    fastcgi_temp_path {root}/temp/fastcgi;
    uwsgi_temp_path {root}/temp/uwsgi;
    scgi_temp_path {root}/temp/scgi;
    include {root}/site.conf;
}}
"""


def render(template: str, values: Mapping[str, str]) -> str:
    """The template nginx/`template` with every placeholder filled; fails on a missing one."""
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    missing = sorted({name for name in PLACEHOLDER.findall(text) if name not in values})
    if missing:
        pytest.fail(f"{template}: no value for {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        pytest.fail(
            "nginx is not installed: these tests run the real binary. Install it "
            "(apt-get install nginx) or run scripts/test.sh, which does."
        )
    return found


class Nginx:
    """One nginx master process serving `site_conf` on 127.0.0.1:`port`."""

    def __init__(self, root: Path, site_conf: str, port: int) -> None:
        self.root, self.port = root, port
        self.url = f"http://127.0.0.1:{port}"
        (root / "temp").mkdir(parents=True, exist_ok=True)
        (root / "site.conf").write_text(site_conf, encoding="utf-8")
        # Workers of a root master would run as `nobody` and could not use the test's 0700
        # temp directory; as any other user the directive does not apply.
        user = "user root;" if os.geteuid() == 0 else ""
        (root / "nginx.conf").write_text(WRAPPER.format(root=root, user=user), encoding="utf-8")
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [nginx_binary(), "-p", str(self.root), "-c", str(self.root / "nginx.conf")]
        with (self.root / "stderr.log").open("wb") as stderr:  # a file: a pipe could fill up
            self._process = subprocess.Popen(
                [*command, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=stderr
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                pytest.fail(f"nginx did not start:\n{self.errors()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        self.stop()
        pytest.fail(f"nginx did not listen on {self.port} within {START_TIMEOUT}s")

    def stop(self) -> None:
        """Fast shutdown (SIGTERM) and wait; SIGKILL if it hangs."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def access_log(self) -> list[str]:
        path = self.root / "access.log"
        return path.read_text(encoding="utf-8").splitlines() if path.exists() else []

    def errors(self) -> str:
        """What nginx said on stderr (before its error log opened) and in its error log."""
        logs = (self.root / name for name in ("stderr.log", "error.log"))
        return "".join(path.read_text(encoding="utf-8") for path in logs if path.exists())


def metric(text: str, name: str) -> float:
    """The value of an unlabelled sample in a Prometheus exposition (0 when absent)."""
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def with_formats(conf: str, lines: Mapping[str, str]) -> str:
    """The rendered config with its formats map holding `lines` (key → formats): the one
    edit nginx/README.md asks of a shop that enables formats."""
    body = "\n".join(f'    {key} "{value}";' for key, value in lines.items())
    pattern = re.compile(r"(map \$\w+ \$mediaproxy_formats \{\n).*?(\n\})", re.DOTALL)
    edited, count = pattern.subn(lambda found: found.group(1) + body + found.group(2), conf)
    assert count == 1, "no formats map in the template"
    return edited


def recorder(log: list[str], accept: bool) -> type[AbstractAccessLogger]:
    """An aiohttp access logger appending `METHOD /raw/target STATUS` to `log`, followed by
    the Accept header the request came with (`-` for none) when `accept` is set."""

    class Recorder(AbstractAccessLogger):
        def log(self, request: BaseRequest, response: web.StreamResponse, time: float) -> None:
            line = f"{request.method} {request.raw_path} {response.status}"
            log.append(f"{line} {request.headers.get('Accept', '-')}" if accept else line)

    return Recorder


@dataclass
class Stack:
    """moto's bucket (keys under `prefix`), one mediaproxy on it, and the nginx instances a
    test starts. `put` stores objects with `cache_control` unless told otherwise."""

    bucket: str
    prefix: str
    s3: RawS3
    http: ClientSession
    moto: str
    app: web.Application
    mediaproxy: str
    root: Path
    log: list[str]
    cache_control: str | None = None
    started: list[Nginx] = field(default_factory=list)

    def nginx(
        self, template: str, formats: Mapping[str, str] | None = None, **overrides: str
    ) -> Nginx:
        """Start nginx with `template`, its formats map holding `formats` (None: as shipped);
        `overrides` replace placeholder values."""
        port = free_port()
        root = self.root / f"nginx{len(self.started)}"
        endpoint = self.moto.removeprefix("http://")
        values = {
            "LISTEN": f"127.0.0.1:{port}",
            "BUCKET_SCHEME": "http",
            "BUCKET_SERVER": endpoint,
            "BUCKET_HOST": endpoint,
            "BUCKET_PATH": f"/{self.bucket}/{self.prefix}",
            "MEDIAPROXY_UPSTREAM": self.mediaproxy.removeprefix("http://"),
            "CACHE_DIR": str(root / "cache"),
            "ADMIN_NET": "127.0.0.1/32",
        } | overrides
        conf = render(template, values)
        nginx = Nginx(root, conf if formats is None else with_formats(conf, formats), port)
        self.started.append(nginx)
        nginx.start()
        return nginx

    def put(self, key: str, data: bytes, content_type: str = "image/jpeg", **extra: str) -> None:
        """Store `key` under the prefix; `extra` are more PutObject parameters."""
        if self.cache_control is not None:
            extra = {"CacheControl": self.cache_control} | extra
        self.s3.client.put_object(
            Bucket=self.bucket,
            Key=f"{self.prefix}/{key}",
            Body=data,
            ContentType=content_type,
            **extra,
        )

    def put_variants(self, key: str) -> None:
        """`key` and its two variants, each a labelled body with its own Content-Type."""
        for fmt, suffix in (("jpeg", ""), ("webp", ".webp"), ("avif", ".avif")):
            self.put(key + suffix, f"{fmt} {key}".encode(), CONTENT_TYPE[fmt])

    def read(self, key: str) -> bytes:
        return self.s3.get(self.bucket, f"{self.prefix}/{key}")[0]

    def keys(self, under: str) -> list[str]:
        listed = self.s3.list(self.bucket, f"{self.prefix}/{under}")
        return sorted(key.removeprefix(f"{self.prefix}/") for key in listed)

    def seen(self) -> list[str]:
        """What reached mediaproxy, its /metrics (read by the tests) left out."""
        return [line for line in self.log if " /metrics " not in line]

    async def get(
        self,
        url: str,
        accept: str | None = "*/*",
        headers: Mapping[str, str] | None = None,
        *,
        method: str = "GET",
    ) -> tuple[ClientResponse, bytes]:
        """Send `url` byte for byte (yarl would decode `wid%74h` to `width`) with that
        Accept header: by default aiohttp's own, None for no Accept header at all."""
        sent = dict(headers or {})
        if accept is not None:
            sent["Accept"] = accept
        skip = () if accept is not None else ("Accept",)
        async with self.http.request(
            method, URL(url, encoded=True), headers=sent, skip_auto_headers=skip
        ) as response:
            return response, await response.read()

    async def renders(self) -> float:
        async with self.http.get(f"{self.mediaproxy}/metrics") as response:
            return metric(await response.text(), "mediaproxy_renders_total")

    async def settle(self) -> None:
        """Wait for mediaproxy's background stores: what it rendered is in the bucket then."""
        await self.app[SERVICES].tasks.drain(GUARD)

    async def assert_refused_by_nginx(self, nginx: Nginx, targets: Sequence[str]) -> None:
        """Each target gets nginx's own 400, no stored byte leaks into it, and nothing
        reaches the bucket or mediaproxy (nginx's log names no upstream for any of them)."""
        for target in targets:
            status, body = await raw_get(nginx.port, target)
            assert (target, status) == (target, 400)
            assert b"canary" not in body
        await self.wait_for(lambda: len(nginx.access_log()) == len(targets), "nginx's log")
        assert [line for line in nginx.access_log() if " up=- " not in line] == []
        assert self.seen() == []

    async def wait_for(self, check: Callable[[], bool], what: str) -> None:
        """Poll `check` (blocking calls are fine: it runs in a thread) until true, for state
        with no event to wait on (nginx writing its log, committing a cache file)."""
        try:
            async with asyncio.timeout(GUARD):
                while True:
                    if await asyncio.to_thread(check):
                        return
                    await asyncio.sleep(0.05)
        except TimeoutError:
            pytest.fail(f"timed out after {GUARD}s waiting for {what}")


def make_public(s3: RawS3, bucket: str, prefix: str) -> None:
    """The read policy nginx/README.md gives shops, plus `s3:HeadObject`: moto checks an
    anonymous HEAD against that name, where AWS (which has no such action) checks GetObject."""
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": ["s3:GetObject", "s3:HeadObject"],
        "Resource": f"arn:aws:s3:::{bucket}/{prefix}/*",
    }
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    s3.client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


@asynccontextmanager
async def running_stack(
    tmp_path: Path,
    moto: str,
    s3: RawS3,
    bucket: str,
    *,
    prefix: str,
    sites: str = "",
    t1: str = "",
    cache_control: str | None = None,
    log_accept: bool = False,
) -> AsyncIterator[Stack]:
    """A `Stack` on `bucket` (made public under `prefix`) and a mediaproxy serving it on
    127.0.0.1, trusting nginx's X-Forwarded-For. Its settings are site t1 (tests/serving.py,
    `t1` adds keys), the TOML `sites` and the storage; its access log lines end with the
    Accept header if `log_accept`. On exit every nginx started is stopped, then mediaproxy."""
    make_public(s3, bucket, prefix)
    toml = (
        '[server]\ntrusted_proxies = ["127.0.0.1/32"]\n'
        f'[storage]\nurl = "s3://{bucket}/{prefix}"\nendpoint_url = "{moto}"\n'
    )
    settings = make_settings(tmp_path, toml + textwrap.dedent(sites), site=t1)
    log: list[str] = []
    app = create_app(settings)
    runner = web.AppRunner(app, access_log_class=recorder(log, log_accept))
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        mediaproxy = f"http://127.0.0.1:{runner.addresses[0][1]}"
        async with ClientSession() as http:
            stack = Stack(
                bucket, prefix, s3, http, moto, app, mediaproxy, tmp_path, log, cache_control
            )
            try:
                yield stack
            finally:
                for nginx in stack.started:
                    nginx.stop()
    finally:
        await runner.cleanup()
