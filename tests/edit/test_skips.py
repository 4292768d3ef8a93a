"""``# localtypes: skip`` and ``# localtypes: skip-file``: what each form leaves alone."""

from __future__ import annotations

from typing import Dict, Set

import pytest

from localtypes.analysis.slots import SlotKind
from localtypes.api import annotate
from localtypes.edit.plan import Reason
from localtypes.edit.skips import NO_SKIPS, find_skips
from localtypes.model.predictor import Predictor
from localtypes.settings import Settings

# Every slot here is one the bundled model annotates when nothing says no (checked below).
SOURCE = """\
import os


class User:
    def __init__(self, name, email=None):
        self.name = name
        self.email = email


def find_config(path=None):
    if path is None:
        return None
    if os.path.exists(path):
        return path
    return None


def lines(text):
    total = 0
    for _ in text.splitlines():
        total += 1
    return total
"""


def added(source: str, predictor: Predictor) -> Set[str]:
    result = annotate(source, "m.py", settings=Settings(), predictor=predictor)
    return {item.slot.qualname for item in result.added}


def with_comment(start: str, comment: str = "# localtypes: skip") -> str:
    """SOURCE with ``comment`` at the end of the first line that starts with ``start``."""
    rows = SOURCE.splitlines()
    line = next(i for i, row in enumerate(rows) if row.strip().startswith(start) or row == start)
    rows[line] += f"  {comment}"
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def everything(predictor: Predictor) -> Set[str]:
    found = added(SOURCE, predictor)
    assert {"User.__init__.email", "User.__init__", "find_config.path", "lines.text"} <= found
    return found


def test_skip_on_a_def_line_skips_the_function(predictor: Predictor, everything: Set[str]) -> None:
    left = everything - added(with_comment("def find_config"), predictor)
    assert left == {"find_config", "find_config.path"} & everything


def test_skip_on_a_class_line_skips_everything_inside(
    predictor: Predictor, everything: Set[str]
) -> None:
    left = everything - added(with_comment("class User"), predictor)
    assert left == {name for name in everything if name.startswith("User.")}


def test_skip_on_another_line_skips_that_line(predictor: Predictor) -> None:
    source = SOURCE.replace("def lines(text):", "def lines(\n    text,  # localtypes: skip\n):")
    result = annotate(source, "m.py", settings=Settings(), predictor=predictor)
    names = {item.slot.qualname for item in result.added}
    assert "lines.text" not in names and "lines" in names  # its return is written
    said_no = {item.slot.qualname for item in result.skipped if item.reason is Reason.SKIP_COMMENT}
    assert said_no == {"lines.text"}


def test_skip_on_an_assignment_skips_its_variable(predictor: Predictor) -> None:
    source = "def lines(text):\n    total = 0\n    count = len(text)\n    return total\n"
    variables = Settings(kinds=frozenset(SlotKind), min_confidence=0.5)
    plain = annotate(source, "m.py", settings=variables, predictor=predictor)
    assert {"lines.total", "lines.count"} <= {item.slot.qualname for item in plain.added}
    said_no = source.replace("total = 0", "total = 0  # localtypes: skip")
    skipped = annotate(said_no, "m.py", settings=variables, predictor=predictor)
    assert {item.slot.qualname for item in plain.added} - {
        item.slot.qualname for item in skipped.added
    } == {"lines.total"}


def test_skip_on_the_line_that_closes_a_signature_skips_its_return() -> None:
    source = "def f(\n    a,\n) -> None:  # localtypes: skip\n    pass\n"
    skips = find_skips(source)
    assert skips.returns == {1} and 1 not in skips.lines and 2 not in skips.lines


def test_skip_file_leaves_the_file_as_it_is(predictor: Predictor) -> None:
    comment = "# localtypes: skip-file"
    for source in (
        with_comment("class User", comment),  # a top-level header
        with_comment("", comment),  # a blank line
        with_comment("import os", comment),
        SOURCE + comment + "\n",
    ):
        result = annotate(source, "m.py", settings=Settings(), predictor=predictor)
        assert result.skipped_file and not result.changed and result.source == source


def test_skip_file_inside_a_function_is_not_at_top_level() -> None:
    assert not find_skips(with_comment("if path is None", "# localtypes: skip-file")).file


@pytest.mark.parametrize(
    "source",
    [
        'x = "# localtypes: skip-file"\n',
        'def f(a="# localtypes: skip"):\n    return a\n',
        'DOC = """\n# localtypes: skip-file\n"""\n',
        "x = 1  # localtypes: skipping is not a word we know\n",
        "x = 1  # localtypes: skip-files\n",
    ],
)
def test_strings_and_other_words_do_not_count(source: str) -> None:
    assert find_skips(source) == NO_SKIPS


def test_the_comment_may_follow_another() -> None:
    assert find_skips("x = 1  # noqa: E501  # localtypes: skip\n").lines == {1}
    assert find_skips("#localtypes:skip-file\n").file


def test_predict_still_reports_skipped_slots(predictor: Predictor) -> None:
    from localtypes.api import predict

    slots: Dict[str, int] = {}
    for slot in predict(with_comment("def find_config"), "m.py", predictor=predictor).slots:
        slots[slot.slot.qualname] = len(slot.guesses)
    assert slots["find_config.path"] > 0


def test_the_lines_each_form_covers() -> None:
    source = (
        "class A:\n"  # 1
        "    @property  # localtypes: skip\n"  # 2: a decorator's line: the method
        "    def x(self):\n"  # 3
        "        return 1\n"  # 4
        "\n"  # 5
        "    def y(self, a):  # localtypes: skip\n"  # 6: a method: that method only
        "        b = a\n"  # 7
        "        return b\n"  # 8
        "\n"  # 9
        "    def z(self, a):\n"  # 10
        "        return a\n"  # 11
    )
    skips = find_skips(source)
    assert skips.lines == {2, 3, 4, 6, 7, 8} and not skips.file and not skips.returns
