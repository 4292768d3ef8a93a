"""Static answers lead only where their rule measured precise enough on validation."""

from __future__ import annotations

from localtypes.analysis.slots import Slot, SlotKind
from localtypes.model.static_answers import StaticAnswers, measure_rules, static_rule


def _slot(features: tuple, label: str = "None", kind: SlotKind = SlotKind.RETURN) -> Slot:
    return Slot(kind, "f", 0, "return", 1, 0, None, label, features=features)


def test_the_rule_family_separates_none_from_values() -> None:
    assert static_rule(_slot(("k:return", "sr:None"))) == ("sr:None", "None")
    assert static_rule(_slot(("k:return", "sr:int | None"))) == ("sr:value", "int | None")
    assert static_rule(_slot(("k:variable", "sv:str"))) == ("sv:value", "str")
    assert static_rule(_slot(("k:param", "sd:int"))) is None  # a default is only evidence


def test_measured_precision_per_family() -> None:
    slots = [
        _slot(("sr:None",), "None"),
        _slot(("sr:None",), "None"),
        _slot(("sr:None",), "NoReturn"),
        _slot(("sv:int",), "int", SlotKind.VARIABLE),
        _slot(("k:return",), "str"),
    ]
    assert measure_rules(slots) == {
        "sr:None": {"precision": 0.6667, "count": 3},
        "sv:value": {"precision": 1.0, "count": 1},
    }


def test_only_precise_and_well_measured_rules_answer() -> None:
    answers = StaticAnswers(
        {
            "sr:None": {"precision": 0.97, "count": 5000},
            "sr:value": {"precision": 0.80, "count": 5000},  # not precise enough
            "sv:value": {"precision": 0.99, "count": 10},  # too few to trust
        }
    )
    assert answers.answer(_slot(("sr:None",))) == ("None", 0.97)
    assert answers.answer(_slot(("sr:int",), "int")) is None
    assert answers.answer(_slot(("sv:int",), "int", SlotKind.VARIABLE)) is None
    assert StaticAnswers({}).answer(_slot(("sr:None",))) is None
