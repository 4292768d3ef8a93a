"""Features of what a function returns: its return values, yields, raises."""

from __future__ import annotations

import ast
from typing import Dict, List, Optional

from localtypes.analysis.features.body import FunctionBody, is_stub_body
from localtypes.analysis.features.names import subtokens
from localtypes.analysis.features.values import value_kind
from localtypes.syntax import FunctionNode, dotted_name


def return_features(fn: FunctionNode, body: FunctionBody) -> List[str]:
    returns: List[Optional[ast.expr]] = []
    assigned: Dict[str, ast.expr] = {}
    yields = False
    yield_from = False
    raises = False
    for node in body.flow:
        if isinstance(node, ast.Return):
            returns.append(node.value)
        elif isinstance(node, ast.Yield):
            yields = True
        elif isinstance(node, ast.YieldFrom):
            yield_from = True
        elif isinstance(node, ast.Raise):
            raises = True
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                assigned.setdefault(target.id, node.value)
        elif (  # ``x: T = v`` reads as ``x = v``
            isinstance(node, ast.AnnAssign)
            and node.value is not None
            and isinstance(node.target, ast.Name)
        ):
            assigned.setdefault(node.target.id, node.value)
    feats: List[str] = []
    if yields or yield_from:
        feats.append("r:generator")
        if yield_from:
            feats.append("r:yield_from")
    valued = [value for value in returns if value is not None and not _is_none(value)]
    if not valued:
        if is_stub_body(fn.body):
            feats.append("r:stub")
            if raises:
                feats.append("r:raise_only")
        else:
            feats.append("r:no_value")
    if len(valued) < len(returns):
        feats.append("r:some_none")
    feats.append(f"r:count{min(len(valued), 3)}")
    for value in valued[:4]:
        feats.extend(value_kind(value, "r"))
        if isinstance(value, ast.Name) and value.id in ("self", "cls"):
            feats.append(f"r:{value.id}")
        elif isinstance(value, ast.Name) and value.id in assigned:
            # ``out = {}; ...; return out``: the variable's first value says what comes back.
            feats.extend(f"rv{feat[1:]}" for feat in value_kind(assigned[value.id], "r"))
        if isinstance(value, ast.Attribute) and dotted_name(value) is not None:
            feats.extend(f"r:attrtok:{tok}" for tok in subtokens(value.attr)[-1:])
    return feats


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None
