"""``--verify`` with the real checker (mypy, in process) on real files.

The stage is driven with hand-made guesses (so that a wrong first guess is certain), then
the whole command runs with the real model: the annotations it leaves add no mypy error
that the project did not have.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

pytest.importorskip("mypy", reason="the verify extra (mypy) is not installed")

from verifying import errors as _errors
from verifying import project as _project
from verifying import target as _target

from localtypes.analysis.extract import extract
from localtypes.cli import main
from localtypes.verify.checker import Checker, mypy_config
from localtypes.verify.stage import _line_map, verify


def test_a_wrong_annotation_is_replaced_by_the_next_guess_that_adds_no_error(
    tmp_path: Path,
) -> None:
    root = _project(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/shop.py": """\
                def label(price):
                    return "EUR " + format(price)
                """,
            # callers in another module: the cheap checks do not see them
            "pkg/app.py": """\
                from pkg.shop import label

                print(label(3), label(sum([1.5, 2.0])))
                """,
        },
    )
    path = root / "pkg" / "shop.py"
    # "str" is what the model is sure of, and wrong: callers pass numbers
    target = _target(path, {"label.price": [("str", 0.75), ("float", 0.22)]})
    assert "price: str" in target.text
    checker = Checker(root, [str(p) for p in root.rglob("*.py")], tmp_path / "cache")
    stats = verify([target], checker)
    assert "price: float" in target.text  # 0.22 / (1 - 0.75) = 0.88 clears 0.7
    assert (stats.replaced, stats.dropped, stats.remaining) == (1, 0, 0)
    assert _errors(checker, target) == checker.check({}) == []


def test_an_annotation_with_no_good_guess_is_dropped_and_old_errors_do_not_count(
    tmp_path: Path,
) -> None:
    root = _project(
        tmp_path,
        {
            "tz.py": """\
                from datetime import datetime, timedelta, tzinfo


                class Zone(tzinfo):
                    def utcoffset(self, dt):
                        return timedelta(0)

                    def tzname(self, dt):
                        return "Z"

                    def dst(self, dt):
                        return None


                def broken():
                    return 1 + ""  # an error the project already has


                def stamp(moment):
                    return moment.isoformat()
                """,
            "use.py": "from tz import Zone, stamp\n\nstamp(Zone())\n",
        },
    )
    path = root / "tz.py"
    target = _target(
        path,
        {
            "Zone.tzname.dt": [("datetime.datetime | None", 0.9)],
            "stamp.moment": [("datetime.datetime", 0.9)],  # but a Zone is passed
            "stamp->": [("str", 0.95)],
        },
    )
    checker = Checker(root, [str(path), str(root / "use.py")], tmp_path / "cache")
    baseline = checker.check({})
    assert [d.code for d in baseline] == ["operator"]
    stats = verify([target], checker)
    assert "dt: datetime | None" in target.text
    assert "moment:" not in target.text and "-> str" in target.text
    assert (stats.replaced, stats.dropped, stats.remaining) == (0, 1, 0)
    assert _errors(checker, target) == baseline


def test_files_with_nothing_added_take_no_checker_run(tmp_path: Path) -> None:
    root = _project(tmp_path, {"m.py": "def f(x):\n    return x\n"})
    target = _target(root / "m.py", {})
    assert target.text == target.original
    checker = Checker(root, [target.path], tmp_path / "cache")
    assert verify([target], checker).rounds == 0
    assert checker.runs == 0


def test_errors_in_other_modules_implicate_the_callee(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            "lib.py": "def scale(factor):\n    return factor * 2\n",
            "app.py": "from lib import scale\n\nprint(scale(1.5))\n",
        },
    )
    target = _target(root / "lib.py", {"scale.factor": [("int", 0.9), ("float", 0.05)]})
    checker = Checker(root, [str(p) for p in root.glob("*.py")], tmp_path / "cache")
    assert [d.path for d in _errors(checker, target)] == [str((root / "app.py").resolve())]
    stats = verify([target], checker)
    assert "factor" not in target.added[0].slot.name if target.added else True
    assert stats.dropped == 1 and _errors(checker, target) == []


def test_the_projects_own_configuration_applies(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            "setup.cfg": "[mypy]\ndisallow_untyped_defs = True\n",
            "m.py": "def f(x):\n    return x\n",
        },
    )
    assert mypy_config(root) == root / "setup.cfg"
    checker = Checker(root, [str(root / "m.py")], tmp_path / "cache")
    assert [d.code for d in checker.check({})] == ["no-untyped-def"]


def test_line_map_follows_added_import_lines() -> None:
    old = "import os\ndef f(x):\n    return x\n"
    new = "import os\nfrom typing import Any\ndef f(x: int) -> int:\n    return x\n"
    assert _line_map(old, new) == {1: 1, 2: None, 3: 2, 4: 3}


@pytest.mark.slow
def test_annotate_verify_leaves_no_new_error_and_a_rerun_is_cached(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            "pyproject.toml": "[tool.localtypes]\nverify = true\n",
            "pkg/__init__.py": "",
            "pkg/inventory.py": (Path(__file__).parents[2] / "examples/inventory.py").read_text(),
        },
    )
    path = root / "pkg" / "inventory.py"
    original = path.read_text()
    out, err = io.StringIO(), io.StringIO()
    code = main(["annotate", str(root / "pkg")], out, err)
    assert code == 0, err.getvalue()
    assert "The type checker replaced" in err.getvalue()
    annotated = path.read_text()
    assert annotated != original
    # the same bytes again (as before the first run): the cache answers, mypy is not run
    path.write_text(original)
    err = io.StringIO()
    assert main(["annotate", str(root / "pkg")], io.StringIO(), err) == 0, err.getvalue()
    assert "The type checker" not in err.getvalue()
    assert path.read_text() == annotated
    checker = Checker(root, [str(p) for p in (root / "pkg").glob("*.py")], tmp_path / "c2")
    before = checker.check({str(path): original.encode()})
    after = checker.check({})
    assert len(after) <= len(before)


def test_verify_without_mypy_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mypy" else real(name, *a)
    )
    (tmp_path / "m.py").write_text("def f(x=1):\n    return x\n")
    err = io.StringIO()
    assert main(["annotate", "--verify", str(tmp_path / "m.py")], io.StringIO(), err) == 2
    assert "localtypes[verify]" in err.getvalue()
    assert (tmp_path / "m.py").read_text() == "def f(x=1):\n    return x\n"


@pytest.mark.slow
def test_post_annotate_with_verify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from serving import running, test_settings

    monkeypatch.setenv("LOCALTYPES_CACHE_DIR", str(tmp_path / "cache"))
    source = (Path(__file__).parents[2] / "examples/inventory.py").read_text()
    with running(test_settings()) as served:
        plain = served.request("/annotate", source.encode(), content_type="text/x-python")
        body = json.dumps({"source": source, "path": "shop/inventory.py", "verify": True})
        checked = served.request("/annotate", body.encode(), content_type="application/json")
        query = served.request(
            "/annotate?verify=yes", source.encode(), content_type="text/x-python"
        )
    assert plain.status == checked.status == query.status == 200
    assert "checker" not in plain.json()
    document = checked.json()
    assert set(document["checker"]) == {"replaced", "dropped", "remaining"}
    assert document["checker"]["remaining"] == 0
    dropped = [s for s in document["skipped"] if s["reason"] == "checker-error"]
    assert len(document["added"]) + len(dropped) >= len(plain.json()["added"]) - 1
    assert query.json()["checker"] == document["checker"]


def test_errors_replayed_from_mypys_cache_map_to_the_project(tmp_path: Path) -> None:
    # mypy replays a cached module's errors under the path it was checked at: the mirror's
    root = _project(
        tmp_path,
        {"a.py": "import not_installed_anywhere\n", "b.py": "def f(x):\n    return x\n"},
    )
    files = [str(root / "a.py"), str(root / "b.py")]
    checker = Checker(root, files, tmp_path / "cache")
    runs = [
        checker.check({}),
        checker.check({files[1]: b"def f(x: int) -> int:\n    return x\n"}),
        checker.check({}),
    ]
    for found in runs:
        assert [(d.path, d.code) for d in found] == [(str(root / "a.py"), "import-not-found")]


def test_the_cache_key_and_the_settings_know_verify(tmp_path: Path) -> None:
    from localtypes.configs import load_settings
    from localtypes.settings import Settings

    assert Settings(verify=True).cache_key("sha", 0.7) != Settings().cache_key("sha", 0.7)
    (tmp_path / "pyproject.toml").write_text("[tool.localtypes]\nverify = true\n")
    assert load_settings(tmp_path, {}, environ={}).verify
    assert not load_settings(tmp_path, {}, environ={"LOCALTYPES_VERIFY": "0"}).verify
    assert load_settings(tmp_path / "x", {"verify": True}, environ={}).verify


def test_records_name_the_checkers_replacement_and_its_drops(tmp_path: Path) -> None:
    """--report json under --verify: a replaced guess is chosen by the checker, a dropped
    one is left out for a checker error (``verify.run._records``)."""
    from localtypes.edit.plan import Reason, Rejection
    from localtypes.run.files import decode_source
    from localtypes.verify.run import Held, _records

    root = _project(
        tmp_path,
        {
            "shop.py": """\
                def label(price):
                    return "EUR " + format(price)


                def stamp(moment):
                    return moment.isoformat()
                """,
            "app.py": "from shop import label, stamp\n\nprint(label(3), stamp(1))\n",
        },
    )
    path = root / "shop.py"
    target = _target(
        path,
        {
            "label.price": [("str", 0.75), ("float", 0.22)],
            "stamp.moment": [("datetime.datetime", 0.9)],
        },
    )
    source = path.read_text(encoding="utf-8")
    below = extract(source).slots[-1]  # stamp's return, left out by the writer
    writer_added = target.added
    held = Held(
        data=source.encode(),
        decoded=decode_source(source.encode()),
        output=target.text,
        added=writer_added,
        guesses=target.guesses,
        below=1,
        skipped=(Rejection(below, Reason.BELOW_THRESHOLD, "str", 0.5),),
    )
    checker = Checker(root, [str(path), str(root / "app.py")], tmp_path / "cache")
    verify([target], checker)
    by_name = {(r.qualname, r.action): r for r in _records(held, target)}
    price = by_name["label.price", "add"]
    assert (price.type, price.chosen_by) == ("float", "checker")
    assert price.guesses[0] == ("str", 0.75)
    moment = by_name["stamp.moment", "skip"]
    assert (moment.reason, moment.type) == ("checker-error", "datetime.datetime")
    assert by_name["stamp", "skip"].reason == "below-threshold"


def test_the_baseline_is_warmed_in_another_process_only_with_a_core_to_spare(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from localtypes.verify import run

    monkeypatch.setattr(run.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(run.os, "getloadavg", lambda: (2.5, 2.0, 2.0))
    assert not run.spare_core()  # the model and something else take both
    monkeypatch.setattr(run.os, "getloadavg", lambda: (0.2, 0.1, 0.1))
    assert run.spare_core()
