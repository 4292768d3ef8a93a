"""The WSGI app over the core API (``make_app``): routes, endpoints, the model's lifecycle.

No web framework: seven fixed routes in a plain WSGI callable. A request is read and
checked by ``localtypes.service.requests``; its model work runs on a small pool of worker
threads (``localtypes.service.workers``): at most ``max_concurrent_inference`` at once, a
bounded wait for a slot (then 503 with Retry-After), and a time budget after which the work
is cancelled; ``localtypes.service.admission`` bounds what one call gives the model. Health,
readiness, metadata and metrics never wait for the model. ``localtypes.service.hosting``
serves the app with waitress.
"""

from __future__ import annotations

import dataclasses
import http
import json
import logging
import threading
import time
import traceback
from importlib import resources
from typing import TYPE_CHECKING, Any, Callable, Dict, FrozenSet, List, Optional, Tuple

from localtypes import __version__
from localtypes.api import annotate, predict
from localtypes.errors import SourceError
from localtypes.model.predictor import ModelInfo, OnnxPredictor, Predictor
from localtypes.model.store import ModelStore, load_store
from localtypes.service import type4py
from localtypes.service.admission import (
    MAX_SLOTS,
    GuardedPredictor,
    MemoryGate,
    MemoryTooSmall,
    TooManySlots,
    plan_memory,
    request_cost,
    resident_bytes,
    usable_cores,
)
from localtypes.service.logs import access_log, log, log_event
from localtypes.service.metrics import Metrics
from localtypes.service.replies import (
    RETRY_AFTER_SECONDS,
    HTTPError,
    Reply,
    error_reply,
    json_reply,
    unavailable,
)
from localtypes.service.requests import (
    content_length,
    read_request,
    request_id,
    target_version_pattern,
)
from localtypes.service.workers import Overloaded, TimedOut, WorkerPool
from localtypes.settings import MAX_TOP_K, Settings

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

MODEL_VERSION_HEADER = "X-Localtypes-Model-Version"
VERSION_HEADER = "X-Localtypes-Version"
REQUEST_ID_HEADER = "X-Request-Id"

# The settings each model endpoint takes from its request (query string or JSON body).
_PREDICT_OPTIONS = ("top_k",)
_ANNOTATE_OPTIONS = ("min_confidence", "kinds", "target_version", "verify")


def _require_checker() -> None:
    """``"verify": true`` needs mypy (the verify extra): a 400 that says so, before any work."""
    from localtypes.verify import VerifyUnavailable, require_checker

    try:
        require_checker()
    except VerifyUnavailable as exc:
        raise HTTPError(400, str(exc)) from None


_WARMUP_SOURCE = (
    "import os\n\n"
    "class Greeter:\n"
    "    def __init__(self, name='world'):\n"
    "        self.name = name\n\n"
    "    def greet(self, times=1):\n"
    "        return ', '.join(['hello ' + self.name] * times)\n"
)

Handler = Callable[["WSGIEnvironment"], Reply]
Route = Tuple[FrozenSet[str], Handler]


class App:
    """The WSGI application. Build it with ``make_app``."""

    def __init__(
        self, settings: Settings, predictor: Optional[Predictor] = None, start: bool = True
    ) -> None:
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
        self.predictor: Optional[GuardedPredictor] = None
        self._given = predictor
        self._store: Optional[ModelStore] = None
        if predictor is not None:
            self.model: ModelInfo = predictor.info
        else:
            store = self._store = load_store(settings.model)  # a broken store fails at once
            self.model = ModelInfo.of_store(store)
        self.metrics.set_model(self.model.name, self.model.version, self.model.sha256)
        # Planned again once the model is loaded, on the process as it then stands.
        self.memory = MemoryGate(plan_memory(settings, resident_bytes()))
        self.metrics.inference_in_flight.set_function(lambda: self.pool.busy)
        self.metrics.ready.set_function(lambda: 1 if self.ready else 0)
        # Sent with every answer, waitress's own error answers included.
        self.common_headers = [
            (MODEL_VERSION_HEADER, self.model.version),
            (VERSION_HEADER, __version__),
        ]
        self._routes: Dict[str, Route] = {
            "/predict": (frozenset({"POST"}), self._predict),
            "/annotate": (frozenset({"POST"}), self._annotate),
            "/v2/health/live": (frozenset({"GET"}), self._live),
            "/v2/health/ready": (frozenset({"GET"}), self._readiness),
            "/v2/models/localtypes": (frozenset({"GET"}), self._model_metadata),
            "/metrics": (frozenset({"GET"}), self._metrics),
            "/openapi.json": (frozenset({"GET"}), self._openapi),
            type4py.PREDICT_PATH: (frozenset({"GET", "POST"}), self._type4py),
            type4py.FETCH_PATH: (frozenset({"POST", "OPTIONS"}), self._type4py),
        }
        self._loader = threading.Thread(
            target=self._load, name="localtypes-model-loader", daemon=True
        )
        if start:
            self.start()

    # --- lifecycle

    def start(self) -> None:
        """Start loading the model in the background (once; ``make_app`` does it)."""
        with self._lock:
            if self._loader.ident is None:
                self._loader.start()

    @property
    def max_body_bytes(self) -> int:
        """The largest body taken: ``max_body_bytes``, lowered to fit the memory limit."""
        return self.memory.plan.max_body_bytes

    def path_headers(self, path: str) -> List[Tuple[str, str]]:
        """Headers every answer on ``path`` carries, the HTTP server's own refusals too:
        CORS on Type4Py's /fetch, whose answers a page in a browser reads."""
        return list(type4py.CORS_HEADERS) if path == type4py.FETCH_PATH else []

    def endpoint(self, path: str) -> str:
        """The ``endpoint`` label of a path in the metrics (bounded: unknown is "other")."""
        return path if path in self._routes else "other"

    def create_predictor(self) -> Predictor:
        """The predictor given to ``make_app``, or a new session on the verified store."""
        if self._given is not None:
            return self._given
        assert self._store is not None
        # One intra-op thread per core share: N concurrent requests never oversubscribe.
        threads = max(1, usable_cores() // self.settings.max_concurrent_inference)
        return OnnxPredictor(self._store, intra_op_threads=threads)

    def _load(self) -> None:
        """Create the onnxruntime session and run one warm-up inference; then ready."""
        try:
            predictor = GuardedPredictor(
                self.create_predictor(), self.max_slots, self.metrics.inference_duration.observe
            )
            start = time.perf_counter()
            predict(_WARMUP_SOURCE, "warmup.py", predictor=predictor)
            # Also imports what /annotate needs: an import interrupted by a cancellation
            # could leave the import lock of its module taken.
            annotate(_WARMUP_SOURCE, "warmup.py", settings=self.settings, predictor=predictor)
            type4py.predict_module(type4py.Type4PyRequest(_WARMUP_SOURCE, filtered=True),
                                   predictor=predictor, top_k=1)  # fmt: skip
            self.memory = MemoryGate(plan_memory(self.settings, resident_bytes()))
            plan = self.memory.plan
            if plan.lowered:
                log_event(log, logging.WARNING, "max_body_bytes lowered to fit memory_limit",
                          **plan.to_dict(), wanted=plan.wanted_body_bytes)  # fmt: skip
            self.predictor = predictor
            self._ready.set()
            warmup_ms = round(1000 * (time.perf_counter() - start), 1)
            log_event(log, logging.INFO, "model ready", model=self.model.name,
                      version=self.model.version, warmup_ms=warmup_ms,
                      **plan.to_dict())  # fmt: skip
        except MemoryTooSmall as exc:
            self.failed = str(exc)
            log_event(log, logging.ERROR, self.failed)
        except Exception as exc:  # reported by readiness and by serve(), never raised here
            self.failed = f"cannot load the model from {self.model.path}: {exc}"
            log_event(log, logging.ERROR, self.failed, traceback=traceback.format_exc())

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

    def close(self, timeout: float = 30.0) -> None:
        """Stop the workers (a job still running is cancelled) and wait for them and for
        the model loader: the process must not exit while a thread is in onnxruntime."""
        self.pool.shutdown(timeout)
        if self._loader.ident is not None:
            self._loader.join(timeout)

    # --- WSGI

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> List[bytes]:
        start = time.perf_counter()
        environ["localtypes.request_id"] = request_id(environ)
        method = str(environ.get("REQUEST_METHOD", "GET"))
        path = str(environ.get("PATH_INFO", "") or "/")
        # Who asked what, as every log line about this request names it.
        where = {"request_id": environ["localtypes.request_id"], "method": method,
                 "path": path[:200]}  # fmt: skip
        route = self._routes.get(path)
        with self._lock:
            self.in_flight += 1
        self.metrics.in_flight.inc()
        try:
            reply = self._dispatch(environ, method, path, route, where)
        finally:
            self.metrics.in_flight.dec()
            with self._lock:
                self.in_flight -= 1
        body = b"" if method == "HEAD" else reply.body  # HEAD: the GET's headers only
        headers = [
            ("Content-Type", reply.content_type),
            ("Content-Length", str(len(reply.body))),
            (REQUEST_ID_HEADER, where["request_id"]),
            *self.common_headers,
            *reply.headers,
        ]
        start_response(f"{reply.status} {http.HTTPStatus(reply.status).phrase}", headers)
        elapsed = time.perf_counter() - start
        self.metrics.observe_request(path if route is not None else "other", reply.status, elapsed)
        if self.settings.access_log:
            log_event(access_log, logging.INFO, "request", **where, status=reply.status,
                      duration_ms=round(1000 * elapsed, 2), bytes_in=content_length(environ),
                      bytes_out=len(body), remote=environ.get("REMOTE_ADDR"))  # fmt: skip
        return [body]

    def _dispatch(
        self,
        environ: WSGIEnvironment,
        method: str,
        path: str,
        route: Optional[Route],
        where: Dict[str, str],
    ) -> Reply:
        try:
            if route is None:
                raise HTTPError(404, f"no such endpoint: {path[:100]}")
            methods, handler = route
            if method == "HEAD" and "GET" in methods:
                return handler(environ)
            if method not in methods:
                allow = ", ".join(sorted(methods | ({"HEAD"} if "GET" in methods else set())))
                raise HTTPError(
                    405,
                    f"{method[:20]} is not allowed here; use {allow}",
                    headers=[("Allow", allow)],
                )
            return handler(environ)
        except HTTPError as exc:
            return error_reply(exc)
        except Exception:  # a bug: logged once with its traceback, never sent to the client
            log_event(log, logging.ERROR, "internal error", **where,
                      traceback=traceback.format_exc())  # fmt: skip
            return json_reply(500, {"error": f"internal error (request id {where['request_id']})"})

    # --- the model endpoints

    def _predict(self, environ: WSGIEnvironment) -> Reply:
        request = read_request(environ, _PREDICT_OPTIONS, self.max_body_bytes)
        top_k = int(request.options.get("top_k", self.settings.top_k))
        predictor = self._predictor()

        def work() -> Dict[str, Any]:
            return predict(
                request.source,
                request.path,
                top_k=top_k,
                predictor=predictor,
                context=request.context,
            ).to_dict()

        document = self._run_model(work, environ)
        self.metrics.slots.labels(endpoint="/predict").observe(len(document["slots"]))
        return json_reply(200, document)

    def _annotate(self, environ: WSGIEnvironment) -> Reply:
        request = read_request(environ, _ANNOTATE_OPTIONS, self.max_body_bytes)
        settings = dataclasses.replace(self.settings, **request.options)
        if settings.verify:
            _require_checker()
        predictor = self._predictor()

        def work() -> Dict[str, Any]:
            result = annotate(
                request.source,
                request.path,
                settings=settings,
                predictor=predictor,
                context=request.context,
            )
            return result.to_dict()

        document = self._run_model(work, environ, verify=settings.verify)
        return json_reply(200, document)

    def _type4py(self, environ: WSGIEnvironment) -> Reply:
        """Type4Py's API (``localtypes.service.type4py``): 200 with a response or an error;
        the limits answer as on every endpoint."""
        cors = self.path_headers(str(environ.get("PATH_INFO")))
        if environ.get("REQUEST_METHOD") == "OPTIONS":  # a browser's preflight
            return Reply(204, b"", headers=[*cors, *type4py.PREFLIGHT_HEADERS])
        try:
            try:
                request = type4py.read_request(environ, self.max_body_bytes)
            except type4py.Type4PyError as exc:
                return json_reply(200, type4py.envelope(error=str(exc)), cors)
            predictor = self._predictor()
            settings = self.settings

            def work() -> Dict[str, Any]:
                return type4py.predict_module(
                    request,
                    predictor=predictor,
                    top_k=settings.top_k,
                    target_version=settings.target_version,
                )

            document = self._run_model(work, environ)
        except HTTPError as exc:  # 413, 503: a browser reads them only with the CORS header
            exc.headers.extend(cors)
            raise
        return json_reply(200, document, cors)

    def _predictor(self) -> GuardedPredictor:
        if self.predictor is None or not self._ready.is_set():
            raise unavailable(self.failed or "the model is still loading")
        return self.predictor

    def _run_model(
        self, work: Callable[[], Dict[str, Any]], environ: WSGIEnvironment, verify: bool = False
    ) -> Dict[str, Any]:
        """Run ``work`` on a worker within the queue and time limits; map errors to replies.
        ``verify``: the work runs the type checker too (it reserves more memory)."""
        settings = self.settings
        submitted = time.perf_counter()
        # Reserved before the source is parsed, given back when the work has really ended.
        path = str(environ.get("PATH_INFO"))
        cost = request_cost(path, content_length(environ), verify)
        memory = self.memory

        def timed() -> Dict[str, Any]:
            waited = time.perf_counter() - submitted
            self.metrics.queue_wait.observe(waited)
            return memory.run(cost, work, timeout=max(0.0, settings.queue_timeout - waited))

        try:
            return self.pool.run(
                timed, queue_timeout=settings.queue_timeout, timeout=settings.request_timeout
            )
        except Overloaded:
            self.metrics.rejected.labels(reason="saturated").inc()
            raise unavailable(
                f"busy: no inference slot became free within {settings.queue_timeout:g} s"
            ) from None
        except TimedOut:
            self.metrics.rejected.labels(reason="timeout").inc()
            log_event(log, logging.WARNING, "request stopped: over request_timeout",
                      request_id=environ.get("localtypes.request_id"),
                      path=environ.get("PATH_INFO"), bytes_in=content_length(environ),
                      request_timeout=settings.request_timeout)  # fmt: skip
            raise unavailable(
                f"the request took longer than {settings.request_timeout:g} s and was stopped"
                " (request_timeout); a very large source may need a higher limit"
            ) from None
        except SourceError as exc:
            raise HTTPError(422, exc.reason, {"line": exc.line, "column": exc.column}) from None
        except TooManySlots as exc:
            self.metrics.rejected.labels(reason="too_many_slots").inc()
            raise HTTPError(413, str(exc), {"limit": exc.limit}) from None

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
        retry = [("Retry-After", str(RETRY_AFTER_SECONDS))]
        return json_reply(503, {"ready": False, "reason": reason}, retry)

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


def _openapi_document() -> bytes:
    """The OpenAPI document shipped with the package, stamped with this version."""
    document_file = resources.files("localtypes.service").joinpath("openapi.json")
    document = json.loads(document_file.read_text(encoding="utf-8"))
    document["info"]["version"] = __version__
    # The versions this server takes (the newest Python it knows moves with releases).
    document["components"]["schemas"]["TargetVersion"]["pattern"] = f"^{target_version_pattern()}$"
    return json.dumps(document, indent=1).encode("utf-8")
