"""The smallest set of text replacements that turns one text into another.

The server never splices annotations itself: the core API writes them (with every safety
check) and the editor gets the difference between the buffer and that output, so applying
the edits gives exactly the core's text.
"""

from __future__ import annotations

import difflib
from typing import List, NamedTuple

from localtypes.lsp.text import split_lines


class Replacement(NamedTuple):
    """``text`` replaces ``old[start:end]`` (indices into the old text)."""

    start: int
    end: int
    text: str


def replacements(old: str, new: str) -> List[Replacement]:
    """Non-overlapping replacements, in order, that turn ``old`` into ``new``.

    Lines are matched first (an annotation or an import touches a few lines of a long
    file), then each changed block is narrowed to the characters that differ.
    """
    if old == new:
        return []
    old_lines = split_lines(old)
    new_lines = split_lines(new)
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    starts = [0]
    for line in old_lines:
        starts.append(starts[-1] + len(line))
    found: List[Replacement] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        before = "".join(old_lines[i1:i2])
        after = "".join(new_lines[j1:j2])
        found.append(_narrowed(starts[i1], before, after))
    return found


def _narrowed(start: int, before: str, after: str) -> Replacement:
    """``after`` replacing ``before`` at ``start``, less their common prefix and suffix."""
    limit = min(len(before), len(after))
    prefix = 0
    while prefix < limit and before[prefix] == after[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and before[-1 - suffix] == after[-1 - suffix]:
        suffix += 1
    return Replacement(
        start + prefix, start + len(before) - suffix, after[prefix : len(after) - suffix]
    )


def apply(old: str, edits: List[Replacement]) -> str:
    """``old`` with ``edits`` applied (what an editor does with the text edits)."""
    parts: List[str] = []
    position = 0
    for edit in sorted(edits, key=lambda e: (e.start, e.end)):
        parts.append(old[position : edit.start])
        parts.append(edit.text)
        position = edit.end
    parts.append(old[position:])
    return "".join(parts)
