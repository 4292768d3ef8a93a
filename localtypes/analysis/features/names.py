"""Features of names: identifiers split into sub-tokens, and what a name's shape says."""

from __future__ import annotations

import ast
import re
from typing import List, Union

from localtypes.syntax import FunctionNode, dotted_name

_SPLIT = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def subtokens(name: str) -> List[str]:
    """``parseHTTPResponse_v2`` -> parse, http, response, v, 2."""
    return [part.lower() for part in _SPLIT.findall(name)]


def name_features(name: str, prefix: str) -> List[str]:
    tokens = subtokens(name)
    feats = [f"{prefix}:{name.lower()}"]
    if name.startswith("__") and name.endswith("__"):
        feats.append(f"{prefix}:dunder")
    elif name.startswith("_"):
        feats.append(f"{prefix}:private")
    if tokens:
        feats.append(f"{prefix}f:{tokens[0]}")
        feats.append(f"{prefix}l:{tokens[-1]}")
        feats.extend(f"{prefix}t:{token}" for token in tokens[1:-1])
        if tokens[-1].endswith("s") and len(tokens[-1]) > 3:
            feats.append(f"{prefix}:plural")
    if name[:1].isupper():
        feats.append(f"{prefix}:capitalized")
    return feats


def decorator_names(node: Union[FunctionNode, ast.ClassDef]) -> List[str]:
    names = []
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = dotted_name(target)
        if name is not None:
            names.append(name.rsplit(".", 1)[-1])
    return names
