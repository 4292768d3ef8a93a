"""The text splicer on layouts the golden files do not cover: every other byte is kept."""

from __future__ import annotations

import ast
from typing import Dict, Tuple

import pytest

from localtypes.analysis.slots import SlotKind
from localtypes.edit.plan import Edit, ImportSpec, Target
from localtypes.edit.splice import apply_annotations
from localtypes.module import FUNCTION, MODULE, ModuleIndex, ScopeKey

MODULE_SCOPE = ScopeKey(MODULE, "", 0)
PATH = ImportSpec("pathlib", "Path")
ANY = ImportSpec("typing", "Any")


def _function(name: str) -> ScopeKey:
    return ScopeKey(FUNCTION, name, 0)


def _apply(source: str, edits: Dict[Target, Edit]) -> Tuple[str, int]:
    applied = apply_annotations(source, edits, ModuleIndex(ast.parse(source), source))
    return applied.source, len(applied.written)


def _param(function: str, name: str, text: str, *imports: ImportSpec) -> Dict[Target, Edit]:
    return {Target(SlotKind.PARAM, _function(function), name): Edit(text, imports)}


def _return(function: str, text: str, *imports: ImportSpec) -> Dict[Target, Edit]:
    return {Target(SlotKind.RETURN, _function(function), "return"): Edit(text, imports)}


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_line_endings_are_kept_also_for_added_imports(newline: str) -> None:
    source = newline.join(["import os", "", "def f(a, b=1):", "    return a", ""])
    new, written = _apply(source, {**_param("f", "b", "int"), **_return("f", "Path", PATH)})
    assert written == 2
    assert new == newline.join(
        ["import os", "from pathlib import Path", "", "def f(a, b: int = 1) -> Path:",
         "    return a", ""]
    )  # fmt: skip


def test_mixed_line_endings_are_kept() -> None:
    source = "import os\r\ndef f(a):\r    x = 1\n    return a\r\n"
    new, _ = _apply(source, _return("f", "int"))
    assert new == "import os\r\ndef f(a) -> int:\r    x = 1\n    return a\r\n"


def test_columns_count_characters_not_utf8_bytes() -> None:
    source = "é = 'ü'\ndef f(ä, x='é', *, y=(1)): return ä\n"
    edits = {**_param("f", "x", "str"), **_param("f", "y", "int"), **_return("f", "str")}
    new, written = _apply(source, edits)
    assert written == 3
    assert new == "é = 'ü'\ndef f(ä, x: str = 'é', *, y: int = (1)) -> str: return ä\n"


def test_signature_with_comments_strings_and_continuations() -> None:
    source = (
        "def f(x=g(1), y=')', z=[1, (2)]) : pass\n"
        "def k(\n    a,  # c\n    b=1,\n) :\n    pass\n"
        "def m(a, \\\n b): pass\n"
    )
    edits = {**_return("f", "None"), **_return("k", "int"), **_param("k", "b", "int")}
    edits.update(_return("m", "str"))
    new, written = _apply(source, edits)
    assert written == 4
    assert new == (
        "def f(x=g(1), y=')', z=[1, (2)]) -> None : pass\n"
        "def k(\n    a,  # c\n    b: int = 1,\n) -> int :\n    pass\n"
        "def m(a, \\\n b) -> str: pass\n"
    )


def test_default_spacing_follows_pep8_only_when_tight() -> None:
    source = "def f(a=1, b= 2, c =3, d = 4): pass\n"
    edits = {}
    for name in "abcd":
        edits.update(_param("f", name, "int"))
    new, _ = _apply(source, edits)
    assert new == "def f(a: int = 1, b: int= 2, c: int =3, d: int = 4): pass\n"


def test_variables_by_ordinal_and_parenthesised_targets_left_alone() -> None:
    source = "x = 1\nx = 2\n(y) = 3\nz = w = 4\n"
    edits = {
        Target(SlotKind.VARIABLE, MODULE_SCOPE, "x", 1): Edit("int"),
        Target(SlotKind.VARIABLE, MODULE_SCOPE, "y", 0): Edit("int"),
    }
    new, written = _apply(source, edits)
    assert written == 1
    assert new == "x = 1\nx: int = 2\n(y) = 3\nz = w = 4\n"


def test_existing_annotations_and_missing_targets_are_not_written() -> None:
    source = "def f(a: str) -> str:\n    return a\n"
    edits = {**_param("f", "a", "int"), **_return("f", "int"), **_param("g", "a", "int")}
    assert _apply(source, edits) == (source, 0)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (  # one name a line, trailing comma, comments: a new line before ``)``
            "from typing import (\n    Dict,  # note\n    # more\n)\n",
            "from typing import (\n    Dict,  # note\n    # more\n    Any,\n)\n",
        ),
        ("from typing import (Dict,\n)\n", "from typing import (Dict,\n    Any,\n)\n"),
        ("from typing import Dict as D\n", "from typing import Dict as D, Any\n"),
        ("from typing import (Dict, List,)\n", "from typing import (Dict, List, Any,)\n"),
        ("from typing import *\n", "from typing import *\nfrom typing import Any\n"),
        ("import os; import sys\n", "import os; import sys\nfrom typing import Any\n"),
    ],
)
def test_imports_merge_into_the_header_in_its_style(header: str, expected: str) -> None:
    source = header + "\ndef f(a): return a\n"
    new, _ = _apply(source, _param("f", "a", "Any", ANY))
    assert new == expected + "\ndef f(a: Any): return a\n"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("# c\ndef f(a): return a\n", "# c\nfrom typing import Any\n\ndef f(a: Any): return a\n"),
        ('"""Doc."""\ndef f(a): return a\n',
         '"""Doc."""\n\nfrom typing import Any\n\ndef f(a: Any): return a\n'),
        ("import os\n@d\ndef f(a): return a\n",
         "import os\nfrom typing import Any\n\n@d\ndef f(a: Any): return a\n"),
        ("import os\n\n@d\ndef f(a): return a\n",
         "import os\nfrom typing import Any\n\n@d\ndef f(a: Any): return a\n"),
    ],
)  # fmt: skip
def test_new_import_lines_go_below_the_header(source: str, expected: str) -> None:
    new, _ = _apply(source, _param("f", "a", "Any", ANY))
    assert new == expected
