"""The project around a buffer: the same cross-file evidence as ``localtypes annotate``."""

from __future__ import annotations

from pathlib import Path

import pytest

from localtypes.configs import Configs
from localtypes.lsp import project as project_module
from localtypes.lsp.config import document_settings
from localtypes.lsp.project import Projects
from localtypes.run.discovery import Walker
from localtypes.run.project import project_facts

SHAPES = """\
def scale(value, factor):
    return value * factor


def describe(item, width):
    return item.ljust(width)
"""
MAIN = """\
from pkg.shapes import describe, scale

print(scale(2.5, 3))
print(describe("name", 10).upper())
"""
UNRELATED = "def scale(value):\n    return value\n\nscale(1)\n"


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.localtypes]\nexclude = ['skip/']\n", "utf-8")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("", "utf-8")
    (tmp_path / "pkg" / "shapes.py").write_text(SHAPES, "utf-8")
    (tmp_path / "main.py").write_text(MAIN, "utf-8")
    (tmp_path / "other.py").write_text(UNRELATED, "utf-8")
    (tmp_path / "skip").mkdir()
    (tmp_path / "skip" / "uses.py").write_text(MAIN.replace("2.5", "'x'"), "utf-8")
    # a project of its own below the root: its call sites are not evidence
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "pyproject.toml").write_text("", "utf-8")
    (tmp_path / "sub" / "caller.py").write_text(MAIN.replace("2.5", "b'x'"), "utf-8")
    return tmp_path / "pkg" / "shapes.py"


def cli_facts(module: Path) -> object:
    """What the CLI's run gives ``localtypes annotate MODULE`` as evidence (as the
    runner calls it: only the modules whose nearest pyproject.toml is the module's)."""
    root = module.parents[1]
    configs = Configs(module.parent, {})
    mine = configs.for_file(module).pyproject

    def belongs(other: str) -> bool:
        return configs.for_file(Path(other)).pyproject == mine

    settings = configs.for_file(module).settings
    walker = Walker(root, settings.include, settings.exclude)
    return project_facts(root, walker, [str(module)], None, belongs).files[str(module)]


def test_the_same_evidence_as_the_cli(project: Path) -> None:
    settings, _ = document_settings(str(project), None, {})
    facts = Projects().facts(SHAPES, str(project), settings)
    assert facts == cli_facts(project)
    assert any(f.startswith("xs") for f in facts[("scale", 0, "value")])  # from main.py
    assert not any("bytes" in f for f in facts[("scale", 0, "value")])  # not from sub/


def test_the_buffer_not_the_disk_for_its_own_module(project: Path) -> None:
    settings, _ = document_settings(str(project), None, {})
    edited = SHAPES + "\n\nscale(1.5, 2.0)\n"
    facts = Projects().facts(edited, str(project), settings)
    alone = Projects().facts(SHAPES, str(project), settings)
    assert facts[("scale", 0, "value")] != alone[("scale", 0, "value")]


def test_other_modules_are_read_again_after_a_while(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, _ = document_settings(str(project), None, {})
    projects = Projects()
    before = projects.facts(SHAPES, str(project), settings)
    (project.parents[1] / "main.py").write_text("print(1)\n", "utf-8")
    assert projects.facts(SHAPES, str(project), settings) == before  # listed 0 s ago
    monkeypatch.setattr(project_module, "REFRESH_SECONDS", 0.0)
    assert projects.facts(SHAPES, str(project), settings) == {}
    assert cli_facts(project) == {}


def test_a_buffer_without_a_file_has_its_own_call_sites_only() -> None:
    settings, _ = document_settings(None, None, {})
    facts = Projects().facts(SHAPES + "scale(1, 2)\n", None, settings)
    assert set(facts) == {("scale", 0, "value"), ("scale", 0, "factor"), ("scale", 0, "return")}


def test_a_huge_project_is_read_up_to_a_limit(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project.parents[1]
    (root / "main.py").rename(root / "zmain.py")  # last in the walker's order
    settings, _ = document_settings(str(project), None, {})
    assert Projects().facts(SHAPES, str(project), settings) != {}
    monkeypatch.setattr(project_module, "MAX_MODULES", 3)  # other.py and pkg/: not zmain.py
    assert Projects().facts(SHAPES, str(project), settings) == {}
