"""Write chosen annotations and their imports into source text, keeping every other byte.

Each edit is an insertion at a position the ``ast`` of the very same source gives (a
parameter's end, the ``)`` that closes a signature, an assignment target's end, the end of
the module's header imports); the insertions are spliced in from the end of the text, so
nothing else moves. A concrete syntax tree (libcst) would re-emit the whole file to change
a few lines: that parse and re-emit cost more than everything else the writer does, and
``localtypes.edit.safety`` checks the result either way.

Targets are found by the key ``choose`` computed from the same ``ModuleIndex``. Lambdas are
never touched (only ``def`` signatures are), nor is any existing annotation.
"""

from __future__ import annotations

import ast
import bisect
import io
import re
import tokenize
from dataclasses import dataclass
from typing import (
    Dict,
    FrozenSet,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Set,
    Tuple,
)

from localtypes.analysis.slots import SlotKind
from localtypes.edit.plan import Edit, ImportSpec, Target
from localtypes.module import ModuleIndex, ScopeKey
from localtypes.syntax import parameters

_NEWLINE = re.compile(r"\r\n|\r|\n")
_LONE_CR = re.compile(r"\r(?!\n)")
_WHITESPACE_OR_COMMENT = frozenset(" \t\f\\\r\n#")
_INDENT = "    "  # for names added to a parenthesised import whose layout says nothing


@dataclass(frozen=True)
class Applied:
    """The new source, the targets that were written and the imports added for them."""

    source: str
    written: FrozenSet[Target]
    imports: Tuple[ImportSpec, ...]


def apply_annotations(source: str, edits: Mapping[Target, Edit], index: ModuleIndex) -> Applied:
    """Write each edit's annotation, and the imports of those written, into ``source``.

    ``index`` is the ``ModuleIndex`` of ``source``. A target that is not
    there, or already annotated, is left out of ``Applied.written``.
    """
    if not edits:
        return Applied(source, frozenset(), ())
    text = _Text(source)
    splices: List[Tuple[int, int, str]] = []  # (start, end, replacement)
    written: Set[Target] = set()
    variables: _Variables = {}
    for scope, statement, ordinal in index.assigns.values():
        name = statement.targets[0]
        if isinstance(name, ast.Name):
            variables[(scope.key, name.id, ordinal)] = statement
    if any(t.kind is SlotKind.VARIABLE and "." in t.name for t in edits):
        variables.update(_attribute_assignments(index))
    for target, edit in edits.items():
        found = _splices(text, index, variables, target, edit.text)
        if found:
            splices.extend(found)
            written.add(target)
    # Only the imports of annotations actually written.
    imports = tuple(
        dict.fromkeys(spec for target in sorted_targets(written) for spec in edits[target].imports)
    )
    splices.extend(_import_splices(text, index.tree, imports))
    return Applied(text.splice(splices), frozenset(written), imports)


def _attribute_assignments(index: ModuleIndex) -> _Variables:
    """``self.x = v`` in each function: the n-th plain assignment of ``self.x`` in its scope
    (companion annotations, ``localtypes.edit.companions``)."""
    found: _Variables = {}
    for scope in index.scopes.values():
        counts: Dict[str, int] = {}
        for statement in scope.statements:
            if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1):
                continue
            target = statement.targets[0]
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                name = f"{target.value.id}.{target.attr}"
                ordinal = counts.get(name, 0)
                counts[name] = ordinal + 1
                found[(scope.key, name, ordinal)] = statement
    return found


def sorted_targets(targets: Iterable[Target]) -> List[Target]:
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


class _Text:
    """The source with ``ast`` positions (line, UTF-8 byte column) turned into offsets."""

    def __init__(self, source: str) -> None:
        self.source = source
        # The same line breaks as CPython's tokenizer: \r\n, \r and \n (not \f or \v).
        self.starts = [0, *(match.end() for match in _NEWLINE.finditer(source))]
        self.newline = _first_newline(source)

    def offset(self, line: int, column: int) -> int:
        start = self.starts[line - 1]
        end = self.starts[line] if line < len(self.starts) else len(self.source)
        text = self.source[start:end]
        if text.isascii():
            return start + column
        return start + len(text.encode("utf-8")[:column].decode("utf-8", "replace"))

    def start_of(self, node: ast.AST) -> int:
        return self.offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]

    def end_of(self, node: ast.AST) -> int:
        return self.offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]

    def before_on_line(self, offset: int) -> str:
        """The text from the start of ``offset``'s line up to ``offset``."""
        return self.source[self.starts[_line_of(self, offset) - 1] : offset]

    def newline_between(self, start: int, end: int) -> bool:
        return _line_of(self, start) < _line_of(self, end)

    def line_start(self, line: int) -> int:
        return self.starts[line - 1]

    def line_after(self, line: int) -> Optional[int]:
        """Where the line after ``line`` starts; None when ``line`` is the last."""
        return self.starts[line] if line < len(self.starts) else None

    def tokens(self, start: int, end: int) -> Iterator[Tuple[tokenize.TokenInfo, int, int]]:
        """The tokens of ``source[start:end]`` with their absolute (start, end) offsets.

        Stops quietly at a fragment that does not tokenize on its own.
        """
        # A lone \r becomes \n (same length, so offsets hold): tokenize splits on \n only.
        fragment = _LONE_CR.sub("\n", self.source[start:end])
        starts = [0, *(match.end() for match in _NEWLINE.finditer(fragment))]
        readline = io.StringIO(fragment, newline="").readline
        try:
            for token in tokenize.generate_tokens(readline):
                if token.type == tokenize.ENDMARKER:
                    return
                (row, col), (end_row, end_col) = token.start, token.end
                first = start + starts[row - 1] + col
                yield token, first, start + starts[end_row - 1] + end_col
        except (tokenize.TokenError, SyntaxError):
            return

    def splice(self, splices: Sequence[Tuple[int, int, str]]) -> str:
        parts: List[str] = []
        position = 0
        for start, end, replacement in sorted(splices, key=lambda s: (s[0], s[1])):
            parts.append(self.source[position:start])
            parts.append(replacement)
            position = end
        parts.append(self.source[position:])
        return "".join(parts)


def _first_newline(source: str) -> str:
    match = _NEWLINE.search(source)
    return match.group() if match else "\n"


# --- annotations ---------------------------------------------------------------------------

_Variables = Dict[Tuple[ScopeKey, str, int], ast.Assign]


def _splices(
    text: _Text, index: ModuleIndex, variables: _Variables, target: Target, annotation: str
) -> List[Tuple[int, int, str]]:
    """The splices that write ``annotation`` at ``target``; empty when it cannot go there."""
    if target.kind is SlotKind.VARIABLE:
        statement = variables.get((target.scope, target.name, target.ordinal))
        if statement is None:
            return []
        name = statement.targets[0]
        if (name.lineno, name.col_offset) != (statement.lineno, statement.col_offset):
            return []  # ``(x) = 1``: an annotated target cannot keep its parentheses
        return [(text.end_of(name), text.end_of(name), f": {annotation}")]
    scope = index.scopes.get(target.scope)
    node = scope.node if scope is not None else None
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return []
    if target.kind is SlotKind.RETURN:
        if node.returns is not None:
            return []
        closing = _closing_parenthesis(text, node)
        return [] if closing is None else [(closing, closing, f" -> {annotation}")]
    for arg, _kind, default in parameters(node.args):
        if arg.arg == target.name:
            return [] if arg.annotation is not None else _parameter(text, arg, default, annotation)
    return []


def _parameter(
    text: _Text, arg: ast.arg, default: Optional[ast.expr], annotation: str
) -> List[Tuple[int, int, str]]:
    end = text.end_of(arg)
    splices = [(end, end, f": {annotation}")]
    if default is not None:
        between = text.source[end : text.start_of(default)]
        # PEP 8: ``x=1`` becomes ``x: int = 1`` once annotated; other spacing is kept.
        if between[:1] == "=" and between[1:2] not in _WHITESPACE_OR_COMMENT:
            splices.append((end, end + 1, " = "))
    return splices


def signature_ends(
    source: str, nodes: Iterable[ast.FunctionDef | ast.AsyncFunctionDef]
) -> List[Optional[int]]:
    """Where ``apply_annotations`` puts the return annotation of each of ``nodes``
    (functions of ``source``): the offset just after the ``)`` that closes its parameters."""
    text = _Text(source)
    return [_closing_parenthesis(text, node) for node in nodes]


def _closing_parenthesis(
    text: _Text, node: ast.FunctionDef | ast.AsyncFunctionDef
) -> Optional[int]:
    """The offset just after the ``)`` that closes the parameter list of ``node``."""
    depth = 0
    opened = False
    for token, _start, end in text.tokens(text.start_of(node), text.start_of(node.body[0])):
        if token.type != tokenize.OP:
            continue
        if token.string in "([{":
            opened = opened or (depth == 0 and token.string == "(")
            depth += 1
        elif token.string in ")]}":
            depth -= 1
            if depth == 0 and opened:
                return end
    return None


# --- imports ---------------------------------------------------------------------------------


def _import_splices(
    text: _Text, tree: ast.Module, imports: Sequence[ImportSpec]
) -> List[Tuple[int, int, str]]:
    """Merge ``from M import`` names into the module's header imports, or add new lines."""
    if not imports:
        return []
    lines = _statement_lines(tree.body)
    start = 1 if lines and _is_docstring(lines[0]) else 0
    end = start
    while end < len(lines) and _is_import_line(lines[end]):
        end += 1
    pending: Dict[str, List[str]] = {}
    plain: List[str] = []
    for spec in imports:
        if spec.name is None:
            plain.append(spec.module)
        else:
            pending.setdefault(spec.module, []).append(spec.name)
    splices: List[Tuple[int, int, str]] = []
    # Merge into an existing ``from M import a, b`` of the header (never a star import).
    for line in lines[start:end]:
        for statement in line:
            if (
                isinstance(statement, ast.ImportFrom)
                and not statement.level
                and statement.module
                and statement.names[0].name != "*"
            ):
                names = pending.pop(statement.module, None)
                if names:
                    splices.extend(_merge(text, statement, sorted(names)))
    new = [f"from {module} import {', '.join(sorted(names))}" for module, names in pending.items()]
    new.sort()
    new.extend(f"import {name}" for name in sorted(set(plain)))
    if not new:
        return splices
    newline = text.newline
    block = "".join(line + newline for line in new)
    if end > 0 and (end == start or _is_future_only(lines[start:end])):
        block = newline + block  # right after the docstring or the __future__ imports
    if end > 0:
        position = text.line_after(lines[end - 1][-1].end_lineno or 1)
        if position is None:  # the header ends the file, on a line with no line break
            position = len(text.source)
            block = newline + block
        elif end < len(lines) and position == text.line_start(_first_line(lines[end][0])):
            block += newline  # nothing between the header and the code: set them apart
    elif lines:
        position = text.line_start(_first_line(lines[0][0]))  # below the header comments
        block += newline
    else:
        position = len(text.source)
        if text.source and not text.source.endswith(("\n", "\r")):
            block = newline + block
    splices.append((position, position, block))
    return splices


def _statement_lines(body: Sequence[ast.stmt]) -> List[List[ast.stmt]]:
    """Statements grouped by the line they share (``import a; import b``)."""
    lines: List[List[ast.stmt]] = []
    for statement in body:
        if lines and lines[-1][-1].end_lineno == statement.lineno:
            lines[-1].append(statement)
        else:
            lines.append([statement])
    return lines


def _first_line(statement: ast.stmt) -> int:
    """The line a statement starts on, decorators included."""
    decorators: List[ast.expr] = getattr(statement, "decorator_list", None) or []
    return min([statement.lineno, *(decorator.lineno for decorator in decorators)])


def _is_docstring(line: Sequence[ast.stmt]) -> bool:
    return (
        len(line) == 1
        and isinstance(line[0], ast.Expr)
        and isinstance(line[0].value, ast.Constant)
        and isinstance(line[0].value.value, (str, bytes))
    )


def _is_import_line(line: Sequence[ast.stmt]) -> bool:
    return all(isinstance(statement, (ast.Import, ast.ImportFrom)) for statement in line)


def _is_future_only(lines: Sequence[Sequence[ast.stmt]]) -> bool:
    return all(
        isinstance(statement, ast.ImportFrom)
        and statement.module == "__future__"
        and not statement.level
        for line in lines
        for statement in line
    )


def _merge(
    text: _Text, statement: ast.ImportFrom, names: Sequence[str]
) -> List[Tuple[int, int, str]]:
    """Append names to ``from M import ...``, following its comma and line style.

    Comments stay on the names they follow; new names get none.
    """
    tokens = list(text.tokens(text.start_of(statement), text.end_of(statement)))
    keyword = next(i for i, (token, _, _) in enumerate(tokens) if token.string == "import")
    opening: Optional[int] = None
    closing: Optional[int] = None
    aliases: List[List[Tuple[int, int]]] = [[]]  # the (start, end) of each alias's names
    trailing_comma = False
    for token, start, end in tokens[keyword + 1 :]:
        if token.string == "(":
            opening = start
        elif token.string == ")":
            closing = start
        elif token.string == ",":
            aliases.append([])
        elif token.type == tokenize.NAME:
            aliases[-1].append((start, end))
        else:
            continue
        trailing_comma = token.string == "," or (trailing_comma and token.string == ")")
    if not aliases[-1]:
        aliases.pop()
    last_end = aliases[-1][-1][1]
    if (
        trailing_comma
        and closing is not None
        and _line_of(text, closing) > _line_of(text, last_end)
    ):
        # One name a line with a trailing comma: new names go on lines of their own.
        firsts = [aliases[-1][0][0]] if len(aliases) > 1 else []
        if opening is not None:
            firsts.append(aliases[0][0][0])
        indent = next(
            (before for before in map(text.before_on_line, firsts) if not before.strip()), _INDENT
        )
        position = text.starts[_line_of(text, closing) - 1]
        block = "".join(f"{indent}{name},{text.newline}" for name in names)
        return [(position, position, block)]
    return [(last_end, last_end, "".join(f", {name}" for name in names))]


def _line_of(text: _Text, offset: int) -> int:
    """The 1-based line that ``offset`` is on."""
    line: int = bisect.bisect_right(text.starts, offset)
    return line
