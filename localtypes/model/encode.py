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
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from localtypes.analysis.extract import subtokens
from localtypes.analysis.slots import ExtractedModule, ModuleInfo, Slot, SlotKind
from localtypes.labels import TYPING_MODULES

if TYPE_CHECKING:
    from localtypes.model.predictor import TypeGuess

OTHER = "<other>"
TEMPLATES = ("{}", "{} | None", "list[{}]")
MAX_BASES = 64  # visible names turned into candidates, per module (defaults for new stores)
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


def visible_candidates(info: ModuleInfo, limit: int = MAX_BASES) -> List[Candidate]:
    """The module's classes, type aliases and imported class-like names, in a stable order."""
    found: Dict[str, Candidate] = {}
    for name in info.classes:
        found.setdefault(name, Candidate(label=name, local=name, source="class"))
    for name in info.aliases:
        found.setdefault(name, Candidate(label=name, local=name, source="alias"))
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
    return list(found.values())[:limit]


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
    ) -> None:
        self.labels = list(labels)
        self.index = {label: i for i, label in enumerate(self.labels)}
        self.buckets = buckets
        self.other = self.index[OTHER]
        self.max_bases = max_bases
        self.templates = tuple(templates)

    @classmethod
    def from_vocab(cls, vocab: Dict[str, Any]) -> Encoder:
        """The encoder a model store was trained with (its vocabulary and parameters)."""
        return cls(
            labels=vocab["labels"],
            buckets=int(vocab["buckets"]),
            max_bases=int(vocab.get("max_bases", 24)),
            templates=vocab.get("templates", TEMPLATES),
        )

    def to_vocab(self) -> Dict[str, Any]:
        return {
            "labels": self.labels,
            "buckets": self.buckets,
            "max_bases": self.max_bases,
            "templates": list(self.templates),
        }

    def _ids(self, features: Sequence[str], width: int) -> List[int]:
        ids = [feature_id(f, self.buckets) for f in features[:width]]
        return ids + [0] * (width - len(ids))

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
        features = np.zeros((len(slots), SLOT_FEATURES), dtype=np.int64)
        pair_index: List[Tuple[int, int]] = [(0, 0)]
        pair_ids: List[List[int]] = [[0] * PAIR_FEATURES]
        matcher = _PairMatcher(bases, info.members)
        # The id rows of one set of pair tags for one slot kind, per template: slots share
        # few distinct tag sets, so each is formatted and hashed once.
        pair_rows: Dict[Tuple[Tuple[str, ...], str], List[List[int]]] = {}
        for i, slot in enumerate(slots):
            features[i] = ids(slot.features, SLOT_FEATURES)
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
            twins = np.array([self.index.get(label, -1) for label in cand_labels], dtype=np.int64)
            names = self.labels + cand_labels
            # ``probs`` is ours: a one-module batch is merged in place instead of copied.
            part = probs if len(rows) == len(probs) else probs[rows]
            merged = part[:, : vocab + width]
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


class _PairMatcher:
    """Finds, for one slot, the visible names it relates to, by looking its features up."""

    _EVIDENCE = (
        ("uisinstance:", "isinstance"),
        ("r:call:", "ret_call"),
        ("rv:call:", "ret_call"),
        ("dv:call:", "default"),
        ("dv:attrof:", "default"),
        ("v:call:", "value"),
        ("v:attrof:", "value"),
        ("b:", "body_ref"),
        ("doc:", "doc"),
        ("rdoc:", "doc"),
        ("r:on:", "ret_on"),  # return Foo.from_dict(...)
        ("rv:on:", "ret_on"),
        ("v:on:", "value_on"),
        ("dv:on:", "default"),
    )
    # Usage features that name a member: x.attr, x.method(), x.attr = ...
    _MEMBER_USES = ("ua:", "um:", "uset:")
    # The first segments of the (lowered) features that can relate a slot to a candidate.
    _HEADS = frozenset({prefix.split(":", 1)[0] for prefix, _ in _EVIDENCE} | {"c", "r"})

    def __init__(self, bases: Sequence[Candidate], members: Dict[str, Tuple[str, ...]]) -> None:
        self.by_member: Dict[str, List[int]] = {}
        for index, cand in enumerate(bases):
            if cand.source == "class":
                for member in members.get(cand.local, ()):
                    self.by_member.setdefault(member, []).append(index)
        self.by_name: Dict[str, List[int]] = {}
        self.by_joined: Dict[str, List[int]] = {}
        self.by_last: Dict[str, List[int]] = {}
        self.by_token: Dict[str, List[int]] = {}
        for index, cand in enumerate(bases):
            name = cand.local.rsplit(".", 1)[-1]
            toks = subtokens(name)
            self.by_name.setdefault(name.lower(), []).append(index)
            self.by_name.setdefault(cand.local.lower(), []).append(index)
            if toks:
                self.by_joined.setdefault("".join(toks), []).append(index)
                self.by_last.setdefault(toks[-1], []).append(index)
                for tok in set(toks):
                    self.by_token.setdefault(tok, []).append(index)
        self._by_own: Dict[str, List[Tuple[List[int], str]]] = {}
        self._effects: Dict[str, _Effect] = {}

    def pairs(self, slot: Slot) -> Dict[int, List[str]]:
        """Candidate index -> the pair features that relate it to ``slot``."""
        found: Dict[int, List[str]] = {}
        if not self.by_name:
            return found

        def add(indexes: Sequence[int], tag: str) -> None:
            for index in indexes:
                tags = found.setdefault(index, [])
                if tag not in tags:
                    tags.append(tag)

        name = slot.scope.rsplit(".", 1)[-1] if slot.kind is SlotKind.RETURN else slot.name
        by_own = self._by_own.get(name)
        if by_own is None:
            by_own = self._by_own[name] = self._own_lookups(name)
        for indexes, tag in by_own:
            add(indexes, tag)
        returns_self = False
        matched: Dict[int, int] = {}
        effects = self._effects
        for feature in slot.features:
            effect = effects.get(feature)
            if effect is None:
                effect = effects[feature] = self._effect(feature)
            if effect is _NO_EFFECT:
                continue
            members, is_self, lookups = effect
            for index in members:
                matched[index] = matched.get(index, 0) + 1
            if is_self:
                returns_self = True
            for indexes, tag in lookups:
                add(indexes, tag)
        for index, count in matched.items():
            add([index], "member" if count == 1 else "members2")
            if count >= 3:
                add([index], "members3")
        if returns_self:
            for tags in found.values():
                if "enclosing" in tags:
                    tags.append("returns_self")
        return found

    # Lookups are a pure function of a name or a feature string for one module, and the
    # slots of a module share most of their features: each string is examined once per
    # module (a matcher lives for one encode call) instead of once per slot.

    def _own_lookups(self, name: str) -> List[Tuple[List[int], str]]:
        """The name features of a slot called ``name``: (candidates, tag), in order."""
        out: List[Tuple[List[int], str]] = []
        own = subtokens(name)
        if own:
            joined = "".join(own)
            out.append((self.by_joined.get(joined, []), "name_eq"))
            out.append((self.by_last.get(own[-1], []), "name_last"))
            for plural in (own[-1][:-1], own[-1][:-2]):
                if own[-1].endswith("s") and plural:
                    out.append((self.by_last.get(plural, []), "name_plural"))
            for tok in own:
                out.append((self.by_token.get(tok, []), "name_overlap"))
        return [(indexes, tag) for indexes, tag in out if indexes]

    def _effect(self, feature: str) -> _Effect:
        """What one slot feature contributes: member hits, returns-self, (candidates, tag)."""
        members: List[int] = []
        if feature.startswith(self._MEMBER_USES):
            members = self.by_member.get(feature.split(":", 1)[1], [])
        lowered = feature.lower()
        if not members and lowered.partition(":")[0] not in self._HEADS:
            return _NO_EFFECT  # no evidence prefix, no "c:", no "r:self" can match
        is_self = lowered in ("r:self", "r:cls", "r:call:cls")
        lookups: List[Tuple[List[int], str]] = []
        for prefix, tag in self._EVIDENCE:
            if lowered.startswith(prefix):
                lookups.append((self.by_name.get(lowered[len(prefix) :], []), tag))
        if lowered.startswith("c:"):
            lookups.append((self.by_name.get(lowered[2:], []), "enclosing"))
        lookups = [(indexes, tag) for indexes, tag in lookups if indexes]
        if not members and not is_self and not lookups:
            return _NO_EFFECT
        return members, is_self, lookups


# A feature that relates the slot to no candidate (most of them).
_Effect = Tuple[List[int], bool, List[Tuple[List[int], str]]]
_NO_EFFECT: _Effect = ([], False, [])
