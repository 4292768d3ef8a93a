"""Errors the core raises; the CLI and the HTTP app turn them into messages and codes."""

from __future__ import annotations


class LocaltypesError(Exception):
    """Base class for errors meant for the user (never shown as a traceback)."""


class SourceError(LocaltypesError):
    """The source text cannot be read as Python (bad encoding or syntax)."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        where = f" (line {line}, column {column})" if line is not None else ""
        super().__init__(f"{message}{where}")
        self.reason = message
        self.line = line
        self.column = column


class ModelStoreError(LocaltypesError):
    """The model store is missing, damaged or of a format this version cannot read."""
