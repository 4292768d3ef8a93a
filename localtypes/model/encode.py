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
their probabilities. The visible names and the pair evidence come from
``localtypes.model.pointer``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from localtypes.analysis.features.names import subtokens
from localtypes.analysis.slots import ExtractedModule, ModuleInfo, Slot
from localtypes.labels import ANY, LabelError, normalize
from localtypes.model.pointer import MAX_BASES, PairMatcher, visible_candidates

if TYPE_CHECKING:
    from localtypes.model.predictor import TypeGuess

OTHER = "<other>"
TEMPLATES = ("{}", "{} | None", "list[{}]")
SLOT_FEATURES = 64  # per slot (stores before features v5 used 48: see Encoder.from_vocab)
STATIC_FEATURES = 8
PAIR_FEATURES = 8

IntArray = np.ndarray[Any, np.dtype[np.int64]]
FloatArray = np.ndarray[Any, np.dtype[np.float32]]


def feature_id(feature: str, buckets: int) -> int:
    """Stable hash of a feature into ``[1, buckets)``; 0 is padding."""
    return 1 + zlib.crc32(feature.encode("utf-8")) % (buckets - 1)


@dataclass
class Batch:
    """The arrays for one module (the model's inputs) and what the answers mean."""

    features: IntArray  # [S, SLOT_FEATURES]
    cand_static: IntArray  # [M, C, STATIC_FEATURES] (M modules; 1 at inference)
    cand_mask: FloatArray  # [M, C]: 1 for a padded candidate
    slot_module: IntArray  # [S]: which module each slot belongs to
    # Pair features are sparse (most slots relate to few candidates): one row per related
    # (slot, candidate); row 0 is a padding row of zero ids, so P is never 0.
    pair_index: IntArray  # [P, 2]: slot, candidate
    pair_ids: IntArray  # [P, PAIR_FEATURES]
    cand_labels: List[List[str]]  # per module, the label of each candidate

    def inputs(self) -> Dict[str, np.ndarray[Any, Any]]:
        return {
            "features": self.features,
            "cand_static": self.cand_static,
            "cand_mask": self.cand_mask,
            "slot_module": self.slot_module,
            "pair_index": self.pair_index,
            "pair_ids": self.pair_ids,
        }


class Encoder:
    """Turns modules into model inputs, with the label vocabulary of one model store."""

    def __init__(
        self,
        labels: Sequence[str],
        buckets: int,
        max_bases: int = MAX_BASES,
        templates: Sequence[str] = TEMPLATES,
        slot_features: int = SLOT_FEATURES,
    ) -> None:
        self.labels = list(labels)
        self.index = {label: i for i, label in enumerate(self.labels)}
        self.buckets = buckets
        self.other = self.index[OTHER]
        self.answers, self._folded, self._folded_into = _answer_columns(self.labels)
        self._answer_index: Dict[str, int] = {}
        for column, answer in enumerate(self.answers):
            self._answer_index.setdefault(answer, column)
        self.max_bases = max_bases
        self.templates = tuple(templates)
        self.slot_features = slot_features

    @classmethod
    def from_vocab(cls, vocab: Dict[str, Any]) -> Encoder:
        """The encoder a model store was trained with (its vocabulary and parameters)."""
        return cls(
            labels=vocab["labels"],
            buckets=int(vocab["buckets"]),
            max_bases=int(vocab.get("max_bases", 24)),
            templates=vocab.get("templates", TEMPLATES),
            slot_features=int(vocab.get("slot_features", 48)),
        )

    def to_vocab(self) -> Dict[str, Any]:
        return {
            "labels": self.labels,
            "buckets": self.buckets,
            "max_bases": self.max_bases,
            "templates": list(self.templates),
            "slot_features": self.slot_features,
        }

    def encode(self, module: ExtractedModule) -> Batch:
        """The model inputs for every slot of one module."""
        return self.encode_slots(module.slots, module.info)

    def encode_slots(self, slots: Sequence[Slot], info: ModuleInfo) -> Batch:
        bases = visible_candidates(info, self.max_bases)
        templates = len(self.templates)
        buckets = self.buckets
        # Features repeat across the slots of a module (module imports, kinds, positions,
        # names): hash each distinct string once per call. Per call, not per encoder, so a
        # long-lived service does not grow a cache of every name it has ever seen.
        cache: Dict[str, int] = {}
        known = cache.get

        def ids(features: Sequence[str], width: int) -> List[int]:
            out: List[Optional[int]] = list(map(known, features[:width]))
            if None in out:
                for index, fid in enumerate(out):
                    if fid is None:
                        feature = features[index]
                        out[index] = cache[feature] = feature_id(feature, buckets)
            if len(out) < width:
                out += [0] * (width - len(out))
            return out  # type: ignore[return-value]  # no None left

        # Candidate j is base j // templates written with template j % templates.
        cands = [(cand, t) for cand in bases for t in range(templates)]
        width = max(len(cands), 1)  # never a zero-sized axis: ONNX handles those badly
        static = np.zeros((1, width, STATIC_FEATURES), dtype=np.int64)
        mask = np.ones((1, width), dtype=np.float32)
        for j, (cand, template) in enumerate(cands):
            toks = subtokens(cand.local.rsplit(".", 1)[-1])
            feats = [f"C|t:{template}", f"C|src:{cand.source}", f"C|src:{cand.source}:{template}"]
            feats += [f"C|tok:{tok}" for tok in toks[-3:]]
            feats.append(f"C|label:{cand.label}")
            static[0, j] = ids(feats, STATIC_FEATURES)
            mask[0, j] = 0.0
        features = np.zeros((len(slots), self.slot_features), dtype=np.int64)
        pair_index: List[Tuple[int, int]] = [(0, 0)]
        pair_ids: List[List[int]] = [[0] * PAIR_FEATURES]
        matcher = PairMatcher(bases, info.members)
        # The id rows of one set of pair tags for one slot kind, per template: slots share
        # few distinct tag sets, so each is formatted and hashed once.
        pair_rows: Dict[Tuple[Tuple[str, ...], str], List[List[int]]] = {}
        for i, slot in enumerate(slots):
            features[i] = ids(slot.features, self.slot_features)
            kind = slot.kind.value
            for base, feats in matcher.pairs(slot).items():
                key = (tuple(feats), kind)
                rows = pair_rows.get(key)
                if rows is None:
                    rows = pair_rows[key] = [
                        ids(
                            [f"P|{f}:{template}:{kind}" for f in feats] + [f"P|{f}" for f in feats],
                            PAIR_FEATURES,
                        )
                        for template in range(templates)
                    ]
                for template in range(templates):
                    pair_index.append((i, base * templates + template))
                    pair_ids.append(rows[template])
        return Batch(
            features=features,
            cand_static=static,
            cand_mask=mask,
            slot_module=np.zeros(len(slots), dtype=np.int64),
            pair_index=np.array(pair_index, dtype=np.int64),
            pair_ids=np.array(pair_ids, dtype=np.int64),
            cand_labels=[[self.templates[t].format(c.label) for c, t in cands]],
        )

    def targets(self, batch: Batch, labels: Sequence[str]) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """[S, V + C] mask of the answers equal to each slot's true label (for training)."""
        vocab = len(self.labels)
        width = batch.cand_static.shape[1]
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
        from localtypes.model.predictor import TypeGuess

        # The [S, V + C] float64 matrix is made once and then worked on in place. Casting
        # inside the subtraction gives exactly ``logits.astype(float64) - max``.
        scores = np.subtract(logits, logits.max(axis=1, keepdims=True), dtype=np.float64)
        probs = np.exp(scores, out=scores)
        probs /= probs.sum(axis=1, keepdims=True)
        vocab = len(self.labels)
        out: List[Tuple[TypeGuess, ...]] = []
        for module, cand_labels in enumerate(batch.cand_labels):
            rows = np.nonzero(batch.slot_module == module)[0]
            if not len(rows):
                continue
            width = len(cand_labels)
            twins = np.array(
                [self._answer_index.get(label, -1) for label in cand_labels], dtype=np.int64
            )
            names = self.answers + cand_labels
            # ``probs`` is ours: a one-module batch is merged in place instead of copied.
            part = probs if len(rows) == len(probs) else probs[rows]
            merged = part[:, : vocab + width]
            if len(self._folded):
                # Vocabulary labels that read as another one today count as that one.
                into = self._folded_into
                kept = into >= 0
                # by column (a view): several columns may fold into one
                np.add.at(merged.T, into[kept], merged[:, self._folded[kept]].T)
                merged[:, self._folded] = 0.0
            has_twin = np.nonzero(twins >= 0)[0]
            # A label both in the vocabulary and among the candidates counts once, summed.
            merged[:, vocab + has_twin] += merged[:, twins[has_twin]]
            merged[:, twins[has_twin]] = 0.0
            merged[:, self.other] = 0.0
            best = _top_k(merged, top_k)
            values = np.take_along_axis(merged, best, axis=1).tolist()
            for row, row_values in zip(best.tolist(), values):
                out.append(tuple(TypeGuess(names[j], min(v, 1.0)) for j, v in zip(row, row_values)))
        return out


def _answer_columns(
    labels: Sequence[str],
) -> Tuple[List[str], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """What each vocabulary column answers, in today's canonical spelling.

    A model keeps the labels it was trained on; when a rule of ``localtypes.labels``
    changes later (``beartype.typing.List[str]`` is ``list[str]`` now, ``Required[str]``
    is ``str``), its columns are read under the new rules: a column whose label now reads
    as another column's is added to that one (the two are the same answer), and a column
    whose label names no type any more (a bare ``Final``; ``Any``) is never answered. Returns the
    answer of each column, the columns folded away, and where each goes (-1: nowhere).
    """
    answers: List[str] = []
    for label in labels:
        try:
            answer = label if label == OTHER else normalize(label)
        except (LabelError, RecursionError):
            answer = ""
        answers.append("" if answer == ANY else answer)  # never an answer (see labels)
    first: Dict[str, int] = {}
    for column, (label, answer) in enumerate(zip(labels, answers)):
        if answer and label == answer:
            first.setdefault(answer, column)
    folded: List[int] = []
    into: List[int] = []
    for column, (label, answer) in enumerate(zip(labels, answers)):
        if answer == label:
            continue
        target = first.get(answer, -1) if answer else -1
        if target < 0 and answer:
            first[answer] = column  # the only column for this answer: renamed, kept
            continue
        folded.append(column)
        into.append(target)
    return answers, np.array(folded, dtype=np.int64), np.array(into, dtype=np.int64)


def _top_k(scores: np.ndarray[Any, Any], k: int) -> np.ndarray[Any, Any]:
    """Per row, the columns of the ``k`` highest scores, highest first.

    The same columns as ``np.argsort(-scores, axis=1)[:, :k]``: the k + 1 highest are
    partitioned out (linear time) and sorted; only when two of them are equal (or NaN)
    could the order depend on the sort algorithm, and then the full argsort decides.
    """
    columns = scores.shape[1]
    if k >= columns:
        return np.argsort(-scores, axis=1)[:, :k]
    if k == 1:  # what ``annotate`` asks for: argmax, when each row's maximum is unique
        best: np.ndarray[Any, Any] = np.argmax(scores, axis=1)[:, None]
        tops = np.take_along_axis(scores, best, axis=1)
        if np.all(np.count_nonzero(scores == tops, axis=1) == 1):
            return best
        return np.argsort(-scores, axis=1)[:, :k]
    top = np.argpartition(scores, columns - k - 1, axis=1)[:, columns - k - 1 :]
    values = np.take_along_axis(scores, top, axis=1)
    order = np.argsort(-values, axis=1)
    top = np.take_along_axis(top, order, axis=1)
    values = np.take_along_axis(values, order, axis=1)
    if not np.all(values[:, :-1] > values[:, 1:]):
        return np.argsort(-scores, axis=1)[:, :k]
    return top[:, :k]
