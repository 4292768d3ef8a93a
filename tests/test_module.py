"""The module index: scope keys, bindings, imports, and agreement with extraction and safety."""

from __future__ import annotations

import ast
import sysconfig
import textwrap
from pathlib import Path
from typing import List

import pytest

from localtypes.analysis.extract import extract
from localtypes.analysis.slots import SlotKind
from localtypes.edit.safety import annotation_map
from localtypes.errors import SourceError
from localtypes.module import CLASS, FUNCTION, MODULE, ModuleIndex, ScopeKey
from localtypes.run.files import decode_source
from localtypes.syntax import parse_source


def _index(source: str, stub: bool = False) -> ModuleIndex:
    source = textwrap.dedent(source)
    return ModuleIndex(parse_source(source), source, stub=stub)


def test_redefinitions_are_numbered_per_kind_and_qualname() -> None:
    index = _index(
        """\
        def f(): pass
        def f():
            def g(): pass
        class f: pass
        if x:
            class C:
                def m(self): pass
        else:
            class C:
                def m(self): pass
        """
    )
    keys = list(index.scopes)
    assert keys == [
        ScopeKey(MODULE, "", 0),
        ScopeKey(FUNCTION, "f", 0),
        ScopeKey(FUNCTION, "f", 1),
        ScopeKey(FUNCTION, "f.g", 0),
        ScopeKey(CLASS, "f", 0),
        ScopeKey(CLASS, "C", 0),
        ScopeKey(FUNCTION, "C.m", 0),
        ScopeKey(CLASS, "C", 1),
        ScopeKey(FUNCTION, "C.m", 1),
    ]


def test_lookup_chain_skips_enclosing_classes_but_not_the_own_body() -> None:
    index = _index(
        """\
        def outer():
            class K:
                def method(self):
                    pass
        """
    )
    method = index.scopes[ScopeKey(FUNCTION, "outer.K.method", 0)]
    chain = [scope.key.qualname for scope in method.lookup_chain()]
    assert chain == ["outer.K.method", "outer"]
    body = index.scopes[ScopeKey(CLASS, "outer.K", 0)]
    assert [scope.key.qualname for scope in body.lookup_chain()] == ["outer.K", "outer"]
    assert not body.runs_at_import()
    assert method.enclosing_classes == ()
    assert body.enclosing_classes == ("K",)


def test_scope_bindings_cover_parameters_and_every_block() -> None:
    index = _index(
        """\
        def f(a, *rest, b=1, **kw):
            for i in a:
                try:
                    import os.path as p
                except E as err:
                    pass
            def g(): pass
        """
    )
    f = index.scopes[ScopeKey(FUNCTION, "f", 0)]
    assert f.bindings >= {"a", "rest", "b", "kw", "i", "p", "err", "g"}
    assert "os" not in f.bindings


def test_module_bindings_imports_and_flags() -> None:
    index = _index(
        """\
        from __future__ import annotations
        import os.path
        import numpy as np
        from . import sibling
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            from pathlib import Path
        for _ in range(1):
            import json
        from helpers import *
        del np
        def later():
            global CACHE
        """
    )
    assert index.imports == {
        "os": "os",
        "np": "numpy",
        "sibling": ".sibling",
        "TYPE_CHECKING": "typing.TYPE_CHECKING",
        "Path": "pathlib.Path",
        "json": "json",
    }
    assert index.future_annotations and index.star_import
    assert index.deleted == {"np"}
    assert [b.type_checking for b in index.bindings["Path"]] == [True]
    assert [b.kind for b in index.bindings["CACHE"]] == ["global"]
    assert index.import_origins()["os"] == "os"


def test_the_last_import_of_a_name_wins_in_first_import_order() -> None:
    index = _index("import a as x\nimport b as y\nimport c as x\n")
    assert list(index.imports.items()) == [("x", "c"), ("y", "b")]
    assert "x" not in index.import_origins()  # bound to two different things


def test_a_stub_never_evaluates_annotations() -> None:
    assert not _index("x = 1\n").future_annotations
    assert _index("x = 1\n", stub=True).future_annotations


def test_module_statements_say_where_names_are_defined() -> None:
    index = _index(
        """\
        if x:
            A = 1
        for _ in y:
            B = 2
        with z:
            C = 3
        """
    )
    found = {
        stmt.targets[0].id: definition  # type: ignore[attr-defined]
        for stmt, _, definition in index.module_statements()
        if isinstance(stmt, ast.Assign)
    }
    assert found == {"A": True, "B": False, "C": True}


# --- extraction and the safety checks read the same keys ---------------------------------


def _stdlib_files() -> List[Path]:
    base = Path(sysconfig.get_paths()["stdlib"])
    skip = {"site-packages", "__pycache__"}
    return sorted(path for path in base.rglob("*.py") if not skip.intersection(path.parts))


def _check_keys_agree(path: Path) -> int:
    """Every slot of the file is found in the index at its position, under its own key, and
    every annotated param/return slot is in the safety checks' annotation map. Returns the
    number of slots checked."""
    try:
        source = decode_source(path.read_bytes()).text
        tree = parse_source(source)
    except SourceError:
        return 0
    index = ModuleIndex(tree, source)
    slots = extract(source, index=index).slots
    annotations = annotation_map(tree)
    for slot in slots:
        position = (slot.line, slot.column)
        if slot.kind is SlotKind.PARAM:
            scope, arg = index.args[position]
            assert arg.arg == slot.name
        elif slot.kind is SlotKind.RETURN:
            scope = index.function_scopes[position]
        elif slot.annotation is None:
            scope = index.assigns[position][0]
        else:
            continue  # annotated variables: checked through the annotation map below
        assert (scope.key.qualname, scope.key.occurrence) == (slot.scope, slot.occurrence), (
            path,
            slot,
        )
        if slot.annotation is not None:
            what = "param" if slot.kind is SlotKind.PARAM else "return"
            assert (scope.key, what, slot.name, 0) in annotations, (path, slot)
    return len(slots)


@pytest.mark.parametrize("name", ["functools.py", "typing.py", "asyncio/tasks.py"])
def test_extraction_and_the_index_agree_on_keys(name: str) -> None:
    path = Path(sysconfig.get_paths()["stdlib"]) / name
    assert _check_keys_agree(path) > 100


@pytest.mark.slow
def test_extraction_and_the_index_agree_on_keys_across_the_standard_library() -> None:
    files = _stdlib_files()
    assert len(files) > 1000
    assert sum(_check_keys_agree(path) for path in files) > 100_000
