"""Usage: what the body does with a parameter (``f"{x:.2f}"``, ``x + 1``, ``x.items()``,
``x["key"]``, ``for _ in x``, ``x = None``), what the module's callers pass to it, and
what they do with a function's result."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from localtypes.analysis.slots import Slot, SlotKind
from localtypes.edit.checks.calls import CallEvidence
from localtypes.edit.checks.runtime import Members, Verdict
from localtypes.edit.checks.tree import FunctionNodes, as_assignment, decorated
from localtypes.edit.plan import Reason
from localtypes.module import ModuleIndex, Scope, ScopeKey

# Functions that narrow what a parameter is: after them the body's uses prove nothing.
_NARROWERS = frozenset({"isinstance", "hasattr", "callable", "type", "getattr", "issubclass"})


_NUMERIC_SPEC = set("eEfFgGn%")


_INTEGER_SPEC = set("dxXobc")


@dataclass
class _Uses:
    """What a function's body does with one parameter."""

    needs: List[Tuple[str, str]] = field(default_factory=list)  # ("attr", name) ...
    # uses under a ``try`` with handlers: the code expects them to fail for some values,
    # but a checker still reports them (``object`` has no attribute ``x``)
    guarded: List[Tuple[str, str]] = field(default_factory=list)
    assigned: List[ast.expr] = field(default_factory=list)  # values rebound to it
    rebound: bool = False  # rebound by something else than a plain assignment
    narrowed: bool = False  # isinstance(x, ...) and the like
    tested: bool = False  # ``if x``, ``x is None``, ``x or y``: None may be ruled out


_NO_USES = _Uses()


class UsageChecks(CallEvidence):
    """A label against what the body and the callers do."""

    def __init__(self, index: ModuleIndex) -> None:
        super().__init__(index)
        self._uses: Dict[ScopeKey, Dict[str, _Uses]] = {}

    def _usage_check(self, slot: Slot, members: Members) -> Optional[Verdict]:
        found = self._function_of(slot, SlotKind.PARAM)
        if found is None:
            return None
        scope = found[0]
        uses = self._param_uses(scope, slot.name)
        for value_node in uses.assigned:
            value = self._value_type(value_node, scope)
            if value is not None and self._admitted(members, value, value_node) is False:
                return Reason.USAGE, f"assigned {ast.unparse(value_node)[:40]}"
        for call_arg in self._call_arguments(scope, slot.name):
            value = self._value_type(call_arg, scope)
            if value is not None and self._admitted(members, value, call_arg) is False:
                return Reason.USAGE, f"a caller passes {ast.unparse(call_arg)[:40]}"
        if uses.narrowed or uses.rebound or uses.assigned:
            return None
        for need, detail in uses.needs + uses.guarded:
            for head, _ in members:
                if head == "None" and uses.tested:
                    continue
                if (need, detail) not in uses.needs and head != "object":
                    continue  # duck typing the handlers catch: only ``object`` has no such use
                if self._supports(head, need, detail) is False:
                    shown = f".{detail}" if need == "attr" else detail
                    return Reason.USAGE, f"{head} has no {shown}"
        return None

    def _param_uses(self, scope: Scope, name: str) -> _Uses:
        """What the function's body does with ``name`` (every name's, collected once)."""
        found = self._uses.get(scope.key)
        if found is None:
            found = self._uses[scope.key] = _collect_uses(self._own_nodes(scope))
        return found.get(name, _NO_USES)

    def _result_check(self, slot: Slot, members: Members) -> Optional[Verdict]:
        """What callers do with a function's result: ``f()["key"]``, ``t = f(); t.items()``."""
        found = self._function_of(slot, SlotKind.RETURN)
        if found is None:
            return None
        scope, node = found
        if isinstance(node, ast.AsyncFunctionDef) or decorated(node, "property"):
            return None
        for call, parent, stmt, caller in self._calls_of(scope):
            needs: List[Tuple[str, str]] = []
            tested = False
            if isinstance(parent, ast.Attribute) and parent.value is call:
                needs.append(("attr", parent.attr))
            elif (
                isinstance(parent, ast.Subscript)
                and parent.value is call
                and isinstance(parent.slice, ast.Constant)
                and isinstance(parent.slice.value, str)
            ):
                needs.append(("str-key", f"[{parent.slice.value!r}]"))
            elif (
                (assignment := as_assignment(stmt)) is not None
                and assignment[1] is call
                and len(assignment[0]) == 1
                and isinstance(assignment[0][0], ast.Name)
                and isinstance(caller.node, (ast.FunctionDef, ast.AsyncFunctionDef))
            ):
                uses = self._param_uses(caller, assignment[0][0].id)
                if uses.narrowed or uses.rebound or len(uses.assigned) != 1:
                    continue
                needs.extend(uses.needs)
                tested = uses.tested
            for need, detail in needs:
                for head, _ in members:
                    if head == "None" and tested:
                        continue
                    if self._supports(head, need, detail) is False:
                        shown = f".{detail}" if need == "attr" else detail
                        return Reason.USAGE, f"a caller uses {shown} on what it returns"
        return None


def _collect_uses(own: FunctionNodes) -> Dict[str, _Uses]:
    """What a function's own body does with each name it uses (see ``_Uses``), in one pass."""
    found: Dict[str, _Uses] = {}

    def of(name: str) -> _Uses:
        uses = found.get(name)
        if uses is None:
            uses = found[name] = _Uses()
        return uses

    parents, guarded = own.parents, own.guarded
    for item in own.nodes:
        if isinstance(item, (ast.Global, ast.Nonlocal)):
            for name in item.names:
                of(name).rebound = True
            continue
        if isinstance(item, ast.Call):
            func = item.func
            if isinstance(func, ast.Name) and func.id in _NARROWERS and item.args:
                first = item.args[0]
                if isinstance(first, ast.Name):
                    of(first.id).narrowed = True
            continue
        if not isinstance(item, ast.Name):
            assignment = as_assignment(item)
            if assignment is not None and len(assignment[0]) == 1:
                target = assignment[0][0]
                if isinstance(target, ast.Name):
                    of(target.id).assigned.append(assignment[1])
            continue
        parent = parents.get(id(item))
        if isinstance(item.ctx, (ast.Store, ast.Del)):
            if isinstance(parent, ast.AnnAssign) and parent.value is None:
                continue  # ``x: T`` alone: nothing without its annotation
            single = as_assignment(parent) if isinstance(parent, ast.stmt) else None
            if single is None or len(single[0]) != 1:
                of(item.id).rebound = True
            continue
        if parent is None:
            continue
        if _is_test(item, parent):
            of(item.id).tested = True
            continue
        need = _need(item, parent)
        if need is not None:
            under_try = id(parent) in guarded or id(item) in guarded
            (of(item.id).guarded if under_try else of(item.id).needs).append(need)
    return found


def _is(node: ast.expr, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _is_test(item: ast.Name, parent: ast.AST) -> bool:
    """A use of the name that tests it: it may narrow ``X | None`` to ``X``."""
    if isinstance(parent, (ast.If, ast.While, ast.IfExp, ast.Assert)) and parent.test is item:
        return True
    if isinstance(parent, ast.BoolOp):
        return True
    if isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.Not):
        return True
    if isinstance(parent, ast.Compare):
        return True
    return isinstance(parent, ast.comprehension) and item in parent.ifs


def _need(item: ast.Name, parent: ast.AST) -> Optional[Tuple[str, str]]:
    """What one use of a parameter requires of its type."""
    if isinstance(parent, ast.Attribute) and parent.value is item:
        return ("attr", parent.attr)
    if isinstance(parent, ast.BinOp):
        other = parent.right if parent.left is item else parent.left
        arithmetic = (ast.Add, ast.Sub, ast.Div, ast.FloorDiv, ast.Pow)
        number = isinstance(other, ast.Constant) and type(other.value) in (int, float)
        if number and isinstance(parent.op, arithmetic):
            return ("numeric", ast.unparse(parent)[:30])
        text = isinstance(other, ast.JoinedStr) or (
            isinstance(other, ast.Constant) and isinstance(other.value, str)
        )
        if text and isinstance(parent.op, ast.Add):
            return ("str", ast.unparse(parent)[:30])
        return None
    if isinstance(parent, ast.FormattedValue) and parent.value is item:
        spec = parent.format_spec
        if isinstance(spec, ast.JoinedStr) and len(spec.values) == 1:
            part = spec.values[0]
            if isinstance(part, ast.Constant) and isinstance(part.value, str) and part.value:
                last = part.value[-1]
                if last in _NUMERIC_SPEC:
                    return ("numeric", f"format :{part.value}")
                if last in _INTEGER_SPEC:
                    return ("integer", f"format :{part.value}")
        return None
    if isinstance(parent, ast.Subscript) and parent.value is item:
        key = parent.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            return ("str-key", f"[{key.value!r}]")
        return None
    if isinstance(parent, (ast.For, ast.AsyncFor)) and parent.iter is item:
        return ("iterate", "iteration")
    if isinstance(parent, ast.comprehension) and parent.iter is item:
        return ("iterate", "iteration")
    if isinstance(parent, ast.Call):
        if parent.func is item:
            return ("call", "call")
        callee = parent.func
        if isinstance(callee, ast.Name) and callee.id == "len" and parent.args[:1] == [item]:
            return ("len", "len()")
    return None
