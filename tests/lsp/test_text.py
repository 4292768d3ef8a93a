"""Buffers: lines as LSP counts them, positions in each encoding, changes."""

from __future__ import annotations

import ast

import pytest

from localtypes.lsp.text import UTF8, UTF16, UTF32, Buffer, split_lines


def test_lines_end_at_lf_crlf_and_cr_only() -> None:
    text = "a = 1\r\nb = 2\rc = 3\n\x0cd = 4\n"  # a form feed is not a line break
    assert split_lines(text) == ["a = 1\r\n", "b = 2\r", "c = 3\n", "\x0cd = 4\n"]
    buffer = Buffer(text)
    assert buffer.offset(3, 1) == text.index("d")
    assert buffer.position(text.index("d")) == (3, 1)
    assert buffer.position(text.index("c")) == (2, 0)


@pytest.mark.parametrize(("encoding", "column"), [(UTF16, 10), (UTF8, 13), (UTF32, 9)])
def test_columns_in_each_encoding(encoding: str, column: int) -> None:
    # 'é' is 1 UTF-16 unit and 2 UTF-8 bytes; U+1D518 is 2 UTF-16 units and 4 bytes.
    text = "x = 'é\U0001d518'; y = 1\n"
    buffer = Buffer(text, encoding=encoding)
    offset = text.index(";") + 1
    assert buffer.position(offset) == (0, column)
    assert buffer.offset(0, column) == offset


def test_ast_columns_are_utf8_bytes() -> None:
    text = "s = 'ü'; value = 1\n"
    node = ast.parse(text).body[1]
    assert isinstance(node, ast.Assign)
    buffer = Buffer(text)
    assert text[buffer.ast_offset(node.lineno, node.col_offset) :].startswith("value")


def test_positions_out_of_range_are_clamped() -> None:
    buffer = Buffer("ab\ncd")
    assert buffer.offset(0, 99) == 2  # the end of the line, not into the next one
    assert buffer.offset(9, 0) == 5
    assert buffer.offset(-1, 0) == 0
    assert buffer.position(99) == (1, 2)


def test_incremental_changes() -> None:
    buffer = Buffer("def f(x):\n    return x\n", version=1)
    buffer.apply((0, 7), (0, 7), ": int", version=2)
    assert buffer.text == "def f(x: int):\n    return x\n"
    buffer.apply((1, 4), (1, 12), "pass\n    return 0", version=3)
    assert buffer.text == "def f(x: int):\n    pass\n    return 0\n"
    assert buffer.version == 3
    buffer.apply((0, 0), (2, 0), "")
    assert buffer.text == "    return 0\n"
    buffer.replace_all("x = 1\n", version=9)
    assert (buffer.text, buffer.version, buffer.position(6)) == ("x = 1\n", 9, (1, 0))


def test_a_change_inside_a_surrogate_pair_counts_as_after_it() -> None:
    buffer = Buffer("'\U0001d518'\n")
    assert buffer.offset(0, 2) == 2  # between the two UTF-16 units of U+1D518
