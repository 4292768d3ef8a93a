"""What the annotations do to real untyped projects: checker errors, tests, time.

    python scripts/bench_verify.py [--projects isodate,jmespath] [--json out.json]

Each project is a small pure-Python library from PyPI, untyped, with its own tests in its
sdist, in neither the training corpus (scripts/corpus/packages.lock) nor
../shared/data/train-exclude.txt. (jmespath's sdist lacks tests/__init__.py, which its
tests import from: they cannot run from it, before or after.) Each sdist is fetched once
with ``pip download`` into the user cache folder (``~/.cache/localtypes/bench``), never
into the repository.

For each project, on fresh copies of its source:
- **plain**: ``localtypes annotate`` with the cheap checks turned off (what localtypes
  wrote before them); **checks**: ``localtypes annotate`` (the cheap checks are always on);
  **verify**: ``localtypes annotate --verify``. All with ``--no-cache -j 1``.
- mypy over the annotated package against the original's (``--check-untyped-defs`` on
  both sides, each run cold in a cache folder of its own): an error is new when the
  original has fewer errors with the same file, code and message (lines are not compared:
  added imports shift them).
- the project's own tests (pytest) on the original and on each annotated copy.
- time: each localtypes run, and mypy's own cold run over the original; and a second
  ``--verify --check`` run over an unchanged tree with the cache on.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Project:
    name: str
    spec: str  # what pip downloads
    paths: Tuple[str, ...]  # what localtypes annotates and mypy checks, from the sdist root
    tests: str
    pythonpath: str = "."
    exclude: Tuple[str, ...] = ()


PROJECTS = {
    p.name: p
    for p in (
        Project("isodate", "isodate==0.7.2", ("src/isodate",), "tests", "src"),
        Project("jmespath", "jmespath==1.1.0", ("jmespath",), "tests"),
        Project("xmltodict", "xmltodict==1.0.4", ("xmltodict.py",), "tests"),
        Project("toolz", "toolz==1.2.0", ("toolz",), "toolz/tests", exclude=("tests/",)),
        Project("six", "six==1.17.0", ("six.py",), "test_six.py"),
    )
}
MODES = ("plain", "checks", "verify")
# Runs localtypes' CLI with the cheap checks off (choose gets no ModuleChecks, the writer
# adds no companion annotations).
_PLAIN = (
    "import sys, localtypes.edit.choose as c, localtypes.edit.rounds as r; "
    "c.ModuleChecks = lambda index: None; r.companions = lambda index, functions: []; "
    "from localtypes.cli import main; sys.exit(main(sys.argv[1:]))"
)
_ADDED = re.compile(r"Annotations (?:added|to add): (\d+)")
_VARIABLES = re.compile(r"Annotations (?:added|to add): \d+ \([^)]*?(\d+) empty-container")
_CHECKER = re.compile(r"replaced (\d+) annotations? and dropped (\d+)")
_PASSED = re.compile(r"(\d+) passed")
_FAILED = re.compile(r"(\d+) (?:failed|error)")


@dataclass
class ModeResult:
    annotations: int = 0
    variables: int = 0  # of the annotations: companions (bare containers, "empty-container")
    new_errors: int = 0
    new_by_code: Dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    tests_passed: int = 0
    tests_failed: int = 0
    replaced: int = 0
    dropped: int = 0


@dataclass
class ProjectResult:
    name: str
    files: int
    lines: int
    baseline_errors: int
    mypy_cold_seconds: float
    tests_passed: int
    tests_failed: int
    modes: Dict[str, ModeResult]
    verify_rerun_seconds: float = 0.0


def fetch(project: Project, cache: Path) -> Path:
    """The project's unpacked sdist (downloaded once)."""
    sdists = cache / "sdist"
    sdists.mkdir(parents=True, exist_ok=True)
    stem = project.spec.replace("==", "-")
    found = [p for p in sdists.glob("*.tar.gz") if p.name.lower().startswith(stem.lower())]
    if not found:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             "-d", str(sdists), project.spec],
            check=True, capture_output=True,
        )  # fmt: skip
        found = [p for p in sdists.glob("*.tar.gz") if p.name.lower().startswith(stem.lower())]
    unpacked = cache / "src"
    unpacked.mkdir(exist_ok=True)
    with tarfile.open(found[0]) as archive:
        top = archive.getnames()[0].split("/")[0]
        if not (unpacked / top).is_dir():
            archive.extractall(unpacked, filter="data")
    return unpacked / top


def mypy_errors(
    tree: Path, project: Project, cache: Path
) -> Tuple[Counter[Tuple[str, str, str]], float]:
    """mypy's errors over the project's paths (file, code, message), and the seconds."""
    shutil.rmtree(cache, ignore_errors=True)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--check-untyped-defs", "--no-error-summary",
         "--show-error-codes", "--hide-error-context", "--no-pretty", "--cache-dir", str(cache),
         *(p for p in project.paths)],
        cwd=tree, capture_output=True, text=True,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    errors: Counter[Tuple[str, str, str]] = Counter()
    for line in done.stdout.splitlines():
        match = re.match(r"^(.+?):\d+: error: (.*?)(?:  \[([a-z0-9-]+)\])?$", line)
        if match:
            errors[(match.group(1), match.group(3) or "", match.group(2))] += 1
    return errors, seconds


def run_tests(tree: Path, project: Project) -> Tuple[int, int]:
    env = {**os.environ, "PYTHONPATH": str(tree / project.pythonpath)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", "--no-header",
         project.tests],
        cwd=tree, capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    passed = _PASSED.search(tail)
    failed = _FAILED.search(tail)
    return int(passed.group(1)) if passed else 0, int(failed.group(1)) if failed else 0


LOCALTYPES = ROOT  # the checkout whose localtypes runs (--localtypes)


def annotate(
    tree: Path, project: Project, mode: str, extra: Sequence[str] = ()
) -> Tuple[str, float]:
    args = ["annotate", "-j", "1", *extra, *project.paths]
    for glob in project.exclude:
        args += ["--exclude", glob]
    if mode == "plain":
        command = [sys.executable, "-c", _PLAIN, *args]
    else:
        command = [sys.executable, "-m", "localtypes", *args]
    env = {**os.environ, "PYTHONPATH": str(LOCALTYPES)}
    started = time.perf_counter()
    done = subprocess.run(command, cwd=tree, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{project.name} {mode}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return done.stderr, seconds


REPEAT = 3  # timed runs of mypy's cold run and of each localtypes mode: the median counts


def bench(project: Project, cache: Path, work: Path) -> ProjectResult:
    source = fetch(project, cache)
    base = work / project.name
    shutil.rmtree(base, ignore_errors=True)
    original = base / "original"
    shutil.copytree(source, original)
    files = [p for path in project.paths for p in _python_files(original / path, project)]
    lines = sum(len(p.read_text(encoding="utf-8").splitlines()) for p in files)
    baseline, cold = mypy_errors(original, project, base / "mypy-original")
    cold = statistics.median(
        [cold] + [mypy_errors(original, project, base / "mypy-again")[1] for _ in range(REPEAT - 1)]
    )
    passed, failed = run_tests(original, project)
    result = ProjectResult(project.name, len(files), lines, sum(baseline.values()), cold,
                           passed, failed, {})  # fmt: skip
    for mode in MODES:
        tree = base / mode
        shutil.copytree(source, tree)
        extra = ["--no-cache"] + (["--verify"] if mode == "verify" else [])
        stderr, seconds = annotate(tree, project, mode, extra)
        times = [seconds]
        for _ in range(REPEAT - 1):  # on fresh copies: only the time is kept
            again = base / f"{mode}-again"
            shutil.rmtree(again, ignore_errors=True)
            shutil.copytree(source, again)
            times.append(annotate(again, project, mode, extra)[1])
        seconds = statistics.median(times)
        found, _ = mypy_errors(tree, project, base / f"mypy-{mode}")
        new = found - baseline
        added = _ADDED.search(stderr)
        variables = _VARIABLES.search(stderr)
        checker = _CHECKER.search(stderr)
        mode_passed, mode_failed = run_tests(tree, project)
        result.modes[mode] = ModeResult(
            annotations=int(added.group(1)) if added else 0,
            variables=int(variables.group(1)) if variables else 0,
            new_errors=sum(new.values()),
            new_by_code=dict(Counter(code for (_, code, _), n in new.items() for _ in range(n))),
            seconds=round(seconds, 2),
            tests_passed=mode_passed,
            tests_failed=mode_failed,
            replaced=int(checker.group(1)) if checker else 0,
            dropped=int(checker.group(2)) if checker else 0,
        )
    # a re-run over an unchanged tree, with the cache on: the second one is timed
    tree = base / "rerun"
    shutil.copytree(source, tree)
    os.environ["LOCALTYPES_CACHE_DIR"] = str(base / "lt-cache")
    annotate(tree, project, "verify", ["--verify", "--check"])
    _, result.verify_rerun_seconds = annotate(tree, project, "verify", ["--verify", "--check"])
    del os.environ["LOCALTYPES_CACHE_DIR"]
    result.mypy_cold_seconds = round(cold, 2)
    return result


def _python_files(path: Path, project: Project) -> List[Path]:
    if path.is_file():
        return [path]
    return [
        p for p in path.rglob("*.py") if not any(g.strip("/") in p.parts for g in project.exclude)
    ]


def report(results: Sequence[ProjectResult]) -> None:
    print("| project | lines | mode | annotations | new mypy errors | tests passed/failed | "
          "localtypes s | mypy cold s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    totals: Dict[str, List[int]] = {mode: [0, 0] for mode in MODES}
    for r in results:
        print(f"| {r.name} | {r.lines} | original | — | ({r.baseline_errors} errors) | "
              f"{r.tests_passed}/{r.tests_failed} | — | {r.mypy_cold_seconds} |")  # fmt: skip
        for mode, m in r.modes.items():
            totals[mode][0] += m.annotations
            totals[mode][1] += m.new_errors
            extra = f" ({m.variables} empty-container)" if m.variables else ""
            if mode == "verify":
                extra += f" (replaced {m.replaced}, dropped {m.dropped})"
            print(f"| {r.name} | | {mode} | {m.annotations}{extra} | {m.new_errors} | "
                  f"{m.tests_passed}/{m.tests_failed} | {m.seconds} | |")  # fmt: skip
        cost = r.modes["verify"].seconds - r.modes["checks"].seconds
        print(f"| {r.name} | | verify's cost (verify - checks) | | | | {cost:.2f} "
              f"({cost / max(r.mypy_cold_seconds, 1e-9):.2f} x mypy cold) | |")  # fmt: skip
        print(f"| {r.name} | | verify re-run, unchanged tree, cached | | | | "
              f"{r.verify_rerun_seconds:.2f} | |")  # fmt: skip
    print()
    for mode, (count, errors) in totals.items():
        rate = errors / count if count else 0.0
        print(f"{mode}: {count} annotations, {errors} new errors ({rate:.3f} per annotation)")


def main(argv: Optional[Sequence[str]] = None) -> int:
    import platformdirs

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--projects", default=",".join(PROJECTS))
    default_cache = Path(platformdirs.user_cache_dir("localtypes")) / "bench"
    parser.add_argument("--cache", type=Path, default=default_cache)
    parser.add_argument("--work", type=Path, default=default_cache / "work")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs (median)")
    parser.add_argument(
        "--localtypes", type=Path, default=ROOT, help="a checkout (or copy) to run localtypes from"
    )
    args = parser.parse_args(argv)
    global LOCALTYPES, REPEAT
    REPEAT = max(1, args.repeat)
    LOCALTYPES = args.localtypes.resolve()
    results = []
    for name in args.projects.split(","):
        print(f"benchmarking {name}...", file=sys.stderr, flush=True)
        results.append(bench(PROJECTS[name], args.cache, args.work))
    report(results)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
