"""Shared helpers for the training corpus: lock parsing, the exclusion rule, the split rule
and reading a built corpus.

Training and evaluation code import this module (``load_corpus``, ``iter_split_files``);
``scripts/build_corpus.py`` builds what they read. Only the standard library and
platformdirs are needed, so importing it is cheap.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LOCK = REPO_ROOT / "scripts" / "corpus" / "packages.lock"
# shared/ sits beside the repository (also in CI's fresh clone).
DEFAULT_EXCLUDE = REPO_ROOT.parent / "shared" / "data" / "train-exclude.txt"

SPLITS = ("train", "valid", "test")
TYPESHED_PACKAGE = "typeshed-stdlib"
# The typeshed stubs come out of this package's wheel.
TYPESHED_SOURCE = "mypy"

# Split rule: a package's split depends only on its normalised name, so adding or removing
# other packages never moves it. Changing the salt or the fractions reshuffles everything.
SPLIT_SALT = "localtypes-corpus-v1"
TEST_FRACTION = 0.10
VALID_FRACTION = 0.07
MIN_TEST_PACKAGES = 25

_LOCK_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([A-Za-z0-9][A-Za-z0-9.+!_-]*)$")


class CorpusError(Exception):
    """A real error in the corpus inputs (bad lock, excluded package, missing file)."""


class ExcludedPackageError(CorpusError):
    """The lock names a package that is held out for external evaluation."""


@dataclass(frozen=True)
class LockEntry:
    name: str
    version: str
    line: int

    @property
    def key(self) -> str:
        return normalize_name(self.name)


def normalize_name(name: str) -> str:
    """PEP 503 normalisation: lowercase, runs of ``-``, ``_`` and ``.`` become ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_lock(path: Path = DEFAULT_LOCK) -> list[LockEntry]:
    """Read ``name==version`` lines; ``#`` starts a comment. Raises CorpusError on any
    unpinned, malformed or duplicate line, naming every bad line at once."""
    entries: list[LockEntry] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        match = _LOCK_LINE.match(text)
        if match is None:
            problems.append(f"{path}:{number}: not a pinned 'name==version' line: {text!r}")
            continue
        entry = LockEntry(match.group(1), match.group(2), number)
        if entry.key in seen:
            problems.append(f"{path}:{number}: duplicate of line {seen[entry.key]}: {entry.name}")
            continue
        seen[entry.key] = number
        entries.append(entry)
    if problems:
        raise CorpusError("bad lock file:\n  " + "\n  ".join(problems))
    return entries


def load_excluded(path: Path | None = None) -> set[str]:
    """Normalised names held out for external evaluation. A missing list is an error:
    without it the builder cannot keep its promise to refuse those packages."""
    path = path or Path(os.environ.get("LOCALTYPES_TRAIN_EXCLUDE", DEFAULT_EXCLUDE))
    if not path.is_file():
        raise CorpusError(f"exclusion list not found: {path}")
    names = set()
    for raw in path.read_text(encoding="utf-8").splitlines():
        text = raw.split("#", 1)[0].strip()
        if text:
            names.add(normalize_name(text))
    return names


def check_not_excluded(entries: Iterable[LockEntry], excluded: set[str]) -> None:
    """Raise ExcludedPackageError naming every lock entry on the exclusion list."""
    bad = [e for e in entries if e.key in excluded]
    if bad:
        listed = ", ".join(f"{e.name}=={e.version} (line {e.line})" for e in bad)
        raise ExcludedPackageError(
            f"refusing to build: the lock names packages held out for evaluation "
            f"(train-exclude.txt): {listed}. Remove them from the lock."
        )


def split_of(name: str) -> str:
    """The split a package belongs to: deterministic in its normalised name."""
    key = normalize_name(name)
    if key == TYPESHED_PACKAGE:
        return "train"
    digest = hashlib.sha256(f"{SPLIT_SALT}:{key}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    if fraction < TEST_FRACTION:
        return "test"
    if fraction < TEST_FRACTION + VALID_FRACTION:
        return "valid"
    return "train"


def default_cache_dir() -> Path:
    """Where the corpus lives: outside the repository, in the user's cache."""
    override = os.environ.get("LOCALTYPES_CORPUS_CACHE")
    if override:
        return Path(override)
    import platformdirs  # imported late: only needed when no path is given

    return Path(platformdirs.user_cache_dir("localtypes")) / "corpus"


def load_corpus(cache: Path | None = None) -> dict[str, Any]:
    """Read ``corpus.json`` written by scripts/build_corpus.py.

    Shape: ``{"lock_sha256", "root", "splits": {split: [{"package", "version", "dir",
    "files": [paths relative to root/dir], "lines"}]}}``.
    """
    cache = cache or default_cache_dir()
    index = cache / "corpus.json"
    if not index.is_file():
        raise CorpusError(f"no corpus at {index}: build it with 'python scripts/build_corpus.py'")
    corpus: dict[str, Any] = json.loads(index.read_text(encoding="utf-8"))
    return corpus


def iter_split_files(corpus: dict[str, Any], split: str) -> Iterator[tuple[str, Path]]:
    """Yield ``(package, absolute path)`` for every source file of one split."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    root = Path(corpus["root"])
    for package in corpus["splits"][split]:
        base = root / package["dir"]
        for rel in package["files"]:
            yield package["package"], base / rel
