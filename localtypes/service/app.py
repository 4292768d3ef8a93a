"""The HTTP service: a WSGI app over the core API (``make_app``), served by waitress (``serve``).

No web framework: seven fixed routes in a plain WSGI callable keep every status, header and
limit in this one file. The model work of a request runs on a small pool of worker threads
(``localtypes.service.workers``): at most ``max_concurrent_inference`` at once, a bounded wait for
a slot (then 503 with Retry-After), and a time budget after which the work is cancelled.
Health, readiness, metadata and metrics never wait for the model.
"""

from __future__ import annotations

import dataclasses
import http
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    FrozenSet,
    Iterable,
    List,
    Mapping,
    Optional,
    Tuple,
)
from urllib.parse import parse_qsl

from localtypes import __version__
from localtypes.analysis.slots import ExtractedModule, SlotKind
from localtypes.api import DEFAULT_TOP_K, MAX_TOP_K, annotate, predict
from localtypes.errors import LocaltypesError, ModelStoreError, SourceError
from localtypes.model.predictor import ModelInfo, OnnxPredictor, Predictor, TypeGuess
from localtypes.model.store import ModelStore, load_store
from localtypes.service.metrics import Metrics
from localtypes.service.workers import Budget, Overloaded, TimedOut, WorkerPool
from localtypes.settings import Settings, parse_target_version

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

log = logging.getLogger("localtypes.server")
access_log = logging.getLogger("localtypes.access")

MODEL_VERSION_HEADER = "X-Localtypes-Model-Version"
VERSION_HEADER = "X-Localtypes-Version"
REQUEST_ID_HEADER = "X-Request-Id"

# The model's memory grows with the slots of one call: about 370 KiB each at peak with
# localtypes-small (3,000 labels; a 300-line file has about 100 slots, the largest file of
# the standard library about 2,000). One request may send MAX_SLOTS, and the calls running
# at once share SLOT_BUDGET, so the peak stays near 550 MiB above the idle process
# whatever the clients send (a container limit of 1 GiB holds).
MAX_SLOTS = 1500
SLOT_BUDGET = 1500
MAX_PATH_CHARS = 4096
RETRY_AFTER_SECONDS = 1
# SIGTERM: requests already received get this long to finish.
DRAIN_SECONDS = 5.0

_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
# curl --data-binary sends application/x-www-form-urlencoded unless told otherwise; the body
# is still taken verbatim as the source (never form-decoded), so the README's curl works.
_SOURCE_TYPES = frozenset(
    {"", "text/x-python", "text/x-script.python", "text/plain",
     "application/x-python", "application/x-www-form-urlencoded"}
)  # fmt: skip
_JSON_TYPE = "application/json"
_WARMUP_SOURCE = (
    "import os\n\n"
    "class Greeter:\n"
    "    def __init__(self, name='world'):\n"
    "        self.name = name\n\n"
    "    def greet(self, times=1):\n"
    "        return ', '.join(['hello ' + self.name] * times)\n"
)


class HTTPError(Exception):
    """An error answer: status, message, and optional extra JSON fields and headers."""

    def __init__(
        self,
        status: int,
        message: str,
        extra: Optional[Dict[str, Any]] = None,
        headers: Iterable[Tuple[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra or {}
        self.headers = list(headers)


class TooManySlots(Exception):
    """The source has more slots than one request may send to the model."""

    def __init__(self, count: int, limit: int) -> None:
        super().__init__(f"the source has {count} slots; this server accepts at most {limit}")
        self.count = count
        self.limit = limit


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = _JSON_TYPE
    headers: List[Tuple[str, str]] = field(default_factory=list)


def json_reply(status: int, document: Any, headers: Iterable[Tuple[str, str]] = ()) -> Reply:
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Reply(status, body, headers=list(headers))


@dataclass(frozen=True)
class SourceRequest:
    """What a POST asked for, validated."""

    source: str
    path: Optional[str]
    options: Dict[str, Any]


class _GuardedPredictor:
    """The shared predictor, wrapped: timed for the metrics, refusing batches above
    ``max_slots``, and running a call only when its slots fit in the shared budget."""

    def __init__(
        self, inner: Predictor, max_slots: int, budget: Budget, observe: Callable[[float], None]
    ) -> None:
        self._inner = inner
        self._max_slots = max_slots
        self._budget = budget
        self._observe = observe

    @property
    def info(self) -> ModelInfo:
        return self._inner.info

    def predict(self, module: ExtractedModule, top_k: int = 5) -> List[Tuple[TypeGuess, ...]]:
        if len(module.slots) > self._max_slots:
            raise TooManySlots(len(module.slots), self._max_slots)

        def call() -> List[Tuple[TypeGuess, ...]]:
            start = time.perf_counter()
            try:
                return self._inner.predict(module, top_k)
            finally:
                self._observe(time.perf_counter() - start)

        return self._budget.run(max(1, len(module.slots)), call)


def _usable_cores() -> int:
    """CPUs this process may use: its affinity, capped by a cgroup CPU quota (containers)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    return max(1, min(cores, int(quota))) if quota else cores


def _cgroup_cpu_quota() -> Optional[float]:
    # cgroup v2: "max 100000" or "200000 100000"; v1: cfs_quota_us (-1: none) / period.
    try:
        text = Path("/sys/fs/cgroup/cpu.max").read_text(encoding="ascii").split()
        if text and text[0] != "max":
            return int(text[0]) / int(text[1])
        return None
    except (OSError, ValueError, IndexError):
        pass
    try:
        v1 = Path("/sys/fs/cgroup/cpu")
        quota = int((v1 / "cpu.cfs_quota_us").read_text(encoding="ascii"))
        period = int((v1 / "cpu.cfs_period_us").read_text(encoding="ascii"))
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


# --- the app ---------------------------------------------------------------------------


class App:
    """The WSGI application. Build it with ``make_app``."""

    def __init__(self, settings: Settings, predictor: Optional[Predictor] = None) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.pool = WorkerPool(settings.max_concurrent_inference)
        self.max_slots = MAX_SLOTS
        self._ready = threading.Event()
        self._draining = False
        self.failed: Optional[str] = None
        self._lock = threading.Lock()
        self.in_flight = 0
        self.openapi = _openapi_document()
        self.predictor: Optional[_GuardedPredictor] = None
        self._given = predictor
        self._store: Optional[ModelStore] = None
        if predictor is not None:
            self.model: ModelInfo = predictor.info
        else:
            store = self._store = load_store(settings.model)  # a broken store fails at once
            self.model = ModelInfo.of_store(store)
        self.metrics.set_model(self.model.name, self.model.version, self.model.sha256)
        self.metrics.inference_in_flight.set_function(lambda: self.pool.busy)
        self.metrics.ready.set_function(lambda: 1 if self.ready else 0)
        self._common_headers = [
            (MODEL_VERSION_HEADER, self.model.version),
            (VERSION_HEADER, __version__),
        ]
        self._routes: Dict[str, Tuple[FrozenSet[str], Callable[[WSGIEnvironment], Reply]]] = {
            "/predict": (frozenset({"POST"}), self._predict),
            "/annotate": (frozenset({"POST"}), self._annotate),
            "/v2/health/live": (frozenset({"GET"}), self._live),
            "/v2/health/ready": (frozenset({"GET"}), self._readiness),
            "/v2/models/localtypes": (frozenset({"GET"}), self._model_metadata),
            "/metrics": (frozenset({"GET"}), self._metrics),
            "/openapi.json": (frozenset({"GET"}), self._openapi),
        }
        self._loader = threading.Thread(
            target=self._load, name="localtypes-model-loader", daemon=True
        )
        self._loader.start()

    # --- lifecycle

    def create_predictor(self) -> Predictor:
        """The predictor given to ``make_app``, or a new session on the verified store."""
        if self._given is not None:
            return self._given
        assert self._store is not None
        # One intra-op thread per core share: N concurrent requests never oversubscribe.
        threads = max(1, _usable_cores() // self.settings.max_concurrent_inference)
        return OnnxPredictor(self._store, intra_op_threads=threads)

    def _load(self) -> None:
        """Create the onnxruntime session and run one warm-up inference; then ready."""
        try:
            predictor = _GuardedPredictor(
                self.create_predictor(),
                self.max_slots,
                Budget(max(self.max_slots, SLOT_BUDGET)),
                self.metrics.inference_duration.observe,
            )
            start = time.perf_counter()
            predict(_WARMUP_SOURCE, "warmup.py", predictor=predictor)
            # Also imports what /annotate needs: an import interrupted by a cancellation
            # could leave the import lock of its module taken.
            annotate(_WARMUP_SOURCE, "warmup.py", settings=self.settings, predictor=predictor)
            self.predictor = predictor
            self._ready.set()
            log.info(
                "model ready",
                extra={"fields": {
                    "model": self.model.name,
                    "version": self.model.version,
                    "warmup_ms": round(1000 * (time.perf_counter() - start), 1),
                }},
            )  # fmt: skip
        except Exception as exc:  # reported by readiness and by serve(), never raised here
            self.failed = f"cannot load the model from {self.model.path}: {exc}"
            log.error(self.failed, extra={"fields": {"traceback": traceback.format_exc()}})

    def wait_ready(self, timeout: Optional[float] = None) -> bool:
        """Block until the model is ready (True) or loading failed or timed out (False)."""
        self._loader.join(timeout)
        return self.ready

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and not self._draining and self.failed is None

    def begin_shutdown(self) -> None:
        """Report not ready (load balancers stop sending) while requests in progress finish."""
        self._draining = True

    def close(self) -> None:
        self.pool.close()

    # --- WSGI

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> List[bytes]:
        start = time.perf_counter()
        request_id = environ["localtypes.request_id"] = _request_id(environ)
        method = str(environ.get("REQUEST_METHOD", "GET"))
        path = str(environ.get("PATH_INFO", "") or "/")
        route = self._routes.get(path)
        endpoint = path if route is not None else "other"
        with self._lock:
            self.in_flight += 1
        self.metrics.in_flight.inc()
        try:
            reply = self._dispatch(environ, method, path, route, request_id)
        finally:
            self.metrics.in_flight.dec()
            with self._lock:
                self.in_flight -= 1
        headers = [
            ("Content-Type", reply.content_type),
            ("Content-Length", str(len(reply.body))),
            (REQUEST_ID_HEADER, request_id),
            *self._common_headers,
            *reply.headers,
        ]
        start_response(f"{reply.status} {http.HTTPStatus(reply.status).phrase}", headers)
        elapsed = time.perf_counter() - start
        self.metrics.observe_request(endpoint, reply.status, elapsed)
        if self.settings.access_log:
            access_log.info(
                "request",
                extra={"fields": {
                    "request_id": request_id,
                    "method": method,
                    "path": path[:200],
                    "status": reply.status,
                    "duration_ms": round(1000 * elapsed, 2),
                    "bytes_in": _content_length(environ),
                    "bytes_out": len(reply.body),
                    "remote": environ.get("REMOTE_ADDR"),
                }},
            )  # fmt: skip
        return [reply.body]

    def _dispatch(
        self,
        environ: WSGIEnvironment,
        method: str,
        path: str,
        route: Optional[Tuple[FrozenSet[str], Callable[[WSGIEnvironment], Reply]]],
        request_id: str,
    ) -> Reply:
        try:
            if route is None:
                raise HTTPError(404, f"no such endpoint: {path[:100]}")
            methods, handler = route
            if method not in methods:
                allow = ", ".join(sorted(methods))
                raise HTTPError(
                    405,
                    f"{method[:20]} is not allowed here; use {allow}",
                    headers=[("Allow", allow)],
                )
            return handler(environ)
        except HTTPError as exc:
            return json_reply(exc.status, {"error": exc.message, **exc.extra}, exc.headers)
        except Exception:  # a bug: logged once with its traceback, never sent to the client
            log.error(
                "internal error",
                extra={"fields": {
                    "request_id": request_id,
                    "method": method,
                    "path": path[:200],
                    "traceback": traceback.format_exc(),
                }},
            )  # fmt: skip
            return json_reply(500, {"error": f"internal error (request id {request_id})"})

    # --- the model endpoints

    def _predict(self, environ: WSGIEnvironment) -> Reply:
        request = self._read_request(environ, _PREDICT_OPTIONS)
        top_k = int(request.options.get("top_k", DEFAULT_TOP_K))
        predictor = self._predictor()

        def work() -> Dict[str, Any]:
            return predict(request.source, request.path, top_k=top_k, predictor=predictor).to_dict()

        document = self._run_model(work, environ)
        self.metrics.slots.labels(endpoint="/predict").observe(len(document["slots"]))
        return json_reply(200, document)

    def _annotate(self, environ: WSGIEnvironment) -> Reply:
        request = self._read_request(environ, _ANNOTATE_OPTIONS)
        settings = dataclasses.replace(self.settings, **request.options)
        predictor = self._predictor()

        def work() -> Dict[str, Any]:
            result = annotate(request.source, request.path, settings=settings, predictor=predictor)
            return result.to_dict()

        document = self._run_model(work, environ)
        return json_reply(200, document)

    def _predictor(self) -> _GuardedPredictor:
        if self.predictor is None or not self._ready.is_set():
            message = self.failed or "the model is still loading"
            raise HTTPError(503, message, headers=[("Retry-After", str(RETRY_AFTER_SECONDS))])
        return self.predictor

    def _run_model(
        self, work: Callable[[], Dict[str, Any]], environ: WSGIEnvironment
    ) -> Dict[str, Any]:
        """Run ``work`` on a worker within the queue and time limits; map errors to replies."""
        settings = self.settings
        retry = [("Retry-After", str(RETRY_AFTER_SECONDS))]
        submitted = time.perf_counter()

        def timed() -> Dict[str, Any]:
            self.metrics.queue_wait.observe(time.perf_counter() - submitted)
            return work()

        try:
            return self.pool.run(
                timed, queue_timeout=settings.queue_timeout, timeout=settings.request_timeout
            )
        except Overloaded:
            self.metrics.rejected.labels(reason="saturated").inc()
            raise HTTPError(
                503,
                f"busy: no inference slot became free within {settings.queue_timeout:g} s",
                headers=retry,
            ) from None
        except TimedOut:
            self.metrics.rejected.labels(reason="timeout").inc()
            log.warning(
                "request stopped: over request_timeout",
                extra={"fields": {
                    "request_id": environ.get("localtypes.request_id"),
                    "path": environ.get("PATH_INFO"),
                    "bytes_in": _content_length(environ),
                    "request_timeout": settings.request_timeout,
                }},
            )  # fmt: skip
            raise HTTPError(
                503,
                f"the request took longer than {settings.request_timeout:g} s and was stopped"
                " (request_timeout); a very large source may need a higher limit",
                headers=retry,
            ) from None
        except SourceError as exc:
            raise HTTPError(422, exc.reason, {"line": exc.line, "column": exc.column}) from None
        except TooManySlots as exc:
            self.metrics.rejected.labels(reason="too_many_slots").inc()
            raise HTTPError(413, str(exc), {"limit": exc.limit}) from None

    # --- input

    def _read_request(
        self, environ: WSGIEnvironment, options: Mapping[str, Callable[[Any], Any]]
    ) -> SourceRequest:
        media, params = _media_type(str(environ.get("CONTENT_TYPE", "")))
        if media != _JSON_TYPE and media not in _SOURCE_TYPES:
            raise HTTPError(
                415,
                f"unsupported media type {media!r}: send Python source as text/x-python or"
                ' text/plain (UTF-8), or JSON {"source": ...} as application/json',
            )
        encoding = str(environ.get("HTTP_CONTENT_ENCODING", "identity")).strip().lower()
        if encoding not in ("", "identity"):
            raise HTTPError(415, f"unsupported content encoding {encoding[:40]!r}: send it plain")
        charset = params.get("charset", "utf-8").lower()
        if charset not in ("utf-8", "utf8"):
            raise HTTPError(415, f"unsupported charset {charset!r}: send UTF-8")
        body = self._read_body(environ)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise HTTPError(400, f"the body is not valid UTF-8 (byte {exc.start})") from None
        text = text[1:] if text.startswith("\ufeff") else text  # a BOM is not source
        fields: Dict[str, Any] = {}
        for name, value in _query(environ).items():
            try:
                fields[name] = _QUERY_TEXT.get(name, str)(value)
            except ValueError:
                raise HTTPError(400, f"bad value for {name[:40]!r}: {value[:40]!r}") from None
        if "source" in fields:
            raise HTTPError(400, '"source" is not a query parameter: send it as the body')
        if media == _JSON_TYPE:
            document = _json_object(text)
            twice = sorted(set(document) & set(fields))
            if twice:
                raise HTTPError(400, f"{twice[0]!r} is given both in the query and in the body")
            fields.update(document)
            if "source" not in fields:
                raise HTTPError(400, 'the JSON body needs a "source" string')
            source = fields.pop("source")
            if not isinstance(source, str):
                raise HTTPError(400, '"source" must be a string')
        else:
            source = text
        path = fields.pop("path", None)
        if path is not None and (not isinstance(path, str) or len(path) > MAX_PATH_CHARS):
            raise HTTPError(400, f'"path" must be a string of at most {MAX_PATH_CHARS} characters')
        unknown = sorted(set(fields) - set(options))
        if unknown:
            known = ", ".join(["source", "path", *options])
            raise HTTPError(400, f"unknown field {unknown[0][:40]!r} (known: {known})")
        parsed: Dict[str, Any] = {}
        for name, value in fields.items():
            try:
                parsed[name] = options[name](value)
            except (TypeError, ValueError) as exc:
                raise HTTPError(400, f"bad value for {name!r}: {exc}") from None
        return SourceRequest(source=source, path=path, options=parsed)

    def _read_body(self, environ: WSGIEnvironment) -> bytes:
        limit = self.settings.max_body_bytes
        length = _content_length(environ)
        if length > limit:
            raise HTTPError(
                413,
                f"the body has {length} bytes; this server accepts at most {limit}"
                " (max_body_bytes)",
                {"limit": limit},
            )
        stream = environ["wsgi.input"]
        body = bytes(stream.read(length)) if length else b""
        return body

    # --- the other endpoints

    def _live(self, environ: WSGIEnvironment) -> Reply:
        return json_reply(200, {"live": True})

    def _readiness(self, environ: WSGIEnvironment) -> Reply:
        if self.ready:
            return json_reply(200, {"ready": True})
        if self.failed is not None:
            reason = self.failed
        elif self._draining:
            reason = "shutting down"
        else:
            reason = "loading the model"
        return json_reply(503, {"ready": False, "reason": reason}, [("Retry-After", "1")])

    def _model_metadata(self, environ: WSGIEnvironment) -> Reply:
        model = self.model
        return json_reply(
            200,
            {
                "name": "localtypes",
                "versions": [model.version],
                "platform": "onnxruntime_onnx",
                "ready": self.ready,
                "model": {
                    "name": model.name,
                    "version": model.version,
                    "sha256": model.sha256,
                    "size_bytes": model.size_bytes,
                    "threshold": model.threshold,
                    "metrics": model.metrics,
                },
                "server": {"version": __version__, "max_top_k": MAX_TOP_K},
            },
        )

    def _metrics(self, environ: WSGIEnvironment) -> Reply:
        body, content_type = self.metrics.render()
        return Reply(200, body, content_type)

    def _openapi(self, environ: WSGIEnvironment) -> Reply:
        return Reply(200, self.openapi)


def make_app(settings: Settings, predictor: Optional[Predictor] = None) -> App:
    """The WSGI app. Without ``predictor`` it loads ``settings.model`` in the background.

    The store is found and verified before this returns (a missing or damaged store raises
    ``ModelStoreError``); the onnxruntime session and a warm-up inference follow in a thread,
    and ``/v2/health/ready`` answers 200 once they are done.
    """
    return App(settings, predictor)


# --- input helpers -----------------------------------------------------------------------


def _top_k(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("an integer is needed")
    if not 1 <= value <= MAX_TOP_K:
        raise ValueError(f"must be between 1 and {MAX_TOP_K}")
    return value


def _min_confidence(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("a number is needed")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError("must be between 0 and 1")
    return float(value)


def _kinds(value: Any) -> FrozenSet[SlotKind]:
    items = value
    if not isinstance(items, list) or not items:
        raise ValueError("a non-empty list of param, return, variable is needed")
    kinds = set()
    for item in items:
        if not isinstance(item, str) or item.strip() not in {k.value for k in SlotKind}:
            raise ValueError(f"{item!r} is not one of param, return, variable")
        kinds.add(SlotKind(item.strip()))
    return frozenset(kinds)


def _target_version(value: Any) -> Optional[Tuple[int, int]]:
    if not isinstance(value, str):
        raise ValueError('a version string such as "3.9" is needed')
    return parse_target_version(value)


_PREDICT_OPTIONS: Dict[str, Callable[[Any], Any]] = {"top_k": _top_k}
# Query values are text: turned into the JSON types first, then validated alike.
_QUERY_TEXT: Dict[str, Callable[[str], Any]] = {
    "top_k": int,
    "min_confidence": float,
    "kinds": lambda text: text.split(","),
}
_ANNOTATE_OPTIONS: Dict[str, Callable[[Any], Any]] = {
    "min_confidence": _min_confidence,
    "kinds": _kinds,
    "target_version": _target_version,
}


def _media_type(header: str) -> Tuple[str, Dict[str, str]]:
    media, _, rest = header.partition(";")
    params: Dict[str, str] = {}
    for part in rest.split(";"):
        name, _, value = part.partition("=")
        if name.strip():
            params[name.strip().lower()] = value.strip().strip('"')
    return media.strip().lower(), params


def _content_length(environ: WSGIEnvironment) -> int:
    try:
        return max(0, int(environ.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


def _query(environ: WSGIEnvironment) -> Dict[str, str]:
    raw = str(environ.get("QUERY_STRING", ""))
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, max_num_fields=16)
    except ValueError:
        raise HTTPError(400, "too many query parameters") from None
    query: Dict[str, str] = {}
    for name, value in pairs:
        if name in query:
            raise HTTPError(400, f"query parameter {name[:40]!r} given twice")
        query[name] = value
    return query


def _json_object(text: str) -> Dict[str, Any]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HTTPError(
            400, f"invalid JSON: {exc.msg}", {"line": exc.lineno, "column": exc.colno}
        ) from None
    except RecursionError:
        raise HTTPError(400, "invalid JSON: nested too deeply") from None
    if not isinstance(document, dict):
        raise HTTPError(400, 'the JSON body must be an object with a "source" string')
    return document


def _request_id(environ: WSGIEnvironment) -> str:
    given = environ.get("HTTP_X_REQUEST_ID")
    if isinstance(given, str) and _REQUEST_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


# --- the OpenAPI document ------------------------------------------------------------------


def _openapi_document() -> bytes:
    document_file = resources.files("localtypes.service").joinpath("openapi.json")
    text = document_file.read_text(encoding="utf-8")
    document = json.loads(text)
    document["info"]["version"] = __version__
    return json.dumps(document, indent=1).encode("utf-8")


# --- serving -------------------------------------------------------------------------------


class _JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: Dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(stream: Any = None) -> None:
    """Structured logs on stderr, unless the embedding program configured logging already."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_JsonFormatter())
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # waitress warns on every request that waits for a thread; the in-flight gauge says it.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)


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
            # 413; far larger ones get waitress's own 413 (JSON too, see _JsonErrorTask).
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

        log.info("listening", extra={"fields": {"url": self.url, "threads": self.settings.threads}})
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
            self.response_headers.append(("Content-Type", _JSON_TYPE))
            app = self.channel.server.application
            if isinstance(app, App):
                self.response_headers.extend(app._common_headers)
                app.metrics.observe_request("other", int(error.code), 0.0)
            self.set_close_on_finish()
            self.content_length = len(body)
            self.write(body)

    class JsonErrorChannel(HTTPChannel):  # type: ignore[misc]
        error_task_class = JsonErrorTask

    return JsonErrorChannel


class ServeError(LocaltypesError):
    """The service cannot start (for example, its port is taken)."""


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
