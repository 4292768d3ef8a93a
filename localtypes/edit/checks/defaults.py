"""Defaults: ``x: int = None`` and ``x: str = 0`` contradict the default; with a ``None``
default the model's ``X`` becomes ``X | None`` (``adjust``)."""

from __future__ import annotations

import ast
from typing import Optional

from localtypes.analysis.slots import Slot, SlotKind
from localtypes.edit.checks.kinds import TypeReader
from localtypes.edit.checks.runtime import Members, Verdict
from localtypes.edit.plan import Reason
from localtypes.syntax import parameters


class DefaultChecks(TypeReader):
    """A parameter's label against its default."""

    def _default(self, slot: Slot) -> Optional[ast.expr]:
        scope = self._function(slot)
        if scope is None or slot.kind is not SlotKind.PARAM:
            return None
        node = scope.node
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        for parameter in parameters(node.args):
            if parameter.arg.arg == slot.name:
                return parameter.default
        return None

    def _default_check(self, slot: Slot, members: Members) -> Optional[Verdict]:
        default = self._default(slot)
        if default is None:
            return None
        value = self._value_type(default, self.index.module)
        if value is not None and self._admitted(members, value, default) is False:
            return Reason.DEFAULT, f"the default is {ast.unparse(default)[:40]}"
        return None
