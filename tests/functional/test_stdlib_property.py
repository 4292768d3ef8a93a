"""The writer on real code: a slice of this machine's standard library, annotated by the
real model at a low threshold, must keep every safety property (see scripts/check_stdlib.py,
which runs the same checks over the whole library)."""

from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path

import pytest
from script_loader import load_script

from localtypes.analysis.slots import SlotKind
from localtypes.model.predictor import Predictor
from localtypes.run.files import atomic_write, decode_source
from localtypes.settings import Settings

# Small and medium modules with many shapes: classes, nested and async functions,
# decorators, overloads, properties, try/except imports, ``del`` of module names.
SUBSET = [
    "abc.py",
    "bisect.py",
    "calendar.py",
    "colorsys.py",
    "contextlib.py",
    "copy.py",
    "dataclasses.py",
    "fnmatch.py",
    "fractions.py",
    "functools.py",
    "glob.py",
    "graphlib.py",
    "heapq.py",
    "keyword.py",
    "linecache.py",
    "numbers.py",
    "operator.py",
    "pprint.py",
    "queue.py",
    "sched.py",
    "secrets.py",
    "shlex.py",
    "string.py",
    "textwrap.py",
    "weakref.py",
    "_markupbase.py",
    "json/decoder.py",
    "json/encoder.py",
    "asyncio/locks.py",
    "email/headerregistry.py",
]
STDLIB = Path(sysconfig.get_paths()["stdlib"])


check_stdlib = load_script("check_stdlib")


@pytest.fixture(scope="module")
def copies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("stdlib")
    for name in SUBSET:
        source = STDLIB / name
        if source.is_file():
            target = folder / name.replace("/", "__")
            shutil.copyfile(source, target)
    return folder


# Each file once, the target versions alternating: 3.8 (typing spellings, quoting) and 3.11.
CASES = [(name, (3, 8) if number % 2 == 0 else (3, 11)) for number, name in enumerate(SUBSET)]


@pytest.mark.parametrize(("name", "target"), CASES, ids=[name for name, _ in CASES])
def test_stdlib_file_keeps_the_safety_properties(
    name: str, target: tuple[int, int], copies: Path, predictor: Predictor
) -> None:
    path = copies / name.replace("/", "__")
    if not path.is_file():
        pytest.skip(f"{name} is not in this Python's standard library")
    kinds = frozenset(SlotKind)  # variables too: the riskiest edits
    settings = Settings(min_confidence=0.05, kinds=kinds, target_version=target)
    data = path.read_bytes()
    decoded = decode_source(data)
    check = check_stdlib.check_source(decoded.text, str(path), settings, predictor)
    assert check.status in ("changed", "unchanged"), check.reason
    if check.status == "changed":
        # Through the file helpers: the written bytes decode to a module that compiles.
        atomic_write(path, decoded.encode(check.source))
        again = decode_source(path.read_bytes())
        assert again.text == check.source
        compile(again.text, str(path), "exec", dont_inherit=True)
        atomic_write(path, data)
