"""``annotate --report json``: the records of a run, through worker processes and the cache,
held to ``docs/report.schema.json``; and ``-v`` listing what --check would add."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Tuple

import jsonschema
import pytest
from trees import isolate, make_package, run, snapshot

from localtypes.api import annotate
from localtypes.edit.plan import Reason
from localtypes.model.predictor import Predictor
from localtypes.run.cache import Cache, CacheEntry
from localtypes.run.records import SlotRecord, records_of

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "report.schema.json"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def schema() -> Dict[str, Any]:
    document: Dict[str, Any] = json.loads(SCHEMA_PATH.read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(document)
    return document


def report(args: List[str], schema: Dict[str, Any]) -> Tuple[int, Dict[str, Any], str]:
    """Run ``localtypes annotate --report json ARGS``; the document, checked by the schema."""
    code, out, err = run(["annotate", "--report", "json", *args])
    document: Dict[str, Any] = json.loads(out)
    jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)
    return code, document, err


def records(document: Dict[str, Any]) -> List[Dict[str, Any]]:
    return sorted(document["records"], key=lambda r: (r["file"], r["line"], r["column"], r["kind"]))


def test_check_report_names_every_annotation_and_skip_and_writes_nothing(
    tmp_path: Path, greeter_source: str, schema: Dict[str, Any]
) -> None:
    make_package(tmp_path, greeter_source)
    before = snapshot(tmp_path)
    code, document, err = report(["--check", "-j", "1", "pkg"], schema)
    assert code == 1, err
    assert snapshot(tmp_path) == before
    assert document["mode"] == "check" and document["summary"]["exit_code"] == 1
    added = [r for r in document["records"] if r["action"] == "add"]
    assert len(added) == sum(document["summary"]["added"].values()) > 0
    assert {r["file"] for r in added} == {"pkg/mod0.py"}
    skipped = [r for r in document["records"] if r["action"] == "skip"]
    below = [r for r in skipped if r["reason"] == "below-threshold"]
    assert len(below) == document["summary"]["below_threshold"] > 0
    by_name = {r["qualname"]: r for r in added}
    # a literal default the static pass decides, and the model agrees with
    excited = by_name["Greeter.__init__.excited"]
    assert (excited["type"], excited["chosen_by"], excited["static"]) == (
        "bool",
        "static-rule",
        "bool",
    )
    assert excited["line"] == 7 and excited["column"] == 29  # 1-based line, 0-based column
    assert by_name["Greeter.__init__.name"]["chosen_by"] == "model"
    for record in added:
        assert record["type"] not in [r["type"] for r in record["runner_ups"]]
        assert record["confidence"] >= max([r["confidence"] for r in record["runner_ups"]] or [0])
    files = {f["path"]: f for f in document["files"]}
    assert files["pkg/mod0.py"]["status"] == "changed" and files["pkg/done.py"]["added"] == 0
    assert "would annotate pkg/mod0.py" in err  # the text report still goes to stderr


def test_records_agree_with_what_was_written(
    tmp_path: Path, greeter_source: str, schema: Dict[str, Any]
) -> None:
    files = make_package(tmp_path, greeter_source)
    code, document, err = report(["-j", "1", "pkg"], schema)
    assert code == 0, err
    lines = files["mod0.py"].read_text("utf-8").splitlines()
    original = greeter_source.splitlines()
    for record in document["records"]:
        if record["action"] != "add":
            continue
        # no import was added, so a record's line is the written file's line too (its
        # column is the original's: annotations before it on the line move it)
        line, old = lines[record["line"] - 1], original[record["line"] - 1]
        if record["kind"] == "param":
            assert old[record["column"] :].startswith(record["name"])
            written = f"{record['name']}: {record['annotation']}"
        else:
            assert old[record["column"] :].startswith("def ")
            written = f") -> {record['annotation']}:"
        assert written in line and written not in old
    # a rerun over the written tree adds nothing and still reports what it left out
    code, again, err = report(["-j", "1", "pkg"], schema)
    assert code == 0, err
    assert [r for r in again["records"] if r["action"] == "add"] == []
    assert again["summary"]["below_threshold"] == document["summary"]["below_threshold"]


def test_jobs_2_and_a_cached_rerun_give_the_same_records(
    tmp_path: Path, greeter_source: str, schema: Dict[str, Any]
) -> None:
    make_package(tmp_path, greeter_source, copies=3)
    _, one, _ = report(["--check", "-j", "1", "--no-cache", "pkg"], schema)
    _, two, _ = report(["--check", "-j", "2", "pkg"], schema)  # fills the cache
    _, cached, err = report(["--check", "-j", "2", "pkg"], schema)
    assert all(f["cached"] for f in cached["files"]), err
    assert not any(f["cached"] for f in two["files"])
    assert records(one) == records(two) == records(cached)
    assert {r["file"] for r in one["records"]} == {f"pkg/mod{i}.py" for i in range(3)}


def test_a_cache_filled_without_records_is_recomputed_once(
    tmp_path: Path, greeter_source: str, schema: Dict[str, Any]
) -> None:
    make_package(tmp_path, greeter_source)
    assert run(["annotate", "-j", "1", "pkg"])[0] == 0  # the written outputs: filed as final
    _, first, _ = report(["--check", "-j", "1", "pkg"], schema)
    _, second, _ = report(["--check", "-j", "1", "pkg"], schema)
    cached = {f["path"]: f["cached"] for f in first["files"]}
    # the written file's output was filed without records (its lines moved): recomputed;
    # the files the write left alone were filed with theirs
    assert cached == {"pkg/mod0.py": False, "pkg/done.py": True, "pkg/__init__.py": True}
    assert all(f["cached"] for f in second["files"])
    assert records(first) == records(second)


def test_report_json_and_diff_both_want_stdout() -> None:
    code, out, err = run(["annotate", "--report", "json", "--diff", "."])
    assert code == 2 and out == ""
    assert "--report json and --diff" in err and "Traceback" not in err


def test_schema_lists_every_reason(schema: Dict[str, Any]) -> None:
    listed = set(schema["$defs"]["record"]["properties"]["reason"]["enum"]) - {None}
    assert listed == {reason.value for reason in Reason}


def test_records_survive_the_cache_and_damage_is_a_miss(
    tmp_path: Path, greeter_source: str, predictor: Predictor
) -> None:
    found = records_of(annotate(greeter_source, "mod.py", predictor=predictor))
    assert found and all(isinstance(r, SlotRecord) for r in found)
    cache = Cache.open(str(tmp_path / "c"), "key")
    cache.put("a" * 64, CacheEntry(b"x = 1\n", (("param", 1),), 2, found))
    entry = cache.get("a" * 64)
    assert entry is not None and entry.records == found
    path = cache.folder / "aa" / ("a" * 64)
    header, _, body = path.read_bytes().partition(b"\n")
    meta = json.loads(header)
    meta["records"][0] = ["add", "param"]  # truncated record
    path.write_bytes(json.dumps(meta).encode() + b"\n" + body)
    assert cache.get("a" * 64) is None


def test_check_verbose_lists_each_annotation_and_quiet_stays_quiet(
    tmp_path: Path, greeter_source: str
) -> None:
    make_package(tmp_path, greeter_source)
    code, out, err = run(["annotate", "--check", "-v", "-j", "1", "pkg"])
    assert code == 1 and out == ""
    assert "would annotate pkg/mod0.py (+" in err and "param, " in err
    # 1-based columns, as editors count: `excited` starts at column 30 of line 7
    assert "  7:30 param Greeter.__init__.excited: bool (" in err
    code, out, err = run(["annotate", "--check", "-q", "-j", "1", "pkg"])
    assert (code, out, err) == (1, "", "")


def test_a_failed_file_and_the_stubs_mode_are_in_the_schema(
    tmp_path: Path, greeter_source: str, schema: Dict[str, Any]
) -> None:
    make_package(tmp_path, greeter_source)
    (tmp_path / "pkg" / "broken.py").write_text("def broken(x:\n    return x\n", "utf-8")
    code, document, _ = report(["--check", "-j", "1", "pkg"], schema)
    assert code == 123 and document["summary"]["exit_code"] == 123
    (failed,) = [f for f in document["files"] if f["status"] == "failed"]
    assert failed["path"] == "pkg/broken.py" and "line" in failed["reason"]
    assert not [r for r in document["records"] if r["file"] == "pkg/broken.py"]
    (tmp_path / "pkg" / "broken.py").unlink()
    code, document, err = report(["--stubs", "out", "-j", "1", "pkg"], schema)
    assert code == 0, err
    assert document["mode"] == "stubs" and (tmp_path / "out/pkg/mod0.pyi").is_file()
    assert [r for r in document["records"] if r["action"] == "add"]


def test_a_fallback_and_a_check_rejection_are_named() -> None:
    """The writer's cheap checks, with hand-made guesses: a top guess the default rules
    out gives way to the next (``check-fallback``) or leaves the slot out (its check)."""
    from localtypes.analysis.extract import extract
    from localtypes.analysis.slots import SlotKind
    from localtypes.edit.plan import SlotGuess, WriteOptions
    from localtypes.edit.rounds import write
    from localtypes.run.records import slot_records

    source = "def f(x=0, y=1.5):\n    return x\n"
    guesses = {"f.x": [("str", 0.8), ("int", 0.19)], "f.y": [("str", 0.9), ("bytes", 0.05)]}
    candidates = []
    for slot in extract(source).slots:
        if slot.qualname in guesses:
            (label, confidence), *rest = guesses[slot.qualname]
            candidates.append(SlotGuess(slot, label, confidence, tuple(rest)))
    options = WriteOptions(0.7, frozenset({SlotKind.PARAM}), (3, 11))
    result = write(source, candidates, options)
    found = {r.name: r for r in slot_records(result.added, result.skipped, candidates)}
    assert (found["x"].action, found["x"].type, found["x"].chosen_by) == (
        "add",
        "int",
        "check-fallback",
    )
    assert found["x"].runner_ups == (("str", 0.8),)
    assert (found["y"].action, found["y"].reason) == ("skip", "contradicts-default")
    assert found["y"].static == "float" and found["y"].type == "str"
