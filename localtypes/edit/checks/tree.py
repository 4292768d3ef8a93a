"""The syntax the checks read, as if the code had no annotations (``x: T = v`` is
``x = v``): assignments, a function's own nodes (collected once), decorators, protocols
and a class's members."""

from __future__ import annotations

import ast
from typing import Dict, List, Optional, Set, Tuple

from localtypes.module import CLASS, Scope
from localtypes.syntax import FunctionNode, child_fields, dotted_name

_ANNOTATION_FIELDS = frozenset({"annotation", "returns"})
_FIELDS: Dict[type, Tuple[str, ...]] = {}
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def as_assignment(node: ast.AST) -> Optional[Tuple[List[ast.expr], ast.expr]]:
    """(targets, value) of ``x = v``, and of ``x: T = v`` read as ``x = v``; else None."""
    if isinstance(node, ast.Assign):
        return node.targets, node.value
    if isinstance(node, ast.AnnAssign) and node.value is not None:
        return [node.target], node.value
    return None


def children(node: ast.AST) -> List[ast.AST]:
    """A node's children (the fields ``ast.iter_child_nodes`` reads, in its order), less the
    annotations (``x: T = v`` reads as ``x = v``) and the leaf singletons (``Load``, ``Add``)."""
    fields = _FIELDS.get(type(node))
    if fields is None:
        fields = _FIELDS[type(node)] = tuple(
            f for f in child_fields(type(node)) if f not in _ANNOTATION_FIELDS
        )
    out: List[ast.AST] = []
    for name in fields:
        value = getattr(node, name, None)
        if type(value) is list:
            out.extend(item for item in value if isinstance(item, ast.AST))
        elif isinstance(value, ast.AST):
            out.append(value)
    return out


class FunctionNodes:
    """A function's own nodes, collected once: ``nodes`` in source order (nested functions,
    classes and lambdas are listed but not entered), each one's parent, and the nodes under
    a ``try`` with handlers (``guarded``)."""

    def __init__(self, node: FunctionNode) -> None:
        self.nodes: List[ast.AST] = []
        self.parents: Dict[int, ast.AST] = {}
        self.guarded: Set[int] = set()
        nodes, parents, guarded = self.nodes, self.parents, self.guarded
        stack: List[ast.AST] = list(reversed(node.body))
        while stack:
            item = stack.pop()
            nodes.append(item)
            if isinstance(item, _SCOPES):
                continue
            kids = children(item)
            try_body = (
                {id(stmt) for stmt in item.body}
                if isinstance(item, ast.Try) and item.handlers
                else None
            )
            inherited = id(item) in guarded
            for child in kids:
                parents[id(child)] = item
                if inherited or (try_body is not None and id(child) in try_body):
                    guarded.add(id(child))
            stack.extend(reversed(kids))


def decorated(node: FunctionNode, name: str) -> bool:
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        dotted = dotted_name(target) or ""
        if dotted.rpartition(".")[2] == name:
            return True
    return False


def in_protocol(scope: Scope, itself: bool = False) -> bool:
    cls: Optional[Scope] = scope if itself else scope.parent
    if cls is None or cls.key.kind != CLASS:
        return False
    node = cls.node
    assert isinstance(node, ast.ClassDef)
    for base in node.bases:
        dotted = dotted_name(base.value if isinstance(base, ast.Subscript) else base) or ""
        if dotted.rpartition(".")[2] in ("Protocol", "ABC", "TypedDict", "NamedTuple"):
            return True
    return any(k.arg == "metaclass" for k in node.keywords)


def class_members(cls: Scope) -> Set[str]:
    node = cls.node
    assert isinstance(node, ast.ClassDef)
    names: Set[str] = set(cls.bindings)
    for stmt in node.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for item in ast.walk(stmt):
                if (
                    isinstance(item, ast.Attribute)
                    and isinstance(item.ctx, ast.Store)
                    and isinstance(item.value, ast.Name)
                    and item.value.id == "self"
                ):
                    names.add(item.attr)
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            names.add(stmt.target.id)  # a declared field (``x: int``), as in a dataclass
    return names
