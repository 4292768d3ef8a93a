"""Byte-faithful decoding and atomic writes of users' files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from localtypes.errors import SourceError
from localtypes.run.files import atomic_write, decode_source, read_source


@pytest.mark.parametrize(
    ("data", "encoding", "bom", "newline"),
    [
        (b"x = 1\ny = 2\n", "utf-8", False, "\n"),
        (b"x = 1\r\ny = 2\r\n", "utf-8", False, "\r\n"),
        (b"x = 1\ry = 2\r", "utf-8", False, "\r"),
        (b"x = 1\r\ny = 2\n", "utf-8", False, "\r\n"),  # mixed endings stay mixed
        (b'\xef\xbb\xbfx = "\xc3\xa9"\r\n', "utf-8", True, "\r\n"),
        (b'# -*- coding: latin-1 -*-\nx = "\xe9"\n', "iso-8859-1", False, "\n"),
        (b"", "utf-8", False, "\n"),
        (b"x = 1", "utf-8", False, "\n"),
    ],
)
def test_round_trip_is_byte_exact(data: bytes, encoding: str, bom: bool, newline: str) -> None:
    decoded = decode_source(data)
    assert (decoded.encoding, decoded.bom, decoded.newline) == (encoding, bom, newline)
    assert decoded.encode(decoded.text) == data
    assert "\ufeff" not in decoded.text


def test_new_text_keeps_encoding_and_bom() -> None:
    decoded = decode_source(b"\xef\xbb\xbfdef f(x):\r\n    return x\r\n")
    new = decoded.text.replace("(x)", "(x: int)")
    assert decoded.encode(new) == b"\xef\xbb\xbfdef f(x: int):\r\n    return x\r\n"
    latin = decode_source(b"# coding: latin-1\nname = '\xe9'\n")
    assert latin.encode(latin.text + "y = 1\n").endswith(b"'\xe9'\ny = 1\n")


@pytest.mark.parametrize(
    ("data", "needle", "line"),
    [
        (b'x = 1\ny = "\xff"\n', "cannot decode as utf-8", 2),
        (b'x = "\xff"\n', "cannot decode as utf-8", 1),
        (b"# coding: no-such-codec\n", "unknown encoding", 1),
    ],
)
def test_undecodable_bytes_name_the_line(data: bytes, needle: str, line: int) -> None:
    with pytest.raises(SourceError, match=needle) as info:
        decode_source(data)
    assert info.value.line == line


def test_unencodable_new_text_is_a_source_error() -> None:
    decoded = decode_source(b"# coding: ascii\nx = 1\n")
    with pytest.raises(SourceError, match="cannot be encoded"):
        decoded.encode("x = '\u00e9'\n")


def test_atomic_write_keeps_mode_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "script.py"
    path.write_bytes(b"old\n")
    os.chmod(path, 0o751)
    atomic_write(path, b"new\n")
    assert path.read_bytes() == b"new\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o751
    assert [p.name for p in tmp_path.iterdir()] == ["script.py"]
    assert read_source(path).text == "new\n"


def test_atomic_write_failure_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    path.write_bytes(b"old\n")
    with pytest.raises(TypeError):
        atomic_write(path, "not bytes")  # type: ignore[arg-type]
    assert path.read_bytes() == b"old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.py"]


@pytest.mark.parametrize("fsync", [True, False])
def test_atomic_write_flushes_to_disk_unless_told_not_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fsync: bool
) -> None:
    synced = []
    monkeypatch.setattr(os, "fsync", synced.append)
    path = tmp_path / "new.py"
    atomic_write(path, b"new\n", fsync=fsync)
    assert path.read_bytes() == b"new\n"
    assert bool(synced) is fsync
    assert [p.name for p in tmp_path.iterdir()] == ["new.py"]
