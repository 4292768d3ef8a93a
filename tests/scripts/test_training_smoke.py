"""End-to-end training smoke test: tiny corpus, one epoch, export, quantise, load, predict."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from localtypes.analysis.extract import extract
from localtypes.api import predict
from localtypes.model.predictor import CHUNK_SLOTS, OnnxPredictor
from localtypes.model.second_pass import MAX_NEIGHBOUR_FEATURES, first_answers, with_neighbours
from localtypes.model.store import load_store

pytestmark = pytest.mark.training

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("torch", reason="the training extra (torch==2.13.0) is not installed")
onnx = pytest.importorskip("onnx", reason="the training extra (onnx) is not installed")


def train_smoke(tmp_path_factory: pytest.TempPathFactory, *extra: str) -> Path:
    corpus = tmp_path_factory.mktemp("corpus")
    shutil.copytree(ROOT / "tests" / "data" / "smoke_corpus", corpus, dirs_exist_ok=True)
    # The package's own modules are real, fully typed code: a second tiny "package".
    shutil.copytree(ROOT / "localtypes", corpus / "localtypes")
    store = tmp_path_factory.mktemp("store") / "smoke"
    work = tmp_path_factory.mktemp("work")
    command = [
        sys.executable,
        str(ROOT / "scripts" / "train.py"),
        "--source-dir", str(corpus),
        "--out", str(store),
        "--work-dir", str(work),
        "--epochs", "1",
        "--jobs", "1",
        "--threads", "1",
        "--buckets", "4096",
        "--dim", "16",
        "--hidden", "32",
        "--min-count", "1",
        *extra,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return store


@pytest.fixture(scope="module")
def smoke_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_smoke(tmp_path_factory)


@pytest.fixture(scope="module")
def two_pass_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One command trains the first pass, the cross-fitted folds and the second pass."""
    return train_smoke(tmp_path_factory, "--second-pass", "--folds", "2")


def test_store_is_complete_and_verified(smoke_store: Path) -> None:
    store = load_store(str(smoke_store))  # verifies checksums and format version
    manifest = store.manifest
    assert set(manifest["files"]) == {"model.onnx", "vocab.json"}
    assert 0.0 < manifest["threshold"] <= 1.0
    assert manifest["temperature"] > 0
    assert "valid_top1_int8" in manifest["quantization"]


def test_embedding_table_is_8_bit(smoke_store: Path) -> None:
    """The hashed embedding table (most of a real model's weights) is stored as 8 bits."""
    from onnx import numpy_helper

    model = onnx.load(str(smoke_store / "model.onnx"))
    eight_bit = {onnx.TensorProto.INT8, onnx.TensorProto.UINT8}
    tables = [
        numpy_helper.to_array(init).shape
        for init in model.graph.initializer
        if init.data_type in eight_bit
    ]
    assert (4096, 16) in tables, tables  # --buckets 4096 --dim 16


def test_loaded_model_predicts_every_slot(smoke_store: Path) -> None:
    predictor = OnnxPredictor(load_store(str(smoke_store)))
    source = (ROOT / "tests" / "data" / "smoke_corpus" / "inventory" / "store.py").read_text()
    result = predict(source, "store.py", top_k=3, predictor=predictor)
    assert result.slots, "the module has slots"
    for slot in result.slots:
        assert 1 <= len(slot.guesses) <= 3
        confidences = [guess.confidence for guess in slot.guesses]
        assert confidences == sorted(confidences, reverse=True)
        assert all(0.0 <= c <= 1.0 for c in confidences)
    document = json.loads(json.dumps(result.to_dict()))
    assert document["model"]["sha256"] == predictor.info.sha256


def test_package_fractions_nest_and_keep_whole_packages() -> None:
    """The learning curve's shares: whole packages, the same for a seed, each smaller share
    inside the larger one."""
    from dataclasses import dataclass

    from script_loader import load_script

    @dataclass
    class Record:
        package: str
        path: str

    records = [Record(f"pkg{p}", f"pkg{p}/m{m}.py") for p in range(40) for m in range(3)]
    share = load_script("train").package_fraction
    quarter, half = share(records, 0.25, 13), share(records, 0.5, 13)

    def packages(kept: list) -> set:  # type: ignore[type-arg]
        return {record.package for record in kept}

    assert len(packages(quarter)) == 10 and len(packages(half)) == 20
    assert packages(quarter) < packages(half)
    assert len(quarter) == 30 and len(half) == 60  # every file of a kept package
    assert packages(share(records, 0.25, 13)) == packages(quarter)
    assert packages(share(records, 0.25, 14)) != packages(quarter)


def test_two_pass_store_carries_its_first_pass(two_pass_store: Path) -> None:
    store = load_store(str(two_pass_store))  # verifies every listed file's checksum
    manifest = store.manifest
    assert set(manifest["files"]) == {"model.onnx", "vocab.json", "pass1.onnx", "pass1-vocab.json"}
    assert manifest["first_pass"]["model"] == "pass1.onnx"
    first = json.loads((two_pass_store / "pass1-vocab.json").read_text())
    second = json.loads((two_pass_store / "vocab.json").read_text())
    # the second pass reads its neighbour features in front of the first pass's own
    assert second["slot_features"] == first["slot_features"] + MAX_NEIGHBOUR_FEATURES


def test_second_pass_answers_from_the_first_pass(two_pass_store: Path) -> None:
    """``predict`` runs the first network over the module, then the second over the slots
    with those answers as features; the answers differ from the second network alone."""
    predictor = OnnxPredictor(load_store(str(two_pass_store)))
    assert predictor.first is not None
    source = (ROOT / "tests" / "data" / "smoke_corpus" / "inventory" / "store.py").read_text()
    module = extract(source)
    first = predictor.first.run(module.slots, module, 1, 1.0, CHUNK_SLOTS)
    assert all(len(ranked) == 1 for ranked in first)
    second = with_neighbours(module, first_answers(module.slots, first))
    temperature = predictor.temperature
    expected = predictor.network.run(second.slots, second, 3, temperature, CHUNK_SLOTS)
    assert predictor.predict(module, top_k=3) == expected
    alone = predictor.network.run(module.slots, module, 3, temperature, CHUNK_SLOTS)
    assert alone != expected
