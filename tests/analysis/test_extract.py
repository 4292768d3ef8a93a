"""The extractor reads code, never its annotations: the model sees unannotated code."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Tuple

import click
import pytest
from script_loader import load_script

import localtypes
from localtypes.analysis.extract import extract
from localtypes.analysis.slots import SlotKey


class _StripAnnotations(load_script("check_stdlib")._Strip):  # type: ignore[misc]
    """``check_stdlib``'s stripper (parameters, returns, ``x: T = v`` -> ``x = v``), except
    that bare ``x: T`` declarations stay: they declare class members, which features read."""

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.stmt:
        if node.value is None:
            return node
        stripped: ast.stmt = super().visit_AnnAssign(node)
        return ast.copy_location(stripped, node)  # ast.unparse needs one


def _features(source: str) -> Dict[SlotKey, Tuple[str, ...]]:
    return {slot.key: tuple(slot.features) for slot in extract(source).slots}


def _annotated_files() -> List[Path]:
    ours = sorted(Path(localtypes.__file__).parent.rglob("*.py"))
    theirs = sorted(Path(click.__file__).parent.glob("*.py"))
    return [*ours, *theirs]


@pytest.mark.parametrize("path", _annotated_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_features_do_not_read_annotations(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    stripped = ast.unparse(_StripAnnotations().visit(ast.parse(source)))
    annotated, plain = _features(source), _features(stripped)
    assert annotated.keys() == plain.keys()
    changed = [key for key in annotated if annotated[key] != plain[key]]
    assert not changed, f"{len(changed)} slots read annotations, e.g. {changed[:3]}"


def test_nested_definitions_and_annotated_assignments_are_invisible() -> None:
    annotated = (
        "def outer(x):\n"
        "    def inner(y: Path) -> Token:\n"
        "        return x(y)\n"
        "    z: Foo = x\n"
        "    return z\n"
    )
    plain = "def outer(x):\n    def inner(y):\n        return x(y)\n    z = x\n    return z\n"
    assert _features(annotated) == _features(plain)
