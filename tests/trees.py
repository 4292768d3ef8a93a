"""Real temporary trees for CLI tests, and the in-process CLI run (no subprocess)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from localtypes.cli import main

ANNOTATED = "def already(x: int) -> int:\n    return x\n"


def run(args: List[str]) -> Tuple[int, str, str]:
    """``localtypes ARGS`` in this process: (exit code, stdout, stderr)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(args, stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache of the test's own, no LOCALTYPES_* from outside, the tree as current folder."""
    for name in list(os.environ):
        if name.startswith("LOCALTYPES_") and name != "LOCALTYPES_MODEL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("LOCALTYPES_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def make_package(root: Path, source: str, copies: int = 1, package: bool = True) -> Dict[str, Path]:
    """A project (a pyproject.toml) whose ``pkg/`` holds ``copies`` modules of ``source``
    and an annotated one; ``package``: with an ``__init__.py`` (else a plain folder)."""
    (root / "pyproject.toml").write_text('[project]\nrequires-python = ">=3.9"\n', "utf-8")
    pkg = root / "pkg"
    pkg.mkdir()
    if package:
        (pkg / "__init__.py").write_text("", "utf-8")
    files = {}
    for index in range(copies):
        path = pkg / f"mod{index}.py"
        path.write_text(source, encoding="utf-8")
        files[path.name] = path
    done = pkg / "done.py"
    done.write_text(ANNOTATED, encoding="utf-8")
    files[done.name] = done
    return files


def snapshot(root: Path) -> Dict[str, bytes]:
    """Every .py file under ``root`` by relative path: what a run must not touch."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.py"))}
