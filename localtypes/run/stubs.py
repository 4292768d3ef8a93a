"""Where ``annotate --stubs OUT`` writes each file's stub, and the checks on OUT.

Stubs mirror the package layout: a file's stub goes to ``OUT/<its path relative to the
stub root>`` with the suffix ``.pyi``. The stub root is the common folder of the inputs,
raised past every folder that is a package (has ``__init__.py``), so that ``--stubs out
src/pkg`` writes ``out/pkg/mod.pyi`` and ``out`` can go on a type checker's search path.

OUT may not be inside an input folder (the next run would take the stubs for sources),
nor be the stub root itself (the stubs would land beside the sources, over any ``.pyi``
the project has): both are usage errors (exit 2), said before any work.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Sequence

import click

from localtypes.run.discovery import common_folder
from localtypes.run.files import atomic_write


def stub_root(paths: Sequence[str]) -> Path:
    """The folder the stubs' paths are relative to (see the module docstring)."""
    root = common_folder(paths)
    while (root / "__init__.py").is_file() or (root / "__init__.pyi").is_file():
        if root.parent == root:
            break
        root = root.parent
    return root


def check_stub_folder(out: str, paths: Sequence[str]) -> None:
    """Raise ``click.UsageError`` when OUT cannot take the stubs of ``paths``."""
    from localtypes.edit.stubs import require_stubgen

    try:
        require_stubgen()
    except Exception as exc:  # StubsUnavailable: a usage error, said as one
        raise click.UsageError(str(exc)) from None
    target = Path(out).resolve()
    if target.exists() and not target.is_dir():
        raise click.UsageError(f"--stubs {out}: not a folder")
    for raw in paths:
        source = Path(raw).resolve()
        if source.is_dir() and (target == source or source in target.parents):
            raise click.UsageError(
                f"--stubs {out} is inside the sources ({raw}): the stubs would be taken for "
                "sources on the next run; choose a folder outside them"
            )
    root = stub_root(paths)
    if target == root:
        raise click.UsageError(
            f"--stubs {out} would put the stubs beside the sources (over any .pyi there); "
            "choose another folder"
        )


def stub_path(path: str, out: str, root: str) -> Path:
    """Where the stub of the source ``path`` goes."""
    relative = Path(os.path.realpath(path)).relative_to(Path(root).resolve())
    return Path(out) / relative.with_suffix(".pyi")


def module_of(path: str, root: str) -> str:
    """The dotted module name of ``path`` under the stub root (``pkg/__init__.py``: pkg)."""
    relative = PurePosixPath(Path(os.path.realpath(path)).relative_to(Path(root).resolve()))
    parts = list(relative.with_suffix("").parts)
    if parts and parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(part.replace("-", "_") for part in parts) or "module"


def write_stub(path: str, text: str, out: str, root: str, target_version: tuple[int, int]) -> Path:
    """Write the stub of the annotated ``text`` of ``path``; returns where.

    A ``.pyi`` input is a stub already: its annotated text is written as it is.
    """
    from localtypes.edit.stubs import stub_text

    target = stub_path(path, out, root)
    stub = text if path.endswith(".pyi") else stub_text(text, module_of(path, root), target_version)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.touch()  # a new stub gets the umask's permissions, which atomic_write keeps
    atomic_write(target, stub.encode("utf-8"))
    return target
