"""Evaluate a model store on the held-out test packages, with the baselines beside it.

    python scripts/evaluate.py [--store model_store/localtypes-small] [--update-manifest]

Everything is measured on the test split (packages never trained on), on the slots that
carry an annotation other than ``Any``, after the normalisation of ``localtypes.labels``
(its docstring lists every rule). Metrics, for params, returns, variables, params+returns
and all: top-1 and top-5 exact match, top-1 base-type match (type parameters stripped:
``list[int]`` ~ ``list[str]``), MRR@5, and top-1 split into common types (seen at least 100
times in training, Type4Py's rule) and rare ones; plus precision and coverage of the top
answer over the confidence threshold, with the store's default threshold marked.

Baselines on the same slots:
- per-name: the most frequent training label for the parameter's name (params), the
  function's name (returns) or the variable's name, falling back to the most frequent label
  of the slot's kind;
- autotyping (``--aggressive``), run over the test files with every annotation removed;
  a slot it leaves unannotated counts as a miss.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dataset import ModuleRecord, _package_base, corpus_split_files, load_splits

from localtypes.analysis.extract import extract
from localtypes.analysis.project import ProjectIndex
from localtypes.analysis.slots import ExtractedModule, Slot, SlotKind
from localtypes.errors import SourceError
from localtypes.labels import LABELS_VERSION, base_type
from localtypes.model.predictor import OnnxPredictor
from localtypes.model.store import DEFAULT_MODEL_NAME, load_store
from localtypes.syntax import parameters

ROOT = Path(__file__).resolve().parents[1]


def default_work_dir() -> Path:
    """Dataset cache and checkpoints: the user cache folder, outside the repository."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("localtypes")) / "train"


GROUPS = {
    "params": (SlotKind.PARAM,),
    "returns": (SlotKind.RETURN,),
    "variables": (SlotKind.VARIABLE,),
    "params+returns": (SlotKind.PARAM, SlotKind.RETURN),
    "all": (SlotKind.PARAM, SlotKind.RETURN, SlotKind.VARIABLE),
}
SlotId = Tuple[str, str, str, int, str]


def slot_id(path: str, slot: Slot) -> SlotId:
    return (path, slot.kind.value, slot.scope, slot.occurrence, slot.name)


def safe_base(label: str) -> str:
    try:
        return base_type(label)
    except SyntaxError:
        return label


SCALARS = frozenset({"str", "int", "bool", "float", "bytes", "None"})
CONTAINERS = frozenset({"list", "dict", "tuple", "set", "frozenset"})
COMPOSITES = frozenset(
    {"Iterator", "Iterable", "Callable", "Sequence", "Mapping", "Generator", "AsyncIterator",
     "AsyncIterable", "AsyncGenerator", "MutableMapping", "MutableSequence", "Collection"}
)  # fmt: skip


def category(label: str) -> str:
    """scalar, project (a class or alias of the package), container, composite or other."""
    if label in SCALARS:
        return "scalar"
    base = safe_base(label).split(" | ")[0]
    if base in CONTAINERS:
        return "container"
    if base in COMPOSITES:
        return "composite"
    # Canonical labels qualify imported names (pathlib.Path) and keep the module's own
    # classes, aliases and relative imports bare (Token): bare, capitalised = the project's.
    if "." not in base and base[:1].isupper() and base not in ("Any", "Self"):
        return "project"
    return "other"


def name_key(slot: Slot) -> Tuple[str, str]:
    if slot.kind is SlotKind.RETURN:
        return (slot.kind.value, slot.scope.rsplit(".", 1)[-1])
    return (slot.kind.value, slot.name)


class PerNameBaseline:
    """The most frequent training label per name, then per kind."""

    def __init__(self, train: Iterable[ModuleRecord]) -> None:
        by_name: Dict[Tuple[str, str], Counter[str]] = defaultdict(Counter)
        by_kind: Dict[str, Counter[str]] = defaultdict(Counter)
        for record in train:
            for slot in record.slots:
                by_name[name_key(slot)][slot.label or ""] += 1
                by_kind[slot.kind.value][slot.label or ""] += 1
        self.by_name = {key: counts.most_common(5) for key, counts in by_name.items()}
        self.by_kind = {key: counts.most_common(5) for key, counts in by_kind.items()}

    def predict(self, slot: Slot) -> List[str]:
        ranked = [label for label, _ in self.by_name.get(name_key(slot), [])]
        for label, _ in self.by_kind.get(slot.kind.value, []):
            if label not in ranked:
                ranked.append(label)
        return ranked[:5]


def strip_annotations(source: str) -> str:
    """The module with every annotation removed (what autotyping should start from)."""
    tree = _without_signature_annotations(ast.parse(source))
    for parent in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(parent, field, None)
            if not isinstance(body, list):
                continue
            for index, stmt in enumerate(body):
                if isinstance(stmt, ast.AnnAssign):
                    if stmt.value is not None and stmt.simple:
                        body[index] = ast.Assign(targets=[stmt.target], value=stmt.value)
                    else:
                        body[index] = ast.Pass()
    return ast.unparse(ast.fix_missing_locations(tree))


def autotyping_predictions(records: Sequence[ModuleRecord], work_dir: Path) -> Dict[SlotId, str]:
    """autotyping's annotations for the test files, cached: they do not depend on our model.

    The cache key is the list of files, their contents and autotyping's version.
    """
    from importlib.metadata import version

    digest = hashlib.sha256(version("autotyping").encode())
    for record in records:
        digest.update(record.path.encode())
        digest.update(Path(record.path).read_bytes())
    cache = work_dir / f"autotyping-{digest.hexdigest()[:16]}.json"
    if cache.exists():
        return {tuple(key): label for key, label in json.loads(cache.read_text())}  # type: ignore[misc]
    found = _run_autotyping(records)
    cache.write_text(json.dumps([[list(key), label] for key, label in found.items()]))
    return found


def _run_autotyping(records: Sequence[ModuleRecord]) -> Dict[SlotId, str]:
    """Run autotyping over stripped copies of the test files and read back its annotations."""
    work = Path(tempfile.mkdtemp(prefix="localtypes-autotyping-"))
    copies: Dict[Path, str] = {}
    for index, record in enumerate(records):
        try:
            stripped = strip_annotations(Path(record.path).read_text(encoding="utf-8"))
        except (SyntaxError, OSError, UnicodeDecodeError, RecursionError):
            continue
        copy = work / f"m{index}.py"
        copy.write_text(stripped, encoding="utf-8")
        copies[copy] = record.path
    started = time.time()
    subprocess.run(
        [sys.executable, "-m", "autotyping", "--aggressive", str(work)],
        check=False,
        capture_output=True,
    )
    print(f"autotyping ran in {time.time() - started:.0f}s", flush=True)
    found: Dict[SlotId, str] = {}
    for copy, original in copies.items():
        try:
            module = extract(copy.read_text(encoding="utf-8"))
        except SourceError:
            continue
        for slot in module.slots:
            if slot.label:
                found[slot_id(original, slot)] = slot.label
    shutil.rmtree(work, ignore_errors=True)
    return found


class Scores:
    """Accumulates ranked answers per slot and turns them into the metric table."""

    def __init__(self) -> None:
        self.rows: List[Tuple[SlotKind, str, List[str], float, bool]] = []

    def add(self, kind: SlotKind, truth: str, ranked: List[str], conf: float, common: bool) -> None:
        self.rows.append((kind, truth, ranked, conf, common))

    def table(self) -> Dict[str, Dict[str, float]]:
        out: Dict[str, Dict[str, float]] = {}
        for group, kinds in GROUPS.items():
            rows = [row for row in self.rows if row[0] in kinds]
            if not rows:
                continue
            top1 = [bool(r[2]) and r[2][0] == r[1] for r in rows]
            top5 = [r[1] in r[2][:5] for r in rows]
            base = [bool(r[2]) and safe_base(r[2][0]) == safe_base(r[1]) for r in rows]
            rr = [1.0 / (r[2][:5].index(r[1]) + 1) if r[1] in r[2][:5] else 0.0 for r in rows]
            common = [t for t, r in zip(top1, rows) if r[4]]
            rare = [t for t, r in zip(top1, rows) if not r[4]]
            out[group] = {
                "slots": len(rows),
                "top1": _mean(top1),
                "top5": _mean(top5),
                "base_top1": _mean(base),
                "mrr5": _mean(rr),
                "top1_common": _mean(common),
                "top1_rare": _mean(rare),
                "common_share": len(common) / len(rows),
            }
        return out

    def by_category(self, kinds: Sequence[SlotKind]) -> Dict[str, Dict[str, float]]:
        """Top-1 by what the true type is (the issue tracker's categories)."""
        found: Dict[str, List[bool]] = defaultdict(list)
        for kind, truth, ranked, _conf, _common in self.rows:
            if kind in kinds:
                found[category(truth)].append(bool(ranked) and ranked[0] == truth)
        return {name: {"slots": len(hits), "top1": _mean(hits)} for name, hits in found.items()}

    def curve(self, kinds: Sequence[SlotKind]) -> Tuple[np.ndarray[Any, Any], ...]:
        rows = [row for row in self.rows if row[0] in kinds]
        conf = np.array([r[3] for r in rows])
        right = np.array([bool(r[2]) and r[2][0] == r[1] for r in rows], dtype=float)
        thresholds = np.linspace(0.0, 0.99, 100)
        precision, coverage = [], []
        for t in thresholds:
            chosen = conf >= t
            coverage.append(chosen.mean() if len(conf) else 0.0)
            precision.append(right[chosen].mean() if chosen.any() else 1.0)
        return thresholds, np.array(precision), np.array(coverage)

    def at_threshold(self, kinds: Sequence[SlotKind], threshold: float) -> Dict[str, float]:
        rows = [row for row in self.rows if row[0] in kinds]
        chosen = [r for r in rows if r[3] >= threshold]
        right = [bool(r[2]) and r[2][0] == r[1] for r in chosen]
        return {
            "threshold": threshold,
            "precision": _mean(right),
            "coverage": len(chosen) / max(len(rows), 1),
        }


def _mean(values: Sequence[bool] | Sequence[float]) -> float:
    return round(float(np.mean(values)), 4) if len(values) else 0.0


def evaluate(args: argparse.Namespace) -> Dict[str, Any]:
    store = load_store(args.store)
    predictor = OnnxPredictor(store)
    vocab = json.loads(store.file("vocab.json").read_text(encoding="utf-8"))
    common = set(vocab.get("common", []))
    split_files, _ = corpus_split_files(args.corpus_cache)
    splits = load_splits(split_files, Path(args.work_dir), cap=args.cap, seed=args.seed)
    test = splits["test"]
    print(
        f"test: {len({r.package for r in test})} packages, {len(test)} files, "
        f"{sum(len(r.slots) for r in test)} slots",
        flush=True,
    )
    per_name = PerNameBaseline(splits["train"])
    model_scores, name_scores, auto_scores = Scores(), Scores(), Scores()
    auto = autotyping_predictions(test, Path(args.work_dir)) if not args.skip_autotyping else {}
    started = time.time()
    stripped = _stripped_projects(test) if args.unannotated else {}
    for record in test:
        module = record.module()
        truths: Optional[Dict[Any, Optional[str]]] = None
        if args.unannotated:
            module = stripped.get(record.path) or ExtractedModule(slots=(), info=record.info)
            truths = {slot.key: slot.label for slot in record.slots}
        guesses = predictor.predict(module, top_k=5)
        for slot, ranked in zip(module.slots, guesses):
            if truths is not None:
                if slot.key not in truths:
                    continue
                slot = dataclasses.replace(slot, label=truths[slot.key])
            truth = slot.label or ""
            is_common = truth in common
            labels = [g.label for g in ranked]
            model_scores.add(slot.kind, truth, labels, ranked[0].confidence, is_common)
            name_scores.add(slot.kind, truth, per_name.predict(slot), 1.0, is_common)
            guess = auto.get(slot_id(record.path, slot))
            auto_scores.add(slot.kind, truth, [guess] if guess else [], 1.0, is_common)
    elapsed = time.time() - started
    core = GROUPS["params+returns"]
    results: Dict[str, Any] = {
        "test_packages": sorted({r.package for r in test}),
        "model": model_scores.table(),
        "baseline_per_name": name_scores.table(),
        "at_default_threshold": model_scores.at_threshold(core, store.threshold),
        "by_category": {
            "params": model_scores.by_category(GROUPS["params"]),
            "returns": model_scores.by_category(GROUPS["returns"]),
        },
        "inference_seconds": round(elapsed, 1),
        # which rules made the true labels (localtypes.labels): numbers under other
        # versions compare other test sets
        "labels_version": LABELS_VERSION,
    }
    if auto:
        results["baseline_autotyping"] = auto_scores.table()
        results["autotyping_coverage"] = _mean(
            [bool(r[2]) for r in auto_scores.rows if r[0] in core]
        )
    plot_curve(model_scores, store.threshold, Path(args.plot))
    print_table(results)
    if args.update_manifest:
        manifest_path = store.path / "manifest.json"
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        manifest["metrics"] = {k: v for k, v in results.items() if k != "test_packages"}
        manifest["metrics"]["test_packages"] = results["test_packages"]
        manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return results


def _stripped_projects(records: Sequence[ModuleRecord]) -> Dict[str, ExtractedModule]:
    """Each record's module as its authors had it before annotating: every annotation of
    every file of its package removed, the package read as one project (labels still come
    from the original)."""
    by_package: Dict[str, List[ModuleRecord]] = defaultdict(list)
    for record in records:
        by_package[record.package].append(record)
    out: Dict[str, ExtractedModule] = {}
    for package_records in by_package.values():
        sources: Dict[str, str] = {}
        base = _package_base([Path(record.path) for record in package_records])
        for record in package_records:
            text = Path(record.path).read_text(encoding="utf-8", errors="replace")
            try:
                sources[Path(record.path).relative_to(base).as_posix()] = strip_annotations(text)
            except (SyntaxError, ValueError, RecursionError):
                continue
        project = ProjectIndex.from_sources(sources)  # once per package
        for record in package_records:
            relative = Path(record.path).relative_to(base).as_posix()
            if relative not in project.modules:
                continue
            try:
                index = project.modules[relative]
                out[record.path] = extract(index.source, index=index, facts=project.facts(relative))
            except (SourceError, RecursionError):
                continue
    return out


def plot_curve(scores: Scores, threshold: float, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    for name, kinds in (
        ("params+returns", GROUPS["params+returns"]),
        ("params", GROUPS["params"]),
        ("returns", GROUPS["returns"]),
    ):
        _, precision, coverage = scores.curve(kinds)
        ax.plot(coverage, precision, label=name)
    point = scores.at_threshold(GROUPS["params+returns"], threshold)
    ax.scatter([point["coverage"]], [point["precision"]], color="black", zorder=5)
    ax.annotate(
        f"default threshold {threshold:.2f}",
        (point["coverage"], point["precision"]),
        textcoords="offset points",
        xytext=(8, -14),
    )
    ax.set_xlabel("coverage (share of slots answered)")
    ax.set_ylabel("precision of the top answer")
    ax.set_title("localtypes on held-out packages: precision vs coverage")
    ax.grid(alpha=0.3)
    ax.legend()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out)


def print_table(results: Dict[str, Any]) -> None:
    systems = [("localtypes", "model"), ("per-name baseline", "baseline_per_name")]
    if "baseline_autotyping" in results:
        systems.append(("autotyping --aggressive", "baseline_autotyping"))
    print("| system | group | slots | top-1 | top-5 | base top-1 | MRR@5 | common | rare |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, key in systems:
        for group, row in results[key].items():
            print(
                f"| {name} | {group} | {row['slots']} | {row['top1']:.1%} | {row['top5']:.1%} | "
                f"{row['base_top1']:.1%} | {row['mrr5']:.1%} | {row['top1_common']:.1%} | "
                f"{row['top1_rare']:.1%} |"
            )
    point = results["at_default_threshold"]
    print(
        f"\nparams+returns at the default threshold {point['threshold']}: precision "
        f"{point['precision']:.1%}, coverage {point['coverage']:.1%}"
    )
    print("\n| truth is | params top-1 | returns top-1 |\n|---|---|---|")
    categories = results["by_category"]
    for name in ("scalar", "project", "container", "composite", "other"):
        cells = []
        for group in ("params", "returns"):
            row = categories[group].get(name, {"top1": 0.0, "slots": 0})
            cells.append(f"{row['top1']:.1%} ({row['slots']})")
        print(f"| {name} | {cells[0]} | {cells[1]} |")


# --- what the writer writes: plain, with the cheap checks, with --verify ----------------


def evaluate_writer(args: argparse.Namespace) -> Dict[str, Any]:
    """Precision and coverage of the annotations the writer writes at the threshold.

    On a fixed sample (``--writer N`` modules per package of ``--writer-split``, test by
    default, seeded), each module with
    every annotation removed is annotated three ways: plain (the cheap checks off), with
    the cheap checks (what ``localtypes annotate`` does), and with the checks then the
    verify stage (mypy over the package's sampled modules together; a rejected guess
    gives way to the next one of the top 5 that clears the threshold). A written label is
    right when it equals the authors' (normalised); coverage is over the sampled params
    and returns whose authors' label is not ``Any``.
    """
    import random
    import tempfile

    import localtypes.edit.choose as choose_module
    import localtypes.edit.rounds as rounds_module
    from localtypes.api import annotate
    from localtypes.edit.companions import companions
    from localtypes.settings import Settings
    from localtypes.verify.checker import Checker
    from localtypes.verify.run import write_options
    from localtypes.verify.stage import VerifyFile, verify

    store = load_store(args.store)
    predictor = OnnxPredictor(store)
    split_files, _ = corpus_split_files(args.corpus_cache)
    by_package: Dict[str, List[str]] = defaultdict(list)
    for package, path in split_files[args.writer_split]:
        if package not in args.writer_exclude:
            by_package[package].append(path)
    rng = random.Random(args.seed)
    settings = Settings(kinds=frozenset({SlotKind.PARAM, SlotKind.RETURN}), target_version=(3, 11))
    options = write_options(settings, store.threshold)
    real_checks = vars(choose_module)["ModuleChecks"]
    totals: Dict[str, Counter[str]] = {mode: Counter() for mode in ("plain", "checks", "verify")}
    by_code: Counter[str] = Counter()  # the checker's changes by error code, right or wrong
    by_via: Counter[str] = Counter()  # ... by how the error led to the annotation
    changes: List[Dict[str, Any]] = []  # every change, for --writer-changes
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="localtypes-eval-") as folder:
        for package in sorted(by_package):
            candidates = sorted(by_package[package])
            rng.shuffle(candidates)
            modules: List[Tuple[str, str, Dict[Any, str]]] = []  # (relative, stripped, truths)
            base = Path(os.path.commonpath(candidates)).parent if args.writer_whole else None
            for path in candidates:
                if base is None and len(modules) >= args.writer:
                    break
                try:
                    original = Path(path).read_text(encoding="utf-8")
                    truths = {
                        slot.key: slot.label
                        for slot in extract(original).slots
                        if slot.kind in (SlotKind.PARAM, SlotKind.RETURN)
                        and slot.label
                        and slot.label != "Any"
                    }
                    stripped = (
                        strip_signatures(original)
                        if args.writer_keep_variables
                        else strip_annotations(original)
                    )
                except (SourceError, SyntaxError, ValueError, RecursionError, OSError):
                    continue
                if base is not None:  # the whole package, laid out as it is
                    modules.append((str(Path(path).relative_to(base)), stripped, truths))
                    continue
                if len(truths) < 3:
                    continue
                # flat, with names mypy takes (packages are named like jaraco-context)
                stem = Path(path).stem.strip("_") or "init"
                modules.append((f"m{len(modules)}_{stem}.py", stripped, truths))
            root = Path(folder) / re.sub(r"\W", "_", package)
            targets: List[VerifyFile] = []
            for relative, stripped, truths in modules:
                file = root / relative
                file.parent.mkdir(parents=True, exist_ok=True)
                file.write_text(stripped, encoding="utf-8")
                for mode in ("plain", "checks"):
                    plain = mode == "plain"
                    vars(choose_module)["ModuleChecks"] = _no_checks if plain else real_checks
                    vars(rounds_module)["companions"] = _no_companions if plain else companions
                    try:
                        result = annotate(
                            stripped, str(file), settings=settings, predictor=predictor
                        )
                    finally:
                        vars(choose_module)["ModuleChecks"] = real_checks
                        vars(rounds_module)["companions"] = companions
                    _score(totals[mode], {a.slot.key: a.label for a in result.added}, truths)
                targets.append(
                    VerifyFile(
                        str(file.resolve()), stripped, result.guesses, options,
                        lambda text: text.encode("utf-8"), text=result.source, added=result.added,
                    )
                )  # fmt: skip
            if not targets:
                continue
            checker = Checker(root, [t.path for t in targets], Path(folder) / "cache", key="eval")
            before = [{a.slot.key: a.label for a in t.added} for t in targets]
            stats = verify(targets, checker)
            for target, was, (_, _, truths) in zip(targets, before, modules):
                now = {a.slot.key: a.label for a in target.added}
                _score(totals["verify"], now, truths)
                for key, label in was.items():  # what the checker's changes were worth
                    if key not in truths or now.get(key) == label:
                        continue
                    change = "dropped" if key not in now else "replaced"
                    totals["verify"][f"{change}_was_right"] += label == truths[key]
                    verdict = "right" if label == truths[key] else "wrong"
                    code = target.blamed_by.get(key, "?")
                    via = target.blamed_via.get(key, "?")
                    by_code[f"{code}:{verdict}"] += 1
                    by_via[f"{via}:{change}:{verdict}"] += 1
                    error = target.blamed_for.get(key)
                    changes.append(
                        {
                            "package": package, "file": target.path, "slot": list(key[1:]),
                            "kind": key[0].value, "was": label, "now": now.get(key),
                            "truth": truths[key], "code": code, "via": via,
                            "error": None if error is None else
                            f"{error.path}:{error.line}: {error.message}",
                        }
                    )  # fmt: skip
                    if key in now:
                        totals["verify"]["replacement_right"] += now[key] == truths[key]
            totals["verify"]["replaced"] += stats.replaced
            totals["verify"]["dropped"] += stats.dropped
            totals["verify"]["remaining"] += stats.remaining
            totals["verify"]["restored"] += stats.restored
            totals["verify"]["modules"] += len(targets)
            print(f"{package}: {len(targets)} modules, {time.time() - started:.0f}s", flush=True)
    table: Dict[str, Any] = {
        "split": args.writer_split,
        "excluded_packages": sorted(args.writer_exclude),
        "sample_per_package": args.writer,
        "seed": args.seed,
    }
    for mode, counts in totals.items():
        table[mode] = {
            "slots": counts["slots"],
            "written": counts["written"],
            "right": counts["right"],
            "precision": round(counts["right"] / max(counts["written"], 1), 4),
            "coverage": round(counts["written"] / max(counts["slots"], 1), 4),
            **{
                k: counts[k]
                for k in (
                    "replaced",
                    "dropped",
                    "remaining",
                    "restored",
                    "modules",
                    "dropped_was_right",
                    "replaced_was_right",
                    "replacement_right",
                )
                if counts[k]
            },
        }
    table["verify"]["changed_by_code"] = dict(by_code.most_common())
    table["verify"]["changed_by_blame"] = dict(by_via.most_common())
    if args.writer_changes:
        lines = "".join(json.dumps(change) + "\n" for change in changes)
        Path(args.writer_changes).write_text(lines, encoding="utf-8")
    table["seconds"] = round(time.time() - started, 1)
    print("| writer | slots | written | precision | coverage |")
    print("|---|---|---|---|---|")
    for mode in ("plain", "checks", "verify"):
        row = table[mode]
        print(f"| {mode} | {row['slots']} | {row['written']} | {row['precision']:.1%} | "
              f"{row['coverage']:.1%} |")  # fmt: skip
    Path(args.writer_json).write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
    return table


def strip_signatures(source: str) -> str:
    """The module with the annotations of parameters and returns removed (variables keep
    theirs)."""
    return ast.unparse(_without_signature_annotations(ast.parse(source)))


def _without_signature_annotations(tree: ast.Module) -> ast.Module:
    """``tree`` with the annotations of every parameter and return removed (in place)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node.returns = None
            for parameter in parameters(node.args):
                parameter.arg.annotation = None
    return tree


def _no_checks(index: Any) -> None:
    """Stands in for ``ModuleChecks``: the plain writer (the cheap checks off)."""
    return None


def _no_companions(index: Any, functions: Any) -> List[Any]:
    """Stands in for ``companions``: the plain writer adds none."""
    return []


def _score(counts: Counter[str], written: Dict[Any, str], truths: Dict[Any, str]) -> None:
    counts["slots"] += len(truths)
    for key, label in written.items():
        if key in truths:
            counts["written"] += 1
            counts["right"] += label == truths[key]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", default=str(ROOT / "model_store" / DEFAULT_MODEL_NAME))
    parser.add_argument("--corpus-cache", type=Path, default=None)
    parser.add_argument("--work-dir", default=str(default_work_dir()))
    parser.add_argument("--cap", type=int, default=15000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--plot", default=str(ROOT / "docs" / "precision_coverage.png"))
    parser.add_argument("--json", default=str(ROOT / "docs" / "evaluation.json"))
    parser.add_argument("--update-manifest", action="store_true")
    parser.add_argument("--skip-autotyping", action="store_true")
    parser.add_argument(
        "--unannotated",
        action="store_true",
        help="predict from the test files with every annotation removed (labels from the"
        " originals): what a user's unannotated code looks like to the model",
    )
    parser.add_argument(
        "--writer",
        type=int,
        default=0,
        metavar="N",
        help="instead: precision and coverage of what the writer writes (plain, cheap checks,"
        " --verify) on N modules per test package, their annotations removed",
    )
    parser.add_argument("--writer-json", default=str(ROOT / "docs" / "evaluation_writer.json"))
    parser.add_argument(
        "--writer-split",
        choices=("test", "valid"),
        default="test",
        help="--writer: the packages to measure on; develop the writer's rules on valid and"
        " report test once",
    )
    parser.add_argument(
        "--writer-exclude",
        action="append",
        default=[],
        metavar="PACKAGE",
        help="--writer: leave this package out (repeatable)",
    )
    parser.add_argument(
        "--writer-changes",
        default="",
        metavar="FILE",
        help="--writer: write every change the checker made (JSON lines: the label before and"
        " after, the authors', the error and how it led to the annotation)",
    )
    parser.add_argument(
        "--writer-whole",
        action="store_true",
        help="--writer: every module of each test package, laid out as in the package (the"
        " checker sees the package's own callers); N is then ignored",
    )
    parser.add_argument(
        "--writer-keep-variables",
        action="store_true",
        help="--writer: remove only the annotations of parameters and returns (the slots"
        " scored); variables keep theirs, so that a function the writer annotates does not"
        " lack the variable annotations its authors gave it",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.writer:
        evaluate_writer(arguments)
    else:
        evaluate(arguments)
