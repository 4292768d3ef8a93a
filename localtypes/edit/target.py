"""Which Python a file's new annotations must run on when no one says (no requires-python,
no target-version): ``OLDEST_SUPPORTED``, or the newest Python the file's own syntax and
typing imports already need, whichever is later (as black infers target versions).

A file that already uses ``except*`` runs on 3.11 and up only, so ``Self`` may be written
into it; nothing is ever inferred below the floor, so code that says nothing never gets an
annotation the oldest supported Python cannot run.
"""

from __future__ import annotations

import ast
from typing import Optional, Tuple

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
    type_alias = getattr(ast, "TypeAlias", None)  # 3.12 syntax: parsed only on 3.12+
    for node in ast.walk(tree):
        found = _needs(node, type_alias)
        if found is not None and found[0] > best:
            best, why = found
    return best, why


def _needs(node: ast.AST, type_alias: Optional[type]) -> Optional[Tuple[Version, str]]:
    if type_alias is not None and isinstance(node, type_alias):
        return (3, 12), "uses a type statement"
    if getattr(node, "type_params", None):  # ``def f[T]()``, ``class C[T]``
        return (3, 12), "uses type parameters"
    if isinstance(node, getattr(ast, "TryStar", ())):
        return (3, 11), "uses except*"
    if isinstance(node, ast.Subscript) and _starred_index(node.slice):
        return (3, 11), "unpacks in a subscript"
    if isinstance(node, ast.arg) and isinstance(node.annotation, ast.Starred):
        return (3, 11), "annotates *args with an unpacked type"
    if isinstance(node, ast.Match):
        return (3, 10), "uses match"
    # typing_extensions is the backport: importing from it says nothing of the version
    if isinstance(node, ast.ImportFrom) and node.module == "typing" and not node.level:
        newest = max(
            ((TYPING_MIN_VERSION.get(alias.name, (3, 0)), alias.name) for alias in node.names),
            default=((3, 0), ""),
        )
        if newest[0] > (3, 0):
            return newest[0], f"imports typing.{newest[1]}"
    if isinstance(node, ast.NamedExpr):
        return (3, 8), "uses :="
    if isinstance(node, ast.arguments) and node.posonlyargs:
        return (3, 8), "uses positional-only parameters"
    return None


def _starred_index(index: ast.expr) -> bool:
    elements = index.elts if isinstance(index, ast.Tuple) else [index]
    return any(isinstance(element, ast.Starred) for element in elements)
