"""First-pass answers for training and checking the second pass (``train.py --second-pass``).

The second pass reads the first pass's answers for each slot and its neighbours
(``localtypes.model.second_pass``). At run time those come from a first pass that never saw
the file. Training must see answers of the same quality, never answers of a model that
learnt the very slots it answers: the training packages are cut into folds, a first-pass
network is trained on all folds but one and answers that one (cross-fitting). Validation
and test are answered by the shipped first pass, through onnxruntime, as at run time.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Dict, List, Sequence

import torch
from dataset import ModuleRecord

from localtypes.analysis.slots import SlotKey
from localtypes.model.encode import Encoder
from localtypes.model.predictor import CHUNK_SLOTS, OnnxPredictor, TypeGuess
from localtypes.model.second_pass import MAX_NEIGHBOUR_FEATURES, first_answers, with_neighbours
from localtypes.model.store import load_store

Answers = Dict[SlotKey, TypeGuess]


def fold_of(package: str, folds: int, seed: int) -> int:
    """The fold of a package: a seeded hash, so that every run cuts the same folds."""
    digest = hashlib.sha256(f"fold:{seed}:{package}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % folds


def torch_answers(model: torch.nn.Module, encoder: Encoder, record: ModuleRecord) -> Answers:
    """A torch first-pass network's top answer for every slot of a record and its context."""
    module = record.module()
    everything = module.slots + module.context
    batch = encoder.encode_slots(everything, module.info)
    with torch.no_grad():
        logits = model(*(torch.from_numpy(array) for array in batch.inputs().values()))
    return first_answers(everything, encoder.decode(batch, logits.numpy(), 1))


def store_answers(store: Path, records: Sequence[ModuleRecord]) -> List[Answers]:
    """The answers of a one-pass model store, through the runtime's own code path."""
    predictor = OnnxPredictor(load_store(str(store)))
    if predictor.first is not None:
        raise SystemExit(f"{store}: the first pass must be a one-pass store")
    out = []
    for record in records:
        module = record.module()
        everything = module.slots + module.context
        ranked = predictor.network.run(everything, module, 1, 1.0, CHUNK_SLOTS)
        out.append(first_answers(everything, ranked))
    return out


def augmented(record: ModuleRecord, answers: Answers) -> ModuleRecord:
    """The record with the second pass's features in front of each slot's own."""
    module = with_neighbours(record.module(), answers)
    return replace(record, slots=list(module.slots))


_NOT_NEIGHBOURS = ("nb:own:", "nb:agree:")  # the slot's own answer, and agreement marks


def neighbour_stats(records: Sequence[ModuleRecord]) -> str:
    """How many slots have a first-pass answer for themselves and for a neighbour."""
    slots = [slot for record in records for slot in record.slots]
    own = related = 0
    for slot in slots:
        added = slot.features[:MAX_NEIGHBOUR_FEATURES]
        own += any(f.startswith("nb:own:") for f in added)
        related += any(
            f.startswith("nb:") and not f.startswith(("nb:own:", "nb:agree:")) for f in added
        )
    total = max(len(slots), 1)
    return f"{len(slots)} slots: own answer {own / total:.1%}, a neighbour's {related / total:.1%}"
