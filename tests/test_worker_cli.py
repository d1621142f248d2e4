"""The command line of the bucket-event worker: `mediaproxy worker` as a process (SIGTERM,
--metrics-port, the queue endpoint from $AWS_ENDPOINT_URL_SQS) and in-process
(--until-empty, the endpoint from the queue URL), and `mediaproxy pregen --enqueue`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bulk.events import Kind, parse_body, pregen_body
from cli.main import main
from config import Settings
from tests import images
from tests.conftest import RawS3
from tests.serving import free_port
from tests.workerkit import (
    GUARD,
    PREFIX,
    T1_SIZES,
    Sqs,
    expected,
    settings,
    size_keys,
    sqs,
    write_settings,
)

REPO = Path(__file__).resolve().parent.parent


def wait(check: Callable[[], bool], what: str) -> None:
    """Poll state held by other processes until `check` holds; fail after GUARD seconds."""
    deadline = time.monotonic() + GUARD
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"still waiting after {GUARD}s for {what}")
        time.sleep(0.05)


def scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
            return str(answer.read().decode())
    except OSError:
        return None


def present(s3: RawS3, bucket: str, keys: list[str]) -> dict[str, bytes]:
    listed = set(s3.list(bucket, PREFIX))
    return {key: s3.get(bucket, key)[0] for key in keys if key in listed}


def test_sigterm_finishes_the_work_in_hand_and_exits_0(
    tmp_path: Path,
    settings: Settings,
    sqs: Sqs,
    s3_raw: RawS3,
    s3_bucket: str,
    moto_endpoint: str,
) -> None:
    queues = sqs.create()
    key = "t1/full/1/3/big.jpg"
    data = images.jpeg(2400, 1800)  # a few hundred ms of rendering: likely in hand at SIGTERM
    port = free_port()
    command = [sys.executable, "-m", "cli.main", "--config", str(tmp_path / "mediaproxy.toml")]
    command += ["worker", "--queue", queues.url, "--jobs", "1", "--wait", "1"]
    command += ["--metrics-port", str(port)]
    env = os.environ | {"AWS_ENDPOINT_URL_SQS": moto_endpoint}  # the standard variable
    proc = subprocess.Popen(
        command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait(lambda: scrape(port) is not None, "the worker's metrics endpoint")
        s3_raw.put(s3_bucket, PREFIX + key, data)
        sqs.send(queues.url, pregen_body(s3_bucket, PREFIX + key, None, datetime.now(UTC)))
        keys = size_keys(settings, key)
        wait(
            lambda: sqs.in_flight(queues.url) > 0 or len(present(s3_raw, s3_bucket, keys)) == 3,
            "the message in hand",
        )
        proc.send_signal(signal.SIGTERM)
        _, log = proc.communicate(timeout=GUARD)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, log
    assert "stopping: finishing the work in hand" in log
    assert present(s3_raw, s3_bucket, keys) == expected(settings, key, data)
    assert sqs.depth(queues.url) == 0  # acknowledged before exiting


def test_metrics_port_serves_the_worker_metrics(
    tmp_path: Path, sqs: Sqs, moto_endpoint: str, s3_bucket: str
) -> None:
    queues = sqs.create()
    port = free_port()
    command = [sys.executable, "-m", "cli.main", "--config", str(tmp_path / "mediaproxy.toml")]
    command += ["worker", "--queue", queues.url, "--wait", "1", "--metrics-port", str(port)]
    write_settings(tmp_path, s3_bucket, moto_endpoint)
    sqs.send(queues.url, {"Service": "Amazon S3", "Event": "s3:TestEvent"})
    proc = subprocess.Popen(command, cwd=REPO, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait(lambda: sqs.depth(queues.url) == 0, "the test event acknowledged")
        text = scrape(port) or ""
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=GUARD)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert 'mediaproxy_worker_records_total{outcome="test"} 1.0' in text
    assert 'mediaproxy_worker_messages_total{result="processed"} 1.0' in text
    assert "mediaproxy_worker_event_to_stored_seconds_bucket" in text
    assert proc.returncode == 0


def test_pregen_enqueue_sends_one_message_per_original_needing_work(
    tmp_path: Path,
    settings: Settings,
    sqs: Sqs,
    s3_raw: RawS3,
    s3_bucket: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    queues = sqs.create()
    config = str(tmp_path / "mediaproxy.toml")
    data, marker = images.jpeg(320, 240), images.jpeg(8, 8)
    originals = {
        "none": "t1/full/1/3/none.jpg",
        "all": "t1/full/1/3/all.jpg",
        "some": "t1/full/1/3/some.jpg",
        "m2": "media/catalog/product/a/b/m2.jpg",
    }
    for key in originals.values():
        s3_raw.put(s3_bucket, PREFIX + key, data)
    for key in size_keys(settings, originals["all"]):
        s3_raw.put(s3_bucket, key, marker)
    s3_raw.put(s3_bucket, PREFIX + "t1/300x/1/3/some.jpg", marker)

    assert main(["--config", config, "pregen", "--enqueue", queues.url]) == 0
    assert "pregen done: enqueued 3 of 3 originals" in capsys.readouterr().err
    sent = [change for body in sqs.take_all(queues.url) for change in parse_body(body)]
    by_key = {change.key: change for change in sent}
    assert {change.kind for change in sent} == {Kind.CREATED}
    assert set(by_key) == {PREFIX + originals[name] for name in ("none", "some", "m2")}
    assert by_key[PREFIX + originals["none"]].sizes is None  # every size
    assert by_key[PREFIX + originals["some"]].sizes == T1_SIZES[1:]  # only the missing ones

    for change in sent:  # again, for the worker
        sqs.send(queues.url, pregen_body(s3_bucket, change.key, change.sizes, datetime.now(UTC)))
    command = ["--config", config, "worker", "--queue", queues.url, "--until-empty"]
    assert main([*command, "--wait", "1", "--jobs", "1"]) == 0
    assert sqs.depth(queues.url) == 0
    for name in ("none", "m2"):
        want = expected(settings, originals[name], data)
        assert present(s3_raw, s3_bucket, list(want)) == want
    made = expected(settings, originals["some"], data)
    assert s3_raw.get(s3_bucket, PREFIX + "t1/300x/1/3/some.jpg")[0] == marker  # not redone
    made.pop(PREFIX + "t1/300x/1/3/some.jpg")
    assert present(s3_raw, s3_bucket, list(made)) == made


def test_a_queue_that_cannot_be_used_is_reported(
    tmp_path: Path, settings: Settings, sqs: Sqs, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = sqs.create().url + "-missing"
    config = str(tmp_path / "mediaproxy.toml")
    assert main(["--config", config, "worker", "--queue", missing]) == 1
    assert "cannot use queue" in capsys.readouterr().err
    assert main(["--config", config, "pregen", "--enqueue", missing]) == 2
    assert f"--enqueue {missing}" in capsys.readouterr().err


@pytest.mark.parametrize("port", ["99999", "70000", "65536", "-1", "0", "9100x"])
def test_a_metrics_port_out_of_range_is_a_usage_error(
    port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    command = ["worker", "--queue", "http://127.0.0.1:9324/000000000000/q"]
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--metrics-port", port])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --metrics-port: expected a port number 1-65535, got {port!r}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("command", "option"),
    [(["worker", "--queue"], "--queue"), (["pregen", "--enqueue"], "--enqueue")],
)
@pytest.mark.parametrize("url", ["notaurl", "", "sqs://q", "https:///123/q", "http://h:99999/q"])
def test_a_queue_url_that_is_no_url_is_a_usage_error_naming_the_option(
    command: list[str], option: str, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*command, url])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: {url!r} is not a queue URL; give the URL" in err
    assert "https://sqs.eu-west-1.amazonaws.com/123456789012/media-events" in err
    assert "storage.url" not in err
