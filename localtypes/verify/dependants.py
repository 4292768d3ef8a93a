"""The project's modules that import an annotated one: the checker reads them too.

An annotation can break code that was not annotated: a test that assigns to what an
annotated function returns, a caller in a folder the run excluded. ``--verify`` promises no
new error the annotations cause in what it was given, so the checker's baseline and rounds
include every module under the paths given (excluded ones too) that imports an annotated
module (or a package above one), found by their import statements; they are checked, never
written. (Modules outside those paths, such as a sibling ``tests/`` folder, are not: checking
them would cost more than the check itself on small projects.)
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Set

MAX_BYTES = 1_000_000  # a generated giant is not a caller worth a check


def dependants(annotated: Sequence[str], candidates: Iterable[Path]) -> List[str]:
    """Those of ``candidates`` (not annotated) that import one of ``annotated``'s modules."""
    names = {name for name in (module_of(Path(path)) for path in annotated) if name}
    given = {str(Path(path).resolve()) for path in annotated}
    found: List[str] = []
    for path in candidates:
        real = str(path.resolve())
        if real in given:
            continue
        if any(_related(imported, names) for imported in imports_of(path)):
            found.append(real)
    return found


def module_of(path: Path) -> Optional[str]:
    """``pkg/sub/mod.py`` -> ``pkg.sub.mod``, counted from the first folder above that is
    not a package (``__init__.py``); a package's ``__init__.py`` is the package."""
    path = path.resolve()
    parts = [path.stem] if path.stem != "__init__" else []
    folder = path.parent
    while (folder / "__init__.py").is_file() and folder != folder.parent:
        parts.insert(0, folder.name)
        folder = folder.parent
    return ".".join(parts) or None


def imports_of(path: Path) -> Set[str]:
    """The absolute module names a file imports (relative imports resolved); none when it
    cannot be read or parsed."""
    try:
        data = path.read_bytes()
        if len(data) > MAX_BYTES or b"import" not in data:
            return set()
        tree = ast.parse(data)
    except (OSError, SyntaxError, ValueError, RecursionError):
        return set()
    own = module_of(path) or ""
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    out: Set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = ".".join([*parts, base] if base else parts)
            if base:
                out.add(base)
                out.update(f"{base}.{alias.name}" for alias in node.names)
    return out


def _related(imported: str, annotated: Set[str]) -> bool:
    """Whether importing ``imported`` reaches an annotated module: the module itself, one
    inside it, or a package above one (``import pkg`` where ``pkg.mod`` is annotated)."""
    for name in annotated:
        if imported == name or imported.startswith(name + ".") or name.startswith(imported + "."):
            return True
    return False
