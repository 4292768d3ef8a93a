"""Serving the app: a waitress server that runs until told to stop, then drains (``serve``)."""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from typing import Any, Dict, Optional

from localtypes.errors import LocaltypesError, ModelStoreError
from localtypes.service.app import App, make_app
from localtypes.service.logs import configure_logging, log, log_event
from localtypes.service.replies import JSON_TYPE
from localtypes.settings import Settings

# SIGTERM: requests already received get this long to finish.
DRAIN_SECONDS = 5.0


class ServeError(LocaltypesError):
    """The service cannot start (for example, its port is taken)."""


class Service:
    """The app behind a bound waitress server: ``run`` until ``stop``, then drain and close."""

    def __init__(self, settings: Settings, app: Optional[App] = None) -> None:
        from waitress.server import create_server

        self.settings = settings
        self.app = app if app is not None else make_app(settings)
        self._map: Dict[int, Any] = {}
        self._stop = threading.Event()
        self.server = create_server(
            self.app,
            map=self._map,
            host=settings.host,
            port=settings.port,
            threads=settings.threads,
            ident="localtypes",
            # Bodies a little over our limit are read whole, so the app answers a clean JSON
            # 413; far larger ones get waitress's own 413 (JSON too, see _json_error_channel).
            max_request_body_size=2 * settings.max_body_bytes + (64 << 10),
            asyncore_use_poll=True,
            expose_tracebacks=False,
            clear_untrusted_proxy_headers=True,
        )
        self.server.channel_class = _json_error_channel()
        self.host = str(self.server.effective_host)
        self.port = int(self.server.effective_port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        """Ask ``run`` to drain and return (safe from signal handlers and other threads)."""
        self._stop.set()

    def run(self) -> None:
        from waitress import wasyncore

        log_event(log, logging.INFO, "listening", url=self.url, threads=self.settings.threads)
        try:
            while not self._stop.is_set() and self.app.failed is None:
                wasyncore.loop(timeout=0.2, map=self._map, use_poll=True, count=1)
            self._drain(wasyncore)
        finally:
            self.server.task_dispatcher.shutdown(timeout=1)
            wasyncore.close_all(self._map)
            self.app.close()
        log.info("stopped")

    def _drain(self, wasyncore: Any) -> None:
        """Stop accepting, let the requests already received finish, within DRAIN_SECONDS."""
        self.app.begin_shutdown()
        wasyncore.dispatcher.close(self.server)  # the listening socket only
        deadline = time.monotonic() + DRAIN_SECONDS
        while self._busy() and time.monotonic() < deadline:
            wasyncore.loop(timeout=0.05, map=self._map, use_poll=True, count=1)
        if self._busy():
            log.warning("stopping with requests still in progress")

    def _busy(self) -> bool:
        if self.app.in_flight:
            return True
        for channel in list(self._map.values()):
            if getattr(channel, "requests", None) or getattr(channel, "total_outbufs_len", 0):
                return True
        return False


def _json_error_channel() -> Any:
    """A waitress channel whose own error answers (bad HTTP, huge bodies) are JSON too."""
    from waitress.channel import HTTPChannel
    from waitress.task import ErrorTask

    class JsonErrorTask(ErrorTask):  # type: ignore[misc]  # waitress is untyped
        def execute(self) -> None:
            error = self.request.error
            body = json.dumps({"error": f"{error.reason}: {error.body}"}).encode("utf-8")
            self.status = f"{error.code} {error.reason}"
            self.response_headers.append(("Content-Type", JSON_TYPE))
            app = self.channel.server.application
            if isinstance(app, App):
                self.response_headers.extend(app.common_headers)
                app.metrics.observe_request("other", int(error.code), 0.0)
            self.set_close_on_finish()
            self.content_length = len(body)
            self.write(body)

    class JsonErrorChannel(HTTPChannel):  # type: ignore[misc]
        error_task_class = JsonErrorTask

    return JsonErrorChannel


def serve(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT, then drain and return.

    Raises ``ModelStoreError`` when the model store is missing or damaged or the model
    cannot be loaded, and ``ServeError`` when the address cannot be bound.
    """
    configure_logging()
    try:
        service = Service(settings)
    except OSError as exc:  # the address is taken, or not ours to bind
        raise ServeError(f"cannot listen on {settings.host}:{settings.port}: {exc}") from None
    if threading.current_thread() is threading.main_thread():
        # Explicit handlers: as PID 1 in a container, SIGTERM's default action is ignored.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda number, frame: service.stop())
    service.run()
    if service.app.failed is not None:
        raise ModelStoreError(service.app.failed)
