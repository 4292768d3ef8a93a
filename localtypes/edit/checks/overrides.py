"""Overrides: a method's annotation must agree with its base class's (project classes of
the module, and typeshed's for the standard library: ``overrides.json``): a parameter
takes at least what the base takes, a return gives at most what the base gives."""

from __future__ import annotations

import ast
import functools
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from localtypes.analysis.slots import Slot, SlotKind
from localtypes.edit.checks.kinds import TypeReader
from localtypes.edit.checks.runtime import Members, Verdict, union_members
from localtypes.edit.checks.tree import decorated
from localtypes.edit.plan import Reason
from localtypes.labels import LabelError, normalize
from localtypes.module import CLASS, Scope
from localtypes.syntax import FunctionNode, dotted_name, parameters

# Methods whose overrides mypy does not hold to their base's signature.
_NOT_CHECKED = frozenset({"__init__", "__new__", "__init_subclass__", "__post_init__"})
# A base's signature: (params as (name, label, kind), return label, where).
Signature = Tuple[List[Tuple[Optional[str], Optional[str], int]], Optional[str], str]


@functools.lru_cache(maxsize=1)
def _overrides() -> Dict[str, Dict[str, Any]]:
    path = Path(__file__).parent.parent / "overrides.json"  # localtypes/edit/, as packaged
    try:
        table: Dict[str, Dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
        return table
    except (OSError, ValueError):
        return {}


class OverrideChecks(TypeReader):
    """A method's label against its base's signature."""

    def _override_check(self, slot: Slot, label: str, members: Members) -> Optional[Verdict]:
        scope = self._function(slot)
        if scope is None or scope.parent is None or scope.parent.key.kind != CLASS:
            return None
        node = scope.node
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        if node.name in _NOT_CHECKED or decorated(node, "staticmethod"):
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
        expected = union_members(wanted)
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
                    if index == 0 and not decorated(stmt, "staticmethod"):
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


def _match_parameter(
    node: FunctionNode, name: str, base: Sequence[Tuple[Optional[str], Optional[str], int]]
) -> Optional[str]:
    """The base's label for our parameter ``name``: by name, else by position."""
    ours = list(parameters(node.args))
    if not decorated(node, "staticmethod"):
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
