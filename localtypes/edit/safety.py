"""The checks every edit passes before it may replace a file.

1. The new source compiles.
2. Annotations: every annotation of the old module is still there, unchanged, and the only
   new ones are those the writer reports, with the text it meant to write.
3. With all annotations and the added imports removed, old and new ASTs are identical.
4. Every name an added annotation uses resolves (pyflakes' undefined-name check; names
   that were already undefined in the old module do not count against the edit).

A failure is a bug in the writer: it raises ``UnsafeEditError`` and the file stays as it was.
"""

from __future__ import annotations

import ast
import functools
import warnings
from collections import Counter
from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Sequence, Set, Tuple

from localtypes.analysis.slots import SlotKind
from localtypes.edit.plan import ImportSpec, Target
from localtypes.edit.stdtypes import BUILTIN_NAMES
from localtypes.errors import LocaltypesError, SourceError
from localtypes.module import ModuleIndex, ScopeKey
from localtypes.syntax import compile_tree, parameters
from localtypes.syntax import parse as parse_ast

# (scope, what, name, ordinal): what is "param", "return" or "var" (then name is the target)
AnnotationKey = Tuple[ScopeKey, str, str, int]


class UnsafeEditError(LocaltypesError):
    """The writer produced an edit that breaks a safety rule; nothing was written."""


def check_edit(
    old_tree: ast.Module,
    new_source: str,
    added: Dict[Target, str],
    imports: Sequence[ImportSpec],
    names: Iterable[str],
    filename: str = "<unknown>",
) -> None:
    """Raise ``UnsafeEditError`` unless ``new_source`` is ``old_tree`` plus exactly ``added``.

    ``added`` maps each written target to its annotation text; ``imports`` are the imports
    the writer added; ``names`` are the names the added annotations use. ``old_tree`` is
    modified (annotations stripped).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the user's SyntaxWarnings are not ours to print
            new_tree = parse_ast(new_source)
            compile_tree(new_tree, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        if not _compiles(old_tree, filename):  # it parsed, but never was valid Python
            raise SourceError(f"does not compile: {exc}") from None
        raise UnsafeEditError(f"the annotated source does not compile: {exc}") from None
    _check_annotations(old_tree, new_tree, added)
    # Names the added imports bind sit at the top of the module: pyflakes has nothing to add.
    _check_names(old_tree, new_tree, set(names) - {spec.local for spec in imports}, filename)
    if not equal_modulo_annotations(old_tree, _remove_imports(new_tree, imports)):
        raise UnsafeEditError("the edit changes more than annotations and imports")


def _compiles(tree: ast.Module, filename: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile_tree(tree, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


# --- annotations ---------------------------------------------------------------------------


def target_key(target: Target) -> AnnotationKey:
    """The annotation key a written target shows up under in ``annotation_map``."""
    if target.kind is SlotKind.VARIABLE:
        owner, dot, attribute = target.name.partition(".")
        if dot:  # ``self.x``: keyed by the target's dump, as ``annotation_map`` does
            node = ast.Attribute(ast.Name(owner, ast.Load()), attribute, ast.Store())
            return (target.scope, "var", ast.dump(node), 0)
        return (target.scope, "var", target.name, 0)
    return (target.scope, target.kind.value, target.name, 0)


def annotation_map(tree: ast.Module) -> Dict[AnnotationKey, str]:
    """Every annotation of a module, keyed by where it is, as an ``ast.dump``."""
    found: Dict[AnnotationKey, str] = {}
    for scope in ModuleIndex(tree, "").scopes.values():
        nth: Counter[str] = Counter()
        for stmt in scope.statements:
            if isinstance(stmt, ast.AnnAssign):
                target = stmt.target
                name = target.id if isinstance(target, ast.Name) else ast.dump(target)
                found[(scope.key, "var", name, nth[name])] = ast.dump(stmt.annotation)
                nth[name] += 1
        node = scope.node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for parameter in parameters(node.args):
                if parameter.arg.annotation is not None:
                    key = (scope.key, "param", parameter.arg.arg, 0)
                    found[key] = ast.dump(parameter.arg.annotation)
            if node.returns is not None:
                found[(scope.key, "return", "return", 0)] = ast.dump(node.returns)
    return found


def _check_annotations(
    old_tree: ast.Module, new_tree: ast.Module, added: Dict[Target, str]
) -> None:
    old = annotation_map(old_tree)
    new = annotation_map(new_tree)
    for key, dump in old.items():
        if new.get(key) != dump:
            raise UnsafeEditError(f"an existing annotation changed or moved: {_describe(key)}")
    expected = {target_key(target): text for target, text in added.items()}
    for key in new.keys() - old.keys():
        text = expected.get(key)
        if text is None:
            raise UnsafeEditError(
                f"an annotation appeared that was not asked for: {_describe(key)}"
            )
        if new[key] != _expression_dump(text):
            raise UnsafeEditError(f"the annotation written differs from the plan: {_describe(key)}")
    missing = expected.keys() - new.keys()
    if missing:
        raise UnsafeEditError(f"a reported annotation is missing: {_describe(min(missing))}")


@functools.lru_cache(maxsize=8192)
def _expression_dump(text: str) -> str:
    return ast.dump(parse_ast(text, mode="eval").body)


def _describe(key: AnnotationKey) -> str:
    scope, what, name, _ = key
    where = scope.qualname or "<module>"
    return f"{what} {name} of {where}" if what != "return" else f"return of {where}"


# --- names ---------------------------------------------------------------------------------


def undefined_names(tree: ast.Module, filename: str) -> Counter[str]:
    """How many times each undefined name is used (pyflakes' scope analysis)."""
    from pyflakes import checker, messages  # type: ignore[import-untyped]

    found: Counter[str] = Counter()
    stub = filename.endswith(".pyi")
    if stub:  # stubs are never run: check them as if annotations were postponed
        future = ast.ImportFrom("__future__", [ast.alias("annotations")], 0)
        tree.body.insert(0, ast.copy_location(future, ast.Pass(lineno=1, col_offset=0)))
    try:
        for message in checker.Checker(tree, filename=filename).messages:
            if isinstance(message, messages.UndefinedName):
                found[str(message.message_args[0])] += 1
    finally:
        if stub:
            del tree.body[0]
    return found


def _check_names(
    old_tree: ast.Module, new_tree: ast.Module, names: Set[str], filename: str
) -> None:
    if not names - BUILTIN_NAMES:
        return  # builtins always resolve for pyflakes: nothing it could catch
    new = undefined_names(new_tree, filename)
    suspects = {name for name in names if new[name]}
    if not suspects:
        return
    old = undefined_names(old_tree, filename)
    broken = sorted(name for name in suspects if new[name] > old[name])
    if broken:
        raise UnsafeEditError(f"added annotations use undefined names: {', '.join(broken)}")


# --- comparing modulo annotations ----------------------------------------------------------


_SKIPPED_FIELDS: Dict[type, FrozenSet[str]] = {
    ast.arg: frozenset({"annotation", "type_comment"}),
    ast.FunctionDef: frozenset({"returns", "type_comment"}),
    ast.AsyncFunctionDef: frozenset({"returns", "type_comment"}),
    ast.Assign: frozenset({"type_comment"}),
}


def equal_modulo_annotations(old: ast.AST, new: ast.AST) -> bool:
    """Whether two trees are the same once every annotation is removed.

    ``x: T = v`` reads as ``x = v``; a bare ``x: T`` only equals another bare one. Written
    as one flat loop: it visits every node of both trees, on every file written.
    """
    stack: List[Tuple[Any, Any]] = [(old, new)]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        left, right = pop()
        kind = type(left)
        if kind is not type(right):
            assign = _as_assign(left) if kind is ast.AnnAssign else left
            other = _as_assign(right) if type(right) is ast.AnnAssign else right
            if type(assign) is not ast.Assign or type(other) is not ast.Assign:
                return False
            extend(((assign.targets, other.targets), (assign.value, other.value)))
        elif kind is list:
            if len(left) != len(right):
                return False
            extend(zip(left, right))
        elif kind is ast.AnnAssign:
            if (left.value is None) != (right.value is None):
                return False
            if left.value is not None:
                extend(((left.target, right.target), (left.value, right.value)))
        elif isinstance(left, ast.AST):
            skipped = _SKIPPED_FIELDS.get(kind)
            for name in left._fields:
                if skipped is None or name not in skipped:
                    push((getattr(left, name, None), getattr(right, name, None)))
        elif left != right:
            return False
    return True


def _as_assign(node: ast.AnnAssign) -> Optional[ast.Assign]:
    """``x: T = v`` as the ``x = v`` it becomes without its annotation (None for ``x: T``)."""
    if node.value is None:
        return None
    return ast.Assign(targets=[node.target], value=node.value)


def _remove_imports(tree: ast.Module, imports: Sequence[ImportSpec]) -> ast.Module:
    """Drop one top-level alias per added import (and statements left empty)."""
    wanted = list(imports)
    body: List[ast.stmt] = []
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            kept = [alias for alias in stmt.names if not _take(stmt, alias, wanted)]
            if not kept:
                continue
            stmt.names = kept
        body.append(stmt)
    if wanted:
        raise UnsafeEditError(f"an added import is missing: {wanted[0].module}")
    tree.body = body
    return tree


def _take(stmt: ast.Import | ast.ImportFrom, alias: ast.alias, wanted: List[ImportSpec]) -> bool:
    spec: Optional[ImportSpec] = None
    if alias.asname is not None:
        return False
    if isinstance(stmt, ast.Import):
        spec = ImportSpec(alias.name)
    elif stmt.level == 0 and stmt.module:
        spec = ImportSpec(stmt.module, alias.name)
    if spec is not None and spec in wanted:
        wanted.remove(spec)
        return True
    return False
