"""Companion annotations: a function the writer annotates for the first time gets its empty
containers annotated too, so that mypy does not report "Need type annotation" for them.

Each case runs real mypy (``--check-untyped-defs``) on the written file: no new error.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Dict, List

import pytest

from localtypes.analysis.extract import extract
from localtypes.analysis.slots import SlotKind
from localtypes.edit.plan import SlotGuess, WriteOptions
from localtypes.edit.rounds import WriteResult, write

mypy_api = pytest.importorskip("mypy.api", reason="mypy is not installed")

HANDLER = """\
class Handler:
    def __init__(self, depth):
        self.path = []
        self.seen = set()
        self.by_key = {}
        self.by_key["a"] = 1
        self.stack = []
        self.stack.append(depth)
        self.depth = depth

    def reset(self):
        self.path = []

    def collect(self, n):
        found = []
        cache = dict()
        for i in range(n):
            cache[i] = i
        return found
"""


def _write(source: str, labels: Dict[str, str], *, checks: bool = True) -> WriteResult:
    source = textwrap.dedent(source)
    guesses = [
        SlotGuess(slot, labels[slot.qualname], 0.95)
        for slot in extract(source).slots
        if slot.kind is not SlotKind.VARIABLE and slot.qualname in labels
    ]
    options = WriteOptions(0.7, frozenset({SlotKind.PARAM, SlotKind.RETURN}), (3, 11), checks)
    return write(source, guesses, options)


def _mypy_errors(tmp_path: Path, source: str) -> List[str]:
    path = tmp_path / "module.py"
    path.write_text(source, encoding="utf-8")
    out, _, _ = mypy_api.run(
        ["--check-untyped-defs", "--no-error-summary", "--cache-dir", str(tmp_path / "cache"),
         "--config-file", "", str(path)]
    )  # fmt: skip
    return [line for line in out.splitlines() if ": error:" in line]


def test_the_empty_containers_of_a_newly_annotated_function_get_their_bare_type(
    tmp_path: Path,
) -> None:
    result = _write(HANDLER, {"Handler.__init__.depth": "int", "Handler.collect.n": "int"})
    text = result.source
    assert "self.path: list = []" in text
    assert "self.seen: set = set()" in text
    assert "found: list = []" in text
    # resolved in the function itself (``x[k] = v``, ``append``): mypy infers them
    assert "self.by_key = {}" in text and "self.stack = []" in text
    assert "cache = dict()" in text
    # ``reset`` is not annotated, and the attribute is first assigned in ``__init__``
    assert text.count("self.path: list") == 1
    added = {(a.slot.scope, a.slot.name): a.text for a in result.added}
    assert added[("Handler.__init__", "self.path")] == "list"
    assert added[("Handler.collect", "found")] == "list"
    assert _mypy_errors(tmp_path, text) == []
    # without the companions, the same annotations make mypy report the containers
    plain = _write(HANDLER, {"Handler.__init__.depth": "int", "Handler.collect.n": "int"},
                   checks=False)  # fmt: skip
    errors = _mypy_errors(tmp_path, plain.source)
    assert sum("Need type annotation" in e for e in errors) == 3


def test_a_function_that_gets_no_annotation_or_had_one_gets_no_companion() -> None:
    source = """\
    class A:
        def f(self, x):
            self.items = []

        def g(self, y: int):
            self.other = []
    """
    result = _write(source, {"A.g.y": "int"})
    assert result.source == textwrap.dedent(source)
    result = _write(source, {"A.f.x": "int"}, checks=False)
    assert "self.items = []" in result.source


@pytest.mark.parametrize(
    "body",
    [
        "    self.items: list[int] = []\n",  # declared: mypy knows the type
        "    self.items = []\n    self.items = [1]\n",  # assigned again
        "    self.items = []\n    self.items.extend([1])\n",
        "    list = tuple\n    self.items = list()\n",  # not the builtin
    ],
)
def test_no_companion_where_mypy_has_a_type(body: str) -> None:
    source = "class A:\n    def f(self, x):\n    " + body.replace("\n    ", "\n        ")
    result = _write(source, {"A.f.x": "int"})
    assert result.source.count(": list") == body.count(": list")


def test_a_second_run_adds_nothing() -> None:
    first = _write(HANDLER, {"Handler.__init__.depth": "int", "Handler.collect.n": "int"})
    again = _write(first.source, {"Handler.__init__.depth": "int", "Handler.collect.n": "int"})
    assert again.source == first.source
    assert again.added == ()
