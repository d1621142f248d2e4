"""Bucket events (SPEC §11): S3 event notifications → SQS → `mediaproxy worker`, and
`pregen --enqueue` sharing one pregen run between any number of workers.

    messages.py  S3 event JSON (direct, in SNS, ours from pregen) → Change records
    location.py  bucket keys in events ↔ storage keys (the storage URL's bucket/prefix)
    settle.py    one original's sizes made to match the original as stored now
    worker.py    the receive loop: bounded work in hand, visibility, ack, stop
    sqs.py       the SQS client and the calls made on it; connect.py opens it with storage
    enqueue.py   pregen's jobs as messages
    metrics.py   the worker's Prometheus metrics

In-process (tests, benchmarks):

    clients = await connect(settings, queue_url, max_connections=64)
    worker = Worker(clients.storage, clients.queue, settings, WorkerOptions(jobs=2))
    await worker.run()          # until worker.stop is set
"""

from bulk.events.connect import Clients, connect
from bulk.events.enqueue import enqueue
from bulk.events.location import Location
from bulk.events.messages import BadMessage, Change, Kind, parse_body, pregen_body
from bulk.events.metrics import WorkerMetrics
from bulk.events.settle import Outcome, Settler, Unsettled
from bulk.events.sqs import Queue, QueueError, Received, check_queue_url, open_queue
from bulk.events.worker import Worker, WorkerOptions

__all__ = [
    "BadMessage",
    "Change",
    "Clients",
    "Kind",
    "Location",
    "Outcome",
    "Queue",
    "QueueError",
    "Received",
    "Settler",
    "Unsettled",
    "Worker",
    "WorkerMetrics",
    "WorkerOptions",
    "check_queue_url",
    "connect",
    "enqueue",
    "open_queue",
    "parse_body",
    "pregen_body",
]
