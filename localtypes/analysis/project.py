"""The project index: every module of a project, and what crosses module boundaries.

Built once per run over the modules of one project (each with its module index), it finds
every call site of each project function (plain calls of module functions, through imports
of project modules, ``Class(...)`` for ``__init__``, ``self.method(...)`` in a class), binds
the arguments to parameters, and turns what it finds into features of the callee's slots:

- a parameter: the shape and static type of every argument passed to it (``xs:v:int``,
  ``xst:pathlib.Path``);
- a return: how callers use the result (``xr:u:iterated``, ``xr:ua:name``).

Annotations are never read: the code to annotate has none. The facts of one module are a
small picklable mapping (``ModuleFacts``), so worker processes need not see the project.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Dict, List, Mapping, Optional, Tuple

from localtypes.analysis.features.body import FunctionBody
from localtypes.analysis.features.usage import usage_of
from localtypes.analysis.features.values import value_kind
from localtypes.analysis.neighbours import bind_arguments, enclosing_class, methods_of, top_level
from localtypes.analysis.static import StaticTyper
from localtypes.analysis.visible import module_info
from localtypes.errors import SourceError
from localtypes.module import FUNCTION, ModuleIndex, Scope, ScopeKey
from localtypes.syntax import dotted_name, parse_source

# (scope qualname, scope occurrence, slot name): the slot a feature belongs to.
SlotRef = Tuple[str, int, str]
ModuleFacts = Dict[SlotRef, Tuple[str, ...]]
MAX_CALL_FEATURES = 16  # per slot: enough to characterise, bounded for popular functions
MAX_SITES = 64  # call sites read per function


@dataclass(frozen=True)
class FunctionRef:
    """A function of the project: its module's path and its scope."""

    path: str
    qualname: str
    occurrence: int


@dataclass
class _Calls:
    arguments: Dict[str, List[str]] = field(default_factory=dict)  # param -> features
    results: List[str] = field(default_factory=list)  # how callers use the result
    sites: int = 0


def module_name(path: str) -> str:
    """``pkg/sub/mod.py`` -> ``pkg.sub.mod``; ``pkg/__init__.py`` -> ``pkg``."""
    parts = list(PurePosixPath(path).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


class ProjectIndex:
    """Call sites and decided returns across the modules of one project.

    ``modules`` maps each module's path relative to the project root (posix, ``pkg/mod.py``)
    to its module index.
    """

    def __init__(self, modules: Mapping[str, ModuleIndex]) -> None:
        self.modules = dict(modules)
        self.names = {path: module_name(path) for path in self.modules}
        self._by_name: Dict[str, str] = {}
        for path, name in self.names.items():
            self._by_name.setdefault(name, path)
        self._functions: Dict[str, Dict[str, Scope]] = {}  # path -> top-level name -> scope
        self._classes: Dict[str, Dict[str, Scope]] = {}  # path -> top-level class -> scope
        self._methods: Dict[str, Dict[Tuple[ScopeKey, str], Scope]] = {}
        self._refs: Dict[int, FunctionRef] = {}  # id(function scope) -> its reference
        for path, index in self.modules.items():
            self._functions[path], self._classes[path] = top_level(index)
            self._methods[path] = methods_of(index)
            for scope in index.scopes.values():
                if scope.key.kind == FUNCTION:
                    key = scope.key
                    self._refs[id(scope)] = FunctionRef(path, key.qualname, key.occurrence)
        self._calls: Dict[FunctionRef, _Calls] = {}
        self._typers: Dict[str, StaticTyper] = {}
        for path in self.modules:
            self._scan(path)

    @classmethod
    def from_sources(cls, sources: Mapping[str, str]) -> ProjectIndex:
        """The index of modules given as relative path -> source; a module that does not
        parse is evidence of nothing and left out."""
        indexes: Dict[str, ModuleIndex] = {}
        for path, text in sources.items():
            try:
                indexes[path] = ModuleIndex(parse_source(text), text)
            except (SourceError, RecursionError):
                continue
        return cls(indexes)

    # --- what a module's slots gain

    def facts(self, path: str) -> ModuleFacts:
        """The cross-file features of every slot of one module."""
        out: ModuleFacts = {}
        for ref, calls in self._calls.items():
            if ref.path != path:
                continue
            count = min(calls.sites, 9)
            for name, feats in calls.arguments.items():
                found = [f"xn:{count}", *dict.fromkeys(feats)]
                out[(ref.qualname, ref.occurrence, name)] = tuple(found[:MAX_CALL_FEATURES])
            results = [f"xn:{count}", *dict.fromkeys(calls.results)]
            out[(ref.qualname, ref.occurrence, "return")] = tuple(results[:MAX_CALL_FEATURES])
        return out

    # --- resolving calls

    def resolve(self, path: str, call: ast.Call, scope: Scope) -> Optional[Tuple[Scope, bool]]:
        """The project function a call in ``scope`` of module ``path`` runs, and whether its
        first parameter is bound by the call (a method through ``self``, a constructor)."""
        func = call.func
        name = dotted_name(func)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        if head in ("self", "cls") and rest and "." not in rest:
            owner = enclosing_class(scope)
            if owner is None:
                return None
            method = self._method(path, owner, rest)
            return (method, True) if method is not None else None
        target = self._symbol(path, head, rest)
        if target is None:
            return None
        where, symbol = target
        function = self._functions[where].get(symbol)
        if function is not None:
            return function, False
        cls = self._classes[where].get(symbol)
        if cls is not None:
            init = self._method(where, cls, "__init__")
            return (init, True) if init is not None else None
        return None

    def _symbol(self, path: str, head: str, rest: str) -> Optional[Tuple[str, str]]:
        """(module path, top-level name) that ``head.rest`` names from module ``path``."""
        if not rest and (head in self._functions[path] or head in self._classes[path]):
            return path, head
        origin = self.modules[path].imports.get(head)
        if origin is None:
            return None
        dotted = self._absolute(path, origin)
        if rest:
            dotted = f"{dotted}.{rest}"
        module, _, symbol = dotted.rpartition(".")
        where = self._by_name.get(module)
        return (where, symbol) if where is not None and symbol else None

    def _absolute(self, path: str, origin: str) -> str:
        """An import's origin with its leading dots resolved against module ``path``."""
        level = len(origin) - len(origin.lstrip("."))
        if not level:
            return origin
        package = self.names[path].split(".")
        if not path.endswith("__init__.py"):
            package = package[:-1]
        base = package[: len(package) - (level - 1)] if level > 1 else package
        tail = origin[level:]
        return ".".join([*base, tail] if tail else base)

    def _method(self, path: str, cls: Scope, name: str) -> Optional[Scope]:
        """The last ``def name`` directly in the class body (as at run time)."""
        return self._methods[path].get((cls.key, name))

    # --- scanning call sites

    def _scan(self, path: str) -> None:
        index = self.modules[path]
        for scope in index.scopes.values():
            body = FunctionBody(scope.node.body)
            for node in body.parents:
                if isinstance(node, ast.Call):
                    self._record(path, scope, node, body.parents)

    def _record(
        self, path: str, scope: Scope, call: ast.Call, parents: Dict[ast.AST, ast.AST]
    ) -> None:
        resolved = self.resolve(path, call, scope)
        if resolved is None:
            return
        callee, bound = resolved
        ref = self._refs[id(callee)]
        calls = self._calls.setdefault(ref, _Calls())
        if calls.sites >= MAX_SITES:
            return
        calls.sites += 1
        if not (bound and callee.key.qualname.endswith(".__init__")):
            # A constructor call's value is the instance, not what ``__init__`` returns.
            uses = usage_of(call, parents.get(call), parents)
            calls.results.extend(f"xr{feat[1:]}" for feat in uses)
        typer = self._typer(path)
        for name, value in bind_arguments(callee, call, bound):
            feats = calls.arguments.setdefault(name, [])
            feats.extend(value_kind(value, "xs")[:2])
            decided = typer.expr(value)
            if decided is not None:
                feats.append(f"xst:{decided}")

    def _typer(self, path: str) -> StaticTyper:
        typer = self._typers.get(path)
        if typer is None:
            index = self.modules[path]
            typer = self._typers[path] = StaticTyper(module_info(index), tuple(index.bindings))
        return typer
