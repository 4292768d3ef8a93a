"""Cheap checks: evidence in the module itself that rules a predicted type out.

No type checker is needed: each rule reads the module index and answers "ruled out, and
why" only when the evidence is plain, and "no objection" whenever it cannot tell (a name
it does not know, a value it cannot type, a parameter the body narrows or rebinds).

- **default**: ``x: int = None`` and ``x: str = 0`` contradict the default; with a
  ``None`` default the model's ``X`` becomes ``X | None`` (``adjust``).
- **not a type**: a name the module binds to a variable, a function or a module is never
  written as a type (mypy: "Variable ... is not valid as a type").
- **override**: a method's annotation must agree with its base class's (project classes of
  the module, and typeshed's for the standard library: ``overrides.json``): a parameter
  takes at least what the base takes, a return gives at most what the base gives.
- **usage**: what the body does with a parameter (``f"{x:.2f}"``, ``x + 1``, ``x.items()``,
  ``x["key"]``, ``for _ in x``, ``x = None``, ``x = (x == "-" and -1) or 1``,
  ``x = Random(x)`` after ``from random import Random`` in the body) and what the module's
  callers pass to it. Uses under a ``try`` with handlers are duck typing the code expects
  to fail for some values: they rule out only ``object``, which has none of them.
- **returns**: what the function returns (``return None``, ``return []``, falling off
  its end, ``yield``); a protocol's or an ABC's method is exempt only when its body is
  trivial (``...``, ``pass``, ``raise NotImplementedError``), as in mypy.

The writer adds one more thing with the checks (``localtypes.edit.companions``): the bare
container type of an empty ``[]``, ``{}`` or ``set()`` in a function it annotates for the
first time, which mypy would otherwise report as "Need type annotation".

Types are compared by their heads only (``list[int]`` is ``list``), through the classes
of the running Python where the name is a builtin, a typing ABC or a common standard-library
type (``issubclass`` with mypy's int -> float -> complex promotion), and through the bases
the module writes for its own classes.
"""

from __future__ import annotations

import ast
from typing import Optional

from localtypes.analysis.slots import Slot
from localtypes.edit.checks.defaults import DefaultChecks
from localtypes.edit.checks.names import NameChecks
from localtypes.edit.checks.overrides import OverrideChecks
from localtypes.edit.checks.returns import ReturnChecks
from localtypes.edit.checks.runtime import TOP, Verdict, union_members
from localtypes.edit.checks.usage import UsageChecks

__all__ = ["ModuleChecks", "Verdict"]


class ModuleChecks(NameChecks, DefaultChecks, OverrideChecks, UsageChecks, ReturnChecks):
    """The cheap checks for one module (see the module docstring): the entry points."""

    def adjust(self, slot: Slot, label: str) -> str:
        """``X`` -> ``X | None`` for a parameter whose default is ``None``."""
        default = self._default(slot)
        if not (isinstance(default, ast.Constant) and default.value is None):
            return label
        members = union_members(label)
        if members is None or any(head in TOP or head == "None" for head, _ in members):
            return label
        if any(head == "Optional" for head, _ in members):
            return label
        return f"{label} | None"

    def rule_out(self, slot: Slot, label: str) -> Optional[Verdict]:
        """Why ``label`` cannot be the slot's type, or None when nothing says so."""
        members = union_members(label)
        if members is None:
            return None
        try:
            return (
                self._not_a_type(members)
                or self._default_check(slot, members)
                or self._override_check(slot, label, members)
                or self._usage_check(slot, members)
                or self._returns_check(slot, members)
                or self._result_check(slot, members)
            )
        except RecursionError:
            return None

    def not_a_type(self, label: str) -> Optional[Verdict]:
        """Why ``label`` names what the module binds to a variable, a function or a module,
        or None: the name check alone, for any slot."""
        members = union_members(label)
        return None if members is None else self._not_a_type(members)

    def record(self, slot: Slot, label: str) -> None:
        """Remember a label chosen for a slot: overrides later in the module compare to it."""
        self._chosen[(slot.kind.value, slot.scope, slot.name)] = label
