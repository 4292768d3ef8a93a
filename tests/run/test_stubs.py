"""``annotate --stubs OUT``: stubs with annotate's choices, type-checked by mypy against a
caller; the sources are never touched; a bad OUT is a usage error."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from trees import isolate, make_package, run, snapshot

from localtypes.run.stubs import module_of, stub_root


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(tmp_path, monkeypatch)


def test_stubs_mirror_the_package_carry_annotates_choices_and_leave_sources_alone(
    tmp_path: Path, greeter_source: str
) -> None:
    make_package(tmp_path, greeter_source, copies=2)
    before = snapshot(tmp_path)
    code, out, err = run(["annotate", "--stubs", "out", "-j", "2", "pkg"])
    assert code == 0 and out == "", err
    assert snapshot(tmp_path) == before
    stubs = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*"))
    assert stubs == [
        "pkg",
        "pkg/__init__.pyi",
        "pkg/done.pyi",
        "pkg/mod0.pyi",
        "pkg/mod1.pyi",
    ]
    assert "stubbed pkg/mod0.py (+" in err and "under out" in err
    # what annotate would write (its report) is in the stub, signature by signature
    _, report, _ = run(["annotate", "--check", "--report", "json", "-j", "1", "pkg"])
    stub = (tmp_path / "out/pkg/mod0.pyi").read_text("utf-8")
    tree = ast.parse(stub)
    functions = {node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    added = [r for r in json.loads(report)["records"] if r["file"] == "pkg/mod0.py"]
    assert added
    for record in added:
        if record["action"] != "add":
            continue
        node = functions[record["qualname"].split(".")[-1 if record["kind"] == "return" else -2]]
        if record["kind"] == "return":
            assert node.returns is not None and ast.unparse(node.returns) == record["annotation"]
        else:
            (arg,) = [a for a in node.args.args if a.arg == record["name"]]
            assert arg.annotation is not None
            assert ast.unparse(arg.annotation) == record["annotation"]
    assert (
        (tmp_path / "out/pkg/done.pyi")
        .read_text("utf-8")
        .startswith("def already(x: int) -> int: ...")
    )


@pytest.mark.slow  # mypy in a subprocess
def test_stubs_type_check_with_mypy_against_a_caller(tmp_path: Path, greeter_source: str) -> None:
    make_package(tmp_path, greeter_source)
    code, _, err = run(["annotate", "--stubs", "out", "-j", "1", "pkg"])
    assert code == 0, err
    caller = tmp_path / "elsewhere" / "caller.py"
    caller.parent.mkdir()
    caller.write_text(
        "from pkg.mod0 import Greeter, count_lines\n"
        "n: int = count_lines('a\\nb')\n"
        "g = Greeter('ann', excited=True)\n"
        "size: int = len(g)\n"
        "bad = count_lines(3)\n",
        "utf-8",
    )
    # only the stubs on the path: the sources are not importable from there
    env = {**os.environ, "MYPYPATH": str(tmp_path / "out")}
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--strict", "caller.py"],
        cwd=caller.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    errors = [line for line in checked.stdout.splitlines() if ": error:" in line]
    mine = [line for line in errors if line.startswith("caller.py:")]
    assert len(mine) == 1, checked.stdout + checked.stderr
    assert mine[0].startswith("caller.py:5:") and '"int"; expected "str"' in mine[0]
    # the stubs themselves: only what --strict says of the slots the model left open
    assert all(line.endswith("[no-untyped-def]") for line in errors if line not in mine)


def test_a_module_with_its_own_pyi_gets_that_stub(tmp_path: Path, greeter_source: str) -> None:
    """``m.py`` and ``m.pyi`` both map to ``OUT/m.pyi``: the project's own stub is the one
    written (from the .pyi), the .py is named as skipped, never written over it."""
    make_package(tmp_path, greeter_source)
    own = "def exists(path, follow_symlinks=...): ...\n"
    (tmp_path / "pkg" / "mod0.pyi").write_text(own, "utf-8")
    code, _, err = run(["annotate", "--stubs", "out", "-v", "-j", "1", "pkg"])
    assert code == 0, err
    assert "pkg/mod0.py skipped (--stubs: its stub is the .pyi beside it" in err
    stub = (tmp_path / "out/pkg/mod0.pyi").read_text("utf-8")
    assert "class Greeter" not in stub and "def exists(" in stub  # from the .pyi


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("pkg/stubs", "inside the sources"),
        ("pkg", "inside the sources"),
        (".", "beside the sources"),
        ("pkg/mod0.py", "is a file"),
    ],
)
def test_a_bad_stubs_folder_is_a_usage_error_and_writes_nothing(
    tmp_path: Path, greeter_source: str, out: str, message: str
) -> None:
    make_package(tmp_path, greeter_source)
    before = sorted(tmp_path.rglob("*"))
    code, stdout, err = run(["annotate", "--stubs", out, "-j", "1", "pkg"])
    assert code == 2, err
    assert message in err and "Traceback" not in err and stdout == ""
    assert sorted(tmp_path.rglob("*")) == before


def test_stubs_go_with_neither_check_nor_diff(tmp_path: Path, greeter_source: str) -> None:
    make_package(tmp_path, greeter_source)
    for flag in ("--check", "--diff"):
        code, _, err = run(["annotate", "--stubs", "out", flag, "pkg"])
        assert code == 2 and "--stubs" in err
    assert not (tmp_path / "out").exists()


def test_without_mypy_stubs_say_what_to_install(
    tmp_path: Path, greeter_source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_package(tmp_path, greeter_source)
    monkeypatch.setitem(sys.modules, "mypy.stubgen", None)  # import fails as if absent
    code, _, err = run(["annotate", "--stubs", "out", "pkg"])
    assert code == 2 and "pip install 'localtypes[verify]'" in err
    assert not (tmp_path / "out").exists()


def test_stub_root_climbs_past_packages(tmp_path: Path) -> None:
    package = tmp_path / "src" / "pkg" / "sub"
    package.mkdir(parents=True)
    for folder in (package, package.parent):
        (folder / "__init__.py").write_text("", "utf-8")
    (package / "mod.py").write_text("", "utf-8")
    assert stub_root([str(package)]) == tmp_path / "src"
    assert stub_root([str(package / "mod.py")]) == tmp_path / "src"
    root = str(tmp_path / "src")
    assert module_of(str(package / "mod.py"), root) == "pkg.sub.mod"
    assert module_of(str(package / "__init__.py"), root) == "pkg.sub"
