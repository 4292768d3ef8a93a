"""What the server knows about one buffer's text: the ranked guesses of every slot, what
``localtypes annotate`` writes, where each slot's annotation goes, and the edits of one
slot or of a chosen guess, all from the core API (``predict``, ``annotate``,
``annotate_slot``), never spliced here.

An ``Analysis`` is computed for a text and kept by the server per content, so a hint, a
code action and their edits agree; edits of one slot are computed on first use.
"""

from __future__ import annotations

import ast
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from localtypes.analysis.slots import Slot, SlotKey, SlotKind
from localtypes.api import (
    CHOICE_TOP_K,
    AnnotateResult,
    annotate,
    annotate_slot,
    predict,
    project_facts,
)
from localtypes.configs import find_project_root
from localtypes.edit.plan import Added
from localtypes.edit.safety import UnsafeEditError
from localtypes.edit.splice import signature_ends
from localtypes.errors import SourceError
from localtypes.lsp.project import Projects
from localtypes.lsp.text import Buffer
from localtypes.model.predictor import Predictor, TypeGuess
from localtypes.run.discovery import ROOT_MARKERS
from localtypes.service.admission import MAX_SLOTS, GuardedPredictor, TooManySlots
from localtypes.settings import Settings
from localtypes.syntax import every_statement, parse_source

Span = Tuple[int, int]  # indices into the text


@dataclass(frozen=True)
class SlotView:
    """One unannotated slot of the text: its guesses, where its annotation goes, and the
    spans a cursor may be in to ask for its quick fixes."""

    slot: Slot
    guesses: Tuple[TypeGuess, ...]
    insert_at: int
    spans: Tuple[Span, ...]

    @property
    def subject(self) -> str:
        """How a message names the slot."""
        if self.slot.kind is SlotKind.RETURN:
            return f"the return of `{self.slot.scope.rsplit('.', 1)[-1]}`"
        return f"`{self.slot.name}`"

    def touches(self, start: int, end: int) -> bool:
        return any(first <= end and start <= last for first, last in self.spans)


@dataclass(frozen=True)
class Hint:
    """An annotation ``annotate`` writes: shown where it goes."""

    view: SlotView
    added: Added

    @property
    def label(self) -> str:
        prefix = " -> " if self.view.slot.kind is SlotKind.RETURN else ": "
        return prefix + self.added.text


@dataclass(frozen=True)
class Candidate:
    """One guess for a slot, as written into the text."""

    label: str  # the guess
    confidence: float
    text: str  # the annotation as written (``X | None`` for a None default...)
    output: str  # the whole text with it written


@dataclass
class Analysis:
    """A text, what the model and the writer make of it, or why nothing (``problem``)."""

    text: str
    path: Optional[str]
    settings: Settings
    views: Tuple[SlotView, ...] = ()
    hints: Tuple[Hint, ...] = ()
    annotated: Optional[str] = None  # what ``annotate`` writes for the whole text
    problem: Optional[str] = None  # why there are no hints: it does not parse, too large...
    _slot_outputs: Dict[SlotKey, Optional[str]] = field(default_factory=dict, repr=False)
    _candidates: Dict[SlotKey, Tuple[Candidate, ...]] = field(default_factory=dict, repr=False)

    def view_at(self, start: int, end: int) -> List[SlotView]:
        """The slots whose spans the range from ``start`` to ``end`` touches."""
        return [view for view in self.views if view.touches(start, end)]

    def hint_output(self, hint: Hint) -> Optional[str]:
        """The text with only this hint's annotation (and its imports) written, exactly as
        ``annotate`` writes it for that slot; None if the writer refuses it alone."""
        key = hint.view.slot.key
        if key not in self._slot_outputs:
            result = self._write(hint.view.slot, hint.added.label)
            ok = result is not None and result[1] == hint.added.text
            self._slot_outputs[key] = result[0] if ok and result else None
        return self._slot_outputs[key]

    def candidates(self, view: SlotView) -> Tuple[Candidate, ...]:
        """One candidate per ranked guess that can be written (names that resolve, the
        checks pass), best first; guesses that write the same text are given once."""
        key = view.slot.key
        if key not in self._candidates:
            found: Dict[str, Candidate] = {}
            for guess in view.guesses:
                result = self._write(view.slot, guess.label)
                if result is not None and result[0] not in found:
                    output, text = result
                    found[output] = Candidate(guess.label, guess.confidence, text, output)
            self._candidates[key] = tuple(found.values())
        return self._candidates[key]

    def _write(self, slot: Slot, label: str) -> Optional[Tuple[str, str]]:
        try:
            result = annotate_slot(self.text, slot, label, self.path, settings=self.settings)
        except (SourceError, UnsafeEditError, RecursionError):
            return None
        predicted = [item for item in result.added if not item.companion]
        if len(predicted) != 1:
            return None
        return result.source, predicted[0].text


def analyse(
    text: str,
    path: Optional[str],
    settings: Settings,
    predictor: Predictor,
    projects: Optional[Projects] = None,
) -> Analysis:
    """Predict and annotate ``text`` (a buffer of the file at ``path``, if any), with the
    call sites of its project's modules as evidence (``projects``; None: its own only).

    Within the service's limits (``max_body_bytes`` of UTF-8, ``MAX_SLOTS`` slots); a text
    over them, or that does not parse, gets an ``Analysis`` with a ``problem`` and nothing
    else. Raises only for bugs.
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > settings.max_body_bytes:
        problem = f"the buffer has {size} bytes; at most {settings.max_body_bytes} are analysed"
        return Analysis(text, path, settings, problem=problem)
    guarded = GuardedPredictor(predictor, MAX_SLOTS, lambda _seconds: None)
    try:
        if projects is not None:
            facts = projects.facts(text, path, settings)
        else:
            facts = project_facts(text, project_path(path), {})
        result = annotate(text, path, settings=settings, predictor=guarded, facts=facts)
        ranked = _ranked(result, settings.top_k)
        if ranked is None:  # more guesses than annotate weighs: the model once more
            prediction = predict(text, path, top_k=settings.top_k, predictor=guarded, facts=facts)
            ranked = [(item.slot, item.guesses) for item in prediction.slots]
        tree = parse_source(text)
    except SourceError as exc:
        return Analysis(text, path, settings, problem=str(exc))
    except TooManySlots as exc:
        return Analysis(text, path, settings, problem=str(exc))
    except RecursionError:
        return Analysis(text, path, settings, problem="the source is nested too deeply")
    buffer = Buffer(text)
    defs = [
        node
        for node in every_statement(tree.body)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]
    functions = {
        (node.lineno, node.col_offset): (node, end)
        for node, end in zip(defs, signature_ends(text, defs))
    }
    views: Dict[SlotKey, SlotView] = {}
    for slot, guesses in ranked:
        if slot.annotation is not None or slot.kind not in settings.kinds:
            continue
        located = _locate(slot, buffer, functions)
        if located is not None:
            slot = dataclasses.replace(slot, features=())  # not needed past the model
            views[slot.key] = SlotView(slot, guesses, *located)
    hints = tuple(
        Hint(views[added.slot.key], added)
        for added in result.added
        if added.slot.key in views and not added.companion
    )
    return Analysis(
        text,
        path,
        settings,
        views=tuple(views.values()),
        hints=hints,
        annotated=result.source,
    )


def _ranked(
    result: AnnotateResult, top_k: int
) -> Optional[List[Tuple[Slot, Tuple[TypeGuess, ...]]]]:
    """Every slot with its ``top_k`` guesses as ``annotate`` weighed them (its last pass),
    which saves a second model call; None when it weighed fewer than ``top_k``."""
    if top_k > CHOICE_TOP_K:
        return None
    ranked = []
    for item in result.guesses:
        pairs = [(item.label, item.confidence)] if item.label is not None else []
        guesses = tuple(TypeGuess(label, c) for label, c in [*pairs, *item.alternatives])
        ranked.append((item.slot, guesses[:top_k]))
    return ranked


def project_path(path: Optional[str]) -> Optional[str]:
    """``path`` as the CLI's project index names it: relative to the project root (the
    nearest folder with pyproject.toml, .git or .hg), in posix form."""
    if path is None:
        return None
    file = Path(path)
    root = find_project_root(file, ROOT_MARKERS)
    if root is None:
        return file.name
    try:
        return file.resolve().relative_to(root).as_posix()
    except ValueError:
        return file.name


def _locate(
    slot: Slot,
    buffer: Buffer,
    functions: Dict[Tuple[int, int], Tuple[ast.FunctionDef | ast.AsyncFunctionDef, Optional[int]]],
) -> Optional[Tuple[int, Tuple[Span, ...]]]:
    """Where ``slot``'s annotation goes, and the spans that stand for the slot: the name of
    a parameter or variable; a function's ``def`` and name, and its closing ``)``."""
    start = buffer.ast_offset(slot.line, slot.column)
    if slot.kind is not SlotKind.RETURN:
        end = start + len(slot.name)
        if buffer.text[start:end] != slot.name:
            return None
        return end, ((start, end),)
    node, closing = functions.get((slot.line, slot.column), (None, None))
    if node is None or closing is None:
        return None
    name = buffer.text.find(node.name, start, closing)
    head = (start, name + len(node.name)) if name >= 0 else (start, start)
    return closing, (head, (closing - 1, closing))
