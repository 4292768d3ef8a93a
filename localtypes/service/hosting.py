"""Serving the app: a waitress server that runs until told to stop, then drains (``serve``).

What the server does beyond waitress's defaults, and why:

- **Connections.** Up to ``CONNECTION_LIMIT`` at once (fewer where the open-file limit is
  lower). At the limit, a waiting connection takes the place of the longest-idle one (no
  request in progress and no part of one received): idle keep-alive sockets can never lock
  new clients, probes included, out.
- **Timeouts.** A request's headers must arrive within ``HEADER_TIMEOUT`` of its first byte
  and the whole request within ``REQUEST_READ_TIMEOUT`` (slow senders get a JSON 408); a
  connection with nothing in progress is closed after ``IDLE_TIMEOUT``.
- **Refusals.** Every error waitress answers by itself (413, 400 for malformed HTTP, 431,
  501, 408) is the app's JSON, with its headers, counted in the metrics. A body over the
  limit is refused once its headers arrive (no ``100 Continue``), and when the server
  closes a connection it half-closes it and reads what the client still sends (up to
  ``LINGER_BYTES`` or ``LINGER_SECONDS``) before closing it: a client that writes its
  whole body before reading gets the 413, not a connection reset.
- **Stopping.** ``stop`` (SIGTERM, SIGINT) makes the app report not ready, closes the
  listening socket, answers every request still arriving with ``Connection: close``,
  closes idle connections after ``DRAIN_IDLE_GRACE``, and waits up to ``DRAIN_SECONDS``
  for requests in progress. The model-loading thread and the workers are joined before
  ``run`` returns, so the process never exits inside onnxruntime.
"""

from __future__ import annotations

import logging
import resource
import select
import signal
import socket
import threading
import time
from typing import Any, Dict, List, Optional

from localtypes.errors import LocaltypesError, ModelStoreError
from localtypes.service.app import App
from localtypes.service.logs import access_log, configure_logging, log, log_event
from localtypes.service.replies import HTTPError, error_reply
from localtypes.service.requests import body_too_large, request_id
from localtypes.settings import Settings

# SIGTERM: requests already received get this long to finish.
DRAIN_SECONDS = 5.0
# While draining, a connection with nothing in progress is closed after this long: time for
# a keep-alive client that just got an answer to send its next request (answered, with
# Connection: close) instead of racing the close.
DRAIN_IDLE_GRACE = 0.5
CONNECTION_LIMIT = 1000
# File descriptors kept for everything but client connections (model, logs, the listener).
RESERVED_FDS = 64
HEADER_TIMEOUT = 10.0
REQUEST_READ_TIMEOUT = 30.0
# Longer than the usual idle timeout of a proxy or load balancer in front (60 s), so the
# proxy, not the server, closes an idle upstream connection.
IDLE_TIMEOUT = 75
LINGER_SECONDS = 5.0
LINGER_BYTES = 64 << 20
MAX_HEADER_BYTES = 64 << 10
# How often connections are checked against the timeouts.
CHECK_INTERVAL = 0.5


class ServeError(LocaltypesError):
    """The service cannot start (for example, its port is taken)."""


class Service:
    """The app behind a bound waitress server: ``run`` until ``stop``, then drain and close.

    Binds first, then starts loading the model: a server that cannot listen never starts
    onnxruntime. Raises ``ServeError`` when the address cannot be bound or is not valid.
    """

    def __init__(
        self,
        settings: Settings,
        app: Optional[App] = None,
        stop_event: Optional[threading.Event] = None,
    ) -> None:
        from waitress.server import create_server

        self.settings = settings
        self.app = app if app is not None else App(settings, start=False)
        self._map: Dict[int, Any] = {}
        self._stop = stop_event if stop_event is not None else threading.Event()
        self.draining = False
        self.connection_limit = connection_limit()
        try:
            self.server = create_server(
                self.app,
                map=self._map,
                host=settings.host,
                port=settings.port,
                threads=settings.threads,
                ident="localtypes",
                # An upper bound; the app's own limit (planned to fit in memory, never more
                # than this) is applied by the channel as soon as the headers arrive.
                max_request_body_size=settings.max_body_bytes + 1,
                # Bodies stay in memory (planned for); none is spilled to /tmp.
                inbuf_overflow=settings.max_body_bytes + 1,
                max_request_header_size=MAX_HEADER_BYTES,
                connection_limit=self.connection_limit,
                channel_timeout=IDLE_TIMEOUT,
                cleanup_interval=3600,  # waitress's own sweep: ours (_check) replaces it
                asyncore_use_poll=True,
                expose_tracebacks=False,
                clear_untrusted_proxy_headers=True,
            )
        except (OSError, ValueError) as exc:  # taken, not ours, or not an address at all
            self.app.close()
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ServeError(
                f"cannot listen on {settings.host}:{settings.port}: {reason}"
            ) from None
        self.server.channel_class = _channel_class(self)
        self.host = str(self.server.effective_host)
        self.port = int(self.server.effective_port)
        self._next_check = 0.0
        self.app.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        """Ask ``run`` to drain and return (safe from signal handlers and other threads)."""
        self._stop.set()

    def run(self) -> None:
        from waitress import wasyncore

        log_event(log, logging.INFO, "listening", url=self.url, threads=self.settings.threads,
                  connection_limit=self.connection_limit)  # fmt: skip
        try:
            while not self._stop.is_set() and self.app.failed is None:
                self._step(wasyncore, 0.2)
            self._drain(wasyncore)
        finally:
            self.server.task_dispatcher.shutdown(timeout=1)
            wasyncore.close_all(self._map)
            self.app.close()
        log.info("stopped")

    def _step(self, wasyncore: Any, timeout: float) -> None:
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + CHECK_INTERVAL
            self._check(now)
        if self.server.accepting and len(self._map) >= self.connection_limit:
            self._make_room()
        wasyncore.loop(timeout=timeout, map=self._map, use_poll=True, count=1)

    def _channels(self) -> List[Any]:
        return [c for c in list(self._map.values()) if isinstance(c, self.server.channel_class)]

    def _check(self, now: float) -> None:
        """Time out slow requests, idle and lingering connections."""
        idle_before = time.time() - IDLE_TIMEOUT
        for channel in self._channels():
            if channel.lingering:
                if now >= channel.linger_until:
                    channel.close_now()
                continue
            partial = channel.request
            if partial is not None and not partial.completed:
                limit = REQUEST_READ_TIMEOUT if partial.headers_finished else HEADER_TIMEOUT
                if now - partial.started > limit:
                    channel.refuse_slow_request(limit)
            elif not channel.requests and channel.last_activity < idle_before:
                channel.will_close = True

    def _make_room(self) -> None:
        """At the connection limit with a connection waiting: close the longest-idle one."""
        try:
            waiting, _, _ = select.select([self.server.socket], [], [], 0)
        except (OSError, ValueError):
            return
        if not waiting:
            return
        idle = [c for c in self._channels() if c.lingering or c.is_idle()]
        if idle:
            # Lingering ones first: they have had their answer.
            min(idle, key=lambda c: (not c.lingering, c.last_activity)).close_now()

    def _drain(self, wasyncore: Any) -> None:
        """Stop accepting, let the requests already received finish, within DRAIN_SECONDS."""
        self.draining = True
        self.app.begin_shutdown()
        wasyncore.dispatcher.close(self.server)  # the listening socket only
        start = time.time()
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            now = time.time()
            open_channels = self._channels()
            for channel in open_channels:
                quiet_since = max(start, channel.last_activity)
                if channel.is_idle() and now - quiet_since >= DRAIN_IDLE_GRACE:
                    channel.close_now()
            if not self._channels() and not self.app.in_flight:
                return
            self._step(wasyncore, 0.05)
        if self.app.in_flight or any(not c.lingering for c in self._channels()):
            log.warning("stopping with requests still in progress")

    @property
    def max_body_bytes(self) -> int:
        return self.app.max_body_bytes


def connection_limit() -> int:
    """``CONNECTION_LIMIT``, or fewer where the open-file limit leaves less room."""
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):
        return CONNECTION_LIMIT
    if soft == resource.RLIM_INFINITY:
        return CONNECTION_LIMIT
    return max(16, min(CONNECTION_LIMIT, soft - RESERVED_FDS))


def raise_open_file_limit() -> None:
    """Let the process have a file descriptor per connection, where the hard limit allows."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = CONNECTION_LIMIT + RESERVED_FDS
        if soft != resource.RLIM_INFINITY and soft < wanted:
            ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
    except (OSError, ValueError):
        pass


def _channel_class(service: Service) -> Any:
    """The waitress channel of this service: see the module's docstring."""
    from waitress.channel import HTTPChannel
    from waitress.parser import HTTPRequestParser
    from waitress.task import ErrorTask, WSGITask
    from waitress.utilities import Error, RequestEntityTooLarge

    class Refused(Error):  # type: ignore[misc]  # waitress is untyped
        """An error answer the app words: ``http`` is the app's ``HTTPError``."""

        def __init__(self, http: HTTPError) -> None:
            super().__init__(http.message)
            self.http = http
            self.code = http.status
            self.reason = "Refused"

    class Parser(HTTPRequestParser):  # type: ignore[misc]
        error: Any = None  # as in waitress (untyped): declared for the type checker

        def __init__(self, adj: Any) -> None:
            super().__init__(adj)
            self.started = time.monotonic()

        def received(self, data: bytes) -> int:
            consumed = int(super().received(data))
            if isinstance(self.error, RequestEntityTooLarge):  # over waitress's own bound
                length = None if self.chunked else self.content_length
                self.error = Refused(body_too_large(length, service.max_body_bytes))
            if self.error is None and self.headers_finished:
                limit = service.max_body_bytes
                if not self.chunked and self.content_length > limit:
                    self.error = Refused(body_too_large(self.content_length, limit))
                elif self.chunked and self.body_bytes_received > limit:
                    self.error = Refused(body_too_large(None, limit))
                if self.error is not None:
                    self.completed = True
            if self.error is not None:
                # Refused (here or by waitress): no "100 Continue", and what follows in
                # this read is the refused body, never parsed as a next request.
                self.expect_continue = False
                return len(data)
            return consumed

    class Task(WSGITask):  # type: ignore[misc]
        def build_response_header(self) -> bytes:
            if service.draining:
                self.set_close_on_finish()  # "Connection: close" while stopping
            return bytes(super().build_response_header())

    class JsonErrorTask(ErrorTask):  # type: ignore[misc]
        """waitress's own refusals, answered as the app answers errors."""

        def execute(self) -> None:
            app = service.app
            error = self.request.error
            status = int(error.code)
            if isinstance(error, Refused):
                http = error.http
            elif status == 413:  # a chunked body over waitress's bound
                http = body_too_large(None, service.max_body_bytes)
            else:
                http = HTTPError(status, f"{error.reason}: {error.body}")
            reply = error_reply(http)
            headers = self.request.headers
            rid = request_id({"HTTP_X_REQUEST_ID": headers.get("X_REQUEST_ID")})
            path = str(getattr(self.request, "path", "") or "")
            self.status = f"{status} {error.reason if status != 413 else 'Content Too Large'}"
            self.response_headers.append(("Content-Type", reply.content_type))
            self.response_headers.append(("X-Request-Id", rid))
            self.response_headers.extend(app.common_headers)
            self.response_headers.extend(reply.headers)
            self.set_close_on_finish()
            self.content_length = len(reply.body)
            # Counted before the answer leaves: a client that reads /metrics as soon as it
            # has its answer must find it counted (a CI run once did not).
            app.metrics.observe_request(app.endpoint(path), status, 0.0)
            if app.settings.access_log:
                log_event(access_log, logging.INFO, "request", request_id=rid,
                          method=str(getattr(self.request, "command", "") or "")[:20],
                          path=path[:200], status=status, duration_ms=0.0,
                          bytes_in=int(self.request.content_length or 0),
                          bytes_out=len(reply.body), remote=self.channel.addr[0])  # fmt: skip
            self.write(reply.body)

    class Channel(HTTPChannel):  # type: ignore[misc]
        task_class = Task
        error_task_class = JsonErrorTask
        parser_class = Parser

        request: Any = None  # as in waitress (untyped): declared for the type checker
        lingering = False
        linger_until = 0.0
        discarded = 0
        _server_closing = False

        def is_idle(self) -> bool:
            """Nothing in progress: no request queued or running, none being received, no
            answer being sent."""
            return (
                not self.lingering
                and not self.requests
                and self.request is None
                and not self.total_outbufs_len
            )

        def close_now(self) -> None:
            """Close without lingering."""
            HTTPChannel.handle_close(self)

        def refuse_slow_request(self, limit: float) -> None:
            """Answer the request being received 408 (it took longer than ``limit``)."""
            with self.requests_lock:
                request = self.request
                if request is None or self.will_close or self.close_when_flushed:
                    return
                part = "headers" if not request.headers_finished else "request"
                message = f"the {part} did not arrive within {limit:g} s"
                request.error = Refused(HTTPError(408, message))
                request.completed = True
                request.expect_continue = False
                self.request = None
                self.requests.append(request)
                if len(self.requests) == 1:
                    self.server.add_task(self)

        def readable(self) -> bool:
            return True if self.lingering else bool(super().readable())

        def writable(self) -> bool:
            return False if self.lingering else bool(super().writable())

        def handle_write(self) -> None:
            if self.lingering:
                return
            self._server_closing = True
            try:
                super().handle_write()
            finally:
                self._server_closing = False

        def handle_read(self) -> None:
            if not self.lingering:
                super().handle_read()
                return
            try:
                data = self.socket.recv(65536)
            except OSError:
                data = b""
            self.discarded += len(data)
            if not data or self.discarded > LINGER_BYTES:
                self.close_now()

        def handle_close(self) -> None:
            """A close the server decided, once everything is sent: half-close and read
            what the client still sends, so that it gets the answer and no reset."""
            if (
                self._server_closing
                and not self.lingering
                and self.connected
                and not self.total_outbufs_len
            ):
                try:
                    self.socket.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                else:
                    self.lingering = True
                    self.will_close = False
                    self.close_when_flushed = False
                    self.linger_until = time.monotonic() + LINGER_SECONDS
                    return
            self.close_now()

    return Channel


def serve(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT, then drain and return.

    Raises ``ModelStoreError`` when the model store is missing or damaged or the model
    cannot be loaded, and ``ServeError`` when the address cannot be bound.
    """
    configure_logging()
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        # Explicit handlers, before anything slow: a signal at any moment stops cleanly
        # (as PID 1 in a container, SIGTERM's default action is to be ignored).
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, lambda number, frame: stop.set())
    try:
        raise_open_file_limit()
        service = Service(settings, stop_event=stop)
        service.run()
    finally:
        # A program that calls serve() gets its own handlers back (tests run it in-process).
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
    if service.app.failed is not None:
        raise ModelStoreError(service.app.failed)
