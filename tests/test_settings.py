"""Settings: the frozen object and the one table of value parsers (TOML, env, JSON, text)."""

from __future__ import annotations

import re
import sys

import pytest

from localtypes.analysis.slots import SlotKind
from localtypes.settings import (
    Settings,
    parse_json_value,
    parse_target_version,
    parse_text_value,
)


@pytest.mark.parametrize("value", ["3.99", "3.15", "py399", "4.0", "3.6"])
def test_a_target_version_python_does_not_have_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match=re.escape("expected a Python version from 3.7 to 3.1")):
        parse_target_version(value)


@pytest.mark.parametrize("value", ["3.7", "3.14", "py314", f"3.{sys.version_info[1]}"])
def test_every_python_there_is_is_a_target(value: str) -> None:
    assert parse_target_version(value) == (3, int(value.replace("py3", "3.").split(".")[1]))


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.jobs = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("top_k", "3", "expected an integer, got '3'"),
        ("top_k", 21, "expected an integer between 1 and 20, got 21"),
        ("top_k", True, "expected an integer"),
        ("min_confidence", "0.5", "expected a number, got '0.5'"),
        ("min_confidence", float("nan"), "expected a finite number"),
        ("kinds", "param", "expected a list, got 'param'"),
        ("kinds", [], "expected at least one kind"),
        ("target_version", 3.9, "expected a string, got 3.9"),
    ],
)
def test_json_values_are_typed(name: str, value: object, needle: str) -> None:
    with pytest.raises(ValueError, match=re.escape(needle)):
        parse_json_value(name, value)


def test_json_values_that_parse() -> None:
    assert parse_json_value("top_k", 3) == 3
    assert parse_json_value("min_confidence", None) is None
    assert parse_json_value("kinds", [" Param", "return"]) == {SlotKind.PARAM, SlotKind.RETURN}
    assert parse_json_value("target_version", "py38") == (3, 8)


def test_text_values_parse_like_environment_variables() -> None:
    assert parse_text_value("top_k", "7") == 7
    assert parse_text_value("kinds", "param,variable") == {SlotKind.PARAM, SlotKind.VARIABLE}
    assert parse_text_value("min_confidence", "auto") is None
    with pytest.raises(ValueError, match="finite"):
        parse_text_value("min_confidence", "nan")
