"""Where files are annotated: the pool of processes, and how it stops."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import List

import pytest

from localtypes.run.concurrency import annotate_files
from localtypes.run.report import FileOutcome
from localtypes.run.task import Mode, Options
from localtypes.settings import Settings

SOURCE = "def exists(path, follow_symlinks=True):\n    return bool(path)\n"


@pytest.mark.slow  # starts three worker processes
def test_a_pool_stopped_midway_ends_although_queued_files_were_cancelled(
    tmp_path: Path,
) -> None:
    """Stopping the run (Ctrl-C, or a caller that stops reading) shuts the pool down with
    its queued files cancelled. A regression: the thread that feeds the pool waited on
    them with ``concurrent.futures.wait``, which never hears of such a cancellation, and
    the run hung after Ctrl-C instead of exiting."""
    paths = []
    for index in range(40):
        path = tmp_path / f"m{index:02}.py"
        path.write_text(SOURCE)
        paths.append(str(path))
    outcomes = annotate_files(paths, Options(Settings(), Mode.CHECK, None), jobs=4)
    first: List[FileOutcome] = [next(outcomes)]  # this process's first file: the children
    # are still starting, with files queued for them beyond what their queue holds
    closing = threading.Thread(target=outcomes.close, daemon=True)  # type: ignore[attr-defined]
    closing.start()
    closing.join(timeout=60)
    assert not closing.is_alive(), "the pool never finished stopping"
    assert first[0].reason is None, first[0].reason
