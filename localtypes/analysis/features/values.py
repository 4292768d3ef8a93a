"""Features of an expression's shape: its literal type, the callee of a call, its operator."""

from __future__ import annotations

import ast
from typing import List, Optional

from localtypes.analysis.features.names import subtokens
from localtypes.syntax import dotted_name


def callee(node: ast.Call) -> str:
    name = dotted_name(node.func)
    if name is None:
        return "?"
    return name.rsplit(".", 1)[-1]


def value_kind(node: Optional[ast.expr], prefix: str) -> List[str]:
    """Features describing an expression's shape: its literal type, callee, operator."""
    if node is None:
        return [f"{prefix}:none_expr"]
    if isinstance(node, ast.Constant):
        value = node.value
        if value is None:
            return [f"{prefix}:None"]
        if isinstance(value, bool):
            return [f"{prefix}:bool"]
        kind = type(value).__name__
        extra = [f"{prefix}:empty_{kind}"] if value in ("", b"", 0) else []
        return [f"{prefix}:{kind}", *extra]
    if isinstance(node, ast.JoinedStr):
        return [f"{prefix}:fstring"]
    if isinstance(node, (ast.List, ast.Tuple, ast.Set, ast.Dict)):
        kind = type(node).__name__.lower()
        elts = node.keys if isinstance(node, ast.Dict) else node.elts
        size = "empty" if not elts else "items"
        inner = [
            f"{prefix}:{kind}_of_{feat.split(':', 1)[1]}"
            for elt in elts[:1]
            if elt is not None
            for feat in value_kind(elt, prefix)[:1]
        ]
        out = [f"{prefix}:{kind}", f"{prefix}:{kind}_{size}", *inner]
        if isinstance(node, ast.Tuple):
            out.append(f"{prefix}:tuple{min(len(node.elts), 4)}")
        return out
    if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
        return [f"{prefix}:{type(node).__name__.lower()}"]
    if isinstance(node, ast.Call):
        callee = dotted_name(node.func)
        out = [f"{prefix}:call"]
        if callee is not None:
            last = callee.rsplit(".", 1)[-1]
            out.append(f"{prefix}:call:{last}")
            if "." in callee:
                out.append(f"{prefix}:method:{last}")
                out.append(f"{prefix}:on:{callee.split('.')[0]}")
            out.extend(f"{prefix}:calltok:{tok}" for tok in subtokens(last)[-2:])
        return out
    if isinstance(node, ast.Attribute):
        name = dotted_name(node) or node.attr
        parts = name.split(".")
        out = [f"{prefix}:attr", f"{prefix}:attr:{node.attr}"]
        if len(parts) > 1:
            out.append(f"{prefix}:attrof:{parts[-2]}")
        return out
    if isinstance(node, ast.Name):
        return [f"{prefix}:name", f"{prefix}:name:{node.id}"]
    if isinstance(node, (ast.Compare, ast.BoolOp)) or (
        isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)
    ):
        if isinstance(node, ast.BoolOp):
            return [f"{prefix}:boolop", *value_kind(node.values[-1], prefix)[:1]]
        return [f"{prefix}:bool_expr"]
    if isinstance(node, ast.BinOp):
        op = type(node.op).__name__
        left = value_kind(node.left, prefix)[:1]
        return [f"{prefix}:binop:{op}", *(f"{f}_{op}" for f in left)]
    if isinstance(node, ast.UnaryOp):
        return [f"{prefix}:unary:{type(node.op).__name__}", *value_kind(node.operand, prefix)[:1]]
    if isinstance(node, ast.IfExp):
        return [f"{prefix}:ifexp", *value_kind(node.body, prefix), *value_kind(node.orelse, prefix)]
    if isinstance(node, ast.Subscript):
        base = dotted_name(node.value)
        out = [f"{prefix}:subscript"]
        if base is not None:
            out.append(f"{prefix}:subscript_of:{base.rsplit('.', 1)[-1]}")
        if isinstance(node.slice, ast.Slice):
            out.append(f"{prefix}:slice")
        return out
    if isinstance(node, ast.Await):
        return [f"{prefix}:await", *value_kind(node.value, prefix)[1:3]]
    if isinstance(node, ast.Lambda):
        return [f"{prefix}:lambda"]
    return [f"{prefix}:{type(node).__name__.lower()}"]
