"""Golden-file tests for the writer, plus the safety checks.

Each ``tests/data/writer/*.py`` holds a header, the input and the expected output::

    # writer: target=3.8 kinds=param,return,variable newline=crlf
    # slot: param Class.method@1 name -> label
    # slot: return function -> label
    # skip: param function name name-clash
    <input>
    # output:
    <expected output, or the single line "# unchanged">

``slot`` lines give the top guess (confidence 1.0) for a slot; every other slot has none.
``skip`` lines name slots that must be rejected with that reason. ``newline=crlf|cr``
converts input and expected output before the run; ``bom`` runs through the byte-level
decode/encode of ``localtypes.run.files`` with a UTF-8 BOM.
"""

from __future__ import annotations

import ast
import codecs
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

import pytest

from localtypes.analysis.extract import extract
from localtypes.analysis.slots import ExtractedModule, Slot, SlotKind
from localtypes.edit.plan import ImportSpec, SlotGuess, Target, WriteOptions
from localtypes.edit.rounds import WriteResult, write
from localtypes.edit.safety import UnsafeEditError, check_edit, equal_modulo_annotations
from localtypes.errors import SourceError
from localtypes.model.predictor import TypeGuess
from localtypes.module import FUNCTION, ScopeKey
from localtypes.run.files import decode_source

CASES = Path(__file__).parents[1] / "data" / "writer"
SlotRef = Tuple[str, str, int, str]  # kind, scope, occurrence, name


@dataclass
class Case:
    source: str
    expected: str
    options: WriteOptions
    labels: Dict[SlotRef, str] = field(default_factory=dict)
    skips: Set[Tuple[SlotRef, str]] = field(default_factory=set)
    bom: bool = False


def _ref(kind: str, where: str, name: Optional[str]) -> SlotRef:
    scope, _, occurrence = where.partition("@")
    scope = "" if scope == "<module>" else scope
    return (kind, scope, int(occurrence or 0), name or "return")


def load_case(path: Path) -> Case:
    text = path.read_text(encoding="utf-8")
    header: List[str] = []
    lines = text.splitlines(keepends=True)
    while lines and lines[0].startswith(("# writer:", "# slot:", "# skip:")):
        header.append(lines.pop(0).strip())
    body = "".join(lines)
    source, marker, expected = body.partition("# output:\n")
    assert marker, f"{path.name}: no '# output:' line"
    if expected.strip() == "# unchanged":
        expected = source
    settings: Dict[str, str] = {}
    labels: Dict[SlotRef, str] = {}
    skips: Set[Tuple[SlotRef, str]] = set()
    for line in header:
        tag, _, rest = line[2:].partition(":")
        rest = rest.strip()
        if tag == "writer":
            for item in rest.split():
                key, _, value = item.partition("=")
                settings[key] = value
        elif tag == "slot":
            left, _, label = rest.partition(" -> ")
            parts = left.split()
            labels[_ref(parts[0], parts[1], parts[2] if len(parts) > 2 else None)] = label
        else:
            parts = rest.split()
            name = parts[2] if len(parts) > 3 else None
            skips.add((_ref(parts[0], parts[1], name), parts[-1]))
    newline = {"crlf": "\r\n", "cr": "\r"}.get(settings.get("newline", ""), "\n")
    if newline != "\n":
        source, expected = source.replace("\n", newline), expected.replace("\n", newline)
    kinds = settings.get("kinds", "param,return")
    target = tuple(int(part) for part in settings.get("target", "3.11").split("."))
    options = WriteOptions(
        min_confidence=0.5,
        kinds=frozenset(SlotKind(kind) for kind in kinds.split(",")),
        target_version=(target[0], target[1]),
        # The cases test spelling and splicing with made-up labels (``-> deque[int]`` on a
        # ``pass`` body); the cheap checks have their own tests (tests/edit/test_checks.py).
        checks=False,
    )
    return Case(source, expected, options, labels, skips, bom="bom" in settings)


def slot_ref(slot: Slot) -> SlotRef:
    return (slot.kind.value, slot.scope, slot.occurrence, slot.name)


def run_case(case: Case, source: str) -> WriteResult:
    candidates = []
    for slot in extract(source).slots:
        label = case.labels.get(slot_ref(slot))
        candidates.append(SlotGuess(slot, label, 1.0 if label else 0.0))
    return write(source, candidates, case.options, filename="case.py")


@pytest.mark.parametrize("path", sorted(CASES.glob("*.py")), ids=lambda p: p.stem)
def test_golden(path: Path) -> None:
    case = load_case(path)
    source, expected = case.source, case.expected
    if case.bom:
        decoded = decode_source(codecs.BOM_UTF8 + source.encode("utf-8"))
        assert decoded.bom
        source = decoded.text
    result = run_case(case, source)
    assert result.source == expected
    if case.bom:
        assert decoded.encode(result.source) == codecs.BOM_UTF8 + expected.encode("utf-8")
    rejected = {(slot_ref(item.slot), item.reason) for item in result.skipped}
    assert case.skips <= rejected, f"missing rejections: {case.skips - rejected}"
    open_slots = {slot_ref(slot) for slot in extract(source).slots if slot.annotation is None}
    written = {slot_ref(item.slot) for item in result.added}
    assert written == (case.labels.keys() & open_slots) - {ref for ref, _ in rejected}
    # Idempotent: the output annotated again with the same guesses is unchanged.
    assert run_case(case, result.source).source == result.source


# --- safety --------------------------------------------------------------------------------

SOURCE = "def f(x, y=1):\n    return x\n"
F = ScopeKey(FUNCTION, "f", 0)


def test_check_accepts_annotations_and_imports() -> None:
    new = "from pathlib import Path\ndef f(x: Path, y=1):\n    return x\n"
    added = {Target(SlotKind.PARAM, F, "x"): "Path"}
    check_edit(ast.parse(SOURCE), new, added, [ImportSpec("pathlib", "Path")], {"Path"})


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ("def f(x: int, y=2):\n    return x\n", "more than annotations"),
        ("def f(x: int, y=1):\n    return y\n", "more than annotations"),
        ("def f(x: int, y: int = 1):\n    return x\n", "not asked for"),
        ("def f(x: str, y=1):\n    return x\n", "differs from the plan"),
        ("def f(x, y=1):\n    return x\n", "missing"),
        ("def f(x: int, y=1)\n    return x\n", "does not compile"),
    ],
)
def test_check_rejects_broken_edits(new: str, message: str) -> None:
    added = {Target(SlotKind.PARAM, F, "x"): "int"}
    with pytest.raises(UnsafeEditError, match=message):
        check_edit(ast.parse(SOURCE), new, added, [], {"int"})


def test_check_rejects_changed_existing_annotation() -> None:
    old = "def f(x: int, y=1):\n    return x\n"
    new = "def f(x: str, y: int = 1):\n    return x\n"
    added = {Target(SlotKind.PARAM, F, "y"): "int"}
    with pytest.raises(UnsafeEditError, match="existing annotation"):
        check_edit(ast.parse(old), new, added, [], {"int"})


def test_check_rejects_undefined_names() -> None:
    new = "def f(x: Token, y=1):\n    return x\n"
    added = {Target(SlotKind.PARAM, F, "x"): "Token"}
    with pytest.raises(UnsafeEditError, match="undefined names: Token"):
        check_edit(ast.parse(SOURCE), new, added, [], {"Token"})


def test_check_rejects_unannounced_import() -> None:
    new = "import os\ndef f(x: int, y=1):\n    return x\n"
    added = {Target(SlotKind.PARAM, F, "x"): "int"}
    with pytest.raises(UnsafeEditError, match="more than annotations"):
        check_edit(ast.parse(SOURCE), new, added, [], {"int"})


def test_broken_transform_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    import localtypes.edit.rounds
    import localtypes.edit.splice

    real = localtypes.edit.splice.apply_annotations

    def sabotage(source: str, edits: object, index: object) -> localtypes.edit.splice.Applied:
        applied = real(source, edits, index)  # type: ignore[arg-type]
        return localtypes.edit.splice.Applied(
            applied.source.replace("return x", "return None"), applied.written, applied.imports
        )

    monkeypatch.setattr(localtypes.edit.rounds, "apply_annotations", sabotage)
    slot = next(s for s in extract(SOURCE).slots if s.name == "x")
    with pytest.raises(UnsafeEditError, match="changes more than annotations"):
        write(SOURCE, [SlotGuess(slot, "int", 0.9)], WriteOptions(0.5))


def test_internal_error_is_reported_not_raised_raw(monkeypatch: pytest.MonkeyPatch) -> None:
    import localtypes.edit.rounds

    def crash(source: str, edits: object, index: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(localtypes.edit.rounds, "apply_annotations", crash)
    slot = next(s for s in extract(SOURCE).slots if s.name == "x")
    with pytest.raises(UnsafeEditError, match="internal error"):
        write(SOURCE, [SlotGuess(slot, "int", 0.9)], WriteOptions(0.5))


@pytest.mark.parametrize("source", ["def f(:\n    pass\n", "x = (\n", "a\x00b\n"])
def test_unparsable_source_is_a_source_error(source: str) -> None:
    with pytest.raises(SourceError):
        write(source, [], WriteOptions(0.5))


def test_threshold_any_and_missing_guess() -> None:
    source = "def f(a, b, c):\n    return a\n"
    slots = {s.name: s for s in extract(source).slots}
    candidates = [
        SlotGuess(slots["a"], "int", 0.4),
        SlotGuess(slots["b"], "Any", 0.99),
        SlotGuess(slots["c"], None, 0.0),
        SlotGuess(slots["return"], "int", 0.5),
    ]
    result = write(source, candidates, WriteOptions(0.5))
    assert result.source == "def f(a, b, c) -> int:\n    return a\n"
    reasons = {item.slot.name: item.reason for item in result.skipped}
    assert reasons == {"a": "below-threshold", "b": "any", "c": "no-prediction"}


def test_type_alias_is_never_written_as_a_variable_type() -> None:
    # ``x: TypeAlias = ...`` would declare an alias: not a type, and the model would see a
    # new pointer candidate on the next run (the file would not reach a fixed point).
    source = "_space = ' '\n"
    slot = extract(source).slots[0]
    options = WriteOptions(0.5, kinds=frozenset(SlotKind))
    result = write(source, [SlotGuess(slot, "typing.TypeAlias", 0.9)], options)
    assert result.source == source
    assert [item.reason for item in result.skipped] == ["unsupported-label"]


def test_kinds_filter_variables_out_by_default() -> None:
    source = "def f():\n    x = 1\n    return x\n"
    candidates = [SlotGuess(s, "int", 1.0) for s in extract(source).slots]
    result = write(source, candidates, WriteOptions(0.5))
    assert result.source == "def f() -> int:\n    x = 1\n    return x\n"
    assert result.skipped == ()


def test_stub_files_use_modern_syntax_and_no_quotes() -> None:
    source = "def f(x): ...\nclass Later: ...\n"
    candidates = [SlotGuess(s, "Later | None", 1.0) for s in extract(source).slots]
    result = write(source, candidates, WriteOptions(0.5, target_version=(3, 8)), "f.pyi")
    assert result.source == "def f(x: Later | None) -> Later | None: ...\nclass Later: ...\n"
    as_module = write(source, candidates, WriteOptions(0.5, target_version=(3, 8)), "f.py")
    assert '"Optional[Later]"' in as_module.source


# --- core.annotate without the model ---------------------------------------------------------


class _ImportSensitivePredictor:
    """Guesses that change with the module's imports, as the real model's may."""

    def __init__(self) -> None:
        from localtypes.model.predictor import ModelInfo

        self.info = ModelInfo("stub", "0", "0" * 64, "-", 0, 0.5, {})

    def predict(self, module: ExtractedModule, top_k: int = 5) -> List[Tuple[TypeGuess, ...]]:
        seen_pathlib = any(o.startswith("pathlib") for o in module.info.imports.values())
        guesses: List[Tuple[TypeGuess, ...]] = []
        for slot in module.slots:
            if slot.name == "path":
                guesses.append((TypeGuess("pathlib.Path", 0.9),))
            elif slot.name == "folder":  # confident only once pathlib is imported
                guesses.append((TypeGuess("pathlib.Path", 0.9 if seen_pathlib else 0.3),))
            elif slot.kind is SlotKind.RETURN:
                guesses.append((TypeGuess("str | None", 0.8),))
            else:
                guesses.append((TypeGuess("int", 0.4),))
        return guesses


def test_annotate_reaches_a_fixed_point_and_reports() -> None:
    import json

    from localtypes.api import annotate
    from localtypes.settings import Settings

    source = "def f(path, folder, count=0):\n    return None\n"
    predictor = _ImportSensitivePredictor()
    settings = Settings(target_version=(3, 9))
    result = annotate(source, "f.py", settings=settings, predictor=predictor)  # type: ignore[arg-type]
    assert result.source == (
        "from pathlib import Path\nfrom typing import Optional\n\n"
        "def f(path: Path, folder: Path, count=0) -> Optional[str]:\n    return None\n"
    )
    again = annotate(result.source, "f.py", settings=settings, predictor=predictor)  # type: ignore[arg-type]
    assert not again.changed and again.source == result.source
    document = json.loads(json.dumps(result.to_dict()))
    assert [(a["name"], a["annotation"]) for a in document["added"]] == [
        ("path", "Path"),
        ("return", "Optional[str]"),
        ("folder", "Path"),
    ]
    assert document["added"][2]["line"] == 1  # lines of the input, not of a later pass
    assert [(s["name"], s["reason"]) for s in document["skipped"]] == [("count", "below-threshold")]


def test_redefinitions_in_try_branches_never_swap() -> None:
    source = (
        "try:\n    pass\nexcept ImportError:\n    def f(a): pass\n"
        "else:\n    def f(a): pass\n"
        "class A:\n    x = 1\nclass A:\n    x = 2\n"
    )
    by_line = {4: "int", 6: "str", 8: "bytes", 10: "float"}
    candidates = [SlotGuess(s, by_line[s.line], 1.0) for s in extract(source).slots]
    kinds = frozenset({SlotKind.PARAM, SlotKind.VARIABLE})
    result = write(source, candidates, WriteOptions(0.5, kinds))
    lines = result.source.splitlines()
    for item in result.added:  # whatever is written lands on the slot's own line
        assert f": {item.text}" in lines[item.slot.line - 1]
    assert {item.reason for item in result.skipped} <= {"slot-not-found"}


def test_source_that_parses_but_never_compiled_is_a_source_error() -> None:
    source = "def f(x):\n    return x\nfrom __future__ import annotations\n"
    candidates = [SlotGuess(s, "int", 1.0) for s in extract(source).slots]
    with pytest.raises(SourceError, match="does not compile"):
        write(source, candidates, WriteOptions(0.5))


class _CountingPredictor(_ImportSensitivePredictor):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def predict(self, module: ExtractedModule, top_k: int = 5) -> List[Tuple[TypeGuess, ...]]:
        self.calls += 1
        return [(TypeGuess("int", 0.9),) for _slot in module.slots]


def test_annotations_alone_need_no_second_pass() -> None:
    # The model never sees annotations (tests/analysis/test_extract.py), nested ones included: one
    # pass reaches the fixed point, and a second run changes nothing.
    from localtypes.api import annotate

    source = "def outer(wrapped):\n    def inner(fn):\n        return fn\n    return inner\n"
    predictor = _CountingPredictor()
    first = annotate(source, predictor=predictor)  # type: ignore[arg-type]
    assert "def inner(fn: int) -> int:" in first.source
    assert predictor.calls == 1
    assert annotate(first.source, predictor=predictor).source == first.source  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("old", "new", "equal"),
    [
        ("def f(a, *b, c=1, **d):\n    return a\n",
         "def f(a: int, *b: str, c: int = 1, **d: t.Any) -> int:\n    return a\n", True),
        ("x = 1\nclass C:\n    y = [1]\n", "x: int = 1\nclass C:\n    y: list[int] = [1]\n", True),
        ("x: int\n", "x: str\n", True),  # a bare annotation: only its annotation differs
        ("x = 1\n", "x = True\n", False),  # 1 == True, but not the same constant
        ("x = 1\n", "y: int = 1\n", False),
        ("x = 1\n", "x: int\n", False),
        ("x: int = 1\n", "x: int\n", False),
        ("def f(a):\n    pass\n", "def f(a, b):\n    pass\n", False),
        ("f(a)\n", "f(a)\nf(a)\n", False),
        ("x = y = 1\n", "x: int = 1\n", False),
    ],
)  # fmt: skip
def test_equal_modulo_annotations(old: str, new: str, equal: bool) -> None:
    assert equal_modulo_annotations(ast.parse(old), ast.parse(new)) is equal
