"""Train the type model end to end: corpus -> slots -> network -> int8 ONNX model store.

    python scripts/train.py                      # the shipped model (corpus from build_corpus.py)
    python scripts/train.py --source-dir DIR --epochs 1 --out /tmp/store   # smoke test

Steps: labelled slots from the corpus (scripts/dataset.py), the label vocabulary from the
train split, training with fixed seeds and a checkpoint per epoch (the best on validation
is kept), temperature calibration and the default threshold on validation, ONNX export,
dynamic int8 quantisation, a check that int8 stays within a point of float, and the store.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dataset import (
    EncodedModule,
    ModuleRecord,
    cap_per_package,
    corpus_split_files,
    label_counts,
    load_splits,
)
from model_def import TypeModel
from second_pass import augmented, fold_of, neighbour_stats, store_answers, torch_answers

from localtypes.analysis.features import FEATURES_VERSION
from localtypes.analysis.slots import SlotKind
from localtypes.labels import LABELS_VERSION
from localtypes.model.encode import OTHER, SLOT_FEATURES, Encoder
from localtypes.model.second_pass import MAX_NEIGHBOUR_FEATURES
from localtypes.model.store import DEFAULT_MODEL_NAME, FORMAT_VERSION, sha256_of

ROOT = Path(__file__).resolve().parents[1]
FIRST_PASS_MODEL = "pass1.onnx"
FIRST_PASS_VOCAB = "pass1-vocab.json"


def default_work_dir() -> Path:
    """Dataset cache and checkpoints: the user cache folder, outside the repository."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("localtypes")) / "train"


KIND_INDEX = {SlotKind.PARAM: 0, SlotKind.RETURN: 1, SlotKind.VARIABLE: 2}
TARGET_PRECISION = 0.9


def encode_records(encoder: Encoder, records: Sequence[ModuleRecord]) -> List[EncodedModule]:
    out = []
    for record in records:
        batch = encoder.encode_slots(record.slots, record.info)
        out.append(
            EncodedModule(
                features=batch.features.astype(np.int32),
                static=batch.cand_static[0].astype(np.int32),
                mask=batch.cand_mask[0],
                pair_index=batch.pair_index[1:].astype(np.int32),
                pair_ids=batch.pair_ids[1:].astype(np.int32),
                **sparse_targets(encoder, batch, record.labels),
                kinds=np.array([KIND_INDEX[s.kind] for s in record.slots], dtype=np.int8),
            )
        )
    return out


def sparse_targets(encoder: Encoder, batch: Any, labels: Sequence[str]) -> Dict[str, Any]:
    dense = encoder.targets(batch, labels)
    vocab = len(encoder.labels)
    in_vocab = dense[:, :vocab]
    return {
        "vocab_target": np.where(in_vocab.any(axis=1), in_vocab.argmax(axis=1), -1).astype(
            np.int32
        ),
        "cand_target": dense[:, vocab:],
    }


def encoded_splits(
    encoder: Encoder, splits: Dict[str, List[ModuleRecord]], cache_dir: Path
) -> Tuple[List[EncodedModule], List[EncodedModule]]:
    """Encoded train and valid modules, cached by vocabulary, hash size and slot count."""
    sizes = [sum(len(r.slots) for r in splits[name]) for name in ("train", "valid")]
    # The second pass's records carry its features: its encoder is wider, and its key says so.
    key = json.dumps(
        [encoder.labels, encoder.buckets, sizes, FEATURES_VERSION, encoder.slot_features]
    ).encode()
    cache = cache_dir / f"encoded-{hashlib.sha256(key).hexdigest()[:16]}.pkl"
    if cache.exists():
        with cache.open("rb") as handle:
            cached: Tuple[List[EncodedModule], List[EncodedModule]] = pickle.load(handle)
            return cached
    encoded = (encode_records(encoder, splits["train"]), encode_records(encoder, splits["valid"]))
    tmp = cache.with_suffix(".tmp")
    with tmp.open("wb") as handle:
        pickle.dump(encoded, handle, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, cache)
    return encoded


def collate(modules: Sequence[EncodedModule], vocab: int) -> Dict[str, torch.Tensor]:
    """Stack modules into one batch, padding the candidate axis to the widest module."""
    width = max(m.static.shape[0] for m in modules)
    slots = sum(m.features.shape[0] for m in modules)
    static = np.zeros((len(modules), width, modules[0].static.shape[1]), dtype=np.int64)
    mask = np.ones((len(modules), width), dtype=np.float32)
    pair_rows = [np.zeros((1, 2), dtype=np.int64)]
    pair_ids = [np.zeros((1, modules[0].pair_ids.shape[1]), dtype=np.int64)]
    targets = np.zeros((slots, vocab + width), dtype=np.bool_)
    slot_module = np.zeros(slots, dtype=np.int64)
    row = 0
    for m_index, module in enumerate(modules):
        count, cands = module.features.shape[0], module.static.shape[0]
        static[m_index, :cands] = module.static
        mask[m_index, :cands] = module.mask
        if len(module.pair_index):
            rows = module.pair_index.astype(np.int64)
            rows[:, 0] += row
            pair_rows.append(rows)
            pair_ids.append(module.pair_ids.astype(np.int64))
        rows = np.arange(row, row + count)
        known = module.vocab_target >= 0
        targets[rows[known], module.vocab_target[known]] = True
        targets[row : row + count, vocab : vocab + cands] = module.cand_target
        slot_module[row : row + count] = m_index
        row += count
    return {
        "features": torch.from_numpy(
            np.concatenate([m.features for m in modules]).astype(np.int64)
        ),
        "cand_static": torch.from_numpy(static),
        "cand_mask": torch.from_numpy(mask),
        "slot_module": torch.from_numpy(slot_module),
        "pair_index": torch.from_numpy(np.concatenate(pair_rows)),
        "pair_ids": torch.from_numpy(np.concatenate(pair_ids)),
        "targets": torch.from_numpy(targets),
        "kinds": torch.from_numpy(np.concatenate([m.kinds for m in modules]).astype(np.int64)),
    }


def batches(
    modules: Sequence[EncodedModule], batch_slots: int, shuffle: bool, rng: random.Random
) -> List[List[EncodedModule]]:
    order = list(range(len(modules)))
    if shuffle:
        rng.shuffle(order)
        # Batches pad the candidate axis to their widest module: sort windows of modules
        # by width so that one import-heavy module does not pad a whole batch.
        window = 64
        order = [
            index
            for start in range(0, len(order), window)
            for index in sorted(order[start : start + window], key=lambda i: len(modules[i].static))
        ]
    out: List[List[EncodedModule]] = []
    current: List[EncodedModule] = []
    size = 0
    for index in order:
        current.append(modules[index])
        size += modules[index].features.shape[0]
        if size >= batch_slots:
            out.append(current)
            current, size = [], 0
    if current:
        out.append(current)
    if shuffle:
        rng.shuffle(out)
    return out


def set_matching_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """-log of the total probability of every answer equal to the true label."""
    hit = logits.masked_fill(~targets, -1e9)
    return (torch.logsumexp(logits, dim=1) - torch.logsumexp(hit, dim=1)).mean()


def model_inputs(batch: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, ...]:
    return (
        batch["features"],
        batch["cand_static"],
        batch["cand_mask"],
        batch["slot_module"],
        batch["pair_index"],
        batch["pair_ids"],
    )


def collect_logits(
    model: TypeModel, modules: Sequence[EncodedModule], vocab: int, batch_slots: int
) -> List[Tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]]:
    """(logits, targets, kinds) per evaluation batch, with the model in eval mode."""
    model.eval()
    out = []
    with torch.no_grad():
        for group in batches(modules, batch_slots, False, random.Random(0)):
            batch = collate(group, vocab)
            logits = model(*model_inputs(batch))
            out.append((logits.numpy(), batch["targets"].numpy(), batch["kinds"].numpy()))
    model.train()
    return out


def top1_confidences(
    chunks: Sequence[Tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]],
    temperature: float,
    other: int,
) -> Tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any], float]:
    """Top answer's probability (``<other>`` excluded), whether it is right, kinds, and NLL."""
    confs, rights, kinds = [], [], []
    nll = 0.0
    count = 0
    for logits, targets, kind in chunks:
        scaled = logits / temperature
        scaled = scaled - scaled.max(axis=1, keepdims=True)
        probs = np.exp(scaled)
        probs /= probs.sum(axis=1, keepdims=True)
        true_mass = (probs * targets).sum(axis=1)
        nll += float(-np.log(np.clip(true_mass, 1e-12, None)).sum())
        count += len(probs)
        ranked = probs.copy()
        ranked[:, other] = -1.0
        best = ranked.argmax(axis=1)
        confs.append(ranked[np.arange(len(best)), best])
        rights.append(targets[np.arange(len(best)), best])
        kinds.append(kind)
    return np.concatenate(confs), np.concatenate(rights), np.concatenate(kinds), nll / max(count, 1)


def evaluate_top1(
    model: TypeModel,
    modules: Sequence[EncodedModule],
    vocab: int,
    batch_slots: int,
    other: int,
    with_nll: bool = False,
) -> Any:
    """Validation top-1 over params and returns (and the NLL when asked)."""
    chunks = collect_logits(model, modules, vocab, batch_slots * 4)
    _, right, kinds, nll = top1_confidences(chunks, 1.0, other)
    core = kinds < 2
    acc = float(right[core].mean()) if core.any() else 0.0
    return (acc, nll) if with_nll else acc


def expected_calibration_error(conf: np.ndarray[Any, Any], right: np.ndarray[Any, Any]) -> float:
    bins = np.linspace(0.0, 1.0, 16)
    total = 0.0
    for low, high in zip(bins[:-1], bins[1:]):
        inside = (conf > low) & (conf <= high)
        if inside.any():
            total += inside.mean() * abs(conf[inside].mean() - right[inside].mean())
    return float(total)


def choose_threshold(conf: np.ndarray[Any, Any], right: np.ndarray[Any, Any]) -> float:
    """The lowest threshold whose precision on validation reaches the target."""
    order = np.argsort(-conf)
    hits = np.cumsum(right[order])
    precision = hits / np.arange(1, len(order) + 1)
    ok = np.nonzero(precision >= TARGET_PRECISION)[0]
    if not len(ok):
        return 0.99
    # The largest prefix that is precise enough; its last confidence is the threshold.
    return float(round(conf[order][ok[-1]], 4))


def train(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    rng = random.Random(args.seed)
    torch.set_num_threads(args.threads)
    started = time.time()

    if args.source_dir:
        files = [
            (path.parent.name, str(path)) for path in sorted(Path(args.source_dir).rglob("*.py"))
        ]
        split_files = {"train": files, "valid": files, "test": files}
        lock_hash = "smoke-test"
        lock_lines: List[str] = []
    else:
        split_files, lock_hash = corpus_split_files(args.corpus_cache)
        lock_lines = [
            line.strip()
            for line in (ROOT / "scripts/corpus/packages.lock").read_text().splitlines()
            if line.strip() and not line.startswith("#")
        ]
    cache_dir = Path(args.work_dir)
    splits = load_splits(split_files, cache_dir, cap=args.cap, seed=args.seed, jobs=args.jobs)
    if args.requantize:
        requantize(Path(args.out), Path(args.requantize))
        cap_per_package(splits["valid"], args.cap, args.seed)
        check_quantization(Path(args.out), Path(args.requantize), splits["valid"], args)
        return
    if args.train_fraction < 1.0:
        splits["train"] = package_fraction(splits["train"], args.train_fraction, args.seed)
    for split, records in splits.items():
        slots = sum(len(r.slots) for r in records)
        packages = len({r.package for r in records})
        print(f"{split}: {packages} packages, {len(records)} files, {slots} slots", flush=True)

    counts = label_counts(splits["train"])
    vocab_labels = [OTHER] + [
        label for label, n in counts.most_common(args.vocab_size) if n >= args.min_count
    ]
    encoder = Encoder(labels=vocab_labels, buckets=args.buckets)
    vocab = len(vocab_labels)
    # Validation decides the checkpoint, the temperature and the threshold: cap each
    # package's share as in train, so one big package does not decide them alone.
    cap_per_package(splits["valid"], args.cap, args.seed)
    first_store = None
    if args.second_pass:
        first_store = first_pass_store(args, cache_dir)
        splits = second_pass_splits(splits, encoder, first_store, args, rng, cache_dir)
        encoder = Encoder(
            labels=vocab_labels,
            buckets=args.buckets,
            slot_features=SLOT_FEATURES + MAX_NEIGHBOUR_FEATURES,
        )
    train_set, valid_set = encoded_splits(encoder, splits, cache_dir)
    valid_set = valid_set or train_set
    print(f"vocabulary {vocab} labels; encoded in {time.time() - started:.0f}s", flush=True)

    model, best_acc = fit(
        train_set, valid_set, vocab, encoder, args, rng, cache_dir,
        init_checkpoint=args.init_checkpoint,
    )  # fmt: skip

    # Temperature and threshold on validation (never on test).
    chunks = collect_logits(model, valid_set, vocab, args.batch_slots * 4)
    temps = [0.6 + 0.05 * i for i in range(40)]
    nlls = [top1_confidences(chunks, t, encoder.other)[3] for t in temps]
    temperature = temps[int(np.argmin(nlls))]
    raw_conf, raw_right, _, _ = top1_confidences(chunks, 1.0, encoder.other)
    conf, right, kinds, _ = top1_confidences(chunks, temperature, encoder.other)
    core = kinds < 2
    threshold = choose_threshold(conf[core], right[core])
    covered = conf[core] >= threshold
    calibration = {
        "temperature": round(temperature, 3),
        "ece_before": round(expected_calibration_error(raw_conf, raw_right), 4),
        "ece_after": round(expected_calibration_error(conf, right), 4),
        "threshold": threshold,
        "valid_precision_at_threshold": round(float(right[core][covered].mean()), 4),
        "valid_coverage_at_threshold": round(float(covered.mean()), 4),
        "valid_top1_params_returns": round(best_acc, 4),
    }
    print(f"calibration: {calibration}", flush=True)

    out = Path(args.out)
    check_batch = model_inputs(collate(valid_set[:8], vocab))
    export_store(model, encoder, out, calibration, args, lock_lines, lock_hash, counts, check_batch)
    if first_store is not None:
        attach_first_pass(out, first_store)
    check_quantization(
        out, Path(args.work_dir) / "model.float.onnx", splits["valid"] or splits["train"], args
    )
    print(f"done in {time.time() - started:.0f}s -> {out}", flush=True)


def first_pass_store(args: argparse.Namespace, cache_dir: Path) -> Path:
    """The one-pass store that answers first: ``--first-pass``, or one trained now."""
    if args.first_pass:
        return Path(args.first_pass)
    out = cache_dir / "first-pass-store"
    print(f"training the first pass -> {out}", flush=True)
    train(argparse.Namespace(**{**vars(args), "second_pass": False, "out": str(out)}))
    return out


def second_pass_splits(
    splits: Dict[str, List[ModuleRecord]],
    encoder: Encoder,
    first_store: Path,
    args: argparse.Namespace,
    rng: random.Random,
    cache_dir: Path,
) -> Dict[str, List[ModuleRecord]]:
    """Train and valid records with the second pass's features: cross-fitted first-pass
    answers for train (``scripts/second_pass.py``), the first-pass store's for valid."""
    train_records = splits["train"]
    listing = json.dumps(
        [[r.path for r in train_records], args.folds, args.seed, args.epochs, FEATURES_VERSION]
    )
    cache = cache_dir / f"fold-answers-{hashlib.sha256(listing.encode()).hexdigest()[:16]}.pkl"
    answers: List[Any] = [None] * len(train_records)
    if cache.exists():
        with cache.open("rb") as handle:
            answers = pickle.load(handle)
    else:
        valid_set = encode_records(encoder, splits["valid"])
        folds = [fold_of(record.package, args.folds, args.seed) for record in train_records]
        for fold in range(args.folds):
            inside = [r for r, f in zip(train_records, folds) if f != fold]
            print(f"fold {fold + 1}/{args.folds}: first pass on {len(inside)} files", flush=True)
            inside_set = encode_records(encoder, inside)
            model, acc = fit(
                inside_set, valid_set or inside_set, len(encoder.labels), encoder,
                args, rng, cache_dir, checkpoint_name=f"checkpoint-fold{fold}.pt",
            )  # fmt: skip
            print(f"fold {fold + 1}: valid top-1 {acc:.4f}", flush=True)
            for index, record in enumerate(train_records):
                if folds[index] == fold:
                    answers[index] = torch_answers(model, encoder, record)
        tmp = cache.with_suffix(".tmp")
        with tmp.open("wb") as handle:
            pickle.dump(answers, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, cache)
    out = dict(splits)
    out["train"] = [augmented(r, a) for r, a in zip(train_records, answers)]
    valid_answers = store_answers(first_store, splits["valid"])
    out["valid"] = [augmented(r, a) for r, a in zip(splits["valid"], valid_answers)]
    print(f"second pass, train: {neighbour_stats(out['train'])}", flush=True)
    print(f"second pass, valid: {neighbour_stats(out['valid'])}", flush=True)
    return out


def attach_first_pass(out: Path, first_store: Path) -> None:
    """Copy the first pass's network and vocabulary into the store and name them."""
    shutil.copy(first_store / "model.onnx", out / FIRST_PASS_MODEL)
    shutil.copy(first_store / "vocab.json", out / FIRST_PASS_VOCAB)
    first = json.loads((first_store / "manifest.json").read_text(encoding="utf-8"))
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["files"][FIRST_PASS_MODEL] = sha256_of(out / FIRST_PASS_MODEL)
    manifest["files"][FIRST_PASS_VOCAB] = sha256_of(out / FIRST_PASS_VOCAB)
    manifest["first_pass"] = {
        "model": FIRST_PASS_MODEL,
        "vocab": FIRST_PASS_VOCAB,
        "name": first.get("name"),
        "version": first.get("version"),
        "training": first.get("training", {}),
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def fit(
    train_set: Sequence[EncodedModule],
    valid_set: Sequence[EncodedModule],
    vocab: int,
    encoder: Encoder,
    args: argparse.Namespace,
    rng: random.Random,
    cache_dir: Path,
    checkpoint_name: str = "checkpoint.pt",
    init_checkpoint: Optional[str] = None,
) -> Tuple[TypeModel, float]:
    """A network trained on ``train_set``; the epoch best on ``valid_set`` is kept."""
    model = TypeModel(args.buckets, vocab, dim=args.dim, hidden=args.hidden)
    best_acc = -1.0
    if init_checkpoint:  # e.g. export an interrupted run's last epoch with --epochs 0
        model.load_state_dict(torch.load(init_checkpoint)["model"])
        best_acc = evaluate_top1(model, valid_set, vocab, args.batch_slots, encoder.other)
    dense = [p for name, p in model.named_parameters() if not name.startswith("embedding.")]
    optimizers = [
        torch.optim.SparseAdam(list(model.embedding.parameters()), lr=args.lr),
        torch.optim.Adam(dense, lr=args.lr),
    ]
    # Shuffled, width-bucketed batching decides the step count: plan every epoch up front.
    plan = [batches(train_set, args.batch_slots, True, rng) for _ in range(args.epochs)]
    total_steps = max(1, sum(len(groups) for groups in plan))
    schedulers = [
        torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=args.lr, total_steps=total_steps, pct_start=0.1
        )
        for optimizer in optimizers
    ]
    best_state = None
    checkpoint = cache_dir / checkpoint_name
    for epoch in range(args.epochs):
        epoch_start = time.time()
        running = 0.0
        groups = plan[epoch]
        for step, group in enumerate(groups, 1):
            batch = collate(group, vocab)
            logits = model(*model_inputs(batch))
            loss = set_matching_loss(logits, batch["targets"])
            for optimizer in optimizers:
                optimizer.zero_grad()
            loss.backward()
            for optimizer, scheduler in zip(optimizers, schedulers):
                optimizer.step()
                scheduler.step()
            running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
            if step % 50 == 0 or step == len(groups):
                rate = step / (time.time() - epoch_start)
                print(
                    f"epoch {epoch + 1}/{args.epochs} step {step}/{len(groups)} "
                    f"loss {running:.3f} {rate:.1f} steps/s",
                    flush=True,
                )
        acc, nll = evaluate_top1(model, valid_set, vocab, args.batch_slots, encoder.other, True)
        print(
            f"epoch {epoch + 1} valid top-1 (params+returns) {acc:.4f} nll {nll:.3f} "
            f"({time.time() - epoch_start:.0f}s)",
            flush=True,
        )
        torch.save({"model": model.state_dict(), "epoch": epoch + 1}, checkpoint)
        if acc > best_acc:
            best_acc = acc
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return model, best_acc


def export_store(
    model: TypeModel,
    encoder: Encoder,
    out: Path,
    calibration: Dict[str, Any],
    args: argparse.Namespace,
    lock_lines: List[str],
    lock_hash: str,
    counts: Any,
    check_batch: Tuple[torch.Tensor, ...],
) -> None:
    """ONNX export, int8 quantisation and the manifest."""
    model.eval()
    work = Path(tempfile.mkdtemp(prefix="localtypes-export-"))
    float_path = work / "model.float.onnx"
    example = (
        torch.ones((3, encoder.slot_features), dtype=torch.int64),
        torch.ones((1, 4, 8), dtype=torch.int64),
        torch.zeros((1, 4), dtype=torch.float32),
        torch.zeros((3,), dtype=torch.int64),
        torch.tensor([[0, 0], [1, 2], [2, 3]], dtype=torch.int64),
        torch.ones((3, 8), dtype=torch.int64),
    )
    names = ["features", "cand_static", "cand_mask", "slot_module", "pair_index", "pair_ids"]
    torch.onnx.export(
        model,
        example,
        str(float_path),
        input_names=names,
        output_names=["logits"],
        dynamic_axes={
            "features": {0: "slots"},
            "cand_static": {0: "modules", 1: "candidates"},
            "cand_mask": {0: "modules", 1: "candidates"},
            "slot_module": {0: "slots"},
            "pair_index": {0: "pairs"},
            "pair_ids": {0: "pairs"},
            "logits": {0: "slots", 1: "answers"},
        },
        opset_version=17,
        dynamo=False,
    )
    check_export(model, example, float_path)
    check_export(model, check_batch, float_path)  # other shapes: the dynamic axes work
    int8_path = work / "model.onnx"
    quantize(float_path, int8_path)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copy(int8_path, out / "model.onnx")
    vocab_doc = encoder.to_vocab()
    vocab_doc["common"] = sorted(label for label, n in counts.items() if n >= 100)
    (out / "vocab.json").write_text(json.dumps(vocab_doc, indent=0) + "\n", encoding="utf-8")
    manifest = {
        "format_version": FORMAT_VERSION,
        "name": DEFAULT_MODEL_NAME if not args.source_dir else "localtypes-smoke",
        "version": args.version,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": {
            "model.onnx": sha256_of(out / "model.onnx"),
            "vocab.json": sha256_of(out / "vocab.json"),
        },
        "features_version": FEATURES_VERSION,
        "temperature": calibration["temperature"],
        "threshold": calibration["threshold"],
        "calibration": calibration,
        "metrics": {},
        "training": {
            "command": "python " + " ".join(sys.argv),
            "seed": args.seed,
            "epochs": args.epochs,
            "train_fraction": args.train_fraction,
            "labels_version": LABELS_VERSION,
            "buckets": args.buckets,
            "dim": args.dim,
            "hidden": args.hidden,
            "vocab_size": len(encoder.labels),
            "torch": torch.__version__,
            "float_model_bytes": os.path.getsize(float_path),
            "int8_model_bytes": os.path.getsize(out / "model.onnx"),
            "quantized_ops": ["Gather"],
        },
        "corpus": {"lock_sha256": lock_hash, "packages": lock_lines},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    float_copy = Path(args.work_dir) / "model.float.onnx"
    shutil.copy(float_path, float_copy)
    shutil.rmtree(work, ignore_errors=True)
    size = os.path.getsize(out / "model.onnx") / 1e6
    print(f"int8 model {size:.1f} MB (float {os.path.getsize(float_copy) / 1e6:.1f} MB)")


def package_fraction(records: List[Any], fraction: float, seed: int) -> List[Any]:
    """The records of ``fraction`` of the packages, chosen by a seeded hash of each name:
    a smaller share is a subset of a larger one, so the points of a learning curve nest."""
    names = sorted({record.package for record in records})
    ranked = sorted(names, key=lambda name: hashlib.sha256(f"{seed}:{name}".encode()).digest())
    kept = set(ranked[: max(1, round(fraction * len(names)))])
    return [record for record in records if record.package in kept]


def quantize(float_path: Path, int8_path: Path) -> None:
    """int8 weights for the embedding table (nine tenths of the parameters), float MatMuls.

    Dynamic quantisation of a MatMul also quantises its input activations with one scale
    per call, so a slot's scores would depend on the other slots of the same call; the
    answers for a slot must not change with what else the file contains.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(float_path),
        str(int8_path),
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["Gather"],
    )


def requantize(store: Path, float_path: Path) -> None:
    """Replace a store's model with a new quantisation of its float model."""
    quantize(float_path, store / "model.onnx")
    manifest_path = store / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["files"]["model.onnx"] = sha256_of(store / "model.onnx")
    manifest["training"]["int8_model_bytes"] = os.path.getsize(store / "model.onnx")
    manifest["training"]["quantized_ops"] = ["Gather"]
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def check_export(model: TypeModel, example: Tuple[torch.Tensor, ...], path: Path) -> None:
    """The ONNX graph must compute what the torch model computes (scatter-add included)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    (got,) = session.run(["logits"], {n: t.numpy() for n, t in zip(names, example)})
    with torch.no_grad():
        expected = model(*example).numpy()
    if not np.allclose(got, expected, atol=1e-3, rtol=1e-3):
        raise SystemExit(f"ONNX export differs from torch (max {np.abs(got - expected).max()})")


def onnx_top1(model_path: Path, encoder: Encoder, records: Sequence[ModuleRecord]) -> float:
    """Top-1 (params+returns) of an ONNX file through the runtime's own encode and decode."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    right = total = 0
    for record in records:
        batch = encoder.encode_slots(record.slots, record.info)
        (logits,) = session.run(["logits"], batch.inputs())
        for slot, ranked in zip(record.slots, encoder.decode(batch, logits, 1)):
            if slot.kind is not SlotKind.VARIABLE:
                total += 1
                right += ranked[0].label == slot.label
    return right / max(total, 1)


def check_quantization(
    store: Path, float_model: Path, valid: Sequence[ModuleRecord], args: argparse.Namespace
) -> None:
    """int8 must stay within a point of float on validation; record both in the manifest."""
    vocab = json.loads((store / "vocab.json").read_text(encoding="utf-8"))
    encoder = Encoder.from_vocab(vocab)
    sample = list(valid)[: args.quant_check_files]
    float_acc = onnx_top1(float_model, encoder, sample)
    int8_acc = onnx_top1(store / "model.onnx", encoder, sample)
    gap = float_acc - int8_acc
    print(f"valid top-1 float {float_acc:.4f} int8 {int8_acc:.4f} (gap {gap * 100:.2f} points)")
    manifest_path = store / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["quantization"] = {
        "valid_top1_float": round(float_acc, 4),
        "valid_top1_int8": round(int8_acc, 4),
        "files_checked": len(sample),
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    if gap > 0.01 and not args.source_dir:
        raise SystemExit(f"int8 model loses {gap * 100:.2f} points against float (limit 1)")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "model_store" / DEFAULT_MODEL_NAME))
    parser.add_argument("--source-dir", help="smoke test: train on the .py files of DIR")
    parser.add_argument("--corpus-cache", type=Path, default=None)
    parser.add_argument("--work-dir", default=str(default_work_dir()))
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-slots", type=int, default=1024)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--buckets", type=int, default=1 << 17)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--vocab-size", type=int, default=3000)
    parser.add_argument("--min-count", type=int, default=3)
    parser.add_argument("--cap", type=int, default=15000, help="max training slots per package")
    parser.add_argument("--train-fraction", type=float, default=1.0,
                        help="train on this share of the training packages (a learning curve);"
                             " validation and test stay whole")  # fmt: skip
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--version", default="0.1.0")
    parser.add_argument("--quant-check-files", type=int, default=100000)
    parser.add_argument("--init-checkpoint", help="start from these weights (checkpoint.pt)")
    parser.add_argument("--requantize", help="re-quantise the store at --out from this float model")
    parser.add_argument(
        "--second-pass",
        action="store_true",
        help="train the second pass over a first pass's answers (model 0.4)",
    )
    parser.add_argument(
        "--first-pass",
        help="the one-pass store that answers first (default:"
        " train one first, with the same settings)",
    )
    parser.add_argument(
        "--folds",
        type=int,
        default=2,
        help="cross-fitting folds for the first-pass answers of train",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    train(parse_args())
