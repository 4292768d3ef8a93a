"""What one buffer's hints and actions are, with the real model: exactly what the core
API writes, and nothing for a buffer it cannot take."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from lsp_client import sample_project

from localtypes.analysis.slots import SlotKind
from localtypes.api import annotate, annotate_slot, check_annotated, predict, project_facts
from localtypes.edit.plan import Reason
from localtypes.lsp.analysis import Analysis, analyse, project_path
from localtypes.lsp.config import document_settings
from localtypes.lsp.edits import replacements
from localtypes.model.predictor import Predictor


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> Path:
    return sample_project(tmp_path_factory.mktemp("project"), repo_root)


@pytest.fixture(scope="module")
def found(sample: Path, predictor: Predictor) -> Analysis:
    settings, _ = document_settings(str(sample), None, {})
    return analyse(sample.read_text("utf-8"), str(sample), settings, predictor)


def test_the_hints_are_what_annotate_writes(
    found: Analysis, sample: Path, predictor: Predictor
) -> None:
    text = sample.read_text("utf-8")
    facts = project_facts(text, "inventory.py", {})
    expected = annotate(
        text, str(sample), settings=found.settings, predictor=predictor, facts=facts
    )
    assert found.annotated == expected.source
    assert [(h.view.slot.key, h.added.text) for h in found.hints] == [
        (a.slot.key, a.text) for a in expected.added if not a.companion
    ]
    assert len(found.hints) >= 10
    labels = {h.view.slot.name: h.label for h in found.hints if h.view.slot.scope == "greeting"}
    assert labels == {"name": ": Optional[str]", "excited": ": bool", "return": " -> str"}


def test_each_hint_writes_its_annotation_alone_where_it_is_shown(found: Analysis) -> None:
    for hint in found.hints:
        output = found.hint_output(hint)
        assert output is not None, hint
        added = check_annotated(found.text, output, found.path)
        # with the empty containers of a function it annotates first (``self.items: dict``)
        added.pop("empty-container", None)
        assert added == {hint.view.slot.kind.value: 1}
        edits = replacements(found.text, output)
        assert any(e.start == hint.view.insert_at and e.text.startswith(hint.label) for e in edits)
    optional = next(h for h in found.hints if h.label == ": Optional[str]")
    output = found.hint_output(optional)
    assert output is not None and "from typing import Optional\n" in output


def test_the_candidates_of_a_slot(found: Analysis) -> None:
    view = next(v for v in found.views if (v.slot.scope, v.slot.name) == ("greeting", "name"))
    candidates = found.candidates(view)
    assert candidates and len({c.output for c in candidates}) == len(candidates)
    assert candidates[0].text == "Optional[str]"  # str, with its None default
    for candidate in candidates:
        assert check_annotated(found.text, candidate.output, found.path) == {"param": 1}
    unsure = next(v for v in found.views if (v.slot.scope, v.slot.name) == ("read_lines", "path"))
    assert unsure.slot.key not in {h.view.slot.key for h in found.hints}
    assert found.candidates(unsure)  # no hint below the threshold, but quick fixes


def test_a_cursor_finds_its_slot(found: Analysis) -> None:
    text = found.text
    name = text.index("def greeting(name") + len("def greeting(")
    assert [v.slot.name for v in found.view_at(name + 2, name + 2)] == ["name"]
    function = text.index("greeting(name")
    assert [v.slot.kind for v in found.view_at(function, function)] == [SlotKind.RETURN]
    assert found.view_at(0, 0) == []


def test_a_buffer_that_does_not_parse_has_nothing(predictor: Predictor) -> None:
    settings, _ = document_settings(None, None, {})
    broken = analyse("def f(x:\n    return x\n", None, settings, predictor)
    assert broken.hints == () and broken.views == () and broken.annotated is None
    assert broken.problem is not None and "line" in broken.problem


def test_the_services_limits(predictor: Predictor) -> None:
    settings, _ = document_settings(None, None, {})
    small = dataclasses.replace(settings, max_body_bytes=10)
    assert "at most 10" in str(analyse("x = 1\nyy = 2\n", None, small, predictor).problem)
    many = "def f(" + ", ".join(f"a{i}" for i in range(1500)) + "):\n    pass\n"
    over = analyse(many, None, settings, predictor)
    assert over.hints == () and "at most 1500" in str(over.problem)


def test_a_documents_path_as_the_project_index_names_it(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "pkg").mkdir()
    assert project_path(str(tmp_path / "pkg" / "mod.py")) == "pkg/mod.py"
    assert project_path(None) is None


def test_more_guesses_than_annotate_weighs(found: Analysis, predictor: Predictor) -> None:
    many = dataclasses.replace(found.settings, top_k=7)
    wide = analyse(found.text, found.path, many, predictor)
    assert {len(v.guesses) for v in wide.views} == {7}
    assert [h.added.text for h in wide.hints] == [h.added.text for h in found.hints]
    assert {len(v.guesses) for v in found.views} == {5}


def test_where_the_user_said_no(predictor: Predictor) -> None:
    settings, _ = document_settings(None, None, {})
    text = (
        "def count_words(text, limit=10):  # localtypes: skip\n"
        "    return len(text.split()[:limit])\n\n\n"
        "def count_lines(text, limit=10):\n"
        "    return len(text.splitlines()[:limit])\n"
    )
    found = analyse(text, None, settings, predictor)
    assert {h.view.slot.scope for h in found.hints} == {"count_lines"}
    assert {v.slot.scope for v in found.views} == {"count_lines"}  # no quick fixes either
    assert any(found.candidates(v) for v in found.views)
    # and the core refuses a chosen label there too
    slot = next(s.slot for s in predict(text, predictor=predictor).slots if s.slot.name == "text")
    result = annotate_slot(text, slot, "str", settings=settings)
    assert result.source == text and not result.added
    assert [r.reason for r in result.skipped] == [Reason.SKIP_COMMENT]
