"""Pin candidates.txt into packages.lock: resolve each name once with pip download.

    python scripts/corpus/pin.py [--cache DIR] [--jobs N]

Each name is downloaded once (newest release for this Python, a wheel when one exists)
into the corpus cache, so the following build finds it there. Names whose only
distribution is platform-specific (C, Rust, Cython) are left out with a comment, except
ALLOW_COMPILED: mypyc-compiled wheels that still ship their typed .py sources.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from corpus_lib import (
    DEFAULT_LOCK,
    default_cache_dir,
    load_excluded,
    normalize_name,
)

CANDIDATES = Path(__file__).resolve().parent / "candidates.txt"
ALLOW_COMPILED = frozenset({"mypy", "black"})
_SAVED = re.compile(r"(?:Saved|File was already downloaded) (\S+)")


def resolve(name: str, dist_dir: Path) -> tuple[str, str | None, str]:
    """(name, version or None, note)."""
    from packaging.utils import parse_sdist_filename, parse_wheel_filename

    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-build-isolation",
           "--prefer-binary", "-d", str(dist_dir), name]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    saved = _SAVED.findall(proc.stdout)
    if proc.returncode != 0 or not saved:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
        return name, None, "download failed: " + " ".join(tail)
    path = Path(saved[-1])
    if path.name.endswith(".whl"):
        _, version, _, tags = parse_wheel_filename(path.name)
        pure = all(tag.platform == "any" for tag in tags)
        if not pure and normalize_name(name) not in ALLOW_COMPILED:
            return name, None, f"platform-specific wheel {path.name}"
        return name, str(version), ""
    _, version = parse_sdist_filename(path.name)
    try:
        with tarfile.open(path) as tf:
            native = [m for m in tf.getnames() if m.endswith((".c", ".pyx", "Cargo.toml"))]
    except (tarfile.TarError, OSError):
        native = []
    if native:
        return name, None, f"sdist with native code ({native[0]})"
    return name, str(version), "sdist"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--out", type=Path, default=DEFAULT_LOCK)
    args = parser.parse_args()
    dist_dir = (args.cache or default_cache_dir()) / "dist"
    dist_dir.mkdir(parents=True, exist_ok=True)
    excluded = load_excluded()

    lines = CANDIDATES.read_text(encoding="utf-8").splitlines()
    names = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    refused = [n for n in names if normalize_name(n) in excluded]
    if refused:
        print(f"ERROR: candidates on the exclusion list: {refused}", file=sys.stderr)
        return 2
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        resolved = {n: (v, note) for n, v, note in pool.map(lambda n: resolve(n, dist_dir), names)}

    out = [
        "# Pinned training corpus for localtypes. Built by scripts/build_corpus.py; regenerate",
        "# with scripts/corpus/pin.py from candidates.txt. Packages in",
        "# ../shared/data/train-exclude.txt must never appear here (the builder refuses them).",
        "# mypy's wheel also supplies typeshed's stdlib stubs (pseudo-package typeshed-stdlib).",
    ]
    dropped: list[str] = []
    body = lines[lines.index("") :]  # after candidates.txt's own header
    for ln in body:
        text = ln.strip()
        if not text or text.startswith("#"):
            out.append(ln)
            continue
        version, note = resolved[text]
        if version is None:
            dropped.append(f"# left out: {text}: {note}")
            print(f"left out {text}: {note}", file=sys.stderr)
        else:
            out.append(f"{text}=={version}" + (f"  # {note}" if note else ""))
    out += ["", "# Candidates left out by pin.py:", *dropped]
    args.out.write_text("\n".join(out) + "\n", encoding="utf-8")
    kept = sum(1 for v, _ in resolved.values() if v)
    print(f"wrote {args.out}: {kept} pinned, {len(dropped)} left out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
