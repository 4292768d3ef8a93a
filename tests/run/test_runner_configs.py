"""The runner over trees with several configurations (a monorepo), target versions that
nothing configures, and skip comments: ``localtypes annotate`` in process, on real files
with the real model."""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import pytest
from trees import isolate, run

# The bundled model writes ``email`` (0.99), the return (1.0) and ``name`` (0.88).
USER = """\
class User:
    def __init__(self, name, email=None):
        self.name = name
        self.email = email
"""


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own cache and no LOCALTYPES_* from the outside."""
    isolate(tmp_path, monkeypatch)
    return tmp_path / "cache"


def monorepo(root: Path) -> Dict[str, Path]:
    """``a`` requires 3.8; ``b`` requires 3.10, writes only at 0.95 and excludes a file
    (relative to its own folder: ``a`` has the same path and takes it)."""
    (root / ".git").mkdir()
    projects = {
        "a": '[project]\nrequires-python = ">=3.8"\n',
        "b": '[project]\nrequires-python = ">=3.10"\n'
        '[tool.localtypes]\nmin-confidence = 0.95\nexclude = ["src/pkg/gen.py"]\n',
    }
    files = {}
    for name, text in projects.items():
        (root / name / "src" / "pkg").mkdir(parents=True)
        (root / name / "pyproject.toml").write_text(text, encoding="utf-8")
        for module in ("user", "gen"):
            path = root / name / "src" / "pkg" / f"{module}.py"
            path.write_text(USER, encoding="utf-8")
            files[f"{name}/{module}"] = path
    return files


def snapshot(root: Path) -> Dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.py"))}


def test_each_sub_project_gets_its_own_target_threshold_and_excludes(
    tmp_path: Path, isolated: Path
) -> None:
    files = monorepo(tmp_path)
    code, _, err = run(["annotate", "."])
    assert code == 0, err
    a, b = files["a/user"].read_text(), files["b/user"].read_text()
    # a requires 3.8: no ``X | None``; its threshold is the model's
    assert "email: Optional[str] = None" in a and "from typing import Optional" in a
    assert "name: str" in a
    # b requires 3.10; its min-confidence (0.95) leaves ``name`` (0.88) out
    assert "email: str | None = None" in b and "Optional" not in b
    assert "name," in b and "name: str" not in b
    # b's exclude is relative to b/: b's gen.py is left out, a's is annotated
    assert files["b/gen"].read_text() == USER and files["a/gen"].read_text() == a
    assert "3 files annotated" in err
    assert 'a: target Python 3.8 (requires-python ">=3.8" in a/pyproject.toml).' in err
    assert 'b: target Python 3.10 (requires-python ">=3.10" in b/pyproject.toml).' in err
    # the settings differ, so do the cache keys: one folder of results each
    assert len(list((isolated / "v1").iterdir())) == 2
    before = snapshot(tmp_path)
    code, _, err = run(["annotate", "-v", "."])
    assert code == 0 and snapshot(tmp_path) == before
    assert "3 files answered from the cache." in err


def test_flags_override_every_sub_project(tmp_path: Path) -> None:
    files = monorepo(tmp_path)
    code, out, err = run(["annotate", "--diff", "--target-version", "3.9", "."])
    assert code == 0, err
    assert out.count("+from typing import Optional") == 3
    assert "email: Optional[str] = None" in out and "| None" not in out
    assert "a: target Python 3.9 (--target-version)." in err
    assert files["a/user"].read_text() == USER  # --diff writes nothing


def test_a_broken_sub_project_config_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    monorepo(tmp_path)
    (tmp_path / "b" / "pyproject.toml").write_text("[tool.localtypes\n", encoding="utf-8")
    before = snapshot(tmp_path)
    code, _, err = run(["annotate", "."])
    assert code == 2
    assert f"{Path('b') / 'pyproject.toml'}: cannot read" in err
    assert "Traceback" not in err and snapshot(tmp_path) == before
    # a run that does not reach b is not stopped by it
    code, _, err = run(["annotate", "a"])
    assert code == 0, err


def test_run_wide_keys_of_a_sub_project_are_named(tmp_path: Path) -> None:
    monorepo(tmp_path)
    with (tmp_path / "b" / "pyproject.toml").open("a", encoding="utf-8") as handle:
        handle.write("jobs = 3\n")
    code, _, err = run(["annotate", "--check", "."])
    assert code == 1
    assert (
        "warning: b/pyproject.toml sets jobs, a setting of the whole run: this run takes it "
        "from the defaults" in err
    )


def test_with_no_requires_python_the_target_is_inferred_and_said(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n', encoding="utf-8")
    (tmp_path / "user.py").write_text(USER, encoding="utf-8")
    code, _, err = run(["annotate", "-v", "user.py"])
    assert code == 0, err
    # 3.10 (the floor): X | None, whatever Python runs localtypes
    assert "email: str | None = None" in (tmp_path / "user.py").read_text()
    said = (
        "Target Python 3.10 (no requires-python; 3.10, the oldest Python upstream supported "
        "until 2026-10, or newer where a file's syntax already needs it)"
    )
    assert f"  {said}" in err.splitlines()  # -v's header
    assert f"{said}." in err.splitlines()  # the summary


def test_skip_comments_in_a_run(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nrequires-python = ">=3.10"\n', "utf-8")
    said_no = tmp_path / "said_no.py"
    said_no.write_text("# localtypes: skip-file\n" + USER, encoding="utf-8")
    partly = tmp_path / "partly.py"
    source = USER.replace("def __init__(self, name, email=None):", "def __init__(\n"
                          "        self,\n        name,\n        email=None,  # localtypes: skip\n"
                          "    ):")  # fmt: skip
    partly.write_text(source, encoding="utf-8")
    code, _, err = run(["annotate", "-v", "."])
    assert code == 0, err
    assert said_no.read_text() == "# localtypes: skip-file\n" + USER
    assert "said_no.py skipped (# localtypes: skip-file)" in err
    assert "1 file annotated, 0 files unchanged, 1 file skipped (# localtypes: skip-file)." in err
    text = partly.read_text()
    assert "name: str," in text and "email=None,  # localtypes: skip" in text
    # a second run: the skipped file is skipped again, not "unchanged (cached)"
    code, _, err = run(["annotate", "."])
    assert "1 file skipped (# localtypes: skip-file)" in err


@pytest.mark.slow  # starts a worker process
def test_workers_take_each_file_its_settings(tmp_path: Path) -> None:
    files = monorepo(tmp_path)
    code, _, err = run(["annotate", "--no-cache", "--jobs", "2", "."])
    assert code == 0, err
    assert "email: Optional[str] = None" in files["a/user"].read_text()
    b = files["b/user"].read_text()
    assert "email: str | None = None" in b and "name: str" not in b


@pytest.mark.slow  # runs mypy
def test_verify_checks_every_project_in_one_run_each_with_its_settings(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    files = monorepo(tmp_path)
    code, _, err = run(["annotate", "--verify", "."])
    assert code == 0, err
    assert "email: Optional[str] = None" in files["a/user"].read_text()
    b = files["b/user"].read_text()
    assert "email: str | None = None" in b and "name: str" not in b
    assert "The type checker replaced 0 annotations and dropped 0." in err


def test_the_json_report_names_what_skip_comments_leave_alone(tmp_path: Path) -> None:
    import json

    import jsonschema

    schema_path = Path(__file__).resolve().parents[2] / "docs" / "report.schema.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    (tmp_path / "pyproject.toml").write_text('[project]\nrequires-python = ">=3.10"\n', "utf-8")
    (tmp_path / "said_no.py").write_text("# localtypes: skip-file\n" + USER, encoding="utf-8")
    said = USER.replace("email=None):", "email=None):  # localtypes: skip")
    (tmp_path / "user.py").write_text(said, encoding="utf-8")
    code, out, err = run(["annotate", "--check", "--report", "json", "."])
    assert code == 0, err  # nothing would change: every slot is said no to
    document = json.loads(out)
    jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)
    statuses = {item["path"]: item["status"] for item in document["files"]}
    assert statuses == {"said_no.py": "skipped", "user.py": "unchanged"}
    assert document["summary"]["skipped"] == 1
    reasons = {r["qualname"]: r["reason"] for r in document["records"] if r["action"] == "skip"}
    assert reasons["User.__init__.email"] == "skip-comment"
    assert reasons["User.__init__"] == "skip-comment"
