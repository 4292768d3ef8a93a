"""The pre-commit hook, run for real by the ``pre-commit`` package on a temporary git repo.

Two set-ups: the hook manifest of this repository (``.pre-commit-hooks.yaml``) installed by
pre-commit from a ``file://`` clone into its own virtualenv, and a ``repo: local`` hook.
These take a few seconds each (virtualenv creation, model load): marked slow, they run in
``.ci/run``. The module committed is conftest's ``greeter_source``.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Dict, List

import pytest

from localtypes.cli import main

REPO = Path(__file__).resolve().parents[2]
GIT = shutil.which("git")

pytestmark = [
    pytest.mark.slow,  # git, pre-commit and (for the manifest) a virtualenv: seconds each
    pytest.mark.skipif(GIT is None, reason="GIT IS MISSING: the pre-commit hook tests need git"),
]
pre_commit = pytest.importorskip("pre_commit", reason="PRE-COMMIT IS MISSING: pip install .[dev]")


def git(cwd: Path, *args: str, env: Dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GIT), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


@pytest.fixture
def env(tmp_path: Path, model_dir: Path) -> Dict[str, str]:
    """A clean environment: pre-commit's home in tmp, git identity, the model store, and
    this venv's bin first on PATH (for ``pre-commit`` and ``repo: local``)."""
    bindir = Path(sys.executable).parent
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LOCALTYPES_", "GIT_", "PRE_COMMIT"))
    }
    environment.update(
        {
            "PATH": f"{bindir}{os.pathsep}{environment.get('PATH', '')}",
            "HOME": str(tmp_path / "home"),
            "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
            "LOCALTYPES_MODEL": str(model_dir),
            "LOCALTYPES_CACHE_DIR": str(tmp_path / "cache"),
        }
    )
    return environment


def make_user_repo(root: Path, config: str, source: str, env: Dict[str, str]) -> Path:
    root.mkdir()
    assert git(root, "init", "-q", env=env).returncode == 0
    (root / ".pre-commit-config.yaml").write_text(config, encoding="utf-8")
    (root / "greeter.py").write_text(source, encoding="utf-8")
    (root / "notes.txt").write_text("def f(x): pass\n", encoding="utf-8")
    git(root, "add", ".", env=env)
    return root


def commit(repo: Path, env: Dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``git commit`` through the installed hook, as a user would."""
    installed = subprocess.run(
        [sys.executable, "-m", "pre_commit", "install"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return git(repo, "commit", "-m", "add greeter", env=env)


def assert_hook_stops_then_passes(repo: Path, source: str, env: Dict[str, str]) -> None:
    first = commit(repo, env)
    output = first.stdout + first.stderr
    assert first.returncode != 0, output  # the hook changed a file: the commit stops
    assert "localtypes" in output and "Failed" in output, output
    annotated = (repo / "greeter.py").read_text(encoding="utf-8")
    assert annotated != source, output
    compile(annotated, "greeter.py", "exec")
    assert (repo / "notes.txt").read_text(encoding="utf-8") == "def f(x): pass\n"
    assert git(repo, "log", env=env).returncode != 0  # still no commit

    git(repo, "add", "greeter.py", env=env)
    second = commit(repo, env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Passed" in second.stdout + second.stderr


def hook_repository(root: Path, env: Dict[str, str]) -> Path:
    """A git copy of this working tree (what a user's pre-commit would clone)."""
    root.mkdir()
    for name in (
        "localtypes",
        "model_store",
        "setup.cfg",
        "pyproject.toml",
        "README.md",
        ".pre-commit-hooks.yaml",
    ):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, root / name)
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "localtypes"]):
        result = git(root, *args, env=env)
        assert result.returncode == 0, result.stderr
    return root


def readme_hook_config() -> str:
    """The README's ``.pre-commit-config.yaml`` snippet, as a user copies it."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## pre-commit") :]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block, "no yaml snippet in the README's pre-commit section"
    return block.group(1)


def test_readme_snippet_installs_the_hook_from_a_clone_at_its_release_tag(
    tmp_path: Path, env: Dict[str, str], greeter_source: str
) -> None:
    """The README's snippet, verbatim but for the repository's address: pre-commit clones
    the repo at the README's ``rev`` (this release's tag) and pip-installs it into the
    hook's own virtualenv; the snippet's ``args`` reach ``localtypes annotate``.

    The install is kept offline and quick: this venv's site-packages stands in for the
    dependencies (PYTHONPATH; .pth files, so this checkout's editable install, are not
    read from there), and pip installs only localtypes itself, from the clone.
    """
    from localtypes import __version__

    snippet = readme_hook_config()
    rev = re.search(r"^\s*rev: (\S+)$", snippet, re.M)
    assert rev and rev.group(1) == f"v{__version__}", "the README's rev is not this release"
    args = re.search(r"^\s*args: \[(.*)\]$", snippet, re.M)
    assert args, "the README's snippet passes no args"
    hooks = hook_repository(tmp_path / "hooks", env)
    tagged = git(hooks, "tag", rev.group(1), env=env)  # as the release is tagged
    assert tagged.returncode == 0, tagged.stderr
    site = sysconfig.get_paths()["purelib"]
    env = {
        **{key: value for key, value in env.items() if key != "LOCALTYPES_MODEL"},
        "PYTHONPATH": site,
        "PIP_NO_DEPS": "1",
        # pip reads its --no-* options' variables inverted: "0" turns build isolation off.
        "PIP_NO_BUILD_ISOLATION": "0",
        "PIP_NO_INDEX": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    url = re.search(r"repo: (\S+)", snippet)
    assert url
    config = snippet.replace(url.group(1), f"file://{hooks}")
    repo = make_user_repo(tmp_path / "user", config, greeter_source, env)
    assert_hook_stops_then_passes(repo, greeter_source, env)
    # the hook ran the clone's localtypes, installed in pre-commit's own environment with
    # its bundled model store (LOCALTYPES_MODEL is not set here)
    home = tmp_path / "pre-commit-home"
    assert list(home.rglob("localtypes/cli.py")), "localtypes not installed for the hook"
    assert list(home.rglob("share/localtypes/model_store/*/model.onnx")), "no bundled model"
    # ... with the snippet's args: the file is what `annotate` writes with them, and not
    # what it writes without them
    options = [arg.strip() for arg in args.group(1).split(",")]
    written = (repo / "greeter.py").read_text(encoding="utf-8")
    assert written == annotated(tmp_path / "with-args", greeter_source, options)
    assert written != annotated(tmp_path / "without", greeter_source, [])


def annotated(folder: Path, source: str, options: List[str]) -> str:
    folder.mkdir()
    path = folder / "greeter.py"
    path.write_text(source, encoding="utf-8")
    code = main(["annotate", "-q", "--no-cache", *options, str(path)], io.StringIO(), io.StringIO())
    assert code == 0
    return path.read_text(encoding="utf-8")


def test_local_hook_with_check_args(
    tmp_path: Path, env: Dict[str, str], greeter_source: str
) -> None:
    """``repo: local`` running this checkout, and ``args: [--check]``: fail, write nothing."""
    config = f"""\
repos:
  - repo: local
    hooks:
      - id: localtypes
        name: localtypes
        entry: {sys.executable} -m localtypes annotate
        language: system
        types: [python]
        args: [--check]
"""
    env = {**env, "PYTHONPATH": str(REPO)}
    repo = make_user_repo(tmp_path / "user", config, greeter_source, env)
    result = commit(repo, env)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "would annotate greeter.py" in result.stdout + result.stderr
    assert (repo / "greeter.py").read_text(encoding="utf-8") == greeter_source
