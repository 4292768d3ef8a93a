"""Slots: the places in a module that could carry a type annotation."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple


class SlotKind(str, enum.Enum):
    """What a slot annotates."""

    PARAM = "param"
    RETURN = "return"
    VARIABLE = "variable"


SlotKey = Tuple[SlotKind, str, int, str]  # see Slot.key

# Features that carry the static pass's decision (``localtypes.analysis.extract``): on a
# parameter's default, a function's returns, a variable's value.
STATIC_PREFIXES = ("sd:", "sr:", "sv:")


@dataclass(frozen=True)
class Slot:
    """One parameter, return or variable, located so that a writer can find it again.

    A slot is identified by ``(kind, scope, occurrence, name)``:

    - ``scope`` is the dotted qualified name of the function (params, returns) or of the
      enclosing scope (variables; ``""`` for the module), as in ``Outer.method``. Nested
      functions appear as ``outer.inner``; ``<locals>`` is not inserted.
    - ``occurrence`` counts earlier definitions with the same ``scope`` in source order
      (0 for the first ``def f``, 1 for a second ``def f`` such as an overload or a
      property setter), so redefinitions stay distinct.
    - ``name`` is the parameter name, ``"return"`` for returns, or the variable name.

    Variables are the first plain assignment ``name = value`` (one ``Name`` target) to a
    name in a scope, in source order, at any block depth of that scope's body; names
    already annotated anywhere in the scope, assigned through ``global``/``nonlocal``,
    tuple targets, loop targets and ``with`` targets are not slots.
    """

    kind: SlotKind
    scope: str
    occurrence: int
    name: str
    line: int  # 1-based line of the parameter name, the ``def`` keyword, or the target
    column: int  # 0-based column of the same
    annotation: Optional[str]  # the existing annotation as written, or None
    label: Optional[str] = None  # the existing annotation, normalised (see typenames)
    features: Tuple[str, ...] = field(default=(), compare=False, repr=False)

    @property
    def key(self) -> SlotKey:
        """``(kind, scope, occurrence, name)``: what identifies the slot (see above)."""
        return (self.kind, self.scope, self.occurrence, self.name)

    @property
    def qualname(self) -> str:
        """Qualified name of the slot: ``scope.name`` for params and variables."""
        if self.kind is SlotKind.RETURN:
            return self.scope
        return f"{self.scope}.{self.name}" if self.scope else self.name


@dataclass(frozen=True)
class ModuleInfo:
    """What a module can see, for the pointer over visible types and for writing names."""

    # local name -> what it is bound to by an import: "pathlib.Path", "numpy" (for
    # ``import numpy as np``), ".models.User" (relative import, dots kept).
    imports: Dict[str, str]
    # classes defined in the module, dotted for nested ones: "Token", "Outer.Inner".
    classes: Tuple[str, ...]
    # module-level names that stand for types: aliases (``KeyT = Union[bytes, str]``),
    # TypeVars, NewTypes.
    aliases: Tuple[str, ...]
    # True when the module has ``from __future__ import annotations``.
    future_annotations: bool
    # class -> its methods and attributes (class-level names and ``self.x = ...``), so that
    # ``param.read_text()`` can point at the module class that defines ``read_text``.
    members: Dict[str, Tuple[str, ...]] = field(default_factory=dict, compare=False)


# (what the other slot is to a slot, the other's key): see localtypes.analysis.neighbours
Relation = Tuple[str, SlotKey]
Relations = Dict[SlotKey, Tuple[Relation, ...]]


@dataclass(frozen=True)
class ExtractedModule:
    """The slots of one module and what it can see.

    ``relations`` link slots to others of the module (``localtypes.analysis.neighbours``):
    the model's second pass reads the first pass's answers for them. ``context`` holds
    slots that are not to be answered but that relations name (evaluation answers only the
    annotated slots, yet their neighbours must be predicted as at run time).
    """

    slots: Tuple[Slot, ...]
    info: ModuleInfo
    relations: Relations = field(default_factory=dict, compare=False)
    context: Tuple[Slot, ...] = ()
