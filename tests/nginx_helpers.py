"""Running the real nginx binary on loopback with a template from nginx/, for the tests.

Templates hold `${UPPER_CASE}` placeholders, rendered here the way `envsubst` with an
explicit variable list renders them (nginx's own `$variables` are lower case and stay).
Each nginx runs in the foreground (`daemon off`) as a child of the test, with its pid,
logs, temp files and cache in one directory, and its access log says which upstream
answered each request: `-` means nginx answered by itself and nothing was proxied.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

TEMPLATES = Path(__file__).resolve().parent.parent / "nginx"
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
START_TIMEOUT = 10.0

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
