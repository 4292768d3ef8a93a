"""What the standard library's functions return and which of its names are classes, read from
typeshed's stubs (the ``typeshed_client`` package ships them and resolves their names).

Only answers that do not depend on the call: a function's declared return type when every
overload agrees and no type variable is involved, and a class's own name (calling a class
gives an instance). Anything else is ``None``: the static pass abstains.
"""

from __future__ import annotations

import ast
import functools
import sys
from typing import Dict, Optional, Tuple

from localtypes.labels import LabelError, normalize_node

_STDLIB = frozenset(sys.stdlib_module_names)
_MAX_HOPS = 4  # re-exports followed (``os.path`` -> ``posixpath``)


def is_stdlib(module: str) -> bool:
    """Whether ``module`` (dotted) belongs to the standard library."""
    return module.split(".")[0] in _STDLIB or module == "builtins"


@functools.lru_cache(maxsize=1)
def _search_context() -> object:
    """typeshed's own stubs only: the standard library is all the static pass asks about,
    and an explicit (empty) search path spares typeshed_client a subprocess per lookup."""
    import typeshed_client  # imported on first use: only the static pass needs it

    return typeshed_client.get_search_context(search_path=[])


@functools.lru_cache(maxsize=512)
def _names(module: str) -> Optional[Dict[str, object]]:
    """The stub's names of ``module`` (typeshed_client's NameInfo by name), or None.

    Stubs that cannot be found, read or parsed (an unreadable install, a typeshed_client
    that fails to import) leave the pass abstaining, never the file unannotated.
    """
    try:
        import typeshed_client

        found = typeshed_client.get_stub_names(
            module,
            search_context=_search_context(),  # type: ignore[arg-type]
        )
    except (ImportError, SyntaxError, ValueError, OSError, RecursionError):
        return None
    return dict(found) if found is not None else None


def builtin_names() -> Dict[str, object]:
    """The names of the ``builtins`` stub."""
    return _names("builtins") or {}


def _lookup(module: str, name: str) -> Optional[Tuple[str, ast.AST]]:
    """(defining module, node) of ``module.name`` in the stubs, following re-exports."""
    import typeshed_client

    for _ in range(_MAX_HOPS):
        names = _names(module)
        if names is None or name not in names:
            return None
        node = getattr(names[name], "ast", None)
        if isinstance(node, typeshed_client.ImportedName):
            module, name = ".".join(node.module_name), node.name or name
            continue
        if node is None or isinstance(node, typeshed_client.ImportedName):
            return None
        return module, node
    return None


@functools.lru_cache(maxsize=4096)
def call_result(module: str, name: str) -> Optional[str]:
    """The label of what calling ``module.name`` returns, when the stubs say for certain."""
    import typeshed_client

    found = _lookup(module, name)
    if found is None:
        return None
    where, node = found
    if isinstance(node, ast.ClassDef):
        return name if where == "builtins" else f"{where}.{node.name}"
    if isinstance(node, typeshed_client.OverloadedName):
        labels = {_return_label(where, item) for item in node.definitions}
        return labels.pop() if len(labels) == 1 else None
    return _return_label(where, node)


def _return_label(module: str, node: object) -> Optional[str]:
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.returns is None:
        return None
    if isinstance(node, ast.AsyncFunctionDef):
        return None  # a coroutine, not its result
    names = _names(module) or {}
    qualified: Dict[str, str] = {}
    for sub in ast.walk(node.returns):
        if isinstance(sub, ast.Name):
            if sub.id.startswith("_") or sub.id in ("Self", "Any", "Incomplete"):
                return None  # type variables and private aliases: depends on the call
            info = names.get(sub.id)
            target = getattr(info, "ast", None)
            if isinstance(target, ast.ClassDef):
                qualified[sub.id] = sub.id if module == "builtins" else f"{module}.{sub.id}"
            elif target is not None and not isinstance(target, ast.ClassDef):
                origin = getattr(target, "module_name", None)
                if origin is None:
                    return None  # an alias or a TypeVar defined in the stub
                qualified[sub.id] = ".".join(origin) + "." + (target.name or sub.id)
    try:
        label = normalize_node(node.returns, qualified)
    except (LabelError, RecursionError):
        return None
    parts = label.replace("[", ".").split(".")
    if "AnyStr" in label or any(part.startswith("_") for part in parts):
        return None  # a type variable, or a private module's name no one writes
    return label
