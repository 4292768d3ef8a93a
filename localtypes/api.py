"""The core API: ``predict``, ``annotate`` and ``explain``. The CLI and the HTTP app call
only these.

``check_annotated`` holds an annotated output from elsewhere (a cache entry) to the
checks ``annotate`` passes its own outputs through.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Mapping, Optional, Tuple

from localtypes.analysis.extract import extract
from localtypes.analysis.project import ModuleFacts, ProjectIndex
from localtypes.analysis.slots import STATIC_PREFIXES, ExtractedModule, ModuleInfo, Slot, SlotKind
from localtypes.edit.plan import Added, Reason, Rejection, SlotGuess, WriteOptions
from localtypes.edit.rounds import WriteResult, write_rounds
from localtypes.edit.skips import find_skips
from localtypes.edit.target import resolve_target
from localtypes.model.predictor import ModelInfo, Predictor, TypeGuess, default_predictor
from localtypes.module import ModuleIndex
from localtypes.settings import DEFAULT_TOP_K, MAX_TOP_K, Settings
from localtypes.syntax import parse_source

if TYPE_CHECKING:
    from localtypes.explain import Explanation

# Guesses per slot that annotate weighs (the first, then those the checks may fall back on).
CHOICE_TOP_K = 5


@dataclass(frozen=True)
class SlotPrediction:
    """The ranked guesses for one slot."""

    slot: Slot
    guesses: Tuple[TypeGuess, ...]

    def to_dict(self) -> Dict[str, Any]:
        return {
            **_slot_dict(self.slot),
            "annotation": self.slot.annotation,
            "predictions": [
                {"type": guess.label, "confidence": round(guess.confidence, 4)}
                for guess in self.guesses
            ],
        }


@dataclass(frozen=True)
class Prediction:
    """Every slot of one source file with its ranked guesses."""

    model: ModelInfo
    path: Optional[str]
    info: ModuleInfo
    slots: Tuple[SlotPrediction, ...]

    def to_dict(self) -> Dict[str, Any]:
        """The JSON document shared by ``localtypes predict`` and ``POST /predict``."""
        return {
            "model": self.model.to_dict(),
            "path": self.path,
            "slots": [slot.to_dict() for slot in self.slots],
        }


def predict(
    source: str,
    path: Optional[str] = None,
    *,
    top_k: int = DEFAULT_TOP_K,
    predictor: Optional[Predictor] = None,
    context: Optional[Mapping[str, str]] = None,
    facts: Optional[ModuleFacts] = None,
    index: Optional[ModuleIndex] = None,
) -> Prediction:
    """Predict ranked types for every slot of ``source``.

    ``context`` holds other modules of the same project (path -> source, paths relative to
    the project root like ``path``): their call sites and uses of this module's functions
    become evidence. ``facts`` are that evidence already computed (``project_facts``).
    ``index`` is the source's module index when the caller has one (it is only read: the
    caller keeps using it without a second parse). Raises ``SourceError`` when the source
    does not parse.
    """
    if facts is None and context:
        facts = project_facts(source, path, context)
    return _predict(source, path, top_k, predictor, index, facts)


def project_facts(source: str, path: Optional[str], context: Mapping[str, str]) -> ModuleFacts:
    """The cross-file evidence for ``source`` from the other modules of its project.

    A context module that does not parse adds nothing (it is the user's neighbour, not the
    file asked about); ``source`` itself must parse (``SourceError``).
    """
    own = path or "<module>.py"
    parse_source(source)  # the file asked about must parse: its SourceError is the answer
    try:
        return ProjectIndex.from_sources({**context, own: source}).facts(own)
    except RecursionError:
        return {}


def _predict(
    source: str,
    path: Optional[str],
    top_k: int,
    predictor: Optional[Predictor],
    index: Optional[ModuleIndex],
    facts: Optional[ModuleFacts] = None,
) -> Prediction:
    if not 1 <= top_k <= MAX_TOP_K:
        raise ValueError(f"top_k must be between 1 and {MAX_TOP_K}, not {top_k}")
    predictor = predictor or default_predictor()
    return _prediction_of(extract(source, index=index, facts=facts), path, top_k, predictor)


def _prediction_of(
    module: ExtractedModule, path: Optional[str], top_k: int, predictor: Predictor
) -> Prediction:
    guesses = predictor.predict(module, top_k=top_k)
    return Prediction(
        model=predictor.info,
        path=path,
        info=module.info,
        slots=tuple(SlotPrediction(slot, ranked) for slot, ranked in zip(module.slots, guesses)),
    )


# --- annotate ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnnotateResult:
    """The annotated source and what was added or left out (line numbers: the input's)."""

    model: ModelInfo
    path: Optional[str]
    source: str
    changed: bool
    added: Tuple[Added, ...]
    skipped: Tuple[Rejection, ...]
    # Every slot of the source given with the model's ranked guesses (the last pass's):
    # what ``localtypes.verify`` chooses again from.
    guesses: Tuple[SlotGuess, ...] = field(default=(), compare=False, repr=False)
    # With ``verify``: what the type checker did ("replaced", "dropped", "remaining").
    checker: Optional[Dict[str, int]] = None
    # What was written with (the target version the file got, the threshold, the kinds):
    # the verify stage writes the file again with the same.
    options: Optional[WriteOptions] = field(default=None, compare=False, repr=False)
    # ``# localtypes: skip-file``: the source is returned as it is, unread by the model.
    skipped_file: bool = False

    def to_dict(self) -> Dict[str, Any]:
        """The JSON document of ``POST /annotate``."""
        return {
            "model": self.model.to_dict(),
            "path": self.path,
            "changed": self.changed,
            "source": self.source,
            "added": [
                {
                    **_slot_dict(item.slot),
                    "type": item.label,
                    "annotation": item.text,
                    "confidence": round(item.confidence, 4),
                }
                for item in self.added
            ],
            "skipped": [
                {
                    **_slot_dict(item.slot),
                    "reason": item.reason.value,
                    "type": item.label,
                    "confidence": None if item.confidence is None else round(item.confidence, 4),
                }
                for item in self.skipped
            ],
            **({} if self.checker is None else {"checker": dict(self.checker)}),
        }


def _slot_dict(slot: Slot) -> Dict[str, Any]:
    return {
        "kind": slot.kind.value,
        "qualname": slot.qualname,
        "scope": slot.scope,
        "occurrence": slot.occurrence,
        "name": slot.name,
        "line": slot.line,
        "column": slot.column,
    }


def annotate(
    source: str,
    path: Optional[str] = None,
    *,
    settings: Optional[Settings] = None,
    predictor: Optional[Predictor] = None,
    context: Optional[Mapping[str, str]] = None,
    facts: Optional[ModuleFacts] = None,
) -> AnnotateResult:
    """Write the model's confident predictions into ``source`` as annotations.

    ``context`` and ``facts``: other modules of the project, as for ``predict``.

    Only slots without an annotation, of ``settings.kinds``, whose top guess reaches
    ``settings.min_confidence`` (default: the model's calibrated threshold) and whose names
    resolve in the module are written; the edit passes the safety checks or nothing is
    returned. Raises ``SourceError`` for source that does not parse, and
    ``UnsafeEditError`` (a bug) when an edit fails the checks. Idempotent.

    With ``settings.verify``, mypy checks the module (``path``, default ``module.py``)
    with ``context`` (other modules of its project: relative path -> source) against the
    module as given, and annotations that add an error get their next guess or none
    (``localtypes.verify``); raises ``VerifyUnavailable`` when mypy is not installed.
    """
    settings = settings or Settings()
    predictor = predictor or default_predictor(settings.model)
    threshold = settings.min_confidence
    tree = parse_source(source)  # SourceError before any work
    skips = find_skips(source, tree)
    options = _write_options(
        settings, predictor.info.threshold if threshold is None else threshold, tree, source
    )
    if skips.file:
        return AnnotateResult(
            predictor.info, path, source, False, (), (), options=options, skipped_file=True
        )
    model = predictor
    last: Dict[Any, SlotGuess] = {}  # slot key -> its guesses, the slot as first found
    said_no: Dict[Any, Slot] = {}  # slots a ``# localtypes: skip`` covers, by key
    passes: List[int] = []  # one entry per pass made
    if facts is None and context:
        facts = project_facts(source, path, context)

    def guess(index: ModuleIndex) -> List[SlotGuess]:
        # the next guesses too: when the cheap checks rule the first out, one may be taken.
        # Annotations and imports never change call sites: one set of facts serves every pass.
        prediction = _predict(index.source, path, CHOICE_TOP_K, model, index, facts)
        guesses = [
            SlotGuess(
                item.slot,
                item.guesses[0].label if item.guesses else None,
                item.guesses[0].confidence if item.guesses else 0.0,
                tuple((g.label, g.confidence) for g in item.guesses[1:]),
            )
            for item in prediction.slots
        ]
        if skips and not passes:  # the first pass reads the source given: its line numbers
            said_no.update((g.slot.key, g.slot) for g in guesses if skips.covers(g.slot))
        passes.append(1)
        guesses = [item for item in guesses if item.slot.key not in said_no]
        for item in guesses:
            first = last.get(item.slot.key)
            # Features are dropped (results travel between processes) but the static
            # pass's decision, which the run's report names (``localtypes.run.records``).
            static = tuple(f for f in item.slot.features if f.startswith(STATIC_PREFIXES))
            slot = replace(first.slot if first else item.slot, features=static[:1])
            last[item.slot.key] = replace(item, slot=slot)
        return guesses

    result = write_rounds(source, guess, options, filename=path or "<unknown>", tree=tree)
    annotated = AnnotateResult(
        model=predictor.info,
        path=path,
        source=result.source,
        changed=result.source != source,
        added=result.added,
        skipped=result.skipped + _said_no(said_no.values(), options),
        guesses=tuple(last.values()),
        options=options,
    )
    if not settings.verify:
        return annotated
    from localtypes.verify.run import verify_result

    return verify_result(annotated, source, context or {}, options)


def _said_no(slots: Iterable[Slot], options: WriteOptions) -> Tuple[Rejection, ...]:
    """The slots a skip comment covers that would otherwise have been candidates."""
    return tuple(
        Rejection(replace(slot, features=()), Reason.SKIP_COMMENT)
        for slot in slots
        if slot.annotation is None and slot.kind in options.kinds
    )


def _write_options(
    settings: Settings, min_confidence: float, tree: ast.Module, text: str
) -> WriteOptions:
    return WriteOptions(
        min_confidence=min_confidence,
        kinds=frozenset(settings.kinds),
        target_version=resolve_target(settings.target_version, tree, text),
    )


def annotate_slot(
    source: str,
    slot: Slot,
    label: str,
    path: Optional[str] = None,
    *,
    settings: Optional[Settings] = None,
) -> WriteResult:
    """Write ``label`` as the annotation of one ``slot`` of ``source`` (a slot ``predict``
    or ``annotate`` found in this very source), as ``annotate`` writes it: spelled so that
    its names resolve, with the imports it needs, for the same target, through the same
    cheap checks (which may write ``X | None`` for ``X``) and safety checks, and never
    where a ``# localtypes: skip`` comment says no. No threshold: the label was chosen.

    ``result.added`` is empty (and ``result.skipped`` says why) when it cannot be written.
    Raises ``SourceError`` for source that does not parse.
    """
    settings = settings or Settings()
    tree = parse_source(source)
    options = _write_options(settings, 0.0, tree, source)
    skips = find_skips(source, tree)
    if skips.file or skips.covers(slot):
        said_no = Rejection(replace(slot, features=()), Reason.SKIP_COMMENT)
        return WriteResult(source, (), (said_no,))
    candidates = [SlotGuess(slot, label, 1.0)]
    filename = path or "<unknown>"
    return write_rounds(source, lambda _index: candidates, options, filename, 1, tree=tree)


def check_annotated(
    original: str,
    new: str,
    path: Optional[str] = None,
    *,
    kinds: Optional[Iterable[SlotKind]] = None,
) -> Dict[str, int]:
    """Raise ``UnsafeEditError`` unless ``new`` is ``original`` with only what ``annotate``
    could add: annotations (of ``kinds``, default all) that are plain type expressions and
    the imports they need, every other character and every comment as it was, and the
    same safety checks passed. Returns the annotations added by kind (``"param": 2``...).

    For outputs that did not just come from ``annotate`` (the result cache): what was
    added is worked out from the two texts (``localtypes.edit.recheck``).
    """
    from localtypes.edit.recheck import check_output

    return check_output(original, new, path or "<unknown>", kinds)


# --- explain -------------------------------------------------------------------------------


def explain(
    source: str,
    path: Optional[str] = None,
    *,
    line: int,
    column: Optional[int] = None,
    top_k: int = CHOICE_TOP_K,
    settings: Optional[Settings] = None,
    predictor: Optional[Predictor] = None,
    context: Optional[Mapping[str, str]] = None,
    facts: Optional[ModuleFacts] = None,
) -> Explanation:
    """Why the slot(s) at ``line`` (1-based; ``column`` 0-based narrows it to one) get
    what they get: the model's ``top_k`` guesses, the evidence it read, and what
    ``annotate`` with ``settings`` does with each, and why.

    Raises ``NoSlotError`` when no slot starts there, ``SourceError`` when the source
    does not parse. ``context`` and ``facts``: as for ``predict``.
    """
    from localtypes import explain as explaining
    from localtypes.run.records import records_of

    settings = replace(settings or Settings(), verify=False)  # the writer's choice, unchecked
    predictor = predictor or default_predictor(settings.model)
    if facts is None and context:
        facts = project_facts(source, path, context)
    if not 1 <= top_k <= MAX_TOP_K:
        raise ValueError(f"top_k must be between 1 and {MAX_TOP_K}, not {top_k}")
    module = extract(source, facts=facts)
    prediction = _prediction_of(module, path, top_k, predictor)
    slots = [item.slot for item in prediction.slots]
    chosen = explaining.pick_slots(slots, line, column)
    if not chosen:
        raise explaining.NoSlotError(explaining.no_slot_message(slots, path, line))
    records = records_of(
        annotate(source, path, settings=settings, predictor=predictor, facts=facts)
    )
    threshold = (
        predictor.info.threshold if settings.min_confidence is None else settings.min_confidence
    )
    kinds = [kind.value for kind in SlotKind if kind in settings.kinds]
    out = []
    for i in chosen:
        slot, guesses = prediction.slots[i].slot, prediction.slots[i].guesses
        record = explaining.find_record(records, slot)
        out.append(
            explaining.SlotExplanation(
                slot=slot,
                guesses=guesses,
                static=explaining.static_of(slot),
                evidence=explaining.evidence_groups(slot.features),
                verdict=explaining.verdict(slot, record, kinds, threshold),
                record=record,
                without=explaining.without_each_group(slot, module, guesses[0].label, predictor)
                if guesses
                else (),
            )
        )
    return explaining.Explanation(path, line, column, threshold, tuple(out))
