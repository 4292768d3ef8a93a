"""Features from docstrings: the types they name (Sphinx, Google and NumPy styles)."""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Tuple

_DOC_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def doc_param_types(doc: str) -> Tuple[Dict[str, str], Optional[str]]:
    """Parameter and return types written in a docstring (Sphinx, Google and NumPy styles)."""
    params: Dict[str, str] = {}
    returns: Optional[str] = None
    lines = doc.splitlines()
    section = ""
    for index, raw in enumerate(lines):
        line = raw.strip()
        match = re.match(r":param\s+([^:]+?)\s+(\w+)\s*:", line)
        if match:
            params[match.group(2)] = match.group(1)
            continue
        match = re.match(r":type\s+(\w+)\s*:\s*(.+)", line)
        if match:
            params[match.group(1)] = match.group(2)
            continue
        match = re.match(r":rtype:\s*(.+)", line)
        if match:
            returns = match.group(1)
            continue
        lowered = line.rstrip(":").lower()
        if lowered in ("args", "arguments", "parameters", "params", "keyword arguments"):
            section = "params"
            continue
        if lowered in ("returns", "return", "yields"):
            section = "returns"
            continue
        if set(line) <= {"-", "="}:
            continue
        if section == "params":
            match = re.match(r"\*{0,2}(\w+)\s*\(([^)]+)\)\s*:", line) or re.match(
                r"\*{0,2}(\w+)\s+:\s+(.+)", line
            )
            if match:
                params[match.group(1)] = match.group(2)
        elif section == "returns" and line and returns is None:
            match = re.match(r"([^:]+):", line)
            returns = match.group(1) if match else line
            if index + 1 < len(lines) and not lines[index + 1].strip():
                section = ""
    return params, returns


def doc_features(text: Optional[str], prefix: str) -> List[str]:
    if not text:
        return []
    words = _DOC_WORD.findall(text)[:6]
    out = [f"{prefix}:{word.rsplit('.', 1)[-1].lower()}" for word in words]
    if words:
        out.append(f"{prefix}:first:{words[0].rsplit('.', 1)[-1].lower()}")
    return out
