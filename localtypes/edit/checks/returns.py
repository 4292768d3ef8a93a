"""Returns: what the function returns (``return None``, ``return []``, falling off its end,
``yield``)."""

from __future__ import annotations

import ast
from typing import List, Optional, Sequence, Tuple

from localtypes.analysis.slots import Slot, SlotKind
from localtypes.edit.checks.kinds import TypeReader
from localtypes.edit.checks.runtime import Members, Verdict
from localtypes.edit.checks.tree import decorated, in_protocol
from localtypes.edit.plan import Reason
from localtypes.syntax import dotted_name


class ReturnChecks(TypeReader):
    """A return label against the function's returns."""

    def _returns_check(self, slot: Slot, members: Members) -> Optional[Verdict]:
        found = self._function_of(slot, SlotKind.RETURN)
        if found is None:
            return None
        scope, node = found
        if decorated(node, "abstractmethod") or decorated(node, "overload"):
            return None
        # A protocol's or an ABC's trivial body stands for its implementations (mypy checks
        # it no further); any other body is checked against its return annotation.
        if self.index.stub or (in_protocol(scope) and _trivial(node.body)):
            return None
        own = self._own_nodes(scope).nodes
        if any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in own):
            heads = {head.rpartition(".")[2] for head, _ in members}
            allowed = (
                {"AsyncIterator", "AsyncIterable", "AsyncGenerator", "object", "Any"}
                if isinstance(node, ast.AsyncFunctionDef)
                else {"Iterator", "Iterable", "Generator", "object", "Any"}
            )
            if not heads & allowed:
                return Reason.RETURNS, "a generator"
            return None
        values: List[Tuple[str, Optional[ast.expr]]] = []
        for item in own:
            if isinstance(item, ast.Return):
                if item.value is None:
                    values.append(("None", None))
                else:
                    value = self._value_type(item.value, scope)
                    if value is not None:
                        values.append((value, item.value))
        if not _terminates(node.body):
            values.append(("None", None))
        for value, value_node in values:
            if self._admitted(members, value, value_node) is False:
                shown = "None" if value_node is None else ast.unparse(value_node)[:40]
                return Reason.RETURNS, f"returns {shown}"
        return None


def _trivial(body: Sequence[ast.stmt]) -> bool:
    """Whether a body only stands for one: a docstring, then ``pass``, ``...`` or
    ``raise NotImplementedError`` (mypy's trivial body)."""
    statements = list(body)
    if statements and isinstance(statements[0], ast.Expr):
        first = statements[0].value
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            statements = statements[1:]
    if not statements:
        return True
    if len(statements) != 1:
        return False
    stmt = statements[0]
    if isinstance(stmt, ast.Pass):
        return True
    if isinstance(stmt, ast.Expr):
        return isinstance(stmt.value, ast.Constant) and stmt.value.value is Ellipsis
    if isinstance(stmt, ast.Raise) and stmt.exc is not None:
        exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
        return (dotted_name(exc) or "").rpartition(".")[2] == "NotImplementedError"
    return False


def _terminates(body: Sequence[ast.stmt]) -> bool:
    """Whether a block never runs off its end (every path returns or raises)."""
    for stmt in body:
        if isinstance(stmt, (ast.Return, ast.Raise)):
            return True
        if isinstance(stmt, ast.If) and _terminates(stmt.body) and _terminates(stmt.orelse):
            return True
        if isinstance(stmt, ast.While):
            test = stmt.test
            if isinstance(test, ast.Constant) and test.value and not _breaks(stmt.body):
                return True
        if isinstance(stmt, (ast.With, ast.AsyncWith)) and _terminates(stmt.body):
            return True
        if isinstance(stmt, ast.Try):
            if stmt.finalbody and _terminates(stmt.finalbody):
                return True
            handled = all(_terminates(h.body) for h in stmt.handlers)
            if handled and (_terminates(stmt.body) or _terminates(stmt.orelse)):
                return True
        if isinstance(stmt, ast.Match) and stmt.cases:
            last = stmt.cases[-1].pattern
            wildcard = isinstance(last, ast.MatchAs) and last.pattern is None
            if wildcard and all(_terminates(case.body) for case in stmt.cases):
                return True
        if isinstance(stmt, ast.Assert) and (
            isinstance(stmt.test, ast.Constant) and not stmt.test.value
        ):
            return True
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            callee = dotted_name(stmt.value.func) or ""
            if callee in ("sys.exit", "exit", "quit", "os._exit", "os.abort"):
                return True
    return False


def _breaks(body: Sequence[ast.stmt]) -> bool:
    for stmt in body:
        for item in ast.walk(stmt):
            if isinstance(item, ast.Break):
                return True
    return False
