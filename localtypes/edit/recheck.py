"""Check an annotated output that the writer did not just produce (a cache entry, say).

``check_edit`` is told by the writer what it added; an output read from elsewhere tells
nothing, so this module works out what was added from the two sources themselves, holds
it to what the writer could ever add, then runs the writer's own checks on it:

1. Text: the original is a subsequence of the output (the writer only inserts), and both
   have the same comments (so no ``# noqa``, ``# nosec``, ``# type:`` comment, shebang or
   coding cookie is added or changed; ASTs do not see comments).
2. Annotations: each new one is on a parameter, a return, or a variable the writer may
   annotate (not a dunder, and in a class body only of a plain class: in a dataclass an
   annotation makes a field), of the kinds asked for, or is a companion of any kind asked
   (``x: list = []``, ``self.x: dict = {}`` in a function: ``localtypes.edit.companions``),
   and is a type expression: names,
   dotted names, subscripts, ``|``, literals, and strings holding the same (no call,
   lambda, walrus, comprehension...: nothing that runs code when it is evaluated).
3. Imports: each new top-level import is one the writer adds (``typing`` and its names, the
   standard-library types of ``localtypes.edit.stdtypes.KNOWN_STDLIB``), without ``as``.
4. Skip comments: no new annotation where ``# localtypes: skip`` or ``skip-file`` says no
   (``localtypes.edit.skips``).
5. ``localtypes.edit.safety.check_edit`` with what was found: the output compiles, the old
   annotations are intact, the names used resolve, and with annotations and those imports
   removed the two modules are the same.

Any failure raises ``UnsafeEditError``.
"""

from __future__ import annotations

import ast
import io
import tokenize
import warnings
from collections import Counter
from typing import Dict, FrozenSet, Iterable, List, Optional, Set, Tuple

from localtypes.analysis.slots import SlotKind
from localtypes.edit.companions import empty_container
from localtypes.edit.plan import COMPANION, ImportSpec, Target
from localtypes.edit.safety import UnsafeEditError, check_edit
from localtypes.edit.skips import find_skips
from localtypes.edit.stdtypes import KNOWN_STDLIB
from localtypes.module import CLASS, FUNCTION, ModuleIndex, ScopeKey
from localtypes.syntax import dotted_name, parameters, parse_source
from localtypes.syntax import parse as parse_ast

_KINDS = {"param": SlotKind.PARAM, "return": SlotKind.RETURN, "var": SlotKind.VARIABLE}
_STDLIB_MODULES = frozenset(name.rpartition(".")[0] for name in KNOWN_STDLIB)
# Strings in annotations are forward references, evaluated by typing.get_type_hints: they
# are checked like the rest, down to this many quotes deep.
_MAX_QUOTING = 2
_BLOCK = 64  # characters compared at once while the texts agree

AnnotationNodes = Dict[Tuple[ScopeKey, str, str, int], ast.expr]


def check_output(
    original: str,
    new: str,
    filename: str = "<unknown>",
    kinds: Optional[Iterable[SlotKind]] = None,
) -> Dict[str, int]:
    """Raise ``UnsafeEditError`` unless ``new`` is ``original`` plus annotations (and the
    imports they need) that the writer could have written; ``SourceError`` when
    ``original`` does not parse. Returns how many annotations were added by kind
    (``"param"``, ``"return"``, ``"variable"``)."""
    if not _only_insertions(original, new):
        raise UnsafeEditError("the output deletes or replaces text of the original")
    if _comments(original) != _comments(new):
        raise UnsafeEditError("the output adds or changes comments")
    old_tree = parse_source(original)
    try:
        new_tree = parse_source(new)
    except Exception as exc:
        raise UnsafeEditError(f"the output does not parse: {exc}") from None
    allowed = frozenset(kinds) if kinds is not None else frozenset(SlotKind)
    old_nodes = _annotations(ModuleIndex(old_tree, original))
    index = ModuleIndex(new_tree, new)
    skips = find_skips(new, new_tree)  # the same comments (checked above), on new lines
    added: Dict[Target, str] = {}
    counted: Counter[str] = Counter()
    names: Set[str] = set()
    companions = _companion_shaped(index)
    for key, node in _annotations(index).items():
        if key in old_nodes:
            continue  # check_edit holds old annotations to be unchanged
        if skips and (skips.file or node.lineno in skips.lines):
            raise UnsafeEditError(
                f"an annotation where a '# localtypes: skip' comment says no (line {node.lineno})"
            )
        companion = companions.get(key)
        if companion is not None:
            target = Target(SlotKind.VARIABLE, key[0], companion)
            counted[COMPANION] += 1
        else:
            target = _target(key, allowed, index)
            counted[target.kind.value] += 1
        added[target] = ast.unparse(node)
        names.update(_type_expression_names(node, 0))
    imports = _added_imports(old_tree, new_tree)
    check_edit(old_tree, new, added, imports, names, filename)
    return dict(counted)


# --- text ----------------------------------------------------------------------------------


def _only_insertions(old: str, new: str) -> bool:
    """Whether ``old`` is a subsequence of ``new`` (greedy matching, equal blocks at once)."""
    i = j = 0
    n, m = len(old), len(new)
    while i < n:
        if m - j < n - i:
            return False
        while i + _BLOCK <= n and old[i : i + _BLOCK] == new[j : j + _BLOCK]:
            i += _BLOCK
            j += _BLOCK
        for char in old[i : i + _BLOCK]:
            j = new.find(char, j) + 1
            if j == 0:
                return False
            i += 1
    return True


def _comments(source: str) -> List[str]:
    """Every comment of ``source``, in order (``UnsafeEditError`` if it does not tokenize)."""
    readline = io.StringIO(source, newline="").readline
    try:
        return [
            token.string
            for token in tokenize.generate_tokens(readline)
            if token.type == tokenize.COMMENT
        ]
    except (tokenize.TokenError, SyntaxError) as exc:
        raise UnsafeEditError(f"cannot tokenize: {exc}") from None


# --- annotations ---------------------------------------------------------------------------


def _annotations(index: ModuleIndex) -> AnnotationNodes:
    """Every annotation of a module by where it is (``safety.annotation_map``'s keys)."""
    found: AnnotationNodes = {}
    for scope in index.scopes.values():
        nth: Counter[str] = Counter()
        for stmt in scope.statements:
            if isinstance(stmt, ast.AnnAssign):
                target = stmt.target
                name = target.id if isinstance(target, ast.Name) else ast.dump(target)
                found[(scope.key, "var", name, nth[name])] = stmt.annotation
                nth[name] += 1
        node = scope.node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for parameter in parameters(node.args):
                if parameter.arg.annotation is not None:
                    found[(scope.key, "param", parameter.arg.arg, 0)] = parameter.arg.annotation
            if node.returns is not None:
                found[(scope.key, "return", "return", 0)] = node.returns
    return found


def _companion_shaped(index: ModuleIndex) -> Dict[Tuple[ScopeKey, str, str, int], str]:
    """The annotations of a function that read like a companion (``x: list = []``,
    ``self.x: dict = {}``): their keys, to the target as the writer names it."""
    found: Dict[Tuple[ScopeKey, str, str, int], str] = {}
    for scope in index.scopes.values():
        if scope.key.kind != FUNCTION:
            continue
        nth: Counter[str] = Counter()
        for stmt in scope.statements:
            if not isinstance(stmt, ast.AnnAssign):
                continue
            target = stmt.target
            name = target.id if isinstance(target, ast.Name) else ast.dump(target)
            key = (scope.key, "var", name, nth[name])
            nth[name] += 1
            if key[3] or stmt.value is None or not isinstance(stmt.annotation, ast.Name):
                continue
            if empty_container(stmt.value, scope.bindings, index) != stmt.annotation.id:
                continue
            if isinstance(target, ast.Name):
                found[key] = target.id
            elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                found[key] = f"{target.value.id}.{target.attr}"
    return found


def _target(
    key: Tuple[ScopeKey, str, str, int], allowed: FrozenSet[SlotKind], index: ModuleIndex
) -> Target:
    """The writer's target for a new annotation, or ``UnsafeEditError`` if it has none."""
    scope, what, name, nth = key
    kind = _KINDS[what]
    where = f"{what} {name} of {scope.qualname or '<module>'}"
    if kind not in allowed:
        raise UnsafeEditError(f"an annotation of a kind not asked for: {where}")
    if kind is SlotKind.VARIABLE and (
        nth
        or not name.isidentifier()
        or (name.startswith("__") and name.endswith("__"))
        or (scope.kind == CLASS and not _plain_class(index.scopes[scope].node))
    ):
        raise UnsafeEditError(f"an annotation the writer never adds: {where}")
    return Target(kind, scope, name)


def _plain_class(node: ast.AST) -> bool:
    """A class whose annotations make nothing (no decorator, keyword or base but object)."""
    return (
        isinstance(node, ast.ClassDef)
        and not node.decorator_list
        and not node.keywords
        and all(isinstance(base, ast.Name) and base.id == "object" for base in node.bases)
    )


def _type_expression_names(node: ast.expr, quoting: int) -> Set[str]:
    """The first names of the dotted names ``node`` uses; ``UnsafeEditError`` unless it is
    a type expression the writer could spell (nothing in it runs code when evaluated)."""
    names: Set[str] = set()
    stack: List[Tuple[ast.expr, bool]] = [(node, False)]  # (node, a value of Literal[...])
    while stack:
        item, literal = stack.pop()
        if isinstance(item, ast.Constant):
            if isinstance(item.value, str) and not literal:
                names |= _quoted_names(item.value, quoting)
            elif not (item.value is None or item.value is Ellipsis) and not isinstance(
                item.value, (str, bytes, int)
            ):
                raise UnsafeEditError(f"not a type expression: {ast.unparse(item)[:60]}")
            continue
        dotted = dotted_name(item)
        if dotted is not None:
            names.add(dotted.split(".")[0])
        elif isinstance(item, ast.Subscript):
            head = dotted_name(item.value)
            if head is None:
                raise UnsafeEditError(f"not a type expression: {ast.unparse(item)[:60]}")
            names.add(head.split(".")[0])
            values = item.slice.elts if isinstance(item.slice, ast.Tuple) else [item.slice]
            is_literal = head.rpartition(".")[2] == "Literal"
            stack.extend((value, is_literal) for value in values)
        elif isinstance(item, (ast.Tuple, ast.List)):
            stack.extend((element, literal) for element in item.elts)
        elif isinstance(item, ast.BinOp) and isinstance(item.op, ast.BitOr):
            stack.extend(((item.left, literal), (item.right, literal)))
        elif (
            isinstance(item, ast.UnaryOp)
            and isinstance(item.op, ast.USub)
            and isinstance(item.operand, ast.Constant)
            and type(item.operand.value) is int
        ):
            continue
        else:
            raise UnsafeEditError(f"not a type expression: {ast.unparse(item)[:60]}")
    return names


def _quoted_names(text: str, quoting: int) -> Set[str]:
    if quoting >= _MAX_QUOTING:
        raise UnsafeEditError("an annotation quoted too deeply")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expression = parse_ast(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError):
        raise UnsafeEditError(
            f"a quoted annotation that is not an expression: {text[:60]!r}"
        ) from None
    return _type_expression_names(expression, quoting + 1)


# --- imports -------------------------------------------------------------------------------


def _import_aliases(tree: ast.Module) -> Counter[Tuple[str, str, Optional[str]]]:
    """Top-level imports as (module or "", name, as-name), ``from`` imports with a module."""
    found: Counter[Tuple[str, str, Optional[str]]] = Counter()
    for stmt in tree.body:
        if isinstance(stmt, ast.Import):
            found.update(("", alias.name, alias.asname) for alias in stmt.names)
        elif isinstance(stmt, ast.ImportFrom):
            module = "." * stmt.level + (stmt.module or "")
            found.update((module, alias.name, alias.asname) for alias in stmt.names)
    return found


def _added_imports(old: ast.Module, new: ast.Module) -> List[ImportSpec]:
    """The imports ``new`` adds at the top level, each one the writer may add."""
    specs: List[ImportSpec] = []
    for (module, name, asname), count in (_import_aliases(new) - _import_aliases(old)).items():
        if module:
            spec = ImportSpec(module, name)
            allowed = module == "typing" or f"{module}.{name}" in KNOWN_STDLIB
        else:
            spec = ImportSpec(name)
            allowed = name == "typing" or name in _STDLIB_MODULES
        if asname is not None or not name.replace(".", "_").isidentifier() or not allowed:
            shown = f"from {module} import {name}" if module else f"import {name}"
            raise UnsafeEditError(f"an import the writer never adds: {shown}")
        specs.extend([spec] * count)
    return specs
