"""Helpers of the verify stage's tests: a project on disk, a file annotated with given
guesses (so that a wrong first guess is certain), the checker's errors for it."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from localtypes.analysis.extract import extract
from localtypes.analysis.slots import SlotKind
from localtypes.edit.plan import SlotGuess, WriteOptions
from localtypes.edit.rounds import write
from localtypes.verify.checker import Checker, Diagnostic
from localtypes.verify.stage import VerifyFile

OPTIONS = WriteOptions(0.7, frozenset({SlotKind.PARAM, SlotKind.RETURN}), (3, 11))


def project(tmp_path: Path, files: Dict[str, str]) -> Path:
    root = tmp_path / "project"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def target(path: Path, guesses: Dict[str, Sequence[Tuple[str, float]]]) -> VerifyFile:
    """A file annotated with these ranked guesses (by qualname; ``f->`` for a return)."""
    source = path.read_text(encoding="utf-8")
    candidates: List[SlotGuess] = []
    for slot in extract(source).slots:
        key = slot.qualname + ("->" if slot.kind is SlotKind.RETURN else "")
        if key in guesses:
            (label, confidence), *rest = guesses[key]
            candidates.append(SlotGuess(slot, label, confidence, tuple(rest)))
    result = write(source, candidates, OPTIONS, filename=str(path))
    return VerifyFile(
        str(path.resolve()),
        source,
        tuple(candidates),
        OPTIONS,
        lambda text: text.encode("utf-8"),
        text=result.source,
        added=result.added,
    )


def errors(checker: Checker, target: VerifyFile) -> List[Diagnostic]:
    return checker.check({target.path: target.text.encode("utf-8")})
