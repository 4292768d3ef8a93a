"""The server's settings: the project's, then the editor's."""

from __future__ import annotations

from pathlib import Path

import pytest

from localtypes.analysis.slots import SlotKind
from localtypes.lsp.config import document_settings, editor_overrides, for_us


@pytest.fixture(autouse=True)
def no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LOCALTYPES_MIN_CONFIDENCE", "LOCALTYPES_KINDS", "LOCALTYPES_TOP_K"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    "document",
    [
        {"min-confidence": 0.5, "kinds": ["param"], "top-k": 3},
        {"localtypes": {"minConfidence": 0.5, "kinds": ["param"], "topK": 3}},
        {"min_confidence": 0.5, "kinds": ["PARAM"], "top_k": 3},
    ],
)
def test_editor_overrides_in_every_spelling(document: object) -> None:
    values, problems = editor_overrides(document)
    assert values == {"min_confidence": 0.5, "kinds": frozenset({SlotKind.PARAM}), "top_k": 3}
    assert problems == []


def test_bad_editor_settings_are_named_and_left_out() -> None:
    values, problems = editor_overrides(
        {"min-confidence": "high", "top-k": 0, "kinds": ["param"], "port": 80}
    )
    assert values == {"kinds": frozenset({SlotKind.PARAM})}
    assert len(problems) == 3
    assert any("min-confidence" in p for p in problems)
    assert any("top-k" in p for p in problems)
    assert any("'port'" in p and "known: min-confidence, kinds, top-k" in p for p in problems)
    assert editor_overrides(None) == ({}, [])
    assert editor_overrides([1])[1] == ["settings must be an object, not list"]


def test_the_projects_settings_then_the_editors(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nrequires-python = ">=3.9"\n\n'
        "[tool.localtypes]\nmin-confidence = 0.6\ntop-k = 7\nverify = true\n",
        "utf-8",
    )
    (tmp_path / "pkg").mkdir()
    path = str(tmp_path / "pkg" / "mod.py")
    settings, problem = document_settings(path, None, {})
    assert problem is None
    assert (settings.min_confidence, settings.top_k, settings.target_version) == (0.6, 7, (3, 9))
    assert settings.verify is False  # never a type checker per keystroke
    settings, _ = document_settings(path, None, {"top_k": 2})
    assert (settings.min_confidence, settings.top_k) == (0.6, 2)


def test_a_broken_pyproject_gives_the_defaults_and_says_why(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.localtypes]\ntop-k = 'many'\n", "utf-8")
    settings, problem = document_settings(str(tmp_path / "mod.py"), None, {"top_k": 4})
    assert problem is not None and "top_k" in problem
    assert settings.top_k == 4


def test_a_document_that_is_not_a_file_reads_the_workspace_root(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.localtypes]\ntop-k = 9\n", "utf-8")
    settings, _ = document_settings(None, str(tmp_path), {})
    assert settings.top_k == 9


def test_which_configuration_changes_are_ours() -> None:
    assert for_us({"localtypes": {"top-k": 3}})
    assert for_us({"topK": 3})
    assert for_us({})  # everything back to the project's settings
    assert not for_us(None)  # a client that expects a pull
    assert not for_us({"python": {"analysis": {}}, "editor": {"tabSize": 4}})
