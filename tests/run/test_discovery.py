"""Folder walks: what is taken, what is always left out, .gitignore and globs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, List, Sequence

import pytest

from localtypes.configs import find_project_root
from localtypes.run.discovery import ROOT_MARKERS, Walker, project_root


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n", encoding="utf-8")


def walk(
    root: Path,
    *paths: str,
    include: Sequence[str] = ("*.py", "*.pyi"),
    exclude: Sequence[str] = (),
) -> List[str]:
    selection = Walker(root, include, exclude).select([str(root / p) for p in paths or ("",)])
    return sorted(path.relative_to(root).as_posix() for path in selection.files)


def test_skips_environments_build_output_and_hidden_folders(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "pkg/a.py",
        "pkg/b.pyi",
        "pkg/notes.txt",
        "venv/lib/x.py",
        "build/lib/pkg/a.py",
        "dist/x.py",
        "pkg/__pycache__/a.py",
        ".tox/x.py",
        ".git/hooks/x.py",
        "node_modules/x.py",
    )
    (tmp_path / "venv" / "pyvenv.cfg").write_text("home = /usr\n", encoding="utf-8")
    assert walk(tmp_path) == ["pkg/a.py", "pkg/b.pyi"]


def test_gitignore_at_root_and_nested(tmp_path: Path) -> None:
    touch(tmp_path, "a.py", "gen/x.py", "pkg/keep.py", "pkg/skip_me.py", "pkg/sub/y.py")
    (tmp_path / ".gitignore").write_text("gen/\n", encoding="utf-8")
    (tmp_path / "pkg" / ".gitignore").write_text("skip_*.py\nsub/\n", encoding="utf-8")
    assert walk(tmp_path) == ["a.py", "pkg/keep.py"]
    # walking a subfolder still honours the root's and its own .gitignore
    assert walk(tmp_path, "pkg") == ["pkg/keep.py"]


def test_include_and_exclude_globs_relative_to_root(tmp_path: Path) -> None:
    touch(tmp_path, "src/a.py", "src/a_pb2.py", "tests/data/case.py", "tests/test_a.py")
    assert walk(tmp_path, exclude=("*_pb2.py", "tests/data/")) == ["src/a.py", "tests/test_a.py"]
    assert walk(tmp_path, "tests", exclude=("tests/data/",)) == ["tests/test_a.py"]
    assert walk(tmp_path, include=("src/*.py",)) == ["src/a.py", "src/a_pb2.py"]


def test_named_files_are_taken_unless_excluded(tmp_path: Path) -> None:
    touch(tmp_path, "script", "gen.py")
    walker = Walker(tmp_path, ("*.py",), ("gen.py",))
    selection = walker.select([str(tmp_path / "script"), str(tmp_path / "gen.py")])
    assert [p.name for p in selection.files] == ["script"]


def test_missing_paths_are_problems_and_duplicates_collapse(tmp_path: Path) -> None:
    touch(tmp_path, "a.py")
    walker = Walker(tmp_path, ("*.py",), ())
    selection = walker.select([str(tmp_path), str(tmp_path / "a.py"), str(tmp_path / "nope.py")])
    assert [p.name for p in selection.files] == ["a.py"]
    assert selection.problems == ((str(tmp_path / "nope.py"), "no such file or folder"),)


def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    touch(tmp_path, "real/a.py")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "b.py").symlink_to(tmp_path / "real" / "a.py")
    assert walk(tmp_path) == ["real/a.py"]


def test_project_root_is_the_nearest_marker(tmp_path: Path) -> None:
    touch(tmp_path, "proj/src/pkg/a.py")
    (tmp_path / "proj" / "pyproject.toml").write_text("", encoding="utf-8")
    assert project_root([str(tmp_path / "proj" / "src" / "pkg")]) == tmp_path / "proj"
    assert project_root([str(tmp_path / "proj" / "src" / "pkg" / "a.py")]) == tmp_path / "proj"


@pytest.mark.parametrize("marker", ROOT_MARKERS)
@pytest.mark.parametrize("is_dir", [True, False])
def test_project_root_is_any_marker_file_or_folder(
    tmp_path: Path, marker: str, is_dir: bool
) -> None:
    touch(tmp_path, "repo/sub/pkg/a.py")
    if is_dir:
        (tmp_path / "repo" / marker).mkdir()
    else:  # a .git file: a worktree or a submodule
        (tmp_path / "repo" / marker).write_text("", encoding="utf-8")
    assert project_root([str(tmp_path / "repo" / "sub" / "pkg")]) == tmp_path / "repo"


def test_the_root_finder_honours_its_markers(tmp_path: Path) -> None:
    touch(tmp_path, "repo/sub/pkg/a.py")
    (tmp_path / "repo" / "pyproject.toml").write_text("", encoding="utf-8")
    (tmp_path / "repo" / "sub" / ".git").mkdir()
    pkg = tmp_path / "repo" / "sub" / "pkg"
    assert project_root([str(pkg)]) == tmp_path / "repo" / "sub"  # the nearest of all
    assert find_project_root(pkg, ROOT_MARKERS) == tmp_path / "repo" / "sub"
    assert find_project_root(pkg) == tmp_path / "repo"  # settings: pyproject.toml only
    assert find_project_root(pkg / "a.py") == tmp_path / "repo"  # from a file: its folder
    assert find_project_root(pkg, ("no-such-marker-7f3a",)) is None


def test_unreadable_folder_is_a_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    touch(tmp_path, "ok/a.py", "locked/b.py")
    locked = tmp_path / "locked"
    real_scandir = os.scandir

    def scandir(path: Path) -> Iterator[os.DirEntry[str]]:
        if Path(path) == locked:  # as for a folder without read permission
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    selection = Walker(tmp_path, ("*.py",), ()).select([str(tmp_path)])
    assert [p.name for p in selection.files] == ["a.py"]
    assert selection.problems == ((str(locked), "cannot read the folder: Permission denied"),)


@pytest.mark.parametrize("refused", ["locked/pyvenv.cfg", "locked/.gitignore"])
def test_a_folder_that_cannot_be_searched_is_a_problem_and_the_walk_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refused: str
) -> None:
    """Without search permission on ``locked``, even asking whether ``locked/pyvenv.cfg``
    exists is refused (the real thing, as a user who is not root: test_file_safety.py)."""
    touch(tmp_path, "ok/a.py", "locked/b.py", "z/c.py")
    real_stat = os.stat

    def stat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        if Path(str(path)) == tmp_path / refused:
            raise PermissionError(13, "Permission denied", str(path))
        return real_stat(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "stat", stat)
    selection = Walker(tmp_path, ("*.py",), ()).select([str(tmp_path)])
    assert [p.name for p in selection.files] == ["a.py", "c.py"]
    assert selection.problems == (
        (str(tmp_path / "locked"), "cannot read the folder: Permission denied"),
    )
