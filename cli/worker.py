"""`mediaproxy worker`: render and delete sizes as S3 event notifications arrive (SPEC §11)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from typing import Any

import uvloop
from prometheus_client import start_http_server

from bulk.events import Clients, QueueError, Worker, WorkerMetrics, WorkerOptions, connect
from bulk.report import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from cli.common import Subparsers, add_command, port_number, positive_int, queue_url
from config import Settings
from layouts import Router

log = logging.getLogger("mediaproxy.worker")

DESCRIPTION = """\
Consume S3 event notifications (ObjectCreated:*, ObjectRemoved:*; direct or through SNS)
from an SQS queue, or messages from `pregen --enqueue`, and keep every configured size of
every original current: a created or replaced original gets all of its sizes rendered from
its new bytes and replaced; a removed one loses every size. Sizes, other keys and
non-image files are acknowledged without work. A message is deleted only once its work is
stored; one that fails (corrupt or too large original) returns after --retry-delay and,
past the queue's redrive policy, ends in its dead-letter queue.

The queue is reached with the standard AWS configuration: the credential chain, and the
endpoint from $AWS_ENDPOINT_URL_SQS or $AWS_ENDPOINT_URL (else the queue URL's own host
when it is not an AWS one, e.g. ElasticMQ). Storage is the config's, as for `serve`.

examples:
  mediaproxy worker --queue https://sqs.eu-west-1.amazonaws.com/123456789012/media-events
  mediaproxy worker --queue $QUEUE --jobs 4 --metrics-port 9100
  mediaproxy worker --queue $QUEUE --until-empty    drain a pregen --enqueue run, then exit

SIGTERM or Ctrl-C: stop receiving, finish and acknowledge the work in hand, exit 0; a
second one abandons it (exit 130; those messages come back after --visibility).
exit status: 0 stopped, 1 the queue could not be used at start, 2 usage or config error.
"""


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers, "worker", run, "keep sizes current from S3 event notifications", DESCRIPTION
    )
    parser.add_argument(
        "--queue",
        required=True,
        type=queue_url,
        metavar="SQS_URL",
        help="the queue's URL, e.g. https://sqs.eu-west-1.amazonaws.com/123456789012/media-events",
    )
    parser.add_argument(
        "--jobs",
        type=positive_int,
        default=0,
        metavar="N",
        help="render threads (default: one per CPU); 2N messages worked on at once, 4N in hand",
    )
    parser.add_argument(
        "--visibility",
        type=positive_int,
        default=WorkerOptions.visibility,
        metavar="S",
        help="seconds a message in hand stays hidden, extended while its work runs "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--retry-delay",
        type=int,
        default=WorkerOptions.retry_delay,
        metavar="S",
        help="seconds before a failed message is received again (default: %(default)s)",
    )
    parser.add_argument(
        "--wait",
        type=int,
        choices=range(21),
        default=WorkerOptions.wait,
        metavar="S",
        help="long-poll seconds per receive, 0-20 (default: %(default)s)",
    )
    parser.add_argument(
        "--until-empty",
        action="store_true",
        help="exit 0 once a receive finds the queue empty and no work is in hand",
    )
    parser.add_argument(
        "--metrics-port",
        type=port_number,
        metavar="P",
        help="serve Prometheus metrics on http://HOST:P/metrics (default: none)",
    )
    parser.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="H",
        help="address for --metrics-port (default: %(default)s; 0.0.0.0 for a pod)",
    )


def run(args: argparse.Namespace, settings: Settings, router: Router) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("pyvips").setLevel(logging.ERROR)
    options = WorkerOptions(
        jobs=args.jobs,
        visibility=args.visibility,
        retry_delay=max(0, args.retry_delay),
        wait=args.wait,
        until_empty=args.until_empty,
    )
    metrics = WorkerMetrics()
    server: Any = None
    if args.metrics_port is not None:
        try:
            server, _ = start_http_server(
                args.metrics_port, addr=args.metrics_host, registry=metrics.base.registry
            )
        except OSError as error:
            print(f"mediaproxy worker: --metrics-port: {error.strerror}", file=sys.stderr)
            return EXIT_USAGE
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(_main(settings, router, args.queue, options, metrics))
    finally:
        if server is not None:
            server.shutdown()


async def _main(
    settings: Settings, router: Router, url: str, options: WorkerOptions, metrics: WorkerMetrics
) -> int:
    try:
        clients = await connect(settings, url, max_connections=options.lanes * 10)
    except ValueError as error:
        print(f"mediaproxy worker: storage.url: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return await _work(clients, settings, router, url, options, metrics)
    finally:
        await clients.close()


async def _work(
    clients: Clients,
    settings: Settings,
    router: Router,
    url: str,
    options: WorkerOptions,
    metrics: WorkerMetrics,
) -> int:
    try:
        attributes = await clients.queue.attributes()
    except QueueError as error:
        print(f"mediaproxy worker: cannot use queue {url}: {error}", file=sys.stderr)
        return EXIT_FAILED
    if "RedrivePolicy" not in attributes:
        log.warning(
            "worker: %s has no redrive policy: an original that cannot be rendered is retried "
            "forever; give the queue a dead-letter queue (maxReceiveCount 5, say)",
            url,
        )
    worker = Worker(clients.storage, clients.queue, settings, options, metrics, router)
    task = asyncio.current_task()
    assert task is not None
    stopped: list[signal.Signals] = []

    def interrupt() -> None:
        if worker.stop.is_set():
            task.cancel()  # the second signal: abandon the work in hand
            return
        worker.stop.set()
        log.info("worker: stopping: finishing the work in hand (signal again to abandon it)")

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
                loop.add_signal_handler(signum, interrupt)
                stopped.append(signum)
    log.info(
        "worker: receiving from %s (%d render threads, storage %s)",
        url,
        options.workers,
        clients.storage.describe,
    )
    try:
        await worker.run()
    except asyncio.CancelledError:
        return EXIT_INTERRUPTED
    finally:
        for signum in stopped:
            loop.remove_signal_handler(signum)
    log.info("worker: stopped")
    return EXIT_OK
