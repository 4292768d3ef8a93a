"""``localtypes.api.annotate`` end to end with the real model."""

from __future__ import annotations

import ast
import json

import pytest

from localtypes.analysis.slots import SlotKind
from localtypes.api import annotate
from localtypes.errors import SourceError
from localtypes.model.predictor import Predictor
from localtypes.settings import Settings

SOURCE = '''"""A small module of the kind users annotate."""
import os


class Config:
    def __init__(self, name, debug=False, retries=3):
        self.name = name
        self.debug = debug
        self.retries = retries

    def __str__(self):
        return f"Config({self.name})"

    def is_debug(self):
        return self.debug is True

    def describe(self, verbose=False):
        if verbose:
            return "config " + self.name
        return self.name


def load(path):
    with open(path) as handle:
        return Config(handle.read().strip())


def count_lines(text):
    total = 0
    for line in text.splitlines():
        total += 1
    return total
'''


def test_annotate_writes_confident_types_safely(predictor: Predictor) -> None:
    result = annotate(SOURCE, "config.py", predictor=predictor)
    assert result.changed == bool(result.added)
    compile(result.source, "config.py", "exec", dont_inherit=True)
    written = {(item.slot.scope, item.slot.name): item.text for item in result.added}
    # The easy ones the design says a model gets right when it is confident.
    if ("Config.__init__", "return") in written:
        assert written[("Config.__init__", "return")] == "None"
    if ("Config.__str__", "return") in written:
        assert written[("Config.__str__", "return")] == "str"
    for item in result.added:
        assert item.confidence >= predictor.info.threshold
        assert item.slot.annotation is None
    # Idempotent.
    assert annotate(result.source, "config.py", predictor=predictor).source == result.source


def test_threshold_from_settings(predictor: Predictor) -> None:
    nothing = annotate(SOURCE, settings=Settings(min_confidence=1.01), predictor=predictor)
    assert not nothing.changed and nothing.source == SOURCE
    assert nothing.skipped
    assert {item.reason for item in nothing.skipped} <= {"below-threshold", "no-prediction"}
    everything = annotate(SOURCE, settings=Settings(min_confidence=0.0), predictor=predictor)
    assert everything.changed and everything.added
    assert len(everything.added) >= len(annotate(SOURCE, predictor=predictor).added)
    assert {item.reason for item in everything.skipped} <= {
        "any",
        "unresolvable-name",
        "name-clash",
        "unsupported-label",
        "too-new-for-target",
    }


def test_kinds_and_target_version(predictor: Predictor) -> None:
    settings = Settings(
        min_confidence=0.0,
        kinds=frozenset({SlotKind.VARIABLE}),
        target_version=(3, 8),
    )
    result = annotate(SOURCE, settings=settings, predictor=predictor)
    assert all(item.slot.kind is SlotKind.VARIABLE for item in result.added)
    for item in result.added:
        assert "|" not in item.text  # 3.8 without the future import: Optional/Union
    ast.parse(result.source)


def test_to_dict_is_the_json_document(predictor: Predictor) -> None:
    settings = Settings(min_confidence=0.0)
    result = annotate(SOURCE, "config.py", settings=settings, predictor=predictor)
    document = json.loads(json.dumps(result.to_dict()))
    assert document["path"] == "config.py"
    assert document["changed"] is True
    assert document["source"] == result.source
    assert document["model"]["name"] == predictor.info.name
    first = document["added"][0]
    fields = {"kind", "qualname", "name", "line", "column", "type", "annotation", "confidence"}
    assert fields <= set(first)
    for skipped in document["skipped"]:
        assert skipped["reason"]


def test_unparsable_source(predictor: Predictor) -> None:
    with pytest.raises(SourceError) as info:
        annotate("def broken(:\n    pass\n", predictor=predictor)
    assert info.value.line == 1


def test_empty_and_annotated_sources_are_unchanged(predictor: Predictor) -> None:
    assert not annotate("", predictor=predictor).changed
    typed = "def f(x: int) -> int:\n    return x\n"
    assert annotate(typed, predictor=predictor).source == typed
