"""Where settings come from: the nearest pyproject.toml per file, the environment, flags."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from localtypes.analysis.slots import SlotKind
from localtypes.configs import Configs, load_settings, lower_bound
from localtypes.settings import (
    INFERRED_TARGET,
    ConfigError,
)


def write_pyproject(folder: Path, text: str) -> Path:
    path = folder / "pyproject.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_pyproject(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, {}, environ={})
    assert settings.kinds == frozenset({SlotKind.PARAM, SlotKind.RETURN})
    assert settings.target_version is None  # never the running Python: inferred per file
    assert settings.cache is True
    assert settings.host == "127.0.0.1"


def test_pyproject_found_from_a_subfolder(tmp_path: Path) -> None:
    write_pyproject(
        tmp_path,
        """
[project]
requires-python = ">=3.8, <4"
[tool.localtypes]
min-confidence = 0.7
kinds = ["param", "return", "variable"]
exclude = ["tests/data/"]
jobs = 3
""",
    )
    sub = tmp_path / "src" / "pkg"
    sub.mkdir(parents=True)
    settings = load_settings(sub, {}, environ={})
    assert settings.min_confidence == 0.7
    assert SlotKind.VARIABLE in settings.kinds
    assert settings.exclude == ("tests/data/",)
    assert settings.jobs == 3
    assert settings.target_version == (3, 8)


def test_settings_look_past_other_root_markers(tmp_path: Path) -> None:
    """A run's root may be a .git below the pyproject.toml; settings come from the latter."""
    write_pyproject(tmp_path, "[tool.localtypes]\njobs = 4\n")
    sub = tmp_path / "vendored"
    (sub / ".git").mkdir(parents=True)
    assert load_settings(sub, {}, environ={}).jobs == 4


def test_precedence_pyproject_then_env_then_flags(tmp_path: Path) -> None:
    write_pyproject(tmp_path, "[tool.localtypes]\nmin_confidence = 0.6\njobs = 2\nport = 9000\n")
    env = {"LOCALTYPES_MIN_CONFIDENCE": "0.8", "LOCALTYPES_JOBS": "5"}
    settings = load_settings(tmp_path, {"jobs": 7, "min_confidence": None}, environ=env)
    assert settings.port == 9000  # pyproject only
    assert settings.min_confidence == 0.8  # env over pyproject; flag not given
    assert settings.jobs == 7  # flag over env


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = write_pyproject(tmp_path, "[tool.localtypes]\nmin_confidense = 0.5\n")
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, {}, environ={})
    assert "min_confidense" in str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("jobs = 0", "jobs"),
        ("min-confidence = 2.0", "min_confidence"),
        ('kinds = ["params"]', "kinds"),
        ('target-version = "2.7"', "target_version"),
        ("cache = 3", "cache"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, text: str, needle: str) -> None:
    write_pyproject(tmp_path, f"[tool.localtypes]\n{text}\n")
    with pytest.raises(ConfigError, match=needle):
        load_settings(tmp_path, {}, environ={})


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LOCALTYPES_PORT"):
        load_settings(tmp_path, {}, environ={"LOCALTYPES_PORT": "http"})


def test_environment_types(tmp_path: Path) -> None:
    env = {
        "LOCALTYPES_KINDS": "param,variable",
        "LOCALTYPES_CACHE": "0",
        "LOCALTYPES_ACCESS_LOG": "yes",
        "LOCALTYPES_TARGET_VERSION": "py310",
        "LOCALTYPES_EXCLUDE": "a/, b.py",
        "LOCALTYPES_QUEUE_TIMEOUT": "0.5",
    }
    settings = load_settings(tmp_path, {}, environ=env)
    assert settings.kinds == frozenset({SlotKind.PARAM, SlotKind.VARIABLE})
    assert settings.cache is False
    assert settings.access_log is True
    assert settings.target_version == (3, 10)
    assert settings.exclude == ("a/", "b.py")
    assert settings.queue_timeout == 0.5


def test_relative_model_path_is_relative_to_pyproject(tmp_path: Path) -> None:
    write_pyproject(tmp_path, '[tool.localtypes]\nmodel = "models/mine"\n')
    (tmp_path / "sub").mkdir()
    settings = load_settings(tmp_path / "sub", {}, environ={})
    assert settings.model == str((tmp_path / "models" / "mine").resolve())


def test_target_version_from_setup_cfg(tmp_path: Path) -> None:
    write_pyproject(tmp_path, "[build-system]\nrequires = []\n")
    (tmp_path / "setup.cfg").write_text("[options]\npython_requires = >=3.9\n", encoding="utf-8")
    assert load_settings(tmp_path, {}, environ={}).target_version == (3, 9)


def test_flag_target_version_wins(tmp_path: Path) -> None:
    write_pyproject(tmp_path, '[project]\nrequires-python = ">=3.8"\n')
    settings = load_settings(tmp_path, {"target_version": "3.12"}, environ={})
    assert settings.target_version == (3, 12)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (">=3.8", (3, 8)),
        (">=3.8,<4", (3, 8)),
        ("~=3.10", (3, 10)),
        ("==3.11.*", (3, 11)),
        (">3.7, >=3.9", (3, 9)),
        ("<4", None),
        (">=2.7, !=3.0.*", None),
    ],
)
def test_requires_python_lower_bound(spec: str, expected: object) -> None:
    assert lower_bound(spec) == expected


def test_unreadable_pyproject_is_a_config_error(tmp_path: Path) -> None:
    write_pyproject(tmp_path, "[tool.localtypes\n")
    with pytest.raises(ConfigError, match=r"pyproject\.toml"):
        load_settings(tmp_path, {}, environ={})


def test_a_pyproject_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_bytes(b'[tool.localtypes]\nexclude = ["caf\xe9"]\n')
    with pytest.raises(ConfigError, match=r"pyproject\.toml: cannot read \(not UTF-8"):
        load_settings(tmp_path, {}, environ={})


def monorepo(root: Path) -> None:
    """A root pyproject.toml and two sub-projects: ``a`` (3.8, defaults) and ``b``."""
    write_pyproject(root, "[tool.localtypes]\njobs = 2\nmin-confidence = 0.5\n")
    for name, text in {
        "a": '[project]\nrequires-python = ">=3.8"\n',
        "b": '[project]\nrequires-python = ">=3.10"\n'
        '[tool.localtypes]\nmin-confidence = 0.95\nexclude = ["gen/"]\njobs = 7\n',
    }.items():
        (root / name / "src").mkdir(parents=True)
        write_pyproject(root / name, text)


def test_each_file_takes_its_nearest_pyproject(tmp_path: Path) -> None:
    monorepo(tmp_path)
    configs = Configs(tmp_path, {}, environ={})
    a = configs.for_path(tmp_path / "a" / "src" / "m.py")
    b = configs.for_path(tmp_path / "b" / "src" / "m.py")
    top = configs.for_path(tmp_path / "tool.py")
    assert (a.settings.target_version, a.settings.min_confidence) == ((3, 8), None)  # no merge
    assert (b.settings.target_version, b.settings.min_confidence) == ((3, 10), 0.95)
    assert b.settings.exclude == ("gen/",) and b.file_patterns == {"exclude"}
    assert top.settings.min_confidence == 0.5 and top.settings.target_version is None
    assert a.pyproject == tmp_path / "a" / "pyproject.toml"
    assert a.target_reason == f'requires-python ">=3.8" in {tmp_path / "a" / "pyproject.toml"}'
    assert top.target_reason == INFERRED_TARGET
    assert top.describe_target().startswith("target Python 3.10 (no requires-python; ")
    # what decides the output decides the cache key
    keys = {c.settings.cache_key("sha", 0.7) for c in (a, b, top)}
    assert len(keys) == 3


def test_the_run_keys_come_from_the_run_and_others_are_named(tmp_path: Path) -> None:
    """jobs, model, cache... belong to the run (one pool, one model): a sub-project's
    value is not taken, and the config says so for the runner to warn."""
    monorepo(tmp_path)
    configs = Configs(tmp_path, {}, environ={})
    b = configs.for_path(tmp_path / "b" / "src")
    assert configs.run.settings.jobs == 2 and b.settings.jobs == 2
    assert b.ignored == ("jobs",)
    assert Configs(tmp_path / "b", {}, environ={}).run.settings.jobs == 7  # a run in b


def test_flags_and_environment_override_every_file(tmp_path: Path) -> None:
    monorepo(tmp_path)
    configs = Configs(
        tmp_path,
        {"target_version": "3.9", "exclude": ["x/"]},
        environ={"LOCALTYPES_MIN_CONFIDENCE": "0.8"},
    )
    for name in ("a", "b"):
        config = configs.for_path(tmp_path / name / "src" / "m.py")
        assert config.settings.target_version == (3, 9)
        assert config.target_reason == "--target-version"
        assert config.settings.min_confidence == 0.8
        assert config.settings.exclude == ("x/",) and not config.file_patterns
    env = Configs(tmp_path, {}, environ={"LOCALTYPES_TARGET_VERSION": "3.12"})
    assert env.for_path(tmp_path / "a").target_reason == "LOCALTYPES_TARGET_VERSION"
    # "auto" asks for what the project says
    auto = Configs(tmp_path, {"target_version": "auto"}, environ={}).for_path(tmp_path / "a")
    assert auto.settings.target_version == (3, 8)
    assert auto.target_reason.startswith('requires-python ">=3.8" in ')


def test_a_broken_sub_project_config_is_named(tmp_path: Path) -> None:
    monorepo(tmp_path)
    broken = write_pyproject(tmp_path / "b", "[tool.localtypes\n")
    configs = Configs(tmp_path, {}, environ={})  # the run's own config is fine
    assert configs.for_path(tmp_path / "a" / "src").settings.target_version == (3, 8)
    with pytest.raises(ConfigError, match=re.escape(str(broken))):
        configs.for_path(tmp_path / "b" / "src" / "m.py")


def test_target_version_in_the_file_says_so(tmp_path: Path) -> None:
    write_pyproject(tmp_path, '[project]\nrequires-python = ">=3.8"\n[tool.localtypes]\n'
                    'target-version = "3.11"\n')  # fmt: skip
    run = Configs(tmp_path, {}, environ={}).run
    assert run.settings.target_version == (3, 11)
    assert run.target_reason == f"target-version in {tmp_path / 'pyproject.toml'}"
