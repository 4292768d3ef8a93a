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
  ``x["key"]``, ``for _ in x``, ``x = None``) and what the module's callers pass to it.
- **returns**: what the function returns (``return None``, ``return []``, falling off
  its end, ``yield``).

Types are compared by their heads only (``list[int]`` is ``list``), through the classes
of the running Python where the name is a builtin, a typing ABC or a common standard-library
type (``issubclass`` with mypy's int -> float -> complex promotion), and through the bases
the module writes for its own classes.
"""

from __future__ import annotations

import ast
import builtins
import collections.abc
import functools
import importlib
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple, Union

from localtypes.analysis.slots import Slot, SlotKind
from localtypes.edit.plan import Reason
from localtypes.labels import LabelError, normalize
from localtypes.module import CLASS, FUNCTION, MODULE, ModuleIndex, Scope, ScopeKey
from localtypes.syntax import FunctionNode, dotted_name, parameters
from localtypes.syntax import parse as parse_ast

# A verdict: the reason a label is ruled out and a short detail.
Verdict = Tuple[Reason, str]

# Modules whose classes may be imported to compare types: cheap and side-effect free.
_SAFE_MODULES = frozenset(
    {"datetime", "decimal", "fractions", "pathlib", "re", "collections", "numbers", "io",
     "enum", "uuid", "random", "json", "logging", "argparse", "threading", "os", "types",
     "ipaddress", "functools", "itertools", "collections.abc", "string", "queue"}
)  # fmt: skip
_TYPING_RUNTIME: Dict[str, type] = {
    name: getattr(collections.abc, name)
    for name in collections.abc.__all__
    if isinstance(getattr(collections.abc, name), type)
}
_TYPING_RUNTIME.update(
    {
        "AbstractSet": collections.abc.Set,
        "Pattern": __import__("re").Pattern,
        "Match": __import__("re").Match,
        **{
            name: getattr(typing, name)
            for name in ("SupportsInt", "SupportsFloat", "SupportsIndex", "SupportsAbs",
                         "SupportsBytes", "SupportsComplex", "SupportsRound")
        },
    }
)  # fmt: skip
_TOP = frozenset({"Any", "object"})
_NUMERIC_PROMOTIONS = {int: (float, complex), float: (complex,), bool: (float, complex)}
# Calls of builtins whose result type is known.
_CONSTRUCTORS = {
    "str": "str", "int": "int", "float": "float", "list": "list", "dict": "dict",
    "set": "set", "tuple": "tuple", "frozenset": "frozenset", "bool": "bool",
    "bytes": "bytes", "len": "int", "repr": "str", "object": "object", "sorted": "list",
}  # fmt: skip
# Functions that narrow what a parameter is: after them the body's uses prove nothing.
_NARROWERS = frozenset({"isinstance", "hasattr", "callable", "type", "getattr", "issubclass"})
# Methods whose overrides mypy does not hold to their base's signature.
_NOT_CHECKED = frozenset({"__init__", "__new__", "__init_subclass__", "__post_init__"})
_NUMERIC_SPEC = set("eEfFgGn%")
_INTEGER_SPEC = set("dxXobc")


@functools.lru_cache(maxsize=1)
def _overrides() -> Dict[str, Dict[str, Any]]:
    path = Path(__file__).with_name("overrides.json")
    try:
        table: Dict[str, Dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
        return table
    except (OSError, ValueError):
        return {}


@functools.lru_cache(maxsize=4096)
def _members(label: str) -> Optional[Tuple[Tuple[str, Optional[ast.expr]], ...]]:
    """The union members of a label as (head, the member's node), or None if unparsable."""
    try:
        tree = parse_ast(label.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError):
        return None
    out: List[Tuple[str, Optional[ast.expr]]] = []
    stack: List[ast.expr] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            stack.extend((node.right, node.left))
            continue
        if isinstance(node, ast.Constant) and node.value is None:
            out.append(("None", node))
            continue
        head = dotted_name(node.value if isinstance(node, ast.Subscript) else node)
        if head is None:
            return None
        out.append((head, node))
    return tuple(out)


@functools.lru_cache(maxsize=1024)
def _runtime(head: str) -> Optional[type]:
    """The class of the running Python a label's head names, when it is safe to know."""
    if head in _TYPING_RUNTIME:
        return _TYPING_RUNTIME[head]
    if "." not in head:
        value = getattr(builtins, head, None)
        return value if isinstance(value, type) else None
    module, _, name = head.rpartition(".")
    if module not in _SAFE_MODULES:
        return None
    try:
        value = getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None
    return value if isinstance(value, type) else None


def _defines(cls: type, attr: str) -> bool:
    """Whether instances of ``cls`` have ``attr`` (not the metaclass's attributes)."""
    return any(attr in vars(klass) for klass in cls.__mro__)


@dataclass
class _Uses:
    """What a function's body does with one parameter."""

    needs: List[Tuple[str, str]] = field(default_factory=list)  # ("attr", name) ...
    assigned: List[ast.expr] = field(default_factory=list)  # values rebound to it
    rebound: bool = False  # rebound by something else than a plain assignment
    narrowed: bool = False  # isinstance(x, ...) and the like
    tested: bool = False  # ``if x``, ``x is None``, ``x or y``: None may be ruled out


class ModuleChecks:
    """The cheap checks for one module (see the module docstring)."""

    def __init__(self, index: ModuleIndex) -> None:
        self.index = index
        self._chosen: Dict[Tuple[str, str, str], str] = {}  # (kind, scope, name) -> label
        self._uses: Dict[Tuple[ScopeKey, str], _Uses] = {}
        self._calls: Optional[Dict[str, List[_Call]]] = None
        self._constants: Optional[Dict[str, ast.expr]] = None

    # --- entry points ------------------------------------------------------------------

    def adjust(self, slot: Slot, label: str) -> str:
        """``X`` -> ``X | None`` for a parameter whose default is ``None``."""
        default = self._default(slot)
        if not (isinstance(default, ast.Constant) and default.value is None):
            return label
        members = _members(label)
        if members is None or any(head in _TOP or head == "None" for head, _ in members):
            return label
        if any(head == "Optional" for head, _ in members):
            return label
        return f"{label} | None"

    def rule_out(self, slot: Slot, label: str) -> Optional[Verdict]:
        """Why ``label`` cannot be the slot's type, or None when nothing says so."""
        members = _members(label)
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

    def record(self, slot: Slot, label: str) -> None:
        """Remember a label chosen for a slot: overrides later in the module compare to it."""
        self._chosen[(slot.kind.value, slot.scope, slot.name)] = label

    # --- names that are not types ------------------------------------------------------

    def _not_a_type(self, members: Sequence[Tuple[str, Optional[ast.expr]]]) -> Optional[Verdict]:
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
            assignment = _assignment(stmt)  # ``X: T = v`` reads as ``X = v``
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

    # --- defaults ----------------------------------------------------------------------

    def _function(self, slot: Slot) -> Optional[Scope]:
        if slot.kind is SlotKind.VARIABLE:
            return None
        return self.index.scopes.get(ScopeKey(FUNCTION, slot.scope, slot.occurrence))

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

    def _default_check(
        self, slot: Slot, members: Sequence[Tuple[str, Optional[ast.expr]]]
    ) -> Optional[Verdict]:
        default = self._default(slot)
        if default is None:
            return None
        value = self._value_type(default, self.index.module)
        if value is not None and self._admitted(members, value, default) is False:
            return Reason.DEFAULT, f"the default is {ast.unparse(default)[:40]}"
        return None

    # --- overrides ---------------------------------------------------------------------

    def _override_check(
        self, slot: Slot, label: str, members: Sequence[Tuple[str, Optional[ast.expr]]]
    ) -> Optional[Verdict]:
        scope = self._function(slot)
        if scope is None or scope.parent is None or scope.parent.key.kind != CLASS:
            return None
        node = scope.node
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        if node.name in _NOT_CHECKED or _decorated(node, "staticmethod"):
            return None
        base = self._base_signature(scope.parent, node.name, set())
        if base is None:
            return None
        base_params, base_return, where = base
        if slot.kind is SlotKind.RETURN:
            wanted = base_return
        else:
            wanted = _match_parameter(node, slot.name, base_params)
        if wanted is None:
            return None
        expected = _members(wanted)
        if expected is None or any(head == "Any" for head, _ in expected):
            return None
        if slot.kind is SlotKind.RETURN:
            # every member we return must be one the base may return
            for head, node_ in members:
                if self._admitted(expected, head, node_) is False:
                    return Reason.OVERRIDE, f"{where} returns {wanted}"
        else:
            # every argument the base accepts, we must accept
            for head, node_ in expected:
                if self._admitted(members, head, node_) is False:
                    return Reason.OVERRIDE, f"{where} takes {wanted}"
        return None

    def _base_signature(
        self, cls: Scope, method: str, seen: Set[str]
    ) -> Optional[Tuple[List[Tuple[Optional[str], Optional[str], int]], Optional[str], str]]:
        """(params as (name, label, kind), return label, where) of ``method`` in the first
        base of ``cls`` that defines it; None when a base is unknown or none does."""
        node = cls.node
        assert isinstance(node, ast.ClassDef)
        for base in node.bases:
            dotted = dotted_name(base.value if isinstance(base, ast.Subscript) else base)
            if dotted is None or dotted in seen:
                return None
            seen.add(dotted)
            local = self._module_class(dotted)
            if local is not None:
                found = self._local_signature(local, method)
                if found is not None:
                    return found
                deeper = self._base_signature(local, method, seen)
                if deeper is not None:
                    return deeper
                continue
            origin = self._origin(dotted)
            table = _overrides()
            if origin is None or origin not in table:
                return None  # a base we do not know may define anything
            entry = table[origin].get(method)
            if entry is not None:
                return _table_signature(entry, origin)
        if node.keywords and any(k.arg == "metaclass" for k in node.keywords):
            return None
        entry = _overrides().get("object", {}).get(method)
        return _table_signature(entry, "object") if entry is not None else None

    def _local_signature(
        self, cls: Scope, method: str
    ) -> Optional[Tuple[List[Tuple[Optional[str], Optional[str], int]], Optional[str], str]]:
        for stmt in cls.node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == method:
                qualname = f"{cls.key.qualname}.{method}"
                params: List[Tuple[Optional[str], Optional[str], int]] = []
                for index, parameter in enumerate(parameters(stmt.args)):
                    if index == 0 and not _decorated(stmt, "staticmethod"):
                        continue
                    arg = parameter.arg
                    label = self._annotation_label(arg.annotation)
                    if label is None:
                        label = self._chosen.get(("param", qualname, arg.arg))
                    kind = {"vararg": 2, "kwarg": 4}.get(parameter.kind, 0)
                    params.append((arg.arg, label, kind))
                returns = self._annotation_label(stmt.returns)
                if returns is None:
                    returns = self._chosen.get(("return", qualname, "return"))
                return params, returns, qualname
        return None

    def _annotation_label(self, node: Optional[ast.expr]) -> Optional[str]:
        if node is None:
            return None
        try:
            return normalize(ast.unparse(node), self.index.imports)
        except (LabelError, SyntaxError, ValueError, RecursionError):
            return None

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

    # --- what the body and the callers do -------------------------------------------

    def _usage_check(
        self, slot: Slot, members: Sequence[Tuple[str, Optional[ast.expr]]]
    ) -> Optional[Verdict]:
        scope = self._function(slot)
        if scope is None or slot.kind is not SlotKind.PARAM:
            return None
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
        for need, detail in uses.needs:
            for head, _ in members:
                if head == "None" and uses.tested:
                    continue
                if self._supports(head, need, detail) is False:
                    shown = f".{detail}" if need == "attr" else detail
                    return Reason.USAGE, f"{head} has no {shown}"
        return None

    def _param_uses(self, scope: Scope, name: str) -> _Uses:
        key = (scope.key, name)
        found = self._uses.get(key)
        if found is None:
            node = scope.node
            assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            found = self._uses[key] = _collect_uses(node, name)
        return found

    def _calls_of(self, scope: Scope) -> List[_Call]:
        """The module's calls of a module function or (through ``self``) of a method."""
        node = scope.node
        parent = scope.parent
        if parent is None or scope.key.occurrence != 0 or parent.key.kind == FUNCTION:
            return []
        if parent.key.kind == CLASS and parent.key.occurrence != 0:
            return []
        if self._calls is None:
            self._calls = _collect_calls(self.index)
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        if parent.key.kind == CLASS:
            return list(self._calls.get(f"self.{node.name}@{parent.key.qualname}", []))
        if len(self.index.bindings.get(node.name, [])) != 1:
            return []
        return list(self._calls.get(node.name, []))

    def _result_check(
        self, slot: Slot, members: Sequence[Tuple[str, Optional[ast.expr]]]
    ) -> Optional[Verdict]:
        """What callers do with a function's result: ``f()["key"]``, ``t = f(); t.items()``."""
        scope = self._function(slot)
        if scope is None or slot.kind is not SlotKind.RETURN:
            return None
        node = scope.node
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        if isinstance(node, ast.AsyncFunctionDef) or _decorated(node, "property"):
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
                (assignment := _assignment(stmt)) is not None
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

    def _call_arguments(self, scope: Scope, name: str) -> Iterator[ast.expr]:
        """The values the module's calls of this function pass for parameter ``name``."""
        node = scope.node
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        parent = scope.parent
        if parent is None or scope.key.occurrence != 0:
            return
        if self._calls is None:
            self._calls = _collect_calls(self.index)
        method = parent.key.kind == CLASS
        if method and parent.key.occurrence != 0:
            return
        if parent.key.kind == FUNCTION:
            return
        params = list(parameters(node.args))
        if method and not _decorated(node, "staticmethod"):
            params = params[1:]
        positional = [p.arg.arg for p in params if p.kind in ("posonly", "positional")]
        key = f"self.{node.name}@{parent.key.qualname}" if method else node.name
        if not method and len(self.index.bindings.get(node.name, [])) != 1:
            return
        found = list(self._calls.get(key, []))
        if method and node.name == "__init__" and parent.parent is self.index.module:
            cls_name = parent.key.qualname
            if [b.kind for b in self.index.bindings.get(cls_name, [])] == ["class"]:
                found.extend(self._calls.get(cls_name, []))  # ``C(...)`` calls ``C.__init__``
        for call, *_ in found:
            for position, arg in enumerate(call.args):
                if isinstance(arg, ast.Starred):
                    break
                if position < len(positional) and positional[position] == name:
                    yield arg
            for keyword in call.keywords:
                if keyword.arg == name:
                    yield keyword.value

    # --- returns -----------------------------------------------------------------------

    def _returns_check(
        self, slot: Slot, members: Sequence[Tuple[str, Optional[ast.expr]]]
    ) -> Optional[Verdict]:
        scope = self._function(slot)
        if scope is None or slot.kind is not SlotKind.RETURN:
            return None
        node = scope.node
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        if _decorated(node, "abstractmethod") or _decorated(node, "overload"):
            return None
        if self.index.stub or _in_protocol(scope):
            return None
        own = list(_own_nodes(node))
        if any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in own):
            heads = {head.rpartition(".")[2] for head, _ in members}
            allowed = (
                {"AsyncIterator", "AsyncIterable", "AsyncGenerator", "object", "Any"}
                if isinstance(node, ast.AsyncFunctionDef)
                else {"Iterator", "Iterable", "Generator", "object", "Any"}
            )
            if not heads & allowed:
                return Reason.RETURNS, "a generator"
            return None
        values: List[Tuple[str, Optional[ast.expr]]] = []
        for item in own:
            if isinstance(item, ast.Return):
                if item.value is None:
                    values.append(("None", None))
                else:
                    value = self._value_type(item.value, scope)
                    if value is not None:
                        values.append((value, item.value))
        if not _terminates(node.body):
            values.append(("None", None))
        for value, value_node in values:
            if self._admitted(members, value, value_node) is False:
                shown = "None" if value_node is None else ast.unparse(value_node)[:40]
                return Reason.RETURNS, f"returns {shown}"
        return None

    # --- values and types --------------------------------------------------------------

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
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id
            if self._shadowed(name, scope):
                return None
            if name in _CONSTRUCTORS and name not in self.index.bindings:
                return _CONSTRUCTORS[name]
            bindings = self.index.bindings.get(name, [])
            if bindings and all(b.kind == "class" for b in bindings):
                return name
            origin = self.index.import_origins().get(name)
            if origin is not None and not origin.startswith(".") and "." in origin:
                return origin if isinstance(_runtime(origin), type) else None
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
                for assignment in map(_assignment, cls.node.body)
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
                assignment = _assignment(stmt)
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

    def _admitted(
        self,
        members: Sequence[Tuple[str, Optional[ast.expr]]],
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
        if head in _TOP or head == value:
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
            if _in_protocol(cls, itself=True):
                return None
            return cls
        if source:
            origin = self._origin(head)
            if origin is None:
                return None
            return _runtime(origin)
        if "." not in head and head in self.index.bindings:
            return None  # the module binds it: not the builtin
        return _runtime(head)

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
            return _defines(object, detail) if need == "attr" else False
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
            return _defines(kind, detail)
        if need == "numeric":
            return issubclass(kind, (int, float, complex)) or _numeric_library(kind)
        if need == "integer":
            return issubclass(kind, int) or (_numeric_library(kind) and None)
        if need == "str":
            return issubclass(kind, str)
        if need == "str-key":
            return _defines(kind, "__getitem__") and not issubclass(
                kind, (str, bytes, list, tuple, bytearray, range)
            )
        if need == "iterate":
            return _defines(kind, "__iter__") or _defines(kind, "__getitem__")
        if need == "len":
            return _defines(kind, "__len__")
        if need == "call":
            return _defines(kind, "__call__")
        return None

    def _module_has(self, cls: Scope, attr: str, seen: Set[str]) -> Optional[bool]:
        if attr.startswith("__") and attr.endswith("__"):
            return None
        members = _class_members(cls)
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
                if _defines(kind, attr):
                    return True
                if kind is not object:
                    continue
            else:
                verdict = self._module_has(kind, attr, seen)
                if verdict is not False:
                    return verdict
        return False


# --- helpers over the syntax tree --------------------------------------------------------


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


def _decorated(node: FunctionNode, name: str) -> bool:
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        dotted = dotted_name(target) or ""
        if dotted.rpartition(".")[2] == name:
            return True
    return False


def _in_protocol(scope: Scope, itself: bool = False) -> bool:
    cls: Optional[Scope] = scope if itself else scope.parent
    if cls is None or cls.key.kind != CLASS:
        return False
    node = cls.node
    assert isinstance(node, ast.ClassDef)
    for base in node.bases:
        dotted = dotted_name(base.value if isinstance(base, ast.Subscript) else base) or ""
        if dotted.rpartition(".")[2] in ("Protocol", "ABC", "TypedDict", "NamedTuple"):
            return True
    return any(k.arg == "metaclass" for k in node.keywords)


def _numeric_library(kind: type) -> bool:
    import numbers

    return issubclass(kind, numbers.Number) or kind.__name__ in ("Decimal", "Fraction")


def _class_members(cls: Scope) -> Set[str]:
    node = cls.node
    assert isinstance(node, ast.ClassDef)
    names: Set[str] = set(cls.bindings)
    for stmt in node.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for item in ast.walk(stmt):
                if (
                    isinstance(item, ast.Attribute)
                    and isinstance(item.ctx, ast.Store)
                    and isinstance(item.value, ast.Name)
                    and item.value.id == "self"
                ):
                    names.add(item.attr)
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            names.add(stmt.target.id)  # a declared field (``x: int``), as in a dataclass
    return names


def _match_parameter(
    node: FunctionNode, name: str, base: Sequence[Tuple[Optional[str], Optional[str], int]]
) -> Optional[str]:
    """The base's label for our parameter ``name``: by name, else by position."""
    ours = list(parameters(node.args))
    if not _decorated(node, "staticmethod"):
        ours = ours[1:]
    for base_name, label, _ in base:
        if base_name == name:
            return label
    for position, parameter in enumerate(ours):
        if parameter.arg.arg != name:
            continue
        if parameter.kind not in ("posonly", "positional") or position >= len(base):
            return None
        base_name, label, kind = base[position]
        if kind in (2, 4):  # *args / **kwargs of the base
            return None
        return label
    return None


def _table_signature(
    entry: Dict[str, Any], where: str
) -> Tuple[List[Tuple[Optional[str], Optional[str], int]], Optional[str], str]:
    params = [(name, label, int(kind)) for name, label, kind in entry["params"]]
    return params, entry.get("return"), where


def _assignment(node: ast.AST) -> Optional[Tuple[List[ast.expr], ast.expr]]:
    """(targets, value) of ``x = v``, and of ``x: T = v`` read as ``x = v``; else None."""
    if isinstance(node, ast.Assign):
        return node.targets, node.value
    if isinstance(node, ast.AnnAssign) and node.value is not None:
        return [node.target], node.value
    return None


def _children(node: ast.AST) -> List[ast.AST]:
    """A node's children, less the annotation of ``x: T = v`` (read as ``x = v``)."""
    if isinstance(node, ast.AnnAssign):
        return [node.target] if node.value is None else [node.target, node.value]
    return list(ast.iter_child_nodes(node))


def _own_nodes(node: FunctionNode) -> Iterator[ast.AST]:
    """Every node of a function's body, not entering nested functions, classes or lambdas."""
    stack: List[ast.AST] = list(reversed(node.body))
    while stack:
        item = stack.pop()
        yield item
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        stack.extend(reversed(_children(item)))


def _terminates(body: Sequence[ast.stmt]) -> bool:
    """Whether a block never runs off its end (every path returns or raises)."""
    for stmt in body:
        if isinstance(stmt, (ast.Return, ast.Raise)):
            return True
        if isinstance(stmt, ast.If) and _terminates(stmt.body) and _terminates(stmt.orelse):
            return True
        if isinstance(stmt, ast.While):
            test = stmt.test
            if isinstance(test, ast.Constant) and test.value and not _breaks(stmt.body):
                return True
        if isinstance(stmt, (ast.With, ast.AsyncWith)) and _terminates(stmt.body):
            return True
        if isinstance(stmt, ast.Try):
            if stmt.finalbody and _terminates(stmt.finalbody):
                return True
            handled = all(_terminates(h.body) for h in stmt.handlers)
            if handled and (_terminates(stmt.body) or _terminates(stmt.orelse)):
                return True
        if isinstance(stmt, ast.Match) and stmt.cases:
            last = stmt.cases[-1].pattern
            wildcard = isinstance(last, ast.MatchAs) and last.pattern is None
            if wildcard and all(_terminates(case.body) for case in stmt.cases):
                return True
        if isinstance(stmt, ast.Assert) and (
            isinstance(stmt.test, ast.Constant) and not stmt.test.value
        ):
            return True
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            callee = dotted_name(stmt.value.func) or ""
            if callee in ("sys.exit", "exit", "quit", "os._exit", "os.abort"):
                return True
    return False


def _breaks(body: Sequence[ast.stmt]) -> bool:
    for stmt in body:
        for item in ast.walk(stmt):
            if isinstance(item, ast.Break):
                return True
    return False


def _collect_uses(node: ScopeNodeT, name: str) -> _Uses:
    """What a function's own body does with the name ``name`` (see ``_Uses``)."""
    uses = _Uses()
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    parents: Dict[int, ast.AST] = {}
    guarded: Set[int] = set()  # nodes under a ``try`` with handlers
    for item in _own_nodes(node):
        for child in _children(item):
            parents[id(child)] = item
            in_try = isinstance(item, ast.Try) and bool(item.handlers) and child in item.body
            if in_try or id(item) in guarded:
                guarded.add(id(child))
    for item in _own_nodes(node):
        if isinstance(item, (ast.Global, ast.Nonlocal)) and name in item.names:
            uses.rebound = True
        if (
            isinstance(item, ast.Call)
            and isinstance(item.func, ast.Name)
            and item.func.id in _NARROWERS
            and any(_is(arg, name) for arg in item.args[:1])
        ):
            uses.narrowed = True
        assignment = _assignment(item)
        if assignment is not None and len(assignment[0]) == 1 and _is(assignment[0][0], name):
            uses.assigned.append(assignment[1])
            continue
        if not isinstance(item, ast.Name) or item.id != name:
            continue
        if isinstance(item.ctx, (ast.Store, ast.Del)):
            parent = parents.get(id(item))
            if isinstance(parent, ast.AnnAssign) and parent.value is None:
                continue  # ``x: T`` alone: nothing without its annotation
            single = _assignment(parent) if isinstance(parent, ast.stmt) else None
            if single is None or len(single[0]) != 1:
                uses.rebound = True
            continue
        parent = parents.get(id(item))
        if parent is None:
            continue
        if _is_test(item, parent):
            uses.tested = True
            continue
        if id(parent) in guarded or id(item) in guarded:
            continue
        need = _need(item, parent)
        if need is not None:
            uses.needs.append(need)
    return uses


ScopeNodeT = Union[ast.FunctionDef, ast.AsyncFunctionDef]


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


def _expressions(stmt: ast.stmt) -> Iterator[Tuple[ast.AST, ast.AST]]:
    """(node, parent) of a statement's own nodes: not the statements of its blocks, nor
    lambdas."""
    stack: List[Tuple[ast.AST, ast.AST]] = [(stmt, stmt)]
    while stack:
        item, parent = stack.pop()
        yield item, parent
        for child in _children(item):
            if isinstance(child, (ast.stmt, ast.ExceptHandler, ast.match_case, ast.Lambda)):
                continue
            stack.append((child, item))


# A call the module makes: the call, its parent node, its statement and its scope.
_Call = Tuple[ast.Call, ast.AST, ast.stmt, Scope]


def _collect_calls(index: ModuleIndex) -> Dict[str, List[_Call]]:
    """Calls by what they call: ``f`` for ``f(...)``, ``self.m@C`` for ``self.m(...)`` in
    class ``C``'s methods."""
    calls: Dict[str, List[_Call]] = {}
    for scope in index.scopes.values():
        if scope.key.kind == CLASS:
            continue
        owner = scope.parent
        cls = owner.key.qualname if owner is not None and owner.key.kind == CLASS else None
        local = scope.bindings if scope.key.kind != MODULE else frozenset()
        for stmt in scope.statements:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            for item, parent in _expressions(stmt):
                if not isinstance(item, ast.Call):
                    continue
                func = item.func
                if isinstance(func, ast.Name) and func.id not in local:
                    calls.setdefault(func.id, []).append((item, parent, stmt, scope))
                elif (
                    cls is not None
                    and isinstance(func, ast.Attribute)
                    and isinstance(func.value, ast.Name)
                    and func.value.id in ("self", "cls")
                ):
                    calls.setdefault(f"self.{func.attr}@{cls}", []).append(
                        (item, parent, stmt, scope)
                    )
    return calls
