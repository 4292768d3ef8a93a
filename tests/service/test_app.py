"""The REST service over real HTTP: a waitress server on 127.0.0.1, the real model store.

Every endpoint, every error status, the limits, saturation (503 + Retry-After), the time
budget, metrics, logs, and shutdown on SIGTERM/SIGINT of a real ``localtypes serve``.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from serving import (
    LOOPBACK,
    Answer,
    Running,
    metric,
    real_predictor,
    request,
    running,
    test_settings,
    wait_until,
)

from localtypes.api import annotate, predict
from localtypes.model.store import locate
from localtypes.service import app as app_module
from localtypes.service.app import MODEL_VERSION_HEADER, REQUEST_ID_HEADER
from localtypes.service.hosting import Service
from localtypes.service.logs import JsonFormatter
from localtypes.settings import MAX_TOP_K

ROOT = Path(__file__).resolve().parents[2]
STDLIB = Path(sysconfig.get_paths()["stdlib"])
SAMPLE = STDLIB / "shlex.py"  # 350 lines of real, unannotated code
MAX_BODY = 256 << 10
HUGE = b"9" * 4301  # one digit more than Python converts by default


@pytest.fixture(scope="module")
def api() -> Iterator[Running]:
    settings = test_settings(max_body_bytes=MAX_BODY, access_log=True)
    with running(settings) as served:
        yield served


def sample_bytes() -> bytes:
    return SAMPLE.read_bytes()


def assert_common_headers(answer: Answer) -> None:
    model = real_predictor().info
    assert answer.headers[MODEL_VERSION_HEADER] == model.version
    assert answer.headers["X-Localtypes-Version"]
    assert re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", answer.headers[REQUEST_ID_HEADER])


def assert_error(answer: Answer, status: int, *words: str) -> Dict[str, Any]:
    assert answer.status == status, answer.body[:500]
    assert answer.headers["Content-Type"].startswith("application/json")
    document = answer.json()
    assert isinstance(document["error"], str) and document["error"]
    assert "Traceback" not in answer.body.decode("utf-8", "replace")
    for word in words:
        assert word in document["error"], document["error"]
    assert_common_headers(answer)
    return dict(document)


# --- probes, metadata, documents --------------------------------------------------------


def test_liveness(api: Running) -> None:
    answer = api.request("/v2/health/live")
    assert answer.status == 200 and answer.json() == {"live": True}
    assert_common_headers(answer)


def test_readiness_after_load_and_warmup(api: Running) -> None:
    answer = api.request("/v2/health/ready")
    assert answer.status == 200 and answer.json() == {"ready": True}
    text = api.request("/metrics").body.decode()
    assert metric(text, "localtypes_ready") == 1.0
    # The warm-up inference ran before readiness: the histogram has at least one call.
    assert metric(text, "localtypes_inference_duration_seconds_count") >= 1


def test_readiness_waits_for_the_model() -> None:
    """Before the model is loaded, ready is 503 and /predict says so; live is 200 at once."""
    gate = threading.Event()

    class GatedApp(app_module.App):
        def create_predictor(self) -> Any:
            gate.wait(30)
            return super().create_predictor()

    settings = test_settings()
    app = GatedApp(settings, real_predictor())
    service = Service(settings, app)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    try:
        ready = request(service.url + "/v2/health/ready")
        assert ready.status == 503 and ready.json()["ready"] is False
        assert ready.headers["Retry-After"] == "1"
        assert "loading" in ready.json()["reason"]
        assert request(service.url + "/v2/health/live").status == 200
        busy = request(service.url + "/predict", b"x = 1\n", content_type="text/x-python")
        assert_error(busy, 503, "loading")
        assert busy.headers["Retry-After"] == "1"
        gate.set()
        assert app.wait_ready(30)
        assert request(service.url + "/v2/health/ready").status == 200
    finally:
        gate.set()
        service.stop()
        thread.join(15)


def test_model_metadata(api: Running) -> None:
    answer = api.request("/v2/models/localtypes")
    assert answer.status == 200
    document = answer.json()
    info = real_predictor().info
    assert document["name"] == "localtypes"
    assert document["versions"] == [info.version]
    assert document["ready"] is True
    assert document["model"]["sha256"] == info.sha256
    assert document["model"]["size_bytes"] == info.size_bytes
    assert document["model"]["metrics"] == json.loads(json.dumps(info.metrics))
    assert_common_headers(answer)


def test_openapi_document_is_served(api: Running) -> None:
    answer = api.request("/openapi.json")
    assert answer.status == 200
    document = answer.json()
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {
        "/predict", "/annotate", "/v2/health/live", "/v2/health/ready",
        "/v2/models/localtypes", "/metrics", "/openapi.json", "/api/predict",
        "/api/predict/fetch",
    }  # fmt: skip


def test_metrics_have_the_documented_names_and_bounded_labels(api: Running) -> None:
    api.request("/predict", sample_bytes(), content_type="text/x-python")
    api.request("/predict", b"def broken(:\n", content_type="text/x-python")
    api.request("/no/such/path/" + "x" * 50)
    answer = api.request("/metrics")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/plain")
    text = answer.body.decode()
    info = real_predictor().info
    assert metric(text, "localtypes_requests_total", endpoint="/predict", status="200") >= 1
    assert metric(text, "localtypes_requests_total", endpoint="/predict", status="422") >= 1
    assert metric(text, "localtypes_requests_total", endpoint="other", status="404") >= 1
    labels = {"name": info.name, "version": info.version, "sha256": info.sha256}
    assert metric(text, "localtypes_model_info", **labels) == 1
    assert metric(text, "localtypes_slots_per_request_count", endpoint="/predict") >= 1
    for name in (
        "localtypes_request_duration_seconds_bucket",
        "localtypes_in_flight_requests",
        "localtypes_inference_duration_seconds_bucket",
        "localtypes_inference_in_flight",
        "localtypes_queue_wait_seconds_bucket",
        "process_resident_memory_bytes",
    ):
        assert name in text
    assert "xxxxx" not in text  # no unbounded label values
    for line in text.splitlines():
        if line and not line.startswith("#"):
            assert line.startswith(("localtypes_", "process_")), line


# --- /predict ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "text/x-python",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",  # what curl --data-binary sends by default
        None,
    ],
)
def test_predict_raw_source_equals_the_core(api: Running, content_type: Any) -> None:
    source = sample_bytes()
    answer = api.request("/predict", source, content_type=content_type)
    assert answer.status == 200, answer.body[:300]
    assert answer.headers["Content-Type"] == "application/json"
    expected = predict(source.decode(), predictor=real_predictor()).to_dict()
    assert answer.json() == expected
    assert len(expected["slots"]) > 20
    assert_common_headers(answer)


def test_predict_equals_the_cli(api: Running, tmp_path: Path) -> None:
    from localtypes.cli import main

    out = io.StringIO()
    assert main(["predict", str(SAMPLE)], stdout=out, stderr=io.StringIO()) == 0
    local = json.loads(out.getvalue())
    answer = api.request(f"/predict?path={SAMPLE}", sample_bytes(), content_type="text/x-python")
    assert answer.status == 200
    assert answer.json() == local


def test_predict_json_body_with_options(api: Running) -> None:
    source = sample_bytes().decode()
    body = json.dumps({"source": source, "path": "pkg/shlex.py", "top_k": 2}).encode()
    answer = api.request("/predict", body, content_type="application/json")
    assert answer.status == 200
    document = answer.json()
    assert document["path"] == "pkg/shlex.py"
    assert all(len(slot["predictions"]) <= 2 for slot in document["slots"])
    expected = predict(source, "pkg/shlex.py", top_k=2, predictor=real_predictor()).to_dict()
    assert document == expected


def test_predict_query_options_and_bom(api: Running) -> None:
    source = "\ufeffdef f(n=1):\n    return [n]\n".encode()
    answer = api.request("/predict?top_k=1&path=a.py", source, content_type="text/x-python")
    assert answer.status == 200
    document = answer.json()
    assert document["path"] == "a.py"
    assert [slot["name"] for slot in document["slots"]] == ["n", "return"]
    assert all(len(slot["predictions"]) == 1 for slot in document["slots"])


def test_predict_empty_source(api: Running) -> None:
    answer = api.request("/predict", b"", content_type="text/x-python")
    assert answer.status == 200
    assert answer.json()["slots"] == []


def test_request_id_is_echoed_or_made(api: Running) -> None:
    given = api.request("/v2/health/live", headers={"X-Request-Id": "trace-42.a:b"})
    assert given.headers[REQUEST_ID_HEADER] == "trace-42.a:b"
    bad = api.request("/v2/health/live", headers={"X-Request-Id": "no spaces allowed"})
    assert bad.headers[REQUEST_ID_HEADER] != "no spaces allowed"
    other = api.request("/v2/health/live")
    assert other.headers[REQUEST_ID_HEADER] != bad.headers[REQUEST_ID_HEADER]


# --- /annotate --------------------------------------------------------------------------


def test_annotate_equals_the_core(api: Running) -> None:
    source = sample_bytes()
    answer = api.request("/annotate", source, content_type="text/x-python")
    assert answer.status == 200, answer.body[:300]
    expected = annotate(source.decode(), predictor=real_predictor()).to_dict()
    assert answer.json() == expected
    assert_common_headers(answer)


def test_annotate_with_options_writes_annotations(api: Running) -> None:
    source = "def greet(name='world', times=1):\n    return ', '.join(['hi ' + name] * times)\n"
    body = {"source": source, "min_confidence": 0.0, "kinds": ["param", "return"],
            "target_version": "3.9", "path": "greet.py"}  # fmt: skip
    answer = api.request("/annotate", json.dumps(body).encode(), content_type="application/json")
    assert answer.status == 200
    document = answer.json()
    assert document["changed"] is True and document["added"]
    assert document["source"] != source
    compile(document["source"], "greet.py", "exec")
    query = "?min_confidence=0&kinds=param,return&target_version=3.9&path=greet.py"
    raw = api.request("/annotate" + query, source.encode(), content_type="text/plain")
    assert raw.status == 200 and raw.json() == document


def test_annotate_never_writes_what_a_skip_comment_covers(api: Running) -> None:
    """The same rules as the CLI's (``localtypes.edit.skips``); /predict still tells all."""
    source = (
        "def greet(name='world', times=1):  # localtypes: skip\n"
        "    return ', '.join(['hi ' + name] * times)\n\n\n"
        "def shout(name='world', times=1):\n"
        "    return ', '.join(['HI ' + name] * times)\n"
    )
    body = {"source": source, "min_confidence": 0.0, "path": "greet.py"}
    document = api.request(
        "/annotate", json.dumps(body).encode(), content_type="application/json"
    ).json()
    assert {item["qualname"].split(".")[0] for item in document["added"]} == {"shout"}
    said_no = {i["qualname"] for i in document["skipped"] if i["reason"] == "skip-comment"}
    assert said_no == {"greet", "greet.name", "greet.times"}
    whole = {**body, "source": "# localtypes: skip-file\n" + source}
    answer = api.request("/annotate", json.dumps(whole).encode(), content_type="application/json")
    assert answer.status == 200
    assert answer.json()["changed"] is False and answer.json()["source"] == whole["source"]
    predicted = api.request("/predict", source.encode(), content_type="text/x-python").json()
    assert {"greet.name", "shout.name"} <= {slot["qualname"] for slot in predicted["slots"]}


@pytest.mark.parametrize(
    "source",
    [
        "x = " + "[" * 80 + "1" + "]" * 80 + "\ndef f(a):\n    return [a]\n",
        ("x = " + "[" * 32 + "1" + "]" * 32 + "\n") * 600 + "def f(a):\n    return [a]\n",
    ],
    ids=["deep", "large"],
)
def test_annotate_answers_nested_and_large_sources_in_bounded_time(
    api: Running, source: str
) -> None:
    # The writer splices text at AST positions: no parser whose time explodes with nesting.
    start = time.monotonic()
    answer = api.request("/annotate", source.encode(), content_type="text/x-python")
    assert answer.status == 200, answer.body
    assert time.monotonic() - start < 5
    new = answer.json()["source"]
    compile(new, "nested.py", "exec")
    assert new.startswith(source.split("\n")[0])


# --- errors -----------------------------------------------------------------------------


def test_unknown_path_is_404(api: Running) -> None:
    assert_error(api.request("/predictx"), 404, "no such endpoint")
    assert_error(api.request("/"), 404)


@pytest.mark.parametrize(
    ("path", "method", "allow"),
    [
        ("/predict", "GET", "POST"),
        ("/annotate", "PUT", "POST"),
        ("/v2/health/ready", "POST", "GET, HEAD"),
        ("/metrics", "DELETE", "GET, HEAD"),
    ],
)
def test_wrong_method_is_405_with_allow(api: Running, path: str, method: str, allow: str) -> None:
    answer = api.request(path, b"" if method != "GET" else None, method=method)
    assert_error(answer, 405, method)
    assert answer.headers["Allow"] == allow


@pytest.mark.parametrize(
    ("body", "content_type", "words"),
    [
        (b"\xff\xfedef f(): pass\n", "text/x-python", ["UTF-8"]),
        (b'{"source": "x = 1"', "application/json", ["invalid JSON"]),
        (b"[1, 2]", "application/json", ["object"]),
        (b'{"path": "a.py"}', "application/json", ["source"]),
        (b'{"source": 3}', "application/json", ["source"]),
        (b'{"source": "", "top_k": 0}', "application/json", ["top_k", "expected"]),
        (b'{"source": "", "top_k": 21}', "application/json", ["top_k", "expected"]),
        (b'{"source": "", "top_k": true}', "application/json", ["top_k", "expected"]),
        (b'{"source": "", "top_k": "3"}', "application/json", ["top_k", "expected"]),
        (b'{"source": "", "top_k": 2.0}', "application/json", ["top_k", "expected"]),
        (b'{"source": "", "top_k": ' + b"9" * 5000 + b"}", "application/json", ["digits"]),
        (b'{"source": "", "tpo_k": 3}', "application/json", ["unknown field", "tpo_k"]),
        (b'{"source": "", "path": 7}', "application/json", ["path"]),
        (json.dumps({"source": "", "path": "a" * 5000}).encode(), "application/json", ["path"]),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", ["JSON"]),
        # A lone surrogate anywhere: not text (was a 500 where it was echoed back).
        (b'{"source": "x=1\\n", "path": "\\ud800"}', "application/json", ["surrogate"]),
        (b'{"source": "x = \'\\udfff\'\\n"}', "application/json", ["surrogate"]),
        (b'{"source": "", "\\ud83d": 1}', "application/json", ["surrogate"]),
        (b'{"source": "", "top_k": ["\\ud800"]}', "application/json", ["surrogate"]),
        # An integer of more than 4,300 digits anywhere in the document.
        (b'{"source": "", "path": "a", "x": [[%s]]}' % HUGE, "application/json", ["digits"]),
        (b'{"source": "", "top_k": -%s}' % HUGE, "application/json", ["digits"]),
        (b'[{"source": ""}, %s]' % HUGE, "application/json", ["digits"]),
    ],
)
def test_bad_requests_are_400(
    api: Running, body: bytes, content_type: str, words: List[str]
) -> None:
    assert_error(api.request("/predict", body, content_type=content_type), 400, *words)


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("top_k=x", ["top_k"]),
        ("top_k=0", ["top_k", "expected"]),
        (f"top_k={MAX_TOP_K + 1}", ["top_k", "expected"]),
        ("top_k=1&top_k=2", ["twice"]),
        ("source=x", ["source"]),
        ("color=red", ["unknown field", "color"]),
        ("min_confidence=0.5", ["unknown field", "min_confidence"]),  # an /annotate option
    ],
)
def test_bad_query_options_are_400(api: Running, query: str, words: List[str]) -> None:
    answer = api.request(f"/predict?{query}", b"x = 1\n", content_type="text/x-python")
    assert_error(answer, 400, *words)


def test_option_in_query_and_json_is_400(api: Running) -> None:
    body = json.dumps({"source": "", "top_k": 2}).encode()
    answer = api.request("/predict?top_k=3", body, content_type="application/json")
    assert_error(answer, 400, "both")


@pytest.mark.parametrize(
    ("query", "fields", "words"),
    [
        ("?min_confidence=2", None, ["min_confidence", "expected"]),
        ("?kinds=params", None, ["kinds", "expected kinds among"]),
        ("?target_version=python3", None, ["target_version", "expected a version"]),
        ("?top_k=3", None, ["unknown field", "top_k"]),  # a /predict option
        ("", {"min_confidence": "0.5"}, ["min_confidence", "expected"]),
        ("", {"min_confidence": 10**400}, ["min_confidence"]),
        ("", {"kinds": "param"}, ["kinds", "expected a list"]),
        ("", {"kinds": []}, ["kinds", "at least one kind"]),
        ("", {"target_version": 3.9}, ["target_version", "expected a string"]),
    ],
)
def test_bad_annotate_options_are_400(
    api: Running, query: str, fields: Any, words: List[str]
) -> None:
    if fields is None:
        answer = api.request("/annotate" + query, b"x = 1\n", content_type="text/x-python")
    else:
        body = json.dumps({"source": "x = 1\n", **fields}).encode()
        answer = api.request("/annotate" + query, body, content_type="application/json")
    assert_error(answer, 400, *words)


def test_a_bad_option_value_is_quoted_briefly(api: Running) -> None:
    answer = api.request("/annotate?target_version=" + "9" * 3000, b"x = 1\n",
                         content_type="text/x-python")  # fmt: skip
    assert len(assert_error(answer, 400, "target_version")["error"]) < 300


def test_annotate_null_options_mean_the_defaults(api: Running) -> None:
    source = "def greet(name='world'):\n    return 'hi ' + name\n"
    given = {"source": source, "min_confidence": None, "target_version": None}
    nulls = api.request("/annotate", json.dumps(given).encode(), content_type="application/json")
    plain = api.request("/annotate", source.encode(), content_type="text/x-python")
    assert nulls.status == 200 and nulls.json() == plain.json()


@pytest.mark.parametrize(
    "content_type",
    ["image/png", "multipart/form-data; boundary=x", "text/x-python; charset=latin-1"],
)
def test_wrong_media_type_is_415(api: Running, content_type: str) -> None:
    assert_error(api.request("/predict", b"x = 1\n", content_type=content_type), 415)
    assert_error(api.request("/annotate", b"x = 1\n", content_type=content_type), 415)


def test_compressed_body_is_415(api: Running) -> None:
    answer = api.request("/predict", b"\x1f\x8b...", content_type="text/x-python",
                         headers={"Content-Encoding": "gzip"})  # fmt: skip
    assert_error(answer, 415, "gzip")


def test_source_that_does_not_parse_is_422_with_line_and_column(api: Running) -> None:
    answer = api.request("/predict", b"import os\n\ndef broken(:\n    pass\n",
                         content_type="text/x-python")  # fmt: skip
    document = assert_error(answer, 422)
    assert document["line"] == 3 and isinstance(document["column"], int)
    answer = api.request("/annotate", b"def broken(:\n", content_type="text/x-python")
    assert assert_error(answer, 422)["line"] == 1


def test_null_bytes_are_422(api: Running) -> None:
    answer = api.request("/predict", b"x = 1\x00\n", content_type="text/x-python")
    document = assert_error(answer, 422)
    assert document["line"] is None or isinstance(document["line"], int)


def test_body_over_the_limit_is_413(api: Running) -> None:
    body = b"x = 1\n" * (MAX_BODY // 6 + 1)
    document = assert_error(api.request("/predict", body, content_type="text/x-python"), 413)
    assert document["limit"] == MAX_BODY
    assert str(MAX_BODY) in document["error"]


def test_body_far_over_the_limit_gets_json_from_waitress(api: Running) -> None:
    """Past twice the limit waitress refuses by itself, before the app; still JSON."""
    connection = socket.create_connection((LOOPBACK, api.service.port), timeout=10)
    try:
        head = (
            "POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/x-python\r\n"
            f"Content-Length: {100 * MAX_BODY}\r\n\r\n"
        )
        connection.sendall(head.encode())
        reply = _read_all(connection)
    finally:
        connection.close()
    status_line, _, rest = reply.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 413"), reply[:300]
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"application/json" in headers
    assert "error" in json.loads(body)


def test_malformed_http_gets_json_400(api: Running) -> None:
    connection = socket.create_connection((LOOPBACK, api.service.port), timeout=10)
    try:
        connection.sendall(b"POST /predict HTTP/1.1\r\nContent-Length: nope\r\n\r\n")
        reply = _read_all(connection)
    finally:
        connection.close()
    assert reply.startswith(b"HTTP/1.1 400"), reply[:300]
    assert "error" in json.loads(reply.partition(b"\r\n\r\n")[2])


def _read_all(connection: socket.socket) -> bytes:
    chunks: List[bytes] = []
    while True:
        chunk = connection.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def test_an_internal_error_is_json_and_logged_once_with_the_request_id(
    api: Running, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(app_module, "predict", broken)
    with caplog.at_level(logging.INFO, logger="localtypes"):
        answer = api.request("/predict", b"x = 1\n", content_type="text/x-python",
                             headers={"X-Request-Id": "req-500"})  # fmt: skip
    document = assert_error(answer, 500, "req-500")
    assert "secret" not in document["error"]
    errors = [r for r in caplog.records if r.name == "localtypes.server" and r.levelno >= 40]
    assert len(errors) == 1
    fields = errors[0].fields  # type: ignore[attr-defined]
    assert fields["request_id"] == "req-500"
    assert "secret internal detail" in fields["traceback"]


def test_access_log_is_one_structured_line_per_request(
    api: Running, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="localtypes.access"):
        api.request("/v2/health/live", headers={"X-Request-Id": "log-me"})
    lines = [r for r in caplog.records if r.name == "localtypes.access"]
    assert len(lines) == 1
    fields = lines[0].fields  # type: ignore[attr-defined]
    assert fields["request_id"] == "log-me"
    assert fields["method"] == "GET" and fields["path"] == "/v2/health/live"
    assert fields["status"] == 200 and fields["duration_ms"] >= 0
    formatted = JsonFormatter().format(lines[0])
    assert json.loads(formatted)["request_id"] == "log-me"


# --- the document and the app agree where they used to differ (issue 12, item 13) ----------
# Explicit cases (tests/service/test_openapi.py fuzzes, slowly).

TARGET_VERSIONS = [
    "3.9", "py39", "PY3.10", " 3.9\t", "", "auto", " AUTO ", "3.07", "310", "3.7", "37",
    "3.0", "3.6", "2.7", "3", "python3", "3.99", "3.100", "\x1f", "\u00a03.9", "\ufeff3.9",
    "3.9\n", "\u0663.\u0669", " ", "\t",
]  # fmt: skip


def _document(server: Running) -> Any:
    return json.loads(server.request("/openapi.json").body)


@pytest.mark.parametrize("value", TARGET_VERSIONS)
def test_target_version_is_taken_exactly_when_the_document_allows_it(
    api: Running, value: str
) -> None:
    pattern = _document(api)["components"]["schemas"]["TargetVersion"]["pattern"]
    assert pattern.startswith("^") and pattern.endswith("$")
    # The pattern holds only ASCII classes: Python's re reads it as ECMA-262 does.
    allowed = re.fullmatch(pattern[1:-1], value) is not None
    body = json.dumps({"source": "def f(a=1):\n    return a\n", "target_version": value})
    as_json = api.request("/annotate", body.encode(), content_type="application/json")
    assert (as_json.status == 200) == allowed, (value, as_json.status, as_json.body[:200])
    assert as_json.status in (200, 400)
    if "\n" not in value and "\x1f" not in value:  # a query string cannot carry those raw
        query = urllib.parse.urlencode({"target_version": value})
        as_query = api.request(f"/annotate?{query}", b"x = 1\n", content_type="text/plain")
        assert (as_query.status == 200) == allowed, (value, as_query.status)


def test_the_served_pattern_is_the_one_the_app_checks(api: Running) -> None:
    from localtypes.service.requests import target_version_pattern

    document = _document(api)
    assert document["components"]["schemas"]["TargetVersion"]["pattern"] == (
        f"^{target_version_pattern()}$"
    )


def test_a_nul_in_the_source_is_invalid_in_the_document_and_refused(api: Running) -> None:
    schemas = _document(api)["components"]["schemas"]
    pattern = schemas["Source"]["pattern"]
    assert schemas["PredictRequest"]["properties"]["source"] == {
        "$ref": "#/components/schemas/Source"
    }
    assert re.search(pattern, "x = 1\n") and not re.search(pattern, "x = 1\x00\n")
    for body, media in ((b"x = 1\x00\n", "text/x-python"),
                        (b'{"source": "x = 1\\u0000"}', "application/json")):  # fmt: skip
        answer = api.request("/predict", body, content_type=media)
        assert 400 <= answer.status < 500 and answer.status in (400, 422), answer.body


@pytest.mark.parametrize("path", ["/predict", "/annotate"])
def test_a_missing_body_is_refused_as_the_document_requires(api: Running, path: str) -> None:
    operation = _document(api)["paths"][path]["post"]
    assert operation["requestBody"]["required"] is True
    answer = api.request(path, b"")  # no body, no media type
    assert answer.status == 400, answer.body
    assert "no body" in answer.json()["error"]
    # An empty source, sent as one, is a source.
    assert api.request(path, b"", content_type="text/x-python").status == 200


# --- saturation, time budget, pathological sources ---------------------------------------


def test_saturation_gives_503_with_retry_after_and_probes_stay_fast(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """One inference slot, a tiny queue timeout, a request holding the slot.

    The held request runs the real model after waiting on a gate inside its job (so the
    timing does not depend on the machine); the wait is Python code, cancelled like any.
    """
    gate = threading.Event()
    real_predict = predict

    def gated_predict(source: str, *args: Any, **kwargs: Any) -> Any:
        if source.startswith("# hold"):
            while not gate.wait(0.02):
                pass
        return real_predict(source, *args, **kwargs)

    monkeypatch.setattr(app_module, "predict", gated_predict)
    caplog.set_level(logging.INFO, logger="localtypes")
    settings = test_settings(
        max_concurrent_inference=1, queue_timeout=0.05, request_timeout=1.5, threads=6
    )
    with running(settings) as served:
        results: Dict[str, Answer] = {}
        held = b"# hold\n" + sample_bytes()

        def slow() -> None:
            results["held"] = served.request("/predict", held, content_type="text/plain",
                                             headers={"X-Request-Id": "held-1"})  # fmt: skip

        thread = threading.Thread(target=slow)
        thread.start()

        def holding() -> bool:
            text = served.request("/metrics").body.decode()
            return metric(text, "localtypes_inference_in_flight") == 1

        wait_until(holding, what="the held request to take the only slot")
        busy = served.request("/predict", b"x = 1\n", content_type="text/x-python")
        assert_error(busy, 503, "busy")
        assert busy.headers["Retry-After"] == "1"
        start = time.monotonic()
        for path in ("/v2/health/live", "/v2/health/ready", "/metrics", "/v2/models/localtypes"):
            assert served.request(path).status == 200
        assert time.monotonic() - start < 1.0, "probes waited for the model"
        thread.join(30)
        # The held one ran past request_timeout: stopped, 503, and the slot came back.
        assert_error(results["held"], 503, "request_timeout")
        stopped = [r for r in caplog.records if r.name == "localtypes.server"
                   and r.levelno == logging.WARNING]  # fmt: skip
        assert [r.fields["request_id"] for r in stopped] == ["held-1"]  # type: ignore[attr-defined]
        wait_until(lambda: not holding(), what="the cancelled job to give its slot back")
        ok = served.request("/predict", sample_bytes(), content_type="text/x-python")
        assert ok.status == 200
        # Released in time, the same request is answered in full.
        gate.set()
        assert served.request("/predict", held, content_type="text/plain").status == 200
        text = served.request("/metrics").body.decode()
        assert metric(text, "localtypes_rejected_total", reason="saturated") == 1
        assert metric(text, "localtypes_rejected_total", reason="timeout") == 1
        assert metric(text, "localtypes_requests_total", endpoint="/predict", status="503") == 2


def test_many_concurrent_clients_get_answers_or_503(api: Running) -> None:
    """More clients than slots and threads: every answer is a full 200 or a clean 503."""
    answers: List[Answer] = []

    def client() -> None:
        for _ in range(3):
            answers.append(api.request("/predict", sample_bytes(), content_type="text/plain"))

    threads = [threading.Thread(target=client) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(answers) == 36, "a client did not finish"
    expected = predict(sample_bytes().decode(), predictor=real_predictor()).to_dict()
    for answer in answers:
        assert answer.status in (200, 503), answer.body[:300]
        if answer.status == 200:
            assert answer.json() == expected
        else:
            assert_error(answer, 503)


PATHOLOGICAL = {
    "deep parentheses": b"x = " + b"(" * 5000 + b"1" + b")" * 5000 + b"\n",
    "deep lists": b"x = " + b"[" * 5000 + b"1" + b"]" * 5000 + b"\n",
    "long operator chain": b"x = " + b"+".join([b"a"] * 100_000) + b"\n",
    "deep unary": b"x = " + b"-" * 100_000 + b"1\n",
    "deep if nesting": b"".join(b" " * i + b"if x:\n" for i in range(150)) + b" " * 150 + b"pass\n",
    "very long line": b"x = '" + b"a" * 900_000 + b"'\n",
    "thousands of functions": b"".join(
        b"def f%d(a, b=1, *c, d=2, **e):\n    return a + b\n" % i for i in range(14_000)
    ),
    "wide signature": b"def f(" + b", ".join(b"p%d" % i for i in range(20_000)) + b"):\n    pass\n",
}


# Seconds each (the others well under one): run with the slow tests.
_SLOW_SOURCES = {"thousands of functions"}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.slow) if name in _SLOW_SOURCES else name
        for name in sorted(PATHOLOGICAL)
    ],
)
@pytest.mark.parametrize("endpoint", ["/predict", "/annotate"])
def test_pathological_sources_get_an_answer_in_bounded_time(
    patho: Running, name: str, endpoint: str
) -> None:
    source = PATHOLOGICAL[name]
    start = time.monotonic()
    answer = patho.request(endpoint, source, content_type="text/x-python")
    elapsed = time.monotonic() - start
    assert answer.status in (200, 413, 422, 503), answer.body[:300]
    if answer.status != 200:
        assert_error(answer, answer.status)
    # request_timeout + the queue timeout + slack for a C call finishing (bounded by size)
    assert elapsed < 6.0, f"{name}: {elapsed:.1f} s"
    live = patho.request("/v2/health/live", timeout=2)
    assert live.status == 200
    wait_until(
        lambda: (
            metric(patho.request("/metrics").body.decode(), "localtypes_inference_in_flight") == 0
        ),
        timeout=10,
        what="the worker to be free again",
    )
    assert patho.request("/predict", b"x = 1\n", content_type="text/x-python").status == 200


@pytest.fixture(scope="module")
def patho() -> Iterator[Running]:
    settings = test_settings(request_timeout=3.0, queue_timeout=2.0)
    with running(settings) as served:
        yield served


# --- shutdown ---------------------------------------------------------------------------


def test_stop_lets_a_request_in_progress_finish() -> None:
    with running(test_settings()) as served:
        results: Dict[str, Answer] = {}
        source = (STDLIB / "argparse.py").read_bytes()

        def call() -> None:
            results["answer"] = served.request("/predict", source, content_type="text/plain")

        thread = threading.Thread(target=call)
        thread.start()
        wait_until(lambda: served.service.app.in_flight > 0, what="the request to start")
        served.service.stop()
        thread.join(30)
        assert results["answer"].status == 200
        assert results["answer"].json()["slots"]


def _serve_subprocess(*flags: str) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env["LOCALTYPES_MODEL"] = str(locate())
    env["PYTHONUNBUFFERED"] = "1"
    command = [sys.executable, "-m", "localtypes", "serve", "--host", LOOPBACK, "--port", "0"]
    return subprocess.Popen(
        [*command, *flags], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_listening(process: subprocess.Popen[str]) -> str:
    assert process.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        entry = json.loads(line)
        if entry["message"] == "listening":
            return str(entry["url"])
    raise AssertionError(f"the server did not start (exit {process.poll()})")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_cleanly_on_signal(signum: int) -> None:
    real_predictor()  # skip without a model store
    process = _serve_subprocess("--access-log")
    try:
        url = _wait_listening(process)
        wait_until(lambda: request(url + "/v2/health/ready").status == 200, timeout=60,
                   what="readiness")  # fmt: skip
        results: Dict[str, Answer] = {}
        source = (STDLIB / "argparse.py").read_bytes()

        def call() -> None:
            results["answer"] = request(url + "/predict", source, content_type="text/plain")

        def in_progress() -> bool:
            text = request(url + "/metrics").body.decode()
            return "answer" in results or metric(text, "localtypes_inference_in_flight") >= 1

        thread = threading.Thread(target=call)
        thread.start()
        wait_until(in_progress, what="the request to be in progress")
        start = time.monotonic()
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=15)
        elapsed = time.monotonic() - start
        thread.join(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr[-2000:]
    assert elapsed < 7, f"took {elapsed:.1f} s to stop"
    # The request in progress when the signal came was answered in full.
    assert results["answer"].status == 200
    assert results["answer"].json()["slots"]
    entries = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert entries[-1]["message"] == "stopped"
    access = [e for e in entries if e["logger"] == "localtypes.access"]
    assert access and {"request_id", "method", "path", "status", "duration_ms"} <= set(access[0])
    assert "Traceback" not in stderr


def test_serve_refuses_a_missing_model_store(tmp_path: Path) -> None:
    from localtypes.cli import main

    err = io.StringIO()
    code = main(["serve", "--port", "0", "--model", str(tmp_path / "nowhere")],
                stdout=io.StringIO(), stderr=err)  # fmt: skip
    assert code == 2
    assert "no model store" in err.getvalue()


def test_serve_reports_a_taken_port(api: Running) -> None:
    from localtypes.cli import main

    err = io.StringIO()
    code = main(["serve", "--host", LOOPBACK, "--port", str(api.service.port)],
                stdout=io.StringIO(), stderr=err)  # fmt: skip
    assert code == 2
    assert "cannot listen" in err.getvalue() and "Traceback" not in err.getvalue()
