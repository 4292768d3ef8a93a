"""``ast.parse`` and ``compile`` behind one lock.

CPython 3.11's converter between C and Python syntax trees keeps its recursion depth in
state shared by all threads; two threads parsing at once (the service's workers) can
corrupt it and fail with "AST constructor recursion depth mismatch". Parsing holds the
GIL anyway, so serialising it costs the service nothing measurable.
"""

from __future__ import annotations

import ast
import threading
from types import CodeType
from typing import Literal, overload

AST_LOCK = threading.RLock()


@overload
def parse(source: str, mode: Literal["exec"] = "exec") -> ast.Module: ...
@overload
def parse(source: str, mode: Literal["eval"]) -> ast.Expression: ...
def parse(source: str, mode: str = "exec") -> ast.AST:
    """``ast.parse`` under the shared lock."""
    with AST_LOCK:
        return ast.parse(source, mode=mode)


def compile_tree(tree: ast.Module, filename: str, mode: str = "exec", **kwargs: bool) -> CodeType:
    """``compile`` of a module's syntax tree under the shared lock."""
    with AST_LOCK:
        return compile(tree, filename, mode, **kwargs)
