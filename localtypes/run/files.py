"""Reading and writing users' source files byte-faithfully.

A file is decoded the way Python itself decodes it (a BOM, else a PEP 263 coding cookie,
else UTF-8) and its text keeps its line endings exactly, so encoding the text again gives
back the original bytes; new text is encoded with the same encoding and BOM. Writes go to
a temporary file in the same folder, then ``os.replace``: a reader (or a crash) sees the
old file or the new one, never a mix; the file's permission bits are kept.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import os
import stat
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path

from localtypes.errors import SourceError


@dataclass(frozen=True)
class DecodedSource:
    """The text of a source file and how to turn new text into bytes the same way."""

    text: str  # line endings as in the file ("\r\n" stays "\r\n")
    encoding: str  # a Python codec name, such as "utf-8" or "iso-8859-1"
    bom: bool  # the file starts with a UTF-8 byte order mark
    newline: str  # the first line ending in the file ("\n" when it has none)

    def encode(self, text: str) -> bytes:
        """``text`` as bytes with this file's encoding and BOM."""
        try:
            data = text.encode(self.encoding)
        except UnicodeEncodeError as exc:
            raise SourceError(f"the new text cannot be encoded as {self.encoding}: {exc}") from None
        return codecs.BOM_UTF8 + data if self.bom else data


def _first_newline(text: str) -> str:
    for index, char in enumerate(text):
        if char == "\n":
            return "\n"
        if char == "\r":
            return "\r\n" if text[index + 1 : index + 2] == "\n" else "\r"
    return "\n"


def decode_source(data: bytes) -> DecodedSource:
    """Decode a source file's bytes as Python would; ``SourceError`` if they cannot be."""
    bom = data.startswith(codecs.BOM_UTF8)
    body = data[len(codecs.BOM_UTF8) :] if bom else data
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        if "invalid or missing" in str(exc.msg):  # a first line that is not UTF-8
            _decode(body, "utf-8")
        raise SourceError(exc.msg, exc.lineno or 1, 0) from None
    codec = "utf-8" if encoding == "utf-8-sig" else encoding
    text = _decode(body, codec)
    return DecodedSource(text=text, encoding=codec, bom=bom, newline=_first_newline(text))


def _decode(body: bytes, codec: str) -> str:
    """``body`` decoded, or a ``SourceError`` at the line and column of the first bad byte."""
    try:
        return body.decode(codec)
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        column = exc.start - (body.rfind(b"\n", 0, exc.start) + 1)
        raise SourceError(f"cannot decode as {codec}: {exc.reason}", line, column) from None


def read_source(path: Path) -> DecodedSource:
    """Read and decode a source file (``OSError`` if it cannot be read)."""
    return decode_source(path.read_bytes())


def atomic_write(path: Path, data: bytes, *, fsync: bool = True) -> None:
    """Replace ``path``'s content with ``data`` atomically, keeping its permission bits.

    The data goes to a temporary file in the same folder, then ``os.replace``: readers see
    the old content or the new, never a mix. ``fsync=False`` skips flushing the data to
    disk before the rename (for content that may be lost in a crash, such as a cache).
    """
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = None
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())  # the rename must not reach the disk before the data
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
