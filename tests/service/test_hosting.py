"""The HTTP server around the app, over real sockets: connection limits and timeouts, bodies
refused at any size, errors waitress answers by itself, draining on SIGTERM, and how a real
``localtypes serve`` starts and stops (issue 12, items 8 to 11 and 13)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
from serving import (
    LOOPBACK,
    Running,
    free_port,
    metric,
    real_predictor,
    request,
    running,
    test_settings,
    wait_until,
)

from localtypes.model.store import locate
from localtypes.service import app as app_module
from localtypes.service import hosting

ROOT = Path(__file__).resolve().parents[2]
MAX_BODY = 256 << 10
SOURCE = b"def f(n=1):\n    return [n]\n"


@pytest.fixture(scope="module")
def served() -> Iterator[Running]:
    with running(test_settings(max_body_bytes=MAX_BODY, threads=4)) as server:
        yield server


def connect(server: Running, timeout: float = 10) -> socket.socket:
    return socket.create_connection((LOOPBACK, server.service.port), timeout=timeout)


def read_response(sock: socket.socket) -> Tuple[int, Dict[str, str], bytes]:
    """One HTTP response from ``sock`` (status, headers in lower case, body)."""
    response = http.client.HTTPResponse(sock)
    response.begin()
    body = response.read()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def assert_json_error(
    status: int, headers: Dict[str, str], body: bytes, expected: int
) -> Dict[str, Any]:
    assert status == expected, body[:300]
    assert headers["content-type"] == "application/json"
    assert headers["x-request-id"] and headers["x-localtypes-version"]
    assert headers["x-localtypes-model-version"] == real_predictor().info.version
    document = json.loads(body)
    assert isinstance(document["error"], str) and document["error"]
    return dict(document)


# --- item 8: idle and slow connections ------------------------------------------------------


def _keep_alive(server: Running, count: int) -> List[socket.socket]:
    """``count`` connections, each answered once and then left open, idle."""
    socks = [connect(server, timeout=5) for _ in range(count)]
    for sock in socks:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
    for sock in socks:
        # Evicted already, or never accepted: either way it holds a socket.
        with contextlib.suppress(OSError):
            read_response(sock)
    return socks


def _probe_quickly(server: Running) -> None:
    start = time.monotonic()
    assert request(server.url + "/v2/health/live", timeout=3).status == 200
    answer = request(server.url + "/predict", SOURCE, content_type="text/x-python", timeout=5)
    assert answer.status == 200
    assert time.monotonic() - start < 5


def test_idle_keep_alive_connections_beyond_the_limit_do_not_lock_clients_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 200 idle keep-alive sockets, four times a (lowered) connection limit: the longest idle
    # make room for new clients. (waitress's defaults: the 101st client waited 120 s.)
    monkeypatch.setattr(hosting, "CONNECTION_LIMIT", 50)
    with running(test_settings(threads=4)) as server:
        assert server.service.connection_limit == 50
        socks = _keep_alive(server, 200)
        try:
            _probe_quickly(server)
            assert len(server.service._channels()) <= 50
        finally:
            for sock in socks:
                sock.close()


def test_slowloris_connections_do_not_lock_clients_out_and_get_408(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hosting, "HEADER_TIMEOUT", 1.0)
    with running(test_settings(threads=4)) as server:
        socks = [connect(server, timeout=10) for _ in range(150)]
        try:
            for sock in socks:
                sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n")
            _probe_quickly(server)
            for number in range(2):  # a header line now and then: never idle
                time.sleep(0.25)
                for sock in socks:
                    sock.sendall(b"X-Slow-%d: 1\r\n" % number)
            _probe_quickly(server)
            # Past HEADER_TIMEOUT each gets a JSON 408, and the server closes its side.
            for sock in socks:
                status, headers, body = read_response(sock)
                document = assert_json_error(status, headers, body, 408)
                assert "headers" in document["error"]
                assert sock.recv(10) == b""
                sock.close()  # the server, lingering, then closes at once
            wait_until(lambda: not server.service._channels(), what="the slow ones to close")
            text = request(server.url + "/metrics").body.decode()
            # Counted; the path is not known before the headers are complete.
            assert metric(text, "localtypes_requests_total", endpoint="other", status="408") == 150
        finally:
            for sock in socks:
                sock.close()


def test_a_slow_body_gets_408_after_the_read_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hosting, "REQUEST_READ_TIMEOUT", 1.0)
    with running(test_settings(threads=2)) as server:
        sock = connect(server)
        try:
            sock.sendall(
                b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: text/x-python\r\n"
                b"Content-Length: 1000\r\n\r\nx = 1\n"
            )
            status, headers, body = read_response(sock)
            document = assert_json_error(status, headers, body, 408)
            assert "request did not arrive" in document["error"]
        finally:
            sock.close()


def test_idle_connections_are_closed_after_the_idle_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hosting, "IDLE_TIMEOUT", 1)
    with running(test_settings(threads=2)) as server:
        sock = connect(server)
        try:
            sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(sock)[0] == 200
            sock.settimeout(10)
            start = time.monotonic()
            assert sock.recv(10) == b""  # an orderly close (FIN), not a reset
            assert 0.5 < time.monotonic() - start < 5
        finally:
            sock.close()


# --- item 9: bodies over the limit ----------------------------------------------------------


def _expected_413(size: Optional[int]) -> Dict[str, Any]:
    shown = f"{size} bytes" if size is not None else f"more than {MAX_BODY} bytes"
    return {
        "error": f"the body has {shown}; this server accepts at most {MAX_BODY} (max_body_bytes)",
        "limit": MAX_BODY,
    }


@pytest.mark.parametrize(
    "size",
    [MAX_BODY + 1, 2 * MAX_BODY + (64 << 10) + 1, 2_400_000, 40 * MAX_BODY],
    ids=["just-over", "past-waitress-bound", "2.4MB", "40x"],
)
def test_a_body_over_the_limit_gets_the_same_json_413_at_every_size(
    served: Running, size: int
) -> None:
    """urllib writes the whole body before it reads: it must get the 413, never a reset."""
    body = b"#" * size
    for _ in range(10 if size == 2_400_000 else 2):
        req = urllib.request.Request(
            served.url + "/predict", data=body, headers={"Content-Type": "text/x-python"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(req, timeout=30)
        error = refused.value
        headers = {k.lower(): v for k, v in error.headers.items()}
        document = assert_json_error(error.code, headers, error.read(), 413)
        assert document == _expected_413(size)


def test_expect_100_continue_is_not_sent_for_a_body_over_the_limit(served: Running) -> None:
    sock = connect(served)
    try:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: text/x-python\r\n"
            b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % (10 * MAX_BODY)
        )
        first = sock.recv(12)
        assert first == b"HTTP/1.1 413", first
    finally:
        sock.close()
    # Under the limit the client is told to continue, then answered.
    sock = connect(served)
    try:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: text/x-python\r\n"
            b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(SOURCE)
        )
        assert sock.recv(25) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(SOURCE)
        assert read_response(sock)[0] == 200
    finally:
        sock.close()


def test_a_chunked_body_over_the_limit_gets_the_same_json_413(served: Running) -> None:
    connection = http.client.HTTPConnection(LOOPBACK, served.service.port, timeout=30)
    try:
        chunks = (b"#" * 65536 for _ in range(2 * MAX_BODY // 65536))
        connection.request("POST", "/predict", chunks, {"Content-Type": "text/x-python"},
                           encode_chunked=True)  # fmt: skip
        response = connection.getresponse()
        headers = {k.lower(): v for k, v in response.getheaders()}
        document = assert_json_error(response.status, headers, response.read(), 413)
        assert document == _expected_413(None)
    finally:
        connection.close()


# --- item 13: errors waitress answers by itself ---------------------------------------------


@pytest.mark.parametrize(
    ("head", "status", "endpoint"),
    [
        (b"POST /predict HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (4 * MAX_BODY), 413,
         "/predict"),
        (b"POST /predict HTTP/1.1\r\nContent-Length: nope\r\n\r\n", 400, "/predict"),
        (b"GET /v2/health/live HTTP/1.1\r\nX-Big: " + b"a" * (70 << 10) + b"\r\n\r\n", 431,
         "other"),
        (b"POST /annotate HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "/annotate"),
        (b"GET /v2/health/live HTTP/1.1\r\nno colon here\r\n\r\n", 400, "other"),
    ],
    ids=["413", "bad-content-length", "431", "501", "bad-request-line"],
)  # fmt: skip
def test_errors_waitress_answers_are_the_apps_json_counted_with_headers(
    served: Running, head: bytes, status: int, endpoint: str
) -> None:
    before = metric(served.request("/metrics").body.decode(), "localtypes_requests_total",
                    endpoint=endpoint, status=str(status))  # fmt: skip
    sock = connect(served)
    try:
        sock.sendall(head.replace(b"\r\n\r\n", b"\r\nX-Request-Id: mine-1\r\n\r\n", 1))
        got, headers, body = read_response(sock)
    finally:
        sock.close()
    assert_json_error(got, headers, body, status)
    if endpoint != "other":  # else the headers could not be read: the id is a new one
        assert headers["x-request-id"] == "mine-1"
    after = metric(served.request("/metrics").body.decode(), "localtypes_requests_total",
                   endpoint=endpoint, status=str(status))  # fmt: skip
    assert after == before + 1


def test_head_on_the_probes_and_documents(served: Running) -> None:
    for path in ("/v2/health/live", "/v2/health/ready", "/v2/models/localtypes", "/metrics",
                 "/openapi.json"):  # fmt: skip
        head = served.request(path, method="HEAD")
        get = served.request(path)
        assert head.status == get.status == 200, path
        assert head.body == b""
        if path != "/metrics":  # the metrics move between the two requests
            assert head.headers["Content-Length"] == get.headers["Content-Length"]
        assert head.headers["X-Request-Id"]
    assert served.request("/predict", method="HEAD").status == 405


# --- item 10: draining on SIGTERM -----------------------------------------------------------


def _serve(*flags: str, env: Optional[Dict[str, str]] = None) -> subprocess.Popen[str]:
    environ = dict(os.environ)
    environ["LOCALTYPES_MODEL"] = str(locate())
    environ["PYTHONUNBUFFERED"] = "1"
    environ.update(env or {})
    command = [sys.executable, "-m", "localtypes", "serve", *flags]
    return subprocess.Popen(command, cwd=ROOT, env=environ, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def _listening(process: subprocess.Popen[str]) -> str:
    assert process.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        if json.loads(line)["message"] == "listening":
            return str(json.loads(line)["url"])
    raise AssertionError(f"the server did not start (exit {process.poll()})")


def _finish(process: subprocess.Popen[str], timeout: float = 30) -> str:
    try:
        _, stderr = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return stderr


@pytest.mark.slow
def test_sigterm_under_keep_alive_load_closes_connections_without_resets() -> None:
    real_predictor()  # skip without a model store
    process = _serve("--host", LOOPBACK, "--port", "0", "--threads", "8")
    url = _listening(process)
    port = int(url.rsplit(":", 1)[1])
    wait_until(lambda: request(url + "/v2/health/ready").status == 200, timeout=60,
               what="readiness")  # fmt: skip
    signalled = threading.Event()
    resets: List[str] = []
    closes: List[int] = []
    answered: List[int] = []

    def client(number: int) -> None:
        connection = http.client.HTTPConnection(LOOPBACK, port, timeout=20)
        while True:
            try:
                if number % 2:
                    connection.request("GET", "/v2/health/live")
                else:
                    connection.request("POST", "/predict", SOURCE,
                                       {"Content-Type": "text/x-python"})  # fmt: skip
                response = connection.getresponse()
                response.read()
            except ConnectionRefusedError:
                return  # the listener is closed: a new connection is refused, cleanly
            except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected,
                    http.client.BadStatusLine) as exc:  # fmt: skip
                resets.append(f"client {number}: {exc!r}")
                return
            assert response.status == 200
            answered.append(number)
            if response.getheader("Connection", "").lower() == "close":
                closes.append(number)
                if signalled.is_set():
                    # honour it: http.client closes this connection and would reconnect
                    connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    idle = []  # answered once, then quiet: closed after the grace, with a FIN
    for _ in range(3):
        sock = socket.create_connection((LOOPBACK, port), timeout=10)
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock)[0] == 200
        idle.append(sock)
    try:
        wait_until(lambda: len(answered) > 100, timeout=60, what="load")
        start = time.monotonic()
        signalled.set()
        process.send_signal(signal.SIGTERM)
        stderr = _finish(process)
        elapsed = time.monotonic() - start
        for sock in idle:
            assert sock.recv(10) == b""  # an orderly close, not a reset
    finally:
        for thread in threads:
            thread.join(30)
        for sock in idle:
            sock.close()
    print(f"\nSIGTERM under keep-alive load: stopped in {elapsed:.2f} s, {len(answered)} answers,"
          f" {len(closes)} with Connection: close, {len(resets)} resets")  # fmt: skip
    assert process.returncode == 0, stderr[-2000:]
    assert not resets, resets
    assert closes, "no answer said Connection: close while draining"
    assert hosting.DRAIN_IDLE_GRACE <= elapsed < 2.5, f"took {elapsed:.2f} s to stop"
    assert "terminate called" not in stderr and "Traceback" not in stderr


# --- item 11: starting and stopping ---------------------------------------------------------


def _one_error_line(stderr: str, *words: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr[-3000:]
    assert lines[0].startswith("Error: ")
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.slow
def test_serve_on_a_taken_port_exits_2_with_one_line() -> None:
    real_predictor()
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        for _ in range(8):  # the old server aborted in 6 of 8 runs
            process = _serve("--host", LOOPBACK, "--port", str(port))
            stderr = _finish(process)
            assert process.returncode == 2, stderr[-2000:]
            _one_error_line(stderr, "cannot listen", str(port), "in use")


@pytest.mark.parametrize("host", ["256.1.1.1", "no such host.invalid"])
def test_serve_on_an_invalid_host_exits_2_with_one_line(host: str) -> None:
    real_predictor()
    process = _serve("--host", host, "--port", str(free_port()))
    stderr = _finish(process)
    assert process.returncode == 2, stderr[-2000:]
    _one_error_line(stderr, "cannot listen", host)


def test_stopping_while_the_model_loads_waits_for_the_loader() -> None:
    """The process must not exit while a thread is inside onnxruntime (the abort, "terminate
    called without an active exception"): a stop during loading returns once loading ended."""
    gate = threading.Event()

    class SlowLoading(app_module.App):
        def create_predictor(self) -> Any:
            gate.wait(30)  # the onnxruntime session being created
            return super().create_predictor()

    settings = test_settings()
    app = SlowLoading(settings, real_predictor())
    service = hosting.Service(settings, app)
    runner = threading.Thread(target=service.run)
    runner.start()
    try:
        assert request(service.url + "/v2/health/ready").status == 503
        service.stop()
        time.sleep(0.6)
        assert runner.is_alive(), "run() returned with the model loader still running"
    finally:
        gate.set()
        runner.join(30)
    assert not runner.is_alive() and not app._loader.is_alive()


def test_a_server_that_cannot_bind_never_starts_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    started: List[bool] = []
    monkeypatch.setattr(app_module.App, "_load", lambda self: started.append(True))
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        settings = test_settings(port=taken.getsockname()[1])
        with pytest.raises(hosting.ServeError, match="cannot listen"):
            hosting.Service(settings)
    assert not started


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_cleanly_at_any_moment_of_its_start(signum: int) -> None:
    """A signal at once, while the model loads, or as it gets ready: exit 0, no abort."""
    real_predictor()
    for step in range(12):
        process = _serve("--host", LOOPBACK, "--port", "0")
        try:
            _listening(process)
            time.sleep(step * 0.06)
            process.send_signal(signum)
        finally:
            stderr = _finish(process)
        assert process.returncode == 0, (step, process.returncode, stderr[-2000:])
        assert "terminate called" not in stderr and "Traceback" not in stderr
        assert json.loads(stderr.splitlines()[-1])["message"] == "stopped"


def test_serve_gives_the_callers_signal_handlers_back() -> None:
    """serve() in a program's main thread (as tests run it) must not leave its handlers:
    a later Ctrl-C would set a stopped server's event instead of interrupting."""
    calls: List[int] = []

    def own(signum: int, frame: object) -> None:
        calls.append(signum)

    before = {signum: signal.signal(signum, own) for signum in (signal.SIGTERM, signal.SIGINT)}
    done = threading.Event()

    def stop_when_serving() -> None:
        while not done.wait(0.2):  # until serve() has its handlers, a signal reaches ours
            os.kill(os.getpid(), signal.SIGTERM)

    stopper = threading.Thread(target=stop_when_serving, daemon=True)
    stopper.start()
    try:
        hosting.serve(test_settings())
    finally:
        done.set()
        stopper.join()
        after = {signum: signal.getsignal(signum) for signum in before}
        for signum, handler in before.items():
            signal.signal(signum, handler)
    assert after == {signal.SIGTERM: own, signal.SIGINT: own}
