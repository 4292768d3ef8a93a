"""What a value is and what a label admits: the base of the checks (``TypeReader``).

Types are compared by their heads only (``list[int]`` is ``list``), through the classes
of the running Python where the name is a builtin, a typing ABC or a common standard-library
type (``issubclass`` with mypy's int -> float -> complex promotion), and through the bases
the module writes for its own classes.
"""

from __future__ import annotations

import ast
import collections.abc
from typing import Dict, Optional, Set, Tuple, Union

from localtypes.analysis.slots import Slot, SlotKind
from localtypes.edit.checks.runtime import TOP, Members, defines, numeric_library, runtime_class
from localtypes.edit.checks.tree import FunctionNodes, as_assignment, class_members, in_protocol
from localtypes.module import CLASS, FUNCTION, ModuleIndex, Scope, ScopeKey
from localtypes.syntax import FunctionNode, dotted_name, parameters

_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_NUMERIC_PROMOTIONS = {int: (float, complex), float: (complex,), bool: (float, complex)}


# Calls of builtins whose result type is known.
_CONSTRUCTORS = {
    "str": "str", "int": "int", "float": "float", "list": "list", "dict": "dict",
    "set": "set", "tuple": "tuple", "frozenset": "frozenset", "bool": "bool",
    "bytes": "bytes", "len": "int", "repr": "str", "object": "object", "sorted": "list",
}  # fmt: skip


class TypeReader:
    """The module's index and what the checks learn of it, each read once."""

    def __init__(self, index: ModuleIndex) -> None:
        self.index = index
        self._chosen: Dict[Tuple[str, str, str], str] = {}  # (kind, scope, name) -> label
        self._constants: Optional[Dict[str, ast.expr]] = None
        self._own: Dict[ScopeKey, FunctionNodes] = {}

    def _function(self, slot: Slot) -> Optional[Scope]:
        if slot.kind is SlotKind.VARIABLE:
            return None
        return self.index.scopes.get(ScopeKey(FUNCTION, slot.scope, slot.occurrence))

    def _function_of(self, slot: Slot, kind: SlotKind) -> Optional[Tuple[Scope, FunctionNode]]:
        """The function a slot of ``kind`` belongs to, and its node; None for other slots."""
        scope = self._function(slot)
        if scope is None or slot.kind is not kind:
            return None
        node = scope.node
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        return scope, node

    def _own_nodes(self, scope: Scope) -> FunctionNodes:
        """A function's own nodes, collected once per function."""
        found = self._own.get(scope.key)
        if found is None:
            node = scope.node
            assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            found = self._own[scope.key] = FunctionNodes(node)
        return found

    def _value_type(self, node: ast.expr, scope: Scope) -> Optional[str]:
        """The type (a label head) of a value expression, when plain; else None."""
        if isinstance(node, ast.Constant):
            value = node.value
            if value is None:
                return "None"
            if value is Ellipsis:
                return None
            return type(value).__name__
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                return "bool"
            if isinstance(node.operand, ast.Constant) and type(node.operand.value) in (int, float):
                return type(node.operand.value).__name__
            return None
        simple = {
            ast.List: "list", ast.ListComp: "list", ast.Dict: "dict", ast.DictComp: "dict",
            ast.Set: "set", ast.SetComp: "set", ast.Tuple: "tuple", ast.JoinedStr: "str",
        }  # fmt: skip
        if type(node) in simple:
            return simple[type(node)]
        if isinstance(node, ast.Compare) and all(
            isinstance(op, (ast.Is, ast.IsNot, ast.In, ast.NotIn)) for op in node.ops
        ):
            return "bool"
        if isinstance(node, ast.BoolOp):
            # ``a or b``, ``a and b``: the last operand is one of the values it may take
            return self._value_type(node.values[-1], scope)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id
            if self._shadowed(name, scope):
                origin = self._local_import(name, scope)
                if origin is not None and isinstance(runtime_class(origin), type):
                    return origin
                return None
            if name in _CONSTRUCTORS and name not in self.index.bindings:
                return _CONSTRUCTORS[name]
            bindings = self.index.bindings.get(name, [])
            if bindings and all(b.kind == "class" for b in bindings):
                return name
            origin = self.index.import_origins().get(name)
            if origin is not None and not origin.startswith(".") and "." in origin:
                return origin if isinstance(runtime_class(origin), type) else None
            return None
        if isinstance(node, ast.Name) and node.id in ("True", "False"):
            return "bool"
        if isinstance(node, ast.Name) and not self._shadowed(node.id, scope):
            constant = self._module_constants().get(node.id)
            if constant is not None and not isinstance(constant, ast.Name):
                return self._value_type(constant, self.index.module)
        if isinstance(node, ast.Subscript) and not isinstance(node.slice, ast.Slice):
            container = self._container(node.value, scope)
            if isinstance(container, ast.Dict) and container.values:
                types = {self._value_type(v, self.index.module) for v in container.values}
                if len(types) == 1:
                    return types.pop()
        return None

    def _container(self, node: ast.expr, scope: Scope) -> Optional[ast.expr]:
        """The literal a module constant or a class attribute (``self.X``) is bound to."""
        if isinstance(node, ast.Name) and not self._shadowed(node.id, scope):
            return self._module_constants().get(node.id)
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in ("self", "cls")
        ):
            cls = scope.parent
            while cls is not None and cls.key.kind != CLASS:
                cls = cls.parent
            if cls is None:
                return None
            found = [
                assignment[1]
                for assignment in map(as_assignment, cls.node.body)
                if assignment is not None
                and any(isinstance(t, ast.Name) and t.id == node.attr for t in assignment[0])
            ]
            return found[0] if len(found) == 1 else None
        return None

    def _module_constants(self) -> Dict[str, ast.expr]:
        """Module names bound once, by a plain assignment at the top level."""
        if self._constants is None:
            constants: Dict[str, ast.expr] = {}
            for stmt in self.index.tree.body:
                assignment = as_assignment(stmt)
                if (
                    assignment is not None
                    and len(assignment[0]) == 1
                    and isinstance(assignment[0][0], ast.Name)
                ):
                    name = assignment[0][0].id
                    if len(self.index.bindings.get(name, [])) == 1:
                        constants[name] = assignment[1]
            self._constants = constants
        return self._constants

    def _shadowed(self, name: str, scope: Scope) -> bool:
        return any(name in item.bindings for item in scope.lookup_chain())

    def _local_import(self, name: str, scope: Scope) -> Optional[str]:
        """What ``from module import X`` in the function's own body binds ``name`` to, when
        nothing else in the function binds it (``from random import Random`` under an
        ``if``); else None."""
        node = scope.node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return None
        if any(p.arg.arg == name for p in parameters(node.args)):
            return None
        origins: Set[str] = set()
        for item in self._own_nodes(scope).nodes:
            if isinstance(item, ast.Name) and item.id == name:
                if not isinstance(item.ctx, ast.Load):
                    return None
            elif isinstance(item, _DEFINITIONS) and item.name == name:
                return None
            if isinstance(item, ast.Import) and any(
                (a.asname or a.name.partition(".")[0]) == name for a in item.names
            ):
                return None
            if isinstance(item, ast.ImportFrom):
                for alias in item.names:
                    if (alias.asname or alias.name) != name:
                        continue
                    if item.level or not item.module:
                        return None
                    origins.add(f"{item.module}.{alias.name}")
        return origins.pop() if len(origins) == 1 else None

    def _admitted(
        self,
        members: Members,
        value: str,
        value_node: Optional[ast.expr] = None,
    ) -> Optional[bool]:
        """Whether some member of a union admits a value of type ``value``: True, False
        (none can), or None (cannot tell)."""
        unknown = False
        for head, node in members:
            verdict = self._admits(head, node, value, value_node)
            if verdict:
                return True
            unknown = unknown or verdict is None
        return None if unknown else False

    def _admits(
        self,
        head: str,
        node: Optional[ast.expr],
        value: str,
        value_node: Optional[ast.expr],
    ) -> Optional[bool]:
        if head in TOP or head == value:
            return True
        if head.rpartition(".")[2] == "Literal":
            if value == "None":
                return False
            if isinstance(value_node, ast.Constant) and isinstance(node, ast.Subscript):
                elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
                literal = {e.value for e in elts if isinstance(e, ast.Constant)}
                if len(literal) == len(elts):
                    return value_node.value in literal
            return None
        head_kind = self._kind(head)
        value_kind = self._kind(value)
        if head_kind is None or value_kind is None:
            return None
        if value == "None":
            if head == "None":
                return True
            return head_kind in (collections.abc.Hashable, object)
        if head == "None":
            return False
        if isinstance(value_kind, type):
            if isinstance(head_kind, type):
                if head_kind is object or issubclass(value_kind, head_kind):
                    return True
                return any(
                    issubclass(promoted, head_kind)
                    for promoted in _NUMERIC_PROMOTIONS.get(value_kind, ())
                )
            return False  # a builtin or library class is never one of the module's classes
        return self._module_subclass(value_kind, head, head_kind, set())

    def _kind(self, head: str, source: bool = False) -> Union[type, Scope, None]:
        """A label's head (or, with ``source``, a dotted name as the module writes it) as
        a class of the module, a class of the running Python, or None (unknown)."""
        if head == "None":
            return type(None)
        cls = self._module_class(head)
        if cls is not None:
            if in_protocol(cls, itself=True):
                return None
            return cls
        if source:
            origin = self._origin(head)
            if origin is None:
                return None
            return runtime_class(origin)
        if "." not in head and head in self.index.bindings and not self._typing_import(head):
            return None  # the module binds it: not the builtin
        return runtime_class(head)

    def _typing_import(self, head: str) -> bool:
        """Whether every binding of ``head`` imports the very name the label means
        (``from typing import Sequence``): the writer adds such imports, and a second run
        must judge a label as the first did."""
        homes = (f"typing.{head}", f"typing_extensions.{head}", f"collections.abc.{head}")
        return all(
            binding.kind == "import" and binding.origin in homes
            for binding in self.index.bindings[head]
        )

    def _module_subclass(
        self, cls: Scope, head: str, head_kind: Union[type, Scope], seen: Set[str]
    ) -> Optional[bool]:
        """Whether the module class ``cls`` derives from ``head``."""
        if cls is head_kind:
            return True
        node = cls.node
        assert isinstance(node, ast.ClassDef)
        if node.keywords:
            return None
        unknown = False
        for base in node.bases:
            dotted = dotted_name(base.value if isinstance(base, ast.Subscript) else base)
            if dotted is None or dotted in seen:
                return None
            seen.add(dotted)
            kind = self._kind(dotted, source=True)
            if kind is None:
                unknown = True
            elif isinstance(kind, type):
                if isinstance(head_kind, type) and issubclass(kind, head_kind):
                    return True
                if kind is not object and not isinstance(head_kind, type):
                    continue
            else:
                verdict = self._module_subclass(kind, head, head_kind, seen)
                if verdict:
                    return True
                unknown = unknown or verdict is None
        if isinstance(head_kind, type) and head_kind.__module__ == "collections.abc":
            return None  # structural: the class may implement the protocol
        return None if unknown else False

    def _supports(self, head: str, need: str, detail: str) -> Optional[bool]:
        """Whether a value of type ``head`` supports a use: an attribute, an operator..."""
        if head == "Any":
            return True
        if head == "object":
            return defines(object, detail) if need == "attr" else False
        kind = self._kind(head)
        if kind is None:
            return None
        if not isinstance(kind, type):
            if need != "attr":
                return None
            return self._module_has(kind, detail, set())
        if kind.__module__ in ("collections.abc", "typing") and need != "attr":
            return None  # protocols: leave operators to a checker
        if need == "attr":
            return defines(kind, detail)
        if need == "numeric":
            return issubclass(kind, (int, float, complex)) or numeric_library(kind)
        if need == "integer":
            return issubclass(kind, int) or (numeric_library(kind) and None)
        if need == "str":
            return issubclass(kind, str)
        if need == "str-key":
            return defines(kind, "__getitem__") and not issubclass(
                kind, (str, bytes, list, tuple, bytearray, range)
            )
        if need == "iterate":
            return defines(kind, "__iter__") or defines(kind, "__getitem__")
        if need == "len":
            return defines(kind, "__len__")
        if need == "call":
            return defines(kind, "__call__")
        return None

    def _module_has(self, cls: Scope, attr: str, seen: Set[str]) -> Optional[bool]:
        if attr.startswith("__") and attr.endswith("__"):
            return None
        members = class_members(cls)
        if attr in members:
            return True
        if "__getattr__" in members or "__getattribute__" in members or "__slots__" in members:
            return None
        node = cls.node
        assert isinstance(node, ast.ClassDef)
        if node.decorator_list or node.keywords:
            return None
        for base in node.bases:
            dotted = dotted_name(base)
            if dotted is None or dotted in seen:
                return None
            seen.add(dotted)
            kind = self._kind(dotted, source=True)
            if kind is None:
                return None
            if isinstance(kind, type):
                if defines(kind, attr):
                    return True
                if kind is not object:
                    continue
            else:
                verdict = self._module_has(kind, attr, seen)
                if verdict is not False:
                    return verdict
        return False

    def _module_class(self, dotted: str) -> Optional[Scope]:
        bindings = self.index.bindings.get(dotted.partition(".")[0], [])
        if bindings and any(b.kind != "class" for b in bindings if "." not in dotted):
            return None
        return self.index.scopes.get(ScopeKey(CLASS, dotted, 0))

    def _origin(self, dotted: str) -> Optional[str]:
        """What a dotted name the module writes stands for: ``tzinfo`` -> ``datetime.tzinfo``."""
        head, _, rest = dotted.partition(".")
        origin = self.index.import_origins().get(head)
        if origin is None:
            if head in self.index.bindings:
                return None
            return dotted if "." not in dotted else None  # a builtin: ``dict``, ``Exception``
        if origin.startswith("."):
            return None
        return f"{origin}.{rest}" if rest else origin
