"""The worker's Prometheus metrics, on the registry of a telemetry.Metrics.

Sharing that registry puts the worker's own figures next to the storage latency and
render metrics the rest of mediaproxy already records, on one `/metrics` page.

    mediaproxy_worker_messages_total{result}  received, processed (work stored, deleted
                                              from the queue), failed (left to come back)
    mediaproxy_worker_redelivered_total       messages received more than once
    mediaproxy_worker_records_total{outcome}  rendered, deleted, superseded, ignored, test
    mediaproxy_worker_event_to_stored_seconds from the event's time to every size stored
    mediaproxy_worker_queue_lag_seconds       how long the last received message waited
    mediaproxy_worker_queue_messages{state}   queue depth: visible, in_flight, delayed
    mediaproxy_worker_in_hand                 messages this worker holds now
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from telemetry import Metrics

# Event-to-stored spans queueing as well as rendering: seconds to many minutes.
_LATENCY_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600)


class WorkerMetrics:
    """The counters above, registered on `base.registry` (a new Metrics when none given)."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self.base = metrics or Metrics()
        registry = self.base.registry
        self.messages = Counter(
            "mediaproxy_worker_messages",
            "Queue messages received, processed (deleted after their work), failed (retried)",
            ["result"],
            registry=registry,
        )
        self.received = self.messages.labels("received")
        self.processed = self.messages.labels("processed")
        self.failed = self.messages.labels("failed")
        self.redelivered = Counter(
            "mediaproxy_worker_redelivered",
            "Messages received more than once (at-least-once delivery, or a retry)",
            registry=registry,
        )
        self.records = Counter(
            "mediaproxy_worker_records",
            "Event records by what the worker did with them",
            ["outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "mediaproxy_worker_event_to_stored_seconds",
            "From the event's time to all of its sizes stored (or deleted)",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.lag = Gauge(
            "mediaproxy_worker_queue_lag_seconds",
            "How long the most recently received message had waited in the queue",
            registry=registry,
        )
        self.depth = Gauge(
            "mediaproxy_worker_queue_messages",
            "Approximate messages in the queue (GetQueueAttributes)",
            ["state"],
            registry=registry,
        )
        self.in_hand = Gauge(
            "mediaproxy_worker_in_hand", "Messages this worker holds now", registry=registry
        )

    def sample_depth(self, attributes: dict[str, str]) -> None:
        """Set the depth gauges from a GetQueueAttributes answer."""
        for state, name in (
            ("visible", "ApproximateNumberOfMessages"),
            ("in_flight", "ApproximateNumberOfMessagesNotVisible"),
            ("delayed", "ApproximateNumberOfMessagesDelayed"),
        ):
            if name in attributes:
                self.depth.labels(state).set(int(attributes[name]))

    def count(self, outcome: str) -> float:
        """How many records ended with `outcome` so far (tests, benchmarks)."""
        value = self.base.registry.get_sample_value(
            "mediaproxy_worker_records_total", {"outcome": outcome}
        )
        return value or 0.0
