#!/usr/bin/env python3
"""Load benchmark of the REST service, on 127.0.0.1 only, bounded in time.

Starts ``localtypes serve`` in a subprocess (so its RSS is its own and the clients do not
share its GIL), drives ``POST /predict`` with a real 200-400 line file at 1, 4 and 16
concurrent keep-alive clients for a fixed time each, and reports requests/s, latency
percentiles, errors, the latency of /v2/health/live under that load, and the server's peak
RSS. In the same run it measures the model alone (``core.predict`` in a loop, in this
process, with the server's thread settings), so the HTTP overhead shows as a ratio.

``--soak SECONDS`` instead runs one long load and samples the server's RSS every second,
and reports whether it grows.

    python scripts/bench_server.py                    # the table
    python scripts/bench_server.py --soak 300         # five minutes of load, RSS over time
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import sysconfig
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"  # never anything else: load only ever goes to loopback
DEFAULT_FILE = Path(sysconfig.get_paths()["stdlib"]) / "shlex.py"


@dataclass
class Phase:
    clients: int
    seconds: float
    requests: int = 0
    errors: int = 0
    rps: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    probe_p50_ms: float = 0.0
    probe_max_ms: float = 0.0
    rss_mb: float = 0.0
    peak_rss_mb: float = 0.0
    error_samples: List[str] = field(default_factory=list)


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    """Resident memory of ``pid`` (VmHWM: the peak since it started), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: List[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


class Server:
    """``localtypes serve`` on an ephemeral loopback port."""

    def __init__(self, model: Optional[str], threads: Optional[int], concurrency: int) -> None:
        env = dict(os.environ)
        if model:
            env["LOCALTYPES_MODEL"] = model
        env["LOCALTYPES_MAX_CONCURRENT_INFERENCE"] = str(concurrency)
        env["PYTHONUNBUFFERED"] = "1"
        command = [sys.executable, "-m", "localtypes", "serve", "--host", HOST, "--port", "0",
                   "--no-access-log"]  # fmt: skip
        if threads:
            command += ["--threads", str(threads)]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
            text=True,
        )  # fmt: skip
        self.port = self._wait_listening()
        self._drain = threading.Thread(target=self._read_log, daemon=True)
        self._drain.start()
        deadline = time.monotonic() + 120
        while get(self.port, "/v2/health/ready")[0] != 200:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit("the server did not become ready")
            time.sleep(0.1)

    def _wait_listening(self) -> int:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            try:
                entry = json.loads(line)
            except ValueError:
                sys.stderr.write(line)
                continue
            if entry.get("message") == "listening":
                return int(str(entry["url"]).rsplit(":", 1)[1])
        raise SystemExit(f"the server did not start (exit {self.process.wait()})")

    def _read_log(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:  # keep the pipe drained; show warnings and errors
            if '"level": "warning"' in line or '"level": "error"' in line:
                sys.stderr.write(line)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> float:
        """SIGTERM; the seconds it took to exit."""
        start = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return time.monotonic() - start


def get(port: int, path: str) -> Tuple[int, bytes]:
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    except OSError:
        return 0, b""
    finally:
        connection.close()


def client(
    port: int, body: bytes, stop_at: float, latencies: List[float], errors: List[str]
) -> None:
    """One keep-alive client posting ``body`` until ``stop_at``."""
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    headers = {"Content-Type": "text/x-python"}
    while time.monotonic() < stop_at:
        start = time.perf_counter()
        try:
            connection.request("POST", "/predict", body, headers)
            response = connection.getresponse()
            payload = response.read()
            if response.status != 200:
                errors.append(f"{response.status} {payload[:120]!r}")
            else:
                latencies.append(time.perf_counter() - start)
        except (OSError, http.client.HTTPException) as exc:
            errors.append(repr(exc))
            connection.close()
            connection = http.client.HTTPConnection(HOST, port, timeout=30)
    connection.close()


def run_phase(server: Server, body: bytes, clients: int, seconds: float) -> Phase:
    latencies: List[float] = []
    errors: List[str] = []
    probes: List[float] = []
    stop_at = time.monotonic() + seconds
    threads = [
        threading.Thread(target=client, args=(server.port, body, stop_at, latencies, errors))
        for _ in range(clients)
    ]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    peak = 0.0
    while time.monotonic() < stop_at:  # probes and RSS while the load runs
        probe_start = time.perf_counter()
        status, _ = get(server.port, "/v2/health/live")
        if status == 200:
            probes.append(time.perf_counter() - probe_start)
        peak = max(peak, rss_mb(server.pid))
        time.sleep(0.2)
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    ms = [1000 * value for value in latencies]
    return Phase(
        clients=clients,
        seconds=round(elapsed, 1),
        requests=len(latencies),
        errors=len(errors),
        rps=round(len(latencies) / elapsed, 1),
        p50_ms=round(percentile(ms, 50), 1),
        p95_ms=round(percentile(ms, 95), 1),
        p99_ms=round(percentile(ms, 99), 1),
        probe_p50_ms=round(1000 * percentile(probes, 50), 1),
        probe_max_ms=round(1000 * max(probes, default=0.0), 1),
        rss_mb=round(max(peak, rss_mb(server.pid)), 1),
        peak_rss_mb=round(rss_mb(server.pid, "VmHWM"), 1),
        error_samples=errors[:3],
    )


def model_alone(
    source: str, model: Optional[str], concurrency: int, seconds: float
) -> Dict[str, Any]:
    """``core.predict`` in a loop in this process: 1 thread, and ``concurrency`` threads,
    with the server's onnxruntime thread count (cores // concurrency)."""
    from localtypes.api import predict
    from localtypes.model.predictor import OnnxPredictor
    from localtypes.model.store import load_store
    from localtypes.service.admission import usable_cores

    predictor = OnnxPredictor(load_store(model), max(1, usable_cores() // concurrency))
    predict(source, predictor=predictor)  # warm-up
    results: Dict[str, Any] = {"slots": len(predict(source, predictor=predictor).slots)}
    for threads in sorted({1, concurrency}):
        rate = _loop_rate(lambda: predict(source, predictor=predictor).to_dict(), threads, seconds)
        results[f"threads_{threads}"] = {
            "rps": round(rate, 1),
            "ms_per_call": round(1000 / rate, 2),
        }
    return results


def _loop_rate(call: Any, threads: int, seconds: float) -> float:
    """Calls per second of ``call`` run back to back on ``threads`` threads."""
    counts = [0] * threads
    stop_at = time.monotonic() + seconds

    def loop(index: int) -> None:
        while time.monotonic() < stop_at:
            call()
            counts[index] += 1

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    start = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.monotonic() - start)


def soak(server: Server, body: bytes, clients: int, seconds: float) -> Dict[str, Any]:
    latencies: List[float] = []
    errors: List[str] = []
    stop_at = time.monotonic() + seconds
    threads = [
        threading.Thread(target=client, args=(server.port, body, stop_at, latencies, errors))
        for _ in range(clients)
    ]
    for thread in threads:
        thread.start()
    samples: List[Tuple[float, float]] = []
    start = time.monotonic()
    while time.monotonic() < stop_at:
        samples.append((time.monotonic() - start, rss_mb(server.pid)))
        time.sleep(1.0)
    for thread in threads:
        thread.join()
    # Growth: compare the median RSS of the second tenth of the run (after warm-up) with
    # the last tenth, and fit a slope over the second half.
    n = len(samples)
    early = [rss for _, rss in samples[n // 10 : max(n // 10 + 1, n // 5)]]
    late = [rss for _, rss in samples[-max(1, n // 10) :]]
    half = samples[n // 2 :]
    slope = _slope(half) * 60 if len(half) > 2 else 0.0
    early_mb, late_mb = statistics.median(early), statistics.median(late)
    # Both must hold: a one-off step (allocator arenas) is not growth, nor is noise.
    grows = late_mb - early_mb > max(5.0, 0.05 * early_mb) and slope > 0.5
    return {
        "seconds": round(time.monotonic() - start, 1),
        "clients": clients,
        "requests": len(latencies),
        "errors": len(errors),
        "rss_early_mb": round(early_mb, 1),
        "rss_late_mb": round(late_mb, 1),
        "rss_peak_mb": round(rss_mb(server.pid, "VmHWM"), 1),
        "slope_mb_per_min_second_half": round(slope, 2),
        "grows": grows,
        "samples": [(round(t, 1), round(rss, 1)) for t, rss in samples],
    }


def _slope(points: List[Tuple[float, float]]) -> float:
    xs = [x for x, _ in points]
    ys = [y for _, y in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / den if den else 0.0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE, help="source to send")
    parser.add_argument("--model", help="model store folder (default: the usual lookup)")
    parser.add_argument("--clients", default="1,4,16", help="concurrency levels")
    parser.add_argument("--seconds", type=float, default=10.0, help="per level")
    parser.add_argument("--threads", type=int, help="server request threads (default: its own)")
    parser.add_argument("--concurrency", type=int, default=2, help="max_concurrent_inference")
    parser.add_argument("--soak", type=float, help="run one load this long and watch RSS")
    parser.add_argument("--soak-clients", type=int, default=4)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    source = args.file.read_text(encoding="utf-8")
    body = source.encode("utf-8")
    report: Dict[str, Any] = {
        "file": str(args.file),
        "lines": source.count("\n"),
        "bytes": len(body),
        "cpus": os.cpu_count(),
        "loadavg_before": os.getloadavg(),
        "server": {"threads": args.threads, "max_concurrent_inference": args.concurrency},
    }
    server = Server(args.model, args.threads, args.concurrency)
    try:
        report["rss_idle_mb"] = round(rss_mb(server.pid), 1)
        run_phase(server, body, 2, 2.0)  # warm the path; not reported
        if args.soak:
            report["soak"] = soak(server, body, args.soak_clients, args.soak)
        else:
            report["phases"] = [
                asdict(run_phase(server, body, int(n), args.seconds))
                for n in args.clients.split(",")
            ]
    finally:
        report["stop_seconds"] = round(server.stop(), 2)
    if not args.soak:
        report["model_alone"] = model_alone(
            source, args.model, args.concurrency, min(args.seconds, 10.0)
        )
    report["loadavg_after"] = os.getloadavg()
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def print_report(report: Dict[str, Any]) -> None:
    print(f"file: {report['file']} ({report['lines']} lines, {report['bytes']} bytes)")
    print(f"cpus: {report['cpus']}, load average before: {report['loadavg_before'][0]:.2f}")
    print(f"server: {report['server']}, idle RSS {report['rss_idle_mb']} MiB")
    if "phases" in report:
        alone = report["model_alone"]
        concurrency = report["server"]["max_concurrent_inference"]
        print(f"model alone in-process ({alone['slots']} slots): " + ", ".join(
            f"{k.replace('_', ' ')}: {v['rps']} req/s ({v['ms_per_call']} ms)"
            for k, v in alone.items() if k.startswith("threads_")
        ))  # fmt: skip
        print()
        print("| clients | req/s | vs model alone | p50 ms | p95 ms | p99 ms | errors "
              "| live probe p50/max ms | peak RSS MiB |")  # fmt: skip
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for phase in report["phases"]:
            # The server runs at most `concurrency` model calls at once: compare like with like.
            reference = alone[f"threads_{min(phase['clients'], concurrency)}"]["rps"]
            ratio = phase["rps"] / reference if reference else 0.0
            print(
                f"| {phase['clients']} | {phase['rps']} | {ratio:.0%} | {phase['p50_ms']} "
                f"| {phase['p95_ms']} | {phase['p99_ms']} | {phase['errors']} "
                f"| {phase['probe_p50_ms']} / {phase['probe_max_ms']} | {phase['peak_rss_mb']} |"
            )
            for sample in phase["error_samples"]:
                print(f"    error: {sample}")
    if "soak" in report:
        soak_result = {k: v for k, v in report["soak"].items() if k != "samples"}
        print("soak:", json.dumps(soak_result))
    print(f"stopped on SIGTERM in {report['stop_seconds']} s; "
          f"load average after: {report['loadavg_after'][0]:.2f}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
