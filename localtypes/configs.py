"""Where each file's settings come from: defaults, then the ``[tool.localtypes]`` and
``requires-python`` of the nearest pyproject.toml above it (as ruff finds them), then the
environment, then flags.

A run's files may each have their own (``Configs``); ``load_settings`` gives those of one
folder. Nothing else in localtypes reads pyproject.toml; the environment is read here (and
the model store's own ``LOCALTYPES_MODEL`` fallback in ``store``).
"""

from __future__ import annotations

import configparser
import dataclasses
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, FrozenSet, Mapping, Optional, Sequence, Tuple

from localtypes.settings import (
    INFERRED_TARGET,
    OLDEST_SUPPORTED,
    PATH_FIELDS,
    PYPROJECT,
    SETTING_PARSERS,
    ConfigError,
    Settings,
    env_var,
    parse_setting,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.9/3.10 only
    import tomli as tomllib


def find_project_root(start: Path, markers: Sequence[str] = (PYPROJECT,)) -> Optional[Path]:
    """The nearest folder at or above ``start`` (a file's folder, if a file) holding any of
    ``markers`` (file or folder names), else None.

    Settings look for pyproject.toml alone; a run's globs and .gitignore files are relative
    to the nearest pyproject.toml, .git or .hg (``run.discovery.ROOT_MARKERS``).
    """
    start = start.resolve()
    folder = start if start.is_dir() else start.parent
    for candidate in (folder, *folder.parents):
        if any((candidate / marker).exists() for marker in markers):
            return candidate
    return None


def _read_toml(path: Path) -> Dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None
    except UnicodeDecodeError as exc:  # TOML is UTF-8
        raise ConfigError(
            f"{path}: cannot read (not UTF-8: {exc.reason} at byte {exc.start})"
        ) from None


_SPEC = re.compile(r"^\s*(>=|~=|==|>|===)\s*(\d+)(?:\.(\d+))?")


def lower_bound(requires_python: str) -> Optional[Tuple[int, int]]:
    """The oldest (major, minor) a ``requires-python`` specifier admits, if it says."""
    bounds = []
    for spec in requires_python.split(","):
        match = _SPEC.match(spec)
        if match and match.group(2) == "3":
            bounds.append((3, int(match.group(3) or 0)))
    return max(bounds) if bounds else None


def _project_python(
    root: Path, pyproject: Mapping[str, Any]
) -> Tuple[Optional[Tuple[int, int]], str]:
    """The lower bound of ``[project] requires-python``, else of setup.cfg's python_requires,
    and where it was read (``requires-python ">=3.8" in pkg/pyproject.toml``); (None, "")
    when neither says."""
    project = pyproject.get("project")
    if isinstance(project, dict) and isinstance(project.get("requires-python"), str):
        spec = project["requires-python"]
        bound = lower_bound(spec)
        return bound, f'requires-python "{spec}" in {shown(root / PYPROJECT)}' if bound else ""
    setup_cfg = root / "setup.cfg"
    if setup_cfg.is_file():
        parser = configparser.ConfigParser()
        try:
            parser.read(setup_cfg, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            return None, ""
        requires = parser.get("options", "python_requires", fallback=None)
        if requires:
            bound = lower_bound(requires)
            return bound, f'python_requires "{requires}" in {shown(setup_cfg)}' if bound else ""
    return None, ""


def shown(path: Path) -> str:
    """A path as messages name it: relative to the current folder when below it."""
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(path)


def _tool_section(path: Path, pyproject: Mapping[str, Any]) -> Dict[str, Any]:
    """``[tool.localtypes]`` with dashes read as underscores and paths made absolute."""
    tool = pyproject.get("tool", {})
    section = tool.get("localtypes", {}) if isinstance(tool, dict) else {}
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [tool.localtypes] must be a table")
    values: Dict[str, Any] = {}
    for key, value in section.items():
        name = key.replace("-", "_")
        if name not in SETTING_PARSERS:
            known = ", ".join(sorted(k.replace("_", "-") for k in SETTING_PARSERS))
            raise ConfigError(
                f"{path}: unknown key {key!r} in [tool.localtypes] (known keys: {known})"
            )
        parsed = parse_setting(name, value, f"{path} [tool.localtypes]")
        if name in PATH_FIELDS and parsed is not None:
            parsed = str((path.parent / os.path.expanduser(parsed)).resolve())
        values[name] = parsed
    return values


def _from_environment(environ: Mapping[str, str]) -> Dict[str, Any]:
    values: Dict[str, Any] = {}
    for name in SETTING_PARSERS:
        raw = environ.get(env_var(name))
        if raw is not None:
            values[name] = parse_setting(name, raw, f"environment variable {env_var(name)}")
    return values


# Settings that decide what is written into a file: each file takes them from the nearest
# pyproject.toml above it. The others belong to the run (one model, one pool of processes,
# one cache folder, one checker run) and come from the pyproject.toml nearest the folder
# the run's paths share, as they always did.
PER_FILE = ("min_confidence", "kinds", "target_version", "include", "exclude")


@dataclass(frozen=True)
class Config:
    """The settings of the files under one pyproject.toml (or under none), and whence."""

    settings: Settings
    # The pyproject.toml they come from; None: no pyproject.toml above the files.
    pyproject: Optional[Path]
    # Why ``settings.target_version`` is what it is (``INFERRED_TARGET`` when None).
    target_reason: str
    # Which of include/exclude come from ``pyproject`` (relative to its folder); the
    # others are the defaults, or from the environment or a flag (relative to the run's root).
    file_patterns: FrozenSet[str] = frozenset()
    # Keys of ``pyproject`` that belong to the whole run (model, jobs, cache...) and that
    # this run takes from elsewhere: the runner warns about them.
    ignored: Tuple[str, ...] = ()

    @property
    def folder(self) -> Optional[Path]:
        """The project's folder: where its pyproject.toml is."""
        return None if self.pyproject is None else self.pyproject.parent

    def describe_target(self) -> str:
        """``target Python 3.8 (requires-python ">=3.8" in a/pyproject.toml)``."""
        version = self.settings.target_version or OLDEST_SUPPORTED
        return f"target Python {version[0]}.{version[1]} ({self.target_reason})"


class Configs:
    """The configuration of every file of a run, as ruff finds it: a file takes the
    ``[tool.localtypes]`` and ``requires-python`` of the nearest pyproject.toml above it
    (no merging with the ones further up); the environment and flags override them all.

    Each pyproject.toml is read once; ``ConfigError`` names a file that cannot be read or
    holds a bad key or value.
    """

    def __init__(
        self,
        start: Path,
        overrides: Mapping[str, Any],
        environ: Optional[Mapping[str, str]] = None,
    ) -> None:
        environ = os.environ if environ is None else environ
        self._environment = _from_environment(environ)
        self._flags: Dict[str, Any] = {}
        for name, value in overrides.items():
            if name not in SETTING_PARSERS:
                raise ConfigError(f"unknown setting {name!r}")
            if value is not None:
                self._flags[name] = parse_setting(name, value, f"--{name.replace('_', '-')}")
        self._fixed: Optional[Settings] = None
        self._nearest: Dict[Path, Optional[Path]] = {}  # folder -> its pyproject.toml
        self._configs: Dict[Optional[Path], Config] = {}
        self._run: Optional[Config] = None
        self.run = self.for_path(start)

    @classmethod
    def fixed(cls, settings: Settings, reason: str = "") -> Configs:
        """Every file takes ``settings`` (no pyproject.toml is read)."""
        configs = cls.__new__(cls)
        configs._fixed = settings
        why = reason or ("the settings given" if settings.target_version else INFERRED_TARGET)
        configs.run = Config(settings, None, why)
        return configs

    def for_path(self, path: Path) -> Config:
        """The configuration of a file, or of the files in a folder."""
        if self._fixed is not None:
            return self.run
        path = Path(os.path.abspath(path))
        return self.for_folder(path if path.is_dir() else path.parent)

    def for_file(self, path: Path) -> Config:
        """The configuration of a file (a folder walk knows which paths are files: no stat)."""
        return self.for_folder(Path(os.path.abspath(path)).parent)

    def for_folder(self, folder: Path) -> Config:
        """The configuration of the files in ``folder`` (an absolute path)."""
        if self._fixed is not None:
            return self.run
        return self._config(self._pyproject(folder))

    def _pyproject(self, folder: Path) -> Optional[Path]:
        if folder in self._nearest:
            return self._nearest[folder]
        candidate = folder / PYPROJECT
        if candidate.is_file():
            found: Optional[Path] = candidate
        elif folder.parent == folder:
            found = None
        else:
            found = self._pyproject(folder.parent)
        self._nearest[folder] = found
        return found

    def _config(self, pyproject: Optional[Path]) -> Config:
        if pyproject in self._configs:
            return self._configs[pyproject]
        values: Dict[str, Any] = {}
        detected: Optional[Tuple[int, int]] = None
        from_requires = ""
        if pyproject is not None:
            document = _read_toml(pyproject)
            values.update(_tool_section(pyproject, document))
            detected, from_requires = _project_python(pyproject.parent, document)
        file_keys = frozenset(values)
        from_file = frozenset(name for name in ("include", "exclude") if name in values)
        # Where the target comes from: the first of these that names a version.
        reasons = [
            (self._flags, "--target-version"),
            (self._environment, env_var("target_version")),
            (values, f"target-version in {shown(pyproject)}" if pyproject else ""),
            ({"target_version": detected}, from_requires),
        ]
        target, why = next(
            ((found["target_version"], reason) for found, reason in reasons
             if found.get("target_version") is not None),
            (None, INFERRED_TARGET),
        )  # fmt: skip
        values.update(self._environment)
        values.update(self._flags)
        values["target_version"] = target
        own = values
        ignored: Tuple[str, ...] = ()
        if self._run is not None:  # a file's own settings; the run's for the rest
            run, defaults = self._run.settings, Settings()
            ignored = tuple(
                name
                for name in sorted(file_keys)
                if name not in PER_FILE and values[name] != getattr(run, name)
            )
            values = {
                field.name: getattr(run if field.name not in PER_FILE else defaults, field.name)
                for field in dataclasses.fields(Settings)
            }
            values.update({name: own[name] for name in PER_FILE if name in own})
        overridden = frozenset(n for n in ("include", "exclude") if n in self._environment)
        overridden |= frozenset(n for n in ("include", "exclude") if n in self._flags)
        config = Config(Settings(**values), pyproject, why, from_file - overridden, ignored)
        if self._run is None:
            self._run = config
        self._configs[pyproject] = config
        return config


def load_settings(
    start: Path,
    overrides: Mapping[str, Any],
    environ: Optional[Mapping[str, str]] = None,
) -> Settings:
    """Settings for work under ``start``: defaults < pyproject.toml < environment < flags.

    ``overrides`` holds flag values by field name; ``None`` means "flag not given".
    ``target_version``: flags, then the environment, then target-version or the
    ``requires-python`` of the nearest pyproject.toml; None when none says (then each
    file gets ``OLDEST_SUPPORTED`` or what its syntax needs: ``localtypes.edit.target``).
    Raises ``ConfigError`` naming the source of any bad key or value.
    """
    return Configs(start, overrides, environ).run.settings
