"""Helpers for the service tests: the real model, a real waitress server, plain HTTP."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import http.client
import json
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterator, Optional
from urllib.parse import urlsplit

import pytest

from localtypes.errors import ModelStoreError
from localtypes.model.predictor import OnnxPredictor, Predictor
from localtypes.model.store import load_store
from localtypes.service.app import make_app
from localtypes.service.hosting import Service
from localtypes.settings import Settings

LOOPBACK = "127.0.0.1"


@functools.cache
def _predictor() -> Predictor:
    return OnnxPredictor(load_store())


def real_predictor() -> Predictor:
    """The real model store's predictor, loaded once for all tests (skips when absent)."""
    try:
        return _predictor()
    except ModelStoreError as exc:
        pytest.skip(f"NO USABLE MODEL STORE, service tests NOT run: {exc}")


def test_settings(**overrides: Any) -> Settings:
    """Loopback, an ephemeral port, and the given limits. The memory limit is set (and
    roomy), so that a cgroup limit of the machine running the tests changes nothing."""
    base = Settings(host=LOOPBACK, port=0, memory_limit=64 << 30)
    return dataclasses.replace(base, **overrides)


test_settings.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


@dataclass
class Answer:
    status: int
    headers: Dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Running:
    service: Service
    url: str

    def request(self, path: str, body: Optional[bytes] = None, **options: Any) -> Answer:
        """``request`` on this server's ``path``; ``options`` as there."""
        return request(self.url + path, body, **options)


def request(
    url: str,
    body: Optional[bytes] = None,
    *,
    method: Optional[str] = None,
    content_type: Optional[str] = None,
    headers: Optional[Dict[str, str]] = None,
    timeout: float = 60,
) -> Answer:
    """One HTTP request on a fresh connection; any status is returned, not raised."""
    parts = urlsplit(url)
    assert parts.hostname == LOOPBACK, "service tests only talk to 127.0.0.1"
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    sent = dict(headers or {})
    if content_type is not None:
        sent["Content-Type"] = content_type
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request(method or ("POST" if body is not None else "GET"), target, body, sent)
        response = connection.getresponse()
        return Answer(response.status, dict(response.getheaders()), response.read())
    finally:
        connection.close()


@contextlib.contextmanager
def running(settings: Settings, predictor: Optional[Predictor] = None) -> Iterator[Running]:
    """A real waitress server in a thread, ready (model loaded, warmed up) when yielded."""
    app = make_app(settings, predictor if predictor is not None else real_predictor())
    service = Service(settings, app)
    thread = threading.Thread(target=service.run, name="test-server", daemon=True)
    thread.start()
    try:
        assert app.wait_ready(60), app.failed
        yield Running(service, service.url)
    finally:
        service.stop()
        thread.join(15)
        assert not thread.is_alive(), "the server did not stop"


def metric(text: str, metric_name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text (0 when absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        sample, _, value = line.rpartition(" ")
        name, _, rest = sample.partition("{")
        got = ",".join(sorted(part for part in rest.rstrip("}").split(",") if part))
        if name == metric_name and got == wanted:
            return float(value)
    return 0.0


def wait_until(condition: Any, timeout: float = 10, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])
