"""Prometheus metrics, one registry per app so tests and several apps never collide."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # `_created` gauges: noise
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "mediaproxy_requests",
            "HTTP requests by method and status",
            ["method", "status"],
            registry=r,
        )
        self.cache = Counter(
            "mediaproxy_cache", "Where reads were answered from", ["result"], registry=r
        )
        self.coalesced = Counter(
            "mediaproxy_coalesced", "Requests that joined a render already under way", registry=r
        )
        self.renders = Counter(
            "mediaproxy_renders", "Render jobs run (one decode pass per original)", registry=r
        )
        self.rendered_sizes = Counter(
            "mediaproxy_rendered_sizes", "Resized images produced", registry=r
        )
        self.resize_seconds = Histogram(
            "mediaproxy_resize_seconds",
            "Time in libvips per render job",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.storage_seconds = Histogram(
            "mediaproxy_storage_seconds",
            "Storage call latency",
            ["op"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.storage_errors = Counter(
            "mediaproxy_storage_errors", "Storage calls that failed", ["op"], registry=r
        )
        self.store_errors = Counter(
            "mediaproxy_store_errors", "Rendered images that could not be stored back", registry=r
        )
        self.queue_depth = Gauge(
            "mediaproxy_resize_queue_depth", "Render jobs running or waiting", registry=r
        )
        self.busy = Counter(
            "mediaproxy_busy_rejections", "Requests refused with 503: queue full", registry=r
        )
        self.dropped_renders = Counter(
            "mediaproxy_dropped_renders",
            "Queued renders skipped because every request waiting for them had gone",
            registry=r,
        )
        self.stale_renders = Counter(
            "mediaproxy_stale_renders",
            "Renders redone because their original was replaced or deleted meanwhile",
            registry=r,
        )
        self.stale_stores = Counter(
            "mediaproxy_stale_stores",
            "Stored sizes deleted again because their original changed before they landed",
            registry=r,
        )

        # Label lookups cost microseconds each; the hot path uses these bound children.
        self.memory_hits = self.cache.labels("memory")
        self.storage_hits = self.cache.labels("storage")
        self.misses = self.cache.labels("miss")
        self._request_children: dict[tuple[str, int], Counter] = {}

    def count_request(self, method: str, status: int) -> None:
        method = method if method in _METHODS else "other"  # clients may send any token
        child = self._request_children.get((method, status))
        if child is None:
            child = self.requests.labels(method, str(status))
            self._request_children[(method, status)] = child
        child.inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
