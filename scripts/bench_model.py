"""Benchmark: model load time and per-file prediction latency, against a parse baseline.

    python scripts/bench_model.py [--store DIR] [--file FILE] [--repeat 50]

Reports, in one process: the time to load and verify the store and open the onnxruntime
session; then for one real file (default: a 300-line slice of the standard library's
``textwrap``-sized modules) the median and p95 of ``predict`` (extract + encode + one
onnxruntime call + decode), split into its stages, and the same file's bare ``ast.parse``
as the baseline the ratio is taken against.
"""

from __future__ import annotations

import argparse
import ast
import statistics
import sys
import sysconfig
import time
from pathlib import Path
from typing import Callable, List

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from localtypes.analysis.extract import extract
from localtypes.api import predict
from localtypes.model.predictor import OnnxPredictor
from localtypes.model.store import load_store


def default_file() -> Path:
    """A real module of about 300 lines from this Python's standard library."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for name in ("shlex.py", "textwrap.py", "fnmatch.py"):
        if (stdlib / name).is_file():
            return stdlib / name
    raise SystemExit("no standard library module found; pass --file")


def timed(function: Callable[[], object], repeat: int) -> List[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", default=None)
    parser.add_argument("--file", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    path = args.file or default_file()
    source = path.read_text(encoding="utf-8")

    started = time.perf_counter()
    predictor = OnnxPredictor(load_store(args.store))
    load_ms = (time.perf_counter() - started) * 1000
    predict(source, predictor=predictor)  # warm-up

    module = extract(source)
    network = predictor.network
    seen = predictor.network_input(module)  # with a first pass: its answers as features
    batch = network.encoder.encode(seen)
    logits = network.session.run(["logits"], batch.inputs())[0]
    stages = {
        "ast.parse (baseline)": timed(lambda: ast.parse(source), args.repeat),
        "predict (total)": timed(lambda: predict(source, predictor=predictor), args.repeat),
        "  extract": timed(lambda: extract(source), args.repeat),
        "  first pass (all of it)": timed(lambda: predictor.network_input(module), args.repeat),
        "  encode": timed(lambda: network.encoder.encode(seen), args.repeat),
        "  onnxruntime": timed(
            lambda: network.session.run(["logits"], batch.inputs()), args.repeat
        ),
        "  decode": timed(lambda: network.encoder.decode(batch, logits, 5), args.repeat),
    }
    baseline = statistics.median(stages["ast.parse (baseline)"])
    lines = len(source.splitlines())
    print(
        f"model {predictor.info.name} {predictor.info.version}, "
        f"{predictor.info.size_bytes / 1e6:.1f} MB"
    )
    print(f"load + verify + session: {load_ms:.0f} ms")
    print(f"file: {path} ({lines} lines, {len(module.slots)} slots)\n")
    print("| stage | median ms | p95 ms | x ast.parse |")
    print("|---|---|---|---|")
    for name, samples in stages.items():
        ordered = sorted(samples)
        p95 = ordered[int(0.95 * (len(ordered) - 1))]
        median = statistics.median(samples)
        print(f"| {name} | {median:.1f} | {p95:.1f} | {median / baseline:.1f} |")


if __name__ == "__main__":
    main()
