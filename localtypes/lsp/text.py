"""An editor's buffer: its text, its lines as LSP counts them, positions in the negotiated
encoding, and the changes the client sends.

LSP lines end at ``\\n``, ``\\r\\n`` or ``\\r`` only, as Python's tokenizer (and so ``ast``)
counts them; ``str.splitlines`` would also split at a form feed, which Python source may
hold, and every position after it would be off. Columns are counted in UTF-16 code units
unless the client and server agreed on UTF-8 or UTF-32; ``ast`` columns are UTF-8 bytes.
"""

from __future__ import annotations

import bisect
import re
from typing import List, Optional, Tuple

_NEWLINE = re.compile(r"\r\n|\r|\n")

UTF8 = "utf-8"
UTF16 = "utf-16"
UTF32 = "utf-32"


def _units(text: str, encoding: str) -> int:
    """Code units of ``text`` in the position encoding."""
    if encoding == UTF32 or text.isascii():
        return len(text)
    if encoding == UTF8:
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _index(line: str, units: int, encoding: str) -> int:
    """The index into ``line`` at ``units`` code units (clamped to the line; a position
    inside a character counts as the character's end, as LSP asks)."""
    if encoding == UTF32 or line.isascii():
        return min(units, len(line))
    counted = 0
    for index, char in enumerate(line):
        if counted >= units:
            return index
        counted += _units(char, encoding)
    return len(line)


class Buffer:
    """The text of one open document and its version."""

    def __init__(self, text: str, version: Optional[int] = None, encoding: str = UTF16) -> None:
        self.encoding = encoding
        self.version = version
        self._set(text)

    def _set(self, text: str) -> None:
        self.text = text
        self.starts = [0, *(match.end() for match in _NEWLINE.finditer(text))]

    # --- positions ---------------------------------------------------------------------

    def _line_text(self, line: int) -> str:
        """Line ``line`` (0-based) without its line break."""
        start = self.starts[line]
        end = self.starts[line + 1] if line + 1 < len(self.starts) else len(self.text)
        return self.text[start:end].rstrip("\r\n")

    def offset(self, line: int, character: int) -> int:
        """The index into the text of an LSP position (0-based line and code units);
        out-of-range positions are clamped to the end of their line or of the text."""
        if line < 0:
            return 0
        if line >= len(self.starts):
            return len(self.text)
        return self.starts[line] + _index(self._line_text(line), max(character, 0), self.encoding)

    def position(self, offset: int) -> Tuple[int, int]:
        """The LSP position (0-based line, code units) of an index into the text."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self.starts, offset) - 1
        start = self.starts[line]
        return line, _units(self.text[start:offset], self.encoding)

    def ast_offset(self, line: int, column: int) -> int:
        """The index into the text of an ``ast`` position (1-based line, UTF-8 byte column)."""
        if not 1 <= line <= len(self.starts):
            return len(self.text)
        text = self._line_text(line - 1)
        if text.isascii():
            return self.starts[line - 1] + min(column, len(text))
        prefix = text.encode("utf-8", "surrogatepass")[:column]
        return self.starts[line - 1] + len(prefix.decode("utf-8", "ignore"))

    # --- changes -----------------------------------------------------------------------

    def replace_all(self, text: str, version: Optional[int] = None) -> None:
        """A full-document change."""
        self._set(text)
        self.version = version

    def apply(
        self,
        start: Tuple[int, int],
        end: Tuple[int, int],
        text: str,
        version: Optional[int] = None,
    ) -> None:
        """An incremental change: ``text`` replaces the range from ``start`` to ``end``."""
        first = self.offset(*start)
        last = max(first, self.offset(*end))
        self._set(self.text[:first] + text + self.text[last:])
        self.version = version


def split_lines(text: str) -> List[str]:
    """The lines of ``text`` with their line breaks, as LSP counts lines."""
    lines: List[str] = []
    position = 0
    for match in _NEWLINE.finditer(text):
        lines.append(text[position : match.end()])
        position = match.end()
    if position < len(text):
        lines.append(text[position:])
    return lines
