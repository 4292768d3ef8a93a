"""Choosing and spelling: which guesses are written, how, and why the others are not.

``choose`` is driven directly with hand-made guesses over a real module index, so each
rule is seen on its own (the writer's golden files in tests/data/writer see them together).
"""

from __future__ import annotations

import textwrap
from typing import Any, Dict, List, Optional, Tuple

import pytest

from localtypes.analysis.extract import extract
from localtypes.analysis.slots import SlotKind
from localtypes.edit.choose import choose
from localtypes.edit.plan import ImportSpec, Plan, Reason, SlotGuess, WriteOptions
from localtypes.module import ModuleIndex
from localtypes.syntax import parse_source

ALL_KINDS = frozenset(SlotKind)


def _plan(
    source: str,
    labels: Dict[str, Tuple[Optional[str], float]],
    *,
    target: Tuple[int, int] = (3, 11),
    threshold: float = 0.5,
    stub: bool = False,
) -> Plan:
    """Choose for the slots named in ``labels`` (by qualname) with those guesses."""
    source = textwrap.dedent(source)
    index = ModuleIndex(parse_source(source), source, stub=stub)
    guesses = [
        SlotGuess(slot, *labels[slot.qualname])
        for slot in extract(source, index=index).slots
        if slot.qualname in labels
    ]
    assert len(guesses) == len(labels), "a name in labels is not a slot"
    return choose(guesses, index, WriteOptions(threshold, ALL_KINDS, target))


def _written(plan: Plan) -> Dict[str, str]:
    return {choice.slot.qualname: choice.text for choice in plan.choices}


def _reasons(plan: Plan) -> Dict[str, Reason]:
    return {rejection.slot.qualname: rejection.reason for rejection in plan.rejected}


def test_threshold_any_and_no_prediction_are_rejected_with_their_reason() -> None:
    plan = _plan(
        "def f(a, b, c, d): pass\n",
        {"f.a": ("int", 0.49), "f.b": ("Any", 0.99), "f.c": (None, 0.0), "f.d": ("int", 0.5)},
    )
    assert _written(plan) == {"f.d": "int"}
    assert _reasons(plan) == {
        "f.a": Reason.BELOW_THRESHOLD,
        "f.b": Reason.ANY,
        "f.c": Reason.NO_PREDICTION,
    }


def test_existing_annotations_and_other_kinds_are_never_candidates() -> None:
    source = "def f(a: int, b):\n    x = 1\n"
    index = ModuleIndex(parse_source(source), source)
    slots = {slot.qualname: slot for slot in extract(source, index=index).slots}
    guesses = [SlotGuess(slots[name], "str", 0.99) for name in ("f.a", "f.b", "f.x")]
    plan = choose(guesses, index, WriteOptions(0.5, frozenset({SlotKind.PARAM})))
    assert _written(plan) == {"f.b": "str"}
    assert plan.rejected == ()


@pytest.mark.parametrize(
    ("target", "expected", "imports"),
    [
        (
            (3, 8),
            "Optional[List[int]]",
            {ImportSpec("typing", "List"), ImportSpec("typing", "Optional")},
        ),
        ((3, 9), "Optional[list[int]]", {ImportSpec("typing", "Optional")}),
        ((3, 10), "list[int] | None", set()),
    ],
)
def test_spelling_follows_the_target_version(
    target: Tuple[int, int], expected: str, imports: set
) -> None:
    plan = _plan("def f(a): pass\n", {"f.a": ("list[int] | None", 0.9)}, target=target)
    assert _written(plan) == {"f.a": expected}
    assert set(plan.imports) == imports


def test_typing_is_spelled_the_way_the_module_imports_it() -> None:
    plan = _plan("import typing as t\ndef f(a): pass\n", {"f.a": ("Iterator[int]", 0.9)})
    assert _written(plan) == {"f.a": "t.Iterator[int]"}
    assert plan.imports == ()


def test_a_standard_library_type_gets_its_import_unless_the_name_is_taken() -> None:
    free = _plan("def f(a): pass\n", {"f.a": ("pathlib.Path", 0.9)})
    assert _written(free) == {"f.a": "Path"}
    assert free.imports == (ImportSpec("pathlib", "Path"),)
    taken = _plan("Path = 1\ndef f(a): pass\n", {"f.a": ("pathlib.Path", 0.9)})
    assert _written(taken) == {"f.a": "pathlib.Path"}
    assert taken.imports == (ImportSpec("pathlib"),)


def test_an_unknown_or_rebound_name_is_not_written() -> None:
    plan = _plan(
        "def f(a, b):\n    pass\n\ndef g(str):\n    def h(c): pass\n",
        {"f.a": ("Mystery", 0.9), "f.b": ("somewhere.Else", 0.9), "g.h.c": ("str", 0.9)},
    )
    assert _written(plan) == {}
    assert _reasons(plan) == {
        "f.a": Reason.UNRESOLVABLE,
        "f.b": Reason.UNRESOLVABLE,
        "g.h.c": Reason.NAME_CLASH,
    }


def test_a_class_defined_below_is_quoted_where_the_annotation_runs_at_import() -> None:
    source = """\
        def f(a): pass
        class Later: pass
        """
    assert _written(_plan(source, {"f.a": ("Later", 0.9)})) == {"f.a": '"Later"'}
    # Postponed annotations, or a stub: never evaluated, never quoted.
    postponed = "from __future__ import annotations\n" + textwrap.dedent(source)
    assert _written(_plan(postponed, {"f.a": ("Later", 0.9)})) == {"f.a": "Later"}
    assert _written(_plan(source, {"f.a": ("Later", 0.9)}, stub=True)) == {"f.a": "Later"}


def test_variables_that_define_types_or_fields_are_left_alone() -> None:
    plan = _plan(
        """\
        from dataclasses import dataclass
        from typing import TypeVar
        T = TypeVar("T")
        Pair = tuple[int, int]
        __version__ = "1"
        @dataclass
        class Point:
            x = 0
        class Plain:
            y = 0
        """,
        {
            "T": ("TypeVar", 0.9),
            "Pair": ("type", 0.9),
            "__version__": ("str", 0.9),
            "Point.x": ("int", 0.9),
            "Plain.y": ("int", 0.9),
        },
    )
    assert _written(plan) == {"Plain.y": "int"}
    assert _reasons(plan) == {
        "T": Reason.TYPE_ALIAS,
        "Pair": Reason.TYPE_ALIAS,
        "__version__": Reason.DUNDER,
        "Point.x": Reason.CLASS_ATTRIBUTE,
    }


def test_a_modules_getattr_keeps_its_return_unannotated() -> None:
    """A module's ``__getattr__`` answers every attribute it lacks: ``-> str`` there typed
    them all as ``str`` (toolz's tests then failed to check). A method's keeps its rule."""
    plan = _plan(
        """        def __getattr__(name):
            return globals()[name]
        class Lazy:
            def __getattr__(self, name):
                return name
        """,
        {"__getattr__.name": ("str", 0.9), "__getattr__": ("str", 0.9),
         "Lazy.__getattr__": ("str", 0.9)},
    )  # fmt: skip
    assert _written(plan) == {"__getattr__.name": "str", "Lazy.__getattr__": "str"}
    assert _reasons(plan) == {"__getattr__": Reason.MODULE_GETATTR}


def test_a_type_comment_keeps_its_signature_unannotated() -> None:
    plan = _plan(
        "def f(a):\n    # type: (int) -> None\n    pass\n",
        {"f.a": ("int", 0.9), "f": ("None", 0.9)},
    )
    assert _reasons(plan) == {"f.a": Reason.TYPE_COMMENT, "f": Reason.TYPE_COMMENT}


def test_labels_that_cannot_be_written_are_unsupported() -> None:
    plan = _plan(
        "def f(a, b, c):\n    pass\n",
        {"f.a": ("Optional", 0.9), "f.b": ("Self", 0.9), "f.c": ("not a type(", 0.9)},
    )
    assert set(_reasons(plan).values()) == {Reason.UNSUPPORTED}


def test_self_is_written_inside_a_class() -> None:
    source = "from typing_extensions import Self\nclass A:\n    def copy(self): pass\n"
    assert _written(_plan(source, {"A.copy": ("Self", 0.9)})) == {"A.copy": "Self"}


def test_a_slot_from_another_module_is_not_found() -> None:
    index_source = "def g(a): pass\n"
    other = extract("def f(a): pass\n").slots[0]
    index = ModuleIndex(parse_source(index_source), index_source)
    plan = choose([SlotGuess(other, "int", 0.9)], index, WriteOptions(0.5))
    assert _reasons(plan) == {"f.a": Reason.NOT_FOUND}


# --- spell_guesses: the ranked guesses a client offers (the Type4Py API's fp=1) -------------

SPELL_SOURCE = textwrap.dedent(
    """\
    from pathlib import Path
    from typing import Optional

    fn = len("x")


    def load(path, count=0):
        return Store()


    class Store:
        pass
    """
)


def _spell(labels: Tuple[str, ...], **options: Any) -> List[Tuple[str, str]]:
    from localtypes.edit.checks import ModuleChecks
    from localtypes.edit.choose import spell_guesses

    index = ModuleIndex(parse_source(SPELL_SOURCE), SPELL_SOURCE)
    (slot,) = [s for s in extract(SPELL_SOURCE, index=index).slots if s.name == "path"]
    write = WriteOptions(min_confidence=0.0, target_version=(3, 9))
    return spell_guesses(slot, labels, index, write, checks=ModuleChecks(index), **options)


def test_spelled_guesses_use_the_names_the_module_has() -> None:
    labels = ("pathlib.Path", "Any", "fn", "Unknown", "str | None", "Store", "int")
    assert _spell(labels) == [
        ("pathlib.Path", "Path"),  # the module's own import
        ("str | None", "Optional[str]"),  # spelled for 3.9 with the module's Optional
        ("Store", '"Store"'),  # defined below the def: quoted
        ("int", "int"),
    ]  # not Any, not a name bound to a function, not a name the module lacks


def test_spelled_guesses_need_no_new_import_unless_allowed() -> None:
    labels = ("collections.OrderedDict", "int | str", "int")
    assert _spell(labels) == [("int", "int")]
    allowed = _spell(labels, new_imports=True)
    assert allowed == [
        ("collections.OrderedDict", "OrderedDict"),
        ("int | str", "Union[int, str]"),
        ("int", "int"),
    ]
    assert _spell(labels, new_imports=True, limit=2) == allowed[:2]
