"""Spell a predicted label so that it resolves where its annotation is evaluated.

Builtins, typing names (imported the way the module imports typing), a curated set of
standard-library types (their import added), and names the module already binds; any
other name, or a name something rebinds on the way, leaves the slot out (``Skip``).
"""

from __future__ import annotations

import ast
import functools
import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from localtypes.edit.plan import Context, ImportSpec, Reason, Skip, WriteOptions
from localtypes.edit.stdtypes import (
    BUILTIN_GENERICS,
    BUILTIN_NAMES,
    KNOWN_STDLIB,
    STDLIB_GENERIC_ALIASES,
    STDLIB_GENERICS_39,
    TYPING_MIN_VERSION,
    TYPING_NAMES,
)
from localtypes.module import CLASS, Binding, ModuleIndex, ScopeKey
from localtypes.syntax import dotted_name
from localtypes.syntax import parse as parse_ast

_TYPING_MODULES = ("typing", "typing_extensions", "collections.abc")
# Special forms that mean nothing without ``[...]``.
_NEEDS_ARGUMENTS = frozenset({"Optional", "Union", "Literal", "Annotated", "Concatenate"})


# --- spelling a label in this module ---------------------------------------------------------


@dataclass
class Speller:
    """Spells one label as an annotation that resolves where ``context`` says it is
    evaluated; collects the imports it needs and the names it uses."""

    index: ModuleIndex
    options: WriteOptions
    planned: Dict[str, str]
    context: Context
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
            raise Skip(Reason.UNSUPPORTED, "not an expression")
        text = self._expr(tree)
        if self.quote:
            if '"' not in text:
                return f'"{text}"'
            if "'" not in text:
                return f"'{text}'"
            raise Skip(Reason.CANNOT_QUOTE)
        return text

    # -- expressions --

    def _expr(self, node: ast.expr) -> str:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return self._union(node)
        if isinstance(node, ast.Subscript):
            head = dotted_name(node.value)
            if head is None:
                raise Skip(Reason.UNSUPPORTED, "subscript of a non-name")
            args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            if head == "Literal":
                inner = ", ".join(self._literal(arg) for arg in args)
            else:
                inner = ", ".join(self._expr(arg) for arg in args) if args else "()"
            return f"{self._generic_head(head)}[{inner}]"
        dotted = dotted_name(node)
        if dotted is not None:
            if dotted in _NEEDS_ARGUMENTS:
                raise Skip(Reason.UNSUPPORTED, f"bare {dotted}")
            if dotted.rsplit(".", 1)[-1] == "TypeAlias":
                # Not a type but a declaration: it would turn a variable into an alias.
                raise Skip(Reason.UNSUPPORTED, "TypeAlias")
            if dotted == "Self" and not self.context.in_class:
                raise Skip(Reason.UNSUPPORTED, "Self outside a class")
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
        raise Skip(Reason.UNSUPPORTED, ast.unparse(node)[:60])

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
        raise Skip(Reason.UNSUPPORTED, f"Literal of {ast.unparse(node)[:40]}")

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
        raise Skip(Reason.UNRESOLVABLE, dotted)

    def _resolve_bare(self, name: str) -> Tuple[str, str]:
        if name in BUILTIN_NAMES:
            if name in self.index.bindings or name in self.index.deleted:
                raise Skip(Reason.NAME_CLASH, f"{name} is rebound in the module")
            if self._shadowed(name):
                raise Skip(Reason.NAME_CLASH, f"{name} is rebound in an enclosing scope")
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
        raise Skip(Reason.UNRESOLVABLE, name)

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
            raise Skip(Reason.TOO_NEW, f"typing.{name} needs Python {needed[0]}.{needed[1]}")
        for local in self._module_aliases("typing"):
            if not self._shadowed(local):
                self._use(local)
                return f"{local}.{name}"
        if self._free(name):
            return self._add(ImportSpec("typing", name))
        if self._free("typing"):
            return self._add(ImportSpec("typing")) + f".{name}"
        raise Skip(Reason.NAME_CLASH, f"typing.{name}")

    def _add_stdlib(self, dotted: str) -> str:
        module, _, name = dotted.rpartition(".")
        if self.index.star_import:
            raise Skip(Reason.NAME_CLASH, "a star import may bind any name")
        if self._free(name):
            return self._add(ImportSpec(module, name))
        if self._free(module.split(".")[0]):
            self._add(ImportSpec(module))
            return dotted
        raise Skip(Reason.NAME_CLASH, dotted)

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
            raise Skip(Reason.NAME_CLASH, f"{name} is rebound in an enclosing scope")
        if name in self.index.deleted:
            raise Skip(Reason.NAME_CLASH, f"{name} is deleted at module level")
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
