"""Memory per request is bounded by design, and the Kubernetes manifests' limit holds the
largest request the service takes (issue 12, item 7).

The numbers in ``localtypes.service.admission`` and in the README come from here:
``pytest -m slow tests/service/test_memory.py -s`` prints what it measured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from serving import LOOPBACK, Answer, request, wait_until

from localtypes.model.store import locate
from localtypes.service import admission
from localtypes.service.admission import (
    MAX_SLOTS,
    MemoryGate,
    MemoryPlan,
    MemoryTooSmall,
    plan_memory,
    request_cost,
)
from localtypes.service.workers import Overloaded
from localtypes.settings import Settings

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENT = ROOT / "deploy" / "kubernetes" / "deployment.yaml"
MiB = 1 << 20
_UNITS = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}


def quantity(text: str) -> int:
    """A Kubernetes memory quantity in bytes ("768Mi", "1Gi", "1000000")."""
    for suffix, factor in _UNITS.items():
        if text.endswith(suffix):
            return int(text[: -len(suffix)]) * factor
    return int(text)


def manifest() -> Tuple[int, int, Dict[str, str]]:
    """The container's memory limit, the /tmp volume's size limit, and its environment."""
    deployment = yaml.safe_load(DEPLOYMENT.read_text(encoding="utf-8"))
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {item["name"]: str(item["value"]) for item in container.get("env", [])}
    limit = quantity(container["resources"]["limits"]["memory"])
    (tmp,) = [v for v in pod["volumes"] if v["name"] == "tmp"]
    return limit, quantity(tmp["emptyDir"]["sizeLimit"]), env


def worst_source(size: int, slots: int = MAX_SLOTS - 33) -> bytes:
    """The largest request's worst case: 64 classes (the most candidates the model scores
    for a slot), ``slots`` slots that name them, then one-letter statements (the densest
    syntax tree per byte) up to ``size`` bytes."""
    parts = [f"class Model{c}:\n    pass\n" for c in range(64)]
    made = 0
    number = 0
    while made + 4 <= slots:
        parts.append(
            f"def handle_{number}(model{number % 64}, count_{number}=1, name_{number}='x'):\n"
            f"    if isinstance(model{number % 64}, Model{number % 64}):\n"
            f"        return Model{(number + 1) % 64}()\n"
            "    return None\n"
        )
        made += 4  # three parameters and the return
        number += 1
    head = "".join(parts).encode()
    assert len(head) < size, "the slots alone are larger than the body"
    fill = size - len(head)
    return head + b"a\n" * (fill // 2) + b"\n" * (fill % 2)


# --- the plan, without a process ----------------------------------------------------------


def test_the_plan_lowers_the_body_limit_to_fit_and_reserves_per_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings(threads=4, max_concurrent_inference=2, max_body_bytes=1 << 20)

    def used(body: int) -> int:  # the process, the HTTP threads' bodies, the largest request
        held = settings.threads * admission.READ_BYTES_PER_BYTE * body
        return 100 * MiB + admission.HEADROOM + held + request_cost("/annotate", body)

    plan = plan_memory(settings, baseline=100 * MiB, limit=512 * MiB)
    assert plan.lowered and 64 << 10 < plan.max_body_bytes < 1 << 20
    assert used(plan.max_body_bytes) <= 512 * MiB < used(plan.max_body_bytes + 1024)
    assert plan.largest_at_once == 1
    roomy = plan_memory(settings, baseline=100 * MiB, limit=16 << 30)
    assert not roomy.lowered and roomy.max_body_bytes == 1 << 20
    assert roomy.largest_at_once is not None and roomy.largest_at_once >= 2
    monkeypatch.setattr(admission, "cgroup_memory_limit", lambda: None)
    unlimited = plan_memory(settings, baseline=100 * MiB)
    assert unlimited.budget is None and unlimited.max_body_bytes == 1 << 20
    assert MemoryGate(unlimited).run(1 << 40, lambda: "no reservation", timeout=0) == (
        "no reservation"
    )
    with pytest.raises(MemoryTooSmall):
        plan_memory(settings, baseline=100 * MiB, limit=160 * MiB)


def test_the_gate_holds_requests_until_their_memory_is_free() -> None:
    plan = MemoryPlan(1000, 0, 100, 10, 10, 1)
    gate = MemoryGate(plan)
    inside = threading.Event()
    release = threading.Event()
    results: List[str] = []

    def big() -> None:
        results.append(gate.run(80, lambda: (inside.set(), release.wait(10), "big")[2], 5))

    thread = threading.Thread(target=big)
    thread.start()
    assert inside.wait(10)
    assert gate.reserved == 80
    with pytest.raises(Overloaded):  # 30 more do not fit within the wait
        gate.run(30, lambda: "late", timeout=0.1)
    assert gate.run(20, lambda: "fits", timeout=0.1) == "fits"
    release.set()
    thread.join(10)
    assert results == ["big"] and gate.reserved == 0
    assert gate.run(100, lambda: "all", timeout=0.1) == "all"


# --- the largest request under the manifest's limit, in a real server ----------------------


def _peak_bytes(pid: int) -> Tuple[int, int]:
    """VmHWM (the peak resident size) and VmRSS of a process, in bytes."""
    found: Dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            found[key] = int(value.split()[0]) * 1024
    return found["VmHWM"], found["VmRSS"]


@pytest.fixture(scope="module")
def manifest_server() -> Iterator[Tuple[subprocess.Popen[str], str, Dict[str, Any]]]:
    limit, _, env = manifest()
    environ = dict(os.environ)
    environ.update(env)
    environ.update(
        LOCALTYPES_HOST=LOOPBACK,
        LOCALTYPES_PORT="0",
        LOCALTYPES_MODEL=str(locate()),
        # The cgroup's limit in the cluster; named here, where the test runs without one.
        LOCALTYPES_MEMORY_LIMIT=str(limit),
        PYTHONUNBUFFERED="1",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "localtypes", "serve"], cwd=ROOT, env=environ,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    url = ""
    ready: Dict[str, Any] = {}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not ready:
        line = process.stderr.readline()
        if not line:
            break
        entry = json.loads(line)
        if entry["message"] == "listening":
            url = entry["url"]
        elif entry["message"] == "model ready":
            ready = entry
    assert url and ready, f"the server did not get ready (exit {process.poll()})"
    drain = threading.Thread(target=process.stderr.read, daemon=True)  # keep the pipe empty
    drain.start()
    try:
        yield process, url, ready
    finally:
        process.terminate()
        process.wait(30)


@pytest.mark.slow
def test_the_largest_allowed_requests_stay_under_the_manifests_limit(
    manifest_server: Tuple[subprocess.Popen[str], str, Dict[str, Any]],
) -> None:
    process, url, ready = manifest_server
    limit, tmp_limit, env = manifest()
    threads = int(env.get("LOCALTYPES_THREADS", Settings.threads))
    wanted = int(env.get("LOCALTYPES_MAX_BODY_BYTES", Settings.max_body_bytes))
    # The manifest asks for a body limit that fits: it is not lowered.
    max_body = int(ready.get("max_body_bytes", wanted))
    assert max_body == wanted, ready
    baseline, _ = _peak_bytes(process.pid)
    body = worst_source(max_body)
    assert len(body) == max_body
    over = request(url + "/predict", body + b"\n", content_type="text/x-python")
    assert over.status == 413 and over.json()["limit"] == max_body

    answers: List[Tuple[str, Answer]] = []

    def client(number: int) -> None:
        both = ["/annotate", "/predict?top_k=20"]
        for endpoint in both if number % 2 else both[::-1]:
            answer = request(url + endpoint, body, content_type="text/x-python", timeout=120)
            answers.append((endpoint, answer))

    # One of each alone, then as many clients as the server has threads, at once.
    for endpoint in ("/annotate", "/predict?top_k=20", "/api/predict?tc=0&fp=1"):
        answer = request(url + endpoint, body, content_type="text/x-python", timeout=120)
        assert answer.status == 200, answer.body[:300]
        answers.append((endpoint, answer))
    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(300)
    assert all(answer.status in (200, 503) for _, answer in answers), [
        (e, a.status, a.body[:200]) for e, a in answers if a.status not in (200, 503)
    ]
    slots = len(answers[1][1].json()["slots"])
    assert MAX_SLOTS - 40 < slots <= MAX_SLOTS
    peak, rss = _peak_bytes(process.pid)
    ok = sum(1 for _, answer in answers if answer.status == 200)
    print(
        f"\nlargest allowed request: {max_body} bytes, {slots} slots; limit {limit / MiB:.0f} MiB"
        f" (tmp up to {tmp_limit / MiB:.0f} MiB); baseline {baseline / MiB:.1f} MiB, peak"
        f" {peak / MiB:.1f} MiB (+{(peak - baseline) / MiB:.1f}), after {rss / MiB:.1f} MiB;"
        f" {ok} of {len(answers)} answered 200, the rest 503"
    )
    # Nothing is written to /tmp by the service: the peak alone must fit.
    assert peak < limit, f"peak {peak / MiB:.0f} MiB over the limit {limit / MiB:.0f} MiB"
    if "budget_bytes" in ready:
        assert peak - int(ready["baseline_bytes"]) <= int(ready["budget_bytes"])
    wait_until(lambda: request(url + "/v2/health/live").status == 200, what="alive")


@pytest.mark.slow
def test_a_verify_request_stays_within_what_it_reserves(
    manifest_server: Tuple[subprocess.Popen[str], str, Dict[str, Any]],
) -> None:
    """``"verify": true`` runs mypy in the server's process: the peak each request adds
    (measured from a reset high-water mark), the first one with mypy's imports included,
    fits in the reservation such a request makes."""
    pytest.importorskip("mypy", reason="the verify extra is not installed")
    process, url, _ = manifest_server
    source = (ROOT / "examples" / "inventory.py").read_text(encoding="utf-8")
    added = []
    for name in ("Item", "Good"):  # the first pays mypy's imports and caches
        body = json.dumps(
            {"source": source.replace("Item", name), "path": "shop/inventory.py", "verify": True}
        ).encode()
        try:
            Path(f"/proc/{process.pid}/clear_refs").write_text("5")  # reset the high-water mark
        except OSError:
            pytest.skip("the peak resident size cannot be reset here (/proc/PID/clear_refs)")
        before, _ = _peak_bytes(process.pid)
        answer = request(url + "/annotate", body, content_type="application/json", timeout=120)
        assert answer.status == 200, answer.body[:300]
        peak, _ = _peak_bytes(process.pid)
        added.append(peak - before)
        reserved = request_cost("/annotate", len(body), verify=True)
        assert peak - before <= reserved, (added, reserved)
    print(f"\nverify requests: +{added[0] / MiB:.1f} MiB (first), +{added[1] / MiB:.1f} MiB;"
          f" each reserves {reserved / MiB:.0f} MiB")  # fmt: skip
    assert reserved - request_cost("/annotate", len(body)) == admission.VERIFY_BYTES
