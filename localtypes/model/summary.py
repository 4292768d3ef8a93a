"""What ``localtypes model`` prints: the store's identity and its held-out metrics as
tables a person reads (``--json`` gives every figure as stored)."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence, Tuple

from localtypes.model.predictor import ModelInfo

# The rows of the accuracy table, in the order a reader asks: what annotate writes first.
_ROWS = ("params", "returns", "params+returns", "variables")
# Baselines the evaluation measures beside the model (scripts/evaluate.py).
_BASELINES = (("baseline_per_name", "per-name"), ("baseline_autotyping", "autotyping"))
_CATEGORIES = ("scalar", "container", "composite", "project", "other")
# Metrics the tables above already show; every other one is listed as it is.
_SHOWN = frozenset(
    {"model", "by_category", "at_default_threshold", "test_packages"} | {b for b, _ in _BASELINES}
)


def describe(info: ModelInfo) -> str:
    """The model store ``info`` as text: identity, threshold, accuracy tables."""
    lines = [
        f"model:     {info.name} {info.version}",
        f"path:      {info.path}",
        f"sha256:    {info.sha256}",
        f"size:      {size_text(info.size_bytes)}"
        + (" (two networks: the second reads the first's answers)" if info.passes > 1 else ""),
        f"threshold: {info.threshold:g} (default --min-confidence)"
        + _threshold_note(info.metrics.get("at_default_threshold")),
    ]
    metrics = info.metrics
    if not metrics:
        lines.append("metrics:   none recorded in the store's manifest")
        return "\n".join(lines)
    lines += _accuracy_table(metrics)
    lines += _category_lines(metrics.get("by_category"))
    others = sorted(key for key in metrics if key not in _SHOWN)
    for key in others:
        lines.append(f"{key.replace('_', ' ')}: {_plain(metrics[key])}")
    lines.append("(every figure: localtypes model --json)")
    return "\n".join(lines)


def size_text(size: int) -> str:
    """Bytes as a person reads them: 512 B, 3.4 KiB, 11.5 MiB."""
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024 or unit == "MiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{size} B"
        value /= 1024
    return f"{size} B"  # pragma: no cover


def _threshold_note(point: Any) -> str:
    if not isinstance(point, Mapping):
        return ""
    precision, coverage = point.get("precision"), point.get("coverage")
    if not isinstance(precision, (int, float)) or not isinstance(coverage, (int, float)):
        return ""
    return f": {_percent(precision)} right on the {_percent(coverage)} of slots it annotates"


def _accuracy_table(metrics: Mapping[str, Any]) -> List[str]:
    model = metrics.get("model")
    if not isinstance(model, Mapping):
        return []
    packages = metrics.get("test_packages")
    where = f"{len(packages)} packages" if isinstance(packages, list) else "packages"
    baselines = [
        (title, metrics[key]) for key, title in _BASELINES if isinstance(metrics.get(key), Mapping)
    ]
    header = ["", "slots", "top-1", "top-5"] + [f"{title} top-1" for title, _ in baselines]
    table: List[Sequence[str]] = [header]
    for row in _ROWS:
        scores = model.get(row)
        if not isinstance(scores, Mapping):
            continue
        cells = [row, _count(scores.get("slots")), _rate(scores, "top1"), _rate(scores, "top5")]
        for _, baseline in baselines:
            cells.append(_rate(baseline.get(row), "top1"))
        table.append(cells)
    if len(table) == 1:
        return []
    return [f"accuracy on {where} never seen in training:", *_aligned(table)]


def _category_lines(by_category: Any) -> List[str]:
    if not isinstance(by_category, Mapping):
        return []
    kinds = [kind for kind in ("params", "returns") if isinstance(by_category.get(kind), Mapping)]
    if not kinds:
        return []
    table: List[Sequence[str]] = [["", *(f"{kind} top-1" for kind in kinds)]]
    for category in _CATEGORIES:
        table.append(
            [category, *(_rate(by_category[kind].get(category), "top1") for kind in kinds)]
        )
    return ["by kind of type:", *_aligned(table)]


def _aligned(table: Sequence[Sequence[str]]) -> List[str]:
    """Rows of cells as text: the first column left-aligned, the others right-aligned."""
    widths = [max(len(row[column]) for row in table) for column in range(len(table[0]))]
    out = []
    for row in table:
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:])
        ]
        out.append("  " + "  ".join(cells).rstrip())
    return out


def _rate(scores: Any, key: str) -> str:
    value = scores.get(key) if isinstance(scores, Mapping) else None
    return _percent(value) if isinstance(value, (int, float)) else "-"


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "-"


def _plain(value: Any) -> str:
    """A metric the tables do not show, short: floats rounded, containers summarized."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (int, str)):
        return str(value)
    if isinstance(value, list):
        return f"{len(value)} items (see --json)"
    if isinstance(value, dict):
        return _dict_text(value)
    return str(value)


def _dict_text(value: Dict[str, Any]) -> str:
    flat: List[Tuple[str, str]] = []
    for key, inner in value.items():
        if isinstance(inner, (dict, list)):
            return f"{len(value)} entries (see --json)"
        flat.append((key, _plain(inner)))
    return ", ".join(f"{key} {text}" for key, text in flat)
