"""Labels and the running Python's classes: a label's union members by head, the class a
head names when it is safe to import, and what a class defines."""

from __future__ import annotations

import ast
import builtins
import collections.abc
import functools
import importlib
from typing import Dict, List, Optional, Sequence, Tuple

from localtypes.edit.plan import Reason
from localtypes.syntax import dotted_name
from localtypes.syntax import parse as parse_ast

# A verdict: the reason a label is ruled out and a short detail.
Verdict = Tuple[Reason, str]
# A label's union members: (head, the member's node).
Members = Sequence[Tuple[str, Optional[ast.expr]]]

# Modules whose classes may be imported to compare types: cheap and side-effect free.
_SAFE_MODULES = frozenset(
    {"datetime", "decimal", "fractions", "pathlib", "re", "collections", "numbers", "io",
     "enum", "uuid", "random", "json", "logging", "argparse", "threading", "os", "types",
     "ipaddress", "functools", "itertools", "collections.abc", "string", "queue"}
)  # fmt: skip


_TYPING_RUNTIME: Dict[str, type] = {
    name: getattr(collections.abc, name)
    for name in collections.abc.__all__
    if isinstance(getattr(collections.abc, name), type)
}
TOP = frozenset({"Any", "object"})


@functools.lru_cache(maxsize=4096)
def union_members(label: str) -> Optional[Tuple[Tuple[str, Optional[ast.expr]], ...]]:
    """The union members of a label as (head, the member's node), or None if unparsable."""
    try:
        tree = parse_ast(label.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError):
        return None
    out: List[Tuple[str, Optional[ast.expr]]] = []
    stack: List[ast.expr] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            stack.extend((node.right, node.left))
            continue
        if isinstance(node, ast.Constant) and node.value is None:
            out.append(("None", node))
            continue
        head = dotted_name(node.value if isinstance(node, ast.Subscript) else node)
        if head is None:
            return None
        out.append((head, node))
    return tuple(out)


@functools.lru_cache(maxsize=1024)
def runtime_class(head: str) -> Optional[type]:
    """The class of the running Python a label's head names, when it is safe to know."""
    if head in _TYPING_RUNTIME:
        return _TYPING_RUNTIME[head]
    if "." not in head:
        value = getattr(builtins, head, None)
        return value if isinstance(value, type) else None
    module, _, name = head.rpartition(".")
    if module not in _SAFE_MODULES:
        return None
    try:
        value = getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None
    return value if isinstance(value, type) else None


def defines(cls: type, attr: str) -> bool:
    """Whether instances of ``cls`` have ``attr`` (not the metaclass's attributes)."""
    return any(attr in vars(klass) for klass in cls.__mro__)


def numeric_library(kind: type) -> bool:
    import numbers

    return issubclass(kind, numbers.Number) or kind.__name__ in ("Decimal", "Fraction")
