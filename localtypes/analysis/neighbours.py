"""Which slots of a module tell about one another: the relations the second pass reads.

The model's second pass (``localtypes.model.second_pass``) sees, for each slot, the first
pass's answer for the slots it is related to. A relation is certain from the code alone
(no annotation is read) and links two slots of one module:

- ``same``: a parameter of the same name in another function;
- ``into`` / ``from``: a parameter passed by name to a function or method of the module,
  and the callee's parameter that receives it (``from-var``: a variable passed so);
- ``ret-param``, ``ret-var``: a function that returns one of its parameters or variables;
- ``ret-call`` / ``ret-by``: a function that returns what a function of the module returns,
  and the other way round;
- ``ret-attr``: a method that returns ``self.x`` where another method stored a parameter;
- ``var-call``, ``var-param``: a variable first assigned a call's result or a parameter;
- ``base``: the same parameter or return of the method that a method overrides (a base
  class of the module).
"""

from __future__ import annotations

import ast
from typing import Dict, Iterator, List, Optional, Sequence, Set, Tuple

from localtypes.analysis.features.body import FunctionBody
from localtypes.analysis.slots import Relation, Relations, Slot, SlotKey, SlotKind
from localtypes.module import CLASS, FUNCTION, ModuleIndex, Scope, ScopeKey
from localtypes.syntax import parameters

MAX_RELATIONS = 8  # per slot: the strongest come first
MAX_SAME_NAME = 3  # same-named parameters listed per parameter
# Strongest first: what a slot's own code passes or returns, then what merely shares a name.
_ORDER = ("base", "ret-param", "ret-var", "ret-attr", "ret-call", "var-param", "var-call",
          "from", "from-var", "into", "ret-by", "same")  # fmt: skip


def module_relations(
    index: ModuleIndex, slots: Sequence[Slot], bodies: Optional[Dict[int, FunctionBody]] = None
) -> Relations:
    """The relations of each slot of ``slots`` to others of them (keys of ``slots`` only).

    ``bodies`` (id of a function node -> its ``FunctionBody``) shares what the extractor
    already walked."""
    keys = {slot.key for slot in slots}
    found: Dict[SlotKey, Set[Relation]] = {}
    for key, relation, other in _Finder(index, bodies).pairs():
        if key in keys and other in keys and key != other:
            found.setdefault(key, set()).add((relation, other))
    rank = {name: position for position, name in enumerate(_ORDER)}
    return {
        key: tuple(sorted(items, key=lambda item: (rank[item[0]], item[1][1:])))[:MAX_RELATIONS]
        for key, items in found.items()
    }


def _param(scope: Scope, name: str) -> SlotKey:
    return (SlotKind.PARAM, scope.key.qualname, scope.key.occurrence, name)


def _return(scope: Scope) -> SlotKey:
    return (SlotKind.RETURN, scope.key.qualname, scope.key.occurrence, "return")


def _variable(scope: Scope, name: str) -> SlotKey:
    return (SlotKind.VARIABLE, scope.key.qualname, scope.key.occurrence, name)


def top_level(index: ModuleIndex) -> Tuple[Dict[str, Scope], Dict[str, Scope]]:
    """The module's top-level functions and classes by name (a later definition wins, as
    at run time)."""
    functions: Dict[str, Scope] = {}
    classes: Dict[str, Scope] = {}
    for scope in index.scopes.values():
        if scope.parent is index.module:
            target = classes if scope.key.kind == CLASS else functions
            target[scope.key.qualname] = scope
    return functions, classes


def enclosing_class(scope: Scope) -> Optional[Scope]:
    """The class whose method ``scope`` is (``self.x()`` calls resolve there)."""
    if scope.key.kind == FUNCTION and scope.parent is not None and scope.parent.key.kind == CLASS:
        return scope.parent
    return None


def methods_of(index: ModuleIndex) -> Dict[Tuple[ScopeKey, str], Scope]:
    """(class key, method name) -> the last ``def`` of that name directly in the class."""
    methods: Dict[Tuple[ScopeKey, str], Scope] = {}
    for scope in index.scopes.values():
        owner = enclosing_class(scope)
        if owner is not None:
            methods[(owner.key, scope.key.qualname.rpartition(".")[2])] = scope
    return methods


class _Finder:
    """Walks each function body once; ``pairs`` yields (slot, relation, other slot)."""

    def __init__(self, index: ModuleIndex, bodies: Optional[Dict[int, FunctionBody]]) -> None:
        self.index = index
        self.functions, self.classes = top_level(index)
        self.methods = methods_of(index)
        # (class, attribute) -> the parameter a method stores in ``self.attribute``
        self.stored: Dict[Tuple[ScopeKey, str], SlotKey] = {}
        self.bodies: Dict[int, FunctionBody] = dict(bodies or {})

    def body(self, scope: Scope) -> FunctionBody:
        found = self.bodies.get(id(scope.node))
        if found is None:
            found = self.bodies[id(scope.node)] = FunctionBody(scope.node.body)
        return found

    def pairs(self) -> Iterator[Tuple[SlotKey, str, SlotKey]]:
        functions = [s for s in self.index.scopes.values() if s.key.kind == FUNCTION]
        for scope in functions:
            self._remember_stores(scope)
        by_name: Dict[str, List[SlotKey]] = {}
        for scope in functions:
            node = scope.node
            assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            names = [param.arg.arg for param in parameters(node.args)]
            for name in names:
                if name not in ("self", "cls"):  # never slots, and in every method
                    by_name.setdefault(name, []).append(_param(scope, name))
            yield from self._calls(scope, set(names))
            yield from self._flow(scope, set(names))
            yield from self._overrides(scope, names)
        for keys in by_name.values():
            for key in keys:
                # the first few others of the name (a bounded look, however common it is)
                others = [other for other in keys[: MAX_SAME_NAME + 1] if other != key]
                for other in others[:MAX_SAME_NAME]:
                    yield key, "same", other

    def _remember_stores(self, scope: Scope) -> None:
        owner = enclosing_class(scope)
        if owner is None:
            return
        node = scope.node
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        names = {param.arg.arg for param in parameters(node.args)}
        for stmt in self.body(scope).flow:
            assigned = _assignment(stmt)
            if assigned is None:
                continue
            target, value = assigned
            if (
                isinstance(target, ast.Attribute)
                and isinstance(target.value, ast.Name)
                and target.value.id == "self"
                and isinstance(value, ast.Name)
                and value.id in names
            ):
                self.stored.setdefault((owner.key, target.attr), _param(scope, value.id))

    def _calls(self, scope: Scope, params: Set[str]) -> Iterator[Tuple[SlotKey, str, SlotKey]]:
        for node in self.body(scope).parents:
            if not isinstance(node, ast.Call):
                continue
            resolved = self.resolve(node, scope)
            if resolved is None:
                continue
            callee, bound = resolved
            for name, argument in bind_arguments(callee, node, bound):
                if not isinstance(argument, ast.Name):
                    continue
                receiver = _param(callee, name)
                if argument.id in params:
                    mine = _param(scope, argument.id)
                    yield mine, "into", receiver
                    yield receiver, "from", mine
                else:
                    yield receiver, "from-var", _variable(scope, argument.id)

    def _flow(self, scope: Scope, params: Set[str]) -> Iterator[Tuple[SlotKey, str, SlotKey]]:
        mine = _return(scope)
        for stmt in self.body(scope).flow:
            if isinstance(stmt, ast.Return) and stmt.value is not None:
                value = stmt.value
                if isinstance(value, ast.Name):
                    if value.id in params:
                        yield mine, "ret-param", _param(scope, value.id)
                    else:
                        yield mine, "ret-var", _variable(scope, value.id)
                elif isinstance(value, ast.Call):
                    callee = self._result_of(value, scope)
                    if callee is not None:
                        yield mine, "ret-call", callee
                        yield callee, "ret-by", mine
                elif (
                    isinstance(value, ast.Attribute)
                    and isinstance(value.value, ast.Name)
                    and value.value.id == "self"
                    and (owner := enclosing_class(scope)) is not None
                ):
                    stored = self.stored.get((owner.key, value.attr))
                    if stored is not None:
                        yield mine, "ret-attr", stored
            elif (assigned := _assignment(stmt)) is not None and isinstance(assigned[0], ast.Name):
                variable = _variable(scope, assigned[0].id)
                value = assigned[1]
                if isinstance(value, ast.Name) and value.id in params:
                    yield variable, "var-param", _param(scope, value.id)
                elif isinstance(value, ast.Call):
                    callee = self._result_of(value, scope)
                    if callee is not None:
                        yield variable, "var-call", callee

    def _overrides(self, scope: Scope, names: List[str]) -> Iterator[Tuple[SlotKey, str, SlotKey]]:
        owner = enclosing_class(scope)
        if owner is None:
            return
        assert isinstance(owner.node, ast.ClassDef)
        method = scope.key.qualname.rpartition(".")[2]
        for base in owner.node.bases:
            if not isinstance(base, ast.Name) or base.id not in self.classes:
                continue
            overridden = self.methods.get((self.classes[base.id].key, method))
            if overridden is None:
                continue
            node = overridden.node
            assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            theirs = {param.arg.arg for param in parameters(node.args)}
            for name in names:
                if name in theirs:
                    yield _param(scope, name), "base", _param(overridden, name)
            yield _return(scope), "base", _return(overridden)
            return  # the first base that has it, as the method resolution order would

    def _result_of(self, call: ast.Call, scope: Scope) -> Optional[SlotKey]:
        """The return slot of the module function a call runs (not a constructor's)."""
        resolved = self.resolve(call, scope)
        if resolved is None or resolved[0].key.qualname.endswith(".__init__"):
            return None
        return _return(resolved[0])

    def resolve(self, call: ast.Call, scope: Scope) -> Optional[Tuple[Scope, bool]]:
        """The function of this module a call runs, and whether the call binds its first
        parameter (a method through ``self``/``cls``, a constructor's ``__init__``)."""
        func = call.func
        if isinstance(func, ast.Name):
            function = self.functions.get(func.id)
            if function is not None:
                return function, False
            cls = self.classes.get(func.id)
            if cls is not None:
                init = self.methods.get((cls.key, "__init__"))
                return (init, True) if init is not None else None
            return None
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id in ("self", "cls")
            and (owner := enclosing_class(scope)) is not None
        ):
            method = self.methods.get((owner.key, func.attr))
            return (method, True) if method is not None else None
        return None


def _assignment(stmt: ast.AST) -> Optional[Tuple[ast.expr, ast.expr]]:
    """(target, value) of ``t = v`` and of ``t: T = v`` alike: the relations never read
    annotations (the writer's own would change them between two runs)."""
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        return stmt.targets[0], stmt.value
    if isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
        return stmt.target, stmt.value
    return None


def bind_arguments(callee: Scope, call: ast.Call, bound: bool) -> Iterator[Tuple[str, ast.expr]]:
    """(parameter name, argument) pairs of a call, as far as they are certain."""
    node = callee.node
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    params = list(parameters(node.args))
    positional = [p for p in params if p.kind in ("posonly", "positional")]
    if bound:
        positional = positional[1:]
    for param, argument in zip(positional, call.args):
        if isinstance(argument, ast.Starred):
            break
        yield param.arg.arg, argument
    names = {p.arg.arg for p in params if p.kind in ("positional", "kwonly")}
    for keyword in call.keywords:
        if keyword.arg is not None and keyword.arg in names:
            yield keyword.arg, keyword.value
