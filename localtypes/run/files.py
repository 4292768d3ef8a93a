"""Reading and writing users' source files byte-faithfully.

A file is decoded the way Python itself decodes it (a BOM, else a PEP 263 coding cookie,
else UTF-8) and its text keeps its line endings exactly, so encoding the text again gives
back the original bytes; new text is encoded with the same encoding and BOM. Writes go to
a temporary file in the same folder, then ``os.replace``: a reader (or a crash) sees the
old file or the new one, never a mix; the file's permission bits are kept.

``replace_source`` is how a user's file is written: only a regular file that the user may
write (and that has a write permission bit: a read-only file is left alone, even for
root), with one link, whose owner and group the new file can keep, and whose bytes are
still those that were read; anything else raises ``WriteRefused`` and the file stays.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import os
import signal
import stat
import tempfile
import threading
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional

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


class WriteRefused(Exception):
    """A user's file left as it is, and why (read-only, changed meanwhile, ...)."""


def write_problem(path: Path, info: os.stat_result) -> Optional[str]:
    """Why ``path`` (``info`` is its ``os.stat``) must not be replaced; None if it may be.

    A file without any write permission bit is read-only for everyone, root included (as
    a demanding user expects: ``chmod a-w`` means "leave it alone"). Replacing a file
    gives the new one the runner's owner and group and breaks its hard links: it may
    only be replaced where the runner can give it back its own owner and group, and only
    if it has a single link.
    """
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file: left as it is"
    if not info.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        return "read-only (no write permission bit is set): left as it is"
    if not os.access(path, os.W_OK, effective_ids=os.access in os.supports_effective_ids):
        return "not writable by you: left as it is"
    if info.st_nlink > 1:
        return (
            f"has {info.st_nlink} hard links: left as it is "
            "(replacing it would break them, and writing in place is not all-or-nothing)"
        )
    # Root may give a file any owner; others only their own uid and groups (Windows has
    # no owners to keep: ACLs decide).
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        if info.st_uid != os.geteuid():
            return (
                f"owned by another user (uid {info.st_uid}): left as it is "
                "(the new file would be yours)"
            )
        if info.st_gid != os.getegid() and info.st_gid not in os.getgroups():
            return f"its group (gid {info.st_gid}) cannot be kept: left as it is"
    return None


def replace_source(path: Path, old: bytes, new: bytes) -> None:
    """Replace the user's file ``path``, read as ``old``, with ``new``, all or nothing.

    Raises ``WriteRefused`` (the file untouched) when ``write_problem`` says so, or when
    the file was deleted, replaced or edited since it was read: the check comes last,
    just before the rename, so an edit saved while the file was annotated is kept (only
    an edit landing in the microseconds between the check and the rename could be lost).
    ``OSError`` when the folder cannot be written.
    """
    info = _stat_of_existing(path)
    problem = write_problem(path, info)
    if problem is not None:
        raise WriteRefused(problem)
    with _interrupts_deferred():
        _replace(path, old, new, info)


def _replace(path: Path, old: bytes, new: bytes, info: os.stat_result) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(new)
            handle.flush()
            done = os.fstat(handle.fileno())
            if (done.st_uid, done.st_gid) != (info.st_uid, info.st_gid):
                try:
                    os.fchown(handle.fileno(), info.st_uid, info.st_gid)
                except OSError as exc:
                    raise WriteRefused(
                        f"its owner and group ({info.st_uid}:{info.st_gid}) cannot be kept "
                        f"({exc.strerror or exc}): left as it is"
                    ) from None
            os.fchmod(handle.fileno(), stat.S_IMODE(info.st_mode))  # after chown: setgid
            os.fsync(handle.fileno())  # the rename must not reach the disk before the data
        _check_unchanged(path, old, info)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Ctrl-C (SIGINT) waits until the file is replaced or left as it was: no temporary
    file stays behind, whichever bytecode the signal would have interrupted. Only the main
    thread can handle signals: elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: List[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)
        if caught:
            signal.raise_signal(signal.SIGINT)  # as it would have come, now


def _stat_of_existing(path: Path) -> os.stat_result:
    try:
        return os.stat(path)
    except FileNotFoundError:
        raise WriteRefused("deleted while annotating: not recreated") from None


def _check_unchanged(path: Path, old: bytes, info: os.stat_result) -> None:
    """``WriteRefused`` unless ``path`` is still the file of ``info``, holding ``old``."""
    try:
        with open(path, "rb") as handle:
            now = os.fstat(handle.fileno())
            data = handle.read(len(old) + 1)
    except FileNotFoundError:
        raise WriteRefused("deleted while annotating: not recreated") from None
    same_file = (now.st_dev, now.st_ino, now.st_mode, now.st_uid, now.st_gid) == (
        info.st_dev,
        info.st_ino,
        info.st_mode,
        info.st_uid,
        info.st_gid,
    )
    if data != old or not same_file:
        raise WriteRefused(
            "changed while annotating: left as it is, with your edit (run again to annotate it)"
        )
