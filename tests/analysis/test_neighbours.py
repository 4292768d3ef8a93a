"""Slot relations for the second pass: what links which slots of one module."""

from __future__ import annotations

import textwrap
from typing import Dict, List, Tuple

from localtypes.analysis.extract import extract
from localtypes.analysis.neighbours import MAX_RELATIONS, MAX_SAME_NAME, module_relations
from localtypes.module import ModuleIndex
from localtypes.syntax import parse_source

SOURCE = textwrap.dedent(
    """
    class Base:
        def run(self, name, count=0):
            return name

    class Thing(Base):
        def __init__(self, path, size):
            self.path = path
            self.size = size

        def run(self, name, count=0):
            value = helper(name)
            return self.path

        def get_size(self):
            return self.size

        def make_other(self, size):
            return self.build(size)

        def build(self, size):
            return Thing(self.path, size=size)

    def helper(name):
        out = make(name)
        return out

    def make(name):
        return name.upper()

    def passthrough(item):
        copy = item
        return make(item)
    """
)

Readable = Dict[Tuple[str, str, str], List[Tuple[str, str, str, str]]]


def relations(source: str = SOURCE) -> Readable:
    """(kind, scope, name) -> [(relation, kind, scope, name)] for easy reading."""
    module = extract(source)
    return {
        (key[0].value, key[1], key[3]): [(r, o[0].value, o[1], o[3]) for r, o in items]
        for key, items in module.relations.items()
    }


def test_returns_link_to_what_they_return() -> None:
    found = relations()
    assert ("ret-param", "param", "Base.run", "name") in found[("return", "Base.run", "return")]
    assert found[("return", "helper", "return")] == [("ret-var", "variable", "helper", "out")]
    # ``return self.size`` where ``__init__`` stored its parameter ``size``
    assert found[("return", "Thing.get_size", "return")] == [
        ("ret-attr", "param", "Thing.__init__", "size")
    ]
    # a method's result returned: both ways
    assert ("ret-call", "return", "Thing.build", "return") in found[
        ("return", "Thing.make_other", "return")
    ]
    assert ("ret-by", "return", "Thing.make_other", "return") in found[
        ("return", "Thing.build", "return")
    ]


def test_arguments_link_caller_and_callee_parameters() -> None:
    found = relations()
    assert ("into", "param", "helper", "name") in found[("param", "Thing.run", "name")]
    assert ("from", "param", "Thing.run", "name") in found[("param", "helper", "name")]
    # through self.method(...) (self is bound) and a keyword of a constructor call
    assert ("into", "param", "Thing.build", "size") in found[("param", "Thing.make_other", "size")]
    assert ("into", "param", "Thing.__init__", "size") in found[("param", "Thing.build", "size")]
    # a variable passed: the callee's parameter learns from it
    assert ("var-call", "return", "make", "return") in found[("variable", "helper", "out")]


def test_overrides_link_to_the_base_method() -> None:
    found = relations()
    run = found[("param", "Thing.run", "count")]
    assert run[0] == ("base", "param", "Base.run", "count")  # strongest first
    assert ("base", "return", "Base.run", "return") in found[("return", "Thing.run", "return")]


def test_variables_link_to_their_values() -> None:
    found = relations()
    assert found[("variable", "passthrough", "copy")] == [
        ("var-param", "param", "passthrough", "item")
    ]
    assert ("var-call", "return", "helper", "return") in found[("variable", "Thing.run", "value")]


def test_only_slots_of_the_module_and_never_itself() -> None:
    module = extract(SOURCE)
    keys = {slot.key for slot in module.slots}
    for key, items in module.relations.items():
        assert key in keys
        for _, other in items:
            assert other in keys and other != key
    # ``self`` is not a slot: nothing relates to it
    assert not any(other[3] == "self" for items in module.relations.values() for _, other in items)


def test_same_named_parameters_are_capped() -> None:
    source = "\n".join(f"def f{i}(value):\n    return 1\n" for i in range(10))
    found = relations(source)
    same = found[("param", "f0", "value")]
    assert len(same) == MAX_SAME_NAME
    assert all(relation == "same" for relation, *_ in same)


def test_relations_per_slot_are_capped() -> None:
    calls = "\n".join(f"    g{i}(x)" for i in range(20))
    defs = "\n".join(f"def g{i}(x):\n    pass\n" for i in range(20))
    found = relations(f"def f(x):\n{calls}\n\n{defs}")
    assert len(found[("param", "f", "x")]) == MAX_RELATIONS


def test_unresolved_calls_relate_nothing() -> None:
    source = "import os\n\ndef f(path):\n    return os.path.join(path)\n"
    found = relations(source)
    assert ("return", "f", "return") not in found
    index = ModuleIndex(parse_source(source), source)
    assert module_relations(index, ()) == {}
