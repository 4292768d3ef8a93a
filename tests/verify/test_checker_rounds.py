"""Check after check, the checker reports what a cold mypy build of the same texts reports.

The project: some of the writer's golden inputs and the smoke corpus (real modules), plus
an untyped caller of the inventory module. Each step gives new texts for some files, as
the verify stage's rounds do (annotations replaced, dropped, given back), quickly one
after the other: the checker's one mirror and incremental cache must not hide a change.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

pytest.importorskip("mypy", reason="the verify extra (mypy) is not installed")

from localtypes.verify.checker import Checker, Diagnostic

DATA = Path(__file__).resolve().parents[1] / "data"
WRITER = ("basic.py", "special_labels.py", "params.py", "variables.py")
CALLER = """\
from store import Inventory, Item, parse_count

def fill(inventory, names):
    for name in names:
        inventory.add(Item(name, 1.5, parse_count("3")))
    return inventory.value()

print(fill(Inventory(), ["a"]) + 1)
"""


def _project(tmp_path: Path) -> Tuple[Path, List[str]]:
    root = tmp_path / "project"
    for name in WRITER:
        (root / "writer").mkdir(parents=True, exist_ok=True)
        shutil.copy(DATA / "writer" / name, root / "writer" / name)
    shutil.copytree(DATA / "smoke_corpus", root / "corpus")
    (root / "corpus" / "inventory" / "app.py").write_text(CALLER, encoding="utf-8")
    return root, sorted(str(p) for p in root.rglob("*.py"))


def _edit(path: Path, *pairs: Tuple[str, str]) -> bytes:
    text = path.read_text(encoding="utf-8")
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new)
    return text.encode("utf-8")


def _steps(root: Path) -> List[Dict[str, bytes]]:
    store = root / "corpus" / "inventory" / "store.py"
    geometry = root / "corpus" / "shapes" / "geometry.py"
    app = root / "corpus" / "inventory" / "app.py"
    basic = root / "writer" / "basic.py"
    wrong = _edit(store, ("price: float", "price: str"))
    # the size of the text before it: mypy trusts a cached module with the same size and
    # modification time (to the second)
    same_size = _edit(store, ("price: float", "price: int"))
    return [
        {},
        {str(store): wrong},  # an error in the caller, which did not change
        {str(store): same_size},
        {str(store): same_size, str(app): _edit(app, ("def fill(inventory, names):",
                                                      "def fill(inventory, names) -> str:"))},
        {str(geometry): _edit(geometry, ("def scaled(self, factor: float) -> Point:",
                                         "def scaled(self, factor: float) -> int:"))},
        {str(basic): basic.read_bytes() + b"\nx: int = 'a'\n"},
        {},  # every file back as it is on disk
    ]  # fmt: skip


def _full(root: Path, files: List[str], texts: Dict[str, bytes], cache: Path) -> List[Diagnostic]:
    """A cold build of these texts (a fresh checker, a fresh cache)."""
    shutil.rmtree(cache, ignore_errors=True)
    return Checker(root, files, cache, key="full").check(texts)


def _key(found: List[Diagnostic]) -> List[Tuple[str, int, str, str]]:
    return sorted((d.path, d.line, d.code, d.message) for d in found)


def test_each_check_reports_what_a_cold_build_of_its_texts_reports(tmp_path: Path) -> None:
    root, files = _project(tmp_path)
    steps = _steps(root)
    checker = Checker(root, files, tmp_path / "cache")
    found = [_key(checker.check(texts)) for texts in steps]
    expected = [_key(_full(root, files, texts, tmp_path / "full")) for texts in steps]
    assert found == expected
    # new errors in the caller, which did not change, and the same-size text's own
    assert expected[1] != expected[2] != expected[0] == expected[-1]
    assert any(path.endswith("app.py") for path, _, _, _ in set(expected[2]) - set(expected[0]))


def test_the_warming_process_leaves_the_cache_warm(tmp_path: Path) -> None:
    root, files = _project(tmp_path)
    checker = Checker(root, files, tmp_path / "cache")
    assert checker.warm().wait(timeout=120) == 0
    steps = _steps(root)
    found = [_key(checker.check(texts)) for texts in steps[:2]]
    assert found == [_key(_full(root, files, texts, tmp_path / "full")) for texts in steps[:2]]
