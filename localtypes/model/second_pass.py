"""The second pass: each slot's features gain the first pass's answers for its neighbours.

The first pass answers every slot of a module on its own evidence. The second pass runs a
second network over the same slots with, in front of their features, what the first pass
answered for the slot itself and for the slots related to it
(``localtypes.analysis.neighbours``): the callee parameter an argument flows into, the
method a method overrides, a parameter of the same name, what a return returns. Training
reads cross-fitted first-pass answers (``scripts/second_pass.py``), never the truth, so the
network learns how far first-pass answers can be trusted.

Pure Python over slots and guesses: the predictor and training share it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Dict, List, Mapping, Tuple

from localtypes.analysis.slots import ExtractedModule, Relation, Slot, SlotKey

if TYPE_CHECKING:
    from localtypes.model.predictor import TypeGuess

# In front of a slot's own features, so that the encoder's width never cuts them off.
MAX_NEIGHBOUR_FEATURES = 16
CONFIDENT = 0.7  # a first-pass answer this sure also gives a feature of its own


def _bucket(confidence: float) -> str:
    return "hi" if confidence >= CONFIDENT else "mid" if confidence >= 0.4 else "lo"


def neighbour_features(
    slot: Slot,
    relations: Tuple[Relation, ...],
    first: Mapping[SlotKey, TypeGuess],
) -> List[str]:
    """The second-pass features of one slot, from the first pass's top answers."""
    feats: List[str] = []
    own = first.get(slot.key)
    if own is not None:
        feats += [f"nb:own:{own.label}", f"nb:own:{own.label}:{_bucket(own.confidence)}"]
    for relation, key in relations:
        guess = first.get(key)
        if guess is None:
            continue
        feats.append(f"nb:{relation}:{guess.label}")
        if guess.confidence >= CONFIDENT:
            feats.append(f"nb:{relation}:{guess.label}:hi")
        if own is not None and guess.label == own.label:
            feats.append(f"nb:agree:{relation}")
    return list(dict.fromkeys(feats))[:MAX_NEIGHBOUR_FEATURES]


def with_neighbours(module: ExtractedModule, first: Mapping[SlotKey, TypeGuess]) -> ExtractedModule:
    """``module`` with each slot's neighbour features in front of its own."""
    slots = tuple(
        replace(
            slot,
            features=(
                *neighbour_features(slot, module.relations.get(slot.key, ()), first),
                *slot.features,
            ),
        )
        for slot in module.slots
    )
    return replace(module, slots=slots)


def first_answers(
    slots: Tuple[Slot, ...], ranked: List[Tuple[TypeGuess, ...]]
) -> Dict[SlotKey, TypeGuess]:
    """Slot key -> the first pass's top answer (slots it had no answer for are left out)."""
    return {slot.key: guesses[0] for slot, guesses in zip(slots, ranked) if guesses}
