"""``localtypes.api``: ``predict`` and ``annotate`` on real files with the real model.

(``tests/functional/test_annotate.py`` holds ``annotate``'s safety and threshold behaviour on a
small module; this file covers the API's contract: slots, errors, documents, settings.)
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from localtypes.analysis.slots import SlotKind
from localtypes.api import annotate, predict
from localtypes.errors import SourceError
from localtypes.labels import normalize
from localtypes.model.predictor import Predictor
from localtypes.settings import MAX_TOP_K, Settings

SLOT_FIELDS = {"kind", "qualname", "scope", "occurrence", "name", "line", "column"}


@pytest.fixture(scope="module")
def inventory(repo_root: Path) -> str:
    return (repo_root / "examples" / "inventory.py").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def geometry(repo_root: Path) -> str:
    path = repo_root / "tests" / "data" / "smoke_corpus" / "shapes" / "geometry.py"
    return path.read_text(encoding="utf-8")


def function_annotations(source: str) -> Dict[Tuple[str, str], Optional[str]]:
    """(kind, qualname) -> annotation text (or None) of every parameter but self/cls and
    every return, found with ``ast``."""
    found: Dict[Tuple[str, str], Optional[str]] = {}

    def text(node: Optional[ast.expr]) -> Optional[str]:
        return None if node is None else ast.unparse(node)

    def visit(body: List[ast.stmt], prefix: str, in_class: bool) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                visit(node.body, f"{prefix}{node.name}.", True)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                scope = prefix + node.name
                found[("return", scope)] = text(node.returns)
                args = node.args
                params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
                params += [arg for arg in (args.vararg, args.kwarg) if arg is not None]
                for index, arg in enumerate(params):
                    if in_class and index == 0 and arg.arg in ("self", "cls"):
                        continue
                    found[("param", f"{scope}.{arg.arg}")] = text(arg.annotation)
                visit(node.body, f"{scope}.", False)

    visit(ast.parse(source).body, "", False)
    return found


# --- predict --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["inventory", "geometry"])
def test_predict_covers_every_slot(
    name: str, request: pytest.FixtureRequest, predictor: Predictor
) -> None:
    source: str = request.getfixturevalue(name)
    result = predict(source, f"{name}.py", top_k=3, predictor=predictor)
    assert result.path == f"{name}.py"
    assert result.model == predictor.info
    kinds = {(item.slot.kind.value, item.slot.qualname) for item in result.slots}
    expected = set(function_annotations(source))
    assert expected <= kinds
    assert {kind for kind, _ in kinds - expected} <= {"variable"}
    lines = source.splitlines()
    for item in result.slots:
        assert len(item.guesses) == 3
        confidences = [guess.confidence for guess in item.guesses]
        assert confidences == sorted(confidences, reverse=True)
        assert all(0.0 < c <= 1.0 for c in confidences)
        for guess in item.guesses:
            assert normalize(guess.label) == guess.label  # canonical labels only
        # The slot's position points at its name (or at ``def`` for a return).
        slot = item.slot
        text = lines[slot.line - 1][slot.column :]
        word = "def" if slot.kind is SlotKind.RETURN else slot.name
        assert text.startswith(word) or text.startswith("async def"), (slot, text)


def test_predict_reports_existing_annotations(predictor: Predictor) -> None:
    source = "from typing import List\n\ndef f(x: List[int], y) -> 'Optional[str]':\n    pass\n"
    result = predict(source, predictor=predictor)
    by_name = {item.slot.qualname: item.slot for item in result.slots}
    assert by_name["f.x"].annotation == "List[int]"
    assert by_name["f.x"].label == "list[int]"
    assert by_name["f.y"].annotation is None and by_name["f.y"].label is None
    assert by_name["f"].annotation == "'Optional[str]'"
    assert by_name["f"].label == "str | None"
    # Annotated slots still get guesses: predict ranks, it does not filter.
    assert all(len(item.guesses) == 5 for item in result.slots)


def test_predict_to_dict(inventory: str, predictor: Predictor) -> None:
    result = predict(inventory, "inventory.py", top_k=2, predictor=predictor)
    document: Dict[str, Any] = json.loads(json.dumps(result.to_dict()))
    assert set(document) == {"model", "path", "slots"}
    assert document["model"] == {
        "name": predictor.info.name,
        "version": predictor.info.version,
        "sha256": predictor.info.sha256,
    }
    assert document["path"] == "inventory.py"
    assert len(document["slots"]) == len(result.slots)
    for entry, item in zip(document["slots"], result.slots):
        assert set(entry) == SLOT_FIELDS | {"annotation", "predictions"}
        assert entry["kind"] == item.slot.kind.value
        assert entry["qualname"] == item.slot.qualname
        assert (entry["line"], entry["column"]) == (item.slot.line, item.slot.column)
        assert [p["type"] for p in entry["predictions"]] == [g.label for g in item.guesses]
        for prediction, guess in zip(entry["predictions"], item.guesses):
            assert set(prediction) == {"type", "confidence"}
            assert prediction["confidence"] == round(guess.confidence, 4)


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("def broken(:\n    pass\n", 1),
        ("x = 1\ny = 2\nz = 1 +\n", 3),
        ("x = 1\n  y = 2\n", 2),
    ],
)
def test_predict_bad_syntax(source: str, line: int, predictor: Predictor) -> None:
    with pytest.raises(SyntaxError) as python:
        compile(source, "<test>", "exec")
    with pytest.raises(SourceError) as info:
        predict(source, predictor=predictor)
    error = info.value
    assert (error.line, error.column) == (line, python.value.offset)
    assert error.reason.startswith("invalid syntax: ")
    assert f"(line {line}, column {error.column})" in str(error)


@pytest.mark.parametrize("top_k", [0, -1, MAX_TOP_K + 1])
def test_predict_top_k_out_of_range(top_k: int, predictor: Predictor) -> None:
    with pytest.raises(ValueError, match=f"top_k must be between 1 and {MAX_TOP_K}, not {top_k}"):
        predict("def f(x):\n    return x\n", top_k=top_k, predictor=predictor)


@pytest.mark.parametrize("top_k", [1, MAX_TOP_K])
def test_predict_top_k_bounds_are_accepted(top_k: int, predictor: Predictor) -> None:
    result = predict("def f(x):\n    return x\n", top_k=top_k, predictor=predictor)
    assert [len(item.guesses) for item in result.slots] == [top_k, top_k]


def test_predict_empty_source(predictor: Predictor) -> None:
    result = predict("", predictor=predictor)
    assert result.slots == ()
    assert result.to_dict()["slots"] == []


# --- annotate -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["inventory", "geometry"])
def test_annotate_is_idempotent(
    name: str, request: pytest.FixtureRequest, predictor: Predictor
) -> None:
    source: str = request.getfixturevalue(name)
    settings = Settings(min_confidence=0.3, kinds=frozenset(SlotKind))
    first = annotate(source, f"{name}.py", settings=settings, predictor=predictor)
    assert first.changed and first.source != source and first.added
    compile(first.source, f"{name}.py", "exec", dont_inherit=True)
    again = annotate(first.source, f"{name}.py", settings=settings, predictor=predictor)
    assert again.source == first.source
    assert not again.changed and not again.added


def test_annotate_changed_flag(inventory: str, predictor: Predictor) -> None:
    result = annotate(inventory, "inventory.py", predictor=predictor)
    assert result.changed is True and result.source != inventory
    nothing = annotate(inventory, settings=Settings(min_confidence=1.01), predictor=predictor)
    assert nothing.changed is False and nothing.source == inventory and not nothing.added


def test_annotate_writes_what_it_reports(inventory: str, predictor: Predictor) -> None:
    result = annotate(inventory, "inventory.py", predictor=predictor)
    threshold = predictor.info.threshold
    assert not any(function_annotations(inventory).values())
    written = {key: text for key, text in function_annotations(result.source).items() if text}
    predicted = [item for item in result.added if not item.companion]
    reported = {(item.slot.kind.value, item.slot.qualname): item.text for item in predicted}
    assert reported == written  # the source had none: every annotation is an added one
    # ``Inventory.__init__`` gets its first annotation: its ``self.items = {}`` needs one too
    companions = [item for item in result.added if item.companion]
    assert [(c.slot.qualname, c.text) for c in companions] == [
        ("Inventory.__init__.self.items", "dict")
    ]
    assert "        self.items: dict = {}\n" in result.source
    for item in result.added:
        assert item.confidence >= threshold
    for skipped in result.skipped:
        if skipped.reason == "below-threshold":
            assert skipped.confidence is not None and skipped.confidence < threshold


def test_annotate_to_dict(inventory: str, predictor: Predictor) -> None:
    result = annotate(inventory, "inventory.py", predictor=predictor)
    document: Dict[str, Any] = json.loads(json.dumps(result.to_dict()))
    assert set(document) == {"model", "path", "changed", "source", "added", "skipped"}
    assert document["model"] == predictor.info.to_dict()
    assert document["path"] == "inventory.py"
    assert document["changed"] is True
    assert document["source"] == result.source
    assert len(document["added"]) == len(result.added) > 0
    assert len(document["skipped"]) == len(result.skipped) > 0
    for entry, added in zip(document["added"], result.added):
        assert set(entry) == SLOT_FIELDS | {"type", "annotation", "confidence"}
        assert entry["qualname"] == added.slot.qualname
        assert entry["type"] == added.label and entry["annotation"] == added.text
        assert entry["confidence"] == round(added.confidence, 4)
    for entry, skipped in zip(document["skipped"], result.skipped):
        assert set(entry) == SLOT_FIELDS | {"reason", "type", "confidence"}
        assert entry["reason"] == skipped.reason
        assert entry["type"] == skipped.label


def test_annotate_respects_kinds(inventory: str, predictor: Predictor) -> None:
    for kind in SlotKind:
        settings = Settings(min_confidence=0.0, kinds=frozenset({kind}))
        result = annotate(inventory, settings=settings, predictor=predictor)
        assert result.added, kind
        # companions (``self.items: dict = {}``) come with any kind: they are no prediction
        assert {item.slot.kind for item in result.added if not item.companion} == {kind}
        assert all(item.kind == "empty-container" for item in result.added if item.companion)
    default = annotate(inventory, settings=Settings(min_confidence=0.0), predictor=predictor)
    kinds = {item.kind for item in default.added}
    assert kinds == {"param", "return", "empty-container"}


def test_annotate_respects_min_confidence(inventory: str, predictor: Predictor) -> None:
    counts = []
    for threshold in (0.0, 0.5, 0.9, 0.99):
        settings = Settings(min_confidence=threshold)
        result = annotate(inventory, settings=settings, predictor=predictor)
        assert all(item.confidence >= threshold for item in result.added)
        below = [item for item in result.skipped if item.reason == "below-threshold"]
        assert all(item.confidence is not None and item.confidence < threshold for item in below)
        counts.append(len(result.added))
    assert counts == sorted(counts, reverse=True) and counts[0] > counts[-1]


def test_annotate_a_stub_path(inventory: str, predictor: Predictor) -> None:
    """A ``.pyi`` is never run: PEP 604 and builtin generics even for an old target."""
    settings = Settings(min_confidence=0.0, kinds=frozenset(SlotKind), target_version=(3, 8))
    module = annotate(inventory, "inventory.py", settings=settings, predictor=predictor)
    stub = annotate(inventory, "inventory.pyi", settings=settings, predictor=predictor)
    assert stub.path == "inventory.pyi"
    predicted = [item for item in module.added if not item.companion]  # a stub has no body
    assert [item.slot for item in stub.added] == [item.slot for item in predicted]
    assert [item.label for item in stub.added] == [item.label for item in predicted]
    unions = [item for item in stub.added if " | " in item.label]
    generics = [item for item in stub.added if item.label.startswith(("list[", "dict["))]
    assert unions and generics
    for item in unions + generics:
        assert item.text == item.label.replace("pathlib.", "")
    module_texts = {item.slot.key: item.text for item in module.added}
    for item in unions:  # X | None is Optional[X]; other unions are Union[...]
        assert module_texts[item.slot.key].startswith(("Optional[", "Union["))
    assert "Optional" not in stub.source and "from typing import" in module.source
    ast.parse(stub.source)
