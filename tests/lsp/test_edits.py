"""The smallest replacements between two texts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from localtypes.lsp.edits import Replacement, apply, replacements


def test_an_annotation_is_one_small_insertion() -> None:
    old = "import os\n\ndef f(x, y=1):\n    return x\n"
    new = "import os\n\ndef f(x: int, y: int = 1) -> int:\n    return x\n"
    found = replacements(old, new)
    assert apply(old, found) == new
    assert "".join(edit.text for edit in found) == ": int, y: int = 1) -> int"
    assert all(edit.start >= old.index("def") for edit in found)


def test_an_import_line_is_inserted_without_touching_its_neighbours() -> None:
    old = '"""Doc."""\r\nimport os\r\n\r\ndef f(x=None):\r\n    pass\r\n'
    new = (
        '"""Doc."""\r\nimport os\r\nfrom typing import Optional\r\n\r\n'
        "def f(x: Optional[str] = None):\r\n    pass\r\n"
    )
    found = replacements(old, new)
    assert apply(old, found) == new
    assert found[0] == Replacement(
        old.index("\r\n\r\n") + 2, old.index("\r\n\r\n") + 2, "from typing import Optional\r\n"
    )


def test_equal_texts_need_nothing() -> None:
    assert replacements("a\n", "a\n") == []


lines = st.lists(st.sampled_from(["a", "b", "x = 1", "", "é\U0001d518", "\x0c"]), max_size=8)
breaks = st.sampled_from(["\n", "\r\n", "\r"])


@given(lines, lines, breaks)
def test_applying_the_replacements_gives_the_new_text(
    old: list[str], new: list[str], newline: str
) -> None:
    before, after = newline.join(old), newline.join(new)
    found = replacements(before, after)
    assert apply(before, found) == after
    assert all(a.end <= b.start for a, b in zip(found, found[1:]))  # ordered, disjoint
