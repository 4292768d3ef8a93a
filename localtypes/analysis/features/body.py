"""A function body's nodes, collected once for the features that read them."""

from __future__ import annotations

import ast
from typing import Dict, List, Tuple

from localtypes.syntax import NESTED_SCOPE_TYPES, child_fields

# ``x: T = v`` in a body: the features read ``x = v`` (the code to annotate has no ``T``).
_ANNOTATION_FIELDS = frozenset({"annotation", "returns"})
_BODY_FIELDS: Dict[type, Tuple[str, ...]] = {}
# What ``return_features`` looks at.
_FLOW_TYPES = frozenset(
    {ast.Return, ast.Yield, ast.YieldFrom, ast.Raise, ast.Assign, ast.AnnAssign}
)


class FunctionBody:
    """The nodes of a function body (nested scopes excluded) that features look at.

    Built once per function and shared by the usage, reference and return features:
    ``names`` (every ``Name``), ``flow`` (returns, yields, raises, assignments), both in
    walk order, and each node's parent.
    """

    def __init__(self, body: List[ast.stmt]) -> None:
        self.names: List[ast.Name] = []
        self.flow: List[ast.AST] = []
        self.parents: Dict[ast.AST, ast.AST] = {}
        AST, Name, scopes, flows = ast.AST, ast.Name, NESTED_SCOPE_TYPES, _FLOW_TYPES
        # Nested defs and classes are scopes of their own, at the top of the body too: their
        # annotations must not reach this function's features (code to annotate has none).
        stack: List[ast.AST] = [stmt for stmt in reversed(body) if type(stmt) not in scopes]
        names, flow, parents = self.names, self.flow, self.parents
        fields_of = _BODY_FIELDS
        while stack:
            node = stack.pop()
            cls = type(node)
            if cls is Name:
                names.append(node)  # type: ignore[arg-type]
                continue  # its only child is the context
            if cls in flows:
                flow.append(node)
            fields = fields_of.get(cls)
            if fields is None:
                fields = fields_of[cls] = tuple(
                    f for f in child_fields(cls) if f not in _ANNOTATION_FIELDS
                )
            for field in fields:
                value = getattr(node, field, None)
                if type(value) is list:
                    for child in value:
                        if isinstance(child, AST) and type(child) not in scopes:
                            parents[child] = node
                            stack.append(child)
                elif isinstance(value, AST) and type(value) not in scopes:
                    parents[value] = node
                    stack.append(value)


def is_stub_body(body: List[ast.stmt]) -> bool:
    for stmt in body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # docstring or ``...``
        if isinstance(stmt, ast.Pass):
            continue
        if isinstance(stmt, ast.Raise):
            continue
        return False
    return True
