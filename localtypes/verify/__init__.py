"""``--verify``: a real type checker confirms the annotations the writer chose.

The project is checked twice, as it is (the baseline) and as annotated, with every body
checked on both sides (``--check-untyped-defs``), so that only the errors the annotations
cause count. An annotation implicated in such an error is replaced by its next guess that
clears the threshold, or dropped, until no new error is left (``stage``). mypy runs in this
process through its API (``checker``), with its incremental cache in localtypes' cache
folder, the project's own mypy configuration and the project's Python environment.

mypy is an optional extra: ``pip install "localtypes[verify]"``.
"""

from __future__ import annotations

from localtypes.errors import LocaltypesError


class VerifyUnavailable(LocaltypesError):
    """``--verify`` was asked for but the checker is not installed (a usage error)."""


def require_checker() -> None:
    """Raise ``VerifyUnavailable`` unless mypy can be imported."""
    import importlib.util

    if importlib.util.find_spec("mypy") is None:
        raise VerifyUnavailable(
            "--verify needs mypy, which is not installed: pip install 'localtypes[verify]'"
        )
