"""Servers the benchmarks run in their own processes, so client and server never share a GIL.

Every server binds 127.0.0.1 on a free port, is waited for until it answers, and is
stopped by the benchmark that started it (SIGTERM, then SIGKILL after a grace period),
always by its own pid. /proc gives each one's memory (VmRSS, VmHWM) and CPU time.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parent.parent
TEST_AWS = {
    # moto accepts anything; these keep every client off a developer's real credentials.
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
_AWS_DROP = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL")


def use_test_aws() -> None:
    """Point this process (and its children) at fake AWS credentials only."""
    os.environ.update(TEST_AWS)
    for name in _AWS_DROP:
        os.environ.pop(name, None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Proc:
    """A child process of ours; `stop()` ends it by pid."""

    def __init__(self, name: str, args: list[str], log: Path, env: dict[str, str] | None = None):
        self.name = name
        self.log_path = log
        self._log: IO[bytes] = log.open("wb")
        self.popen = subprocess.Popen(
            args,
            cwd=REPO,
            env=os.environ | (env or {}),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def status(self) -> dict[str, int]:
        """VmRSS, VmHWM and the like from /proc/PID/status, in kB."""
        values: dict[str, int] = {}
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                key, _, rest = line.partition(":")
                if rest.strip().endswith("kB"):
                    values[key] = int(rest.split()[0])
        return values

    def rss_mb(self) -> float:
        return self.status()["VmRSS"] / 1024

    def hwm_mb(self) -> float:
        return self.status()["VmHWM"] / 1024

    def reset_peak(self) -> None:
        """Start VmHWM afresh (Linux: 5 > /proc/PID/clear_refs)."""
        with open(f"/proc/{self.pid}/clear_refs", "w") as refs:
            refs.write("5")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process (all threads) so far."""
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_http(self, url: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                self._log.flush()
                last = self.log_path.read_text(errors="replace").strip().splitlines()[-5:]
                # The log's directory goes with the run: its last lines go in the error.
                raise RuntimeError(f"{self.name} exited early: " + " | ".join(last))
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status < 500:
                        return
            except urllib.error.HTTPError as error:
                if error.code < 500:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not answer {url} within {timeout}s")

    def stop(self, grace: float = 15.0) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()

    def __enter__(self) -> Proc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def python(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def mediaproxy(
    config: Path,
    logdir: Path,
    *,
    bench_routes: bool = False,
    access_log: bool = True,
    arena: bool = True,
    env: dict[str, str] | None = None,
) -> tuple[Proc, str]:
    """The real app (`mediaproxy serve` code path) in a child; returns it and its base URL.

    MALLOC_ARENA_MAX=2 as the Dockerfile sets it, unless `arena` is False.
    """
    port = free_port()
    args = ["--config", str(config), "--port", str(port)]
    args += ["--bench-routes"] if bench_routes else []
    args += [] if access_log else ["--no-access-log"]
    env = ({"MALLOC_ARENA_MAX": "2"} if arena else {}) | (env or {})
    proc = Proc("mediaproxy", python("bench.serve_app", *args), logdir / f"serve-{port}.log", env)
    base = f"http://127.0.0.1:{port}"
    _started(proc, f"{base}/healthz")
    return proc, base


def bare(body: Path, headers: dict[str, str], logdir: Path) -> tuple[Proc, str]:
    """A bare aiohttp handler on uvloop returning `body` with `headers`."""
    port = free_port()
    args = ["--port", str(port), "--body", str(body), "--headers", json.dumps(headers)]
    proc = Proc("bare aiohttp", python("bench.bare", *args), logdir / f"bare-{port}.log")
    base = f"http://127.0.0.1:{port}"
    _started(proc, f"{base}/healthz")
    return proc, base


def moto(logdir: Path) -> tuple[Proc, str]:
    """moto's ThreadedMotoServer in a child process; returns it and its endpoint URL."""
    port = free_port()
    proc = Proc("moto", python("bench.motoproc", str(port)), logdir / f"moto-{port}.log")
    endpoint = f"http://127.0.0.1:{port}"
    _started(proc, f"{endpoint}/")
    return proc, endpoint


def _started(proc: Proc, url: str) -> None:
    try:
        proc.wait_http(url)
    except BaseException:
        proc.stop()
        raise


def scrape(base: str, names: tuple[str, ...]) -> dict[str, float]:
    """Sum of the samples of each Prometheus metric in `names` from `base`/metrics."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
        text = response.read().decode()
    totals = dict.fromkeys(names, 0.0)
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        metric = line.split("{", 1)[0].split(" ", 1)[0]
        if metric in totals:
            totals[metric] += float(line.rsplit(" ", 1)[1])
    return totals


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@contextlib.contextmanager
def stopping(*procs: Proc) -> Any:
    try:
        yield
    finally:
        for proc in procs:
            proc.stop()
