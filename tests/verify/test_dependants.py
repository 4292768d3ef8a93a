"""The project's modules that import an annotated one (``localtypes.verify.dependants``),
and why the checker reads them: an annotation that breaks a caller the run left alone."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("mypy", reason="the verify extra (mypy) is not installed")

from verifying import project as _project
from verifying import target as _target

from localtypes.verify.checker import Checker
from localtypes.verify.dependants import dependants, imports_of, module_of
from localtypes.verify.stage import verify


def test_modules_are_named_from_the_first_folder_that_is_not_a_package(tmp_path: Path) -> None:
    root = _project(tmp_path, {"src/pkg/__init__.py": "", "src/pkg/sub/__init__.py": "",
                               "src/pkg/sub/mod.py": "", "tests/test_x.py": ""})  # fmt: skip
    assert module_of(root / "src/pkg/sub/mod.py") == "pkg.sub.mod"
    assert module_of(root / "src/pkg/sub/__init__.py") == "pkg.sub"
    assert module_of(root / "tests/test_x.py") == "test_x"


def test_imports_are_absolute_and_relative_ones_resolved(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/sub/__init__.py": "from . import mod\nfrom ..util import helper\n",
            "pkg/a.py": "import os.path\nfrom .sub.mod import thing\n",
        },
    )
    assert imports_of(root / "pkg/sub/__init__.py") == {"pkg.sub", "pkg.sub.mod", "pkg.util",
                                                        "pkg.util.helper"}  # fmt: skip
    assert imports_of(root / "pkg/a.py") == {"os.path", "pkg.sub.mod", "pkg.sub.mod.thing"}
    (root / "broken.py").write_text("import (\n", encoding="utf-8")
    assert imports_of(root / "broken.py") == set()


def test_dependants_import_an_annotated_module_or_a_package_above_it(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/core.py": "def f():\n    return 1\n",
            "pkg/other.py": "import json\n",
            "tests/test_core.py": "from pkg.core import f\n",
            "tests/test_pkg.py": "import pkg\n",
            "tests/test_json.py": "import json\n",
        },
    )
    every = sorted(root.rglob("*.py"))
    found = dependants([str(root / "pkg/core.py")], every)
    names = sorted(Path(path).name for path in found)
    assert names == ["test_core.py", "test_pkg.py"]  # pkg/__init__.py imports nothing


def test_an_error_an_annotation_causes_in_a_dependant_drops_it(tmp_path: Path) -> None:
    """The run annotates pkg/scale.py only (tests excluded); the test passes a str where
    the wrong guess says int. Checked with its dependants, the guess gives way."""
    root = _project(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/scale.py": "def double(value):\n    return value * 2\n",
            "tests/test_scale.py": (
                "from pkg.scale import double\n\n\ndef test_double():\n"
                "    assert double('ab') == 'abab'\n"
            ),
        },
    )
    annotated = root / "pkg/scale.py"
    run = [str(root / "pkg/__init__.py"), str(annotated)]  # what the run annotates
    target = _target(annotated, {"double.value": [("int", 0.9)]})
    assert "value: int" in target.text
    alone = Checker(root, run, tmp_path / "alone")
    assert verify([target], alone).dropped == 0  # the test is not checked: nothing is wrong
    target = _target(annotated, {"double.value": [("int", 0.9)]})
    also = dependants(run, sorted(root.rglob("*.py")))
    assert [Path(path).name for path in also] == ["test_scale.py"]
    checker = Checker(root, [*run, *also], tmp_path / "with")
    stats = verify([target], checker)
    assert (stats.dropped, stats.remaining) == (1, 0)
    assert "def double(value):" in target.text
