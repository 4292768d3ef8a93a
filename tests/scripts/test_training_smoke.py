"""End-to-end training smoke test: tiny corpus, one epoch, export, quantise, load, predict."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from localtypes.api import predict
from localtypes.model.predictor import OnnxPredictor
from localtypes.model.store import load_store

pytestmark = pytest.mark.training

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("torch", reason="the training extra (torch==2.13.0) is not installed")
onnx = pytest.importorskip("onnx", reason="the training extra (onnx) is not installed")


@pytest.fixture(scope="module")
def smoke_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
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
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return store


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
