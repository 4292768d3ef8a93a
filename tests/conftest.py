"""Shared fixtures and helpers of the test suite.

``pytest`` alone runs the fast suite; the markers ``slow``, ``container`` and ``training``
(see pyproject.toml) select the rest, and ``.ci/run`` runs everything (``-m ""``).
Helpers that several test files import (``serving``, ``script_loader``) live next to this
file: ``pythonpath = ["tests"]`` makes them importable from tests in subfolders too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from localtypes.model.predictor import Predictor, default_predictor

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every run of the suite gets a cache of its own (and so does every process a test
    starts: they inherit the variable). The user's cache would carry results over from
    earlier runs, and a test that needs a cold run would pass once and then fail."""
    folder = tmp_path_factory.mktemp("localtypes-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LOCALTYPES_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The root of the source checkout (where pyproject.toml and model_store/ are)."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def predictor() -> Predictor:
    """The real predictor of the bundled model, loaded once per session.

    The model store is part of the repository: a missing or damaged one is a failure,
    not a skip.
    """
    return default_predictor()


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The folder of the model store in use, verified (missing or damaged: a failure)."""
    from localtypes.model.store import load_store

    return load_store(None).path


# A small module the bundled model annotates with confidence (dunder rules, bool defaults,
# plain returns): the sample of the command line's and the pre-commit hook's tests.
GREETER_SOURCE = '''\
"""A small module with nothing annotated."""

import os


class Greeter:
    def __init__(self, name, excited=False):
        self.name = name
        self.excited = excited

    def __str__(self):
        return "Greeter(" + self.name + ")"

    def __len__(self):
        return len(self.name)

    def greet(self, count=1):
        text = "hello " + self.name
        return text * count

    def is_excited(self):
        return self.excited


def exists(path, follow_symlinks=True):
    return os.path.exists(path)


def count_lines(text):
    total = 0
    for _ in text.splitlines():
        total += 1
    return total
'''


@pytest.fixture(scope="session")
def greeter_source() -> str:
    """``GREETER_SOURCE``: a module the model annotates, with nothing annotated yet."""
    return GREETER_SOURCE
