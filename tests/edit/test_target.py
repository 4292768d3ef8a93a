"""The target version of code that says nothing: the floor, or what its syntax needs."""

from __future__ import annotations

import ast

import pytest

from localtypes.api import annotate
from localtypes.edit.target import infer_target, resolve_target, syntax_floor
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
    ],
)
def test_syntax_floor(source: str, needed: tuple, why: str) -> None:
    assert syntax_floor(ast.parse(source)) == (needed, why)


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
