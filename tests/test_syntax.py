"""The syntax layer: parsing errors, the one statement walker, the one parameter iterator."""

from __future__ import annotations

import ast
import textwrap
from typing import List

import pytest

from localtypes.errors import SourceError
from localtypes.syntax import (
    child_blocks,
    dotted_name,
    every_statement,
    header_bindings,
    parameters,
    parse_source,
    scope_statements,
    statement_bindings,
    walk_nodes,
)

BLOCKS = textwrap.dedent(
    """\
    try:
        a = 1
    except ValueError:
        b = 2
    except KeyError:
        c = 3
    else:
        d = 4
    finally:
        e = 5
    match a:
        case 1:
            f = 6
        case _:
            g = 7
    for h in []:
        i = 8
    else:
        j = 9
    def fn():
        inner = 10
    class C:
        attr = 11
    """
)


def _assigned(statements: List[ast.stmt]) -> List[str]:
    return [
        stmt.targets[0].id
        for stmt in statements
        if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name)
    ]


def test_scope_statements_visit_every_block_in_source_order_but_no_nested_scope() -> None:
    statements = scope_statements(parse_source(BLOCKS).body)
    assert _assigned(statements) == ["a", "b", "c", "d", "e", "f", "g", "i", "j"]
    # The def and the class are listed (they bind names here), their bodies are not.
    kinds = [type(stmt).__name__ for stmt in statements]
    assert "FunctionDef" in kinds and "ClassDef" in kinds


def test_every_statement_enters_nested_scopes() -> None:
    assigned = _assigned(list(every_statement(parse_source(BLOCKS).body)))
    assert assigned[-2:] == ["inner", "attr"]


def test_child_blocks_of_try_come_in_source_order() -> None:
    statement = parse_source(BLOCKS).body[0]
    assert [_assigned(block) for block in child_blocks(statement)] == [
        ["a"],
        ["b"],
        ["c"],
        ["d"],
        ["e"],
    ]


def test_parameters_in_order_with_kinds_and_defaults() -> None:
    fn = parse_source("def f(a, b=1, /, c=2, *args, d, e=3, **kw): pass\n").body[0]
    assert isinstance(fn, ast.FunctionDef)
    found = [
        (p.arg.arg, p.kind, ast.unparse(p.default) if p.default else None)
        for p in parameters(fn.args)
    ]
    assert found == [
        ("a", "posonly", None),
        ("b", "posonly", "1"),
        ("c", "positional", "2"),
        ("args", "vararg", None),
        ("d", "kwonly", None),
        ("e", "kwonly", "3"),
        ("kw", "kwarg", None),
    ]


def test_parse_source_names_line_and_column() -> None:
    with pytest.raises(SourceError) as caught:
        parse_source("x = 1\ndef f(:\n")
    assert caught.value.line == 2
    assert "invalid syntax" in str(caught.value)


def test_parse_source_reports_deep_nesting_as_a_source_error() -> None:
    # Past the parser's own limits (parentheses, then its recursion), always a SourceError.
    with pytest.raises(SourceError, match="nested parentheses"):
        parse_source("x = " + "(" * 5000 + "1" + ")" * 5000 + "\n")
    with pytest.raises(SourceError, match="cannot parse"):
        parse_source("x = " + "-" * 100_000 + "1\n")


def test_walk_nodes_is_ast_walk_without_the_leaf_singletons() -> None:
    tree = parse_source("def f(a, *, b=1):\n    return [a + b for a in range(b)] or {'k': a}\n")
    leaves = (ast.expr_context, ast.operator, ast.cmpop, ast.boolop, ast.unaryop)
    expected = [node for node in ast.walk(tree) if not isinstance(node, leaves)]
    assert walk_nodes(tree) == expected


def test_dotted_name() -> None:
    expression = ast.parse("a.b.c", mode="eval").body
    assert dotted_name(expression) == "a.b.c"
    assert dotted_name(ast.parse("f().b", mode="eval").body) is None


def test_statement_and_header_bindings() -> None:
    statement = parse_source(
        "for i, (j, k) in x:\n    import os.path as p\n    def g(d=(w := 1)): pass\n"
    ).body[0]
    assert set(statement_bindings(statement)) == {"i", "j", "k", "p", "g", "w"}
    assert set(header_bindings(statement)) == {"i", "j", "k"}
