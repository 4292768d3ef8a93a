"""The model store: a folder with ``model.onnx``, ``vocab.json`` and ``manifest.json``.

The manifest (format version 1) holds the model's name and version, the sha256 of every
other file, the corpus lock, the held-out metrics, the calibrated default threshold and
how the model was trained. Loading verifies all of it before anything runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Dict, List, Optional

from localtypes.errors import ModelStoreError

FORMAT_VERSION = 1
DEFAULT_MODEL_NAME = "localtypes-small"
MODEL_ENV = "LOCALTYPES_MODEL"
MANIFEST = "manifest.json"
# Every file the predictor reads: each must have its checksum in the manifest.
REQUIRED_FILES = ("model.onnx", "vocab.json")


@dataclass(frozen=True)
class ModelStore:
    """A verified model store on disk."""

    path: Path
    manifest: Dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def model_sha256(self) -> str:
        return str(self.manifest["files"]["model.onnx"])

    @property
    def model_files(self) -> List[str]:
        """The ONNX networks the predictor loads: the model, and its first pass if any."""
        first = self.manifest.get("first_pass")
        return ["model.onnx"] + ([str(first["model"])] if isinstance(first, dict) else [])

    @property
    def threshold(self) -> float:
        """The calibrated default confidence threshold for writing an annotation."""
        return float(self.manifest.get("threshold", 0.5))

    def file(self, name: str) -> Path:
        return self.path / name


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def candidate_dirs(explicit: Optional[str] = None) -> List[Path]:
    """Where to look for the store, in order: the argument, the environment, the bundled one."""
    if explicit:
        return [Path(explicit)]
    if os.environ.get(MODEL_ENV):
        return [Path(os.environ[MODEL_ENV])]
    package = Path(__file__).resolve().parents[1]
    return [
        # a source checkout or an editable install, then a regular install's data files
        package.parent / "model_store" / DEFAULT_MODEL_NAME,
        Path(sys.prefix) / "share" / "localtypes" / "model_store" / DEFAULT_MODEL_NAME,
    ]


def locate(explicit: Optional[str] = None) -> Path:
    """The first model store folder that exists, or a clear error naming where we looked."""
    tried = candidate_dirs(explicit)
    for folder in tried:
        if (folder / MANIFEST).is_file():
            return folder
    where = ", ".join(str(folder) for folder in tried)
    raise ModelStoreError(
        f"no model store found (looked in {where}); pass --model DIR or set {MODEL_ENV}"
    )


def load_store(explicit: Optional[str] = None) -> ModelStore:
    """Find, read and verify a model store."""
    folder = locate(explicit)
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelStoreError(f"{folder / MANIFEST}: unreadable manifest ({exc})") from exc
    if not isinstance(manifest, dict):
        raise ModelStoreError(f"{folder / MANIFEST}: the manifest is not a JSON object")
    found = manifest.get("format_version")
    if found != FORMAT_VERSION:
        raise ModelStoreError(
            f"{folder}: model store format {found!r}, this localtypes reads {FORMAT_VERSION}"
        )
    from localtypes.analysis.features import FEATURES_VERSION

    features = manifest.get("features_version")
    if features != FEATURES_VERSION:
        raise ModelStoreError(
            f"{folder}: the model was trained on features v{features}, this localtypes "
            f"extracts v{FEATURES_VERSION}; retrain it or use a matching localtypes"
        )
    files = manifest.get("files")
    missing = [name for name in REQUIRED_FILES if not isinstance(files, dict) or name not in files]
    if not isinstance(files, dict) or missing:
        raise ModelStoreError(
            f"{folder / MANIFEST}: no checksums for the model files (none for "
            f"{', '.join(missing)}); every file the model reads must be listed"
        )
    first = manifest.get("first_pass")
    if first is not None:
        # a second pass reads its first pass's answers: both of its files must be verified
        named = [first.get(key) for key in ("model", "vocab")] if isinstance(first, dict) else []
        if len(named) != 2 or not all(isinstance(n, str) and n in files for n in named):
            raise ModelStoreError(
                f"{folder / MANIFEST}: the first pass must name its model and vocabulary, "
                "and both must be listed with their checksums"
            )
    for key in ("name", "version"):
        if not isinstance(manifest.get(key), str):
            raise ModelStoreError(f"{folder / MANIFEST}: no {key} (a string) in the manifest")
    for key in ("threshold", "temperature"):
        value = manifest.get(key, 0.5)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ModelStoreError(f"{folder / MANIFEST}: the {key} is not a number")
    if not isinstance(manifest.get("metrics", {}), dict):
        raise ModelStoreError(f"{folder / MANIFEST}: the metrics are not an object")
    for name, expected in files.items():
        if not _inside(name):
            raise ModelStoreError(
                f"{folder / MANIFEST}: {name!r} is not a file name inside the store"
            )
        if not isinstance(expected, str):
            raise ModelStoreError(f"{folder / MANIFEST}: the checksum of {name} is not a string")
        path = folder / name
        if not path.is_file():
            raise ModelStoreError(f"{folder}: {name} is missing")
        actual = sha256_of(path)
        if actual != expected:
            raise ModelStoreError(
                f"{path}: checksum mismatch (manifest {expected[:12]}..., file {actual[:12]}...)"
                "; the store is damaged or was edited"
            )
    return ModelStore(path=folder, manifest=manifest)


def _inside(name: object) -> bool:
    """Whether a manifest's file name stays in the store: relative, no ``..``, no drive."""
    if not isinstance(name, str) or not name or "\\" in name or "\0" in name:
        return False
    path = PurePosixPath(name)
    return (
        bool(path.parts)
        and not path.is_absolute()
        and ".." not in path.parts
        and ":" not in path.parts[0]
    )
