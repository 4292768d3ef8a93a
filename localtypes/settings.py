"""One frozen settings object, and the one table of parsers every source of a value goes
through (``[tool.localtypes]``, the environment, flags, the HTTP layer's options).

Where the values come from for each file (the nearest pyproject.toml, the environment,
flags) is ``localtypes.configs``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, FrozenSet, Optional, Tuple

from localtypes import __version__
from localtypes.analysis.slots import SlotKind
from localtypes.errors import LocaltypesError

if sys.version_info >= (3, 11):
    pass
else:  # pragma: no cover - exercised on Python 3.9/3.10 only
    pass

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
SETTING_PARSERS: Dict[str, Callable[[Any], Any]] = {
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
PATH_FIELDS = ("model", "cache_dir")

_FIELDS = {field.name for field in dataclasses.fields(Settings)}
assert set(SETTING_PARSERS) == _FIELDS, "a field lacks a parser"


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
    return SETTING_PARSERS[name](value)


def parse_text_value(name: str, text: str) -> Any:
    """A setting's value from text (a query string): as from an environment variable.
    Raises ``ValueError`` with what was expected."""
    return SETTING_PARSERS[name](text)


# What a JSON value of each non-text setting must be, for the error message.
_JSON_KINDS = {
    "kinds": "list", "include": "list", "exclude": "list", "cache": "boolean",
    "access_log": "boolean", "min_confidence": "number", "queue_timeout": "number",
    "request_timeout": "number", "top_k": "integer", "jobs": "integer", "port": "integer",
    "threads": "integer", "max_concurrent_inference": "integer", "max_body_bytes": "integer",
    "verify": "boolean",
    "memory_limit": "integer",
}  # fmt: skip
assert set(_JSON_KINDS) | _TEXT_FIELDS == set(SETTING_PARSERS), "a setting lacks its JSON kind"


def _article(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def parse_setting(name: str, value: Any, where: str) -> Any:
    try:
        return SETTING_PARSERS[name](value)
    except ValueError as exc:
        label = where if where.startswith("--") else f"{where}: bad value for {name!r}"
        raise ConfigError(f"{label}: {exc}") from None
