"""The server's settings: ``[tool.localtypes]`` of the document's project (through
``localtypes.settings``, as the CLI reads it), then what the editor sends in
``initializationOptions`` and ``workspace/didChangeConfiguration``.

The editor may set ``min-confidence``, ``kinds`` and ``top-k`` (also spelt with ``_`` or in
camelCase, at the top level or under a ``localtypes`` key); a bad value or another key is
named in a message and left out, never fatal.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from localtypes.configs import load_settings
from localtypes.settings import ConfigError, Settings, parse_json_value

# What an editor may override: what a user tunes while looking at hints.
EDITOR_SETTINGS = ("min_confidence", "kinds", "top_k")
SECTION = "localtypes"

_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


def _name(key: str) -> str:
    """``minConfidence``, ``min-confidence`` -> ``min_confidence``."""
    return _CAMEL.sub("_", key).replace("-", "_").lower()


def for_us(document: Any) -> bool:
    """Whether a ``workspace/didChangeConfiguration`` document holds our settings: a
    ``localtypes`` key, one of our keys, or nothing at all (every setting back to the
    project's). A client may send all its settings, or none (``null``): then nothing
    changes."""
    if not isinstance(document, Mapping):
        return False
    return (
        not document
        or SECTION in document
        or any(_name(str(k)) in EDITOR_SETTINGS for k in document)
    )


def editor_overrides(document: Any) -> Tuple[Dict[str, Any], List[str]]:
    """The settings an editor sent, parsed, and a message for each one left out."""
    if isinstance(document, Mapping) and isinstance(document.get(SECTION), Mapping):
        document = document[SECTION]
    if document is None:
        return {}, []
    if not isinstance(document, Mapping):
        return {}, [f"settings must be an object, not {type(document).__name__}"]
    values: Dict[str, Any] = {}
    problems: List[str] = []
    for key, value in document.items():
        name = _name(str(key))
        if name not in EDITOR_SETTINGS:
            known = ", ".join(n.replace("_", "-") for n in EDITOR_SETTINGS)
            problems.append(f"unknown setting {str(key)[:40]!r} (known: {known})")
            continue
        try:
            values[name] = parse_json_value(name, value)
        except ValueError as exc:
            problems.append(f"bad value for {name.replace('_', '-')!r}: {exc}")
    return values, problems


def document_settings(
    path: Optional[str], root: Optional[str], overrides: Mapping[str, Any]
) -> Tuple[Settings, Optional[str]]:
    """Settings for a document at ``path`` (None: not a file) in the workspace ``root``,
    and why the project's own settings could not be read, if they could not.

    ``verify`` is always off: a type checker run per keystroke is not what an editor wants.
    """
    start = Path(path).parent if path else Path(root) if root else None
    problem = None
    try:
        settings = load_settings(start, {}) if start is not None else Settings()
    except ConfigError as exc:
        settings, problem = Settings(), str(exc)
    except OSError as exc:  # a folder that vanished or cannot be read
        settings, problem = Settings(), f"cannot read the project's settings: {exc}"
    return dataclasses.replace(settings, verify=False, **overrides), problem
