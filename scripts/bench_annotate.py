#!/usr/bin/env python3
"""Benchmark ``localtypes annotate`` on a large real tree, against its floor and autotyping.

Copies a slice of this interpreter's standard library (tens of thousands of lines) and
times, each in its own process and on its own fresh copy:

- the floor: a bare libcst parse + re-emit of every file (what any libcst tool pays);
- ``localtypes annotate`` with ``--jobs 1`` and ``--jobs 2`` (empty cache each time);
- a cached re-run of ``--jobs 1`` over the tree it has just annotated;
- ``autotyping --safe`` (a libcst codemod) with one job, when it is installed.

Times are wall-clock of the whole command, interpreter start and model load included;
peak memory is the largest process's maximum RSS (``wait4``). Each row but autotyping runs
``--repeat`` times (default 3), interleaved, and the median run is reported with the range.
Prints a markdown table.

    python scripts/bench_annotate.py [--packages asyncio,email,...] [--keep DIR] [--repeat N]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

DEFAULT_PACKAGES = (
    "asyncio",
    "email",
    "http",
    "json",
    "logging",
    "xml",
    "importlib",
    "concurrent",
    "multiprocessing",
    "urllib",
    "tomllib",
)
REPO = Path(__file__).resolve().parent.parent

FLOOR_CODE = """
import sys, time, json, libcst
from pathlib import Path
files = sorted(Path(sys.argv[1]).rglob("*.py"))
start = time.perf_counter()
for path in files:
    source = path.read_bytes()
    assert libcst.parse_module(source).bytes == source
print(json.dumps({"inner_s": time.perf_counter() - start}))
"""

AUTOTYPING_CODE = """
import sys, time, json
from libcst.codemod import CodemodContext, gather_files
from libcst.codemod import parallel_exec_transform_with_prettyprint
from autotyping.autotyping import AutotypeCommand
root = sys.argv[1]
files = gather_files([root])
start = time.perf_counter()
result = parallel_exec_transform_with_prettyprint(
    AutotypeCommand(CodemodContext(), safe=True), files, jobs=1, repo_root=root,
    hide_progress=True,
)
print(json.dumps({"inner_s": time.perf_counter() - start, "processed": result.successes,
                  "failed": result.failures}))
"""


@dataclass
class Measure:
    name: str
    wall_s: float
    peak_mib: float
    notes: str = ""
    cpu_s: float = float("nan")  # user + system seconds of the command's processes


def copy_tree(packages: Sequence[str], dest: Path) -> Dict[str, int]:
    """Copy the packages' .py files (their tests left out) and count files and lines."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = lines = 0
    for package in packages:
        source = stdlib / package
        for path in sorted(source.rglob("*.py")):
            relative = path.relative_to(stdlib)
            if any(part.startswith("test") for part in relative.parts[1:]):
                continue
            target = dest / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            files += 1
            lines += path.read_bytes().count(b"\n")
    return {"files": files, "lines": lines}


def _notes(stdout: str, stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    summary = [
        line
        for line in lines
        if "files" in line or "file " in line or line.startswith("Annotations")
    ]
    if stdout.strip().startswith("{"):
        try:
            doc = json.loads(stdout.strip().splitlines()[-1])
            return ", ".join(
                f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in doc.items()
            )
        except ValueError:
            pass
    return " ".join(summary[-2:])


def run_isolated(name: str, command: List[str], env: Optional[Dict[str, str]] = None) -> Measure:
    """Measure in a fresh grandchild so that ru_maxrss is this command's alone."""
    wrapper = (
        "import json, resource, subprocess, sys, time;"
        "start = time.perf_counter();"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
        "wall = time.perf_counter() - start;"
        "usage = resource.getrusage(resource.RUSAGE_CHILDREN);"
        "peak = usage.ru_maxrss / 1024; cpu = usage.ru_utime + usage.ru_stime;"
        "print(json.dumps({'wall': wall, 'peak': peak, 'cpu': cpu, 'rc': p.returncode,"
        " 'stdout': p.stdout[-20000:], 'stderr': p.stderr[-20000:]}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *command],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=REPO,
        check=True,
    )
    result = json.loads(done.stdout)
    if result["rc"] not in (0, 1, 123):  # 123: some files failed, counted in notes
        sys.stderr.write(result["stderr"][-3000:])
        raise SystemExit(f"{name}: exit code {result['rc']}")
    notes = _notes(result["stdout"], result["stderr"])
    return Measure(name, result["wall"], result["peak"], notes, result["cpu"])


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", default=",".join(DEFAULT_PACKAGES))
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep it.")
    parser.add_argument("--model", help="Model store folder (default: the bundled one).")
    parser.add_argument("--no-autotyping", action="store_true", help="Leave autotyping out.")
    parser.add_argument(
        "--repeat", type=int, default=3, help="Runs of each localtypes and floor row (median)."
    )
    args = parser.parse_args(argv)
    packages = [p for p in args.packages.split(",") if p]
    work = args.keep or Path(tempfile.mkdtemp(prefix="lt-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        return _bench(work, packages, args.model, not args.no_autotyping, args.repeat)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def _median(runs: List[Measure]) -> Measure:
    """The run with the median wall time; its spread over all runs goes in the notes."""
    ordered = sorted(runs, key=lambda m: m.wall_s)
    middle = ordered[(len(ordered) - 1) // 2]
    if len(runs) == 1:
        return middle
    spread = f"median of {len(runs)} runs ({ordered[0].wall_s:.2f}-{ordered[-1].wall_s:.2f} s)"
    notes = f"{spread}. {middle.notes}" if middle.notes else spread
    peak = max(m.peak_mib for m in runs)
    return Measure(middle.name, middle.wall_s, peak, notes, middle.cpu_s)


def _bench(
    work: Path, packages: List[str], model: Optional[str], autotyping: bool, repeat: int
) -> int:
    load_before = os.getloadavg()[0]
    original = work / "original"
    shutil.rmtree(original, ignore_errors=True)
    counts = copy_tree(packages, original)

    def fresh(name: str) -> Path:
        tree = work / name
        shutil.rmtree(tree, ignore_errors=True)
        shutil.copytree(original, tree)
        return tree

    python = sys.executable
    localtypes = [python, "-m", "localtypes", "annotate"]
    if model:
        localtypes += ["--model", model]
    # The machine's speed drifts by 10-20% from minute to minute (a shared VM): every row
    # runs ``repeat`` times, interleaved round by round, and the median run is reported.
    rows: Dict[str, List[Measure]] = {}

    def record(measure: Measure) -> None:
        rows.setdefault(measure.name, []).append(measure)

    for _ in range(repeat):
        record(
            run_isolated(
                "libcst parse + re-emit (floor)", [python, "-c", FLOOR_CODE, str(fresh("floor"))]
            )
        )
        for jobs in (1, 2):
            tree, cache = fresh(f"jobs{jobs}"), work / f"cache{jobs}"
            shutil.rmtree(cache, ignore_errors=True)
            env = {"LOCALTYPES_CACHE_DIR": str(cache)}
            command = [*localtypes, "--jobs", str(jobs), str(tree)]
            record(run_isolated(f"localtypes --jobs {jobs}", command, env))
            if jobs == 1:
                record(run_isolated("localtypes --jobs 1, cached re-run", command, env))
    measures = [_median(runs) for runs in rows.values()]
    if not autotyping:
        pass
    elif importlib.util.find_spec("autotyping") is None:
        measures.append(
            Measure(
                "autotyping --safe",
                float("nan"),
                float("nan"),
                "not installed: pip install autotyping",
            )
        )
    else:
        measures.append(
            run_isolated(
                "autotyping --safe, 1 job",
                [python, "-c", AUTOTYPING_CODE, str(fresh("autotyping"))],
            )
        )

    floor = measures[0].wall_s
    print(
        f"Tree: {counts['files']} files, {counts['lines']} lines of the Python "
        f"{sys.version_info[0]}.{sys.version_info[1]} standard library "
        f"({', '.join(packages)}); {os.cpu_count()} CPUs; load average "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after (other work on the "
        "machine slows every row, --jobs 2 most).\n"
    )
    print("| run | wall s | x floor | CPU s | peak RSS MiB | notes |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for m in measures:
        ratio = m.wall_s / floor if floor else float("nan")
        print(
            f"| {m.name} | {m.wall_s:.2f} | {ratio:.2f} | {m.cpu_s:.2f} | {m.peak_mib:.0f} "
            f"| {m.notes} |"
        )
    by_name = {m.name: m.wall_s for m in measures}
    one, two = by_name["localtypes --jobs 1"], by_name["localtypes --jobs 2"]
    cached = by_name["localtypes --jobs 1, cached re-run"]
    print(
        f"\nSpeed-up with --jobs 2: {one / two:.2f}x; cached re-run: "
        f"{100 * cached / one:.1f}% of the first run."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
