"""The run's project index: built from every module under the root, cached by content."""

from __future__ import annotations

from pathlib import Path

from localtypes.run.discovery import Walker
from localtypes.run.project import facts_digest, project_facts, remember_written

UTIL = "def tokenize(source, strict=False):\n    return [source]\n"
MAIN = "from .util import tokenize\n\ndef run():\n    return tokenize('text', strict=True)\n"


def _tree(tmp_path: Path) -> Path:
    (tmp_path / "pkg").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "util.py").write_text(UTIL)
    (tmp_path / "pkg" / "main.py").write_text(MAIN)
    return tmp_path


def test_evidence_comes_from_modules_not_selected(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    util = str(root / "pkg" / "util.py")
    facts = project_facts(root, Walker(root, ("*.py",), ()), [util], None).files
    assert list(facts) == [util]  # only the files asked for
    assert "xst:str" in facts[util][("tokenize", 0, "source")]  # from main.py's call


def test_cached_by_every_module_and_rebuilt_on_any_change(tmp_path: Path) -> None:
    root = _tree(tmp_path / "project")
    cache = tmp_path / "cache"
    util = str(root / "pkg" / "util.py")
    walker = Walker(root, ("*.py",), ())
    first = project_facts(root, walker, [util], cache).files
    assert len(list((cache / "project").iterdir())) == 1
    assert project_facts(root, walker, [util], cache).files == first  # read back from the cache
    # A call site changes in a file that was not selected: the evidence follows.
    (root / "pkg" / "main.py").write_text(MAIN.replace("'text'", "b'text'"))
    second = project_facts(root, walker, [util], cache).files
    assert "xst:bytes" in second[util][("tokenize", 0, "source")]
    assert facts_digest(first[util]) != facts_digest(second[util])
    assert facts_digest({}) == ""


def test_a_damaged_cache_entry_is_rebuilt(tmp_path: Path) -> None:
    root = _tree(tmp_path / "project")
    cache = tmp_path / "cache"
    util = str(root / "pkg" / "util.py")
    walker = Walker(root, ("*.py",), ())
    first = project_facts(root, walker, [util], cache).files
    for entry in (cache / "project").iterdir():
        entry.write_text("[1]")
    assert project_facts(root, walker, [util], cache).files == first


def test_a_module_that_does_not_parse_is_skipped(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "pkg" / "broken.py").write_text("def (:\n")
    util = str(root / "pkg" / "util.py")
    facts = project_facts(root, Walker(root, ("*.py",), ()), [util], None).files
    assert ("tokenize", 0, "source") in facts[util]


def test_evidence_is_filed_under_the_annotated_tree_too(tmp_path: Path) -> None:
    root = _tree(tmp_path / "project")
    cache = tmp_path / "cache"
    util = str(root / "pkg" / "util.py")
    walker = Walker(root, ("*.py",), ())
    evidence = project_facts(root, walker, [util], cache)
    # What a write run does: annotations and an import, no call site changed.
    (root / "pkg" / "util.py").write_text(
        "def tokenize(source: str, strict: bool = False):\n    return [source]\n"
    )
    remember_written(root, walker, [util], cache, evidence)
    assert len(list((cache / "project").iterdir())) == 2
    assert project_facts(root, walker, [util], cache).files == evidence.files


def test_a_sub_project_below_the_root_is_not_evidence(tmp_path: Path) -> None:
    """A monorepo: modules under another pyproject.toml belong to another project."""
    from localtypes.configs import Configs

    root = _tree(tmp_path)
    (root / "pyproject.toml").write_text("")
    other = root / "pkg" / "vendored"  # a project of its own, calling util the same way
    other.mkdir()
    (other / "pyproject.toml").write_text("")
    (root / "pkg" / "main.py").write_text(UTIL.replace("tokenize", "unused"))
    (other / "main.py").write_text(MAIN.replace(".util", "..util"))
    util = str(root / "pkg" / "util.py")
    walker = Walker(root, ("*.py",), ())
    everything = project_facts(root, walker, [util], None).files
    assert "xst:str" in everything[util].get(("tokenize", 0, "source"), ())
    configs = Configs(root, {}, environ={})
    mine = configs.for_file(Path(util)).pyproject

    def belongs(path: str) -> bool:
        return configs.for_file(Path(path)).pyproject == mine

    own = project_facts(root, walker, [util], None, belongs).files
    assert "xst:str" not in own[util].get(("tokenize", 0, "source"), ())
