"""Prometheus metrics shared by the server, the renderer and the bulk tools; no HTTP here."""

from telemetry.metrics import Metrics
from telemetry.storage import InstrumentedStorage

__all__ = ["InstrumentedStorage", "Metrics"]
