"""Prometheus metrics of the HTTP service, all named ``localtypes_*``.

Every label has a bounded set of values (endpoints from the route table, HTTP status
codes, the model's identity), so a scrape stays small whatever clients send.
"""

from __future__ import annotations

import functools
from typing import Tuple

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

# Request latencies: a 300-line file takes tens of milliseconds, a huge one seconds.
_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10)
_SLOT_BUCKETS = (0, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


class Metrics:
    """The service's metrics, in a registry of their own (one per app, so tests can make many)."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=registry)  # process_resident_memory_bytes, cpu seconds
        counter = functools.partial(Counter, registry=registry)
        gauge = functools.partial(Gauge, registry=registry)
        latency = functools.partial(Histogram, registry=registry, buckets=_LATENCY_BUCKETS)
        self.requests = counter(
            "localtypes_requests",
            "HTTP requests answered, by endpoint and status code.",
            ["endpoint", "status"],
        )
        self.request_duration = latency(
            "localtypes_request_duration_seconds",
            "Time from receiving a request to its response, by endpoint.",
            ["endpoint"],
        )
        self.in_flight = gauge(
            "localtypes_in_flight_requests",
            "Requests being handled now (waiting for the model included).",
        )
        self.inference_in_flight = gauge(
            "localtypes_inference_in_flight",
            "Requests holding one of the max_concurrent_inference slots now.",
        )
        self.inference_duration = latency(
            "localtypes_inference_duration_seconds",
            "Time of one model call (encode, onnxruntime, decode) for one source file.",
        )
        self.queue_wait = latency(
            "localtypes_queue_wait_seconds", "Time a request waited for an inference slot."
        )
        self.slots = Histogram(
            "localtypes_slots_per_request",
            "Slots (parameters, returns, variables) in the source of one request.",
            ["endpoint"],
            buckets=_SLOT_BUCKETS,
            registry=registry,
        )
        self.rejected = counter(
            "localtypes_rejected",
            "Requests refused before or during inference, by reason.",
            ["reason"],
        )
        self.ready = gauge(
            "localtypes_ready",
            "1 once the model is loaded and warmed up, 0 before and while shutting down.",
        )
        self.model_info = gauge(
            "localtypes_model_info",
            "The model store being served (always 1).",
            ["name", "version", "sha256"],
        )

    def set_model(self, name: str, version: str, sha256: str) -> None:
        self.model_info.labels(name=name, version=version, sha256=sha256).set(1)

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint=endpoint, status=str(status)).inc()
        self.request_duration.labels(endpoint=endpoint).observe(seconds)

    def render(self) -> Tuple[bytes, str]:
        """The text exposition format, and its content type."""
        return generate_latest(self.registry), str(CONTENT_TYPE_LATEST)
