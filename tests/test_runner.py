"""The runner's helpers: how many processes, and the diffs it prints."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List

import pytest

from localtypes.run.runner import BYTES_PER_WORKER, unified_diff, worker_count


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
