"""Prometheus metrics of the HTTP service, all named ``localtypes_*``.

Every label has a bounded set of values (endpoints from the route table, HTTP status
codes, the model's identity), so a scrape stays small whatever clients send.
"""

from __future__ import annotations

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
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        ProcessCollector(registry=registry)  # process_resident_memory_bytes, cpu seconds
        self.requests = Counter(
            "localtypes_requests",
            "HTTP requests answered, by endpoint and status code.",
            ["endpoint", "status"],
            registry=registry,
        )
        self.request_duration = Histogram(
            "localtypes_request_duration_seconds",
            "Time from receiving a request to its response, by endpoint.",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "localtypes_in_flight_requests",
            "Requests being handled now (waiting for the model included).",
            registry=registry,
        )
        self.inference_in_flight = Gauge(
            "localtypes_inference_in_flight",
            "Requests holding one of the max_concurrent_inference slots now.",
            registry=registry,
        )
        self.inference_duration = Histogram(
            "localtypes_inference_duration_seconds",
            "Time of one model call (encode, onnxruntime, decode) for one source file.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.queue_wait = Histogram(
            "localtypes_queue_wait_seconds",
            "Time a request waited for an inference slot.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.slots = Histogram(
            "localtypes_slots_per_request",
            "Slots (parameters, returns, variables) in the source of one request.",
            ["endpoint"],
            buckets=_SLOT_BUCKETS,
            registry=registry,
        )
        self.rejected = Counter(
            "localtypes_rejected",
            "Requests refused before or during inference, by reason.",
            ["reason"],
            registry=registry,
        )
        self.ready = Gauge(
            "localtypes_ready",
            "1 once the model is loaded and warmed up, 0 before and while shutting down.",
            registry=registry,
        )
        self.model_info = Gauge(
            "localtypes_model_info",
            "The model store being served (always 1).",
            ["name", "version", "sha256"],
            registry=registry,
        )

    def set_model(self, name: str, version: str, sha256: str) -> None:
        self.model_info.labels(name=name, version=version, sha256=sha256).set(1)

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint=endpoint, status=str(status)).inc()
        self.request_duration.labels(endpoint=endpoint).observe(seconds)

    def render(self) -> Tuple[bytes, str]:
        """The text exposition format, and its content type."""
        return generate_latest(self.registry), str(CONTENT_TYPE_LATEST)
