"""``localtypes.model.encode``: slots to model inputs, scores to ranked labels.

The encoder is the bundled store's (its real vocabulary), the module a real file of the
repository (``examples/inventory.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest

from localtypes.analysis.extract import extract
from localtypes.analysis.slots import ExtractedModule
from localtypes.labels import normalize
from localtypes.model.encode import (
    OTHER,
    PAIR_FEATURES,
    SLOT_FEATURES,
    STATIC_FEATURES,
    TEMPLATES,
    Batch,
    Encoder,
    _top_k,
    feature_id,
)

STORE = Path("model_store") / "localtypes-small"


@pytest.fixture(scope="module")
def vocab(repo_root: Path) -> Dict[str, Any]:
    document: Dict[str, Any] = json.loads((repo_root / STORE / "vocab.json").read_text())
    return document


@pytest.fixture(scope="module")
def encoder(vocab: Dict[str, Any]) -> Encoder:
    return Encoder.from_vocab(vocab)


@pytest.fixture(scope="module")
def module(repo_root: Path) -> ExtractedModule:
    return extract((repo_root / "examples" / "inventory.py").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def batch(encoder: Encoder, module: ExtractedModule) -> Batch:
    return encoder.encode(module)


# --- vocabulary -----------------------------------------------------------------------------


def test_from_vocab_reads_the_stores_parameters(encoder: Encoder, vocab: Dict[str, Any]) -> None:
    assert encoder.labels == vocab["labels"]
    assert encoder.buckets == vocab["buckets"]
    assert encoder.max_bases == vocab["max_bases"]
    assert encoder.templates == tuple(vocab["templates"])
    assert encoder.labels[encoder.other] == OTHER
    assert all(encoder.index[label] == i for i, label in enumerate(encoder.labels))


def test_vocab_round_trip(encoder: Encoder, vocab: Dict[str, Any]) -> None:
    saved = json.loads(json.dumps(encoder.to_vocab()))
    keys = ("labels", "buckets", "max_bases", "templates", "slot_features")
    assert saved == {key: vocab[key] for key in keys}
    again = Encoder.from_vocab(saved)
    assert again.to_vocab() == encoder.to_vocab()
    assert again.index == encoder.index and again.other == encoder.other


def test_from_vocab_defaults_for_old_stores() -> None:
    old = Encoder.from_vocab({"labels": ["<other>", "int"], "buckets": 64})
    assert old.max_bases == 24
    assert old.templates == TEMPLATES
    assert old.slot_features == 48  # stores before features v5


def test_a_vocabulary_without_other_is_refused() -> None:
    with pytest.raises(KeyError):
        Encoder(labels=["int", "str"], buckets=64)


def test_feature_ids_are_stable_and_never_padding() -> None:
    ids = [feature_id(f"feature{i}", 16) for i in range(500)]
    assert min(ids) >= 1 and max(ids) <= 15
    assert len(set(ids)) == 15  # every bucket but the padding one is used
    assert feature_id("n:path", 131072) == feature_id("n:path", 131072)
    assert feature_id("n:path", 131072) != feature_id("n:paths", 131072)


# --- encode ---------------------------------------------------------------------------------


def test_encode_shapes(batch: Batch, module: ExtractedModule, encoder: Encoder) -> None:
    slots = len(module.slots)
    assert slots > 20
    # Inventory, Item (classes) and pathlib.Path (an import), each in three templates;
    # datetime.datetime's last part is lowercase, json and logging are modules: not types.
    bases = ["Item", "Inventory", "pathlib.Path"]
    expected = [template.format(base) for base in bases for template in encoder.templates]
    assert batch.cand_labels == [expected]
    candidates = len(expected)
    assert batch.features.shape == (slots, encoder.slot_features)
    assert batch.cand_static.shape == (1, candidates, STATIC_FEATURES)
    assert batch.cand_mask.shape == (1, candidates)
    assert batch.slot_module.shape == (slots,)
    assert batch.pair_index.shape[1] == 2
    assert batch.pair_ids.shape == (len(batch.pair_index), PAIR_FEATURES)
    for array in (batch.features, batch.cand_static, batch.slot_module, batch.pair_index):
        assert array.dtype == np.int64
    assert batch.cand_mask.dtype == np.float32
    assert set(batch.inputs()) == {
        "features",
        "cand_static",
        "cand_mask",
        "slot_module",
        "pair_index",
        "pair_ids",
    }


def test_encode_values_and_padding(batch: Batch, module: ExtractedModule, encoder: Encoder) -> None:
    assert not batch.slot_module.any()  # one module
    assert not batch.cand_mask.any()  # every candidate is real
    for row, slot in zip(batch.features, module.slots):
        used = min(len(slot.features), SLOT_FEATURES)
        expected = [feature_id(f, encoder.buckets) for f in slot.features[:used]]
        assert row[:used].tolist() == expected
        assert not row[used:].any()  # zero padding after the features
    assert any(len(slot.features) < SLOT_FEATURES for slot in module.slots)
    assert (batch.features < encoder.buckets).all() and (batch.features >= 0).all()
    # Row 0 of the pairs is padding; the others point at real slots and candidates.
    assert batch.pair_index[0].tolist() == [0, 0] and not batch.pair_ids[0].any()
    assert len(batch.pair_index) > 1
    assert (batch.pair_index[1:, 0] < len(module.slots)).all()
    assert (batch.pair_index[1:, 1] < batch.cand_static.shape[1]).all()
    assert (batch.pair_ids[1:, 0] > 0).all()


def test_encode_is_deterministic(encoder: Encoder, module: ExtractedModule, batch: Batch) -> None:
    again = encoder.encode(module)
    for name, array in batch.inputs().items():
        assert np.array_equal(again.inputs()[name], array), name


def test_a_module_without_candidates_gets_one_masked_column(encoder: Encoder) -> None:
    module = extract("import os\n\ndef count(text):\n    return len(text)\n")
    batch = encoder.encode(module)
    assert batch.cand_labels == [[]]
    assert batch.cand_static.shape == (1, 1, STATIC_FEATURES)  # never a zero-sized axis
    assert batch.cand_mask.tolist() == [[1.0]]
    assert batch.features.shape == (len(module.slots), encoder.slot_features)
    assert batch.pair_index.tolist() == [[0, 0]]


def test_max_bases_limits_the_candidates(vocab: Dict[str, Any], module: ExtractedModule) -> None:
    small = Encoder.from_vocab({**vocab, "max_bases": 1})
    assert small.encode(module).cand_labels == [["Item", "Item | None", "list[Item]"]]


# --- targets --------------------------------------------------------------------------------


def test_targets_mark_the_right_columns(encoder: Encoder, batch: Batch) -> None:
    vocab = len(encoder.labels)
    cands = batch.cand_labels[0]
    assert "pathlib.Path" in encoder.index and "Inventory" not in encoder.index
    labels = ["str", "Inventory", "pathlib.Path", "no.such.Type", "list[Item]"]
    rows = len(labels)
    sub = Batch(
        features=batch.features[:rows],
        cand_static=batch.cand_static,
        cand_mask=batch.cand_mask,
        slot_module=batch.slot_module[:rows],
        pair_index=batch.pair_index[:1],
        pair_ids=batch.pair_ids[:1],
        cand_labels=batch.cand_labels,
    )
    out = encoder.targets(sub, labels)
    assert out.shape == (rows, vocab + len(cands))
    assert out.dtype == np.bool_

    def marked(row: int) -> List[int]:
        return np.nonzero(out[row])[0].tolist()

    assert marked(0) == [encoder.index["str"]]  # vocabulary only
    assert marked(1) == [vocab + cands.index("Inventory")]  # a candidate only
    # In both: both columns are right answers.
    assert marked(2) == [encoder.index["pathlib.Path"], vocab + cands.index("pathlib.Path")]
    assert marked(3) == [encoder.other]  # none of the answers: <other>
    assert marked(4) == sorted(
        [vocab + cands.index("list[Item]")]
        + ([encoder.index["list[Item]"]] if "list[Item]" in encoder.index else [])
    )


# --- decode ---------------------------------------------------------------------------------


def _reference(encoder: Encoder, batch: Batch, logits: np.ndarray[Any, Any]) -> List[List[Any]]:
    """Per row, (label, probability) best first: softmax, labels read under today's rules
    (``encoder.answers``), twins summed, <other> and labels that name no type dropped."""
    names = encoder.answers + batch.cand_labels[0]
    out = []
    for row in logits.astype(np.float64):
        probs = np.exp(row - row.max())
        probs /= probs.sum()
        merged: Dict[str, float] = {}
        for name, prob in zip(names, probs):
            merged[name] = merged.get(name, 0.0) + float(prob)
        del merged[OTHER]
        merged.pop("", None)
        out.append(sorted(merged.items(), key=lambda item: -item[1]))
    return out


def _logits(batch: Batch, encoder: Encoder, seed: int) -> np.ndarray[Any, Any]:
    rng = np.random.default_rng(seed)
    width = len(encoder.labels) + len(batch.cand_labels[0])
    return rng.normal(0.0, 3.0, size=(len(batch.features), width)).astype(np.float32)


@pytest.mark.parametrize("top_k", [1, 3, 20])
def test_decode_matches_a_reference(encoder: Encoder, batch: Batch, top_k: int) -> None:
    logits = _logits(batch, encoder, seed=top_k)
    kept = logits.copy()
    guesses = encoder.decode(batch, logits, top_k)
    assert np.array_equal(logits, kept)  # the caller's scores are not changed
    reference = _reference(encoder, batch, logits)
    assert len(guesses) == len(batch.features)
    for ranked, expected in zip(guesses, reference):
        assert len(ranked) == top_k
        assert [guess.label for guess in ranked] == [label for label, _ in expected[:top_k]]
        for guess, (_, prob) in zip(ranked, expected):
            assert guess.confidence == pytest.approx(prob, rel=1e-6)
        confidences = [guess.confidence for guess in ranked]
        assert confidences == sorted(confidences, reverse=True)


def test_decode_merges_twins_and_never_ranks_other(encoder: Encoder, batch: Batch) -> None:
    vocab = len(encoder.labels)
    cands = batch.cand_labels[0]
    logits = np.zeros((len(batch.features), vocab + len(cands)), dtype=np.float32)
    logits[:, encoder.other] = 12.0  # <other> is by far the most likely answer
    logits[0, encoder.index["pathlib.Path"]] = 8.0
    logits[0, vocab + cands.index("pathlib.Path")] = 8.0
    logits[0, encoder.index["str"]] = 8.5  # above each half, below the sum
    logits[1, vocab + cands.index("Inventory")] = 9.0
    ranked = encoder.decode(batch, logits, 5)
    probs = np.exp(logits[0].astype(np.float64) - 12.0)
    probs /= probs.sum()
    first = ranked[0]
    assert [guess.label for guess in first[:2]] == ["pathlib.Path", "str"]

    def reading_as(label: str) -> List[int]:
        """The vocabulary columns that answer ``label`` today (Final[str] answers str)."""
        return [column for column, answer in enumerate(encoder.answers) if answer == label]

    path_columns = reading_as("pathlib.Path")
    assert encoder.index["pathlib.Path"] in path_columns
    expected = probs[path_columns].sum() + probs[encoder.index["pathlib.Path"]]  # + candidate
    assert first[0].confidence == pytest.approx(expected)
    assert len(reading_as("str")) > 1
    assert first[1].confidence == pytest.approx(probs[reading_as("str")].sum())
    assert ranked[1][0].label == "Inventory"
    for row in ranked:
        labels = [guess.label for guess in row]
        assert OTHER not in labels
        assert len(labels) == len(set(labels)) == 5  # a twin is listed once
        assert all(0.0 < guess.confidence <= 1.0 for guess in row)
        # The probability of <other> is kept out: confidences sum to well below 1.
        assert sum(guess.confidence for guess in row) < 0.5


def test_decode_without_candidates_at_the_largest_top_k(encoder: Encoder) -> None:
    module = extract("def f(x):\n    return x\n")
    batch = encoder.encode(module)
    assert batch.cand_labels == [[]]
    # The model still scores the one masked padding column; decode ignores it.
    rng = np.random.default_rng(7)
    logits = rng.normal(0.0, 3.0, size=(len(module.slots), len(encoder.labels) + 1))
    ranked = encoder.decode(batch, logits, 20)  # the API's MAX_TOP_K
    assert len(ranked) == len(module.slots)
    for row in ranked:
        labels = [guess.label for guess in row]
        assert len(labels) == len(set(labels)) == 20
        assert OTHER not in labels
        assert set(labels) <= set(encoder.labels)


# --- _top_k ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [1, 2, 5, 9, 10, 14])
def test_top_k_equals_argsort(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    shape = (40, 10)
    matrices = [
        rng.random(shape),  # no ties
        rng.integers(0, 4, size=shape).astype(np.float64),  # many ties
        np.zeros(shape),  # all tied
    ]
    with_nan = rng.random(shape)
    with_nan[0, 3] = np.nan
    matrices.append(with_nan)
    for scores in matrices:
        expected = np.argsort(-scores, axis=1)[:, :k]
        assert np.array_equal(_top_k(scores, k), expected)


def test_top_k_orders_best_first() -> None:
    scores = np.array([[0.1, 0.7, 0.2, 0.0], [0.5, 0.1, 0.3, 0.9]])
    assert _top_k(scores, 2).tolist() == [[1, 2], [3, 0]]
    assert _top_k(scores, 1).tolist() == [[1], [3]]


def test_decode_reads_old_labels_under_todays_rules() -> None:
    """A model keeps the labels it was trained on; a label that reads as another under a
    newer rule (a qualifier, a re-export of typing) adds to it, one that names no type is
    never answered, and one that is new is renamed."""
    encoder = Encoder(
        labels=[OTHER, "str", "Required[str]", "Final", "beartype.typing.List[int]", "Any"],
        buckets=64,
    )
    assert encoder.answers == [OTHER, "str", "str", "", "list[int]", ""]
    batch = encoder.encode(extract("def f(x):\n    return x\n"))
    vocab = len(encoder.labels)
    width = vocab + len(batch.cand_labels[0])
    logits = np.full((len(batch.features), width), -30.0, dtype=np.float32)
    logits[:, 1] = logits[:, 2] = 1.0  # str, Required[str]
    logits[:, 3] = logits[:, 5] = 3.0  # Final, Any: the two most likely, never answers
    logits[:, 4] = 0.5
    for ranked in encoder.decode(batch, logits, 2):
        probs = np.exp(np.array([1.0, 1.0, 3.0, 0.5, 3.0]) - 3.0)
        probs /= probs.sum()
        assert [guess.label for guess in ranked] == ["str", "list[int]"]
        assert ranked[0].confidence == pytest.approx(probs[0] + probs[1], rel=1e-5)
        assert ranked[1].confidence == pytest.approx(probs[3], rel=1e-5)


@pytest.mark.parametrize("name", ["vocab.json", "pass1-vocab.json"])
def test_the_bundled_model_answers_only_labels_that_can_be_written(
    repo_root: Path, name: str
) -> None:
    """The first pass's vocabulary was built under older rules (beartype.typing.List[str],
    Required[str], Final), the second's under today's: neither ever answers one of those."""
    if not (repo_root / STORE / name).exists():
        pytest.skip(f"the bundled store has no {name}")
    encoder = Encoder.from_vocab(json.loads((repo_root / STORE / name).read_text()))
    if name == "pass1-vocab.json":
        old = ("Required[", "beartype.typing.")
        assert any(label.startswith(old) for label in encoder.labels)
    for answer in encoder.answers:
        if answer and answer != OTHER:
            assert normalize(answer) == answer
            assert not answer.startswith(("Required[", "NotRequired[", "Final[", "ClassVar["))
            assert answer not in ("Final", "ClassVar")
            assert "beartype.typing" not in answer and answer != "Any"
