"""Canonical type labels: one spelling for each type, whatever the source wrote.

The model predicts, and the evaluation compares, canonical labels. The rules:

- ``typing``, ``typing_extensions``, ``collections.abc`` and ``beartype.typing`` (a
  re-export of ``typing``) names lose their module: ``typing.Iterator`` and
  ``collections.abc.Iterator`` are both ``Iterator``.
- Qualifiers are not types: ``Final[X]``, ``ClassVar[X]``, ``Required[X]``,
  ``NotRequired[X]``, ``ReadOnly[X]`` and ``Annotated[X, ...]`` are ``X``; a bare
  ``Final`` or ``ClassVar`` names no type (``LabelError``). A label is something that can
  be written on a parameter, a return or a variable.
- The typing aliases of builtins become the builtins: ``List`` -> ``list``, ``Dict`` ->
  ``dict``, ``Set``, ``FrozenSet``, ``Tuple``, ``Type`` likewise, ``Text`` -> ``str``;
  ``Deque``, ``DefaultDict``, ``OrderedDict``, ``Counter``, ``ChainMap`` become their
  ``collections`` classes (``collections.deque``...).
- ``Optional[X]`` and ``Union[A, B]`` become ``X | None`` and ``A | B``; unions are
  flattened, duplicates dropped, ``None`` goes last, other members keep their order.
- A name bound by an absolute import is written fully qualified from the import:
  ``from pathlib import Path`` + ``Path`` -> ``pathlib.Path``; ``import numpy as np`` +
  ``np.ndarray`` -> ``numpy.ndarray``. Names bound by relative imports, classes of the
  module and unknown names stay as written (``Token``, ``Outer.Inner``).
- String annotations (forward references) are parsed and normalised like the rest.
- Bare generics stay bare (``list`` is not ``list[Any]``).
- Output spacing is fixed: ``dict[str, int]``, ``Callable[[int], str]``, ``A | None``.
"""

from __future__ import annotations

import ast
import builtins
from typing import Dict, Iterator, List, Mapping

from localtypes.syntax import dotted_name
from localtypes.syntax import parse as parse_ast

TYPING_MODULES = frozenset({"typing", "typing_extensions", "collections.abc", "beartype.typing"})

# Bumped whenever a rule above changes what a label reads: data sets built under another
# version are stale (see scripts/dataset.py).
LABELS_VERSION = 2

# Wrappers that qualify a declaration instead of naming a type: the type is their first
# argument.
_QUALIFIERS = frozenset({"Final", "ClassVar", "Required", "NotRequired", "ReadOnly", "Annotated"})

_TYPING_TO_BUILTIN = {
    "List": "list",
    "Dict": "dict",
    "Set": "set",
    "FrozenSet": "frozenset",
    "Tuple": "tuple",
    "Type": "type",
    "Text": "str",
    "Deque": "collections.deque",
    "DefaultDict": "collections.defaultdict",
    "OrderedDict": "collections.OrderedDict",
    "Counter": "collections.Counter",
    "ChainMap": "collections.ChainMap",
}

_BUILTIN_NAMES = frozenset(dir(builtins))

# The label the model never predicts and the evaluation ignores.
ANY = "Any"


class LabelError(ValueError):
    """The annotation cannot be turned into a label (not an expression we understand)."""


def normalize(annotation: str, imports: Mapping[str, str] | None = None) -> str:
    """Return the canonical label of an annotation written in a module with ``imports``."""
    try:
        tree = parse_ast(annotation.strip(), mode="eval")
    except SyntaxError as exc:
        raise LabelError(f"not an expression: {annotation!r}") from exc
    return _Normalizer(imports or {}).label(tree.body)


def normalize_node(node: ast.expr, imports: Mapping[str, str] | None = None) -> str:
    """Return the canonical label of an annotation that is already parsed."""
    return _Normalizer(imports or {}).label(node)


def base_type(label: str) -> str:
    """Strip type parameters: ``list[int]`` -> ``list``; unions keep their members' bases."""
    tree = parse_ast(label, mode="eval").body
    return " | ".join(dict.fromkeys(_base(member) for member in _union_members(tree)))


def _union_members(node: ast.expr) -> Iterator[ast.expr]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        yield from _union_members(node.left)
        yield from _union_members(node.right)
    else:
        yield node


def _base(node: ast.expr) -> str:
    if isinstance(node, ast.Subscript):
        return ast.unparse(node.value)
    return ast.unparse(node)


class _Normalizer:
    def __init__(self, imports: Mapping[str, str]) -> None:
        self.imports: Dict[str, str] = dict(imports)

    def label(self, node: ast.expr) -> str:
        members: List[str] = []
        for member in _union_members(node):
            for part in self._members(member):
                if part not in members:
                    members.append(part)
        if "None" in members and len(members) > 1:
            members.remove("None")
            members.append("None")
        return " | ".join(members)

    def _members(self, node: ast.expr) -> List[str]:
        """The union members one node stands for (usually one)."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                inner = parse_ast(node.value.strip(), mode="eval").body
            except SyntaxError as exc:
                raise LabelError(f"bad forward reference: {node.value!r}") from exc
            return self.label(inner).split(" | ")
        if isinstance(node, ast.Subscript):
            head = self._name(node.value)
            args = self._args(node.slice)
            if head in _QUALIFIERS and args:
                return self._union_text(args[0])
            if head == "Optional" and len(args) == 1:
                return [*self._union_text(args[0]), "None"]
            if head == "Union":
                out: List[str] = []
                for arg in args:
                    out.extend(self._union_text(arg))
                return out
            return [f"{head}[{', '.join(self._arg(arg) for arg in args)}]"]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return self.label(node).split(" | ")
        text = self._arg(node)
        if text in _QUALIFIERS:
            raise LabelError(f"{text} alone names no type")
        return [text]

    def _union_text(self, node: ast.expr) -> List[str]:
        return self.label(node).split(" | ")

    def _args(self, node: ast.expr) -> List[ast.expr]:
        if isinstance(node, ast.Tuple):
            return list(node.elts)
        return [node]

    def _arg(self, node: ast.expr) -> str:
        """Render one type argument (which may be a list, a literal or ``...``)."""
        if isinstance(node, ast.List):
            return "[" + ", ".join(self._arg(elt) for elt in node.elts) + "]"
        if isinstance(node, ast.Tuple) and not node.elts:
            return "()"
        if isinstance(node, ast.Constant):
            if node.value is None:
                return "None"
            if node.value is Ellipsis:
                return "..."
            if isinstance(node.value, str):
                try:
                    return self.label(parse_ast(node.value.strip(), mode="eval").body)
                except SyntaxError:
                    return repr(node.value)  # Literal["some text"]
            return repr(node.value)
        if isinstance(node, (ast.Name, ast.Attribute)):
            return self._name(node)
        if isinstance(node, (ast.Subscript, ast.BinOp)):
            return self.label(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return "-" + self._arg(node.operand)  # Literal[-1]
        raise LabelError(f"unsupported annotation node: {ast.dump(node)[:80]}")

    def _name(self, node: ast.expr) -> str:
        dotted = dotted_name(node)
        if dotted is None:
            raise LabelError(f"not a name: {ast.dump(node)[:80]}")
        head, _, rest = dotted.partition(".")
        origin = self.imports.get(head)
        if origin is not None and not origin.startswith("."):
            dotted = f"{origin}.{rest}" if rest else origin
        for module in TYPING_MODULES:
            if dotted.startswith(module + "."):
                tail = dotted[len(module) + 1 :]
                return _TYPING_TO_BUILTIN.get(tail, tail)
        if origin is None and head not in _BUILTIN_NAMES and "." not in dotted:
            # A bare typing name used without an import we saw (star import, stub file).
            return _TYPING_TO_BUILTIN.get(dotted, dotted)
        return dotted
