"""Whole runs in real processes against what can happen to users' files: an edit saved
while the file is annotated, a file deleted meanwhile, files the runner may not write
(as another user: these tests run as root, which may write anything), an unreadable
folder, and a diff of a latin-1 file fed to ``git apply``."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
OTHER = 65534  # uid and gid of "nobody"

pytestmark = pytest.mark.slow  # each test runs the command in a process of its own

SOURCE = """\
import os


def exists(path, follow_symlinks=True):
    return os.path.exists(path)


def count_lines(text):
    total = 0
    for _ in text.splitlines():
        total += 1
    return total
"""


def env() -> Dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("LOCALTYPES_")},
        "LOCALTYPES_CACHE": "0",
        "PYTHONPATH": str(REPO),
    }


# --- an edit saved, or the file deleted, while it is annotated ----------------------------

# The command, with the model's work held until the test says go: the test then edits the
# file at a known point, after it was read and before it is written.
PAUSED = """
import os, sys, time
import localtypes.api as api

real = api.annotate

def annotate(*args, **kwargs):
    open(os.environ["LT_STARTED"], "w").close()
    deadline = time.monotonic() + 120
    while not os.path.exists(os.environ["LT_GO"]) and time.monotonic() < deadline:
        time.sleep(0.01)
    return real(*args, **kwargs)

api.annotate = annotate
from localtypes.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_paused(
    tmp_path: Path, args: List[str], meddle: Callable[[], object]
) -> subprocess.CompletedProcess[str]:
    started, go = tmp_path / "started", tmp_path / "go"
    process = subprocess.Popen(
        [sys.executable, "-c", PAUSED, *args],
        env={**env(), "LT_STARTED": str(started), "LT_GO": str(go)},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not started.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never started annotating"
        time.sleep(0.01)
    meddle()
    go.touch()
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_an_edit_saved_while_annotating_is_kept_and_the_file_named(tmp_path: Path) -> None:
    path = tmp_path / "big.py"
    path.write_text(SOURCE, encoding="utf-8")
    edited = SOURCE + "EDITED = 'saved by the user while localtypes ran'\n"
    done = run_paused(
        tmp_path,
        ["annotate", "--no-cache", "-j", "1", "big.py"],
        lambda: path.write_text(edited, encoding="utf-8"),
    )
    assert done.returncode == 123, done.stderr
    assert "big.py: changed while annotating" in done.stderr
    assert path.read_text(encoding="utf-8") == edited
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.py", "go", "started"]


def test_a_file_deleted_while_annotating_is_not_recreated(tmp_path: Path) -> None:
    path = tmp_path / "big.py"
    path.write_text(SOURCE, encoding="utf-8")
    done = run_paused(
        tmp_path,
        ["annotate", "--no-cache", "-j", "1", "big.py"],
        path.unlink,
    )
    assert done.returncode == 123, done.stderr
    assert "big.py: deleted while annotating" in done.stderr
    assert not path.exists()


# --- as another user -----------------------------------------------------------------------

# Runs the command as uid/gid 65534 with no other group. The interpreter may live where
# that user cannot read (here: under /root), so everything the command imports is imported
# first, as root, and the process then gives up root for good before it reads any file.
AS_OTHER = """
import os, sys, pkgutil, importlib
import localtypes
for module in pkgutil.walk_packages(localtypes.__path__, "localtypes."):
    if not module.name.startswith("localtypes.service"):
        importlib.import_module(module.name)
import encodings.latin_1, encodings.utf_8, difflib, tomllib, json, tempfile
import numpy, onnxruntime, pathspec, platformdirs, pyflakes.checker, pyflakes.messages
from localtypes.analysis.stubs import call_result
call_result("os", "getcwd")  # typeshed_client and what it imports (the stubs are in the venv)
os.setgroups([])
os.setgid(int(sys.argv[1]))
os.setuid(int(sys.argv[1]))
assert os.geteuid() != 0 and os.getuid() != 0
from localtypes.cli import main
sys.exit(main(sys.argv[2:]))
"""


def run_as_other_user(args: List[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", AS_OTHER, str(OTHER), *args],
        env=env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def shared(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A folder another user can reach (pytest's tmp_path is root's alone)."""
    if os.geteuid() != 0:
        pytest.skip(
            "files owned by another user cannot be made without root; as a user who is not "
            "root, tests/run/test_files.py covers the same rules"
        )
    folder = Path(tempfile.mkdtemp(prefix="localtypes-shared-"))
    os.chmod(folder, 0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def project(root: Path, owner: Optional[int] = OTHER) -> Path:
    """A project the other user owns (or not), with a module to annotate."""
    (root / "pyproject.toml").write_text("", encoding="utf-8")
    (root / "mod.py").write_text(SOURCE, encoding="utf-8")
    if owner is not None:
        for path in (root, root / "pyproject.toml", root / "mod.py"):
            os.chown(path, owner, owner)
    return root / "mod.py"


def test_the_other_user_annotates_its_own_file(shared: Path) -> None:
    """The set-up works: the other user annotates what it owns."""
    path = project(shared)
    done = run_as_other_user(["annotate", "-j", "1", "mod.py"], shared)
    assert done.returncode == 0, done.stderr
    assert path.read_text(encoding="utf-8") != SOURCE
    assert (path.stat().st_uid, path.stat().st_gid) == (OTHER, OTHER)


def test_a_root_owned_file_in_a_folder_the_user_may_write_is_left_alone(shared: Path) -> None:
    path = project(shared)
    os.chown(path, 0, 0)
    os.chmod(path, 0o644)  # the user may not write it, only the folder
    done = run_as_other_user(["annotate", "-j", "1", "mod.py"], shared)
    assert done.returncode == 123, done.stderr
    assert "mod.py: not writable by you" in done.stderr
    assert path.read_text(encoding="utf-8") == SOURCE
    assert (path.stat().st_uid, path.stat().st_gid) == (0, 0)


def test_a_file_whose_group_the_user_cannot_keep_is_left_alone(shared: Path) -> None:
    path = project(shared)
    os.chown(path, OTHER, 0)  # the user's file, in a group the user is not in
    os.chmod(path, 0o664)
    done = run_as_other_user(["annotate", "-j", "1", "mod.py"], shared)
    assert done.returncode == 123, done.stderr
    assert "mod.py: its group (gid 0) cannot be kept" in done.stderr
    assert path.read_text(encoding="utf-8") == SOURCE
    assert (path.stat().st_uid, path.stat().st_gid) == (OTHER, 0)


def test_a_read_only_file_of_the_user_is_left_alone(shared: Path) -> None:
    path = project(shared)
    os.chmod(path, 0o444)
    done = run_as_other_user(["annotate", "-j", "1", "mod.py"], shared)
    assert done.returncode == 123, done.stderr
    assert "mod.py: read-only" in done.stderr
    assert path.read_text(encoding="utf-8") == SOURCE


def test_an_unreadable_folder_is_named_and_the_walk_goes_on(shared: Path) -> None:
    path = project(shared)
    for name in ("locked", "unlisted"):
        folder = shared / name
        folder.mkdir()
        (folder / "inner.py").write_text(SOURCE, encoding="utf-8")
    os.chmod(shared / "locked", 0o700)  # root's: neither listed nor searched by the user
    os.chown(shared / "unlisted", OTHER, OTHER)
    os.chmod(shared / "unlisted", 0o300)  # the user's, searchable but not listable
    done = run_as_other_user(["annotate", "-j", "1", "."], shared)
    assert done.returncode == 123, done.stderr
    assert "cannot annotate locked: cannot read the folder: Permission denied" in done.stderr
    assert "cannot annotate unlisted: cannot read the folder: Permission denied" in done.stderr
    assert path.read_text(encoding="utf-8") != SOURCE  # the rest was annotated
    assert (shared / "locked" / "inner.py").read_text(encoding="utf-8") == SOURCE


# --- a diff that git applies ---------------------------------------------------------------


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_diff_of_a_latin1_file_applies_with_git(tmp_path: Path) -> None:
    source = "# -*- coding: latin-1 -*-\n" + SOURCE.replace("(path)\n", "(path)  # 'caf\xe9'\n")
    path = tmp_path / "latin.py"
    path.write_bytes(source.encode("latin-1"))
    done = subprocess.run(
        [sys.executable, "-m", "localtypes", "annotate", "--diff", "-j", "1", "latin.py"],
        env={**env(), "PYTHONIOENCODING": "utf-8"},
        cwd=tmp_path,
        capture_output=True,
    )
    assert done.returncode == 0, done.stderr
    assert b"'caf\xe9'" in done.stdout
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    applied = subprocess.run(["git", "apply", "-"], input=done.stdout, cwd=tmp_path)
    assert applied.returncode == 0
    annotated = path.read_bytes()
    assert annotated != source.encode("latin-1")
    annotated.decode("latin-1")
    assert stat.S_ISREG(path.stat().st_mode)
    # what --diff showed is what a write gives
    (tmp_path / "again.py").write_bytes(source.encode("latin-1"))
    written = subprocess.run(
        [sys.executable, "-m", "localtypes", "annotate", "-j", "1", "again.py"],
        env=env(),
        cwd=tmp_path,
        capture_output=True,
    )
    assert written.returncode == 0, written.stderr
    assert (tmp_path / "again.py").read_bytes() == annotated
