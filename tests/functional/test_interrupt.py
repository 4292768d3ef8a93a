"""A run killed with SIGKILL leaves every file either old or new, never half-written."""

from __future__ import annotations

import ast
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict

import pytest

from localtypes.cli import main

REPO = Path(__file__).resolve().parents[2]
FILES = 60

pytestmark = pytest.mark.slow  # a few seconds: a real run in a subprocess, killed midway


TEMPLATE = '''\
"""Module {index}."""

import os


class Store{index}:
    def __init__(self, root, create=False):
        self.root = root
        self.create = create

    def __repr__(self):
        return "Store{index}(" + self.root + ")"

    def path(self, name):
        return os.path.join(self.root, name)

    def exists(self, name):
        return os.path.exists(self.path(name))

    def read(self, name, default=None):
        if not self.exists(name):
            return default
        with open(self.path(name)) as handle:
            return handle.read()


def size_{index}(text, strip=True):
    if strip:
        text = text.strip()
    return len(text)
'''


def make_tree(root: Path) -> Dict[str, bytes]:
    root.mkdir()
    files = {}
    for index in range(FILES):
        data = TEMPLATE.format(index=index).encode("utf-8")
        (root / f"m{index:03}.py").write_bytes(data)
        files[f"m{index:03}.py"] = data
    return files


def annotate_fully(root: Path) -> Dict[str, bytes]:
    code = main(
        ["annotate", "-q", "-j", "1", "--no-cache", str(root)], io.StringIO(), io.StringIO()
    )
    assert code == 0
    return {path.name: path.read_bytes() for path in root.glob("*.py")}


def changed(root: Path, original: Dict[str, bytes]) -> int:
    count = 0
    for name, data in original.items():
        try:
            if (root / name).read_bytes() != data:
                count += 1
        except OSError:
            pass
    return count


def gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize(("jobs", "kill_group"), [(1, True), (2, False)])
def test_killed_run_leaves_old_or_new_files(tmp_path: Path, jobs: int, kill_group: bool) -> None:
    """Kill mid-run (the whole group, or the parent alone so workers are orphaned)."""
    original = make_tree(tmp_path / "expected")
    expected = annotate_fully(tmp_path / "expected")
    assert sum(expected[n] != original[n] for n in original) == FILES  # every file gains some

    victim = tmp_path / "victim"
    make_tree(victim)
    env = {**os.environ, "LOCALTYPES_CACHE": "0", "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "localtypes", "annotate", "-q", "-j", str(jobs), str(victim)],
        env=env,
        start_new_session=True,  # its own process group, so that we can find its workers
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while changed(victim, original) < 3 and process.poll() is None:
        assert time.monotonic() < deadline, "the run never wrote a file"
        time.sleep(0.002)
    if kill_group:
        os.killpg(process.pid, signal.SIGKILL)
    else:
        process.kill()
    process.wait()
    # orphaned workers must notice and leave by themselves, promptly
    deadline = time.monotonic() + 15
    while not gone(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    leftover = not gone(process.pid)
    if leftover:
        os.killpg(process.pid, signal.SIGKILL)
    assert not leftover, "worker processes outlived their killed parent"

    done = 0
    for name, old in original.items():
        data = (victim / name).read_bytes()
        assert data in (old, expected[name]), f"{name} is neither old nor new"
        ast.parse(data)
        done += data == expected[name]
    assert 0 < done < FILES, f"not killed mid-run ({done}/{FILES} files done)"
    assert sorted(p.name for p in victim.glob("*.py")) == sorted(original)

    # a second run finishes the job and reaches exactly the uninterrupted result
    finished = annotate_fully(victim)
    assert finished == expected


def test_ctrl_c_during_a_parallel_run_exits_130_without_a_traceback(tmp_path: Path) -> None:
    """Ctrl-C: the terminal sends SIGINT to every process of the foreground group, the
    workers included, while they work, wait or start."""
    victim = tmp_path / "victim"
    victim.mkdir()
    original = {}
    for index in range(4 * FILES):
        data = TEMPLATE.format(index=index).encode("utf-8")
        (victim / f"m{index:03}.py").write_bytes(data)
        original[f"m{index:03}.py"] = data
    env = {**os.environ, "LOCALTYPES_CACHE": "0", "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "localtypes", "annotate", "-j", "2", str(victim)],
        env=env,
        start_new_session=True,  # a process group of its own, as a terminal's job
        # Ctrl-C as a terminal's job gets it: a shell starts background jobs (nohup, `&`)
        # with SIGINT ignored, and a child would inherit that.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while changed(victim, original) < FILES and process.poll() is None:
        assert time.monotonic() < deadline, "the run never wrote a file"
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGINT)
    try:
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    done = changed(victim, original)
    assert 0 < done < len(original), f"not interrupted mid-run ({done} files done)"
    assert process.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.rstrip().endswith("Aborted."), err
    for name in original:
        ast.parse((victim / name).read_bytes())  # old or new, whole
    left = sorted(set(p.name for p in victim.iterdir()) - set(original))
    assert not left, (left, err)  # no temporary files
