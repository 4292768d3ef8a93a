"""The extractor reads code, never its annotations: the model sees unannotated code."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Tuple

import click
import pytest

import localtypes
from localtypes.extract import extract


class _StripAnnotations(ast.NodeTransformer):
    """Parameters and returns lose their annotations; ``x: T = v`` becomes ``x = v``.

    Unlike ``scripts/check_stdlib.py``'s stripper, bare ``x: T`` declarations stay: they
    declare class members, which the features may read.
    """

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.annotation = None
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        node.returns = None
        self.generic_visit(node)
        return node

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AsyncFunctionDef:
        node.returns = None
        self.generic_visit(node)
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.stmt:
        if node.value is None:
            return node  # a bare declaration has no unannotated spelling
        return ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node)


def _features(source: str) -> Dict[Tuple[str, str, int, str], Tuple[str, ...]]:
    return {
        (slot.kind.value, slot.scope, slot.occurrence, slot.name): tuple(slot.features)
        for slot in extract(source).slots
    }


def _annotated_files() -> List[Path]:
    ours = sorted(Path(localtypes.__file__).parent.glob("*.py"))
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
