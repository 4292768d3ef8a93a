"""The corpus lock and the builder's refusal of held-out packages (no network)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import build_corpus  # noqa: E402  (scripts/ is not a package)
from corpus_lib import (  # noqa: E402
    DEFAULT_EXCLUDE,
    DEFAULT_LOCK,
    MIN_TEST_PACKAGES,
    TYPESHED_PACKAGE,
    TYPESHED_SOURCE,
    CorpusError,
    ExcludedPackageError,
    check_not_excluded,
    load_excluded,
    normalize_name,
    parse_lock,
    split_of,
)


def _excluded() -> set[str]:
    if not DEFAULT_EXCLUDE.is_file():
        pytest.skip(f"{DEFAULT_EXCLUDE} not present (shared/ sits beside the repository)")
    return load_excluded(DEFAULT_EXCLUDE)


def test_normalize_name() -> None:
    assert normalize_name("Markdown_It.PY") == "markdown-it-py"
    assert normalize_name("python__dateutil") == "python-dateutil"


def test_lock_is_pinned_unique_and_clean() -> None:
    entries = parse_lock(DEFAULT_LOCK)  # raises on unpinned, malformed or duplicate lines
    keys = [e.key for e in entries]
    assert len(keys) == len(set(keys))
    assert 250 <= len(entries) <= 350
    for raw in DEFAULT_LOCK.read_text(encoding="utf-8").splitlines():
        text = raw.split("#", 1)[0].strip()
        assert not text or "==" in text, raw
    assert not set(keys) & _excluded()
    assert TYPESHED_SOURCE in keys  # typeshed's stubs come from its wheel
    test = [k for k in keys if split_of(k) == "test"]
    assert len(test) >= MIN_TEST_PACKAGES
    assert split_of(TYPESHED_PACKAGE) == "train"


def test_parse_lock_rejects_unpinned_and_duplicates(tmp_path: Path) -> None:
    lock = tmp_path / "packages.lock"
    lock.write_text("attrs==25.1.0\nrich>=13\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="not a pinned"):
        parse_lock(lock)
    lock.write_text("attrs==25.1.0\nAttrs==25.1.0  # again\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="duplicate"):
        parse_lock(lock)


def test_builder_refuses_excluded_package(tmp_path: Path) -> None:
    excluded = tmp_path / "train-exclude.txt"
    excluded.write_text("# held out\nmarkdown-it-py\npython-dateutil\n", encoding="utf-8")
    lock = tmp_path / "packages.lock"
    # Spelled differently from the list: the check compares PEP 503 normalised names.
    lock.write_text("attrs==25.1.0\nMarkdown_It.Py==3.0.0\n", encoding="utf-8")
    with pytest.raises(ExcludedPackageError, match=r"Markdown_It\.Py"):
        check_not_excluded(parse_lock(lock), load_excluded(excluded))
    # The whole build stops before downloading anything, with a non-zero exit.
    cache = tmp_path / "cache"
    rc = build_corpus.main(["--lock", str(lock), "--cache", str(cache), "--exclude", str(excluded)])
    assert rc != 0
    assert not (cache / "dist").exists()


def test_split_is_deterministic() -> None:
    assert split_of("Some_Package") == split_of("some-package")
    assert {split_of(f"pkg{i}") for i in range(200)} == {"train", "valid", "test"}


def test_source_path_filters() -> None:
    keep = build_corpus.source_path
    assert keep("pkg/mod.py", False, set()) == "pkg/mod.py"
    assert keep("pkg/tests/test_x.py", False, set()) is None
    assert keep("pkg/_vendor/six.py", False, set()) is None
    assert keep("pkg/api_pb2.py", False, set()) is None
    assert keep("pkg-1.0.dist-info/METADATA", False, set()) is None
    assert keep("pkg-1.0/setup.py", True, {"pkg"}) is None
    assert keep("pkg-1.0/src/pkg/core.pyi", True, {"pkg"}) == "pkg/core.pyi"
    assert keep("pkg-1.0/docs/conf.py", True, {"pkg"}) is None
    assert keep("mod-1.0/mod.py", True, set()) == "mod.py"
