"""The container, tested as a user runs it: a real Docker engine, the real image.

What happens, in order (about 3-5 minutes on a clean 2-core machine):
1. ``scripts/docker_env.sh`` makes an engine available (installs Debian's docker.io and
   docker-compose and starts dockerd where none runs) and builds the base image from Debian
   packages with debootstrap (no registry can be reached on the CI machines).
2. The image is built from that base (``BASE_IMAGE`` build argument), pip's CA bundle passed
   as a BuildKit secret when ``PIP_CERT`` names one.
3. ``docker-compose up -d``, wait for healthy, ``POST http://localhost/predict`` with a real
   file and compare with ``localtypes predict`` run here; non-root, read-only root, limits;
   the CLI in the image over a mounted folder; /metrics scraped by a real Prometheus and
   every query of the Grafana dashboard answered; ``docker-compose down``.
4. SIGTERM: a container stops well within 10 s.
5. Scaling: three replicas behind one address (a small round-robin proxy on 127.0.0.1),
   load spread over all three, one killed mid-load, no request lost after the retry the
   proxy tells the client to make (503 + Retry-After).

Measurements (image size, layers above the base, build time, cold start, RSS idle and under
load) go to ``runs/container-measurements.json`` and to the terminal.

Every request goes to 127.0.0.1: ports are published on loopback only, never a bridge
address. Skips, loudly, only when no engine can be started (or LOCALTYPES_SKIP_CONTAINER=1).
Environment: LOCALTYPES_BASE_IMAGE (default: the debootstrap base), LOCALTYPES_TEST_HTTP_PORT
(default 80, as the README's curl), LOCALTYPES_TEST_IMAGE (test that image, build nothing)
with LOCALTYPES_TEST_STORE (the model store baked into it, for the local comparisons).
"""

from __future__ import annotations

import http.client
import http.server
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

pytestmark = pytest.mark.container

ROOT = Path(__file__).resolve().parents[2]
# The store baked into the image; the local CLI must use the same one to compare answers.
STORE = Path(os.environ.get("LOCALTYPES_TEST_STORE", ROOT / "model_store" / "localtypes-small"))
IMAGE = "localtypes:test"
BASE_IMAGE_FROM_ENV = os.environ.get("LOCALTYPES_BASE_IMAGE", "")
DEBOOTSTRAP_BASE = "localtypes-base:bookworm"
PROJECT = "localtypes-test"
MEASUREMENTS = ROOT / "runs" / "container-measurements.json"
SAMPLE = ROOT / "localtypes" / "model" / "store.py"  # a real module with many slots
LOOPBACK = "127.0.0.1"


def _docker_client() -> str:
    """Debian's client (BuildKit built in) before a newer one that would need buildx."""
    return "/usr/bin/docker" if Path("/usr/bin/docker").exists() else (shutil.which("docker") or "")


DOCKER = _docker_client()  # resolved again once the engine fixture has installed Docker
DOCKER_ENV = {**os.environ, "DOCKER_BUILDKIT": "1"}


# ---- helpers --------------------------------------------------------------------------------


def _loud_skip(message: str) -> None:
    banner = f"\n{'!' * 78}\nCONTAINER TESTS SKIPPED: {message}\n{'!' * 78}\n"
    sys.stderr.write(banner)
    warnings.warn(f"CONTAINER TESTS SKIPPED: {message}", stacklevel=2)
    pytest.skip(message)


def _run(what: str, command: List[str], check: bool, timeout: float, env: Dict[str, str]) -> str:
    """Run ``command``; its stdout, stripped. ``check``: a non-zero exit fails the test."""
    result = subprocess.run(
        command, capture_output=True, text=True, check=False, timeout=timeout, env=env, cwd=ROOT
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{what} failed:\n{result.stdout}{result.stderr}")
    return result.stdout.strip()


def docker(*args: str, check: bool = True, timeout: float = 120) -> str:
    return _run(f"docker {' '.join(args)}", [DOCKER, *args], check, timeout, DOCKER_ENV)


def compose_command() -> List[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return [DOCKER, "compose"]


def compose(*args: str, env: Dict[str, str], check: bool = True, timeout: float = 180) -> str:
    command = [*compose_command(), "-p", PROJECT, "-f", str(ROOT / "docker-compose.yml"), *args]
    return _run(f"compose {' '.join(args)}", command, check, timeout, env)


def inspect(container: str) -> Dict[str, Any]:
    document: List[Dict[str, Any]] = json.loads(docker("inspect", container))
    return document[0]


def request(
    url: str,
    body: Optional[bytes] = None,
    content_type: str = "text/x-python",
    timeout: float = 30,
) -> Tuple[int, Dict[str, str], bytes]:
    assert url.startswith((f"http://{LOOPBACK}", "http://localhost")), url
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    if body is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def wait_ready(base_url: str, timeout: float = 90) -> float:
    """Seconds until GET /v2/health/ready answers 200."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            status, _, _ = request(f"{base_url}/v2/health/ready", timeout=2)
            if status == 200:
                return time.monotonic() - start
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.1)
    raise AssertionError(f"{base_url} not ready within {timeout} s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def published_port(container: str) -> int:
    state = inspect(container)["State"]
    if not state["Running"]:
        logs = docker("logs", "--tail", "30", container, check=False)
        raise AssertionError(f"{container} exited ({state['ExitCode']}):\n{logs}")
    mapping = docker("port", container, "8080/tcp")  # "127.0.0.1:49153"
    host, _, port = mapping.splitlines()[0].rpartition(":")
    assert host == LOOPBACK, f"published beyond loopback: {mapping}"
    return int(port)


def rss_bytes(container: str) -> int:
    """Resident memory of the container's main process, read from /proc on the host."""
    pid = inspect(container)["State"]["Pid"]
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    usage = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", container)
    amount = usage.split("/")[0].strip()  # e.g. "84.2MiB"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("B", 1)):
        if amount.endswith(unit):
            return int(float(amount[: -len(unit)]) * scale)
    raise AssertionError(f"cannot read memory use from {usage!r}")


def local_cli(*args: str, cwd: Optional[Path] = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOCALTYPES_MODEL": str(STORE)}
    return subprocess.run(
        [sys.executable, "-m", "localtypes", *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=cwd or ROOT,
        timeout=300,
    )


def same_predictions(ours: Dict[str, Any], theirs: Dict[str, Any]) -> None:
    """The slots and ranked types agree; confidences within float noise (ties may swap)."""
    assert ours["model"] == theirs["model"]
    assert len(ours["slots"]) == len(theirs["slots"]) > 0
    for mine, other in zip(ours["slots"], theirs["slots"]):
        where = f"{mine['qualname']} ({mine['kind']}, line {mine['line']})"
        for key in ("kind", "qualname", "name", "line", "column", "annotation"):
            assert mine.get(key) == other.get(key), f"{where}: {key} differs"
        a, b = mine["predictions"], other["predictions"]
        assert len(a) == len(b), where
        for x, y in zip(a, b):
            assert abs(x["confidence"] - y["confidence"]) <= 2e-3, f"{where}: {x} vs {y}"
            if x["type"] != y["type"]:  # only a tie may swap two types
                assert {t["type"] for t in a} == {t["type"] for t in b}, f"{where}: {a} vs {b}"


# ---- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def measurements(request: pytest.FixtureRequest) -> Iterator[Dict[str, Any]]:
    found: Dict[str, Any] = {}
    yield found
    if not found:
        return
    MEASUREMENTS.parent.mkdir(exist_ok=True)
    MEASUREMENTS.write_text(json.dumps(found, indent=2, sort_keys=True) + "\n")
    lines = [f"container measurements (also in {MEASUREMENTS.relative_to(ROOT)}):"]
    lines += [f"  {key}: {value}" for key, value in sorted(found.items())]
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        with capture.global_and_fixture_disabled():
            print("\n" + "\n".join(lines))
    else:
        print("\n".join(lines))


@pytest.fixture(scope="session")
def engine() -> str:
    """A running Docker engine (started here when possible), else a loud skip."""
    if os.environ.get("LOCALTYPES_SKIP_CONTAINER") == "1":
        _loud_skip("LOCALTYPES_SKIP_CONTAINER=1")
    global DOCKER
    # With no base given, the script also builds the debootstrap base (cached).
    args = [str(ROOT / "scripts" / "docker_env.sh")]
    if BASE_IMAGE_FROM_ENV:
        args.append("--no-base")
    try:
        result = subprocess.run(args, capture_output=True, text=True, check=False, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        _loud_skip(f"scripts/docker_env.sh could not run: {exc}")
    DOCKER = _docker_client()
    if result.returncode != 0 or "DOCKER_ENV_OK" not in result.stdout:
        engine_up = bool(DOCKER) and (
            subprocess.run([DOCKER, "info"], capture_output=True, check=False).returncode == 0
        )
        if not engine_up:
            _loud_skip(f"no Docker engine could be started:\n{result.stderr[-2000:]}")
        # The engine runs; the base failed: the base_image fixture says why or falls back.
    return DOCKER


@pytest.fixture(scope="session")
def base_image(engine: str) -> str:
    """LOCALTYPES_BASE_IMAGE, else the debootstrap base (built once, cached), else the
    official python:3.11-slim where a registry can be reached."""
    if BASE_IMAGE_FROM_ENV:
        if docker("image", "inspect", BASE_IMAGE_FROM_ENV, check=False) == "[]":
            docker("pull", BASE_IMAGE_FROM_ENV, timeout=600)
        return BASE_IMAGE_FROM_ENV
    made = subprocess.run(
        [str(ROOT / "scripts" / "make_base_image.sh"), DEBOOTSTRAP_BASE],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        env={**os.environ, "DOCKER": engine},
    )
    if made.returncode == 0:
        return DEBOOTSTRAP_BASE
    pulled = subprocess.run(
        [engine, "pull", "python:3.11-slim"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if pulled.returncode == 0:
        return "python:3.11-slim"
    raise AssertionError(
        "no base image: scripts/make_base_image.sh failed (it needs root and debootstrap)\n"
        f"{made.stderr[-2000:]}\nand python:3.11-slim cannot be pulled:\n{pulled.stderr}\n"
        "set LOCALTYPES_BASE_IMAGE to an image with python3 and its venv module"
    )


@pytest.fixture(scope="session")
def image(engine: str, base_image: str, measurements: Dict[str, Any]) -> str:
    prebuilt = os.environ.get("LOCALTYPES_TEST_IMAGE")
    if prebuilt:  # an image built elsewhere (a CI step, a release): test it as it is
        docker("image", "inspect", prebuilt)
        return prebuilt
    assert (STORE / "manifest.json").is_file(), f"no model store at {STORE}: cannot bake it"
    args = ["build", "--build-arg", f"BASE_IMAGE={base_image}", "-t", IMAGE]
    cert = os.environ.get("PIP_CERT")
    if cert and Path(cert).is_file():
        args += ["--secret", f"id=pip_cert,src={cert}"]
    start = time.monotonic()
    result = subprocess.run(
        [engine, *args, str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        env=DOCKER_ENV,
    )
    elapsed = time.monotonic() - start
    assert result.returncode == 0, (
        f"image build failed:\n{result.stdout[-4000:]}{result.stderr[-6000:]}"
    )
    size = int(docker("image", "inspect", "-f", "{{.Size}}", IMAGE))
    base = int(docker("image", "inspect", "-f", "{{.Size}}", base_image))
    layers = docker("history", "--no-trunc", "--format", "{{.Size}}\t{{.CreatedBy}}", IMAGE)
    base_layers = len(docker("history", "-q", base_image).splitlines())
    ours = layers.splitlines()[: -base_layers or None]
    measurements.update(
        {
            "base_image": base_image,
            "build_seconds_this_run": round(elapsed, 1),
            "image_bytes": size,
            "image_mb": round(size / 1e6, 1),
            "base_image_mb": round(base / 1e6, 1),
            "above_base_mb": round((size - base) / 1e6, 1),
            "layers_above_base": [
                line.split("\t")[0] + "  " + line.split("\t")[1][:70]
                for line in ours
                if not line.startswith("0B")
            ],
        }
    )
    return IMAGE


@pytest.fixture(scope="module")
def stack(image: str, measurements: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
    """``docker-compose up -d`` with the test image; ``down`` afterwards."""
    port = int(os.environ.get("LOCALTYPES_TEST_HTTP_PORT", "80"))
    if not port_is_free(port):
        fallback = free_port()
        warnings.warn(f"127.0.0.1:{port} is taken; the compose test uses {fallback}", stacklevel=1)
        port = fallback
    env = {
        **os.environ,
        "LOCALTYPES_IMAGE": image,
        "LOCALTYPES_HTTP_PORT": str(port),
    }
    compose("down", "-v", "--remove-orphans", env=env, check=False)
    base_url = "http://localhost" + ("" if port == 80 else f":{port}")
    start = time.monotonic()
    compose("up", "-d", "--no-build", env=env)
    try:
        container = compose("ps", "-q", "localtypes", env=env).splitlines()[0]
        wait_ready(base_url)
        measurements["compose_up_to_ready_seconds"] = round(time.monotonic() - start, 2)
        deadline = time.monotonic() + 60
        while inspect(container)["State"]["Health"]["Status"] != "healthy":
            assert time.monotonic() < deadline, "container never became healthy"
            time.sleep(0.5)
        measurements["compose_up_to_healthy_seconds"] = round(time.monotonic() - start, 2)
        yield {"url": base_url, "container": container, "env": env, "port": port}
    finally:
        logs = compose("logs", "--no-color", "--tail", "50", env=env, check=False)
        compose("down", "-v", "--remove-orphans", env=env, check=False)
        sys.stderr.write(f"\n--- last compose logs ---\n{logs}\n")


# ---- compose: the user's path ---------------------------------------------------------------


def test_predict_over_http_equals_the_local_cli(stack: Dict[str, Any]) -> None:
    source = SAMPLE.read_bytes()
    status, headers, body = request(f"{stack['url']}/predict", source)
    assert status == 200, body[:500]
    assert headers.get("Content-Type", "").startswith("application/json")
    served = json.loads(body)

    local = local_cli("predict", str(SAMPLE))
    assert local.returncode == 0, local.stderr
    same_predictions(served, json.loads(local.stdout))

    # The JSON form of the request gives the same answer.
    status, _, body = request(
        f"{stack['url']}/predict",
        json.dumps({"source": source.decode(), "path": "store.py"}).encode(),
        content_type="application/json",
    )
    assert status == 200
    same_predictions(json.loads(body), served)


def test_up_without_the_monitoring_profile_makes_no_volume(stack: Dict[str, Any]) -> None:
    """Prometheus's and Grafana's storage belongs to the profile: a plain ``up`` makes
    none (Compose v1 made every named volume of the file, used or not)."""
    volumes = docker("volume", "ls", "-q", "--filter",
                     f"label=com.docker.compose.project={PROJECT}")  # fmt: skip
    assert volumes == ""


def test_errors_are_json_with_the_right_status(stack: Dict[str, Any]) -> None:
    status, _, body = request(f"{stack['url']}/predict", b"def broken(:\n")
    assert status == 422
    assert "error" in json.loads(body)


def test_model_metadata_endpoint(stack: Dict[str, Any]) -> None:
    status, _, body = request(f"{stack['url']}/v2/models/localtypes")
    assert status == 200
    manifest = json.loads((STORE / "manifest.json").read_text())
    assert manifest["files"]["model.onnx"] in body.decode()


def test_runs_as_non_root(stack: Dict[str, Any]) -> None:
    uid = docker("exec", stack["container"], "python", "-c", "import os; print(os.getuid())")
    assert uid == "10001"


def test_root_filesystem_is_read_only(stack: Dict[str, Any]) -> None:
    container = stack["container"]
    assert inspect(container)["HostConfig"]["ReadonlyRootfs"] is True
    write = "import sys; open(sys.argv[1], 'w').write('x')"
    for path in ("/opt/venv/x", "/home/localtypes/x", "/src/x"):
        result = subprocess.run(
            [DOCKER, "exec", container, "python", "-c", write, path],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode != 0 and "Read-only file system" in result.stderr, path
    docker("exec", container, "python", "-c", write, "/tmp/x")  # the tmpfs is writable


def test_limits_and_hardening_apply(stack: Dict[str, Any]) -> None:
    host = inspect(stack["container"])["HostConfig"]
    assert host["NanoCpus"] == 2_000_000_000
    assert host["Memory"] == 1 << 30
    assert host["PidsLimit"] == 256
    assert host["CapDrop"] == ["ALL"] or "ALL" in host["CapDrop"]
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert host["RestartPolicy"]["Name"] == "unless-stopped"
    bindings = host["PortBindings"]["8080/tcp"]
    assert all(b["HostIp"] == LOOPBACK for b in bindings)


def test_metrics_are_scraped_and_dashboard_queries_answer(
    stack: Dict[str, Any], tmp_path: Path
) -> None:
    status, _, body = request(f"{stack['url']}/metrics")
    assert status == 200
    text = body.decode()
    for name in (
        "localtypes_requests_total",
        "localtypes_request_duration_seconds_bucket",
        "localtypes_in_flight_requests",
        "localtypes_inference_duration_seconds_bucket",
        "localtypes_model_info",
    ):
        assert name in text, f"/metrics lacks {name}"

    prometheus = shutil.which("prometheus")
    if prometheus is None:
        _loud_skip("Debian's prometheus is not installed: dashboard queries NOT run")
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        from test_deploy_lint import dashboard_queries
    finally:
        sys.path.pop(0)
    prom_port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: localtypes\n"
        f"    static_configs: [{{targets: ['{LOOPBACK}:{stack['port']}']}}]\n"
    )
    server = subprocess.Popen(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address={LOOPBACK}:{prom_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    api = f"http://{LOOPBACK}:{prom_port}/api/v1/query"
    try:
        # Traffic over a few scrapes: successes, a client error.
        source = SAMPLE.read_bytes()
        for _ in range(8):
            request(f"{stack['url']}/predict", source)
            request(f"{stack['url']}/predict", b"def broken(:\n")
            time.sleep(0.6)
        empty = []
        deadline = time.monotonic() + 30
        queries = [
            q.replace("$job", ".*").replace("$__rate_interval", "1m") for q in dashboard_queries()
        ]
        while True:
            empty = []
            for query in queries:
                url = api + "?" + urllib.parse.urlencode({"query": query})
                try:
                    status, _, body = request(url, timeout=5)
                except OSError:
                    status, body = 0, b"{}"
                answer = json.loads(body or b"{}")
                if status == 200:
                    assert answer["status"] == "success", query
                if status != 200 or not (answer["data"]["result"] or _may_be_empty(query)):
                    empty.append(query)
            if not empty or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert not empty, f"dashboard queries without data: {empty}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _may_be_empty(query: str) -> bool:
    """Series that exist only once something went wrong (no rejections in this test)."""
    return "localtypes_rejected_total" in query


def test_cli_in_the_image_over_a_mounted_folder(image: str, tmp_path: Path) -> None:
    """``docker run --rm --user $(id -u):$(id -g) -v "$PWD:/src" IMAGE annotate /src``.

    The user's files belong to the user; running the container as that user (the README's
    command) lets the non-root, read-only container write them and keeps their owner.
    """
    sample = (
        "class Counter:\n"
        "    def __init__(self, start=0):\n"
        "        self.count = start\n"
        "\n"
        "    def is_empty(self):\n"
        "        return self.count == 0\n"
        "\n"
        "    def describe(self):\n"
        "        return f'{self.count} items'\n"
    )
    in_image, here = tmp_path / "in_image", tmp_path / "here"
    (tmp_path / "counter.py").write_text(sample)
    shutil.copy(SAMPLE, tmp_path / "store_copy.py")
    for folder in (in_image, here):
        folder.mkdir()
        (folder / "counter.py").write_text(sample)
        shutil.copy(SAMPLE, folder / "store_copy.py")
    # As root (CI), hand the folder to an ordinary user's ids; otherwise it is already ours.
    uid, gid = (1000, 1000) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    user = f"{uid}:{gid}"
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", user, str(in_image)], check=True)
    result = subprocess.run(
        [
            DOCKER,
            "run",
            "--rm",
            "--user",
            user,
            "--read-only",
            "--tmpfs",
            "/tmp",
            "-v",
            f"{in_image}:/src",
            image,
            "annotate",
            "--no-cache",
            "--min-confidence=0",
            "/src",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    local = local_cli("annotate", "--no-cache", "--min-confidence=0", str(here))
    assert local.returncode == 0, local.stdout + local.stderr
    for name in ("counter.py", "store_copy.py"):
        assert (in_image / name).read_text() == (here / name).read_text(), name
        assert (in_image / name).stat().st_uid == uid
    # At threshold 0 every guess whose names resolve is written: something must be.
    changed = [
        p.name for p in in_image.iterdir() if p.read_bytes() != (tmp_path / p.name).read_bytes()
    ]
    assert changed, "nothing was annotated in the container"


def test_stops_within_ten_seconds_on_sigterm(image: str, measurements: Dict[str, Any]) -> None:
    name = f"localtypes-sigterm-{os.getpid()}"
    docker("rm", "-f", name, check=False)
    start = time.monotonic()
    docker(
        "run", "-d", "--name", name, "--read-only", "--tmpfs", "/tmp",
        "-p", f"{LOOPBACK}::8080", image,
    )  # fmt: skip
    try:
        url = f"http://{LOOPBACK}:{published_port(name)}"
        wait_ready(url)
        measurements["cold_start_to_ready_seconds"] = round(time.monotonic() - start, 2)
        time.sleep(2)
        measurements["rss_idle_mb"] = round(rss_bytes(name) / 1e6, 1)
        stop_start = time.monotonic()
        docker("stop", "--time", "30", name, timeout=60)
        elapsed = time.monotonic() - stop_start
        state = inspect(name)["State"]
        measurements["stop_on_sigterm_seconds"] = round(elapsed, 2)
        assert elapsed < 10, f"took {elapsed:.1f} s to stop on SIGTERM"
        assert state["ExitCode"] != 137, "killed, not stopped"
    finally:
        docker("rm", "-f", name, check=False)


# ---- scaling: three replicas behind one address ---------------------------------------------


class RoundRobinProxy(http.server.ThreadingHTTPServer):
    """A small load balancer on 127.0.0.1: round robin over healthy backends.

    A backend that refuses or drops a connection is taken out for a while and the client gets
    503 with Retry-After: the retry it is told to make lands on another replica.
    """

    daemon_threads = True

    def __init__(self, backends: List[int]) -> None:
        self.backends = backends
        self.down_until: Dict[int, float] = {}
        self.served: Dict[int, int] = dict.fromkeys(backends, 0)
        self.lock = threading.Lock()
        self.cycle = itertools.cycle(backends)
        super().__init__((LOOPBACK, 0), _ProxyHandler)

    def pick(self) -> Optional[int]:
        with self.lock:
            for _ in range(len(self.backends)):
                port = next(self.cycle)
                if self.down_until.get(port, 0) <= time.monotonic():
                    return port
        return None

    def mark_down(self, port: int) -> None:
        with self.lock:
            self.down_until[port] = time.monotonic() + 30


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    server: RoundRobinProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        port = self.server.pick()
        if port is None:
            return self._reply(503, b'{"error": "no backend"}', {"Retry-After": "1"})
        try:
            connection = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
            connection.request(
                "POST", self.path, body, {"Content-Type": self.headers["Content-Type"]}
            )
            answer = connection.getresponse()
            payload = answer.read()
            connection.close()
        except (OSError, http.client.HTTPException):
            self.server.mark_down(port)
            return self._reply(503, b'{"error": "backend lost"}', {"Retry-After": "0"})
        with self.server.lock:
            self.server.served[port] += 1
        extra = {"Retry-After": answer.headers["Retry-After"]} if answer.status == 503 else {}
        self._reply(answer.status, payload, {"X-Backend": str(port), **extra})

    def _reply(self, status: int, payload: bytes, headers: Dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in headers.items():
            if value is not None:
                self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)


def _client(url: str, body: bytes, counters: Dict[str, int], lock: threading.Lock) -> int:
    """One request with the retries the server tells us to make; returns the final status."""
    for attempt in range(4):
        try:
            status, headers, _ = request(url, body, timeout=30)
        except (OSError, http.client.HTTPException):
            status, headers = 0, {}
        if status == 200:
            return status
        with lock:
            counters["retried"] += 1
        if status not in (0, 503) or attempt == 3:
            return status
        time.sleep(float(headers.get("Retry-After", "0.5") or 0.5))
    return status


def test_three_replicas_share_load_and_survive_losing_one(
    image: str, measurements: Dict[str, Any]
) -> None:
    names = [f"localtypes-scale-{os.getpid()}-{i}" for i in range(3)]
    for name in names:
        docker("rm", "-f", name, check=False)
    try:
        for name in names:
            docker(
                "run", "-d", "--name", name, "--read-only", "--tmpfs", "/tmp",
                "--cpus", "0.6", "-e", "LOCALTYPES_MAX_CONCURRENT_INFERENCE=1",
                "-p", f"{LOOPBACK}::8080", image,
            )  # fmt: skip
        ports = [published_port(name) for name in names]
        for port in ports:
            wait_ready(f"http://{LOOPBACK}:{port}")
        proxy = RoundRobinProxy(ports)
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        url = f"http://{LOOPBACK}:{proxy.server_address[1]}/predict"
        body = SAMPLE.read_bytes()

        counters = {"retried": 0}
        lock = threading.Lock()
        statuses: List[int] = []
        stop = threading.Event()
        victim = names[1]
        rss_under_load: List[int] = []

        def worker() -> None:
            while not stop.is_set():
                statuses.append(_client(url, body, counters, lock))

        def chaos() -> None:
            time.sleep(4)
            rss_under_load.extend(rss_bytes(name) for name in names)
            before = dict(proxy.served)
            docker("kill", victim)
            measurements["scale_served_before_kill"] = before

        with ThreadPoolExecutor(max_workers=5) as pool:
            futures = [pool.submit(worker) for _ in range(4)]
            killer = pool.submit(chaos)
            time.sleep(10)
            stop.set()
            killer.result()
            for future in futures:
                future.result()
        proxy.shutdown()

        served = proxy.served
        failed = [s for s in statuses if s != 200]
        measurements["scale_requests"] = len(statuses)
        measurements["scale_served_per_replica"] = {str(p): n for p, n in served.items()}
        measurements["scale_retries"] = counters["retried"]
        measurements["scale_failed_after_retry"] = len(failed)
        measurements["rss_under_load_mb"] = [round(r / 1e6, 1) for r in rss_under_load]
        assert not failed, f"{len(failed)} requests failed after retrying: {set(failed)}"
        assert len(statuses) >= 30, f"only {len(statuses)} requests in 10 s"
        before = measurements["scale_served_before_kill"]
        assert all(n > 0 for n in before.values()), f"a replica got no load: {before}"
        assert max(before.values()) <= 2 * min(before.values()) + 2, f"uneven: {before}"
        survivors = [p for p, name in zip(ports, names) if name != victim]
        assert all(served[p] > before[p] for p in survivors), "survivors took over the load"
        for port in survivors:  # the replicas' own counters agree that they served
            _, _, metrics = request(f"http://{LOOPBACK}:{port}/metrics")
            assert "localtypes_requests_total" in metrics.decode()
    finally:
        for name in names:
            docker("rm", "-f", name, check=False)
