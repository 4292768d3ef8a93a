"""Which Python a file's new annotations must run on when no one says (no requires-python,
no target-version): ``OLDEST_SUPPORTED``, or the newest Python the file's own syntax and
typing imports already need, whichever is later (as black infers target versions).

A file that already uses ``except*`` runs on 3.11 and up only, so ``Self`` may be written
into it; nothing is ever inferred below the floor, so code that says nothing never gets an
annotation the oldest supported Python cannot run.
"""

from __future__ import annotations

import ast
import functools
import re
from typing import Callable, Dict, Optional, Tuple

from localtypes.edit.stdtypes import TYPING_MIN_VERSION
from localtypes.settings import OLDEST_SUPPORTED

Version = Tuple[int, int]


def resolve_target(
    configured: Optional[Version], tree: ast.Module, text: Optional[str] = None
) -> Version:
    """``configured`` if given, else what ``infer_target`` finds in ``tree`` (whose
    source, when given as ``text``, is looked at first: see ``may_need_newer``)."""
    if configured is not None:
        return configured
    if text is not None and not may_need_newer(text, OLDEST_SUPPORTED):
        return OLDEST_SUPPORTED
    return infer_target(tree)[0]


def may_need_newer(text: str, floor: Version) -> bool:
    """Whether the source ``text`` holds anything that could need a Python newer than
    ``floor``. A look at the text, for a walk of the whole tree costs about 5% of a run and
    most files hold nothing of the kind: False is certain (every construct
    ``syntax_floor`` knows leaves a mark in the text), True only means "walk the tree"."""
    for literal, pattern in _marks_above(floor):
        if literal in text and (pattern is None or pattern.search(text)):
            return True
    return False


@functools.lru_cache(maxsize=8)
def _marks_above(floor: Version) -> Tuple[Tuple[str, Optional[re.Pattern[str]]], ...]:
    """The marks of the constructs newer than ``floor``: a literal that must be in the
    text (a fast scan), then the pattern that must match (only where it is)."""
    marks = [
        (literal, re.compile(pattern, re.MULTILINE) if pattern else None)
        for version, literal, pattern in _MARKS
        if version > floor
    ]
    # ``from typing import Self``: the name alone (a word of it is rare enough to walk)
    marks += [(name, None) for name, version in TYPING_MIN_VERSION.items() if version > floor]
    return tuple(marks)


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


# What each construct of ``_CHECKS`` leaves in the text (wider than the construct: a
# mark that also matches other code only costs a walk), typing's names aside: a literal
# that must be there, then a pattern (or none) that must match.
_MARKS: Tuple[Tuple[Version, str, str], ...] = (
    ((3, 8), ":=", ""),
    ((3, 8), "/", r"/\s*[,)]"),  # ``def f(a, /)``
    ((3, 10), "match", r"^\s*match\b"),
    ((3, 11), "except", r"except\s*\*"),
    ((3, 11), "*", r"\[[^\[\]()]*\*[\w(\[]"),  # ``tuple[int, *Ts]`` (``x[(*a, b)]`` is older)
    ((3, 11), "*", r":\s*\*"),  # ``*args: *Ts``
    ((3, 12), "[", r"\b(?:def|class)\s+\w+\s*\["),  # ``def f[T]()``
    ((3, 12), "type", r"^\s*type\b"),  # ``type X = ...``
)


def _starred_index(index: ast.expr) -> bool:
    """``x[*a]``, ``x[i, *a]``: 3.11 syntax; ``x[(*a, i)]`` (a parenthesized tuple, its
    own brackets around its first and last elements) has always been valid."""
    if not isinstance(index, ast.Tuple):
        return isinstance(index, ast.Starred)
    if not any(isinstance(element, ast.Starred) for element in index.elts):
        return False
    first, last = index.elts[0], index.elts[-1]
    parenthesized = (index.col_offset, index.lineno) != (first.col_offset, first.lineno) and (
        index.end_col_offset,
        index.end_lineno,
    ) != (last.end_col_offset, last.end_lineno)
    return not parenthesized
