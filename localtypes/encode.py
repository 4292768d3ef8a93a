"""Slots -> model input arrays, and model scores -> ranked labels. Pure numpy.

The model scores two kinds of answers for every slot of a module:

- the fixed vocabulary: the most common canonical labels of the training corpus, plus
  ``<other>`` (the type is none of the answers we can express; its probability is kept
  out of the ranking, so it only lowers the confidence of the rest);
- candidates built from the names the module can see (its classes and imported classes),
  each in a few templates (``X``, ``X | None``, ``list[X]``). This pointer reaches project
  types a fixed label set cannot hold. A candidate is described by its own features
  (template, where the name comes from, its sub-tokens) and by pair features that relate
  it to the slot (the parameter is ``user`` and the class ``User``; the body calls
  ``isinstance(x, User)``; the function returns ``User(...)``).

Labels that appear both in the vocabulary and among the candidates are merged by summing
their probabilities.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Sequence, Tuple

import numpy as np

from localtypes.extract import subtokens
from localtypes.slots import ExtractedModule, ModuleInfo, Slot, SlotKind
from localtypes.typenames import TYPING_MODULES

if TYPE_CHECKING:
    from localtypes.model import TypeGuess

OTHER = "<other>"
TEMPLATES = ("{}", "{} | None", "list[{}]")
MAX_BASES = 24  # visible names turned into candidates, per module
SLOT_FEATURES = 48
STATIC_FEATURES = 8
PAIR_FEATURES = 8

IntArray = np.ndarray[Any, np.dtype[np.int64]]
FloatArray = np.ndarray[Any, np.dtype[np.float32]]


def feature_id(feature: str, buckets: int) -> int:
    """Stable hash of a feature into ``[1, buckets)``; 0 is padding."""
    return 1 + zlib.crc32(feature.encode("utf-8")) % (buckets - 1)


@dataclass(frozen=True)
class Candidate:
    """A visible name the pointer can answer with."""

    label: str  # canonical label of the bare name: "Token", "pathlib.Path"
    local: str  # how the module refers to it: "Token", "Path", "Outer.Inner"
    source: str  # "class", "import" or "relative"


def visible_candidates(info: ModuleInfo) -> List[Candidate]:
    """The module's classes and imported class-like names, in a stable order."""
    found: Dict[str, Candidate] = {}
    for name in info.classes:
        found.setdefault(name, Candidate(label=name, local=name, source="class"))
    for local, origin in info.imports.items():
        last = origin.rsplit(".", 1)[-1]
        if not last[:1].isupper() or last.isupper():
            continue  # modules, functions and CONSTANTS are not types
        module = origin.rsplit(".", 1)[0] if "." in origin else ""
        if module in TYPING_MODULES:
            continue  # typing names are in the vocabulary
        relative = origin.startswith(".")
        label = local if relative else origin
        found.setdefault(label, Candidate(label, local, "relative" if relative else "import"))
    return list(found.values())[:MAX_BASES]


@dataclass
class Batch:
    """The arrays for one module (the model's inputs) and what the answers mean."""

    features: IntArray  # [S, SLOT_FEATURES]
    cand_static: IntArray  # [M, C, STATIC_FEATURES] (M modules; 1 at inference)
    cand_mask: FloatArray  # [M, C]: 1 for a padded candidate
    slot_module: IntArray  # [S]: which module each slot belongs to
    cand_pair: IntArray  # [S, C, PAIR_FEATURES]
    cand_labels: List[List[str]]  # per module, the label of each candidate

    def inputs(self) -> Dict[str, np.ndarray[Any, Any]]:
        return {
            "features": self.features,
            "cand_static": self.cand_static,
            "cand_mask": self.cand_mask,
            "slot_module": self.slot_module,
            "cand_pair": self.cand_pair,
        }


class Encoder:
    """Turns modules into model inputs, with the label vocabulary of one model store."""

    def __init__(self, labels: Sequence[str], buckets: int) -> None:
        self.labels = list(labels)
        self.index = {label: i for i, label in enumerate(self.labels)}
        self.buckets = buckets
        self.other = self.index[OTHER]

    @classmethod
    def from_vocab(cls, vocab: Dict[str, Any]) -> Encoder:
        return cls(labels=vocab["labels"], buckets=int(vocab["buckets"]))

    def to_vocab(self) -> Dict[str, Any]:
        return {"labels": self.labels, "buckets": self.buckets, "templates": list(TEMPLATES)}

    def _ids(self, features: Sequence[str], width: int) -> List[int]:
        ids = [feature_id(f, self.buckets) for f in features[:width]]
        return ids + [0] * (width - len(ids))

    def candidates(self, info: ModuleInfo) -> List[Tuple[Candidate, int]]:
        return [(cand, t) for cand in visible_candidates(info) for t in range(len(TEMPLATES))]

    def encode(self, module: ExtractedModule) -> Batch:
        """The model inputs for every slot of one module."""
        return self.encode_slots(module.slots, module.info)

    def encode_slots(self, slots: Sequence[Slot], info: ModuleInfo) -> Batch:
        cands = self.candidates(info)
        width = max(len(cands), 1)  # never a zero-sized axis: ONNX handles those badly
        static = np.zeros((1, width, STATIC_FEATURES), dtype=np.int64)
        mask = np.ones((1, width), dtype=np.float32)
        tokens = []
        for j, (cand, template) in enumerate(cands):
            toks = subtokens(cand.local.rsplit(".", 1)[-1])
            tokens.append(toks)
            feats = [f"C|t:{template}", f"C|src:{cand.source}", f"C|src:{cand.source}:{template}"]
            feats += [f"C|tok:{tok}" for tok in toks[-3:]]
            feats.append(f"C|label:{cand.label}")
            static[0, j] = self._ids(feats, STATIC_FEATURES)
            mask[0, j] = 0.0
        features = np.zeros((len(slots), SLOT_FEATURES), dtype=np.int64)
        pair = np.zeros((len(slots), width, PAIR_FEATURES), dtype=np.int64)
        for i, slot in enumerate(slots):
            features[i] = self._ids(slot.features, SLOT_FEATURES)
            lowered = {f.lower() for f in slot.features}
            for j, (cand, template) in enumerate(cands):
                feats = _pair_features(slot, lowered, cand, tokens[j])
                if feats:
                    kind = slot.kind.value
                    tagged = [f"P|{f}:{template}:{kind}" for f in feats] + [f"P|{f}" for f in feats]
                    pair[i, j] = self._ids(tagged, PAIR_FEATURES)
        return Batch(
            features=features,
            cand_static=static,
            cand_mask=mask,
            slot_module=np.zeros(len(slots), dtype=np.int64),
            cand_pair=pair,
            cand_labels=[[TEMPLATES[t].format(c.label) for c, t in cands]],
        )

    def targets(self, batch: Batch, labels: Sequence[str]) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """[S, V + C] mask of the answers equal to each slot's true label (for training)."""
        vocab = len(self.labels)
        width = batch.cand_pair.shape[1]
        out = np.zeros((len(labels), vocab + width), dtype=np.bool_)
        for i, label in enumerate(labels):
            module = int(batch.slot_module[i])
            hit = False
            if label in self.index:
                out[i, self.index[label]] = True
                hit = True
            for j, cand_label in enumerate(batch.cand_labels[module]):
                if cand_label == label:
                    out[i, vocab + j] = True
                    hit = True
            if not hit:
                out[i, self.other] = True
        return out

    def decode(
        self, batch: Batch, logits: np.ndarray[Any, Any], top_k: int
    ) -> List[Tuple[TypeGuess, ...]]:
        """Ranked guesses per slot from the model's scores (already temperature-scaled)."""
        from localtypes.model import TypeGuess

        scores = logits.astype(np.float64)
        scores -= scores.max(axis=1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=1, keepdims=True)
        vocab = len(self.labels)
        out: List[Tuple[TypeGuess, ...]] = []
        for i in range(probs.shape[0]):
            row = probs[i]
            cand_labels = batch.cand_labels[int(batch.slot_module[i])]
            merged: Dict[str, float] = {}
            for j in np.argsort(-row[:vocab])[: top_k + 1]:
                label = self.labels[j]
                if label != OTHER:
                    merged[label] = float(row[j])
            for j, label in enumerate(cand_labels):
                share = float(row[vocab + j])
                if label in self.index:
                    share += 0.0 if label in merged else float(row[self.index[label]])
                merged[label] = merged.get(label, 0.0) + share
            ranked = sorted(merged.items(), key=lambda item: -item[1])[:top_k]
            out.append(tuple(TypeGuess(label, min(conf, 1.0)) for label, conf in ranked))
        return out


def _pair_features(slot: Slot, lowered: set[str], cand: Candidate, toks: List[str]) -> List[str]:
    """How a slot relates to one visible name."""
    name = cand.local.rsplit(".", 1)[-1].lower()
    feats: List[str] = []
    own = subtokens(slot.name) if slot.kind is not SlotKind.RETURN else []
    if not own and slot.kind is SlotKind.RETURN:
        own = subtokens(slot.scope.rsplit(".", 1)[-1])
    if own and toks:
        if "".join(own) == "".join(toks):
            feats.append("name_eq")
        elif own[-1] == toks[-1]:
            feats.append("name_last")
        elif own[-1].rstrip("s") == toks[-1] or own[-1] == toks[-1] + "es":
            feats.append("name_plural")
        elif set(own) & set(toks):
            feats.append("name_overlap")
    checks = (
        (f"uisinstance:{name}", "isinstance"),
        (f"r:call:{name}", "ret_call"),
        (f"rv:call:{name}", "ret_call"),
        (f"dv:call:{name}", "default"),
        (f"dv:attrof:{name}", "default"),
        (f"v:call:{name}", "value"),
        (f"v:attrof:{name}", "value"),
        (f"b:{name}", "body_ref"),
        (f"doc:{name}", "doc"),
        (f"rdoc:{name}", "doc"),
        (f"doc:first:{name}", "doc_first"),
        (f"rdoc:first:{name}", "doc_first"),
    )
    feats.extend(tag for feature, tag in checks if feature in lowered)
    if f"c:{cand.local.lower()}" in lowered or f"c:{name}" in lowered:
        feats.append("enclosing")
        if lowered & {"r:self", "r:cls", "r:call:cls"}:
            feats.append("returns_self")
    return feats
