"""Companion annotations: the bare container an empty ``[]``, ``{}`` or ``set()`` needs once
the writer annotates the function it is in.

mypy checks the body of an annotated function more strictly than that of an unannotated one
(even with ``--check-untyped-defs``): an empty container whose element type nothing in the
same function tells (no ``append``, ``add``, ``update``, ``x[k] = v``) is "Need type
annotation for ...". A function the writer annotates for the first time would turn every such
assignment into a new error. So the writer annotates them too, with the bare container
(``self.path: list = []``): what mypy itself would assume in the unannotated function, and
what it asks for. Only the function's own first-and-only assignment of the name or the
``self`` attribute is annotated, and only when nothing else declares it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Dict, FrozenSet, Iterator, List, Optional, Set, Tuple

from localtypes.edit.checks.tree import FunctionNodes, decorated
from localtypes.module import CLASS, FUNCTION, ModuleIndex, Scope, ScopeKey
from localtypes.syntax import parameters

# Methods through which mypy infers an empty container's element type (its partial types).
_RESOLVERS = frozenset({"append", "extend", "add", "discard", "update", "insert", "setdefault"})
_EMPTY_CALLS = frozenset({"list", "dict", "set"})


@dataclass(frozen=True)
class Companion:
    """A bare container annotation to write: ``name`` is ``x`` or ``self.x``; ``ordinal``
    counts the scope's earlier plain assignments of the same target."""

    scope: Scope
    name: str
    ordinal: int
    label: str
    statement: ast.Assign


def companions(index: ModuleIndex, functions: Set[ScopeKey]) -> List[Companion]:
    """The companion annotations of the ``functions`` the writer annotates for the first
    time (see the module docstring)."""
    out: List[Companion] = []
    for key in sorted(functions, key=lambda k: (k.qualname, k.occurrence)):
        scope = index.scopes.get(key)
        if scope is None or key.kind != FUNCTION or index.stub:
            continue
        out.extend(_of_function(index, scope))
    return out


def _of_function(index: ModuleIndex, scope: Scope) -> Iterator[Companion]:
    node = scope.node
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    owner = _self_name(scope, node)
    declared, first = _attributes(scope.parent) if owner is not None else (set(), {})
    local_names = scope.bindings
    assignments: Dict[str, List[ast.AST]] = {}
    resolved: Set[str] = set()
    for item in FunctionNodes(node).nodes:  # nested functions, classes, lambdas not entered
        if isinstance(item, (ast.Global, ast.Nonlocal)):
            resolved.update(item.names)
        for target in _targets(item):
            name = _target_name(target, owner)
            if name is not None:
                assignments.setdefault(name, []).append(item)
        if isinstance(item, ast.Attribute) and item.attr in _RESOLVERS:
            name = _target_name(item.value, owner)
            if name is not None:
                resolved.add(name)
        if isinstance(item, ast.Subscript) and not isinstance(item.ctx, ast.Load):
            name = _target_name(item.value, owner)
            if name is not None:
                resolved.add(name)
    annotated = index.annotated_names(scope)
    ordinals: Dict[str, int] = {}
    for stmt in scope.statements:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1):
            continue
        name = _target_name(stmt.targets[0], owner)
        if name is None:
            continue
        ordinal = ordinals.get(name, 0)
        ordinals[name] = ordinal + 1
        label = empty_container(stmt.value, local_names, index)
        if label is None or name in resolved or assignments.get(name) != [stmt]:
            continue
        target = stmt.targets[0]
        attribute = name.partition(".")[2]
        if name in annotated or attribute in declared:
            continue
        if attribute and first.get(attribute) != (target.lineno, target.col_offset):
            continue  # mypy takes the attribute's type from its first assignment in the class
        if (target.lineno, target.col_offset) != (stmt.lineno, stmt.col_offset):
            continue  # ``(x) = []``: an annotated target cannot keep its parentheses
        yield Companion(scope, name, ordinal, label, stmt)


def _targets(item: ast.AST) -> List[ast.expr]:
    if isinstance(item, ast.Assign):
        return list(item.targets)
    if isinstance(item, (ast.AugAssign, ast.AnnAssign)):
        return [item.target]
    if isinstance(item, (ast.For, ast.AsyncFor)):
        return [item.target]
    if isinstance(item, ast.withitem) and item.optional_vars is not None:
        return [item.optional_vars]
    if isinstance(item, ast.NamedExpr):
        return [item.target]
    return []


def _target_name(node: ast.AST, owner: Optional[str]) -> Optional[str]:
    """``x`` or ``self.x`` (``owner`` is the method's first parameter), else None."""
    if isinstance(node, ast.Name):
        return node.id
    if (
        owner is not None
        and isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == owner
    ):
        return f"{owner}.{node.attr}"
    return None


def _self_name(scope: Scope, node: ast.FunctionDef | ast.AsyncFunctionDef) -> Optional[str]:
    """The name of a method's instance parameter; None outside a class's instance methods."""
    if scope.parent is None or scope.parent.key.kind != CLASS:
        return None
    if decorated(node, "staticmethod") or decorated(node, "classmethod"):
        return None
    first = next(iter(parameters(node.args)), None)
    if first is None or first.kind not in ("posonly", "positional"):
        return None
    return first.arg.arg


def _attributes(cls: Optional[Scope]) -> Tuple[Set[str], Dict[str, Tuple[int, int]]]:
    """The attributes the class declares anywhere (``x: T`` in its body, ``self.x: T`` in a
    method: a second declaration would be an error of its own), and where each attribute is
    first assigned (``obj.x = ...`` in any of its methods, by position)."""
    if cls is None:
        return set(), {}
    node = cls.node
    assert isinstance(node, ast.ClassDef)
    declared: Set[str] = set()
    first: Dict[str, Tuple[int, int]] = {}
    for item in ast.walk(node):
        if isinstance(item, ast.AnnAssign):
            target = item.target
            if isinstance(target, ast.Name):
                declared.add(target.id)
            elif isinstance(target, ast.Attribute):
                declared.add(target.attr)
        elif (
            isinstance(item, ast.Attribute)
            and isinstance(item.ctx, ast.Store)
            and isinstance(item.value, ast.Name)
        ):
            position = (item.lineno, item.col_offset)
            if item.attr not in first or position < first[item.attr]:
                first[item.attr] = position
    return declared, first


def empty_container(
    value: ast.expr, local_names: FrozenSet[str], index: ModuleIndex
) -> Optional[str]:
    """``list``, ``dict`` or ``set`` for ``[]``, ``{}``, ``list()``, ``dict()``, ``set()``."""
    if isinstance(value, ast.List) and not value.elts:
        head = "list"
    elif isinstance(value, ast.Dict) and not value.keys:
        head = "dict"
    elif (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id in _EMPTY_CALLS
        and not value.args
        and not value.keywords
    ):
        head = value.func.id
    else:
        return None
    if head in local_names or head in index.bindings:
        return None  # the name is not the builtin here
    return head
