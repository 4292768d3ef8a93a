"""The cheap checks: each rule on a small module, driven through ``choose``.

A guess the module's own evidence rules out is not written; the next guess is taken when
its share of what is left clears the threshold. Every case here is one that mypy reports
as an error when the ruled-out annotation is written (see tests/verify for the checker).
"""

from __future__ import annotations

import textwrap
from typing import Dict, Optional, Sequence, Tuple

import pytest

from localtypes.analysis.extract import extract
from localtypes.analysis.slots import SlotKind
from localtypes.edit.choose import choose
from localtypes.edit.plan import Plan, Reason, SlotGuess, WriteOptions
from localtypes.module import ModuleIndex
from localtypes.syntax import parse_source

Guesses = Dict[str, Sequence[Tuple[str, float]]]


def _plan(source: str, guesses: Guesses, *, checks: bool = True) -> Plan:
    source = textwrap.dedent(source)
    index = ModuleIndex(parse_source(source), source)
    candidates = []
    for slot in extract(source, index=index).slots:
        if slot.kind is SlotKind.VARIABLE:
            continue
        key = slot.qualname if slot.kind is not SlotKind.RETURN else f"{slot.qualname}->"
        if key in guesses:
            (label, confidence), *rest = guesses[key]
            candidates.append(SlotGuess(slot, label, confidence, tuple(rest)))
    assert len(candidates) == len(guesses), "a key of guesses is not a slot"
    options = WriteOptions(0.7, frozenset(SlotKind), (3, 11), checks=checks)
    return choose(candidates, index, options)


def _written(plan: Plan) -> Dict[str, str]:
    return {
        (c.slot.qualname if c.slot.kind is not SlotKind.RETURN else c.slot.qualname + "->"): c.text
        for c in plan.choices
    }


def _reason(plan: Plan) -> Optional[Reason]:
    reasons = [r.reason for r in plan.rejected]
    return reasons[0] if reasons else None


@pytest.mark.parametrize(
    ("source", "guesses", "reason"),
    [
        ("def f(x=0): pass\n", {"f.x": [("str", 0.9)]}, Reason.DEFAULT),
        ("def f(x=''): pass\n", {"f.x": [("int", 0.9)]}, Reason.DEFAULT),
        ("def f(x=1.5): pass\n", {"f.x": [("int", 0.9)]}, Reason.DEFAULT),
        ("def f(x=()): pass\n", {"f.x": [("list[str]", 0.9)]}, Reason.DEFAULT),
        ("_M = object()\ndef f(x=_M): pass\n", {"f.x": [("str", 0.9)]}, Reason.DEFAULT),
        ("def g(): pass\ndef f(x): pass\n", {"f.x": [("g", 0.9)]}, Reason.NOT_A_TYPE),
        ("LIMIT = 5\ndef f(x): pass\n", {"f.x": [("LIMIT", 0.9)]}, Reason.NOT_A_TYPE),
        ("import json\ndef f(x): pass\n", {"f.x": [("json", 0.9)]}, Reason.NOT_A_TYPE),
        ("def f(price):\n    return f'{price:.2f}'\n", {"f.price": [("str", 0.9)]}, Reason.USAGE),
        ("def f(n):\n    return n + 1\n", {"f.n": [("str", 0.9)]}, Reason.USAGE),
        ("def f(d):\n    return d.items()\n", {"f.d": [("list", 0.9)]}, Reason.USAGE),
        ("def f(d):\n    return d['key']\n", {"f.d": [("str", 0.9)]}, Reason.USAGE),
        ("def f(d):\n    return d.items()\n", {"f.d": [("dict | None", 0.9)]}, Reason.USAGE),
        ("def f(n):\n    for _ in n: pass\n", {"f.n": [("int", 0.9)]}, Reason.USAGE),
        ("def f(n):\n    n = None\n", {"f.n": [("str", 0.9)]}, Reason.USAGE),
        ("def f(n): pass\nf(3)\n", {"f.n": [("bool", 0.9)]}, Reason.USAGE),
        (
            "class A:\n    def f(self, n): pass\n    def g(self):\n        self.f(n=2.5)\n",
            {"A.f.n": [("int", 0.9)]},
            Reason.USAGE,
        ),
        ("def f(x):\n    if x:\n        return 1\n", {"f->": [("int", 0.9)]}, Reason.RETURNS),
        ("def f():\n    return None\n", {"f->": [("str", 0.9)]}, Reason.RETURNS),
        ("def f():\n    return []\n", {"f->": [("str", 0.9)]}, Reason.RETURNS),
        ("def f():\n    pass\n", {"f->": [("bool", 0.9)]}, Reason.RETURNS),
        (
            "def f(): return g()\ndef h():\n    t = f()\n    return t['start']\n",
            {"f->": [("str", 0.9)]},
            Reason.USAGE,
        ),
        (
            "class P:\n    def f(self): return self.x\n    def g(self): return self.f().items()\n",
            {"P.f->": [("list[int]", 0.9)]},
            Reason.USAGE,
        ),
        ("def f():\n    yield 1\n", {"f->": [("list[int]", 0.9)]}, Reason.RETURNS),
        # the last operand of ``a or b`` is one of the values the parameter takes
        (
            "def f(sign='+'):\n    sign = ((sign == '-') and -1) or 1\n    return sign\n",
            {"f.sign": [("str", 0.9)]},
            Reason.USAGE,
        ),
        # a class the function imports itself
        (
            "def f(state=None):\n    if not hasattr(state, 'random'):\n"
            "        from random import Random\n        state = Random(state)\n",
            {"f.state": [("int | None", 0.9)]},
            Reason.USAGE,
        ),
        # duck typing under ``try``: a checker still finds no ``k`` on ``object``
        (
            "class A:\n    def __eq__(self, other):\n        try:\n"
            "            return self.k == other.k\n        except AttributeError:\n"
            "            return False\n",
            {"A.__eq__.other": [("object", 0.9)]},
            Reason.USAGE,
        ),
        # a method of a class with a metaclass whose body is not trivial falls off its end
        (
            "class M(type): pass\nclass A(metaclass=M):\n    def f(self, x):\n"
            "        if x:\n            return 'a'\n",
            {"A.f->": [("str", 0.9)]},
            Reason.RETURNS,
        ),
        (
            "from datetime import tzinfo\nclass Z(tzinfo):\n    def tzname(self, dt): return 'Z'\n",
            {"Z.tzname.dt": [("datetime.datetime", 0.9)]},
            Reason.OVERRIDE,
        ),
        (
            "class A:\n    def __eq__(self, other): return True\n",
            {"A.__eq__.other": [("A", 0.9)]},
            Reason.OVERRIDE,
        ),
        (
            "class A:\n    def f(self) -> int: return 1\nclass B(A):\n    def f(self): return 2\n",
            {"B.f->": [("str", 0.9)]},
            Reason.OVERRIDE,
        ),
        (
            "class A:\n    def f(self, x: int): pass\nclass B(A):\n    def f(self, x): pass\n",
            {"B.f.x": [("bool", 0.9)]},
            Reason.OVERRIDE,
        ),
    ],
)
def test_a_guess_the_module_rules_out_is_not_written(
    source: str, guesses: Guesses, reason: Reason
) -> None:
    plan = _plan(source, guesses)
    assert _written(plan) == {}
    assert _reason(plan) is reason
    # without the checks, the same guess is written
    assert _written(_plan(source, guesses, checks=False))


@pytest.mark.parametrize(
    ("source", "guesses"),
    [
        ("def f(x=0): pass\n", {"f.x": [("float", 0.9)]}),  # int promotes to float
        ("def f(x=True): pass\n", {"f.x": [("int", 0.9)]}),
        ("def f(x=[]): pass\n", {"f.x": [("Sequence[str]", 0.9)]}),
        ("from lib import Token\ndef f(x=0): pass\n", {"f.x": [("lib.Token", 0.9)]}),  # unknown
        ("T = int\ndef f(x): pass\n", {"f.x": [("T", 0.9)]}),  # an alias
        ("def f(price):\n    return f'{price:.2f}'\n", {"f.price": [("float", 0.9)]}),
        ("def f(d):\n    if isinstance(d, dict):\n        d.items()\n", {"f.d": [("list", 0.9)]}),
        ("def f(d):\n    if d:\n        d.items()\n", {"f.d": [("dict | None", 0.9)]}),
        (
            "def f(d):\n    try:\n        d.items()\n    except Exception: pass\n",
            {"f.d": [("list", 0.9)]},
        ),
        ("def f(x):\n    if x:\n        return 1\n", {"f->": [("int | None", 0.9)]}),
        ("def f(x):\n    if x:\n        return 1\n    raise ValueError\n", {"f->": [("int", 0.9)]}),
        ("class P:\n    def f(self):\n        return 1\n", {"P.f->": [("int", 0.9)]}),
        (
            "import abc\nclass A(abc.ABC):\n    def f(self):\n        raise NotImplementedError\n",
            {"A.f->": [("int", 0.9)]},
        ),
        (
            "def f(d):\n    try:\n        d.k\n    except AttributeError: pass\n",
            {"f.d": [("int", 0.9)]},
        ),
        ("def f(x):\n    x = x or 0\n    return x\n", {"f.x": [("int", 0.9)]}),
        (
            "import abc\nclass A(abc.ABC):\n    @abc.abstractmethod\n    def f(self): pass\n",
            {"A.f->": [("int", 0.9)]},
        ),
        (
            "from datetime import tzinfo\nclass Z(tzinfo):\n    def tzname(self, dt): return 'Z'\n",
            {"Z.tzname.dt": [("datetime.datetime | None", 0.9)]},
        ),
        (
            "class A:\n    def f(self, x: bool): pass\nclass B(A):\n    def f(self, x): pass\n",
            {"B.f.x": [("int", 0.9)]},
        ),
    ],
)
def test_a_guess_nothing_contradicts_is_written(source: str, guesses: Guesses) -> None:
    assert len(_written(_plan(source, guesses))) == 1


def test_a_none_default_makes_the_guess_optional() -> None:
    plan = _plan("def f(x=None): pass\n", {"f.x": [("int", 0.8)]})
    assert _written(plan) == {"f.x": "int | None"}
    # X and X | None are one guess once the default says None: their shares add up
    plan = _plan("def f(x=None): pass\n", {"f.x": [("int", 0.5), ("int | None", 0.3)]})
    assert _written(plan) == {"f.x": "int | None"}


def test_the_next_guess_is_taken_when_its_share_of_what_is_left_clears_the_threshold() -> None:
    source = "def f(n):\n    return n + 1\n"
    plan = _plan(source, {"f.n": [("str", 0.75), ("int", 0.2)]})
    assert _written(plan) == {"f.n": "int"}  # 0.2 / (1 - 0.75) = 0.8
    assert plan.choices[0].confidence == pytest.approx(0.8)
    plan = _plan(source, {"f.n": [("str", 0.75), ("int", 0.1)]})
    assert _written(plan) == {}  # 0.4 is not enough
    assert _reason(plan) is Reason.USAGE


def test_an_override_agrees_with_a_base_annotated_in_the_same_run() -> None:
    source = "class A:\n    def f(self): return 1\nclass B(A):\n    def f(self): return 2\n"
    plan = _plan(source, {"A.f->": [("int", 0.9)], "B.f->": [("str", 0.9)]})
    assert _written(plan) == {"A.f->": "int"}
    assert _reason(plan) is Reason.OVERRIDE


# The same module before and after annotating: ``x: T = v`` reads as ``x = v``, so a check
# that rules a guess out on the plain module rules it out on the annotated one (else a second
# run of the writer would add what the first ruled out: not idempotent).
_SAME_WITH_ANNOTATIONS = [
    (  # a caller uses an attribute on what it returns
        "def f():\n    return g()\ndef caller():\n    x{} = f()\n    return x.items()\n",
        ": dict",
        {"f->": [("bool", 0.9)]},
    ),
    (  # the body assigns the parameter
        "def f(x):\n    x{} = 0\n    return x\n",
        ": int",
        {"f.x": [("str", 0.9)]},
    ),
    (  # a module constant as the default
        "_D{} = {{'a': 1}}\ndef f(x=_D['a']): pass\n",
        ": dict",
        {"f.x": [("str", 0.9)]},
    ),
    (  # a module variable is not a type
        "X{} = 5\ndef f(x): pass\n",
        ": int",
        {"f.x": [("X", 0.9)]},
    ),
]


@pytest.mark.parametrize(
    ("template", "annotation", "guesses"),
    _SAME_WITH_ANNOTATIONS,
    ids=["result", "assigned", "constant", "not-a-type"],
)
def test_annotated_assignments_read_as_plain_ones(
    template: str, annotation: str, guesses: Guesses
) -> None:
    plain = _plan(template.format(""), guesses)
    annotated = _plan(template.format(annotation), guesses)
    assert _reason(plain) is not None  # the case rules something out
    assert (_reason(annotated), _written(annotated)) == (_reason(plain), _written(plain))


@pytest.mark.parametrize(
    "imports",
    ["", "from typing import Sequence\n", "from collections.abc import Sequence\n"],
)
def test_a_typing_import_the_writer_added_does_not_change_a_verdict(imports: str) -> None:
    """A first run rules ``Sequence[str]`` out (a dict is assigned) and writes
    ``from typing import Sequence`` for other slots; the second run must rule it out too
    (it did not: the module's binding hid the name, and the run was not idempotent)."""
    source = imports + "def f(**keywords):\n    keywords = {**keywords}\n    return keywords\n"
    plan = _plan(source, {"f.keywords": [("Sequence[str]", 0.9)]})
    assert _reason(plan) is Reason.USAGE
