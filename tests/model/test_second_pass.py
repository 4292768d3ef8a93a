"""The second pass's features: the first pass's answers for a slot and its neighbours."""

from __future__ import annotations

from localtypes.analysis.extract import extract
from localtypes.analysis.slots import SlotKind
from localtypes.model.predictor import TypeGuess
from localtypes.model.second_pass import (
    MAX_NEIGHBOUR_FEATURES,
    first_answers,
    neighbour_features,
    with_neighbours,
)

SOURCE = """
def outer(path):
    return inner(path)

def inner(path):
    return path
"""


def test_features_name_the_neighbours_answers_and_their_relation() -> None:
    module = extract(SOURCE)
    by_key = {slot.key: slot for slot in module.slots}
    outer_path = (SlotKind.PARAM, "outer", 0, "path")
    inner_path = (SlotKind.PARAM, "inner", 0, "path")
    first = {
        outer_path: TypeGuess("str", 0.5),
        inner_path: TypeGuess("pathlib.Path", 0.9),
    }
    feats = neighbour_features(by_key[outer_path], module.relations[outer_path], first)
    assert feats[:2] == ["nb:own:str", "nb:own:str:mid"]
    assert "nb:into:pathlib.Path" in feats and "nb:into:pathlib.Path:hi" in feats
    assert not any(f.startswith("nb:agree") for f in feats)  # str != pathlib.Path
    agreeing = {**first, outer_path: TypeGuess("pathlib.Path", 0.2)}
    feats = neighbour_features(by_key[outer_path], module.relations[outer_path], agreeing)
    assert "nb:own:pathlib.Path:lo" in feats and "nb:agree:into" in feats


def test_slots_without_answers_add_nothing() -> None:
    module = extract(SOURCE)
    slot = module.slots[0]
    assert neighbour_features(slot, module.relations.get(slot.key, ()), {}) == []


def test_with_neighbours_puts_them_in_front_and_keeps_the_rest() -> None:
    module = extract(SOURCE)
    first = first_answers(module.slots, [(TypeGuess("int", 0.8),) for _ in module.slots])
    second = with_neighbours(module, first)
    assert [s.key for s in second.slots] == [s.key for s in module.slots]
    for before, after in zip(module.slots, second.slots):
        added = len(after.features) - len(before.features)
        assert 2 <= added <= MAX_NEIGHBOUR_FEATURES
        assert after.features[added:] == before.features
        assert after.features[0] == "nb:own:int"


def test_first_answers_skips_slots_without_guesses() -> None:
    module = extract(SOURCE)
    ranked = [(TypeGuess("int", 0.8),), ()] + [(TypeGuess("str", 0.1),)] * (len(module.slots) - 2)
    answers = first_answers(module.slots, ranked)
    assert module.slots[1].key not in answers
    assert answers[module.slots[0].key].label == "int"
