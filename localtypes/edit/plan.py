"""The plan types of the writer: what to write where, what was left out and why."""

from __future__ import annotations

import enum
import sys
from dataclasses import dataclass
from typing import FrozenSet, List, Optional, Tuple

from localtypes.analysis.slots import Slot, SlotKind
from localtypes.module import Scope, ScopeKey

DEFAULT_KINDS = frozenset({SlotKind.PARAM, SlotKind.RETURN})


class Reason(str, enum.Enum):
    """Why a slot was left without an annotation."""

    BELOW_THRESHOLD = "below-threshold"
    NO_PREDICTION = "no-prediction"
    ANY = "any"
    UNRESOLVABLE = "unresolvable-name"
    NAME_CLASH = "name-clash"
    UNSUPPORTED = "unsupported-label"
    TOO_NEW = "too-new-for-target"
    CANNOT_QUOTE = "cannot-quote"
    TYPE_COMMENT = "type-comment"
    CLASS_ATTRIBUTE = "class-attribute"
    TYPE_ALIAS = "type-alias"
    DUNDER = "dunder-variable"
    # A module's ``__getattr__`` returns every attribute the module lacks: its return
    # annotation types them all (``-> str`` made ``module.anything = {}`` an error).
    MODULE_GETATTR = "module-getattr"
    NOT_FOUND = "slot-not-found"
    SKIP_COMMENT = "skip-comment"  # ``# localtypes: skip`` (localtypes.edit.skips)
    # The cheap checks (localtypes.edit.checks) ruled every confident guess out:
    DEFAULT = "contradicts-default"  # ``x: int = None``, ``x: str = 0``
    NOT_A_TYPE = "not-a-type"  # the module binds the name to a variable, function or module
    OVERRIDE = "contradicts-base-class"  # the base class's signature says otherwise
    USAGE = "contradicts-usage"  # what the body does with it, or what callers pass
    RETURNS = "contradicts-returns"  # what the function returns
    # The type checker (localtypes.verify) found an error the annotation causes:
    CHECKER = "checker-error"


@dataclass(frozen=True)
class WriteOptions:
    """What to write: the threshold, the slot kinds and the oldest Python to support."""

    min_confidence: float
    kinds: FrozenSet[SlotKind] = DEFAULT_KINDS
    target_version: Tuple[int, int] = (sys.version_info[0], sys.version_info[1])
    checks: bool = True  # the cheap checks (off only to measure what they do)


@dataclass(frozen=True)
class SlotGuess:
    """A slot with its top guess (``label`` None when the model had none)."""

    slot: Slot
    label: Optional[str]
    confidence: float = 0.0
    # The next guesses, best first: (label, confidence). When checks rule the top guess
    # out, the next one is taken if its share of what is left clears the threshold.
    alternatives: Tuple[Tuple[str, float], ...] = ()
    # Labels the type checker ruled out (``localtypes.verify``); EXCLUDE_ALL: every one.
    excluded: FrozenSet[str] = frozenset()


EXCLUDE_ALL = "*"
COMPANION = "empty-container"  # the kind a companion annotation is counted under


@dataclass(frozen=True, order=True)
class ImportSpec:
    """An import the writer adds: ``from module import name``, or ``import module``."""

    module: str
    name: Optional[str] = None

    @property
    def local(self) -> str:
        """The name the import binds."""
        return self.name or self.module.split(".")[0]

    @property
    def origin(self) -> str:
        """What the bound name stands for, as in ``ModuleInfo.imports``."""
        return f"{self.module}.{self.name}" if self.name else self.local


@dataclass(frozen=True)
class Target:
    """Where the writer puts an annotation: a parameter, a return or the n-th ``name = v``."""

    kind: SlotKind
    scope: ScopeKey  # the function for params and returns, the enclosing scope for variables
    name: str
    ordinal: int = 0  # variables: which plain ``name = value`` of the scope (0 = first)


@dataclass(frozen=True)
class Edit:
    """One annotation to write and the imports it needs."""

    text: str
    imports: Tuple[ImportSpec, ...] = ()


@dataclass(frozen=True)
class Choice:
    """One annotation to write."""

    slot: Slot
    label: str
    confidence: float
    text: str  # the annotation expression as written into the file
    target: Target
    imports: Tuple[ImportSpec, ...]
    names: Tuple[str, ...]  # the first name of every dotted name in ``text``


@dataclass(frozen=True)
class Added:
    """An annotation that was written (its slot as found in the source given)."""

    slot: Slot
    label: str  # the canonical label predicted
    text: str  # the annotation as written in the file
    confidence: float
    # The bare container an empty ``[]``/``{}``/``set()`` needs once its function is
    # annotated (``localtypes.edit.companions``): not a prediction, whatever the kinds asked.
    companion: bool = False

    @property
    def kind(self) -> str:
        """How the summary counts it: the slot's kind, or ``empty-container``."""
        return COMPANION if self.companion else self.slot.kind.value


@dataclass(frozen=True)
class Rejection:
    """A slot left without an annotation, and why."""

    slot: Slot
    reason: Reason
    label: Optional[str] = None
    confidence: Optional[float] = None
    detail: str = ""


@dataclass(frozen=True)
class Plan:
    """Everything to write into one module."""

    choices: Tuple[Choice, ...]
    imports: Tuple[ImportSpec, ...]
    rejected: Tuple[Rejection, ...]


class Skip(Exception):
    """Raised while choosing one slot: the slot is left out for ``reason``."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class Context:
    """Where and when an annotation is evaluated."""

    line: int  # the line the annotation runs at, when it runs while importing
    mode: str  # "import" (runs at import), "deferred" (runs in a call) or "never"
    chain: List[Scope]  # local scopes the annotation's names are looked up in first
    in_class: bool = False  # a method's slot or a class attribute: ``Self`` means something
