"""Build the training corpus from the pinned lock.

    python scripts/build_corpus.py [--lock scripts/corpus/packages.lock] [--cache DIR] [--jobs N]

1. Refuses the build if the lock names a package from ../shared/data/train-exclude.txt.
2. Downloads each ``name==version`` with ``pip download --no-deps`` into CACHE/dist (skips
   what is already there).
3. Unpacks the package's own ``.py``/``.pyi`` sources into CACHE/src/<normalised name>/:
   no tests, docs, examples, vendored copies, build scripts or generated protobuf modules;
   files whose bytes already appeared earlier in lock order are dropped.
4. Adds typeshed's stdlib stubs from the mypy wheel as the pseudo-package typeshed-stdlib.
5. Splits by package (see corpus_lib.split_of) and writes CACHE/corpus.json.

A package that fails to download or unpack is reported and skipped; an excluded package,
a malformed lock or too small a test split is fatal.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus_lib import (
    DEFAULT_LOCK,
    MIN_TEST_PACKAGES,
    SPLIT_SALT,
    SPLITS,
    TEST_FRACTION,
    TYPESHED_PACKAGE,
    TYPESHED_SOURCE,
    VALID_FRACTION,
    CorpusError,
    LockEntry,
    check_not_excluded,
    default_cache_dir,
    load_excluded,
    parse_lock,
    split_of,
)

# Folder names dropped wherever they appear: tests (low annotation density and often
# fixtures), docs/examples, and vendored copies of other projects.
DROP_DIRS = frozenset(
    {
        "tests", "test", "_tests", "testsuite", "test-data", "test_data", "testdata",
        "docs", "doc", "examples", "example", "benchmarks", "benchmark", "__pycache__",
        "_vendor", "vendor", "_vendored", "vendored", "third_party", "_third_party",
        "thirdparty", "extern", "_extern", "externals",
        "typeshed",  # bundled copies of typeshed (typeshed-client); mypy's is handled apart
    }
)  # fmt: skip
# Top-level folders of an sdist that are not the package (build and maintenance scripts).
SDIST_DROP_TOP = frozenset(
    {"scripts", "tools", "ci", "bin", "build", "dist", "dev", "devtools", "utils", "site"}
)
DROP_FILES = frozenset(
    {"setup.py", "conftest.py", "noxfile.py", "fabfile.py", "tasks.py", "dodo.py"}
)
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")
# Huge files are almost always generated tables; they would swamp their package's share.
MAX_FILE_BYTES = 512 * 1024
TYPESHED_PREFIX = ("mypy", "typeshed", "stdlib")


@dataclass
class Built:
    entry_name: str
    version: str
    key: str
    dist: str
    files: list[str] = field(default_factory=list)
    lines: int = 0
    dropped_duplicates: int = 0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- download


def _dist_key(filename: str) -> tuple[str, str, bool] | None:
    """(normalised name, normalised version, is_wheel) of a dist file, or None."""
    from packaging.utils import (
        InvalidSdistFilename,
        InvalidWheelFilename,
        parse_sdist_filename,
        parse_wheel_filename,
    )

    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
            return str(name), str(version), True
        if filename.endswith((".tar.gz", ".zip")):
            name, version = parse_sdist_filename(filename)
            return str(name), str(version), False
    except (InvalidWheelFilename, InvalidSdistFilename, ValueError):
        return None
    return None


def find_dist(dist_dir: Path, entry: LockEntry) -> Path | None:
    """The downloaded file for entry, preferring a wheel over an sdist."""
    from packaging.version import InvalidVersion, Version

    try:
        want = str(Version(entry.version))
    except InvalidVersion:
        want = entry.version
    found: list[tuple[bool, Path]] = []
    if dist_dir.is_dir():
        for path in dist_dir.iterdir():
            key = _dist_key(path.name)
            if key and key[0] == entry.key and key[1] == want:
                found.append((key[2], path))
    if not found:
        return None
    found.sort(key=lambda item: (not item[0], item[1].name))
    return found[0][1]


def download(entry: LockEntry, dist_dir: Path) -> tuple[Path | None, str]:
    """Make sure entry's dist is in dist_dir. Returns (path, error message)."""
    existing = find_dist(dist_dir, entry)
    if existing is not None:
        return existing, ""
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-build-isolation",
        "--prefer-binary", "--disable-pip-version-check", "-q", "-d", str(dist_dir),
        f"{entry.name}=={entry.version}",
    ]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    except subprocess.TimeoutExpired:
        return None, "pip download timed out"
    path = find_dist(dist_dir, entry)
    if proc.returncode != 0 or path is None:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return None, f"pip download failed (rc={proc.returncode}): " + " | ".join(tail)
    return path, ""


# ----------------------------------------------------------------------------- unpack


def iter_archive(path: Path) -> Iterator[tuple[str, bytes | None]]:
    """Yield (member path, bytes) for regular files; bytes is None for a member that is
    not Python source or is too big to keep (not read at all)."""
    if path.name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                wanted = info.filename.endswith((".py", ".pyi"))
                ok = wanted and info.file_size <= MAX_FILE_BYTES
                yield info.filename, zf.read(info) if ok else None
    else:
        with tarfile.open(path) as tf:
            for member in tf.getmembers():
                if not member.isfile():
                    continue
                wanted = member.name.endswith((".py", ".pyi"))
                ok = wanted and member.size <= MAX_FILE_BYTES
                handle = tf.extractfile(member) if ok else None
                yield member.name, handle.read() if handle else None


def source_path(member: str, is_sdist: bool, sdist_packages: set[str]) -> str | None:
    """Where a member goes under the package's folder, or None if it is not kept."""
    parts = PurePosixPath(member).parts
    if not parts or not parts[-1].endswith((".py", ".pyi")):
        return None
    if any(p.startswith("/") or p == ".." for p in parts):
        return None
    if is_sdist:
        parts = parts[1:]  # the name-version/ folder
        if parts[:1] == ("src",):
            parts = parts[1:]
        # Keep only the package folders; top-level modules only for single-module projects.
        if parts and (parts[0] not in sdist_packages if len(parts) > 1 else bool(sdist_packages)):
            return None
    elif parts[0].endswith((".dist-info", ".data")):
        return None
    if not parts:
        return None
    name = parts[-1]
    if name in DROP_FILES or name.endswith(GENERATED_SUFFIXES):
        return None
    stem = name.rsplit(".", 1)[0]
    if stem.startswith("test_") or stem.endswith("_test"):
        return None
    if any(p in DROP_DIRS or p.startswith(".") for p in parts[:-1]):
        return None
    return "/".join(parts)


def sdist_package_dirs(members: list[str]) -> set[str]:
    """Top-level folders of an sdist (after src/) that hold a Python package."""
    dirs: set[str] = set()
    for member in members:
        parts = PurePosixPath(member).parts[1:]
        if parts[:1] == ("src",):
            parts = parts[1:]
        if len(parts) > 1 and parts[-1] in ("__init__.py", "__init__.pyi"):
            dirs.add(parts[0])
    return dirs - SDIST_DROP_TOP - DROP_DIRS


def is_trivial(data: bytes) -> bool:
    return not data.strip()


def unpack(
    entry_name: str,
    version: str,
    key: str,
    dist: Path,
    out_root: Path,
    seen_hashes: set[str],
    typeshed: Built | None = None,
) -> Built:
    """Extract entry's kept sources into out_root/key (and typeshed's into its own folder)."""
    built = Built(entry_name, version, key, dist.name)
    is_sdist = not dist.name.endswith(".whl")
    members = list(iter_archive(dist))
    sdist_packages = sdist_package_dirs([m for m, _ in members]) if is_sdist else set()
    for member, data in members:
        if typeshed is not None and PurePosixPath(member).parts[:3] == TYPESHED_PREFIX:
            if member.endswith(".pyi") and data:
                stub = "/".join(PurePosixPath(member).parts[3:])
                _keep(typeshed, out_root, stub, data, seen_hashes)
            continue
        if PurePosixPath(member).parts[:2] == TYPESHED_PREFIX[:2]:
            continue  # mypy's other bundled stubs: not mypy's own code
        rel = source_path(member, is_sdist, sdist_packages)
        if rel is None or not data:
            continue
        _keep(built, out_root, rel, data, seen_hashes)
    return built


def _keep(built: Built, out_root: Path, rel: str, data: bytes, seen_hashes: set[str]) -> None:
    if is_trivial(data):
        return
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return
    digest = hashlib.sha256(data).hexdigest()
    if digest in seen_hashes:
        built.dropped_duplicates += 1
        return
    seen_hashes.add(digest)
    target = out_root / built.key / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    built.files.append(rel)
    built.lines += data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


# ------------------------------------------------------------------------------ build


def build(
    lock: Path, cache: Path, jobs: int, exclude: Path | None, min_test: int = MIN_TEST_PACKAGES
) -> int:
    started = time.monotonic()
    entries = parse_lock(lock)
    check_not_excluded(entries, load_excluded(exclude))
    if not entries:
        raise CorpusError(f"{lock} names no packages")
    lock_sha = hashlib.sha256(lock.read_bytes()).hexdigest()
    dist_dir = cache / "dist"
    dist_dir.mkdir(parents=True, exist_ok=True)

    log(f"downloading {len(entries)} packages into {dist_dir} ({jobs} at a time)")
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(lambda e: download(e, dist_dir), entries))
    skipped: list[dict[str, str]] = []
    for entry, (path, error) in zip(entries, results):
        if path is None:
            log(f"SKIP {entry.name}=={entry.version}: {error}")
            skipped.append({"package": entry.name, "version": entry.version, "reason": error})

    # Unpack into a fresh folder, then swap it in: readers never see a half-built src/.
    partial = cache / "src.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    seen_hashes: set[str] = set()
    built_all: list[Built] = []
    for entry, (path, _) in zip(entries, results):
        if path is None:
            continue
        typeshed = None
        if entry.key == TYPESHED_SOURCE:
            typeshed = Built(TYPESHED_PACKAGE, entry.version, TYPESHED_PACKAGE, path.name)
        try:
            built = unpack(entry.name, entry.version, entry.key, path, partial, seen_hashes,
                           typeshed)  # fmt: skip
        except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
            log(f"SKIP {entry.name}=={entry.version}: cannot unpack {path.name}: {exc}")
            skipped.append({"package": entry.name, "version": entry.version,
                            "reason": f"unpack failed: {exc}"})  # fmt: skip
            shutil.rmtree(partial / entry.key, ignore_errors=True)
            continue
        for item in (built, typeshed):
            if item is None:
                continue
            if item.files:
                built_all.append(item)
            else:
                log(f"SKIP {item.entry_name}=={item.version}: no source files kept")
                skipped.append({"package": item.entry_name, "version": item.version,
                                "reason": "no source files kept"})  # fmt: skip
    if not any(b.key == TYPESHED_PACKAGE for b in built_all):
        log(f"WARNING: no {TYPESHED_PACKAGE} (is {TYPESHED_SOURCE} in the lock?)")

    splits: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    for item in built_all:
        splits[split_of(item.key)].append(
            {
                "package": item.entry_name,
                "version": item.version,
                "dir": item.key,
                "dist": item.dist,
                "files": sorted(item.files),
                "lines": item.lines,
                "duplicates_dropped": item.dropped_duplicates,
            }
        )

    src = cache / "src"
    old = cache / "src.old"
    shutil.rmtree(old, ignore_errors=True)
    if src.exists():
        src.rename(old)
    partial.rename(src)
    shutil.rmtree(old, ignore_errors=True)

    corpus = {
        "lock_sha256": lock_sha,
        "lock": str(lock),
        "root": str(src),
        "split_rule": {"salt": SPLIT_SALT, "test": TEST_FRACTION, "valid": VALID_FRACTION},
        "skipped": skipped,
        "splits": splits,
    }
    tmp = cache / "corpus.json.tmp"
    tmp.write_text(json.dumps(corpus, indent=1) + "\n", encoding="utf-8")
    tmp.replace(cache / "corpus.json")

    print_table(splits, built_all)
    print(f"\ncorpus: {cache / 'corpus.json'}  (root {src})")
    print(f"skipped packages: {len(skipped)}; built in {time.monotonic() - started:.0f}s")
    n_test = len(splits["test"])
    if n_test < min_test:
        log(f"ERROR: only {n_test} test packages (need >= {min_test})")
        return 1
    return 0


def print_table(splits: dict[str, list[dict[str, Any]]], built: list[Built]) -> None:
    print(f"\n{'split':<7}{'packages':>10}{'files':>10}{'lines':>12}")
    totals = [0, 0, 0]
    for split in SPLITS:
        items = splits[split]
        row = [len(items), sum(len(i["files"]) for i in items), sum(i["lines"] for i in items)]
        totals = [a + b for a, b in zip(totals, row)]
        print(f"{split:<7}{row[0]:>10}{row[1]:>10}{row[2]:>12,}")
    print(f"{'total':<7}{totals[0]:>10}{totals[1]:>10}{totals[2]:>12,}")
    biggest = sorted(built, key=lambda b: b.lines, reverse=True)[:8]
    share = ", ".join(
        f"{b.key} {100 * b.lines / max(1, totals[2]):.1f}% ({split_of(b.key)})" for b in biggest
    )
    print(f"largest packages by lines: {share}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--lock", type=Path, default=DEFAULT_LOCK)
    parser.add_argument("--cache", type=Path, default=None,
                        help="default: platformdirs user cache dir /localtypes/corpus")  # fmt: skip
    parser.add_argument("--jobs", type=int, default=4, help="parallel downloads")
    parser.add_argument("--exclude", type=Path, default=None,
                        help="default: ../shared/data/train-exclude.txt")  # fmt: skip
    parser.add_argument("--min-test", type=int, default=MIN_TEST_PACKAGES,
                        help="fail below this many test packages (tiny locks: 0)")  # fmt: skip
    args = parser.parse_args(argv)
    cache: Path = args.cache or default_cache_dir()
    try:
        return build(args.lock, cache, args.jobs, args.exclude, args.min_test)
    except CorpusError as exc:
        log(f"ERROR: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
