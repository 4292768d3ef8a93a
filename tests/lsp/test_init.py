"""``localtypes lsp`` without the lsp extra: a clear error, as ``--verify`` without mypy."""

from __future__ import annotations

import importlib.util
import io
from typing import Any, Optional

import pytest

from localtypes.cli import main


def test_the_command_without_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, package: Optional[str] = None) -> Any:
        return None if name == "pygls" else real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    out, err = io.StringIO(), io.StringIO()
    assert main(["lsp"], out, err) == 2
    assert "pip install 'localtypes[lsp]'" in err.getvalue() and "pygls" in err.getvalue()
    assert "Traceback" not in err.getvalue()


def test_the_command_is_listed() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["lsp", "--help"], out, err) == 0
    assert "language server" in out.getvalue() and "--stdio" in out.getvalue()
