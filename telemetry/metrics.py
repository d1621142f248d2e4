"""Prometheus metrics, one registry per app so tests and several apps never collide."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # `_created` gauges: noise
        self.registry = CollectorRegistry()
        r = self.registry
        # Counted on every request: plain ints, read at scrape time (see LoopCounter).
        self.requests = LoopCounter(
            "mediaproxy_requests", "HTTP requests by method and status", ("method", "status")
        )
        self.cache = LoopCounter("mediaproxy_cache", "Where reads were answered from", ("result",))
        r.register(self.requests)
        r.register(self.cache)
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

        self.memory_hits = self.cache.labels("memory")
        self.storage_hits = self.cache.labels("storage")
        self.misses = self.cache.labels("miss")

    def count_request(self, method: str, status: int) -> None:
        method = method if method in _METHODS else "other"  # clients may send any token
        self.requests.counts[method, status] += 1

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class LoopCounter(Collector):
    """A labelled counter kept as plain ints, for counts made on the event loop only.

    A prometheus_client child takes a lock on every `inc()`; on a memory hit, where the
    whole request costs ~60 µs of Python, the two counters it bumps measurably cut the
    request rate. Here an increment is one dict update; the family is built at scrape time.
    """

    def __init__(self, name: str, documentation: str, labels: tuple[str, ...]) -> None:
        self.name, self.documentation, self.label_names = name, documentation, labels
        self.counts: Tally[tuple[str | int, ...]] = Tally()  # values made str when scraped

    def labels(self, *values: str) -> BoundCount:
        return BoundCount(self.counts, values)

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.label_names)
        counted = list(self.counts.items())  # one C-level copy: safe from a scrape thread
        for values, count in sorted((tuple(map(str, k)), n) for k, n in counted):
            family.add_metric(values, count)
        yield family


class BoundCount:
    """One label set of a LoopCounter, bound once so the hot path skips the lookup."""

    __slots__ = ("_counts", "_values")

    def __init__(self, counts: Tally[tuple[str | int, ...]], values: tuple[str, ...]) -> None:
        self._counts, self._values = counts, values
        counts[values] += 0  # listed at zero from the start, as a prometheus child is

    def inc(self) -> None:
        self._counts[self._values] += 1
