"""The runner and its parts: how many processes, one file's work, the diffs it prints."""

from __future__ import annotations

import codecs
import io
import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable, List, Tuple

import pytest

from localtypes.analysis.slots import ExtractedModule
from localtypes.api import annotate
from localtypes.model.predictor import ModelInfo, Predictor, TypeGuess
from localtypes.run.cache import Cache, CacheEntry, sha256_bytes
from localtypes.run.concurrency import BYTES_PER_WORKER, largest_first, worker_count
from localtypes.run.report import Report, Status
from localtypes.run.runner import run
from localtypes.run.task import Mode, Options, annotate_file, counts, from_cache, unified_diff
from localtypes.settings import Settings

SOURCE = "def exists(path, follow_symlinks=True):\n    return bool(path)\n"


def files(folder: Path, count: int, size: int) -> List[str]:
    paths = []
    for index in range(count):
        path = folder / f"m{index}.py"
        path.write_bytes(b"#" * size)
        paths.append(str(path))
    return paths


def test_explicit_jobs_are_kept_up_to_the_file_count(tmp_path: Path) -> None:
    small = files(tmp_path, 3, 10)
    assert worker_count(2, small) == 2
    assert worker_count(8, small) == 3
    assert worker_count(1, small) == 1


def test_automatic_jobs_start_processes_only_when_they_pay_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert worker_count(None, files(tmp_path, 5, 100)) == 1  # a pre-commit sized run
    big = files(tmp_path, 6, BYTES_PER_WORKER)
    assert worker_count(None, big[:2]) == 2
    assert worker_count(None, big) == 4  # never more than the CPUs


def test_largest_first(tmp_path: Path) -> None:
    paths = {size: tmp_path / f"{size}.py" for size in (1, 30, 10)}
    for size, path in paths.items():
        path.write_bytes(b"#" * size)
    order = largest_first([str(path) for path in paths.values()])
    assert order == [str(paths[30]), str(paths[10]), str(paths[1])]


def test_unified_diff_names_files_and_marks_missing_final_newline() -> None:
    diff = unified_diff("def f(x):\n    pass", "def f(x: int):\n    pass", "pkg/a.py")
    assert diff.startswith("--- a/pkg/a.py\n+++ b/pkg/a.py\n")
    assert "-def f(x):\n+def f(x: int):\n" in diff
    assert diff.endswith("     pass\n\\ No newline at end of file\n")
    assert unified_diff("same\n", "same\n", "a.py") == ""


def test_unified_diff_breaks_lines_where_python_does() -> None:
    # str.splitlines would also break at the form feed and mark a line "no newline".
    old = "x = 1\n\x0c\ndef f(a):\n    return a\n"
    new = "x = 1\n\x0c\ndef f(a) -> int:\n    return a\n"
    diff = unified_diff(old, new, "f.py")
    assert "No newline" not in diff
    assert diff.split("\n")[3:] == [
        " x = 1",
        " \x0c",
        "-def f(a):",
        "+def f(a) -> int:",
        "     return a",
        "",
    ]


# --- one file, with the real model ------------------------------------------------------


def test_counts_are_by_slot_kind_and_below_threshold(predictor: Predictor) -> None:
    settings = Settings(target_version=(3, 9))
    result = annotate(SOURCE, "a.py", settings=settings, predictor=predictor)
    added, _ = counts(result)
    assert sum(n for _, n in added) == len(result.added) > 0
    assert {kind for kind, _ in added} <= {"param", "return", "variable"}
    assert [kind for kind, _ in added] == sorted(kind for kind, _ in added)
    # Nothing reaches a confidence of 1: every slot is left below the threshold.
    strict = Settings(target_version=(3, 9), min_confidence=1.0)
    none, below = counts(annotate(SOURCE, "a.py", settings=strict, predictor=predictor))
    assert none == () and below >= len(result.added)


@pytest.mark.parametrize("mode", list(Mode))
def test_annotate_file_by_mode_then_from_the_cache(
    mode: Mode, tmp_path: Path, predictor: Predictor
) -> None:
    path = tmp_path / "a.py"
    path.write_text(SOURCE, encoding="utf-8")
    options = Options(Settings(target_version=(3, 9)), mode, str(tmp_path / "cache"))
    outcome = annotate_file(str(path), options, predictor)
    assert outcome.status is Status.CHANGED and outcome.added_total > 0
    assert not outcome.cached
    written = path.read_text(encoding="utf-8")
    assert (written != SOURCE) is (mode is Mode.WRITE)
    assert (outcome.diff is not None) is (mode is Mode.DIFF)
    cached = from_cache(str(path), options, Cache(tmp_path / "cache"))
    assert cached is not None and cached.cached
    if mode is Mode.WRITE:  # the written file is known to be final
        assert cached.status is Status.UNCHANGED
    else:
        assert (cached.added, cached.diff) == (outcome.added, outcome.diff)


def test_annotate_file_names_what_went_wrong(tmp_path: Path, predictor: Predictor) -> None:
    options = Options(Settings(target_version=(3, 9)), Mode.CHECK, None)
    missing = annotate_file(str(tmp_path / "nope.py"), options, predictor)
    assert missing.status is Status.FAILED
    assert missing.reason == "cannot read: No such file or directory"
    broken = tmp_path / "broken.py"
    broken.write_text("def f(x:\n", encoding="utf-8")
    outcome = annotate_file(str(broken), options, predictor)
    assert outcome.status is Status.FAILED and "line 1" in (outcome.reason or "")


def test_cache_miss_is_none(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    path.write_text(SOURCE, encoding="utf-8")
    options = Options(Settings(), Mode.CHECK, str(tmp_path))
    cache = Cache(tmp_path)
    assert from_cache(str(path), options, cache) is None
    assert from_cache(str(tmp_path / "nope.py"), options, cache) is None
    cache.put_result(sha256_bytes(SOURCE.encode()), None, (), 3)
    hit = from_cache(str(path), options, cache)
    assert hit is not None and hit.status is Status.UNCHANGED and hit.below_threshold == 3


def test_run_prints_nothing_itself(
    tmp_path: Path, predictor: Predictor, capsys: pytest.CaptureFixture[str]
) -> None:
    """All of a run's output goes through its report, to the report's streams."""
    (tmp_path / "pyproject.toml").write_text("", encoding="utf-8")
    (tmp_path / "a.py").write_text(SOURCE, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    report = Report(write=False, diff=True, verbose=True, stdout=out, stderr=err)
    settings = Settings(target_version=(3, 9), cache=False, jobs=1)
    assert run([str(tmp_path)], settings, mode=Mode.DIFF, report=report) is report
    assert capsys.readouterr() == ("", "")
    assert out.getvalue().startswith("--- a/")
    lines = err.getvalue().splitlines()
    assert lines[0].startswith("localtypes ") and f"1 file under {tmp_path}" in lines[0]
    assert lines[1] == "  Target Python 3.9 (the settings given)"
    assert lines[2].startswith("would annotate ")
    assert lines[3] == "1 file would be annotated, 0 files unchanged."
    assert report.changed == 1 and report.exit_code == 0


# --- a file that changes meanwhile; cache entries that would write something else --------


class MeddlingPredictor:
    """The real predictor, with something done to the file while the model runs."""

    def __init__(self, inner: Predictor, meddle: Callable[[], None]) -> None:
        self.inner = inner
        self.meddle = meddle

    @property
    def info(self) -> ModelInfo:
        return self.inner.info

    def predict(self, module: ExtractedModule, top_k: int = 5) -> List[Tuple[TypeGuess, ...]]:
        self.meddle()
        return self.inner.predict(module, top_k)


def test_an_edit_saved_while_the_file_is_annotated_is_kept(
    tmp_path: Path, predictor: Predictor
) -> None:
    path = tmp_path / "a.py"
    path.write_text(SOURCE, encoding="utf-8")
    edited = SOURCE + "print('saved while annotating')\n"

    def save() -> None:
        path.write_text(edited, encoding="utf-8")

    options = Options(Settings(target_version=(3, 9)), Mode.WRITE, None)
    outcome = annotate_file(str(path), options, MeddlingPredictor(predictor, save))
    assert outcome.status is Status.FAILED
    assert outcome.reason is not None and "changed while annotating" in outcome.reason
    assert path.read_text(encoding="utf-8") == edited
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py"]


def test_a_file_deleted_while_it_is_annotated_is_not_recreated(
    tmp_path: Path, predictor: Predictor
) -> None:
    path = tmp_path / "a.py"
    path.write_text(SOURCE, encoding="utf-8")
    options = Options(Settings(target_version=(3, 9)), Mode.WRITE, None)
    outcome = annotate_file(str(path), options, MeddlingPredictor(predictor, path.unlink))
    assert outcome.status is Status.FAILED
    assert outcome.reason is not None and "deleted while annotating" in outcome.reason
    assert list(tmp_path.iterdir()) == []


def test_a_read_only_file_is_named_before_the_model_runs(
    tmp_path: Path, predictor: Predictor
) -> None:
    path = tmp_path / "a.py"
    path.write_text(SOURCE, encoding="utf-8")
    os.chmod(path, 0o444)

    def fail() -> None:
        raise AssertionError("the model ran for a file that cannot be written")

    options = Options(Settings(target_version=(3, 9)), Mode.WRITE, None)
    outcome = annotate_file(str(path), options, MeddlingPredictor(predictor, fail))
    assert outcome.status is Status.FAILED and "read-only" in (outcome.reason or "")
    assert path.read_text(encoding="utf-8") == SOURCE


PLANTED = [
    # (what the planted output does, how it is made from the honest one)
    ("runs code", lambda honest: honest + "import os; os.system('echo owned')\n"),
    ("runs code in an annotation", lambda honest: honest.replace(": bool", ": print('x')", 1)),
    ("adds a comment", lambda honest: honest.replace("\n", "  # nosec\n", 1)),
    ("adds an import", lambda honest: "import antigravity\n" + honest),
    ("deletes text", lambda honest: honest.replace("return bool(path)", "return path")),
]


@pytest.mark.parametrize(("what", "plant"), PLANTED, ids=[what for what, _ in PLANTED])
def test_a_cached_output_is_written_only_if_it_passes_the_checks(
    tmp_path: Path, predictor: Predictor, what: str, plant: Callable[[str], str]
) -> None:
    path = tmp_path / "a.py"
    path.write_text(SOURCE, encoding="utf-8")
    settings = Settings(target_version=(3, 9))
    honest = annotate(SOURCE, str(path), settings=settings, predictor=predictor)
    assert ": bool" in honest.source  # what the planted outputs start from
    added, below = counts(honest)
    cache = Cache(tmp_path / "cache")
    options = Options(settings, Mode.WRITE, str(cache.folder))
    planted = plant(honest.source).encode("utf-8")
    assert planted != honest.source.encode("utf-8")
    cache.put(sha256_bytes(SOURCE.encode()), CacheEntry(planted, added, below))
    assert from_cache(str(path), options, cache) is None, what  # a miss: recomputed
    assert path.read_text(encoding="utf-8") == SOURCE
    # The honest entry is used; with made-up counts it is not.
    cache.put(sha256_bytes(SOURCE.encode()), CacheEntry(honest.source.encode(), (("param", 9),)))
    assert from_cache(str(path), options, cache) is None
    cache.put(sha256_bytes(SOURCE.encode()), CacheEntry(honest.source.encode(), added, below))
    hit = from_cache(str(path), options, cache)
    assert hit is not None and hit.status is Status.CHANGED
    assert path.read_text(encoding="utf-8") == honest.source


def test_diff_is_in_the_files_encoding_and_applies_with_git(
    tmp_path: Path, predictor: Predictor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    source = "# -*- coding: latin-1 -*-\nNAME = 'caf\xe9'\n\n\n" + SOURCE
    (tmp_path / "latin.py").write_bytes(source.encode("latin-1"))
    outcome = annotate_file(
        "latin.py", Options(Settings(target_version=(3, 9)), Mode.DIFF, None), predictor
    )
    assert outcome.diff is not None and outcome.diff_encoding == "iso-8859-1"
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="utf-8")  # as a UTF-8 terminal's stdout
    Report(write=False, diff=True, stdout=stdout, stderr=io.StringIO()).record(outcome)
    stdout.flush()
    assert b"'caf\xe9'" in raw.getvalue() and "é".encode() not in raw.getvalue()
    git_apply(tmp_path, raw.getvalue())
    annotated = annotate(source, "latin.py", settings=Settings(target_version=(3, 9)))
    assert (tmp_path / "latin.py").read_bytes() == annotated.source.encode("latin-1")


def test_diff_of_a_bom_file_applies_with_git(
    tmp_path: Path, predictor: Predictor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data = codecs.BOM_UTF8 + SOURCE.encode("utf-8")
    (tmp_path / "bom.py").write_bytes(data)
    outcome = annotate_file(
        "bom.py", Options(Settings(target_version=(3, 9)), Mode.DIFF, None), predictor
    )
    assert outcome.diff is not None
    git_apply(tmp_path, outcome.diff.encode(outcome.diff_encoding or "utf-8"))
    assert (tmp_path / "bom.py").read_bytes() == codecs.BOM_UTF8 + annotate(
        SOURCE, "bom.py", settings=Settings(target_version=(3, 9)), predictor=predictor
    ).source.encode("utf-8")


@pytest.mark.parametrize("name", ["new\nline.py", 'quote"and\\back.py', "caf\xe9.py", "sp ace.py"])
def test_diff_names_are_quoted_as_git_quotes_them(
    tmp_path: Path, predictor: Predictor, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_text(SOURCE, encoding="utf-8")
    options = Options(Settings(target_version=(3, 9)), Mode.DIFF, None)
    outcome = annotate_file(name, options, predictor)
    assert outcome.diff is not None
    header = outcome.diff.split("\n", 2)[:2]
    assert all(line.count("\n") == 0 for line in header)
    git_apply(tmp_path, outcome.diff.encode("utf-8"))
    assert (tmp_path / name).read_text(encoding="utf-8") != SOURCE


def git_apply(folder: Path, patch: bytes) -> None:
    """``git apply`` the patch in ``folder`` (a fresh repository), or fail with git's say."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed: the diff cannot be checked by git apply")
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    done = subprocess.run(
        ["git", "apply", "--verbose", "-"],
        input=patch,
        cwd=folder,
        capture_output=True,
    )
    assert done.returncode == 0, (done.stderr.decode(errors="replace"), patch)
