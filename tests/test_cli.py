"""The ``localtypes`` command end to end, in process, on real files with the real model.

The sample module is conftest's ``greeter_source``.
"""

from __future__ import annotations

import ast
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import pytest
from terminal import Terminal
from trees import ANNOTATED, isolate, make_package, run, snapshot

from localtypes.cli import main
from localtypes.model.predictor import Predictor
from localtypes.run.cache import Cache, CacheEntry, sha256_bytes
from localtypes.settings import MAX_TOP_K, Settings


def repo_env() -> Dict[str, str]:
    """The environment now, with this checkout importable from any folder (installed or not)."""
    return {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


BROKEN = "def broken(x:\n    return x\n"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own cache and no LOCALTYPES_* from the outside."""
    isolate(tmp_path, monkeypatch)


def make_project(root: Path, source: str, copies: int = 1) -> Dict[str, Path]:
    """A project whose ``pkg/`` folder (no ``__init__.py``) holds the modules."""
    return make_package(root, source, copies, package=False)


# --- without the model: usage, help, configuration errors ------------------------------


def test_help_is_fast_and_imports_nothing_heavy() -> None:
    code = (
        "import sys, time; start = time.perf_counter();"
        "from localtypes.cli import main;"
        "rc = main(['--help']);"
        "heavy = [m for m in ('onnxruntime', 'libcst', 'numpy', 'waitress') if m in sys.modules];"
        "print(heavy, rc, time.perf_counter() - start)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=repo_env()
    )
    heavy, rc, seconds = done.stdout.strip().splitlines()[-1].rsplit(" ", 2)
    assert heavy.endswith("[]") and rc == "0", done.stdout
    assert float(seconds) < 1.0


@pytest.mark.parametrize(
    "args",
    [
        ["annotate"],
        ["annotate", "missing.py"],
        ["annotate", ".", "--kinds", "params"],
        ["annotate", ".", "--target-version", "2.7"],
        ["annotate", ".", "--target-version", "3.99"],
        ["annotate", ".", "--jobs", "0"],
        ["annotate", ".", "--min-confidence", "1.5"],
        ["predict"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(args: List[str]) -> None:
    code, _, err = run(args)
    assert code == 2, err
    assert "Traceback" not in err
    assert "Error" in err


def test_unknown_pyproject_key_exits_2(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.localtypes]\nmin_confidense = 0.5\n", "utf-8")
    (tmp_path / "a.py").write_text("x = 1\n", "utf-8")
    code, _, err = run(["annotate", "a.py"])
    assert code == 2
    assert "min_confidense" in err and "pyproject.toml" in err


def test_missing_model_store_exits_2(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n", "utf-8")
    code, _, err = run(["annotate", "a.py", "--model", str(tmp_path / "nope")])
    assert code == 2
    assert "no model store" in err and "Traceback" not in err


def test_version() -> None:
    code, out, _ = run(["--version"])
    assert code == 0 and "localtypes" in out


def test_shell_completion_as_the_readme_gives_it() -> None:
    """The README's completion line sources this script; completing then goes through the
    same program with the words typed so far."""
    import subprocess
    import sys

    program = str(Path(sys.executable).parent / "localtypes")

    def complete(**env: str) -> str:
        done = subprocess.run([program], env={**os.environ, **env}, capture_output=True,
                              text=True, timeout=60, check=True)  # fmt: skip
        return done.stdout

    assert "_localtypes_completion" in complete(_LOCALTYPES_COMPLETE="bash_source")
    words = complete(_LOCALTYPES_COMPLETE="bash_complete", COMP_WORDS="localtypes ann",
                     COMP_CWORD="1")  # fmt: skip
    assert words.split() == ["plain,annotate"]
    words = complete(_LOCALTYPES_COMPLETE="bash_complete",
                     COMP_WORDS="localtypes annotate --min-c", COMP_CWORD="2")  # fmt: skip
    assert words.split() == ["plain,--min-confidence"]


def test_help_lists_exit_codes_and_the_real_serve_defaults() -> None:
    code, out, err = run(["annotate", "--help"])
    assert code == 0 and err == ""
    assert "  123  some files could not be processed" in out
    code, out, _ = run(["serve", "--help"])
    assert code == 0
    assert f"[default: {Settings().threads}]" in " ".join(out.split())


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        ["annotate", "--help"],
        ["frobnicate"],
        ["annotate", "--jobs", "0", "."],
        ["annotate", "--check", "-j", "1", "pkg"],
        ["annotate", "--diff", "-j", "1", "pkg"],
        ["annotate", "-v", "-j", "1", "pkg"],
        ["predict", "pkg/mod0.py"],
        ["model"],
    ],
)
def test_output_goes_to_the_given_streams_only(
    args: List[str], tmp_path: Path, greeter_source: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``main`` writes to the streams it is given, never to ``sys.stdout``/``sys.stderr``."""
    make_project(tmp_path, greeter_source)
    capsys.readouterr()
    for make_stream in (io.StringIO, Terminal):  # a terminal also gets the progress bar
        out, err = make_stream(), make_stream()
        main(args, out, err)
        assert out.getvalue() or err.getvalue()
        assert capsys.readouterr() == ("", "")


# --- with the model ---------------------------------------------------------------------


def test_diff_prints_and_writes_nothing(tmp_path: Path, greeter_source: str) -> None:
    make_project(tmp_path, greeter_source)
    before = snapshot(tmp_path)
    code, out, err = run(["annotate", "--diff", "-j", "1", "pkg"])
    assert code == 0, err
    assert snapshot(tmp_path) == before
    assert "--- a/pkg/mod0.py" in out and "+++ b/pkg/mod0.py" in out
    assert "done.py" not in out
    assert "would be annotated" in err


def test_check_exits_1_and_writes_nothing_then_0_after_annotating(
    tmp_path: Path, greeter_source: str
) -> None:
    files = make_project(tmp_path, greeter_source)
    before = snapshot(tmp_path)
    code, out, err = run(["annotate", "--check", "-j", "1", "pkg"])
    assert code == 1, err
    assert out == ""
    assert snapshot(tmp_path) == before
    assert "would annotate pkg/mod0.py" in err

    code, _, err = run(["annotate", "-j", "1", "pkg"])
    assert code == 0, err
    new = files["mod0.py"].read_text("utf-8")
    assert new != greeter_source
    assert ast.dump(ast.parse(new)) != ast.dump(ast.parse(greeter_source))
    compile(new, "mod0.py", "exec")
    assert "1 file annotated" in err and "Annotations added" in err

    # idempotent, with and without the cache
    for extra in ([], ["--no-cache"]):
        code, _, err = run(["annotate", "--check", "-j", "1", "pkg", *extra])
        assert code == 0, err


def test_in_place_keeps_unchanged_files_and_their_mtime(
    tmp_path: Path, greeter_source: str
) -> None:
    files = make_project(tmp_path, greeter_source)
    done = files["done.py"]
    old = time.time() - 1000
    os.utime(done, (old, old))
    code, _, err = run(["annotate", "-j", "1", "--no-cache", "pkg"])
    assert code == 0, err
    assert done.stat().st_mtime == old
    mod = files["mod0.py"]
    os.utime(mod, (old, old))
    code, _, err = run(["annotate", "-j", "1", "--no-cache", "pkg"])  # nothing left to add
    assert code == 0, err
    assert mod.stat().st_mtime == old and done.stat().st_mtime == old


def test_jobs_2_gives_the_same_files_as_jobs_1(tmp_path: Path, greeter_source: str) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    make_project(one, greeter_source, copies=3)
    make_project(two, greeter_source, copies=3)
    assert run(["annotate", "-j", "1", "--no-cache", str(one)])[0] == 0
    code, _, err = run(["annotate", "-j", "2", "--no-cache", str(two)])
    assert code == 0, err
    assert snapshot(one) == snapshot(two)
    assert "3 files annotated" in err


def test_unparsable_file_is_named_and_the_others_go_on(tmp_path: Path, greeter_source: str) -> None:
    files = make_project(tmp_path, greeter_source)
    bad = tmp_path / "pkg" / "bad.py"
    bad.write_text(BROKEN, "utf-8")
    code, _, err = run(["annotate", "-j", "1", "pkg"])
    assert code == 123
    assert "pkg/bad.py" in err and "line 1" in err
    assert "Traceback" not in err
    assert bad.read_text("utf-8") == BROKEN
    assert files["mod0.py"].read_text("utf-8") != greeter_source  # the others were annotated
    assert "1 file could not be processed" in err


def test_quiet_prints_errors_only(tmp_path: Path, greeter_source: str) -> None:
    make_project(tmp_path, greeter_source)
    (tmp_path / "pkg" / "bad.py").write_text(BROKEN, "utf-8")
    code, out, err = run(["annotate", "-q", "-j", "1", "pkg"])
    assert code == 123
    assert out == ""
    assert err.strip().splitlines() == [err.strip().splitlines()[0]]
    assert err.startswith("error: cannot annotate pkg/bad.py")


def test_cached_rerun_is_answered_from_the_cache(tmp_path: Path, greeter_source: str) -> None:
    make_project(tmp_path, greeter_source, copies=2)
    assert run(["annotate", "-j", "1", "--check", "pkg"])[0] == 1
    code, _, err = run(["annotate", "-j", "1", "-v", "pkg"])  # the check run cached results
    assert code == 0, err
    assert "3 files answered from the cache" in err
    code, _, err = run(["annotate", "-j", "1", "-v", "--check", "pkg"])
    assert code == 0, err
    assert "(cached)" in err


def test_corrupt_cache_is_ignored(tmp_path: Path, greeter_source: str) -> None:
    make_project(tmp_path, greeter_source)
    assert run(["annotate", "-j", "1", "--check", "pkg"])[0] == 1
    for entry in (tmp_path / "cache").rglob("*"):
        if entry.is_file():
            entry.write_bytes(b"\x00 not json")
    code, _, err = run(["annotate", "-j", "1", "--check", "pkg"])
    assert code == 1, err


def test_settings_precedence_pyproject_env_flags(
    tmp_path: Path, greeter_source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_project(tmp_path, greeter_source)
    pyproject = tmp_path / "pyproject.toml"
    # pyproject says: write nothing (confidence 1.0 is never reached)
    pyproject.write_text("[tool.localtypes]\nmin-confidence = 1.0\n", "utf-8")
    assert run(["annotate", "--check", "-j", "1", "pkg"])[0] == 0
    # the environment overrides it
    monkeypatch.setenv("LOCALTYPES_MIN_CONFIDENCE", "0.0")
    assert run(["annotate", "--check", "-j", "1", "pkg"])[0] == 1
    # a flag overrides the environment
    assert run(["annotate", "--check", "-j", "1", "--min-confidence", "1.0", "pkg"])[0] == 0
    # exclude from pyproject applies to walks and to named files
    pyproject.write_text('[tool.localtypes]\nexclude = ["pkg/mod0.py"]\n', "utf-8")
    assert run(["annotate", "--check", "-j", "1", "pkg"])[0] == 0
    assert run(["annotate", "--check", "-j", "1", "pkg/mod0.py"])[0] == 0


def test_kinds_flag(tmp_path: Path, greeter_source: str) -> None:
    files = make_project(tmp_path, greeter_source)
    code, out, err = run(
        ["annotate", "--diff", "-j", "1", "--kinds", "return", "--min-confidence", "0", "pkg"]
    )
    assert code == 0, err
    added = [line for line in out.splitlines() if line.startswith("+") and "def " in line]
    assert added and all(":" not in line.split("(", 1)[1].split(")")[0] for line in added)
    assert "param" not in err.split("Annotations to add")[1].split(";")[0]
    assert files["mod0.py"].read_text("utf-8") == greeter_source


def test_predict_prints_the_service_document(tmp_path: Path, greeter_source: str) -> None:
    make_project(tmp_path, greeter_source)
    code, out, err = run(["predict", "pkg/mod0.py", "--top-k", "3"])
    assert code == 0, err
    document = json.loads(out)
    assert set(document) >= {"model", "path", "slots"}
    assert document["path"] == "pkg/mod0.py"
    names = {slot["qualname"] for slot in document["slots"]}
    assert "Greeter.__init__.name" in names
    assert all(len(slot["predictions"]) <= 3 for slot in document["slots"])
    from localtypes.api import predict

    expected = predict(greeter_source, "pkg/mod0.py", top_k=3).to_dict()
    assert document == json.loads(json.dumps(expected))


def test_predict_top_k_defaults_to_the_setting_and_has_a_range(
    tmp_path: Path, greeter_source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_project(tmp_path, greeter_source)
    monkeypatch.setenv("LOCALTYPES_TOP_K", "2")
    code, out, err = run(["predict", "pkg/mod0.py"])
    assert code == 0, err
    assert max(len(slot["predictions"]) for slot in json.loads(out)["slots"]) == 2
    code, _, err = run(["predict", "pkg/mod0.py", "--top-k", str(MAX_TOP_K + 1)])
    assert code == 2 and "--top-k" in err


def test_predict_on_broken_file_names_line(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(BROKEN, "utf-8")
    code, out, err = run(["predict", "bad.py"])
    assert code == 123
    assert out == "" and "line 1" in err and "Traceback" not in err


def test_model_command_text_and_json(predictor: Predictor) -> None:
    code, out, _ = run(["model"])
    assert code == 0
    for label in ("model:", "path:", "sha256:", "size:", "threshold:"):
        assert label in out
    # the held-out metrics as a table, not raw JSON
    assert "{" not in out and "0.78369998" not in out
    row = next(line.split() for line in out.splitlines() if line.strip().startswith("params+"))
    top1 = predictor.info.metrics["model"]["params+returns"]["top1"]
    assert row[2] == f"{100 * top1:.1f}%"
    code, out, _ = run(["model", "--json"])
    document = json.loads(out)
    info = predictor.info
    assert document["sha256"] == info.sha256
    assert document["name"] == info.name and document["version"] == info.version
    assert document["size_bytes"] > 0 and isinstance(document["metrics"], dict)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_answers_predict_like_the_cli_and_stops_on_sigterm(
    tmp_path: Path, greeter_source: str
) -> None:
    import signal
    import urllib.request

    make_project(tmp_path, greeter_source)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "localtypes", "serve", "--port", str(port), "--threads", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=repo_env(),
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/v2/health/ready", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, server.communicate()[0]
            assert time.monotonic() < deadline, "the service never became ready"
            time.sleep(0.2)
        body = json.dumps({"source": greeter_source, "path": "pkg/mod0.py", "top_k": 3}).encode()
        request = urllib.request.Request(
            f"{base}/predict", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            served = json.loads(answer.read())
        code, out, err = run(["predict", "pkg/mod0.py", "--top-k", "3"])
        assert code == 0, err
        assert served == json.loads(out)
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=30)[0]
    assert server.returncode == 0, output


def test_progress_bar_on_a_terminal_only_and_silenced_by_quiet(
    tmp_path: Path, greeter_source: str
) -> None:
    make_project(tmp_path, greeter_source, copies=2)
    terminal = Terminal()
    code = main(["annotate", "--check", "-j", "1", "pkg"], io.StringIO(), terminal)
    assert code == 1
    text = terminal.getvalue()
    assert "annotating" in text and "100%" in text
    # per-file lines wait until the bar is done, so they do not break it
    assert text.index("100%") < text.index("would annotate pkg/mod0.py")
    quiet = Terminal()
    assert main(["annotate", "--check", "-q", "-j", "1", "pkg"], io.StringIO(), quiet) == 1
    assert quiet.getvalue() == ""
    code, _, err = run(["annotate", "--check", "-j", "1", "pkg"])  # not a terminal
    assert "annotating" not in err


# --- what a run must never do: write what it did not check, crash, drop a user's edit ----


def cache_key_folder(root: Path) -> Path:
    """The cache's folder for the default settings, made by a --check run."""
    assert run(["annotate", "--check", "-j", "1", "pkg"])[0] == 1
    (folder,) = (root / "cache" / "v1").iterdir()
    return folder


PAYLOAD = "\nimport os; os.system('touch /tmp/localtypes-owned')\n"


def plant_payload(root: Path, source: str) -> Dict[str, Path]:
    """A project, and a cache entry for its module's bytes whose output runs code."""
    files = make_project(root, source)
    planted = (source + PAYLOAD).encode()
    Cache(cache_key_folder(root)).put(
        sha256_bytes(source.encode()), CacheEntry(planted, (("param", 1),), 0)
    )
    return files


def test_a_planted_entry_in_ones_own_cache_is_not_written(
    tmp_path: Path, greeter_source: str
) -> None:
    files = plant_payload(tmp_path, greeter_source)
    code, _, err = run(["annotate", "-j", "1", "pkg"])
    assert code == 0, err
    new = files["mod0.py"].read_text("utf-8")
    assert "os.system" not in new and new != greeter_source  # annotated afresh


def test_a_cache_folder_others_may_write_to_is_refused_with_a_warning(
    tmp_path: Path, greeter_source: str
) -> None:
    files = plant_payload(tmp_path, greeter_source)
    os.chmod(tmp_path / "cache", 0o777)  # as a shared cache-dir such as /tmp/lt-cache would be
    code, _, err = run(["annotate", "-j", "1", "pkg"])
    assert code == 0, err
    assert f"warning: the cache folder {tmp_path / 'cache'} is writable by others" in err
    assert "os.system" not in files["mod0.py"].read_text("utf-8")


@pytest.mark.skipif(os.geteuid() != 0, reason="a folder of another owner needs root to make")
def test_a_cache_folder_made_by_another_user_is_refused_with_a_warning(
    tmp_path: Path, greeter_source: str
) -> None:
    """The attack: another user makes the shared cache folder first, with an entry for the
    victim's file whose output runs code; the victim's run must not write it."""
    files = plant_payload(tmp_path, greeter_source)
    for path in [tmp_path / "cache", *(tmp_path / "cache").rglob("*")]:
        os.chown(path, 65534, 65534)  # the attacker's, with modes the attacker chose
    code, _, err = run(["annotate", "-j", "1", "pkg"])
    assert code == 0, err
    assert "is owned by someone else (uid 65534)" in err and "the cache is not used" in err
    new = files["mod0.py"].read_text("utf-8")
    assert "os.system" not in new and new != greeter_source


def test_a_read_only_file_is_named_and_left_alone(tmp_path: Path, greeter_source: str) -> None:
    files = make_project(tmp_path, greeter_source, copies=2)
    os.chmod(files["mod0.py"], 0o444)
    code, _, err = run(["annotate", "-j", "1", "pkg"])
    assert code == 123
    assert "error: cannot annotate pkg/mod0.py: read-only" in err
    assert files["mod0.py"].read_text("utf-8") == greeter_source
    assert stat.S_IMODE(files["mod0.py"].stat().st_mode) == 0o444
    assert files["mod1.py"].read_text("utf-8") != greeter_source  # the others go on


def test_a_hard_linked_file_is_named_and_its_links_kept(
    tmp_path: Path, greeter_source: str
) -> None:
    files = make_project(tmp_path, greeter_source)
    os.link(files["mod0.py"], tmp_path / "elsewhere.py")
    code, _, err = run(["annotate", "-j", "1", "pkg"])
    assert code == 123
    assert "pkg/mod0.py: has 2 hard links" in err
    assert os.path.samefile(files["mod0.py"], tmp_path / "elsewhere.py")
    assert files["mod0.py"].read_text("utf-8") == greeter_source


@pytest.mark.skipif(os.geteuid() != 0, reason="a file of another owner needs root to make")
def test_root_keeps_the_owner_and_group_of_the_files_it_annotates(
    tmp_path: Path, greeter_source: str
) -> None:
    files = make_project(tmp_path, greeter_source)
    os.chown(files["mod0.py"], 65534, 65534)
    code, _, err = run(["annotate", "-j", "1", "pkg"])
    assert code == 0, err
    info = files["mod0.py"].stat()
    assert (info.st_uid, info.st_gid) == (65534, 65534)
    assert files["mod0.py"].read_text("utf-8") != greeter_source


@pytest.mark.parametrize("header", [b"[1]", b"[" * 100_000, b"null", b'{"format": 1}'])
def test_a_damaged_cache_header_is_a_miss_not_a_crash(
    tmp_path: Path, greeter_source: str, header: bytes
) -> None:
    make_project(tmp_path, greeter_source)
    key_folder = cache_key_folder(tmp_path)
    for entry in key_folder.rglob("*"):
        if entry.is_file():
            entry.write_bytes(header + b"\n")
    code, _, err = run(["annotate", "-j", "1", "--check", "pkg"])
    assert code == 1, err
    assert "Traceback" not in err and "internal error" not in err


def broken_store(tmp_path: Path, model_dir: Path, damage: str) -> Path:
    """A copy of the bundled store, damaged as ``damage`` says."""
    from localtypes.model.store import MANIFEST, sha256_of

    store = tmp_path / f"store-{damage}"
    shutil.copytree(model_dir, store)
    manifest = json.loads((store / MANIFEST).read_text("utf-8"))
    if damage == "no-vocab-checksum":
        del manifest["files"]["vocab.json"]
        (store / "vocab.json").write_text("[1, 2", "utf-8")  # read, never verified
    elif damage == "invalid-model":
        (store / "model.onnx").write_bytes(b"not an onnx model")
        manifest["files"]["model.onnx"] = sha256_of(store / "model.onnx")
    elif damage == "invalid-vocab":
        (store / "vocab.json").write_text('{"labels": 3}', "utf-8")
        manifest["files"]["vocab.json"] = sha256_of(store / "vocab.json")
    elif damage == "path-outside":
        outside = tmp_path / "outside.bin"
        outside.write_bytes(b"x")
        manifest["files"]["../outside.bin"] = sha256_of(outside)
    (store / MANIFEST).write_text(json.dumps(manifest), "utf-8")
    return store


@pytest.mark.parametrize(
    "damage", ["no-vocab-checksum", "invalid-model", "invalid-vocab", "path-outside"]
)
@pytest.mark.parametrize("command", ["annotate", "annotate -j 2", "predict", "model"])
def test_a_damaged_model_store_is_one_line_and_exit_2(
    tmp_path: Path, greeter_source: str, model_dir: Path, damage: str, command: str
) -> None:
    make_project(tmp_path, greeter_source, copies=2)
    store = broken_store(tmp_path, model_dir, damage)
    args = {
        "annotate": ["annotate", "--no-cache", "-j", "1", "pkg"],
        "annotate -j 2": ["annotate", "--no-cache", "-j", "2", "pkg"],
        "predict": ["predict", "pkg/mod0.py"],
        "model": ["model"],
    }[command]
    code, out, err = run([*args, "--model", str(store)])
    assert code == 2, err
    assert out == "" and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and str(store) in lines[0]
    assert snapshot(tmp_path / "pkg") == {
        "done.py": ANNOTATED.encode(),
        "mod0.py": greeter_source.encode(),
        "mod1.py": greeter_source.encode(),
    }


def test_a_pyproject_that_is_not_utf8_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_bytes(b'[tool.localtypes]\nexclude = ["caf\xe9"]\n')
    (tmp_path / "a.py").write_text("x = 1\n", "utf-8")
    code, _, err = run(["annotate", "a.py"])
    assert code == 2
    assert "pyproject.toml: cannot read (not UTF-8" in err and "Traceback" not in err


def test_diff_of_a_name_with_a_newline_applies_with_git(
    tmp_path: Path, greeter_source: str
) -> None:
    name = "new\nline.py"
    (tmp_path / name).write_text(greeter_source, "utf-8")
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="utf-8")
    code = main(["annotate", "--diff", "-j", "1", name], stdout, io.StringIO())
    stdout.flush()
    assert code == 0
    assert raw.getvalue().startswith(b'--- "a/new\\nline.py"\n+++ "b/new\\nline.py"\n')
    subprocess.run(["git", "init", "-q"], check=True, cwd=tmp_path)
    applied = subprocess.run(["git", "apply", "-"], input=raw.getvalue(), cwd=tmp_path)
    assert applied.returncode == 0
    assert (tmp_path / name).read_text("utf-8") != greeter_source
