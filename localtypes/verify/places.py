"""Where a file's annotations are in its annotated text: by line, by function, and the lines
that set or read ``self.x`` (the verify stage blames a checker error on the annotations
these places tie to its line)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Optional, Set, Tuple

from localtypes.analysis.slots import SlotKey, SlotKind
from localtypes.module import CLASS, ModuleIndex
from localtypes.syntax import parameters, parse_source


@dataclass
class Function:
    """A function of the annotated text: its lines, annotations and positional parameters."""

    first: int
    last: int
    keys: FrozenSet[SlotKey]
    returns: Optional[SlotKey]
    params: Tuple[str, ...]  # positional parameters, without self/cls


class Places:
    """Where a file's annotations are in its current text, by line and by function."""

    def __init__(self, text: str, keys: Set[SlotKey]) -> None:
        self.on_line: Dict[int, Set[SlotKey]] = {}
        self.functions: List[Function] = []
        self.by_name: Dict[str, List[Function]] = {}
        self.calls: Dict[int, Set[str]] = {}
        self.names: Dict[int, Set[str]] = {}  # line -> names used on it
        # line of ``self.x = ...`` -> the annotations of the method that first sets self.x
        # (mypy takes the attribute's type from there once that method is annotated)
        self.initialised: Dict[int, FrozenSet[SlotKey]] = {}
        self.reads: Dict[int, FrozenSet[SlotKey]] = {}  # the same for lines reading self.x
        try:
            tree = parse_source(text)
        except Exception:  # the writer's output parses; be safe anyway
            return
        index = ModuleIndex(tree, text)
        for scope in index.scopes.values():
            node = scope.node
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            qualname, occurrence = scope.key.qualname, scope.key.occurrence
            mine: Set[SlotKey] = set()
            positional: List[str] = []
            method = scope.parent is not None and scope.parent.key.kind == CLASS
            for position, parameter in enumerate(parameters(node.args)):
                arg = parameter.arg
                if parameter.kind in ("posonly", "positional") and not (method and position == 0):
                    positional.append(arg.arg)
                key: SlotKey = (SlotKind.PARAM, qualname, occurrence, arg.arg)
                if key in keys and arg.annotation is not None:
                    mine.add(key)
                    self._mark(arg.annotation, key)
            returns: Optional[SlotKey] = (SlotKind.RETURN, qualname, occurrence, "return")
            if returns in keys and node.returns is not None:
                mine.add(returns)
                self._mark(node.returns, returns)
            else:
                returns = None
            function = Function(
                node.lineno, node.end_lineno or node.lineno, frozenset(mine), returns,
                tuple(positional),
            )  # fmt: skip
            self.functions.append(function)
            name = qualname.rsplit(".", 1)[-1]
            self.by_name.setdefault(name, []).append(function)
            if name == "__init__" and "." in qualname:
                self.by_name.setdefault(qualname.rsplit(".", 2)[-2], []).append(function)
            self.by_name.setdefault(qualname, []).append(function)
        for stmt in ast.walk(tree):
            if isinstance(stmt, ast.Name):
                self.names.setdefault(stmt.lineno, set()).add(stmt.id)
            called = called_names(stmt)
            if called and isinstance(stmt, (ast.expr, ast.stmt)):
                for line in range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1):
                    self.calls.setdefault(line, set()).update(called)
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                for key in keys:
                    if key[0] is SlotKind.VARIABLE and key[3] == stmt.target.id:
                        self._mark(stmt.annotation, key)
        self.functions.sort(key=lambda f: f.last - f.first)
        self._attributes(index, keys)

    def _attributes(self, index: ModuleIndex, keys: Set[SlotKey]) -> None:
        """``initialised`` and ``reads``: for the lines that set or read ``self.x``, the
        annotations of the method (of the class or a base in the module) that sets it first."""
        first: Dict[str, Dict[str, FrozenSet[SlotKey]]] = {}  # class -> attr -> keys
        uses: List[Tuple[str, int, str, bool]] = []  # (class, line, attr, is a store)
        bases: Dict[str, List[str]] = {}
        declared: Set[str] = set()  # attributes a class declares with an annotation
        for cls in index.scopes.values():
            if cls.key.kind != CLASS:
                continue
            node = cls.node
            assert isinstance(node, ast.ClassDef)
            name = cls.key.qualname
            bases[name] = [b.id for b in node.bases if isinstance(b, ast.Name)]
            mine_first = first.setdefault(name, {})
            for method in index.scopes.values():
                if method.parent is not cls or not isinstance(
                    method.node, (ast.FunctionDef, ast.AsyncFunctionDef)
                ):
                    continue
                qualname, occurrence = method.key.qualname, method.key.occurrence
                mine = frozenset(k for k in keys if k[1] == qualname and k[2] == occurrence)
                for stmt in method.statements:
                    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                        continue
                    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Attribute):
                        declared.add(stmt.target.attr)  # ``self.x: T = ...``
                    for item in ast.walk(stmt):
                        if (
                            isinstance(item, ast.Attribute)
                            and isinstance(item.value, ast.Name)
                            and item.value.id == "self"
                        ):
                            store = isinstance(item.ctx, ast.Store)
                            if store:
                                mine_first.setdefault(item.attr, mine)
                            uses.append((name, item.lineno, item.attr, store))
            declared.update(  # ``x: T`` in the class body
                stmt.target.id
                for stmt in node.body
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
            )

        def owner(cls: str, attr: str, seen: Set[str]) -> FrozenSet[SlotKey]:
            # a base that sets it declares it (mypy reads the MRO from the base up)
            for base in bases.get(cls, []):
                if base not in seen:
                    seen.add(base)
                    found = owner(base, attr, seen)
                    if found:
                        return found
            return first.get(cls, {}).get(attr, frozenset())

        for cls_name, line, attr, store in uses:
            if attr in declared:
                continue  # its type is declared: no initialiser decides it
            keys_of = owner(cls_name, attr, {cls_name})
            if keys_of:
                target = self.initialised if store else self.reads
                target[line] = target.get(line, frozenset()) | keys_of

    def _mark(self, node: ast.expr, key: SlotKey) -> None:
        for line in range(node.lineno, (node.end_lineno or node.lineno) + 1):
            self.on_line.setdefault(line, set()).add(key)

    def enclosing(self, line: int) -> Optional[Function]:
        for function in self.functions:  # smallest first
            if function.first <= line <= function.last:
                return function
        return None

    def enclosing_all(self, line: int) -> List[Function]:
        """Every function around ``line``, the innermost first."""
        return [f for f in self.functions if f.first <= line <= f.last]


_OPERATORS = {
    ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "truediv", ast.FloorDiv: "floordiv",
    ast.Mod: "mod", ast.Pow: "pow", ast.MatMult: "matmul", ast.BitAnd: "and", ast.BitOr: "or",
    ast.BitXor: "xor", ast.LShift: "lshift", ast.RShift: "rshift",
}  # fmt: skip
_COMPARISONS = {
    ast.Eq: "eq", ast.NotEq: "ne", ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge",
    ast.In: "contains", ast.NotIn: "contains",
}  # fmt: skip


def called_names(node: ast.AST) -> Set[str]:
    """The names of what a node calls: a function or method, or an operator's methods."""
    if isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        return {str(name)} if name else set()
    if isinstance(node, (ast.BinOp, ast.AugAssign)):
        op = _OPERATORS.get(type(node.op), "")
        names = {f"__{op}__", f"__r{op}__"}
        return names | {f"__i{op}__"} if isinstance(node, ast.AugAssign) else names
    if isinstance(node, ast.Compare):
        return {f"__{_COMPARISONS.get(type(op), 'eq')}__" for op in node.ops}
    if isinstance(node, ast.Subscript):
        return {"__getitem__", "__setitem__"}
    if isinstance(node, ast.UnaryOp):
        return {"__neg__", "__pos__", "__invert__", "__bool__"}
    return set()
