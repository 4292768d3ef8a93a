"""Blame rules of the verify stage (``localtypes.verify.blame``), each on real files with
the real mypy: the annotation that produced the mismatch goes, its right neighbours stay.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("mypy", reason="the verify extra (mypy) is not installed")

from verifying import errors as _errors
from verifying import project as _project
from verifying import target as _target

from localtypes.verify.blame import heads, quoted_heads
from localtypes.verify.checker import Checker
from localtypes.verify.stage import verify


def _checker(root: Path, tmp_path: Path) -> Checker:
    return Checker(root, [str(p) for p in root.rglob("*.py")], tmp_path / "cache")


def test_heads_and_quoted_heads() -> None:
    assert heads("a.b.Pool[int, str] | None") == {"Pool", "None"}
    assert heads("dict[str, list[int]]") == {"dict"}
    message = 'Argument 1 to "f" has incompatible type "int | None"; expected "Sequence[str]"'
    assert quoted_heads(message) == {"f", "int", "Sequence"}


def test_an_incompatible_default_blames_only_its_parameter(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            # the default comes from another module: the cheap checks do not see its type
            "sentinels.py": "class Unset:\n    pass\n\n\nUNSET = Unset()\n",
            "m.py": """\
                from sentinels import UNSET


                def greet(times, name=UNSET):
                    return str(times) + repr(name)
                """,
        },
    )
    target = _target(root / "m.py", {"greet.times": [("int", 0.9)], "greet.name": [("str", 0.9)]})
    assert "times: int, name: str = UNSET" in target.text
    stats = verify([target], _checker(root, tmp_path))
    # before: every annotation of the line went, ``times: int`` with it
    assert "def greet(times: int, name=UNSET)" in target.text
    assert (stats.dropped, stats.remaining) == (1, 0)


def test_returns_of_calls_are_blamed_only_when_the_message_names_their_type(
    tmp_path: Path,
) -> None:
    root = _project(
        tmp_path,
        {
            # a typed function of another module: the cheap checks do not see its parameters
            "other.py": "def shout(s: str) -> str:\n    return s.upper()\n",
            "m.py": """\
                from other import shout


                class Box:
                    def __init__(self, size):
                        self.size = size


                def check(a):
                    return a is not None


                def count(a):
                    return a.total


                def show(a):
                    return check(a) and Box(shout(count(a)))
                """,
        },
    )
    target = _target(
        root / "m.py",
        {
            "Box.__init__->": [("None", 0.95)],
            "check->": [("bool", 0.95)],
            "count->": [("int", 0.9)],  # wrong: show passes it on as a str
        },
    )
    checker = _checker(root, tmp_path)
    assert [d.message for d in _errors(checker, target)] == [
        'Argument 1 to "shout" has incompatible type "int"; expected "str"'
    ]
    stats = verify([target], checker)
    # "int" is count's: check's bool and Box.__init__'s None (never what a call of the
    # class gives) are not suspects
    assert "def check(a) -> bool:" in target.text
    assert "def __init__(self, size) -> None:" in target.text
    assert "def count(a):" in target.text
    assert (stats.dropped, stats.remaining) == (1, 0)


def test_an_annotation_whose_exclusion_cured_nothing_is_given_back(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            # a typed function of another module: the cheap checks do not see its parameters
            "other.py": "def shout(s: str) -> str:\n    return s.upper()\n",
            "m.py": """\
                from other import shout


                def make():
                    return 3


                def join(sep):
                    return make() + len(shout(sep))
                """,
        },
    )
    target = _target(
        root / "m.py",
        {"make->": [("int", 0.95)], "join.sep": [("int", 0.9)], "join->": [("int", 0.9)]},
    )
    checker = _checker(root, tmp_path)
    assert [d.message for d in _errors(checker, target)] == [
        'Argument 1 to "shout" has incompatible type "int"; expected "str"'
    ]
    stats = verify([target], checker)
    # the message quotes "int": make's return is blamed first, but the error outlives
    # its exclusion; sep's exclusion cures it, and make's return comes back
    assert "def make() -> int:" in target.text
    assert "def join(sep) -> int:" in target.text
    assert (stats.dropped, stats.restored, stats.remaining) == (1, 1, 0)
    assert _errors(checker, target) == []


def test_a_named_callee_is_not_confused_with_same_named_methods_elsewhere(
    tmp_path: Path,
) -> None:
    root = _project(
        tmp_path,
        {
            "base.py": """\
                class Base:
                    def __init__(self, max_size):
                        self.max_size = max_size
                """,
            "child.py": """\
                from base import Base


                class Child(Base):
                    def __init__(self, max_size=None):
                        super().__init__(max_size=max_size)
                """,
        },
    )
    base = _target(root / "base.py", {"Base.__init__.max_size": [("int", 0.9)]})
    child = _target(root / "child.py", {"Child.__init__.max_size": [("int | None", 0.9)]})
    stats = verify([base, child], _checker(root, tmp_path))
    # the error names Base.__init__: Child's own __init__ (another file) is not the callee
    assert "def __init__(self, max_size: int | None = None)" in child.text
    assert "max_size:" not in base.text
    assert (stats.dropped, stats.remaining) == (1, 0)


def test_a_return_annotated_none_that_returns_a_value_blames_only_the_return(
    tmp_path: Path,
) -> None:
    root = _project(
        tmp_path,
        {
            "m.py": """\
                CACHE = {"k": 1}


                def ping(host, port):
                    print(host, port)
                    return CACHE.get("k")
                """,
        },
    )
    target = _target(
        root / "m.py",
        {
            "ping.host": [("str", 0.9)],
            "ping.port": [("int", 0.9)],
            "ping->": [("None", 0.9)],
        },
    )
    stats = verify([target], _checker(root, tmp_path))
    assert "def ping(host: str, port: int):" in target.text
    assert (stats.dropped, stats.remaining) == (1, 0)


def test_an_error_in_a_nested_function_blames_the_enclosing_functions_last(
    tmp_path: Path,
) -> None:
    """An unannotated nested function uses a variable built from the outer function's
    wrongly annotated parameter: nothing of the nested function or of the line can be
    blamed, so the enclosing function's annotations are the suspects (found on toolz,
    where such an error outlived every round)."""
    root = _project(
        tmp_path,
        {
            "m.py": """\
                import inspect


                def annotations(func, fmt=None):
                    if fmt is None:
                        kwargs = {}
                    else:
                        kwargs = {"eval_str": fmt}

                    def of(target):
                        return inspect.signature(target, **kwargs)

                    return of(func)
                """,
        },
    )
    target = _target(root / "m.py", {"annotations.fmt": [("str", 0.9)]})
    assert "fmt: str | None = None" in target.text
    checker = _checker(root, tmp_path)
    assert any("signature" in e.message for e in _errors(checker, target))
    stats = verify([target], checker)
    assert (stats.dropped, stats.remaining) == (1, 0)
    assert "def annotations(func, fmt=None)" in target.text
