"""``localtypes model``'s text: the store's identity and its metrics as tables."""

from __future__ import annotations

from typing import Any, Dict

from localtypes.model.predictor import ModelInfo
from localtypes.model.summary import describe, size_text


def info(metrics: Dict[str, Any]) -> ModelInfo:
    return ModelInfo("m", "9.9", "ab" * 32, "/models/m", 12_345_678, 0.75, metrics)


def test_a_store_without_metrics_says_so() -> None:
    text = describe(info({}))
    assert "threshold: 0.75 (default --min-confidence)\n" in text
    assert text.endswith("metrics:   none recorded in the store's manifest")


def test_tables_show_what_is_there_and_dashes_for_what_is_not() -> None:
    text = describe(
        info(
            {
                "model": {"params": {"slots": 1200, "top1": 0.5, "top5": 0.75}},
                "baseline_per_name": {"params": {"top1": 0.25}},
                "at_default_threshold": {"precision": 0.9, "coverage": 0.4123},
                "by_category": {"params": {"scalar": {"top1": 0.8}}},
                "test_packages": ["a", "b"],
                "inference_seconds": 1.23456,
                "extra": {"nested": {"deep": 1}},
            }
        )
    )
    lines = text.splitlines()
    assert lines[4].endswith(": 90.0% right on the 41.2% of slots it annotates")
    assert "accuracy on 2 packages never seen in training:" in lines
    params = next(line.split() for line in lines if line.strip().startswith("params "))
    assert params == ["params", "1,200", "50.0%", "75.0%", "25.0%"]
    scalar = next(line.split() for line in lines if line.strip().startswith("scalar"))
    assert scalar == ["scalar", "80.0%"]
    assert next(line.split() for line in lines if line.strip().startswith("container")) == [
        "container",
        "-",
    ]
    assert "inference seconds: 1.235" in lines
    assert "extra: 1 entries (see --json)" in lines


def test_sizes_read_as_a_person_reads_them() -> None:
    assert size_text(512) == "512 B"
    assert size_text(3500) == "3.4 KiB"
    assert size_text(12_345_678) == "11.8 MiB"
