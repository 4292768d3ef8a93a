"""The project around a buffer: call sites in its other modules are evidence for the
buffer's slots, as ``localtypes annotate FILE`` reads them (``localtypes.run.project``).

The CLI indexes every module of the project for each run; an editor asks at every pause
in typing, so here the other modules are listed and read at most every
``REFRESH_SECONDS``, and only those that can import the buffer's module
(``_Module.may_call``) are indexed (and kept, by their bytes' stamp), the buffer's own
module first, as the CLI orders the file it was given.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, FrozenSet, List, Optional, Tuple

from localtypes.analysis.project import ModuleFacts, ProjectIndex, module_name
from localtypes.errors import SourceError
from localtypes.module import ModuleIndex
from localtypes.run.discovery import Walker, project_root
from localtypes.run.files import decode_source
from localtypes.run.project import MAX_MODULE_BYTES
from localtypes.settings import PYPROJECT, Settings
from localtypes.syntax import parse_source

REFRESH_SECONDS = 10.0
# Modules read as evidence, in the walker's order: reading a project costs about 3 ms a
# module once (then a stat every REFRESH_SECONDS), which a monorepo would make seconds.
MAX_MODULES = 2000
# Module indexes of other modules kept (those that import an open file's module).
INDEX_CACHE = 64

_WORD = re.compile(r"\w+")

Stamp = Tuple[int, int]  # mtime in ns, size


@dataclass(frozen=True)
class _Module:
    path: Path
    stamp: Stamp
    words: FrozenSet[str]  # every word of the module
    imported: FrozenSet[str]  # the words of its lines that import
    pyproject: Optional[Path]  # the nearest above it: a sub-project's module is not ours

    def may_call(self, dotted: str) -> bool:
        """Whether the module can reach module ``dotted`` by an import: it names the module
        in an import (``from pkg.mod import f``, ``from pkg import mod``), or imports a
        package above it and names the module anywhere (``import pkg`` ... ``pkg.mod.f()``).
        A superset: the project index decides."""
        *packages, leaf = dotted.split(".")
        if leaf in self.imported:
            return True
        return leaf in self.words and any(package in self.imported for package in packages)


class _Project:
    """The modules of one project (as the walker selects them) and their words."""

    def __init__(self, root: Path, walker: Walker) -> None:
        self.root = root
        self.walker = walker
        self.modules: Dict[str, _Module] = {}  # relative posix path -> module
        self.listed_at = -REFRESH_SECONDS

    def refresh(self) -> None:
        if time.monotonic() - self.listed_at < REFRESH_SECONDS:
            return
        found: Dict[str, _Module] = {}
        nearest: Dict[Path, Optional[Path]] = {}
        for file in self.walker.select([str(self.root)]).files:
            if len(found) >= MAX_MODULES:
                break
            relative = _relative(file, self.root)
            if relative is None or not relative.endswith((".py", ".pyi")):
                continue
            known = self.modules.get(relative)
            stamp = _stamp(file)
            if stamp is None:
                continue
            if known is not None and known.stamp == stamp:
                found[relative] = known
                continue
            text = _read(file, stamp)
            if text is not None:
                pyproject = _pyproject(file.parent, nearest)
                imported = _words(_import_lines(text))
                found[relative] = _Module(file, stamp, _words(text), imported, pyproject)
        self.modules = found
        self.listed_at = time.monotonic()


class Projects:
    """The projects of the open buffers, and the indexes of their modules."""

    def __init__(self) -> None:
        self._projects: Dict[Tuple[str, Tuple[str, ...], Tuple[str, ...]], _Project] = {}
        self._indexes: OrderedDict[Tuple[Path, Stamp], ModuleIndex] = OrderedDict()

    def forget(self) -> None:
        """List and read the modules again at the next use (a file was saved)."""
        for project in list(self._projects.values()):
            project.listed_at = -REFRESH_SECONDS

    def facts(self, text: str, path: Optional[str], settings: Settings) -> ModuleFacts:
        """The evidence for the slots of ``text``, the buffer of the file at ``path``:
        call sites in its own module and in the project's modules that can call into it.
        Raises ``SourceError`` if ``text`` does not parse."""
        own_index = ModuleIndex(parse_source(text), text)
        if path is None:
            return _facts({"<module>.py": own_index}, "<module>.py")
        root = project_root([path])
        own = _relative(Path(path), root) or Path(path).name
        project = self._project(root, settings)
        modules = {own: own_index}
        dotted = module_name(own)
        if project is not None and dotted:
            project.refresh()
            mine = _pyproject(Path(path).parent, {})
            for relative, module in project.modules.items():
                if relative != own and module.pyproject == mine and module.may_call(dotted):
                    index = self._index(module)
                    if index is not None:
                        modules[relative] = index
        return _facts(modules, own)

    def _project(self, root: Path, settings: Settings) -> Optional[_Project]:
        key = (str(root), tuple(settings.include), tuple(settings.exclude))
        project = self._projects.get(key)
        if project is None:
            try:
                walker = Walker(root, settings.include, settings.exclude)
            except (OSError, ValueError):
                return None
            project = self._projects[key] = _Project(root, walker)
        return project

    def _index(self, module: _Module) -> Optional[ModuleIndex]:
        key = (module.path, module.stamp)
        index = self._indexes.get(key)
        if index is None:
            text = _read(module.path, module.stamp)
            if text is None:
                return None
            try:
                index = ModuleIndex(parse_source(text), text)
            except (SourceError, RecursionError):
                return None
            self._indexes[key] = index
            while len(self._indexes) > INDEX_CACHE:
                self._indexes.popitem(last=False)
        self._indexes.move_to_end(key)
        return index


def _pyproject(folder: Path, nearest: Dict[Path, Optional[Path]]) -> Optional[Path]:
    """The nearest pyproject.toml at or above ``folder`` (as ``configs.Configs`` finds a
    file's project: modules of a sub-project below the root are not evidence)."""
    folder = Path(os.path.abspath(folder))
    seen: List[Path] = []
    found: Optional[Path] = None
    while True:
        if folder in nearest:
            found = nearest[folder]
            break
        seen.append(folder)
        if (folder / PYPROJECT).is_file():
            found = folder / PYPROJECT
            break
        if folder.parent == folder:
            break
        folder = folder.parent
    for each in seen:
        nearest[each] = found
    return found


def _words(text: str) -> FrozenSet[str]:
    return frozenset(sys.intern(word) for word in _WORD.findall(text))


_IMPORT = re.compile(r"\bimport\b")


def _import_lines(text: str) -> str:
    """The lines that hold an import, with their continuations (brackets, backslashes)."""
    kept: List[str] = []
    depth = 0
    going_on = False
    for line in text.splitlines():
        if depth > 0 or going_on or _IMPORT.search(line):
            kept.append(line)
            depth = max(0, depth + line.count("(") - line.count(")"))
            going_on = line.rstrip().endswith("\\")
    return "\n".join(kept)


def _facts(modules: Dict[str, ModuleIndex], own: str) -> ModuleFacts:
    try:
        return ProjectIndex(modules).facts(own)
    except RecursionError:
        return {}


def _relative(file: Path, root: Path) -> Optional[str]:
    try:
        return Path(os.path.realpath(file)).relative_to(root.resolve()).as_posix()
    except ValueError:
        return None


def _stamp(file: Path) -> Optional[Stamp]:
    try:
        status = file.stat()
    except OSError:
        return None
    return (status.st_mtime_ns, status.st_size)


def _read(file: Path, stamp: Stamp) -> Optional[str]:
    """The text of a module as the CLI's project index reads it; None for one it skips."""
    if stamp[1] > MAX_MODULE_BYTES:
        return None
    try:
        return decode_source(file.read_bytes()).text
    except (OSError, SourceError):
        return None
