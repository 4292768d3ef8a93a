"""Decide which predictions to write, and spell each one so that it resolves in the module.

A prediction is written only when its slot has no annotation, is of a requested kind, its
top guess clears the threshold and is not ``Any``, and every name of the label can be
written so that it resolves where the annotation is evaluated: builtins, typing names
(imported the way the module imports typing), a curated set of standard-library types
(their import added), and names the module already binds. Everything else is rejected
with a reason.
"""

from __future__ import annotations

import ast
import enum
import functools
import re
import sys
import warnings
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Optional, Sequence, Tuple

from localtypes.analysis.slots import Slot, SlotKind
from localtypes.edit.stdtypes import (
    BUILTIN_GENERICS,
    BUILTIN_NAMES,
    KNOWN_STDLIB,
    STDLIB_GENERIC_ALIASES,
    STDLIB_GENERICS_39,
    TYPING_MIN_VERSION,
    TYPING_NAMES,
)
from localtypes.labels import ANY, dotted_name
from localtypes.module import CLASS, FUNCTION, Binding, ModuleIndex, Scope, ScopeKey
from localtypes.syntax import parse as parse_ast

DEFAULT_KINDS = frozenset({SlotKind.PARAM, SlotKind.RETURN})
_TYPING_MODULES = ("typing", "typing_extensions", "collections.abc")
_TYPE_COMMENT = re.compile(r"#\s*type:(?!\s*ignore\b)")
# Calls whose result is a type, not a value: annotating their target would change its meaning.
_TYPE_FACTORIES = frozenset(
    {"TypeVar", "ParamSpec", "TypeVarTuple", "NewType", "NamedTuple", "namedtuple",
     "TypedDict", "Enum", "IntEnum", "Flag", "IntFlag", "StrEnum", "TypeAliasType"}
)  # fmt: skip


# Special forms that mean nothing without ``[...]``.
_NEEDS_ARGUMENTS = frozenset({"Optional", "Union", "Literal", "Annotated", "Concatenate"})


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
    NOT_FOUND = "slot-not-found"


@dataclass(frozen=True)
class WriteOptions:
    """What to write: the threshold, the slot kinds and the oldest Python to support."""

    min_confidence: float
    kinds: FrozenSet[SlotKind] = DEFAULT_KINDS
    target_version: Tuple[int, int] = (sys.version_info[0], sys.version_info[1])


@dataclass(frozen=True)
class Candidate:
    """A slot with its top guess (``label`` None when the model had none)."""

    slot: Slot
    label: Optional[str]
    confidence: float = 0.0


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
class Rejection:
    """A slot left alone, and why."""

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


class _Skip(Exception):
    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class _Context:
    """Where and when an annotation is evaluated."""

    line: int  # the line the annotation runs at, when it runs while importing
    mode: str  # "import" (runs at import), "deferred" (runs in a call) or "never"
    chain: List[Scope]  # local scopes the annotation's names are looked up in first
    in_class: bool = False  # a method's slot or a class attribute: ``Self`` means something


def choose(candidates: Sequence[Candidate], index: ModuleIndex, options: WriteOptions) -> Plan:
    """Pick and spell the annotations to write for ``candidates`` of the module ``index``."""
    planned: Dict[str, str] = {}  # local name -> origin, for imports this plan adds
    choices: List[Choice] = []
    rejected: List[Rejection] = []
    imports: List[ImportSpec] = []
    for candidate in candidates:
        slot = candidate.slot
        if slot.annotation is not None or slot.kind not in options.kinds:
            continue
        try:
            choice = _choose_one(candidate, index, options, planned)
        except _Skip as skip:
            rejected.append(
                Rejection(slot, skip.reason, candidate.label, candidate.confidence, skip.detail)
            )
            continue
        for spec in choice.imports:
            if spec not in imports:
                imports.append(spec)
            planned[spec.local] = spec.origin
        choices.append(choice)
    return Plan(tuple(choices), tuple(imports), tuple(rejected))


def _choose_one(
    candidate: Candidate, index: ModuleIndex, options: WriteOptions, planned: Dict[str, str]
) -> Choice:
    label = candidate.label
    if label is None:
        raise _Skip(Reason.NO_PREDICTION)
    if label == ANY:
        raise _Skip(Reason.ANY)
    if candidate.confidence < options.min_confidence:
        raise _Skip(Reason.BELOW_THRESHOLD, f"{candidate.confidence:.3f}")
    target, context = _locate(candidate.slot, index)
    renderer = _Renderer(index, options, planned, context)
    text = renderer.render(label)
    return Choice(
        slot=candidate.slot,
        label=label,
        confidence=candidate.confidence,
        text=text,
        target=target,
        imports=tuple(renderer.imports),
        names=tuple(dict.fromkeys(renderer.heads)),
    )


# --- where the slot is and when its annotation runs ----------------------------------------


def _locate(slot: Slot, index: ModuleIndex) -> Tuple[Target, _Context]:
    """Find the slot in the index by its position, and check its key agrees."""
    position = (slot.line, slot.column)
    future = index.future_annotations
    if slot.kind in (SlotKind.PARAM, SlotKind.RETURN):
        if slot.kind is SlotKind.PARAM:
            found = index.args.get(position)
            if found is None or found[1].arg != slot.name:
                raise _Skip(Reason.NOT_FOUND, "no parameter at the slot's position")
            function = found[0]
        else:
            located = index.function_scopes.get(position)
            if located is None:
                raise _Skip(Reason.NOT_FOUND, "no function at the slot's position")
            function = located
        if function.key.qualname != slot.scope or function.key.occurrence != slot.occurrence:
            raise _Skip(Reason.NOT_FOUND, f"slot key disagrees with {function.key}")
        node = function.node
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        first_body_line = node.body[0].lineno
        if _has_type_comment(index, node.lineno, first_body_line - 1):
            raise _Skip(Reason.TYPE_COMMENT)
        outer = function.parent
        assert outer is not None
        mode = "never" if future else ("import" if outer.runs_at_import() else "deferred")
        context = _Context(node.lineno, mode, list(outer.lookup_chain()), outer.key.kind == CLASS)
        return Target(slot.kind, function.key, slot.name), context
    assigned = index.assigns.get(position)
    if assigned is None:
        raise _Skip(Reason.NOT_FOUND, "no plain assignment at the slot's position")
    scope, statement, ordinal = assigned
    # Class and module scopes: the extractor numbers only functions, so the position decides.
    if scope.key.qualname != slot.scope or (
        scope.key.kind == FUNCTION and scope.key.occurrence != slot.occurrence
    ):
        raise _Skip(Reason.NOT_FOUND, f"slot key disagrees with {scope.key}")
    _check_variable(slot, scope, statement, index)
    if future or scope.key.kind == FUNCTION:
        mode = "never"
    else:
        mode = "import" if scope.runs_at_import() else "deferred"
    context = _Context(statement.lineno, mode, list(scope.lookup_chain()), scope.key.kind == CLASS)
    return Target(SlotKind.VARIABLE, scope.key, slot.name, ordinal), context


def _has_type_comment(index: ModuleIndex, first: int, last: int) -> bool:
    lines = index.lines[max(first - 1, 0) : max(last, first)]
    return any(_TYPE_COMMENT.search(line) for line in lines)


def _check_variable(slot: Slot, scope: Scope, statement: ast.Assign, index: ModuleIndex) -> None:
    name = slot.name
    if name.startswith("__") and name.endswith("__"):
        raise _Skip(Reason.DUNDER)
    if name in index.annotated_names(scope):
        raise _Skip(Reason.NOT_FOUND, "the name is annotated elsewhere in its scope")
    if _has_type_comment(index, statement.lineno, statement.end_lineno or statement.lineno):
        raise _Skip(Reason.TYPE_COMMENT)
    if scope.key.kind == CLASS:
        node = scope.node
        assert isinstance(node, ast.ClassDef)
        plain_bases = all(isinstance(b, ast.Name) and b.id == "object" for b in node.bases)
        # In a dataclass, NamedTuple, Enum, ORM model... an annotation makes a field.
        if node.decorator_list or node.keywords or not plain_bases:
            raise _Skip(Reason.CLASS_ATTRIBUTE)
    if scope.key.kind != FUNCTION and _is_type_expression(statement.value):
        raise _Skip(Reason.TYPE_ALIAS)


def _is_type_expression(value: ast.expr) -> bool:
    """A value that defines a type (an alias, a TypeVar...): annotating it changes its role."""
    if isinstance(value, ast.Call):
        callee = value.func
        name = callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", "")
        return name in _TYPE_FACTORIES
    if isinstance(value, ast.Subscript):
        head = value.value
        name = head.attr if isinstance(head, ast.Attribute) else getattr(head, "id", "")
        return name in TYPING_NAMES or name in BUILTIN_GENERICS
    if isinstance(value, ast.BinOp) and isinstance(value.op, ast.BitOr):
        return all(
            isinstance(side, (ast.Name, ast.Attribute, ast.Subscript, ast.BinOp, ast.Constant))
            for side in (value.left, value.right)
        )
    return False


# --- spelling a label in this module ---------------------------------------------------------


@dataclass
class _Renderer:
    index: ModuleIndex
    options: WriteOptions
    planned: Dict[str, str]
    context: _Context
    imports: List[ImportSpec] = field(default_factory=list)
    heads: List[str] = field(default_factory=list)
    quote: bool = False

    @property
    def modern_generics(self) -> bool:
        return self.index.future_annotations or self.options.target_version >= (3, 9)

    @property
    def modern_unions(self) -> bool:
        return self.index.future_annotations or self.options.target_version >= (3, 10)

    @property
    def runtime(self) -> bool:
        return self.context.mode != "never"

    def render(self, label: str) -> str:
        tree = _parse_label(label)
        if tree is None:
            raise _Skip(Reason.UNSUPPORTED, "not an expression")
        text = self._expr(tree)
        if self.quote:
            if '"' not in text:
                return f'"{text}"'
            if "'" not in text:
                return f"'{text}'"
            raise _Skip(Reason.CANNOT_QUOTE)
        return text

    # -- expressions --

    def _expr(self, node: ast.expr) -> str:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return self._union(node)
        if isinstance(node, ast.Subscript):
            head = dotted_name(node.value)
            if head is None:
                raise _Skip(Reason.UNSUPPORTED, "subscript of a non-name")
            args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            if head == "Literal":
                inner = ", ".join(self._literal(arg) for arg in args)
            else:
                inner = ", ".join(self._expr(arg) for arg in args) if args else "()"
            return f"{self._generic_head(head)}[{inner}]"
        dotted = dotted_name(node)
        if dotted is not None:
            if dotted in _NEEDS_ARGUMENTS:
                raise _Skip(Reason.UNSUPPORTED, f"bare {dotted}")
            if dotted.rsplit(".", 1)[-1] == "TypeAlias":
                # Not a type but a declaration: it would turn a variable into an alias.
                raise _Skip(Reason.UNSUPPORTED, "TypeAlias")
            if dotted == "Self" and not self.context.in_class:
                raise _Skip(Reason.UNSUPPORTED, "Self outside a class")
            return self._name(dotted)
        if isinstance(node, ast.Constant):
            if node.value is None:
                return "None"
            if node.value is Ellipsis:
                return "..."
            if isinstance(node.value, (str, bytes, int, bool)):
                return repr(node.value)
        if isinstance(node, ast.List):
            return "[" + ", ".join(self._expr(elt) for elt in node.elts) + "]"
        if isinstance(node, ast.Tuple) and not node.elts:
            return "()"
        if (
            isinstance(node, ast.UnaryOp)
            and isinstance(node.op, ast.USub)
            and isinstance(node.operand, ast.Constant)
            and isinstance(node.operand.value, int)
        ):
            return f"-{node.operand.value!r}"
        raise _Skip(Reason.UNSUPPORTED, ast.unparse(node)[:60])

    def _literal(self, node: ast.expr) -> str:
        """One value of ``Literal[...]``."""
        if isinstance(node, ast.Name):
            # Canonical labels lose the quotes of identifier-like strings (``Literal[r]``
            # for ``Literal["r"]``); a bare name is never a valid literal value.
            return repr(node.id)
        if isinstance(node, ast.Attribute):
            return self._expr(node)  # an enum member: ``Color.RED``
        if isinstance(node, (ast.Constant, ast.UnaryOp)):
            return self._expr(node)
        raise _Skip(Reason.UNSUPPORTED, f"Literal of {ast.unparse(node)[:40]}")

    def _union(self, node: ast.BinOp) -> str:
        members: List[ast.expr] = []
        stack: List[ast.expr] = [node]
        while stack:
            item = stack.pop()
            if isinstance(item, ast.BinOp) and isinstance(item.op, ast.BitOr):
                stack.extend((item.right, item.left))
            else:
                members.append(item)
        if self.modern_unions:
            return " | ".join(self._expr(member) for member in members)
        has_none = any(_is_none(member) for member in members)
        rendered = [self._expr(member) for member in members if not _is_none(member)]
        if has_none and len(rendered) == 1:
            return f"{self._typing('Optional')}[{rendered[0]}]"
        if has_none:
            rendered.append("None")
        return f"{self._typing('Union')}[{', '.join(rendered)}]"

    def _generic_head(self, dotted: str) -> str:
        if not self.modern_generics:
            alias = BUILTIN_GENERICS.get(dotted) or STDLIB_GENERIC_ALIASES.get(dotted)
            if alias is not None:
                return self._typing(alias)
        text, origin = self._resolve(dotted)
        if self.runtime and not self._subscriptable(origin):
            self.quote = True  # e.g. a module class: it may not accept ``[...]`` at run time
        return text

    def _subscriptable(self, origin: str) -> bool:
        """Whether ``origin[...]`` works at run time on the target version."""
        module = origin.rpartition(".")[0]
        if module in ("typing", "typing_extensions") or self._generic_class(origin):
            return True
        if self.options.target_version < (3, 9):
            return False
        return (
            origin in BUILTIN_GENERICS
            or origin in STDLIB_GENERICS_39
            or module == "collections.abc"
        )

    def _generic_class(self, name: str) -> bool:
        """A class of this module deriving from ``Generic[...]`` or ``Protocol[...]``."""
        scope = self.index.scopes.get(ScopeKey(CLASS, name, 0))
        if scope is None or not isinstance(scope.node, ast.ClassDef):
            return False
        for base in scope.node.bases:
            head = dotted_name(base.value) if isinstance(base, ast.Subscript) else None
            if head is not None and head.rpartition(".")[2] in ("Generic", "Protocol"):
                return True
        return False

    # -- names --

    def _name(self, dotted: str) -> str:
        return self._resolve(dotted)[0]

    def _resolve(self, dotted: str) -> Tuple[str, str]:
        """Spell a dotted label name; return the text and what it stands for."""
        head, _, rest = dotted.partition(".")
        if not rest:
            return self._resolve_bare(dotted)
        bindings = self.index.bindings.get(head)
        if bindings and all(b.kind not in ("import", "global") for b in bindings):
            self._use(head)  # a module class or alias: ``Outer.Inner``
            return dotted, dotted
        if (self._consistent_origin(head) or "").startswith("."):
            self._use(head)  # ``from . import nodes``: labels keep ``nodes.Expr`` as written
            return dotted, dotted
        for local, origin in self._imports_matching(dotted):
            self._use(local)
            return local + dotted[len(origin) :], dotted
        if dotted in KNOWN_STDLIB:
            return self._add_stdlib(dotted), dotted
        raise _Skip(Reason.UNRESOLVABLE, dotted)

    def _resolve_bare(self, name: str) -> Tuple[str, str]:
        if name in BUILTIN_NAMES:
            if name in self.index.bindings or name in self.index.deleted:
                raise _Skip(Reason.NAME_CLASH, f"{name} is rebound in the module")
            if self._shadowed(name):
                raise _Skip(Reason.NAME_CLASH, f"{name} is rebound in an enclosing scope")
            return name, name
        bindings = self.index.bindings.get(name)
        if bindings:
            origins = {b.origin for b in bindings if b.kind == "import" and b.origin}
            typing_like = {f"{module}.{name}" for module in _TYPING_MODULES}
            if name in TYPING_NAMES and origins and not origins <= typing_like:
                return self._typing(name), f"typing.{name}"  # the module's name means another thing
            self._use(name)
            origin = origins.pop() if len(origins) == 1 else name
            return name, origin
        if name in self.planned or name in self._new_locals():
            self._use(name)
            return name, self.planned.get(name) or self._new_origin(name)
        if name in TYPING_NAMES:
            return self._typing(name), f"typing.{name}"
        raise _Skip(Reason.UNRESOLVABLE, name)

    def _typing(self, name: str) -> str:
        """Spell a typing name the way the module imports typing."""
        wanted = {f"typing.{name}", f"typing_extensions.{name}"}
        if self._consistent_origin(name) in wanted or self._planned_origin(name) in wanted:
            self._use(name)
            return name
        needed = TYPING_MIN_VERSION.get(name)
        if needed is not None and self.options.target_version < needed:
            # typing_extensions is a dependency only if the module imports it already
            for local in self._module_aliases("typing_extensions"):
                if not self._shadowed(local):
                    self._use(local)
                    return f"{local}.{name}"
            raise _Skip(Reason.TOO_NEW, f"typing.{name} needs Python {needed[0]}.{needed[1]}")
        for local in self._module_aliases("typing"):
            if not self._shadowed(local):
                self._use(local)
                return f"{local}.{name}"
        if self._free(name):
            return self._add(ImportSpec("typing", name))
        if self._free("typing"):
            return self._add(ImportSpec("typing")) + f".{name}"
        raise _Skip(Reason.NAME_CLASH, f"typing.{name}")

    def _add_stdlib(self, dotted: str) -> str:
        module, _, name = dotted.rpartition(".")
        if self.index.star_import:
            raise _Skip(Reason.NAME_CLASH, "a star import may bind any name")
        if self._free(name):
            return self._add(ImportSpec(module, name))
        if self._free(module.split(".")[0]):
            self._add(ImportSpec(module))
            return dotted
        raise _Skip(Reason.NAME_CLASH, dotted)

    def _add(self, spec: ImportSpec) -> str:
        if spec not in self.imports:
            self.imports.append(spec)
        self.heads.append(spec.local)
        return spec.local

    # -- bindings --

    def _new_locals(self) -> Dict[str, str]:
        return {spec.local: spec.origin for spec in self.imports}

    def _new_origin(self, name: str) -> str:
        return self._new_locals().get(name, name)

    def _planned_origin(self, name: str) -> Optional[str]:
        return self.planned.get(name) or self._new_locals().get(name)

    def _consistent_origin(self, name: str) -> Optional[str]:
        """The origin of a name every module-level binding of which imports the same thing."""
        return self.index.import_origins().get(name)

    def _module_aliases(self, module: str) -> List[str]:
        """Local names bound (only) to ``import module``."""
        origins = self.index.import_origins()
        return sorted(local for local, origin in origins.items() if origin == module) + sorted(
            local for local, origin in self.planned.items() if origin == module
        )

    def _imports_matching(self, dotted: str) -> List[Tuple[str, str]]:
        """(local, origin) of imports that ``dotted`` lives under, the most specific first."""
        found: List[Tuple[str, str]] = []
        for local, origin in self.index.import_origins().items():
            if not origin.startswith(".") and _under(dotted, origin):
                found.append((local, origin))
        for local, origin in (*self.planned.items(), *self._new_locals().items()):
            if _under(dotted, origin):
                found.append((local, origin))
        found = [(local, origin) for local, origin in found if not self._shadowed(local)]
        return sorted(found, key=lambda pair: (-len(pair[1]), pair[0]))

    def _shadowed(self, name: str) -> bool:
        return any(name in scope.bindings for scope in self.context.chain)

    def _free(self, name: str) -> bool:
        """Whether a new module-level import may bind ``name``."""
        return not (
            name in BUILTIN_NAMES
            or name in self.index.bindings
            or name in self.index.deleted
            or name in self.planned
            or name in self._new_locals()
            or self._shadowed(name)
        )

    def _use(self, name: str) -> None:
        """Record a use of an existing name; quote the annotation if it is not bound yet."""
        if self._shadowed(name):
            raise _Skip(Reason.NAME_CLASH, f"{name} is rebound in an enclosing scope")
        if name in self.index.deleted:
            raise _Skip(Reason.NAME_CLASH, f"{name} is deleted at module level")
        self.heads.append(name)
        if not self.runtime or name in self.planned or name in self._new_locals():
            return
        bindings = [b for b in self.index.bindings.get(name, []) if not b.type_checking]
        if not any(self._ready(b) for b in bindings):
            self.quote = True

    def _ready(self, binding: Binding) -> bool:
        if self.context.mode == "deferred":
            return binding.kind != "global"
        return binding.line < self.context.line


@functools.lru_cache(maxsize=8192)
def _parse_label(label: str) -> Optional[ast.expr]:
    """A label's expression (shared between calls: the renderer never changes it)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return parse_ast(label.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError):
        return None


def _under(dotted: str, origin: str) -> bool:
    return dotted == origin or dotted.startswith(origin + ".")


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None
