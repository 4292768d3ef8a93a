"""The target version of code that says nothing: the floor, or what its syntax needs."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from localtypes.api import annotate
from localtypes.edit.target import infer_target, may_need_newer, resolve_target, syntax_floor
from localtypes.model.predictor import Predictor
from localtypes.settings import OLDEST_SUPPORTED, Settings


@pytest.mark.parametrize(
    ("source", "needed", "why"),
    [
        ("x = 1\n", (3, 0), ""),
        ("if (n := 3):\n    pass\n", (3, 8), "uses :="),
        ("def f(a, /):\n    pass\n", (3, 8), "uses positional-only parameters"),
        ("match x:\n    case 1:\n        pass\n", (3, 10), "uses match"),
        ("try:\n    pass\nexcept* ValueError:\n    pass\n", (3, 11), "uses except*"),
        ("from typing import Self\n", (3, 11), "imports typing.Self"),
        ("from typing import List, override\n", (3, 12), "imports typing.override"),
        ("from typing_extensions import override\n", (3, 0), ""),  # the backport
        ("def f(*args: *Ts):\n    pass\n", (3, 11), "annotates *args with an unpacked type"),
        ("x: tuple[*Ts]\n", (3, 11), "unpacks in a subscript"),
        ("y = x[1, *rest]\n", (3, 11), "unpacks in a subscript"),
        ("y = x[*(a, b)]\n", (3, 11), "unpacks in a subscript"),
        ("y = x[(*index, 0)]\n", (3, 0), ""),  # a parenthesized tuple: always valid
        ("y = x[(\n    *index,\n    0,\n)]\n", (3, 0), ""),
    ],
)
def test_syntax_floor(source: str, needed: tuple, why: str) -> None:
    tree = ast.parse(source)
    assert syntax_floor(tree) == (needed, why)
    # the look at the text before the walk never hides what the walk finds
    for floor in [(3, 7), (3, 8), (3, 9), (3, 10), (3, 11)]:
        if needed > floor:
            assert may_need_newer(source, floor), floor
    assert resolve_target(None, tree, source) == resolve_target(None, tree)


def test_the_look_at_the_text_agrees_with_the_walk_on_real_code(repo_root: Path) -> None:
    """On this repository's and the benchmark's standard-library modules: wherever the
    walk finds something newer than a floor, the text says to walk; and most files need
    no walk at all (what the look is for)."""
    import sys

    library = Path(sys.base_prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    files = [*repo_root.glob("localtypes/**/*.py"), *library.glob("asyncio/*.py"),
             *library.glob("email/*.py"), *library.glob("typing.py")]  # fmt: skip
    assert len(files) > 100
    walks = 0
    for path in files:
        text = path.read_text("utf-8")
        needed, _ = syntax_floor(ast.parse(text))
        for floor in [(3, 7), (3, 8), (3, 9), (3, 10), (3, 11)]:
            if needed > floor:
                assert may_need_newer(text, floor), (path, floor, needed)
        walks += may_need_newer(text, OLDEST_SUPPORTED)
    assert walks < len(files) / 2


def test_inferred_target_never_goes_below_the_floor() -> None:
    assert OLDEST_SUPPORTED == (3, 10)
    assert infer_target(ast.parse("def f(a, /):\n    pass\n")) == ((3, 10), "oldest supported")
    newer = ast.parse("try:\n    pass\nexcept* OSError:\n    pass\n")
    assert infer_target(newer) == ((3, 11), "uses except*")
    assert resolve_target((3, 8), newer) == (3, 8)  # what is configured wins


def test_annotate_writes_for_the_inferred_target(predictor: Predictor) -> None:
    """No target configured: never the running Python's, the floor or the file's own."""
    source = "class User:\n    def __init__(self, name, email=None):\n        self.email = email\n"
    plain = annotate(source, "u.py", settings=Settings(), predictor=predictor)
    assert plain.options is not None and plain.options.target_version == (3, 10)
    assert "email: str | None = None" in plain.source
    newer = "from typing import Self\n\n" + source
    result = annotate(newer, "u.py", settings=Settings(), predictor=predictor)
    assert result.options is not None and result.options.target_version == (3, 11)
    old = annotate(source, "u.py", settings=Settings(target_version=(3, 8)), predictor=predictor)
    assert "email: Optional[str] = None" in old.source
