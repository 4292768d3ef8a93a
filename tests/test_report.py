"""The run report: counting, messages and the exit code."""

from __future__ import annotations

from typing import List, Tuple

from localtypes.run.report import (
    EXIT_CHANGES,
    EXIT_FAILED,
    EXIT_OK,
    FileOutcome,
    Report,
    Status,
)


def make(check: bool = False, write: bool = True, quiet: bool = False) -> Tuple[Report, List[str]]:
    lines: List[str] = []
    report = Report(check=check, write=write, quiet=quiet, out=lines.append, err=lines.append)
    return report, lines


CHANGED = FileOutcome("a.py", Status.CHANGED, (("param", 2), ("return", 1)), below_threshold=4)
UNCHANGED = FileOutcome("b.py", Status.UNCHANGED, below_threshold=1)
FAILED = FileOutcome("c.py", Status.FAILED, reason="invalid syntax (line 3, column 1)")


def test_exit_codes() -> None:
    report, _ = make()
    assert report.exit_code == EXIT_OK
    report.record(CHANGED)
    assert report.exit_code == EXIT_OK  # changes are fine when writing
    report, _ = make(check=True, write=False)
    report.record(UNCHANGED)
    assert report.exit_code == EXIT_OK
    report.record(CHANGED)
    assert report.exit_code == EXIT_CHANGES
    report.record(FAILED)
    assert report.exit_code == EXIT_FAILED  # failures win over changes


def test_counts_and_summary() -> None:
    report, lines = make()
    for outcome in (CHANGED, UNCHANGED, FAILED):
        report.record(outcome)
    assert lines == [
        "annotated a.py (+3)",
        "error: cannot annotate c.py: invalid syntax (line 3, column 1)",
    ]
    summary = report.summary()
    assert "1 file annotated, 1 file unchanged, 1 file could not be processed." in summary
    assert "Annotations added: 3 (2 param, 1 return)" in summary
    assert "5 slots left below the confidence threshold" in summary
    assert "skipped c.py: invalid syntax (line 3, column 1)" in summary
    assert report.to_dict()["failed"] == [{"path": "c.py", "reason": FAILED.reason}]


def test_check_wording_and_quiet() -> None:
    report, lines = make(check=True, write=False, quiet=True)
    report.record(CHANGED)
    report.record(FAILED)
    assert lines == ["error: cannot annotate c.py: invalid syntax (line 3, column 1)"]
    assert "1 file would be annotated" in report.summary()
    assert "Annotations to add" in report.summary()
