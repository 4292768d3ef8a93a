"""Features of how a function body uses each parameter: attributes, calls, operators."""

from __future__ import annotations

import ast
from typing import Dict, List, Optional, Set

from localtypes.analysis.features.body import FunctionBody
from localtypes.analysis.features.names import subtokens
from localtypes.analysis.features.values import callee, value_kind
from localtypes.syntax import dotted_name

MAX_USAGES = 24  # usage features per parameter: enough to characterise, bounded for long bodies


def usages(body: FunctionBody, names: Set[str]) -> Dict[str, List[str]]:
    """Per parameter: how the body uses it (attributes, calls it flows into, operators)."""
    found: Dict[str, List[str]] = {name: [] for name in names}
    parents = body.parents
    for node in body.names:
        if node.id not in found:
            continue
        bucket = found[node.id]
        if len(bucket) >= MAX_USAGES:
            continue
        if isinstance(node.ctx, ast.Store):
            bucket.append("u:reassigned")
            continue
        parent = parents.get(node)
        bucket.extend(usage_of(node, parent, parents))
    return {name: list(dict.fromkeys(feats))[:MAX_USAGES] for name, feats in found.items()}


def usage_of(
    node: ast.expr, parent: Optional[ast.AST], parents: Dict[ast.AST, ast.AST]
) -> List[str]:
    """How the value of ``node`` is used by its parent (a name's, or a call's result)."""
    if parent is None:
        return []
    if isinstance(parent, ast.Attribute):
        grand = parents.get(parent)
        if isinstance(grand, ast.Call) and grand.func is parent:
            return [f"um:{parent.attr}"]
        if isinstance(parent.ctx, ast.Store):
            return [f"uset:{parent.attr}"]
        return [f"ua:{parent.attr}"]
    if isinstance(parent, ast.Call):
        if parent.func is node:
            return ["u:called"]
        callee_name = callee(parent)
        for keyword in parent.keywords:
            if keyword.value is node:
                return [f"ukw:{keyword.arg}", f"uarg:{callee_name}"]
        if callee_name == "isinstance" and len(parent.args) == 2 and parent.args[0] is node:
            classes = parent.args[1]
            elts = classes.elts if isinstance(classes, ast.Tuple) else [classes]
            return [f"uisinstance:{(dotted_name(elt) or '?').rsplit('.', 1)[-1]}" for elt in elts]
        position = next((i for i, a in enumerate(parent.args) if a is node), -1)
        return [f"uarg:{callee_name}", f"uargpos:{callee_name}:{position}"]
    if isinstance(parent, ast.Subscript):
        if parent.value is node:
            index = parent.slice
            if isinstance(index, ast.Constant):
                return [f"u:index_{type(index.value).__name__}"]
            if isinstance(index, ast.Slice):
                return ["u:sliced"]
            return ["u:indexed"]
        return ["u:as_index"]
    if isinstance(parent, ast.Compare):
        ops = {type(op).__name__ for op in parent.ops}
        others = [c for c in [parent.left, *parent.comparators] if c is not node]
        out = [f"ucmp:{op}" for op in sorted(ops)]
        for other in others[:1]:
            out.extend(f"ucmpv{f[1:]}" for f in value_kind(other, "v")[:1])
        if parent.left is not node and ops & {"In", "NotIn"}:
            out.append("u:container")
        return out
    if isinstance(parent, ast.BinOp):
        other = parent.right if parent.left is node else parent.left
        op = type(parent.op).__name__
        return [f"ubin:{op}", *(f"ubin:{op}:{f[2:]}" for f in value_kind(other, "v")[:1])]
    if isinstance(parent, ast.AugAssign):
        return [f"uaug:{type(parent.op).__name__}"]
    if isinstance(parent, (ast.For, ast.comprehension)) and parent.iter is node:
        return ["u:iterated"]
    if isinstance(parent, (ast.If, ast.While, ast.IfExp, ast.BoolOp, ast.Assert)) or (
        isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.Not)
    ):
        return ["u:truth"]
    if isinstance(parent, ast.Return):
        return ["u:returned"]
    if isinstance(parent, (ast.Yield, ast.YieldFrom)):
        return ["u:yielded"]
    if isinstance(parent, ast.Await):
        return ["u:awaited"]
    if isinstance(parent, ast.withitem):
        return ["u:context_manager"]
    if isinstance(parent, ast.FormattedValue):
        return ["u:formatted"]
    if isinstance(parent, ast.Starred):
        return ["u:starred"]
    if isinstance(parent, (ast.Assign, ast.AnnAssign)):  # ``x: T = v`` reads as ``x = v``
        target = parent.targets[0] if isinstance(parent, ast.Assign) else parent.target
        if isinstance(target, ast.Attribute):
            return [f"ustore:{target.attr}", *(f"ustoret:{t}" for t in subtokens(target.attr)[-1:])]
        if isinstance(target, ast.Tuple):
            return ["u:unpacked"]
        return ["u:aliased"]
    if isinstance(parent, ast.Raise):
        return ["u:raised"]
    if isinstance(parent, (ast.List, ast.Tuple, ast.Set)):
        return ["u:in_collection"]
    if isinstance(parent, ast.Dict):
        return ["u:dict_value" if node in parent.values else "u:dict_key"]
    return [f"u:{type(parent).__name__.lower()}"]
