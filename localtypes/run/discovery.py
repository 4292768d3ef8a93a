"""Which files a run touches: command-line paths expanded, with the usual folders left out.

Globs use the syntax of .gitignore (the ``pathspec`` package). Those of a pyproject.toml
are matched against paths relative to its folder, so ``exclude = ["tests/data/"]`` means
the same whichever folder is named on the command line, and each sub-project of a
monorepo has its own (``configs.Configs``: a file's nearest pyproject.toml); those of the
environment and flags, against paths relative to the run's root.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import pathspec

from localtypes.configs import Config, Configs, find_project_root
from localtypes.settings import PYPROJECT

# What marks the root of a project (and of its .gitignore files): the first found upwards.
ROOT_MARKERS = (PYPROJECT, ".git", ".hg")

# Folders no one wants annotated: build output, caches, vendored environments.
SKIPPED_DIRS = frozenset(
    {"build", "dist", "__pycache__", "node_modules", "site-packages", "__pypackages__"}
)


def common_folder(paths: Sequence[str]) -> Path:
    """The deepest folder holding every path (the current folder when none are given)."""
    if not paths:
        return Path.cwd()
    resolved = [Path(path).resolve() for path in paths]
    folders = [path if path.is_dir() else path.parent for path in resolved]
    return Path(os.path.commonpath([str(folder) for folder in folders]))


def project_root(paths: Sequence[str]) -> Path:
    """The nearest folder above all ``paths`` with pyproject.toml, .git or .hg; else their
    common folder. Globs and .gitignore files are read relative to it."""
    common = common_folder(paths)
    return find_project_root(common, ROOT_MARKERS) or common


def _globs(patterns: Sequence[str]) -> Optional[pathspec.GitIgnoreSpec]:
    return pathspec.GitIgnoreSpec.from_lines(patterns) if patterns else None


def _is_environment(folder: Path) -> bool:
    """A virtualenv (pyvenv.cfg) or a conda environment (conda-meta/)."""
    return (folder / "pyvenv.cfg").is_file() or (folder / "conda-meta").is_dir()


@dataclass
class _Ignores:
    """The .gitignore files in force in one folder: (folder they sit in, patterns)."""

    specs: List[Tuple[Path, pathspec.GitIgnoreSpec]] = field(default_factory=list)

    def with_folder(self, folder: Path) -> _Ignores:
        """These and ``folder``'s .gitignore; ``OSError`` when it cannot be read (walking
        the folder without it would take files the user ignores)."""
        gitignore = folder / ".gitignore"
        if not gitignore.is_file():
            return self
        lines = gitignore.read_text(encoding="utf-8", errors="replace").splitlines()
        return _Ignores([*self.specs, (folder, pathspec.GitIgnoreSpec.from_lines(lines))])

    def ignored(self, path: Path, is_dir: bool) -> bool:
        for base, spec in self.specs:
            try:
                relative = path.relative_to(base).as_posix()
            except ValueError:
                continue
            if spec.match_file(relative + "/" if is_dir else relative):
                return True
        return False


@dataclass(frozen=True)
class Selection:
    """What to annotate, and the command-line paths that could not be used, with why."""

    files: Tuple[Path, ...]
    problems: Tuple[Tuple[str, str], ...]


@dataclass(frozen=True)
class _Rules:
    """The include and exclude globs in force in a folder, each with the folder that its
    patterns are relative to."""

    include: Optional[pathspec.GitIgnoreSpec]
    include_base: Path
    exclude: Optional[pathspec.GitIgnoreSpec]
    exclude_base: Path


class Walker:
    """Expands command-line paths into files, honouring include/exclude and .gitignore.

    With ``configs``, each folder takes the include and exclude of its own configuration
    (the nearest pyproject.toml); else ``include`` and ``exclude`` hold everywhere.
    """

    def __init__(
        self,
        root: Path,
        include: Sequence[str],
        exclude: Sequence[str],
        configs: Optional[Configs] = None,
    ) -> None:
        self.root = root.resolve()
        self.include = _globs(include)
        self.exclude = _globs(exclude)
        self.configs = configs
        self._rules_of: Dict[int, _Rules] = {}  # id of a Config -> its rules
        self._in_folder: Dict[str, _Rules] = {}

    def _rules(self, folder: Path) -> _Rules:
        """The globs in force in ``folder`` (``ConfigError`` for a broken pyproject.toml)."""
        if self.configs is None:
            return _Rules(self.include, self.root, self.exclude, self.root)
        key = os.path.abspath(folder)
        rules = self._in_folder.get(key)
        if rules is None:
            config = self.configs.for_folder(Path(key))
            rules = self._rules_of.get(id(config))
            if rules is None:
                rules = self._rules_of[id(config)] = self._rules_for(config)
            self._in_folder[key] = rules
        return rules

    def _rules_for(self, config: Config) -> _Rules:
        def base(name: str) -> Path:
            own = config.folder is not None and name in config.file_patterns
            return config.folder.resolve() if own and config.folder else self.root

        settings = config.settings
        return _Rules(
            _globs(settings.include), base("include"), _globs(settings.exclude), base("exclude")
        )

    @staticmethod
    def _relative(path: Path, base: Path, is_dir: bool) -> str:
        try:
            relative = path.resolve().relative_to(base).as_posix()
        except ValueError:
            relative = path.name  # outside the project: match on the name alone
        return relative + "/" if is_dir else relative

    def excluded(self, path: Path, is_dir: bool = False) -> bool:
        # A folder is judged by the configuration it sits in (a sub-project's folder by
        # its parent's), a file by its own folder's.
        rules = self._rules(Path(os.path.abspath(path)).parent)
        return rules.exclude is not None and rules.exclude.match_file(
            self._relative(path, rules.exclude_base, is_dir)
        )

    def included(self, path: Path) -> bool:
        rules = self._rules(Path(os.path.abspath(path)).parent)
        return rules.include is None or rules.include.match_file(
            self._relative(path, rules.include_base, False)
        )

    def _ignores_above(self, folder: Path) -> _Ignores:
        """.gitignore files from the project root down to ``folder``'s parent."""
        ignores = _Ignores()
        folder = folder.resolve()
        try:
            parts = folder.relative_to(self.root).parts
        except ValueError:
            return ignores
        current = self.root
        for part in parts:  # the root, then each folder down to the parent of ``folder``
            ignores = ignores.with_folder(current)
            current = current / part
        return ignores

    def _walk(
        self, folder: Path, ignores: _Ignores, problems: List[Tuple[str, str]]
    ) -> Iterator[Path]:
        # A folder that cannot be read (or searched) is named and left out; the walk goes on.
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
            ignores = ignores.with_folder(folder)
        except OSError as exc:
            problems.append((str(folder), f"cannot read the folder: {exc.strerror or exc}"))
            return
        for entry in entries:
            path = Path(entry.path)
            try:  # without the folder's search permission, some file systems need a stat
                link, is_dir = entry.is_symlink(), entry.is_dir()
            except OSError as exc:
                problems.append((str(path), f"cannot read: {exc.strerror or exc}"))
                continue
            if link:
                continue  # a link may point out of the tree or loop; never write through one
            if is_dir:
                try:
                    skipped = (
                        entry.name.startswith(".")
                        or entry.name in SKIPPED_DIRS
                        or ignores.ignored(path, True)
                        or self.excluded(path, True)
                        or _is_environment(path)  # looks inside: may be refused
                    )
                except OSError as exc:
                    problems.append((str(path), f"cannot read the folder: {exc.strerror or exc}"))
                    continue
                if not skipped:
                    yield from self._walk(path, ignores, problems)
            elif (
                entry.is_file()
                and self.included(path)
                and not self.excluded(path)
                and not ignores.ignored(path, False)
            ):
                yield path

    def select(self, paths: Sequence[str]) -> Selection:
        """Files under ``paths`` in a stable order, each once; missing paths are problems.

        A file named on the command line is taken whatever its suffix (so pre-commit and
        editors may pass any file) unless ``exclude`` matches it; folders are walked.
        """
        files: List[Path] = []
        problems: List[Tuple[str, str]] = []
        seen = set()
        for raw in paths:
            path = Path(raw)
            if path.is_dir():
                try:
                    above = self._ignores_above(path)
                except OSError as exc:
                    problems.append((raw, f"cannot read a .gitignore: {exc.strerror or exc}"))
                    continue
                found = self._walk(path, above, problems)
            elif path.is_file():
                found = iter(() if self.excluded(path) else (path,))
            else:
                problems.append((raw, "no such file or folder"))
                continue
            for file in found:
                key = os.path.realpath(file)
                if key not in seen:
                    seen.add(key)
                    files.append(file)
        return Selection(tuple(files), tuple(problems))
