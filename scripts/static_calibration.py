"""Measure the static pass's rules on validation, and the store's threshold with them.

    python scripts/static_calibration.py [--store model_store/localtypes-small]

1. Each rule family of the static pass (a return's value, a variable's value; see
   ``localtypes.model.static_answers``) is scored on the validation packages: how often its
   label is the annotation the authors wrote. The result goes into the manifest as
   ``static_rules``; the predictor lets a rule answer only where it measured at least
   ``MIN_PRECISION`` on enough slots.
2. The default threshold is chosen again on validation from what the predictor now answers
   (the model with the trusted rules in front): the lowest confidence at which params and
   returns reach 90% precision. ``train.py`` runs this after writing a store.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dataset import ModuleRecord, cap_per_package, corpus_split_files, load_splits

from localtypes.analysis.slots import ExtractedModule, SlotKind
from localtypes.model.predictor import OnnxPredictor
from localtypes.model.static_answers import measure_rules
from localtypes.model.store import DEFAULT_MODEL_NAME, load_store

ROOT = Path(__file__).resolve().parents[1]
TARGET_PRECISION = 0.9


def calibrate(store_dir: Path, valid: List[ModuleRecord]) -> Dict[str, Any]:
    """Write ``static_rules`` and the threshold into the store's manifest; return them."""
    rules = measure_rules([slot for record in valid for slot in record.slots])
    manifest_path = store_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["static_rules"] = rules
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    predictor = OnnxPredictor(load_store(str(store_dir)))
    confidences: List[float] = []
    right: List[bool] = []
    for record in valid:
        module = ExtractedModule(slots=tuple(record.slots), info=record.info)
        for slot, ranked in zip(module.slots, predictor.predict(module, top_k=1)):
            if slot.kind is SlotKind.VARIABLE:
                continue
            confidences.append(ranked[0].confidence)
            right.append(ranked[0].label == slot.label)
    conf = np.array(confidences)
    hits = np.array(right, dtype=bool)
    order = np.argsort(-conf)
    precision = np.cumsum(hits[order]) / np.arange(1, len(order) + 1)
    ok = np.nonzero(precision >= TARGET_PRECISION)[0]
    threshold = float(round(conf[order][ok[-1]], 4)) if len(ok) else 0.99
    manifest["threshold"] = threshold
    manifest.setdefault("calibration", {})["threshold_with_static_rules"] = threshold
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return {"static_rules": rules, "threshold": threshold}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default=str(ROOT / "model_store" / DEFAULT_MODEL_NAME))
    parser.add_argument("--corpus-cache", type=Path, default=None)
    parser.add_argument("--work-dir", default=None)
    parser.add_argument("--cap", type=int, default=15000)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    from train import default_work_dir

    split_files, _ = corpus_split_files(args.corpus_cache)
    work = Path(args.work_dir) if args.work_dir else default_work_dir()
    splits = load_splits(split_files, work, cap=args.cap, seed=args.seed)
    cap_per_package(splits["valid"], args.cap, args.seed)
    print(json.dumps(calibrate(Path(args.store), splits["valid"]), indent=2))


if __name__ == "__main__":
    main()
