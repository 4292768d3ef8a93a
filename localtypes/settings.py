"""One frozen settings object: defaults, then ``[tool.localtypes]``, environment, flags.

A run's files may each have their own (``Configs``: a file takes the nearest
pyproject.toml above it, as ruff does); ``load_settings`` gives those of one folder.
Nothing else in localtypes reads pyproject.toml; the environment is read here (and the
model store's own ``LOCALTYPES_MODEL`` fallback in ``store``).
"""

from __future__ import annotations

import configparser
import dataclasses
import functools
import hashlib
import json
import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, FrozenSet, Mapping, Optional, Sequence, Tuple

from localtypes import __version__
from localtypes.analysis.slots import SlotKind
from localtypes.errors import LocaltypesError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.9/3.10 only
    import tomli as tomllib

ENV_PREFIX = "LOCALTYPES_"
PYPROJECT = "pyproject.toml"
DEFAULT_TOP_K = 5
MAX_TOP_K = 20


@dataclass(frozen=True)
class Settings:
    """Every tunable of localtypes, each with its default."""

    # Model store folder; None means $LOCALTYPES_MODEL, then the bundled store.
    model: Optional[str] = None
    # --- annotate ---
    # Write a type only when its confidence reaches this; None: the model's calibrated value.
    min_confidence: Optional[float] = None
    kinds: FrozenSet[SlotKind] = frozenset({SlotKind.PARAM, SlotKind.RETURN})
    # (major, minor) of the oldest Python the annotated code must run on; None: no
    # requires-python says: OLDEST_SUPPORTED, or newer where a file's syntax needs it.
    target_version: Optional[Tuple[int, int]] = None
    # Processes annotating files; None: the CPU count, fewer when the files are few and
    # small (starting a process and loading the model costs about a second).
    jobs: Optional[int] = None
    # gitignore-style globs (the syntax of .gitignore, matched against paths relative to
    # the folder given on the command line): which files a folder walk takes, and which
    # files and folders it leaves out (also applied to files named on the command line).
    include: Tuple[str, ...] = ("*.py", "*.pyi")
    exclude: Tuple[str, ...] = ()
    cache: bool = True
    # Where the per-file result cache lives; None: the platformdirs user cache folder.
    cache_dir: Optional[str] = None
    # Have a type checker (mypy: the verify extra) confirm the annotations against the
    # project's baseline; one that adds an error gets its next guess, or none.
    verify: bool = False
    # --- predict ---
    # Ranked guesses per slot (``localtypes predict``, ``POST /predict``).
    top_k: int = DEFAULT_TOP_K
    # --- serve ---
    host: str = "127.0.0.1"
    port: int = 8000
    # HTTP worker threads. More than the inference slots, so that probes and /metrics are
    # answered while requests queue for the model (16 clients: probe p50 26 ms vs 423 ms
    # with 4 threads, measured with scripts/bench_server.py).
    threads: int = 16
    # Concurrent model calls; more requests wait up to queue_timeout seconds, then get 503.
    max_concurrent_inference: int = 2
    queue_timeout: float = 2.0
    max_body_bytes: int = 1 << 20
    # Wall-clock limit on one request's work (parse + model); past it the request gets 503.
    request_timeout: float = 10.0
    access_log: bool = False
    # Bytes of memory the service may use; None: the cgroup's limit (a container's), if any.
    # The request body limit and the requests that run at once are planned to fit in it.
    memory_limit: Optional[int] = None

    def cache_key(self, model_sha256: str, threshold: float) -> str:
        """A digest of everything that decides what ``annotate`` writes for given bytes.

        ``threshold`` is the model's calibrated default, used when ``min_confidence`` is
        None; the digest also covers this code (see ``code_fingerprint``).
        """
        parts = {
            "localtypes": __version__,
            "code": code_fingerprint(),
            "model": model_sha256,
            "min_confidence": threshold if self.min_confidence is None else self.min_confidence,
            "kinds": sorted(kind.value for kind in self.kinds),
            "target_version": list(self.target_version or ()),
            "verify": self.verify,
        }
        text = json.dumps(parts, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A digest of localtypes' own source: a development checkout whose code changed gets
    a fresh cache even though ``__version__`` did not move."""
    digest = hashlib.sha256(__version__.encode())
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        try:
            name = path.relative_to(package).as_posix()
            digest.update(name.encode() + b"\0" + path.read_bytes())
        except OSError:
            continue
    return digest.hexdigest()[:16]


class ConfigError(LocaltypesError):
    """A setting has an unknown name or a value of the wrong type or range."""


# --- value parsing: every source (TOML, environment, flags) goes through these ----------


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
    raise ValueError(f"expected true or false, got {value!r}")


def _int(low: int, high: Optional[int] = None) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError(f"expected an integer, got {value!r}")
        number = int(value)
        if number < low or (high is not None and number > high):
            wanted = f"between {low} and {high}" if high is not None else f">= {low}"
            raise ValueError(f"expected an integer {wanted}, got {number}")
        return number

    return parse


def _float(
    low: float, high: Optional[float] = None, *, strict_low: bool = False
) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError(f"expected a number, got {value!r}")
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"expected a finite number, got {value!r}")
        too_low = number <= low if strict_low else number < low
        if too_low or (high is not None and number > high):
            bound = f"> {low}" if strict_low else f">= {low}"
            upper = f" and <= {high}" if high is not None else ""
            raise ValueError(f"expected a number {bound}{upper}, got {number}")
        return number

    return parse


def _optional_int(low: int) -> Callable[[Any], Optional[int]]:
    parse = _int(low)

    def optional(value: Any) -> Optional[int]:
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "auto")):
            return None
        return parse(value)

    return optional


def _optional_float(value: Any) -> Optional[float]:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "auto")):
        return None
    return _float(0.0, 1.0)(value)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _optional_str(value: Any) -> Optional[str]:
    if value is None or value == "":
        return None
    return _str(value)


def _strings(value: Any) -> Tuple[str, ...]:
    """A list of strings; from the environment or a flag, one comma-separated string."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise ValueError(f"expected a list of strings, got {value!r}")


def _kinds(value: Any) -> FrozenSet[SlotKind]:
    if isinstance(value, (frozenset, set)) and all(isinstance(k, SlotKind) for k in value):
        kinds = frozenset(value)
    else:
        names = _strings(value)
        known = ", ".join(kind.value for kind in SlotKind)
        try:
            kinds = frozenset(SlotKind(name.strip().lower()) for name in names)
        except ValueError:
            raise ValueError(f"expected kinds among {known}, got {value!r}") from None
    if not kinds:
        raise ValueError("expected at least one kind")
    return kinds


_VERSION = re.compile(r"^(?:py)?(\d)\.?(\d{1,2})$")
# The newest Python release this localtypes knows (or the running one, if newer): a target
# version past it names a Python that does not exist (``--target-version 3.99``).
NEWEST_PYTHON = (3, 14)
# The target of code that says nothing (no requires-python, no target-version): the oldest
# Python the code is likely to meet. 3.9 left upstream support in October 2025, 3.10 in
# October 2026 (PEP 619); 3.10 stays the floor as the conservative choice (``X | None``
# runs on it) until the next release review moves it. Never the running Python: that wrote
# ``str | None`` into code that still supports 3.8.
OLDEST_SUPPORTED = (3, 10)
INFERRED_TARGET = (
    "no requires-python; 3.10, the oldest Python upstream supported until 2026-10, "
    "or newer where a file's syntax already needs it"
)


def parse_target_version(value: Any) -> Optional[Tuple[int, int]]:
    """``"3.9"``, ``"py39"`` or ``(3, 9)`` -> ``(3, 9)``; ``None``/``"auto"`` -> detect."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "auto")):
        return None
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        major, minor = value
    else:
        match = _VERSION.match(str(value).strip().lower())
        if not match:
            raise ValueError(f"expected a version like 3.9 or py39, got {value!r}")
        major, minor = int(match.group(1)), int(match.group(2))
    newest = max(NEWEST_PYTHON, (sys.version_info[0], sys.version_info[1]))
    if major != 3 or not 7 <= minor <= newest[1]:
        raise ValueError(
            f"expected a Python version from 3.7 to {newest[0]}.{newest[1]}, got {major}.{minor}"
        )
    return (major, minor)


# Each field's parser; a field without one here cannot be configured (none today).
_PARSERS: Dict[str, Callable[[Any], Any]] = {
    "model": _optional_str,
    "min_confidence": _optional_float,
    "kinds": _kinds,
    "target_version": parse_target_version,
    "jobs": _optional_int(1),
    "include": _strings,
    "exclude": _strings,
    "cache": _bool,
    "cache_dir": _optional_str,
    "verify": _bool,
    "top_k": _int(1, MAX_TOP_K),
    "host": _str,
    "port": _int(0, 65535),
    "threads": _int(1),
    "max_concurrent_inference": _int(1),
    "queue_timeout": _float(0.0, strict_low=True),
    "max_body_bytes": _int(1),
    "request_timeout": _float(0.0, strict_low=True),
    "access_log": _bool,
    "memory_limit": _optional_int(1),
}
# Settings whose values are folders: relative values in pyproject.toml are relative to it.
_PATH_FIELDS = ("model", "cache_dir")

assert set(_PARSERS) == {f.name for f in dataclasses.fields(Settings)}, "a field lacks a parser"


def env_var(name: str) -> str:
    """The variable of a setting: ``min_confidence`` -> ``LOCALTYPES_MIN_CONFIDENCE``."""
    return ENV_PREFIX + name.upper()


# Settings whose values are text: from JSON (an HTTP request), only these take a string.
_TEXT_FIELDS = frozenset({"model", "cache_dir", "host", "target_version"})


def parse_json_value(name: str, value: Any) -> Any:
    """A setting's value from a JSON document (an HTTP request): typed, never text for a
    number, a flag or a list. Raises ``ValueError`` with what was expected."""
    if name in _TEXT_FIELDS:
        if value is not None and not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
    elif isinstance(value, str):
        raise ValueError(f"expected {_article(_JSON_KINDS[name])}, got {value!r}")
    return _PARSERS[name](value)


def parse_text_value(name: str, text: str) -> Any:
    """A setting's value from text (a query string): as from an environment variable.
    Raises ``ValueError`` with what was expected."""
    return _PARSERS[name](text)


# What a JSON value of each non-text setting must be, for the error message.
_JSON_KINDS = {
    "kinds": "list", "include": "list", "exclude": "list", "cache": "boolean",
    "access_log": "boolean", "min_confidence": "number", "queue_timeout": "number",
    "request_timeout": "number", "top_k": "integer", "jobs": "integer", "port": "integer",
    "threads": "integer", "max_concurrent_inference": "integer", "max_body_bytes": "integer",
    "verify": "boolean",
    "memory_limit": "integer",
}  # fmt: skip
assert set(_JSON_KINDS) | _TEXT_FIELDS == set(_PARSERS), "a setting lacks its JSON kind"


def _article(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _parse(name: str, value: Any, where: str) -> Any:
    try:
        return _PARSERS[name](value)
    except ValueError as exc:
        label = where if where.startswith("--") else f"{where}: bad value for {name!r}"
        raise ConfigError(f"{label}: {exc}") from None


# --- the project: pyproject.toml and the Python it supports ----------------------------


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
        if name not in _PARSERS:
            known = ", ".join(sorted(k.replace("_", "-") for k in _PARSERS))
            raise ConfigError(
                f"{path}: unknown key {key!r} in [tool.localtypes] (known keys: {known})"
            )
        parsed = _parse(name, value, f"{path} [tool.localtypes]")
        if name in _PATH_FIELDS and parsed is not None:
            parsed = str((path.parent / os.path.expanduser(parsed)).resolve())
        values[name] = parsed
    return values


def _from_environment(environ: Mapping[str, str]) -> Dict[str, Any]:
    values: Dict[str, Any] = {}
    for name in _PARSERS:
        raw = environ.get(env_var(name))
        if raw is not None:
            values[name] = _parse(name, raw, f"environment variable {env_var(name)}")
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
            if name not in _PARSERS:
                raise ConfigError(f"unknown setting {name!r}")
            if value is not None:
                self._flags[name] = _parse(name, value, f"--{name.replace('_', '-')}")
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
