"""Names that are not types: a name the module binds to a variable, a function or a module
is never written as a type (mypy: "Variable ... is not valid as a type")."""

from __future__ import annotations

import ast
from typing import Optional

from localtypes.edit.checks.kinds import TypeReader
from localtypes.edit.checks.runtime import Members, Verdict
from localtypes.edit.checks.tree import as_assignment
from localtypes.edit.plan import Reason
from localtypes.syntax import dotted_name


class NameChecks(TypeReader):
    """A label naming a variable, a function or a module."""

    def _not_a_type(self, members: Members) -> Optional[Verdict]:
        for head, _ in members:
            name = head.partition(".")[0]
            bindings = self.index.bindings.get(name)
            if not bindings:
                continue
            if "." not in head:
                kinds = {binding.kind for binding in bindings}
                if kinds == {"function"}:
                    return Reason.NOT_A_TYPE, f"{head} is a function"
                if kinds <= {"other", "global"} and not self._alias_only(name):
                    return Reason.NOT_A_TYPE, f"{head} is a variable"
                if kinds == {"import"} and all(
                    b.origin and "." not in b.origin.lstrip(".") and b.origin == name
                    for b in bindings
                ):
                    return Reason.NOT_A_TYPE, f"{head} is a module"
        return None

    def _alias_only(self, name: str) -> bool:
        """Whether every module-level assignment to ``name`` makes a type alias."""
        found = False
        for stmt, _, _ in self.index.module_statements():
            assignment = as_assignment(stmt)  # ``X: T = v`` reads as ``X = v``
            if assignment is None:
                if isinstance(stmt, (ast.For, ast.With, ast.AugAssign)) and name in {
                    n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)
                }:
                    return False
                continue
            targets, value = assignment
            if not any(isinstance(t, ast.Name) and t.id == name for t in targets):
                if any(
                    isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Store)
                    for t in targets
                    for n in ast.walk(t)
                ):
                    return False  # unpacked into: a value
                continue
            found = True
            if not _is_type_value(value):
                return False
        return found


def _is_type_value(value: ast.expr) -> bool:
    """A module-level value that makes its target a type alias (or a type)."""
    if isinstance(value, (ast.Name, ast.Attribute)):
        return True
    if isinstance(value, ast.Subscript):
        return True
    if isinstance(value, ast.BinOp) and isinstance(value.op, ast.BitOr):
        return True
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return True  # a forward reference, perhaps
    if isinstance(value, ast.Call):
        callee = dotted_name(value.func) or ""
        return callee.rpartition(".")[2] in {
            "TypeVar", "ParamSpec", "TypeVarTuple", "NewType", "NamedTuple", "namedtuple",
            "TypedDict", "Enum", "IntEnum", "Flag", "IntFlag", "StrEnum", "TypeAliasType",
            "type",
        }  # fmt: skip
    return False
