"""``localtypes.model.store``: finding, reading and verifying a model store.

Damaged stores are copies of the bundled one in tmp_path (the model file linked, not
copied: it is 12 MB and only read).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable, Dict

import pytest

from localtypes.analysis.features import FEATURES_VERSION
from localtypes.errors import LocaltypesError, ModelStoreError
from localtypes.model.store import (
    DEFAULT_MODEL_NAME,
    FORMAT_VERSION,
    MANIFEST,
    MODEL_ENV,
    ModelStore,
    candidate_dirs,
    load_store,
    locate,
    sha256_of,
)


@pytest.fixture
def bundled(repo_root: Path) -> Path:
    return repo_root / "model_store" / DEFAULT_MODEL_NAME


@pytest.fixture(autouse=True)
def no_model_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MODEL_ENV, raising=False)


@pytest.fixture
def copy(bundled: Path, tmp_path: Path) -> Path:
    """A store equal to the bundled one: manifest and vocabularies copied, networks linked."""
    folder = tmp_path / "store"
    folder.mkdir()
    shutil.copyfile(bundled / MANIFEST, folder / MANIFEST)
    for name in json.loads((bundled / MANIFEST).read_text(encoding="utf-8"))["files"]:
        if name.endswith(".onnx"):
            (folder / name).symlink_to(bundled / name)
        else:
            shutil.copyfile(bundled / name, folder / name)
    return folder


def edit_manifest(folder: Path, change: Callable[[Dict[str, Any]], None]) -> None:
    path = folder / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    change(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")


def test_load_the_bundled_store(bundled: Path) -> None:
    store = load_store()
    assert store.path == bundled
    assert store.name == DEFAULT_MODEL_NAME
    assert store.manifest["format_version"] == FORMAT_VERSION
    assert store.manifest["features_version"] == FEATURES_VERSION
    assert store.model_sha256 == sha256_of(bundled / "model.onnx")
    assert store.version.count(".") == 2
    assert 0.0 < store.threshold < 1.0
    assert store.file("vocab.json") == bundled / "vocab.json"


def test_a_copy_loads_and_equals_the_bundled_store(copy: Path) -> None:
    store = load_store(str(copy))
    assert store.path == copy
    assert store.manifest == load_store().manifest


def test_threshold_defaults_to_one_half(copy: Path) -> None:
    edit_manifest(copy, lambda manifest: manifest.pop("threshold"))
    assert load_store(str(copy)).threshold == 0.5


def test_sha256_of(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_bytes(b"abc")
    expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_of(path) == expected


# --- damaged stores -------------------------------------------------------------------------


def test_missing_manifest(copy: Path) -> None:
    (copy / MANIFEST).unlink()
    with pytest.raises(ModelStoreError) as info:
        load_store(str(copy))
    message = str(info.value)
    assert message.startswith("no model store found")
    assert str(copy) in message
    assert "--model DIR" in message and MODEL_ENV in message


def test_unreadable_manifest(copy: Path) -> None:
    (copy / MANIFEST).write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelStoreError, match="unreadable manifest"):
        load_store(str(copy))


def test_manifest_that_is_not_an_object(copy: Path) -> None:
    (copy / MANIFEST).write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ModelStoreError, match="not a JSON object"):
        load_store(str(copy))


def test_wrong_format_version(copy: Path) -> None:
    edit_manifest(copy, lambda manifest: manifest.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(ModelStoreError) as info:
        load_store(str(copy))
    assert str(info.value) == (
        f"{copy}: model store format {FORMAT_VERSION + 1}, this localtypes reads {FORMAT_VERSION}"
    )


def test_missing_format_version(copy: Path) -> None:
    edit_manifest(copy, lambda manifest: manifest.pop("format_version"))
    with pytest.raises(ModelStoreError, match="model store format None"):
        load_store(str(copy))


def test_wrong_features_version(copy: Path) -> None:
    edit_manifest(copy, lambda manifest: manifest.update(features_version=FEATURES_VERSION - 1))
    with pytest.raises(ModelStoreError) as info:
        load_store(str(copy))
    message = str(info.value)
    assert f"trained on features v{FEATURES_VERSION - 1}" in message
    assert f"extracts v{FEATURES_VERSION}" in message
    assert "retrain it" in message


def test_no_checksums(copy: Path) -> None:
    edit_manifest(copy, lambda manifest: manifest["files"].pop("model.onnx"))
    with pytest.raises(ModelStoreError, match="no checksums for the model files"):
        load_store(str(copy))


def test_every_file_the_model_reads_needs_its_checksum(copy: Path) -> None:
    """A vocabulary the manifest does not list would be read unverified."""
    edit_manifest(copy, lambda manifest: manifest["files"].pop("vocab.json"))
    with pytest.raises(ModelStoreError, match=r"no checksums .*\(none for vocab\.json\)"):
        load_store(str(copy))


@pytest.mark.parametrize(
    "name", ["../outside.bin", "/etc/passwd", "sub/../../outside.bin", "C:\\x", "", "."]
)
def test_manifest_paths_outside_the_store_are_refused(copy: Path, name: str) -> None:
    (copy.parent / "outside.bin").write_bytes(b"x")
    checksum = sha256_of(copy.parent / "outside.bin")
    edit_manifest(copy, lambda manifest: manifest["files"].update({name: checksum}))
    with pytest.raises(ModelStoreError, match="is not a file name inside the store"):
        load_store(str(copy))


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("name", None, "no name"),
        ("version", 2, "no version"),
        ("threshold", "high", "threshold is not a number"),
        ("temperature", [1], "temperature is not a number"),
        ("metrics", [1], "metrics are not an object"),
    ],
)
def test_manifest_fields_of_the_wrong_type_are_store_errors(
    copy: Path, key: str, value: object, needle: str
) -> None:
    edit_manifest(copy, lambda manifest: manifest.update({key: value}))
    with pytest.raises(ModelStoreError, match=needle):
        load_store(str(copy))


def test_a_checksum_that_is_not_a_string(copy: Path) -> None:
    edit_manifest(copy, lambda manifest: manifest["files"].update({"vocab.json": 7}))
    with pytest.raises(ModelStoreError, match=r"checksum of vocab\.json is not a string"):
        load_store(str(copy))


def test_checksum_mismatch(copy: Path) -> None:
    vocab = copy / "vocab.json"
    vocab.write_text(vocab.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    with pytest.raises(ModelStoreError) as info:
        load_store(str(copy))
    message = str(info.value)
    assert message.startswith(f"{vocab}: checksum mismatch")
    assert sha256_of(vocab)[:12] in message
    assert "damaged or was edited" in message


def test_checksum_mismatch_in_the_manifest(copy: Path) -> None:
    edit_manifest(copy, lambda manifest: manifest["files"].update({"model.onnx": "0" * 64}))
    with pytest.raises(ModelStoreError, match=r"model\.onnx: checksum mismatch"):
        load_store(str(copy))


def test_missing_file(copy: Path) -> None:
    (copy / "vocab.json").unlink()
    with pytest.raises(ModelStoreError) as info:
        load_store(str(copy))
    assert str(info.value) == f"{copy}: vocab.json is missing"


def test_store_errors_are_user_errors() -> None:
    assert issubclass(ModelStoreError, LocaltypesError)


# --- where the store is looked for ----------------------------------------------------------


def test_candidate_dirs_default(repo_root: Path) -> None:
    found = candidate_dirs()
    assert found[0] == repo_root / "model_store" / DEFAULT_MODEL_NAME
    assert found[1].parts[-4:] == ("share", "localtypes", "model_store", DEFAULT_MODEL_NAME)


def test_candidate_dirs_explicit_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "from-env"))
    assert candidate_dirs(str(tmp_path / "explicit")) == [tmp_path / "explicit"]
    assert candidate_dirs() == [tmp_path / "from-env"]


def test_an_empty_environment_variable_is_ignored(
    monkeypatch: pytest.MonkeyPatch, bundled: Path
) -> None:
    monkeypatch.setenv(MODEL_ENV, "")
    assert candidate_dirs()[0] == bundled
    assert locate() == bundled


def test_locate_honours_the_environment(copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODEL_ENV, str(copy))
    assert locate() == copy
    store = load_store()
    assert isinstance(store, ModelStore) and store.path == copy


def test_locate_honours_an_explicit_dir(copy: Path, bundled: Path) -> None:
    assert locate(str(copy)) == copy
    assert locate() == bundled


def test_locate_does_not_fall_back(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A store named explicitly or in the environment is not silently replaced."""
    with pytest.raises(ModelStoreError, match="no model store found"):
        locate(str(tmp_path))
    monkeypatch.setenv(MODEL_ENV, str(tmp_path))
    with pytest.raises(ModelStoreError, match="no model store found"):
        load_store()


def test_a_first_pass_must_be_listed_with_its_checksums(copy: Path) -> None:
    """A second pass reads the first pass's answers: a store that names a first pass whose
    files the manifest does not verify is refused, as is one naming no files."""
    manifest = json.loads((copy / MANIFEST).read_text(encoding="utf-8"))
    if "first_pass" not in manifest:
        pytest.skip("the bundled store has one network")
    assert load_store(str(copy)).model_files == ["model.onnx", manifest["first_pass"]["model"]]
    edit_manifest(copy, lambda m: m["files"].pop(m["first_pass"]["model"]))
    with pytest.raises(ModelStoreError, match="first pass must name its model"):
        load_store(str(copy))
    edit_manifest(copy, lambda m: m.update(first_pass="pass1.onnx"))
    with pytest.raises(ModelStoreError, match="first pass must name its model"):
        load_store(str(copy))
