"""The run report: counting, everything a run prints, and the exit code."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
from terminal import Terminal

from localtypes import __version__
from localtypes.model.store import load_store
from localtypes.run.report import (
    EXIT_CHANGES,
    EXIT_FAILED,
    EXIT_OK,
    FileOutcome,
    Report,
    Status,
)


def make(
    check: bool = False, write: bool = True, quiet: bool = False
) -> Tuple[Report, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    report = Report(check=check, write=write, quiet=quiet, stdout=out, stderr=err)
    return report, out, err


def lines(stream: io.StringIO) -> List[str]:
    return stream.getvalue().splitlines()


CHANGED = FileOutcome("a.py", Status.CHANGED, (("param", 2), ("return", 1)), below_threshold=4)
UNCHANGED = FileOutcome("b.py", Status.UNCHANGED, below_threshold=1)
FAILED = FileOutcome.failure("c.py", "invalid syntax (line 3, column 1)")
DIFF = "--- a/d.py\n+++ b/d.py\n@@ -1 +1 @@\n-def f(x): pass\n+def f(x: int): pass\n"


def test_exit_codes() -> None:
    report, _, _ = make()
    assert report.exit_code == EXIT_OK
    report.record(CHANGED)
    assert report.exit_code == EXIT_OK  # changes are fine when writing
    report, _, _ = make(check=True, write=False)
    report.record(UNCHANGED)
    assert report.exit_code == EXIT_OK
    report.record(CHANGED)
    assert report.exit_code == EXIT_CHANGES
    report.record(FAILED)
    assert report.exit_code == EXIT_FAILED  # failures win over changes


def test_counts_and_summary() -> None:
    report, out, err = make()
    for outcome in (CHANGED, UNCHANGED, FAILED):
        report.record(outcome)
    assert lines(err) == [
        "annotated a.py (+3)",
        "error: cannot annotate c.py: invalid syntax (line 3, column 1)",
    ]
    summary = report.summary()
    assert "1 file annotated, 1 file unchanged, 1 file could not be processed." in summary
    assert "Annotations added: 3 (2 param, 1 return)" in summary
    assert "5 slots left below the confidence threshold" in summary
    assert "skipped c.py: invalid syntax (line 3, column 1)" in summary
    assert report.to_dict()["failed"] == [{"path": "c.py", "reason": FAILED.reason}]
    report.finish()
    assert err.getvalue().endswith(summary + "\n")
    assert out.getvalue() == ""


def test_check_wording_and_quiet() -> None:
    report, _, err = make(check=True, write=False, quiet=True)
    report.record(CHANGED)
    report.record(FAILED)
    assert lines(err) == ["error: cannot annotate c.py: invalid syntax (line 3, column 1)"]
    assert "1 file would be annotated" in report.summary()
    assert "Annotations to add" in report.summary()
    report.finish()  # quiet: no summary
    assert len(lines(err)) == 1


def test_diffs_go_to_stdout_even_when_quiet() -> None:
    out, err = io.StringIO(), io.StringIO()
    report = Report(write=False, diff=True, quiet=True, stdout=out, stderr=err)
    report.record(FileOutcome("d.py", Status.CHANGED, (("param", 1),), diff=DIFF))
    assert out.getvalue() == DIFF
    assert err.getvalue() == ""


def test_verbose_header_and_unchanged_files(tmp_path: Path) -> None:
    store = load_store(None)
    out, err = io.StringIO(), io.StringIO()
    report = Report(verbose=True, stdout=out, stderr=err)
    target = "Target Python 3.9 (--target-version)"
    report.header(store, [target], 2, tmp_path)
    report.record(FileOutcome("b.py", Status.UNCHANGED, cached=True))
    report.finish()
    assert lines(err)[:3] == [
        f"localtypes {__version__}: model {store.name} "
        f"{store.version} ({store.path}); 2 files under {tmp_path}",
        f"  {target}",
        "b.py unchanged (cached)",
    ]
    assert "1 file answered from the cache." in lines(err)
    assert f"{target}." in lines(err)  # and in the summary
    before = err.getvalue()
    Report(stdout=out, stderr=err).header(store, [target], 2, tmp_path)  # not verbose
    assert err.getvalue() == before


def test_a_skipped_file_is_counted_and_named_when_verbose() -> None:
    out, err = io.StringIO(), io.StringIO()
    report = Report(verbose=True, stdout=out, stderr=err)
    report.record(FileOutcome("s.py", Status.SKIPPED, reason="# localtypes: skip-file"))
    report.finish()
    assert "s.py skipped (# localtypes: skip-file)" in lines(err)
    assert lines(err)[1].startswith(
        "0 files annotated, 0 files unchanged, 1 file skipped (# localtypes: skip-file)."
    )
    assert report.exit_code == 0 and report.to_dict()["skipped"] == 1


@pytest.mark.parametrize("files", [1, 3])
def test_lines_wait_for_the_progress_bar_on_a_terminal(files: int) -> None:
    out, err = io.StringIO(), Terminal()
    report = Report(stdout=out, stderr=err)
    report.fail("gone.py", "no such file or folder")  # before the bar: held too
    with report.progress(files):
        for index in range(files):
            report.record(FileOutcome(f"m{index}.py", Status.CHANGED, (("param", 1),)))
    text = err.getvalue()
    assert "error: cannot annotate" not in text and "annotated m0.py" not in text
    assert ("100%" in text) is (files > 1)  # no bar for a single file
    report.finish()
    held = err.getvalue()[len(text) :].splitlines()
    assert held[0] == "error: cannot annotate gone.py: no such file or folder"
    assert held[1] == "annotated m0.py (+1)"


@pytest.mark.parametrize(
    ("flags", "stdout"),
    [
        ({"diff": True}, Terminal()),  # diffs on a terminal: a bar would break them
        ({"quiet": True}, io.StringIO()),
        ({"verbose": True}, io.StringIO()),
    ],
)
def test_no_bar_for_diffs_on_a_terminal_nor_when_quiet_or_verbose(
    flags: Dict[str, bool], stdout: io.StringIO
) -> None:
    err = Terminal()
    report = Report(stdout=stdout, stderr=err, **flags)
    with report.progress(3):
        report.record(FileOutcome.failure("c.py", "bad"))
        assert "error: cannot annotate c.py: bad" in err.getvalue()  # said at once
    assert "annotating" not in err.getvalue()
