"""Write chosen annotations and their imports into source text, keeping every other byte.

A libcst transformer finds each target by the key ``choose`` computed from the ``ast``
(scope kind, qualified name, occurrence, name, ordinal), counting definitions in source
order exactly as ``localtypes.scopes`` does. Lambdas are never touched (their parameters
are not reached: only ``def`` signatures are rewritten), nor is any existing annotation.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, List, Mapping, Sequence, Set, Tuple, Union

import libcst as cst

from localtypes.choose import Edit, ImportSpec, Target
from localtypes.errors import SourceError
from localtypes.scopes import CLASS, FUNCTION, MODULE, ScopeKey
from localtypes.slots import SlotKind

_SPACE = cst.SimpleWhitespace(" ")
# Nodes that may hold a scope or a statement to annotate; the walk stops at anything else.
_DESCEND = (
    cst.Module,
    cst.IndentedBlock,
    cst.SimpleStatementSuite,
    cst.If,
    cst.Else,
    cst.For,
    cst.While,
    cst.With,
    cst.Try,
    cst.TryStar,
    cst.ExceptHandler,
    cst.ExceptStarHandler,
    cst.Finally,
    cst.Match,
    cst.MatchCase,
)


@dataclass(frozen=True)
class Applied:
    """The new source, the targets that were written and the imports added for them."""

    source: str
    written: FrozenSet[Target]
    imports: Tuple[ImportSpec, ...]


def apply_annotations(source: str, edits: Mapping[Target, Edit]) -> Applied:
    """Write each edit's annotation, and the imports of those written, into ``source``.

    Raises ``SourceError`` when libcst cannot parse the source.
    """
    if not edits:
        return Applied(source, frozenset(), ())
    # libcst drops the last line ending of a file that uses old Mac line endings only.
    lone_cr = "\r" in source and "\n" not in source
    text = source.replace("\r", "\n") if lone_cr else source
    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError as exc:
        raise SourceError(f"invalid syntax: {exc.message}", exc.raw_line, exc.raw_column) from None
    except (RecursionError, MemoryError):
        raise SourceError("cannot parse: nested too deeply") from None
    if "\r" in text and module.code != text:
        raise SourceError("line endings that the concrete syntax tree cannot keep")
    writer = _Writer({target: edit.text for target, edit in edits.items()})
    try:
        updated = module.visit(writer)
    except RecursionError:
        raise SourceError("cannot rewrite: nested too deeply") from None
    written = frozenset(writer.written)
    # Only the imports of annotations actually written.
    imports = tuple(
        dict.fromkeys(spec for target in sorted_targets(written) for spec in edits[target].imports)
    )
    updated = _add_imports(updated, imports)
    new = updated.code
    if lone_cr:
        new = new.replace("\n", "\r")
    return Applied(new, written, imports)


def sorted_targets(targets: FrozenSet[Target]) -> List[Target]:
    """Targets in a stable order (for deterministic import lists)."""
    return sorted(
        targets,
        key=lambda t: (
            t.scope.qualname,
            t.scope.kind,
            t.scope.occurrence,
            t.kind.value,
            t.name,
            t.ordinal,
        ),
    )


class _Writer(cst.CSTTransformer):
    """Annotates parameters, returns and first assignments found by their ``Target``."""

    def __init__(self, annotations: Mapping[Target, str]) -> None:
        super().__init__()
        self.annotations = annotations
        self.written: Set[Target] = set()
        self.stack: List[ScopeKey] = [ScopeKey(MODULE, "", 0)]
        self.ordinals: List[Dict[str, int]] = [{}]
        self.counters: Dict[Tuple[str, str], int] = {}
        # Only scopes on the way to a target are entered, and statements are looked into
        # only in scopes with a variable to annotate: most of a module is never visited.
        self.needed: Set[str] = {""}
        for target in annotations:
            parts = target.scope.qualname.split(".")
            self.needed.update(".".join(parts[:end]) for end in range(1, len(parts) + 1))
        self.variable_scopes = {t.scope for t in annotations if t.kind is SlotKind.VARIABLE}

    # -- dispatch (faster than libcst's per-node getattr, and prunes the walk) --

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            kind = CLASS if isinstance(node, cst.ClassDef) else FUNCTION
            self._enter(kind, node.name.value)
            return self.stack[-1].qualname in self.needed
        if isinstance(node, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            return self.stack[-1] in self.variable_scopes
        return isinstance(node, _DESCEND)

    def on_leave(self, original_node: cst.CSTNodeT, updated_node: cst.CSTNodeT) -> Any:
        if isinstance(updated_node, cst.FunctionDef):
            return self._leave_function(updated_node)
        if isinstance(updated_node, cst.ClassDef):
            self._leave()
        elif isinstance(updated_node, cst.Assign):
            return self._leave_assign(updated_node)
        return updated_node

    # -- scopes --

    def _enter(self, kind: str, name: str) -> None:
        parent = self.stack[-1].qualname
        qualname = f"{parent}.{name}" if parent else name
        occurrence = self.counters.get((kind, qualname), 0)
        self.counters[(kind, qualname)] = occurrence + 1
        self.stack.append(ScopeKey(kind, qualname, occurrence))
        self.ordinals.append({})

    def _leave(self) -> ScopeKey:
        self.ordinals.pop()
        return self.stack.pop()

    def _leave_function(self, updated_node: cst.FunctionDef) -> cst.FunctionDef:
        key = self._leave()
        params = updated_node.params
        star_arg = params.star_arg
        if isinstance(star_arg, cst.Param):
            star_arg = self._param(key, star_arg)
        star_kwarg = params.star_kwarg
        if star_kwarg is not None:
            star_kwarg = self._param(key, star_kwarg)
        new_params = params.with_changes(
            posonly_params=[self._param(key, p) for p in params.posonly_params],
            params=[self._param(key, p) for p in params.params],
            kwonly_params=[self._param(key, p) for p in params.kwonly_params],
            star_arg=star_arg,
            star_kwarg=star_kwarg,
        )
        returns = updated_node.returns
        target = Target(SlotKind.RETURN, key, "return")
        if returns is None and target in self.annotations:
            returns = cst.Annotation(_expression(self.annotations[target]))
            self.written.add(target)
        return updated_node.with_changes(params=new_params, returns=returns)

    def _param(self, key: ScopeKey, param: cst.Param) -> cst.Param:
        target = Target(SlotKind.PARAM, key, param.name.value)
        if param.annotation is not None or target not in self.annotations:
            return param
        self.written.add(target)
        changes: Dict[str, object] = {
            "annotation": cst.Annotation(_expression(self.annotations[target]))
        }
        equal = param.equal
        # PEP 8: ``x=1`` becomes ``x: int = 1`` once annotated; other spacing is kept.
        if (
            param.default is not None
            and isinstance(equal, cst.AssignEqual)
            and _empty(equal.whitespace_before)
            and _empty(equal.whitespace_after)
        ):
            changes["equal"] = cst.AssignEqual(whitespace_before=_SPACE, whitespace_after=_SPACE)
        return param.with_changes(**changes)

    # -- variables --

    def _leave_assign(self, updated_node: cst.Assign) -> Union[cst.Assign, cst.AnnAssign]:
        if len(updated_node.targets) != 1:
            return updated_node
        assign_target = updated_node.targets[0]
        name = assign_target.target
        if not isinstance(name, cst.Name):
            return updated_node
        ordinals = self.ordinals[-1]
        ordinal = ordinals.get(name.value, 0)
        ordinals[name.value] = ordinal + 1
        target = Target(SlotKind.VARIABLE, self.stack[-1], name.value, ordinal)
        if target not in self.annotations:
            return updated_node
        self.written.add(target)
        return cst.AnnAssign(
            target=name,
            annotation=cst.Annotation(_expression(self.annotations[target])),
            value=updated_node.value,
            equal=cst.AssignEqual(
                whitespace_before=assign_target.whitespace_before_equal,
                whitespace_after=assign_target.whitespace_after_equal,
            ),
            semicolon=updated_node.semicolon,
        )


def _empty(whitespace: cst.BaseParenthesizableWhitespace) -> bool:
    return isinstance(whitespace, cst.SimpleWhitespace) and whitespace.value == ""


@functools.lru_cache(maxsize=4096)
def _expression(text: str) -> cst.BaseExpression:
    # Nodes are immutable, so one parsed annotation can be shared by every place using it.
    return cst.parse_expression(text)


# --- imports ---------------------------------------------------------------------------------


def _is_docstring(statement: cst.CSTNode) -> bool:
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return False
    expr = statement.body[0]
    return isinstance(expr, cst.Expr) and isinstance(
        expr.value, (cst.SimpleString, cst.ConcatenatedString)
    )


def _is_import_line(statement: cst.CSTNode) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and all(
        isinstance(small, (cst.Import, cst.ImportFrom)) for small in statement.body
    )


def _from_module(node: cst.ImportFrom) -> str:
    if node.relative or node.module is None:
        return ""
    return cst.helpers.get_full_name_for_node_or_raise(node.module)


def _add_imports(module: cst.Module, imports: Sequence[ImportSpec]) -> cst.Module:
    """Merge ``from M import`` names into the module's header imports, or add new lines."""
    if not imports:
        return module
    body = list(module.body)
    start = 1 if body and _is_docstring(body[0]) else 0
    end = start
    while end < len(body) and _is_import_line(body[end]):
        end += 1
    pending: Dict[str, List[str]] = {}
    plain: List[str] = []
    for spec in imports:
        if spec.name is None:
            plain.append(spec.module)
        else:
            pending.setdefault(spec.module, []).append(spec.name)
    # Merge into an existing ``from M import a, b`` of the header (never a star import).
    for position in range(start, end):
        line = body[position]
        assert isinstance(line, cst.SimpleStatementLine)
        smalls = list(line.body)
        for number, small in enumerate(smalls):
            if not isinstance(small, cst.ImportFrom) or isinstance(small.names, cst.ImportStar):
                continue
            names = pending.pop(_from_module(small), None)
            if names:
                smalls[number] = _merge(small, names)
        body[position] = line.with_changes(body=smalls)
    lines: List[cst.SimpleStatementLine] = []
    for module_name, names in sorted(pending.items()):
        lines.append(_statement(f"from {module_name} import {', '.join(sorted(names))}"))
    lines.extend(_statement(f"import {name}") for name in sorted(set(plain)))
    if lines:
        if end > 0 and (end == start or _is_future_only(body[start:end])):
            # right after the docstring or the __future__ imports: a blank line first
            lines[0] = lines[0].with_changes(leading_lines=[cst.EmptyLine()])
        following = body[end] if end < len(body) else None
        if following is not None and not following.leading_lines and not _is_import_line(following):
            body[end] = following.with_changes(leading_lines=[cst.EmptyLine()])
        body[end:end] = lines
    return module.with_changes(body=body)


def _is_future_only(lines: Sequence[cst.BaseStatement]) -> bool:
    return all(
        isinstance(line, cst.SimpleStatementLine)
        and all(
            isinstance(s, cst.ImportFrom) and _from_module(s) == "__future__" for s in line.body
        )
        for line in lines
    )


def _statement(text: str) -> cst.SimpleStatementLine:
    statement = cst.parse_statement(text + "\n")
    assert isinstance(statement, cst.SimpleStatementLine)
    return statement


def _merge(node: cst.ImportFrom, names: Sequence[str]) -> cst.ImportFrom:
    """Append names to ``from M import ...``, following its comma and line style.

    Comments stay on the names they follow; new names get none.
    """
    assert not isinstance(node.names, cst.ImportStar)
    aliases = list(node.names)
    last = aliases[-1]
    added = [cst.ImportAlias(name=cst.Name(name)) for name in sorted(names)]
    closing = last.comma.whitespace_after if isinstance(last.comma, cst.Comma) else None
    if isinstance(last.comma, cst.Comma) and isinstance(closing, cst.ParenthesizedWhitespace):
        # One name a line with a trailing comma: new names go on lines of their own.
        indent = _item_indent(node, aliases)
        bare = closing.with_changes(first_line=cst.TrailingWhitespace(), empty_lines=[])
        between = cst.Comma(whitespace_after=bare.with_changes(last_line=indent))
        new_aliases = [
            *aliases[:-1],
            last.with_changes(
                comma=last.comma.with_changes(
                    whitespace_after=closing.with_changes(last_line=indent)
                )
            ),
            *(alias.with_changes(comma=between) for alias in added[:-1]),
            added[-1].with_changes(comma=cst.Comma(whitespace_after=bare)),
        ]
    else:
        comma = cst.Comma(whitespace_after=_SPACE)
        trailing = last.comma  # a trailing comma on one line, ``(a, b,)``, stays at the end
        new_aliases = [
            *aliases[:-1],
            last.with_changes(comma=comma),
            *(alias.with_changes(comma=comma) for alias in added[:-1]),
            added[-1].with_changes(comma=trailing),
        ]
    return node.with_changes(names=new_aliases)


def _item_indent(node: cst.ImportFrom, aliases: Sequence[cst.ImportAlias]) -> cst.SimpleWhitespace:
    """The indentation of the names of a parenthesised import, one a line."""
    if len(aliases) > 1:
        before_last = aliases[-2].comma
        if isinstance(before_last, cst.Comma) and isinstance(
            before_last.whitespace_after, cst.ParenthesizedWhitespace
        ):
            return before_last.whitespace_after.last_line
    if node.lpar is not None and isinstance(
        node.lpar.whitespace_after, cst.ParenthesizedWhitespace
    ):
        return node.lpar.whitespace_after.last_line
    return cst.SimpleWhitespace("    ")
