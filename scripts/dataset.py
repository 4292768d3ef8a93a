"""Labelled slots from the corpus, through the same extractor the tool runs.

Shared by training and evaluation so both see the same slots. A slot is kept when it
carries an annotation that normalises to a label other than ``Any``. Duplicates (same
kind, label and context features) are kept once per split, and valid/test drop any slot
that also occurs in train, so copied code cannot inflate held-out numbers.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import random
import sys
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing import Pool
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from localtypes.analysis.extract import extract
from localtypes.analysis.features import FEATURES_VERSION
from localtypes.analysis.project import ProjectIndex
from localtypes.analysis.slots import ExtractedModule, ModuleInfo, Relations, Slot
from localtypes.errors import SourceError
from localtypes.labels import ANY, LABELS_VERSION
from localtypes.module import ModuleIndex
from localtypes.syntax import parse_source

MAX_FILE_BYTES = 1_000_000  # generated giants teach nothing and dominate time
# Ablation switch: LOCALTYPES_NO_PROJECT=1 extracts each file alone (no cross-file features).
USE_PROJECT = os.environ.get("LOCALTYPES_NO_PROJECT", "") != "1"


@dataclass
class ModuleRecord:
    """One source file's labelled slots and what it can see."""

    package: str
    path: str
    info: ModuleInfo
    slots: List[Slot]
    # The module's slot relations, and the slots they name (labelled or not): the second
    # pass needs first-pass answers for them as it would at run time.
    relations: Relations = field(default_factory=dict)
    context: List[Slot] = field(default_factory=list)

    @property
    def labels(self) -> List[str]:
        return [slot.label or "" for slot in self.slots]

    def module(self) -> ExtractedModule:
        """The labelled slots as a module to predict, with the neighbours they relate to."""
        keys = {slot.key for slot in self.slots}
        return ExtractedModule(
            slots=tuple(self.slots),
            info=self.info,
            relations=self.relations,
            context=tuple(slot for slot in self.context if slot.key not in keys),
        )


@dataclass
class EncodedModule:
    """One module's model inputs and training targets (arrays kept small for the cache)."""

    features: np.ndarray[Any, Any]  # [S, F] int32
    static: np.ndarray[Any, Any]  # [C, G] int32
    mask: np.ndarray[Any, Any]  # [C] float32
    pair_index: np.ndarray[Any, Any]  # [P, 2] int32 (slot, candidate), padding row dropped
    pair_ids: np.ndarray[Any, Any]  # [P, PG] int32
    vocab_target: np.ndarray[Any, Any]  # [S] int32: vocabulary index of the label, or -1
    cand_target: np.ndarray[Any, Any]  # [S, C] bool: candidates equal to the label
    kinds: np.ndarray[Any, Any]  # [S] int8


def _package_base(paths: Sequence[Path]) -> Path:
    """The folder module names count from: above every file and above any package."""
    base = Path(os.path.commonpath([str(path.parent) for path in paths]))
    while (base / "__init__.py").exists() and base != base.parent:
        base = base.parent
    return base


def _extract_package(item: Tuple[str, List[str]]) -> List[ModuleRecord]:
    """The labelled slots of every file of one package, read as one project."""
    package, paths = item
    indexes: Dict[str, ModuleIndex] = {}
    files: Dict[str, str] = {}
    base = _package_base([Path(path) for path in paths])
    for path in paths:
        try:
            data = Path(path).read_bytes()
            if len(data) > MAX_FILE_BYTES:
                continue
            source = data.decode("utf-8")
            relative = Path(path).relative_to(base).as_posix()
            indexes[relative] = ModuleIndex(parse_source(source), source)
            files[relative] = path
        except (OSError, UnicodeDecodeError, SourceError, ValueError, RecursionError):
            continue
    try:
        project: Optional[ProjectIndex] = ProjectIndex(indexes) if USE_PROJECT else None
    except RecursionError:
        project = None
    records = []
    for relative, index in indexes.items():
        try:
            facts = project.facts(relative) if project is not None else None
            module = extract(index.source, index=index, facts=facts)
        except (SourceError, RecursionError):
            continue
        slots = [s for s in module.slots if s.label and s.label != ANY]
        if slots:
            keys = {slot.key for slot in slots}
            relations = {k: v for k, v in module.relations.items() if k in keys}
            named = {other for items in relations.values() for _, other in items}
            records.append(
                ModuleRecord(
                    package=package,
                    path=files[relative],
                    info=module.info,
                    slots=slots,
                    relations=relations,
                    context=[slot for slot in module.slots if slot.key in named],
                )
            )
    return records


def extract_files(items: Sequence[Tuple[str, str]], jobs: int) -> List[ModuleRecord]:
    """Extract labelled slots from (package, path) pairs, a package at a time (the project
    index sees all its modules), in parallel, keeping input order."""
    grouped: Dict[str, List[str]] = {}
    for package, path in items:
        grouped.setdefault(package, []).append(path)
    work = list(grouped.items())
    if jobs <= 1:
        results = [_extract_package(item) for item in work]
    else:
        with Pool(jobs) as pool:
            results = pool.map(_extract_package, work, chunksize=1)
    return [record for records in results for record in records]


def slot_key(slot: Slot) -> str:
    text = f"{slot.kind.value}\0{slot.label}\0" + "\0".join(sorted(slot.features))
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def dedupe(records: List[ModuleRecord], seen: Set[str], add: bool) -> int:
    """Drop slots whose key is in ``seen`` (adding new keys when ``add``); return drops."""
    dropped = 0
    for record in records:
        kept = []
        for slot in record.slots:
            key = slot_key(slot)
            if key in seen:
                dropped += 1
                continue
            if add:
                seen.add(key)
            kept.append(slot)
        record.slots = kept
    records[:] = [r for r in records if r.slots]
    return dropped


def cap_per_package(records: List[ModuleRecord], cap: int, seed: int) -> None:
    """Keep at most ``cap`` slots per package (whole files, chosen at random)."""
    by_package: Dict[str, List[ModuleRecord]] = {}
    for record in records:
        by_package.setdefault(record.package, []).append(record)
    rng = random.Random(seed)
    kept: List[ModuleRecord] = []
    for package in sorted(by_package):
        files = by_package[package]
        rng.shuffle(files)
        total = 0
        for record in files:
            if total >= cap:
                break
            kept.append(record)
            total += len(record.slots)
    records[:] = kept


def _extractor_version() -> str:
    # Labels are part of the cached records: a change of their rules makes the cache stale.
    version = f"features-v{FEATURES_VERSION}-labels-v{LABELS_VERSION}-relations-v1"
    return version + ("" if USE_PROJECT else "-no-project")


def load_splits(
    split_files: Dict[str, List[Tuple[str, str]]],
    cache_dir: Path,
    cap: int,
    seed: int = 0,
    jobs: int = 2,
) -> Dict[str, List[ModuleRecord]]:
    """Labelled, deduplicated, capped records for each split, cached on disk."""
    listing = repr(sorted((k, v) for k, v in split_files.items())).encode()
    key = hashlib.sha256(listing + _extractor_version().encode() + f"{cap}{seed}".encode())
    cache = cache_dir / f"dataset-{key.hexdigest()[:16]}.pkl"
    if cache.exists():
        with cache.open("rb") as handle:
            cached: Dict[str, List[ModuleRecord]] = pickle.load(handle)
            return cached
    splits: Dict[str, List[ModuleRecord]] = {}
    for split in ("train", "valid", "test"):
        items = split_files.get(split, [])
        print(f"extracting {split}: {len(items)} files", flush=True)
        splits[split] = extract_files(items, jobs)
    seen: Set[str] = set()
    stats = {"train": dedupe(splits["train"], seen, add=True)}
    cap_per_package(splits["train"], cap, seed)
    for split in ("valid", "test"):
        stats[split] = dedupe(splits[split], set(seen), add=False)
        dedupe(splits[split], set(), add=True)  # and within the split
    print(f"duplicate slots dropped: {stats}", flush=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    with tmp.open("wb") as handle:
        pickle.dump(splits, handle, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, cache)
    return splits


def label_counts(records: Iterable[ModuleRecord]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for record in records:
        counts.update(slot.label for slot in record.slots if slot.label)
    return counts


def corpus_split_files(
    cache: Optional[Path] = None,
) -> Tuple[Dict[str, List[Tuple[str, str]]], str]:
    """(package, path) lists per split from the corpus builder's output, and the lock hash."""
    from corpus_lib import iter_split_files, load_corpus

    corpus = load_corpus(cache)
    out = {
        split: [(package, str(path)) for package, path in iter_split_files(corpus, split)]
        for split in ("train", "valid", "test")
    }
    return out, str(corpus.get("lock_sha256", ""))
