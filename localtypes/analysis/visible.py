"""What a module can see, for the model: its classes, type aliases, imports, class members.

Read off the module index (``localtypes.module``), so that the model and the writer agree
on what the module binds and imports.
"""

from __future__ import annotations

import ast
from typing import Dict, List, Tuple, Union

from localtypes.analysis.slots import ModuleInfo
from localtypes.module import CLASS, MODULE, ModuleIndex
from localtypes.syntax import dotted_name, walk_nodes

_TYPE_FACTORIES = frozenset({"TypeVar", "ParamSpec", "TypeVarTuple", "NewType", "TypeAliasType"})


def module_info(index: ModuleIndex) -> ModuleInfo:
    """The classes (not inside functions), type aliases and imports of an indexed module."""
    classes: List[str] = []
    members: Dict[str, Tuple[str, ...]] = {}
    for scope in index.scopes.values():
        if scope.key.kind != CLASS:
            continue
        outer = scope.parent
        while outer is not None and outer.key.kind == CLASS:
            outer = outer.parent
        if outer is not None and outer.key.kind == MODULE:
            assert isinstance(scope.node, ast.ClassDef)
            classes.append(scope.key.qualname)
            members[scope.key.qualname] = _class_members(scope.node)
    aliases: List[str] = []
    for stmt, _, definition in index.module_statements():
        # An assignment in a loop is a variable, whatever its value looks like.
        if definition and isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                if isinstance(target, ast.Name) and _is_type_alias(target.id, stmt):
                    aliases.append(target.id)
    return ModuleInfo(
        imports=dict(index.imports),
        classes=tuple(dict.fromkeys(classes)),
        aliases=tuple(dict.fromkeys(aliases)),
        future_annotations=index.names.future_annotations,
        members=members,
    )


def _class_members(cls: ast.ClassDef) -> Tuple[str, ...]:
    """Names a class's instances answer to: methods, class attributes, ``self.x = ...``."""
    names: List[str] = []
    for stmt in cls.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.append(stmt.name)
            for node in walk_nodes(stmt):
                if (
                    type(node) is ast.Attribute
                    and isinstance(node.ctx, ast.Store)
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "self"
                ):
                    names.append(node.attr)
        elif isinstance(stmt, ast.Assign):
            names.extend(t.id for t in stmt.targets if isinstance(t, ast.Name))
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            names.append(stmt.target.id)
    return tuple(dict.fromkeys(name for name in names if not name.startswith("__")))


def _is_type_alias(name: str, stmt: Union[ast.Assign, ast.AnnAssign]) -> bool:
    """Whether a module-level assignment defines a type: an alias, a TypeVar, a NewType."""
    value = stmt.value
    if isinstance(stmt, ast.AnnAssign):
        annotation = dotted_name(stmt.annotation) or ""
        if annotation.rsplit(".", 1)[-1] == "TypeAlias":
            return True
    if isinstance(value, ast.Call):
        return (dotted_name(value.func) or "").rsplit(".", 1)[-1] in _TYPE_FACTORIES
    if isinstance(value, ast.Subscript) or (
        isinstance(value, ast.BinOp) and isinstance(value.op, ast.BitOr)
    ):
        return True  # ``KeyT = Union[bytes, str]``, ``Pair = tuple[int, int]``
    bare = name.lstrip("_")
    capwords = bare[:1].isupper() and not bare.isupper()
    return capwords and isinstance(value, (ast.Name, ast.Attribute))
