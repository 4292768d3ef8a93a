"""Shared fixtures and helpers of the test suite.

``pytest`` alone runs the fast suite; the markers ``slow``, ``container`` and ``training``
(see pyproject.toml) select the rest, and ``.ci/run`` runs everything (``-m ""``).
Helpers that several test files import (``serving``, ``script_loader``) live next to this
file: ``pythonpath = ["tests"]`` makes them importable from tests in subfolders too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from localtypes.model.predictor import Predictor, default_predictor

REPO_ROOT = Path(__file__).resolve().parents[1]


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
