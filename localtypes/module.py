"""The module index: one module's scopes, what each binds, and what the module imports.

Built once per parsed module and read by every step that needs names or places: slot
extraction (which scopes exist, in which order, and what the module imports), choosing
(where a name resolves, when an annotation is evaluated), splicing (where a target is)
and the safety checks (which annotation belongs to which scope).

Scopes are keyed by ``ScopeKey(kind, qualname, occurrence)``: ``qualname`` is dotted
(``Outer.method``, ``outer.inner``; no ``<locals>``) and ``occurrence`` counts earlier
scopes of the same kind with the same qualname in source order (functions and classes are
counted separately), so ``def f`` defined twice gives ``f`` 0 and ``f`` 1. Slots use the
same keys (``Slot.scope`` and ``Slot.occurrence``): they are read off this index.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterator, List, NamedTuple, Optional, Set, Tuple

from localtypes.syntax import (
    NESTED_SCOPE_TYPES,
    ScopeNode,
    child_blocks,
    every_statement,
    header_bindings,
    parameters,
    scope_statements,
    statement_bindings,
)

MODULE = "module"
CLASS = "class"
FUNCTION = "function"

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# ``global x`` in a function binds a module name at some unknown time.
_NEVER = 1 << 30


@dataclass(frozen=True)
class ScopeKey:
    """A scope as every part finds it again: kind, dotted qualname, occurrence."""

    kind: str  # MODULE, CLASS or FUNCTION
    qualname: str
    occurrence: int


@dataclass(eq=False)
class Scope:
    """One module, class or function body."""

    key: ScopeKey
    node: ScopeNode
    parent: Optional[Scope]
    # The body's statements at any block depth, nested scopes listed but not entered.
    statements: List[ast.stmt]
    _bindings: Optional[FrozenSet[str]] = field(default=None, repr=False)

    @property
    def bindings(self) -> FrozenSet[str]:
        """Every name bound directly in this scope (an over-approximation is fine)."""
        if self._bindings is None:
            names: List[str] = []
            if not isinstance(self.node, (ast.Module, ast.ClassDef)):
                names.extend(parameter.arg.arg for parameter in parameters(self.node.args))
            for stmt in self.node.body:
                names.extend(statement_bindings(stmt))
            self._bindings = frozenset(names)
        return self._bindings

    @property
    def enclosing_classes(self) -> Tuple[str, ...]:
        """The names of the classes this body is nested in directly, outermost first:
        ``("Outer", "Inner")`` for ``Outer.Inner``'s body, ``()`` below any function."""
        names: List[str] = []
        scope: Optional[Scope] = self
        while scope is not None and scope.key.kind == CLASS:
            assert isinstance(scope.node, ast.ClassDef)
            names.append(scope.node.name)
            scope = scope.parent
        return tuple(reversed(names))

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
class _ModuleNames:
    """What the module level binds and imports (one pass over its statements)."""

    bindings: Dict[str, List[Binding]] = field(default_factory=dict)
    # local name -> what its last import binds it to: "pathlib.Path", "numpy" (for
    # ``import numpy as np``), ".models.User" (relative, dots kept); in first-import order.
    imports: Dict[str, str] = field(default_factory=dict)
    future_annotations: bool = False
    star_import: bool = False
    deleted: Set[str] = field(default_factory=set)  # names a module-level ``del`` unbinds

    def add(self, name: str, binding: Binding) -> None:
        self.bindings.setdefault(name, []).append(binding)


class ModuleIndex:
    """Scopes and module-level names of one parsed module (see the module docstring).

    ``stub`` marks a ``.pyi`` file: its annotations are never evaluated, as if the module
    had ``from __future__ import annotations``.
    """

    def __init__(self, tree: ast.Module, source: str, stub: bool = False) -> None:
        self.tree = tree
        self.source = source
        self.stub = stub
        self.module = Scope(ScopeKey(MODULE, "", 0), tree, None, scope_statements(tree.body))
        self.scopes: Dict[ScopeKey, Scope] = {self.module.key: self.module}  # in source order
        self.function_scopes: Dict[Tuple[int, int], Scope] = {}  # (line, column) of ``def``
        self.args: Dict[Tuple[int, int], Tuple[Scope, ast.arg]] = {}  # of a parameter
        # (line, column) of a plain ``name = value`` target -> (scope, statement, ordinal
        # of that assignment to that name in its scope)
        self.assigns: Dict[Tuple[int, int], Tuple[Scope, ast.Assign, int]] = {}
        self._index_scope(self.module, {})
        self._names: Optional[_ModuleNames] = None
        self._lines: Optional[List[str]] = None
        self._annotated: Dict[ScopeKey, Set[str]] = {}
        self._origins: Optional[Dict[str, str]] = None

    # --- scopes

    def _index_scope(self, scope: Scope, counters: Dict[Tuple[str, str], int]) -> None:
        ordinals: Dict[str, int] = {}
        children: List[ast.stmt] = []
        for stmt in scope.statements:
            if type(stmt) in NESTED_SCOPE_TYPES:
                children.append(stmt)
            elif (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
            ):
                target = stmt.targets[0]
                ordinal = ordinals.get(target.id, 0)
                ordinals[target.id] = ordinal + 1
                self.assigns[(target.lineno, target.col_offset)] = (scope, stmt, ordinal)
        for child in children:
            assert isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            kind = CLASS if isinstance(child, ast.ClassDef) else FUNCTION
            qualname = f"{scope.key.qualname}.{child.name}" if scope.key.qualname else child.name
            occurrence = counters.get((kind, qualname), 0)
            counters[(kind, qualname)] = occurrence + 1
            key = ScopeKey(kind, qualname, occurrence)
            child_scope = Scope(key, child, scope, scope_statements(child.body))
            self.scopes[key] = child_scope
            if not isinstance(child, ast.ClassDef):
                self.function_scopes[(child.lineno, child.col_offset)] = child_scope
                for parameter in parameters(child.args):
                    arg = parameter.arg
                    self.args[(arg.lineno, arg.col_offset)] = (child_scope, arg)
            self._index_scope(child_scope, counters)

    def annotated_names(self, scope: Scope) -> Set[str]:
        """Names with an annotated assignment anywhere in the scope's body."""
        found = self._annotated.get(scope.key)
        if found is None:
            found = {
                stmt.target.id
                for stmt in scope.statements
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
            }
            self._annotated[scope.key] = found
        return found

    @property
    def lines(self) -> List[str]:
        """The source's lines, split where the parser splits them (not at \\f or \\x1c)."""
        if self._lines is None:
            self._lines = _LINE_BREAK.split(self.source)
        return self._lines

    # --- module-level names

    @property
    def names(self) -> _ModuleNames:
        if self._names is None:
            self._names = _module_names(self.tree)
        return self._names

    @property
    def bindings(self) -> Dict[str, List[Binding]]:
        """Every module-level binding of each name, in source order."""
        return self.names.bindings

    @property
    def imports(self) -> Dict[str, str]:
        """Local name -> what the module's (last) import of it binds."""
        return self.names.imports

    @property
    def future_annotations(self) -> bool:
        """Whether annotations are never evaluated (``from __future__ import annotations``
        or a stub)."""
        return self.stub or self.names.future_annotations

    @property
    def star_import(self) -> bool:
        return self.names.star_import

    @property
    def deleted(self) -> Set[str]:
        """Names a module-level ``del`` unbinds: never safe to rely on."""
        return self.names.deleted

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

    def module_statements(self) -> Iterator[ModuleStatement]:
        """Module-level statements at any block depth, in source order (pre-order)."""
        return _module_statements(self.tree.body, False, True)


class ModuleStatement(NamedTuple):
    """A module-level statement and the blocks it sits in."""

    stmt: ast.stmt
    type_checking: bool  # only under ``if TYPE_CHECKING:``
    # At the top, or only under ``if``, ``try`` and ``with``: where modules define their
    # names once (not in a loop, a ``match`` or an ``async with``).
    definition: bool


_DEFINITION_BLOCKS = (ast.If, ast.Try, ast.With)


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _module_statements(
    body: List[ast.stmt], type_checking: bool, definition: bool
) -> Iterator[ModuleStatement]:
    for stmt in body:
        yield ModuleStatement(stmt, type_checking, definition)
        if type(stmt) in NESTED_SCOPE_TYPES:
            continue
        inner = definition and isinstance(stmt, _DEFINITION_BLOCKS)
        if isinstance(stmt, ast.If) and _is_type_checking(stmt.test):
            yield from _module_statements(stmt.body, True, inner)
            yield from _module_statements(stmt.orelse, type_checking, inner)
            continue
        for block in child_blocks(stmt):
            yield from _module_statements(block, type_checking, inner)


def _module_names(tree: ast.Module) -> _ModuleNames:
    """The one analysis of the module's imports and other module-level bindings."""
    names = _ModuleNames()
    for stmt, type_checking, _ in _module_statements(tree.body, False, True):
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                local = alias.asname or alias.name.split(".")[0]
                origin = alias.name if alias.asname else local
                names.imports[local] = origin
                names.add(local, Binding(stmt.lineno, "import", origin, type_checking))
        elif isinstance(stmt, ast.ImportFrom):
            module = "." * stmt.level + (stmt.module or "")
            if module == "__future__":
                if any(alias.name == "annotations" for alias in stmt.names):
                    names.future_annotations = True
                continue
            for alias in stmt.names:
                if alias.name == "*":
                    names.star_import = True
                    continue
                sep = "" if module.endswith(".") else "."
                origin = f"{module}{sep}{alias.name}"
                local = alias.asname or alias.name
                names.imports[local] = origin
                names.add(local, Binding(stmt.lineno, "import", origin, type_checking))
        elif isinstance(stmt, ast.Delete):
            names.deleted.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
        elif isinstance(stmt, ast.ClassDef):
            end = stmt.end_lineno or stmt.lineno
            names.add(stmt.name, Binding(end, "class", None, type_checking))
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(stmt.name, Binding(stmt.lineno, "function", None, type_checking))
        else:
            for name in header_bindings(stmt):
                names.add(name, Binding(stmt.lineno, "other", None, type_checking))
    for stmt in every_statement(tree.body):
        if isinstance(stmt, ast.Global):
            for name in stmt.names:
                names.add(name, Binding(_NEVER, "global", None, False))
    return names
