"""``localtypes.model.predictor``: the real ONNX model behind the ``Predictor`` Protocol."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import numpy as np
import pytest

import localtypes.model.predictor as predictor_module
from localtypes.analysis.extract import extract
from localtypes.analysis.slots import ExtractedModule, SlotKind
from localtypes.api import predict
from localtypes.model.encode import OTHER
from localtypes.model.predictor import (
    ModelInfo,
    OnnxPredictor,
    Predictor,
    TypeGuess,
    default_predictor,
)
from localtypes.model.store import load_store, sha256_of

Guesses = List[Tuple[TypeGuess, ...]]


@pytest.fixture(scope="module")
def inventory(repo_root: Path) -> ExtractedModule:
    return extract((repo_root / "examples" / "inventory.py").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def geometry(repo_root: Path) -> ExtractedModule:
    path = repo_root / "tests" / "data" / "smoke_corpus" / "shapes" / "geometry.py"
    return extract(path.read_text(encoding="utf-8"))


def test_one_guess_tuple_per_slot(predictor: Predictor, inventory: ExtractedModule) -> None:
    guesses = predictor.predict(inventory, top_k=5)
    assert len(guesses) == len(inventory.slots) > 20
    for ranked in guesses:
        assert len(ranked) == 5
        labels = [guess.label for guess in ranked]
        assert len(set(labels)) == 5 and OTHER not in labels
        confidences = [guess.confidence for guess in ranked]
        assert all(0.0 < c <= 1.0 for c in confidences)
        assert confidences == sorted(confidences, reverse=True)
        assert sum(confidences) <= 1.0 + 1e-6  # probabilities of distinct answers


def test_guesses_follow_slot_order(predictor: Predictor, inventory: ExtractedModule) -> None:
    guesses = predictor.predict(inventory)
    by_slot = {slot.key: ranked[0].label for slot, ranked in zip(inventory.slots, guesses)}
    # What the shipped model gets right with high confidence on this file.
    assert by_slot[(SlotKind.RETURN, "Item.__init__", 0, "return")] == "None"
    assert by_slot[(SlotKind.RETURN, "Item.is_available", 0, "return")] == "bool"
    assert by_slot[(SlotKind.RETURN, "Item.__str__", 0, "return")] == "str"
    assert by_slot[(SlotKind.PARAM, "format_price", 0, "verbose")] == "bool"
    # Slots given in another order get the same guesses in that order.
    reordered = ExtractedModule(
        slots=inventory.slots[::-1], info=inventory.info, relations=inventory.relations
    )
    assert predictor.predict(reordered) == guesses[::-1]


@pytest.mark.parametrize("top_k", [1, 3, 20])
def test_top_k_is_respected(predictor: Predictor, inventory: ExtractedModule, top_k: int) -> None:
    guesses = predictor.predict(inventory, top_k=top_k)
    widest = predictor.predict(inventory, top_k=20)
    for ranked, wide in zip(guesses, widest):
        assert len(ranked) == top_k
        assert [guess.label for guess in ranked] == [guess.label for guess in wide[:top_k]]


@pytest.mark.parametrize("source", ["", '"""Only a docstring."""\nimport os\n'])
def test_a_module_without_slots_gives_nothing(predictor: Predictor, source: str) -> None:
    module = extract(source)
    assert module.slots == ()
    assert predictor.predict(module) == []


def test_identical_scores_alone_or_after_another_module(
    predictor: Predictor, repo_root: Path, inventory: ExtractedModule, geometry: ExtractedModule
) -> None:
    fresh = OnnxPredictor(load_store(str(repo_root / "model_store" / "localtypes-small")))
    alone = fresh.predict(geometry, top_k=20)
    predictor.predict(inventory, top_k=20)
    after = predictor.predict(geometry, top_k=20)
    assert after == alone  # exact: same labels, same float confidences
    assert predictor.predict(inventory, top_k=20) == fresh.predict(inventory, top_k=20)


def test_info_is_the_stores_identity(predictor: Predictor, repo_root: Path) -> None:
    folder = repo_root / "model_store" / "localtypes-small"
    store = load_store(str(folder))
    info = predictor.info
    assert info == ModelInfo.of_store(store)
    assert info.sha256 == sha256_of(folder / "model.onnx")
    # every network the predictor loads: the model, and its first pass if it has one
    assert info.size_bytes == sum((folder / name).stat().st_size for name in store.model_files)
    assert info.passes == len(store.model_files) == 1 + ("first_pass" in store.manifest)
    assert info.threshold == store.threshold
    assert info.to_dict() == {"name": store.name, "version": store.version, "sha256": info.sha256}


def test_confidences_are_calibrated_by_the_stores_temperature(
    repo_root: Path, inventory: ExtractedModule
) -> None:
    onnx = OnnxPredictor(load_store(str(repo_root / "model_store" / "localtypes-small")))
    temperature = onnx.store.manifest["temperature"]
    assert onnx.temperature == temperature != 1.0
    network = onnx.network
    batch = network.encoder.encode(onnx.network_input(inventory))
    (raw,) = network.session.run(["logits"], batch.inputs())
    calibrated = network.encoder.decode(batch, np.asarray(raw) / temperature, 5)
    assert onnx.predict(inventory) == calibrated
    assert onnx.predict(inventory) != network.encoder.decode(batch, np.asarray(raw), 5)


# --- the Protocol ---------------------------------------------------------------------------


class _Constant:
    """A stand-in predictor: the same guess for every slot (what tests' fakes look like)."""

    def __init__(self, info: ModelInfo) -> None:
        self._info = info

    @property
    def info(self) -> ModelInfo:
        return self._info

    def predict(self, module: ExtractedModule, top_k: int = 5) -> Guesses:
        return [(TypeGuess("int", 0.9),) for _ in module.slots]


def test_onnx_predictor_satisfies_the_protocol(repo_root: Path) -> None:
    store = load_store(str(repo_root / "model_store" / "localtypes-small"))
    # Checked by mypy (see test_the_protocol_is_checked_statically), used at run time.
    onnx: Predictor = OnnxPredictor(store)
    fake: Predictor = _Constant(onnx.info)
    source = (repo_root / "examples" / "inventory.py").read_text(encoding="utf-8")
    for implementation in (onnx, fake):
        result = predict(source, "inventory.py", top_k=1, predictor=implementation)
        assert result.model == onnx.info
        assert len(result.slots) == len(extract(source).slots)
        assert all(len(item.guesses) == 1 for item in result.slots)
    assert {item.guesses[0].label for item in predict(source, predictor=fake).slots} == {"int"}


PROTOCOL_CHECK = """
from localtypes.analysis.slots import ExtractedModule, SlotKind
from localtypes.model.predictor import ModelInfo, OnnxPredictor, Predictor, TypeGuess
from localtypes.model.store import load_store

good: Predictor = OnnxPredictor(load_store())

class NoInfo:
    def predict(self, module: ExtractedModule, top_k: int = 5) -> list[tuple[TypeGuess, ...]]:
        return []

bad: Predictor = NoInfo()
"""


@pytest.mark.slow
def test_the_protocol_is_checked_statically(tmp_path: Path, repo_root: Path) -> None:
    """mypy accepts ``OnnxPredictor`` as a ``Predictor`` and rejects a class without ``info``."""
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent))
    if mypy is None:
        pytest.skip("mypy is not installed (the dev extra)")
    snippet = tmp_path / "protocol_check.py"
    snippet.write_text(PROTOCOL_CHECK, encoding="utf-8")
    result = subprocess.run(
        [mypy, "--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), snippet],
        capture_output=True,
        text=True,
        cwd=repo_root,
        timeout=300,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, result.stdout + result.stderr
    assert "protocol_check.py:12:" in errors[0]  # the NoInfo assignment, not line 6
    # mypy names the missing member in a note under the error.
    assert re.search(r"protocol_check\.py:12: note: +info$", result.stdout, re.MULTILINE)


# --- default_predictor ----------------------------------------------------------------------


@pytest.fixture
def own_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let a test replace the process-wide predictor; the session's comes back after."""
    monkeypatch.setattr(predictor_module, "_default", None)
    monkeypatch.setattr(predictor_module, "_default_key", None)


@pytest.mark.usefixtures("own_default")
def test_default_predictor_is_loaded_once(repo_root: Path, tmp_path: Path) -> None:
    first = default_predictor()
    assert default_predictor() is first
    assert isinstance(first, OnnxPredictor)
    bundled = repo_root / "model_store" / "localtypes-small"
    other = tmp_path / "other"
    other.mkdir()
    for path in bundled.iterdir():
        (other / path.name).symlink_to(path)
    second = default_predictor(str(other))
    assert second is not first
    assert default_predictor(str(other)) is second
    assert second.info.path == str(other) and first.info.path == str(bundled)
    assert second.info.sha256 == first.info.sha256


# --- chunks of slots ----------------------------------------------------------------------


def _many_candidates(functions: int) -> str:
    """64 classes (the most candidates a module gets) and functions whose slots name them."""
    classes = "".join(f"class Model{c}:\n    pass\n" for c in range(64))
    defs = "".join(
        f"def handle_{i}(model{i % 64}, count_{i}=1, name_{i}='x'):\n"
        f"    if isinstance(model{i % 64}, Model{i % 64}):\n"
        f"        return Model{(i + 1) % 64}()\n"
        "    return None\n"
        for i in range(functions)
    )
    return classes + defs


@pytest.fixture(scope="module")
def chunked_predictor(repo_root: Path) -> OnnxPredictor:
    return OnnxPredictor(load_store())


@pytest.mark.parametrize(
    "source",
    [
        "def f(a):\n    pass\n",  # one slot: the one case run as a single row
        _many_candidates(8),  # 32 slots: one chunk, or 31 + 1 -> 30 + 2, or 3 + ... + 2
        _many_candidates(75),  # 300 slots
        "inventory",
    ],
    ids=["one-slot", "32-slots", "300-slots", "inventory"],
)
def test_scores_do_not_depend_on_the_chunking(
    chunked_predictor: OnnxPredictor, repo_root: Path, source: str
) -> None:
    if source == "inventory":
        source = (repo_root / "examples" / "inventory.py").read_text(encoding="utf-8")
    module = extract(source)
    count = len(module.slots)
    try:
        chunked_predictor.chunk_slots = count + 1
        whole = chunked_predictor.predict(module, top_k=20)
        for size in (3, 4, 7, 31, 32, 64):
            chunked_predictor.chunk_slots = size
            assert chunked_predictor.predict(module, top_k=20) == whole, size
    finally:
        chunked_predictor.chunk_slots = predictor_module.CHUNK_SLOTS
    assert len(whole) == count


def test_chunk_bounds_cover_every_slot_without_a_lone_one() -> None:
    for count in range(1, 80):
        for size in (3, 4, 5, 32):
            bounds = predictor_module.chunk_bounds(count, size)
            assert bounds[0][0] == 0 and bounds[-1][1] == count
            assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
            assert all(0 < stop - start <= size for start, stop in bounds)
            assert count == 1 or all(stop - start >= 2 for start, stop in bounds)
    with pytest.raises(ValueError):
        OnnxPredictor(load_store(), chunk_slots=2)


def test_a_large_file_runs_in_chunks(
    chunked_predictor: OnnxPredictor, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = extract(_many_candidates(75))
    rows: List[int] = []
    network = chunked_predictor.network
    run = network.session.run

    def counting(names: object, inputs: dict) -> object:  # type: ignore[type-arg]
        rows.append(len(inputs["features"]))
        return run(names, inputs)

    session = type("Session", (), {"run": staticmethod(counting)})
    monkeypatch.setattr(network, "session", session)
    chunked_predictor.predict(module)
    assert sum(rows) == len(module.slots) == 300
    assert max(rows) <= predictor_module.CHUNK_SLOTS
