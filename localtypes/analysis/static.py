"""The static pass: the type of an expression, or of what a function returns, when the code
leaves no doubt; ``None`` (abstain) otherwise.

Decided: literals, f-strings, comparisons and ``not``; displays whose elements agree;
arithmetic on two operands of one decided type; calls of the module's own classes, of
builtins and standard-library functions whose stubs say what they return (typeshed, through
``localtypes.analysis.stubs``), and of project functions the caller says it has decided (the
project index passes them in); a function whose body returns no value returns ``None``.
Answers are canonical labels (``localtypes.labels``). They feed the model as features, so
the model learns how far to trust each rule.
"""

from __future__ import annotations

import ast
import functools
from typing import Callable, List, Optional, Sequence

from localtypes.analysis.features.body import FunctionBody, is_stub_body
from localtypes.analysis.slots import ModuleInfo
from localtypes.analysis.stubs import builtin_names, call_result, is_stdlib
from localtypes.syntax import FunctionNode, dotted_name

# A callee the project decided: (the call) -> its label, or None.
ProjectCalls = Callable[[ast.Call], Optional[str]]

_CONSTANTS = ((bool, "bool"), (int, "int"), (float, "float"), (complex, "complex"),
              (str, "str"), (bytes, "bytes"))  # fmt: skip
_SAME_TYPE_OPS = (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod, ast.Pow)
_NUMBERS = frozenset({"int", "float"})
_MAX_TUPLE = 4


class StaticTyper:
    """Decides expression types in one module (its classes, its imports, its builtins)."""

    def __init__(
        self, info: ModuleInfo, rebound: Sequence[str] = (), project: Optional[ProjectCalls] = None
    ) -> None:
        self.info = info
        self.classes = frozenset(info.classes)
        self.rebound = frozenset(rebound)  # module-level names that shadow builtins
        self.project = project

    def expr(self, node: Optional[ast.expr]) -> Optional[str]:
        """The label of ``node``'s value, when it is certain."""
        if node is None:
            return None
        if isinstance(node, ast.Constant):
            if node.value is None:
                return "None"
            for kind, name in _CONSTANTS:
                if isinstance(node.value, kind):
                    return name
            return None
        if isinstance(node, ast.JoinedStr):
            return "str"
        if isinstance(node, ast.Compare) or (
            isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)
        ):
            return "bool"
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = self.expr(node.operand)
            return operand if operand in _NUMBERS else None
        if isinstance(node, ast.BinOp):
            return self._binop(node)
        if isinstance(node, ast.BoolOp):
            return self._same([self.expr(value) for value in node.values])
        if isinstance(node, ast.IfExp):
            return self._union([self.expr(node.body), self.expr(node.orelse)])
        if isinstance(node, (ast.List, ast.Set)):
            inner = self._same([self.expr(elt) for elt in node.elts]) if node.elts else None
            container = "list" if isinstance(node, ast.List) else "set"
            return f"{container}[{inner}]" if inner else None
        if isinstance(node, ast.Tuple):
            parts = [self.expr(elt) for elt in node.elts]
            if not parts or len(parts) > _MAX_TUPLE or None in parts:
                return None
            return f"tuple[{', '.join(p for p in parts if p)}]"
        if isinstance(node, ast.Dict):
            if not node.keys or None in node.keys:
                return None
            keys = self._same([self.expr(key) for key in node.keys if key is not None])
            values = self._same([self.expr(value) for value in node.values])
            return f"dict[{keys}, {values}]" if keys and values else None
        if isinstance(node, (ast.ListComp, ast.SetComp)):
            inner = self.expr(node.elt)
            container = "list" if isinstance(node, ast.ListComp) else "set"
            return f"{container}[{inner}]" if inner else None
        if isinstance(node, ast.Call):
            return self._call(node)
        return None

    def returns(self, fn: FunctionNode, body: FunctionBody) -> Optional[str]:
        """What ``fn`` returns, when every ``return`` agrees (``None`` when none has a value)."""
        if isinstance(fn, ast.AsyncFunctionDef):
            return None  # the declared type is the awaited one; leave it to the model
        values: List[Optional[ast.expr]] = []
        for node in body.flow:
            if isinstance(node, (ast.Yield, ast.YieldFrom)):
                return None
            if isinstance(node, ast.Return):
                values.append(node.value)
        decided = [value for value in values if value is not None]
        if not decided:
            return None if is_stub_body(fn.body) else "None"
        labels = [self.expr(value) for value in decided]
        if len(decided) < len(values):
            labels.append("None")
        return self._union(labels)

    # --- parts

    def _binop(self, node: ast.BinOp) -> Optional[str]:
        left, right = self.expr(node.left), self.expr(node.right)
        if isinstance(node.op, ast.Mod) and left in ("str", "bytes"):
            return left  # printf-style formatting
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.Div) and left in _NUMBERS and right in _NUMBERS:
            return "float"
        if isinstance(node.op, _SAME_TYPE_OPS):
            if left == right and left in ("int", "float", "str", "bytes"):
                return left
            if {left, right} == _NUMBERS:
                return "float"
            if isinstance(node.op, ast.Mult) and {left, right} == {"str", "int"}:
                return "str"
        return None

    def _call(self, node: ast.Call) -> Optional[str]:
        name = dotted_name(node.func)
        if name is None:
            return self._method(node)
        head, _, rest = name.partition(".")
        if not rest and head in self.classes:
            return head  # a class of this module: its instance
        if self.project is not None:
            decided = self.project(node)
            if decided is not None:
                return decided
        origin = self.info.imports.get(head)
        if origin is not None:
            if origin.startswith("."):
                return None  # a project module the project index did not decide
            full = f"{origin}.{rest}" if rest else origin
            module, _, attr = full.rpartition(".")
            return call_result(module, attr) if module and is_stdlib(module) else None
        if not rest and head not in self.rebound:
            return call_result("builtins", head)
        return self._method(node)

    def _method(self, node: ast.Call) -> Optional[str]:
        """``"sep".join(...)`` and other methods of a decided builtin receiver."""
        func = node.func
        if not isinstance(func, ast.Attribute):
            return None
        receiver = self.expr(func.value)
        if receiver not in ("str", "bytes"):
            return None
        return _builtin_method(receiver, func.attr)

    @staticmethod
    def _same(labels: Sequence[Optional[str]]) -> Optional[str]:
        first = labels[0] if labels else None
        return first if first is not None and all(label == first for label in labels) else None

    @staticmethod
    def _union(labels: Sequence[Optional[str]]) -> Optional[str]:
        if not labels or None in labels:
            return None
        members = list(dict.fromkeys(label for label in labels if label and label != "None"))
        if len(members) > 1 or any(" | " in member for member in members):
            return None  # a union of several real types: leave it to the model
        none = "None" in labels
        if not members:
            return "None"
        return f"{members[0]} | None" if none else members[0]


@functools.lru_cache(maxsize=1024)
def _builtin_method(receiver: str, method: str) -> Optional[str]:
    names = builtin_names()
    cls = getattr(names.get(receiver), "ast", None)
    if not isinstance(cls, ast.ClassDef):
        return None
    for item in cls.body:
        if isinstance(item, ast.FunctionDef) and item.name == method and item.returns is not None:
            returns = ast.unparse(item.returns)
            if returns in ("str", "bytes", "int", "bool", "list[str]", "list[bytes]"):
                return returns
            return receiver if returns in ("Self", "LiteralString") else None
    return None
