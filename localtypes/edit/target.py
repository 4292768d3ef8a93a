"""Which Python a file's new annotations must run on when no one says (no requires-python,
no target-version): ``OLDEST_SUPPORTED``, or the newest Python the file's own syntax and
typing imports already need, whichever is later (as black infers target versions).

A file that already uses ``except*`` runs on 3.11 and up only, so ``Self`` may be written
into it; nothing is ever inferred below the floor, so code that says nothing never gets an
annotation the oldest supported Python cannot run.
"""

from __future__ import annotations

import ast
from typing import Callable, Dict, Optional, Tuple

from localtypes.edit.stdtypes import TYPING_MIN_VERSION
from localtypes.settings import OLDEST_SUPPORTED

Version = Tuple[int, int]


def resolve_target(configured: Optional[Version], tree: ast.Module) -> Version:
    """``configured`` if given, else what ``infer_target`` finds in ``tree``."""
    return configured if configured is not None else infer_target(tree)[0]


def infer_target(tree: ast.Module) -> Tuple[Version, str]:
    """The target of a file nothing configures, and why (``"uses except*"``)."""
    needed, why = syntax_floor(tree)
    if needed > OLDEST_SUPPORTED:
        return needed, why
    return OLDEST_SUPPORTED, "oldest supported"


def syntax_floor(tree: ast.Module) -> Tuple[Version, str]:
    """The newest Python the module's syntax (or ``from typing import X``) needs, and what
    needs it; ``((3, 0), "")`` when nothing does."""
    best: Version = (3, 0)
    why = ""
    for node in ast.walk(tree):
        check = _CHECKS.get(type(node))  # one lookup per node: the walk is most of the cost
        found = check(node) if check is not None else None
        if found is not None and found[0] > best:
            best, why = found
    return best, why


Found = Optional[Tuple[Version, str]]


def _definition(node: ast.AST) -> Found:
    if getattr(node, "type_params", None):  # ``def f[T]()``, ``class C[T]``: 3.12 syntax
        return (3, 12), "uses type parameters"
    return None


def _subscript(node: ast.AST) -> Found:
    assert isinstance(node, ast.Subscript)
    return ((3, 11), "unpacks in a subscript") if _starred_index(node.slice) else None


def _arg(node: ast.AST) -> Found:
    assert isinstance(node, ast.arg)
    if isinstance(node.annotation, ast.Starred):
        return (3, 11), "annotates *args with an unpacked type"
    return None


def _import_from(node: ast.AST) -> Found:
    assert isinstance(node, ast.ImportFrom)
    # typing_extensions is the backport: importing from it says nothing of the version
    if node.module != "typing" or node.level:
        return None
    needed, name = max(
        ((TYPING_MIN_VERSION.get(alias.name, (3, 0)), alias.name) for alias in node.names),
        default=((3, 0), ""),
    )
    return (needed, f"imports typing.{name}") if needed > (3, 0) else None


def _arguments(node: ast.AST) -> Found:
    assert isinstance(node, ast.arguments)
    return ((3, 8), "uses positional-only parameters") if node.posonlyargs else None


_CHECKS: Dict[type, Callable[[ast.AST], Found]] = {
    ast.FunctionDef: _definition,
    ast.AsyncFunctionDef: _definition,
    ast.ClassDef: _definition,
    ast.Subscript: _subscript,
    ast.arg: _arg,
    ast.ImportFrom: _import_from,
    ast.arguments: _arguments,
    ast.Match: lambda node: ((3, 10), "uses match"),
    ast.NamedExpr: lambda node: ((3, 8), "uses :="),
}
# Newer syntax has nodes only in the ast of newer Pythons.
_NEWER: Dict[str, Tuple[Version, str]] = {
    "TryStar": ((3, 11), "uses except*"),
    "TypeAlias": ((3, 12), "uses a type statement"),
}


def _constant(found: Tuple[Version, str]) -> Callable[[ast.AST], Found]:
    return lambda node: found


for _name, _found in _NEWER.items():
    _node = getattr(ast, _name, None)
    if _node is not None:
        _CHECKS[_node] = _constant(_found)


def _starred_index(index: ast.expr) -> bool:
    elements = index.elts if isinstance(index, ast.Tuple) else [index]
    return any(isinstance(element, ast.Starred) for element in elements)
