"""Where the user said no: ``# localtypes: skip`` and ``# localtypes: skip-file``.

- ``# localtypes: skip`` on the line of a ``def`` (or one of its decorators) leaves the
  whole function alone: its parameters, its return, the variables and functions inside it;
  on the line of a ``class`` (or its decorators), everything inside the class; on any other
  line, the slots of the statement on that line (a parameter of a signature spread over
  lines, an assignment); on the line that closes a signature (``) -> None:``), its return.
- ``# localtypes: skip-file`` anywhere at module level (not inside a def or class) leaves
  the file as it is.

Comments are read with ``tokenize``: the text inside a string is not a comment.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Optional, Set, Tuple, Union

from localtypes.analysis.slots import Slot, SlotKind
from localtypes.syntax import parse_source

MARKER = "localtypes:"
_DIRECTIVE = re.compile(r"#\s*localtypes:\s*(skip-file|skip)(?![\w-])")

Scoped = Union[ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef]


@dataclass(frozen=True)
class Skips:
    """The slots a file's comments put out of reach (lines are the source's, 1-based)."""

    file: bool = False
    lines: FrozenSet[int] = frozenset()  # every slot on these lines
    returns: FrozenSet[int] = frozenset()  # the return of the def on these lines

    def covers(self, slot: Slot) -> bool:
        if self.file or slot.line in self.lines:
            return True
        return slot.kind is SlotKind.RETURN and slot.line in self.returns

    def __bool__(self) -> bool:
        return self.file or bool(self.lines) or bool(self.returns)


NO_SKIPS = Skips()


def find_skips(source: str, tree: Optional[ast.Module] = None) -> Skips:
    """What the ``# localtypes:`` comments of ``source`` (which parses) leave alone."""
    if MARKER not in source:  # the common case: no tokenizing
        return NO_SKIPS
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        # Source that parses tokenizes; should it not, saying no to the file is the safe side.
        return Skips(file=True) if _DIRECTIVE.search(source) else NO_SKIPS
    directives: List[Tuple[int, str]] = []
    for token in tokens:
        if token.type == tokenize.COMMENT:
            match = _DIRECTIVE.search(token.string)
            if match:
                directives.append((token.start[0], match.group(1)))
    if not directives:
        return NO_SKIPS
    tree = tree if tree is not None else parse_source(source)
    headers = _headers(tree, tokens)
    statements = _statement_lines(tree)
    lines: Set[int] = set()
    returns: Set[int] = set()
    for line, kind in directives:
        if kind == "skip-file":
            # at module level: in no def's or class's body (a top-level header is fine)
            if not any(colon < line <= _end(node) for node, (_, colon) in headers.items()):
                return Skips(file=True)
            continue
        owner = _owner(line, headers)
        if owner is not None:  # the def or class line (or a decorator's): all of it
            lines.update(range(headers[owner][0], _end(owner) + 1))
            continue
        closing = [node for node, (_, colon) in headers.items() if colon == line]
        for node in closing:
            if not isinstance(node, ast.ClassDef):  # ``) -> int:``: the return
                returns.add(node.lineno)
        lines.update(statements.get(line, (line,)))
    return Skips(False, frozenset(lines), frozenset(returns))


def _end(node: ast.AST) -> int:
    end: Optional[int] = getattr(node, "end_lineno", None)
    return end if end is not None else int(getattr(node, "lineno", 0))


def _owner(line: int, headers: Dict[Scoped, Tuple[int, int]]) -> Optional[Scoped]:
    """The def or class whose keyword line, or decorator line, ``line`` is."""
    for node, (first, _) in headers.items():
        if first <= line <= node.lineno:
            return node
    return None


def _headers(tree: ast.Module, tokens: List[tokenize.TokenInfo]) -> Dict[Scoped, Tuple[int, int]]:
    """Every def and class: (its first line, decorators included; the line of the colon
    that ends its header)."""
    starts = [token.start for token in tokens]
    found: Dict[Scoped, Tuple[int, int]] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            found[node] = (first, _colon_line(tokens, starts, node))
    return found


def _colon_line(
    tokens: List[tokenize.TokenInfo], starts: List[Tuple[int, int]], node: Scoped
) -> int:
    """The line of the ``:`` that ends a def's or class's header (outside brackets)."""
    import bisect

    depth = 0
    for token in tokens[bisect.bisect_left(starts, (node.lineno, node.col_offset)) :]:
        if token.type != tokenize.OP:
            continue
        if token.string in "([{":
            depth += 1
        elif token.string in ")]}":
            depth -= 1
        elif token.string == ":" and depth == 0:
            return token.start[0]
    return node.lineno


def _statement_lines(tree: ast.Module) -> Dict[int, Tuple[int, ...]]:
    """Line -> the lines of the innermost simple statement (no body) on it."""
    found: Dict[int, Tuple[int, ...]] = {}
    spans: Dict[int, int] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt) or hasattr(node, "body") or hasattr(node, "cases"):
            continue
        first, last = node.lineno, _end(node)
        for line in range(first, last + 1):
            if line not in spans or last - first < spans[line]:
                spans[line] = last - first
                found[line] = tuple(range(first, last + 1))
    return found
