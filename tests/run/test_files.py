"""Byte-faithful decoding and atomic writes of users' files."""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path

import pytest

from localtypes.errors import SourceError
from localtypes.run import files
from localtypes.run.files import (
    WriteRefused,
    atomic_write,
    decode_source,
    read_source,
    replace_source,
    write_problem,
)


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


# --- replace_source: a user's file, replaced only if it may be and is still as read ------


def test_replace_source_keeps_mode_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    path.write_bytes(b"old\n")
    os.chmod(path, 0o640)
    replace_source(path, b"old\n", b"new\n")
    assert path.read_bytes() == b"new\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["a.py"]


def test_replace_source_keeps_an_edit_made_since_the_read(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    path.write_bytes(b"old\nedited by the user\n")  # read as b"old\n", edited since
    with pytest.raises(WriteRefused, match="changed while annotating"):
        replace_source(path, b"old\n", b"new\n")
    assert path.read_bytes() == b"old\nedited by the user\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.py"]


def test_replace_source_never_recreates_a_deleted_file(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    with pytest.raises(WriteRefused, match="deleted while annotating"):
        replace_source(path, b"old\n", b"new\n")
    assert list(tmp_path.iterdir()) == []


def test_replace_source_refuses_a_file_replaced_by_another_with_the_same_bytes(
    tmp_path: Path,
) -> None:
    """An editor that saves by rename leaves another file (it may differ in mode, owner)."""
    path = tmp_path / "a.py"
    path.write_bytes(b"old\n")
    info = os.stat(path)
    (tmp_path / "saved").write_bytes(b"old\n")
    os.replace(tmp_path / "saved", path)
    with pytest.raises(WriteRefused, match="changed while annotating"):
        files._check_unchanged(path, b"old\n", info)


def test_a_read_only_file_is_left_alone_even_for_root(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    path.write_bytes(b"old\n")
    os.chmod(path, 0o444)
    with pytest.raises(WriteRefused, match="read-only"):
        replace_source(path, b"old\n", b"new\n")
    assert path.read_bytes() == b"old\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o444


def test_a_hard_linked_file_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    path.write_bytes(b"old\n")
    os.link(path, tmp_path / "b.py")
    with pytest.raises(WriteRefused, match="2 hard links"):
        replace_source(path, b"old\n", b"new\n")
    assert path.read_bytes() == (tmp_path / "b.py").read_bytes() == b"old\n"
    assert path.stat().st_ino == (tmp_path / "b.py").stat().st_ino


def test_not_a_regular_file(tmp_path: Path) -> None:
    assert "not a regular file" in (write_problem(tmp_path, os.stat(tmp_path)) or "")


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file another owner needs root")
def test_root_keeps_the_owner_and_group_of_another_users_file(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    path.write_bytes(b"old\n")
    os.chown(path, 65534, 65534)
    os.chmod(path, 0o2664)  # setgid too: chown would clear it, the mode is set after
    replace_source(path, b"old\n", b"new\n")
    info = path.stat()
    assert path.read_bytes() == b"new\n"
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (65534, 65534, 0o2664)


def test_without_root_a_file_of_another_owner_or_group_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a user who is not root may not do (the real thing: test_permissions.py)."""
    path = tmp_path / "a.py"
    path.write_bytes(b"old\n")
    fields = list(os.stat(path))
    fields[4:6] = [1000, 1000]  # st_uid, st_gid
    info = os.stat_result(fields)
    monkeypatch.setattr(os, "geteuid", lambda: 1001)
    assert "owned by another user (uid 1000)" in (write_problem(path, info) or "")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(os, "getegid", lambda: 1001)
    monkeypatch.setattr(os, "getgroups", lambda: [1001, 1002])
    assert "its group (gid 1000) cannot be kept" in (write_problem(path, info) or "")
    monkeypatch.setattr(os, "getgroups", lambda: [1001, 1000])
    assert write_problem(path, info) is None


def test_ctrl_c_during_a_write_waits_until_the_file_is_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGINT in the middle of the write: it is finished (the rename included), nothing is
    left behind, and then KeyboardInterrupt comes as it would have."""
    path = tmp_path / "a.py"
    path.write_bytes(b"old\n")
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        signal.raise_signal(signal.SIGINT)  # Ctrl-C, between two steps of the write
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    # As in a terminal, whatever started the tests (a background job ignores SIGINT).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            replace_source(path, b"old\n", b"new\n")
    finally:
        after = signal.signal(signal.SIGINT, previous)
    assert path.read_bytes() == b"new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.py"]
    assert after is signal.default_int_handler  # the write gave the handler back
