"""The static pass decides only where the code leaves no doubt, and abstains otherwise."""

from __future__ import annotations

import ast
import textwrap
from typing import Dict, Optional

import pytest

from localtypes.analysis.extract import extract
from localtypes.analysis.features.body import FunctionBody
from localtypes.analysis.static import StaticTyper
from localtypes.analysis.stubs import call_result, is_stdlib

MODULE = """\
import os
import logging
import json
from pathlib import Path
from .models import User
class Token: pass
def helper(): pass
"""


def _typer(source: str = MODULE) -> StaticTyper:
    return StaticTyper(extract(source).info, ("Token", "helper"))


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1", "int"),
        ("1.5", "float"),
        ("True", "bool"),
        ("'x'", "str"),
        ("b'x'", "bytes"),
        ("None", "None"),
        ("f'{a}'", "str"),
        ("a == b", "bool"),
        ("not a", "bool"),
        ("-1", "int"),
        ("1 + 2", "int"),
        ("1 / 2", "float"),
        ("1 + 2.0", "float"),
        ("'a' * 3", "str"),
        ("'%s' % a", "str"),
        ("[1, 2]", "list[int]"),
        ("{'a': 1.0}", "dict[str, float]"),
        ("{1, 2}", "set[int]"),
        ("(1, 'a')", "tuple[int, str]"),
        ("[str(x) for x in y]", "list[str]"),
        ("'a' if c else None", "str | None"),
        ("Token()", "Token"),
        ("Path('.')", "pathlib.Path"),
        ("len(a)", "int"),
        ("logging.getLogger(a)", "logging.Logger"),
        ("os.getcwd()", "str"),
        ("json.dumps(a)", "str"),
        ("', '.join(a)", "str"),
        ("'a'.upper()", "str"),
    ],
)
def test_decided_expressions(expression: str, expected: str) -> None:
    assert _typer().expr(ast.parse(expression, mode="eval").body) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "[]",  # element type unknown
        "{}",
        "[1, 'a']",  # elements disagree
        "a + 1",  # an unknown operand
        "1 if c else 'a'",  # a union of two real types
        "json.loads(a)",  # returns Any
        "sorted(a)",  # depends on the argument (a type variable)
        "User()",  # a project class the project index did not decide
        "helper()",
        "unknown()",
        "a.b.c()",
        "x",
        "lambda: 1",
    ],
)
def test_abstains_when_unsure(expression: str) -> None:
    assert _typer().expr(ast.parse(expression, mode="eval").body) is None


def test_a_rebound_builtin_is_not_the_builtin() -> None:
    typer = StaticTyper(extract("def len(x): return 'no'\n").info, ("len",))
    assert typer.expr(ast.parse("len(a)", mode="eval").body) is None


def _returns(source: str) -> Dict[str, Optional[str]]:
    source = textwrap.dedent(source)
    tree = ast.parse(source)
    typer = _typer()
    return {
        fn.name: typer.returns(fn, FunctionBody(fn.body))
        for fn in tree.body
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
    }


def test_function_returns() -> None:
    found = _returns(
        """\
        def nothing(a):
            print(a)
        def flag(a):
            if a:
                return True
            return False
        def maybe(a):
            if a:
                return
            return 'x'
        def stub(a):
            raise NotImplementedError
        def abstract(a):
            ...
        def gen(a):
            yield 1
        def mixed(a):
            return 1 if a else 'x'
        async def coro(a):
            return 1
        def nested(a):
            def inner():
                return 1
            print(inner)
        """
    )
    assert found == {
        "nothing": "None",
        "flag": "bool",
        "maybe": "str | None",
        "stub": None,
        "abstract": None,
        "gen": None,
        "mixed": None,
        "coro": None,
        "nested": "None",  # the nested def's return is its own
    }


def test_stub_lookups_follow_re_exports_and_refuse_type_variables() -> None:
    assert call_result("os.path", "exists") == "bool"  # os.path -> posixpath
    assert call_result("builtins", "sorted") is None
    assert call_result("re", "compile") is None  # re.Pattern[AnyStr]
    assert call_result("hashlib", "sha256") is None  # a private module's class
    assert call_result("nosuchmodule", "x") is None
    assert is_stdlib("os.path") and is_stdlib("builtins") and not is_stdlib("numpy")
