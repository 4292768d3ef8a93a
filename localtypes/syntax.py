"""The syntax layer every part shares: one parse, one statement walker, one parameter iterator.

Everything above it (the module index, slot extraction, the writer and its safety checks)
reads Python through these functions, so that two parts never disagree about which
statements a scope holds or in which order parameters come.

``ast.parse`` and ``compile`` run behind one lock: CPython 3.11's converter between C and
Python syntax trees keeps its recursion depth in state shared by all threads, and two
threads parsing at once (the service's workers) can corrupt it and fail with "AST
constructor recursion depth mismatch". Parsing holds the GIL anyway, so serialising it
costs the service nothing measurable.
"""

from __future__ import annotations

import ast
import threading
import warnings
from types import CodeType
from typing import Dict, Iterator, List, Literal, NamedTuple, Optional, Tuple, Union, overload

from localtypes.errors import SourceError

FunctionNode = Union[ast.FunctionDef, ast.AsyncFunctionDef]
ScopeNode = Union[ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef]
# Statements that open a scope of their own: walkers list them but do not enter them.
NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
NESTED_SCOPE_TYPES = frozenset(NESTED_SCOPES)

AST_LOCK = threading.RLock()


# --- parsing -------------------------------------------------------------------------------


@overload
def parse(source: str, mode: Literal["exec"] = "exec") -> ast.Module: ...
@overload
def parse(source: str, mode: Literal["eval"]) -> ast.Expression: ...
def parse(source: str, mode: str = "exec") -> ast.AST:
    """``ast.parse`` under the shared lock."""
    with AST_LOCK:
        return ast.parse(source, mode=mode)


def compile_tree(tree: ast.Module, filename: str, mode: str = "exec", **kwargs: bool) -> CodeType:
    """``compile`` of a module's syntax tree under the shared lock."""
    with AST_LOCK:
        return compile(tree, filename, mode, **kwargs)


def parse_source(source: str) -> ast.Module:
    """Parse user code: ``SourceError`` (with line and column) when it is not valid Python."""
    try:
        with warnings.catch_warnings():
            # Invalid escape sequences and the like are the user's business, not ours to print.
            warnings.simplefilter("ignore")
            return parse(source)
    except SyntaxError as exc:
        raise SourceError(f"invalid syntax: {exc.msg}", exc.lineno, exc.offset) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        reason = str(exc) or "nested too deeply"  # RecursionError and MemoryError say nothing
        raise SourceError(f"cannot parse: {reason}") from None


def dotted_name(node: ast.expr) -> Optional[str]:
    """``a.b.c`` for a chain of attributes on a name, else None."""
    parts: List[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


# --- statements ----------------------------------------------------------------------------

# Per statement type, its fields that hold blocks of statements, in the order visited.
_BLOCK_FIELDS: Dict[type, Tuple[str, ...]] = {}
_HANDLER_FIELDS = frozenset({"handlers", "cases"})  # lists of handlers/cases with a body


def child_blocks(stmt: ast.stmt) -> Iterator[List[ast.stmt]]:
    """The blocks nested in a statement, in source order: ``body``, each ``except``
    handler's and ``case``'s body, ``orelse``, ``finalbody``. A def or class's body too:
    callers that stay in one scope check ``NESTED_SCOPES`` first."""
    cls = type(stmt)
    fields = _BLOCK_FIELDS.get(cls)
    if fields is None:
        fields = _BLOCK_FIELDS[cls] = tuple(
            f
            for f in ("body", "handlers", "cases", "orelse", "finalbody")
            if f in getattr(cls, "_fields", ())
        )
    for field in fields:
        value = getattr(stmt, field, None) or []
        if field in _HANDLER_FIELDS:
            for handler in value:
                yield handler.body
        else:
            yield value


def scope_statements(body: List[ast.stmt]) -> List[ast.stmt]:
    """Statements of one scope at any block depth, without entering nested scopes.

    Pre-order, in source order: a statement, then the blocks ``child_blocks`` gives. Nested
    defs and classes are listed (they bind a name here) but not entered.
    """
    out: List[ast.stmt] = []

    def visit(statements: List[ast.stmt]) -> None:
        for stmt in statements:
            out.append(stmt)
            if type(stmt) not in NESTED_SCOPE_TYPES:
                for block in child_blocks(stmt):
                    visit(block)

    visit(body)
    return out


def every_statement(body: List[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement, nested scopes included, in source order (pre-order)."""
    for stmt in body:
        yield stmt
        for block in child_blocks(stmt):
            yield from every_statement(block)


# --- parameters ----------------------------------------------------------------------------


class Parameter(NamedTuple):
    """One parameter of a ``def``: its node, its kind and its default expression."""

    arg: ast.arg
    kind: str  # "posonly", "positional", "vararg", "kwonly" or "kwarg"
    default: Optional[ast.expr]


def parameters(arguments: ast.arguments) -> Iterator[Parameter]:
    """Every parameter of a signature, in source order, with its default."""
    positional = [*arguments.posonlyargs, *arguments.args]
    defaults: List[Optional[ast.expr]] = [None] * (len(positional) - len(arguments.defaults))
    defaults.extend(arguments.defaults)
    posonly = len(arguments.posonlyargs)
    for index, (arg, default) in enumerate(zip(positional, defaults)):
        yield Parameter(arg, "posonly" if index < posonly else "positional", default)
    if arguments.vararg:
        yield Parameter(arguments.vararg, "vararg", None)
    for arg, kw_default in zip(arguments.kwonlyargs, arguments.kw_defaults):
        yield Parameter(arg, "kwonly", kw_default)
    if arguments.kwarg:
        yield Parameter(arguments.kwarg, "kwarg", None)


# --- names a statement binds ---------------------------------------------------------------


def statement_bindings(stmt: ast.stmt) -> Iterator[str]:
    """Names a statement binds in its own scope (nested blocks included, nested scopes not)."""
    stack: List[ast.AST] = [stmt]
    while stack:
        item = stack.pop()
        if isinstance(item, NESTED_SCOPES):
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
        else:
            other = _pattern_binding(item)
            if other:
                yield other
        stack.extend(ast.iter_child_nodes(item))


def header_bindings(stmt: ast.stmt) -> Iterator[str]:
    """Names bound by a statement itself, not by the blocks nested in it."""
    nested = {id(s) for block in child_blocks(stmt) for s in block}
    stack: List[ast.AST] = [stmt]
    while stack:
        item = stack.pop()
        if id(item) in nested:
            continue
        if isinstance(item, ast.Name) and isinstance(item.ctx, (ast.Store, ast.Del)):
            yield item.id
        elif _pattern_binding(item):
            yield _pattern_binding(item) or ""
        elif isinstance(item, ast.Lambda):
            continue
        stack.extend(ast.iter_child_nodes(item))


def _pattern_binding(item: ast.AST) -> Optional[str]:
    """The name an except clause or a match pattern binds, if any."""
    if isinstance(item, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)):
        return item.name
    if isinstance(item, ast.MatchMapping):
        return item.rest
    return None


# --- every node ----------------------------------------------------------------------------

# Fields that never hold a child worth visiting: identifiers, flags, and the shared
# context/operator singletons (``Load()``, ``Add()``), which no feature looks at. Skipping
# them, and iterating fields without ``ast.iter_child_nodes``'s generators, makes walks
# over every node of every function about twice as fast. (Not "name": a string almost
# everywhere, but a ``Name`` node in 3.12's ``type X = ...``.)
_LEAF_FIELDS = frozenset(
    {
        "ctx", "op", "ops", "id", "attr", "arg", "asname", "module", "level", "conversion",
        "simple", "is_async", "kind", "tag", "lineno", "type_comment", "kwd_attrs", "n", "s",
    }
)  # fmt: skip
_CHILD_FIELDS: Dict[type, Tuple[str, ...]] = {ast.Constant: ()}  # a constant has no children


def child_fields(cls: type) -> Tuple[str, ...]:
    """The fields of node type ``cls`` that can hold child nodes, in ``_fields`` order."""
    fields = _CHILD_FIELDS.get(cls)
    if fields is None:
        fields = tuple(f for f in getattr(cls, "_fields", ()) if f not in _LEAF_FIELDS)
        _CHILD_FIELDS[cls] = fields
    return fields


def walk_nodes(node: ast.AST) -> List[ast.AST]:
    """``list(ast.walk(node))`` in the same (breadth-first) order, less the leaf singletons."""
    nodes = [node]
    AST, fields_of = ast.AST, _CHILD_FIELDS
    for node in nodes:  # appending while iterating: a queue
        fields = fields_of.get(type(node))
        if fields is None:
            fields = child_fields(type(node))
        for field in fields:
            value = getattr(node, field, None)
            if type(value) is list:
                for item in value:
                    if isinstance(item, AST):
                        nodes.append(item)
            elif isinstance(value, AST):
                nodes.append(value)
    return nodes
