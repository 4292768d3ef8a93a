"""The module's calls: who calls a function or (through ``self``) a method, and what they
pass for a parameter; read once per module."""

from __future__ import annotations

import ast
from typing import Dict, FrozenSet, Iterator, List, Optional, Tuple

from localtypes.edit.checks.kinds import TypeReader
from localtypes.edit.checks.tree import children, decorated
from localtypes.module import CLASS, FUNCTION, MODULE, ModuleIndex, Scope
from localtypes.syntax import parameters

# A call the module makes: the call, its parent node, its statement and its scope.
_Call = Tuple[ast.Call, ast.AST, ast.stmt, Scope]


class CallEvidence(TypeReader):
    """The calls of a function in its module."""

    def __init__(self, index: ModuleIndex) -> None:
        super().__init__(index)
        self._calls: Optional[Dict[str, List[_Call]]] = None

    def _calls_of(self, scope: Scope) -> List[_Call]:
        """The module's calls of a module function or (through ``self``) of a method."""
        node = scope.node
        parent = scope.parent
        if parent is None or scope.key.occurrence != 0 or parent.key.kind == FUNCTION:
            return []
        if parent.key.kind == CLASS and parent.key.occurrence != 0:
            return []
        if self._calls is None:
            self._calls = _collect_calls(self.index)
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        if parent.key.kind == CLASS:
            return list(self._calls.get(f"self.{node.name}@{parent.key.qualname}", []))
        if len(self.index.bindings.get(node.name, [])) != 1:
            return []
        return list(self._calls.get(node.name, []))

    def _call_arguments(self, scope: Scope, name: str) -> Iterator[ast.expr]:
        """The values the module's calls of this function pass for parameter ``name``."""
        node = scope.node
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        parent = scope.parent
        if parent is None or scope.key.occurrence != 0:
            return
        if self._calls is None:
            self._calls = _collect_calls(self.index)
        method = parent.key.kind == CLASS
        if method and parent.key.occurrence != 0:
            return
        if parent.key.kind == FUNCTION:
            return
        params = list(parameters(node.args))
        if method and not decorated(node, "staticmethod"):
            params = params[1:]
        positional = [p.arg.arg for p in params if p.kind in ("posonly", "positional")]
        key = f"self.{node.name}@{parent.key.qualname}" if method else node.name
        if not method and len(self.index.bindings.get(node.name, [])) != 1:
            return
        found = list(self._calls.get(key, []))
        if method and node.name == "__init__" and parent.parent is self.index.module:
            cls_name = parent.key.qualname
            if [b.kind for b in self.index.bindings.get(cls_name, [])] == ["class"]:
                found.extend(self._calls.get(cls_name, []))  # ``C(...)`` calls ``C.__init__``
        for call, *_ in found:
            for position, arg in enumerate(call.args):
                if isinstance(arg, ast.Starred):
                    break
                if position < len(positional) and positional[position] == name:
                    yield arg
            for keyword in call.keywords:
                if keyword.arg == name:
                    yield keyword.value


def _expressions(stmt: ast.stmt) -> Iterator[Tuple[ast.AST, ast.AST]]:
    """(node, parent) of a statement's own nodes: not the statements of its blocks, nor
    lambdas."""
    stack: List[Tuple[ast.AST, ast.AST]] = [(stmt, stmt)]
    while stack:
        item, parent = stack.pop()
        yield item, parent
        for child in children(item):
            if isinstance(child, (ast.stmt, ast.ExceptHandler, ast.match_case, ast.Lambda)):
                continue
            stack.append((child, item))


def _collect_calls(index: ModuleIndex) -> Dict[str, List[_Call]]:
    """Calls by what they call: ``f`` for ``f(...)``, ``self.m@C`` for ``self.m(...)`` in
    class ``C``'s methods."""
    calls: Dict[str, List[_Call]] = {}
    module_names = index.bindings  # only the module's functions and classes are looked up
    for scope in index.scopes.values():
        if scope.key.kind == CLASS:
            continue
        owner = scope.parent
        cls = owner.key.qualname if owner is not None and owner.key.kind == CLASS else None
        local: Optional[FrozenSet[str]] = None if scope.key.kind != MODULE else frozenset()
        for stmt in scope.statements:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            for item, parent in _expressions(stmt):
                if not isinstance(item, ast.Call):
                    continue
                func = item.func
                if isinstance(func, ast.Name):
                    if func.id not in module_names:
                        continue
                    if local is None:
                        local = scope.bindings  # read only when needed: it costs a walk
                    if func.id not in local:
                        calls.setdefault(func.id, []).append((item, parent, stmt, scope))
                elif (
                    cls is not None
                    and isinstance(func, ast.Attribute)
                    and isinstance(func.value, ast.Name)
                    and func.value.id in ("self", "cls")
                ):
                    calls.setdefault(f"self.{func.attr}@{cls}", []).append(
                        (item, parent, stmt, scope)
                    )
    return calls
