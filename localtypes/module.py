"""Where names live in a module: its scopes, keyed the way slots are, and what each binds.

The writer needs three things the slot list does not carry: which scope a slot's
annotation is evaluated in (to avoid a name that a class or function rebinds), when it is
evaluated (a class defined later in the module is not bound yet when a ``def`` above it
runs), and how the module imports things (to reuse ``import typing as t``).

Scopes are keyed by ``(kind, qualname, occurrence)``: ``qualname`` is dotted as in
``Slot.scope`` and ``occurrence`` counts earlier definitions of the same kind with the same
qualname in source order (functions and classes are counted separately).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterator, List, Optional, Set, Tuple, Union

FunctionNode = Union[ast.FunctionDef, ast.AsyncFunctionDef]
ScopeNode = Union[ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef]

MODULE = "module"
CLASS = "class"
FUNCTION = "function"

_NESTED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class ScopeKey:
    """A scope as the writer finds it again in the concrete syntax tree."""

    kind: str  # MODULE, CLASS or FUNCTION
    qualname: str
    occurrence: int


@dataclass(eq=False)
class Scope:
    """One module, class or function body."""

    key: ScopeKey
    node: ScopeNode
    parent: Optional[Scope]
    _bindings: Optional[FrozenSet[str]] = field(default=None, repr=False)

    @property
    def bindings(self) -> FrozenSet[str]:
        """Every name bound directly in this scope (an over-approximation is fine)."""
        if self._bindings is None:
            self._bindings = frozenset(_bound_names(self.node))
        return self._bindings

    def runs_at_import(self) -> bool:
        """True when this body runs while the module is imported (module and class bodies)."""
        scope: Optional[Scope] = self
        while scope is not None:
            if scope.key.kind == FUNCTION:
                return False
            scope = scope.parent
        return True

    def lookup_chain(self) -> Iterator[Scope]:
        """The non-module scopes a name in this body is looked up in, innermost first.

        Python skips enclosing class bodies, except the body the name is written in.
        """
        scope: Optional[Scope] = self
        first = True
        while scope is not None and scope.key.kind != MODULE:
            if first or scope.key.kind == FUNCTION:
                yield scope
            first = False
            scope = scope.parent


@dataclass(frozen=True)
class Binding:
    """One module-level binding of a name."""

    line: int  # where the name becomes usable (the end line for a class)
    kind: str  # "import", "class", "function", "global" (bound from a function), "other"
    origin: Optional[str]  # for imports: "pathlib.Path", "numpy", ".models.User"
    type_checking: bool  # bound only under ``if TYPE_CHECKING:``


@dataclass
class ModuleIndex:
    """Scopes and module-level bindings of one parsed module."""

    tree: ast.Module
    module: Scope
    scopes: Dict[ScopeKey, Scope]
    function_scopes: Dict[Tuple[int, int], Scope]  # (line, column) of ``def`` -> scope
    args: Dict[Tuple[int, int], Tuple[Scope, ast.arg]]  # (line, column) of a parameter
    assigns: Dict[Tuple[int, int], Tuple[Scope, ast.Assign, int]]  # target position -> ordinal
    bindings: Dict[str, List[Binding]]
    future_annotations: bool
    star_import: bool
    deleted: Set[str]  # names a module-level ``del`` unbinds: never safe to rely on
    lines: List[str]
    _annotated: Dict[ScopeKey, Set[str]] = field(default_factory=dict)
    _origins: Optional[Dict[str, str]] = None

    def import_origins(self) -> Dict[str, str]:
        """Names every module-level binding of which imports the same thing -> that origin."""
        if self._origins is None:
            self._origins = {}
            for name, bindings in self.bindings.items():
                origins = {b.origin if b.kind == "import" else None for b in bindings}
                origin = origins.pop() if len(origins) == 1 else None
                if origin is not None:
                    self._origins[name] = origin
        return self._origins

    def annotated_names(self, scope: Scope) -> Set[str]:
        """Names with an annotated assignment anywhere in the scope's body."""
        found = self._annotated.get(scope.key)
        if found is None:
            found = {
                stmt.target.id
                for stmt in scope_statements(_body(scope.node))
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
            }
            self._annotated[scope.key] = found
        return found


def build_index(tree: ast.Module, source: str) -> ModuleIndex:
    """Index a module parsed from ``source``."""
    module_scope = Scope(ScopeKey(MODULE, "", 0), tree, None)
    index = ModuleIndex(
        tree=tree,
        module=module_scope,
        scopes={module_scope.key: module_scope},
        function_scopes={},
        args={},
        assigns={},
        bindings={},
        future_annotations=False,
        star_import=False,
        deleted=set(),
        lines=_LINE_BREAK.split(source),  # as the parser numbers lines: not at \f or \x1c
    )
    counters: Dict[Tuple[str, str], int] = {}
    _index_scope(index, module_scope, counters)
    _index_module_bindings(index)
    return index


def scope_statements(body: List[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements of a scope at any block depth, in source order, not entering nested scopes."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, _NESTED):
            continue
        yield from scope_statements(getattr(stmt, "body", None) or [])
        for handler in getattr(stmt, "handlers", None) or []:
            yield from scope_statements(handler.body)
        for case in getattr(stmt, "cases", None) or []:
            yield from scope_statements(case.body)
        yield from scope_statements(getattr(stmt, "orelse", None) or [])
        yield from scope_statements(getattr(stmt, "finalbody", None) or [])


def _body(node: ScopeNode) -> List[ast.stmt]:
    return node.body


def _index_scope(index: ModuleIndex, scope: Scope, counters: Dict[Tuple[str, str], int]) -> None:
    ordinals: Dict[str, int] = {}
    children: List[Union[FunctionNode, ast.ClassDef]] = []
    for stmt in scope_statements(_body(scope.node)):
        if isinstance(stmt, _NESTED):
            children.append(stmt)
        elif (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
        ):
            target = stmt.targets[0]
            ordinal = ordinals.get(target.id, 0)
            ordinals[target.id] = ordinal + 1
            index.assigns[(target.lineno, target.col_offset)] = (scope, stmt, ordinal)
    for child in children:
        kind = CLASS if isinstance(child, ast.ClassDef) else FUNCTION
        qualname = f"{scope.key.qualname}.{child.name}" if scope.key.qualname else child.name
        occurrence = counters.get((kind, qualname), 0)
        counters[(kind, qualname)] = occurrence + 1
        key = ScopeKey(kind, qualname, occurrence)
        child_scope = Scope(key, child, scope)
        index.scopes[key] = child_scope
        if not isinstance(child, ast.ClassDef):
            index.function_scopes[(child.lineno, child.col_offset)] = child_scope
            arguments = child.args
            for arg in (
                *arguments.posonlyargs,
                *arguments.args,
                *([arguments.vararg] if arguments.vararg else []),
                *arguments.kwonlyargs,
                *([arguments.kwarg] if arguments.kwarg else []),
            ):
                index.args[(arg.lineno, arg.col_offset)] = (child_scope, arg)
        _index_scope(index, child_scope, counters)


# --- names bound in a scope --------------------------------------------------------------


def _bound_names(node: ScopeNode) -> Iterator[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        arguments = node.args
        for arg in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs):
            yield arg.arg
        if arguments.vararg:
            yield arguments.vararg.arg
        if arguments.kwarg:
            yield arguments.kwarg.arg
    for stmt in node.body:
        yield from statement_bindings(stmt)


def statement_bindings(stmt: ast.stmt) -> Iterator[str]:
    """Names a statement binds in its own scope (nested blocks included, nested scopes not)."""
    stack: List[ast.AST] = [stmt]
    while stack:
        item = stack.pop()
        if isinstance(item, _NESTED):
            yield item.name
            # decorators, defaults and bases run in this scope (a walrus there binds here)
            stack.extend(item.decorator_list)
            if isinstance(item, ast.ClassDef):
                stack.extend(item.bases)
                stack.extend(keyword.value for keyword in item.keywords)
            else:
                stack.extend(d for d in (*item.args.defaults, *item.args.kw_defaults) if d)
            continue
        if isinstance(item, ast.Lambda):
            stack.extend(item.args.defaults)
            continue
        if isinstance(item, ast.Name) and isinstance(item.ctx, (ast.Store, ast.Del)):
            yield item.id
        elif isinstance(item, (ast.Import, ast.ImportFrom)):
            for alias in item.names:
                if alias.name != "*":
                    yield alias.asname or alias.name.split(".")[0]
        elif isinstance(item, (ast.Global, ast.Nonlocal)):
            yield from item.names
        elif _other_binding(item):
            yield _other_binding(item) or ""
        stack.extend(ast.iter_child_nodes(item))


def _other_binding(item: ast.AST) -> Optional[str]:
    """The name an except clause or a match pattern binds, if any."""
    if isinstance(item, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)):
        return item.name
    if isinstance(item, ast.MatchMapping):
        return item.rest
    return None


# --- module-level bindings ---------------------------------------------------------------


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _module_statements(
    body: List[ast.stmt], type_checking: bool = False
) -> Iterator[Tuple[ast.stmt, bool]]:
    """Module-level statements at any block depth, with "only under TYPE_CHECKING"."""
    for stmt in body:
        yield stmt, type_checking
        if isinstance(stmt, _NESTED):
            continue
        if isinstance(stmt, ast.If) and _is_type_checking(stmt.test):
            yield from _module_statements(stmt.body, True)
            yield from _module_statements(stmt.orelse, type_checking)
            continue
        yield from _module_statements(getattr(stmt, "body", None) or [], type_checking)
        for handler in getattr(stmt, "handlers", None) or []:
            yield from _module_statements(handler.body, type_checking)
        for case in getattr(stmt, "cases", None) or []:
            yield from _module_statements(case.body, type_checking)
        yield from _module_statements(getattr(stmt, "orelse", None) or [], type_checking)
        yield from _module_statements(getattr(stmt, "finalbody", None) or [], type_checking)


def _add(index: ModuleIndex, name: str, binding: Binding) -> None:
    index.bindings.setdefault(name, []).append(binding)


def _index_module_bindings(index: ModuleIndex) -> None:
    tree = index.tree
    for stmt, type_checking in _module_statements(tree.body):
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                local = alias.asname or alias.name.split(".")[0]
                origin = alias.name if alias.asname else local
                _add(index, local, Binding(stmt.lineno, "import", origin, type_checking))
        elif isinstance(stmt, ast.ImportFrom):
            module = "." * stmt.level + (stmt.module or "")
            if module == "__future__":
                if any(alias.name == "annotations" for alias in stmt.names):
                    index.future_annotations = True
                continue
            for alias in stmt.names:
                if alias.name == "*":
                    index.star_import = True
                    continue
                sep = "" if module.endswith(".") else "."
                origin = f"{module}{sep}{alias.name}"
                local = alias.asname or alias.name
                _add(index, local, Binding(stmt.lineno, "import", origin, type_checking))
        elif isinstance(stmt, ast.Delete):
            index.deleted.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
        elif isinstance(stmt, ast.ClassDef):
            end = stmt.end_lineno or stmt.lineno
            _add(index, stmt.name, Binding(end, "class", None, type_checking))
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            _add(index, stmt.name, Binding(stmt.lineno, "function", None, type_checking))
        else:
            for name in _header_bindings(stmt):
                _add(index, name, Binding(stmt.lineno, "other", None, type_checking))
    # ``global x`` in a function binds a module name at some unknown time.
    never = 1 << 30
    for node in _every_statement(tree.body):
        if isinstance(node, ast.Global):
            for name in node.names:
                _add(index, name, Binding(never, "global", None, False))


def _every_statement(body: List[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement, nested scopes included: ``global`` is one, so no expression needs
    a visit (a walk of every node cost more than the rest of the index)."""
    stack = list(reversed(body))
    while stack:
        stmt = stack.pop()
        yield stmt
        for block in ("finalbody", "orelse", "body"):
            stack.extend(reversed(getattr(stmt, block, None) or []))
        for handler in reversed(getattr(stmt, "handlers", None) or []):
            stack.extend(reversed(handler.body))
        for case in reversed(getattr(stmt, "cases", None) or []):
            stack.extend(reversed(case.body))


def _header_bindings(stmt: ast.stmt) -> Iterator[str]:
    """Names bound by a statement itself, not by the blocks nested in it."""
    nested = {id(s) for field in ("body", "orelse", "finalbody") for s in getattr(stmt, field, [])}
    for handler in getattr(stmt, "handlers", None) or []:
        nested.update(id(s) for s in handler.body)
    for case in getattr(stmt, "cases", None) or []:
        nested.update(id(s) for s in case.body)
    stack: List[ast.AST] = [stmt]
    while stack:
        item = stack.pop()
        if id(item) in nested:
            continue
        if isinstance(item, ast.Name) and isinstance(item.ctx, (ast.Store, ast.Del)):
            yield item.id
        elif _other_binding(item):
            yield _other_binding(item) or ""
        elif isinstance(item, ast.Lambda):
            continue
        stack.extend(ast.iter_child_nodes(item))
