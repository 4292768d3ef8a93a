"""``localtypes explain`` and ``localtypes.api.explain`` on real files with the real model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from trees import isolate, make_package, run

from localtypes.api import annotate, explain
from localtypes.errors import SourceError
from localtypes.explain import NoSlotError, evidence_groups, parse_place
from localtypes.model.predictor import Predictor
from localtypes.run.records import records_of


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(tmp_path, monkeypatch)


def test_explain_a_def_line_shows_guesses_evidence_and_what_annotate_writes(
    tmp_path: Path, greeter_source: str
) -> None:
    make_package(tmp_path, greeter_source)
    code, out, err = run(["explain", "pkg/mod0.py:7"])  # def __init__(self, name, excited=False)
    assert code == 0, err
    blocks = out.strip().split("\n\n")
    heads = [block.splitlines()[0] for block in blocks]
    assert heads == [
        "pkg/mod0.py:7:24: param Greeter.__init__.name",
        "pkg/mod0.py:7:30: param Greeter.__init__.excited",
        "pkg/mod0.py:7:5: return Greeter.__init__",
    ]
    excited = blocks[1]
    assert re.search(r"static rule \[[0-9.]+%\]: from the default: bool", excited)
    assert "annotate: writes bool (" in excited and "the static pass decided it" in excited
    assert "% " in excited and "  bool" in excited  # ranked guesses with confidences


def test_explain_agrees_with_the_report_and_a_column_picks_one_slot(
    tmp_path: Path, greeter_source: str
) -> None:
    make_package(tmp_path, greeter_source)
    _, report, _ = run(["annotate", "--check", "--report", "json", "-j", "1", "pkg"])
    records = {
        (r["line"], r["column"]): r
        for r in json.loads(report)["records"]
        if r["file"] == "pkg/mod0.py"
    }
    for (line, column), record in records.items():
        code, out, err = run(["explain", "--json", f"pkg/mod0.py:{line}:{column + 1}"])
        assert code == 0, err
        (slot,) = json.loads(out)["slots"]
        assert (slot["line"], slot["column"], slot["kind"]) == (line, column, record["kind"])
        assert slot["annotate"]["action"] == record["action"]
        assert slot["annotate"]["type"] == record["type"]
        assert slot["annotate"]["reason"] == record["reason"]
        top = slot["predictions"][0]
        assert slot["predictions"] == sorted(slot["predictions"], key=lambda p: -p["confidence"])
        if record["action"] == "skip" and record["reason"] == "below-threshold":
            assert (
                top["type"] == record["type"]
                and "below the threshold" in slot["annotate"]["verdict"]
            )
    # a column inside `excited=False` still means `excited`
    code, out, _ = run(["explain", "--json", "pkg/mod0.py:7:40"])
    assert code == 0 and [s["name"] for s in json.loads(out)["slots"]] == ["excited"]


def test_explain_says_why_a_slot_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        "def f(x: int, y=0):\n    limit = 10\n    return x + y + limit\n", "utf-8"
    )
    code, out, err = run(["explain", "m.py:1"])
    assert code == 0, err
    assert "annotate: leaves it: already annotated (int)" in out
    code, out, err = run(["explain", "m.py:2"])
    assert code == 0, err
    assert "variable slots are not annotated with these settings" in out
    code, out, err = run(["explain", "--kinds", "variable", "m.py:2"])
    assert code == 0 and re.search(r"static rule \[[0-9.]+%\]: from the value: int", out)


def test_call_sites_in_other_modules_are_evidence(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n", "utf-8")
    (pkg / "lib.py").write_text("def scale(value, factor):\n    return value * factor\n", "utf-8")
    (pkg / "use.py").write_text(
        "from pkg.lib import scale\n\nscale(2.5, 3)\nscale(1.5, 2)\n", "utf-8"
    )
    code, out, err = run(["explain", "--json", "pkg/lib.py:1:11"])
    assert code == 0, err
    (slot,) = json.loads(out)["slots"]
    assert slot["name"] == "value"
    assert "xst:float" in slot["evidence"]["call sites in the project"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["explain", "pkg/mod0.py:2"], "no parameter, return or variable starts here"),
        (["explain", "pkg/mod0.py:9999"], "nearest lines with one: "),
        (["explain", "pkg/missing.py:3"], "no such file"),
        (["explain", "pkg/mod0.py"], "expected FILE:LINE or FILE:LINE:COL"),
        (["explain", "pkg/mod0.py:0"], "count from 1"),
        (["explain", "pkg:3"], "no such file"),
    ],
)
def test_bad_places_exit_2_with_a_message(
    tmp_path: Path, greeter_source: str, args: list[str], message: str
) -> None:
    make_package(tmp_path, greeter_source)
    code, out, err = run(args)
    assert code == 2, err
    assert message in err and "Traceback" not in err and out == ""


def test_a_file_that_does_not_parse_is_named_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def broken(x:\n    return x\n", "utf-8")
    code, out, err = run(["explain", "broken.py:1"])
    assert code == 123 and out == ""
    assert err.startswith("Error: ") and "line" in err and "Traceback" not in err


def test_api_explain(greeter_source: str, predictor: Predictor) -> None:
    found = explain(greeter_source, "mod.py", line=29, predictor=predictor)
    assert [item.slot.name for item in found.slots] == ["text", "return"]
    records = records_of(annotate(greeter_source, "mod.py", predictor=predictor))
    assert {item.record for item in found.slots} <= set(records)
    with pytest.raises(NoSlotError):
        explain(greeter_source, "mod.py", line=1, predictor=predictor)
    with pytest.raises(SourceError):
        explain("def (:\n", "mod.py", line=1, predictor=predictor)


def test_parse_place() -> None:
    assert parse_place("a/b.py:12") == ("a/b.py", 12, None)
    assert parse_place("a/b.py:12:5") == ("a/b.py", 12, 4)
    assert parse_place("C:/x.py:3") == ("C:/x.py", 3, None)
    for bad in ("a.py", "a.py:", "a.py:x", ":3", "a.py:0", "a.py:3:0"):
        with pytest.raises(ValueError):
            parse_place(bad)


def test_evidence_groups_keep_every_feature_once() -> None:
    features = ("k:param", "sd:bool", "xn:2", "xst:int", "n:count", "um:strip", "doc:int", "zz")
    groups = evidence_groups(features)
    assert sorted(f for _, group in groups for f in group) == sorted(features)
    assert [name for name, _ in groups][:2] == ["static rule", "call sites in the project"]


def test_each_evidence_group_says_how_much_it_weighed(predictor: Predictor) -> None:
    """``factor`` is a float mostly by its name: without the names group the model is far
    less sure; the text puts the heaviest group first."""
    source = "def scale(factor, amount):\n    return amount * factor\n"
    (slot,) = explain(source, "m.py", line=1, column=10, predictor=predictor).slots
    assert slot.guesses[0].label == "float"
    without = dict(slot.without)
    assert set(without) == {group for group, _ in slot.evidence}
    assert without["names"] < slot.guesses[0].confidence - 0.2
    assert all(0.0 <= conf <= 1.0 for conf in without.values())
    document = slot.to_dict()
    assert document["top_guess_without"] == {g: round(c, 4) for g, c in slot.without}
    text = explain(source, "m.py", line=1, column=10, predictor=predictor).render()
    groups = [line.split(" [")[0].strip() for line in text.splitlines() if " [" in line]
    assert groups[0] == "names"
    weights = [without[group] for group in groups]
    assert weights == sorted(weights)  # heaviest (lowest without it) first
