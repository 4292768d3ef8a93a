"""One record per slot that ``annotate`` wrote or left out, and the JSON report of a run.

A record is plain data (strings, numbers, tuples), so that worker processes can send it
back inside their ``FileOutcome`` and the cache can store it beside a file's result: a
file answered from the cache reports the same records as a fresh run (``from_json``).

``chosen_by`` says why a written type was chosen:

- ``static-rule``: the static pass decided the type (a literal default, the returns of the
  body...) and the model's top guess agrees with it;
- ``model``: the model's top guess, which no static rule decided;
- ``check-fallback``: the cheap checks ruled the model's top guess out and its next guess
  was taken (``localtypes.edit.choose.checked``);
- ``checker``: ``--verify``'s type checker replaced the writer's choice with another guess.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple

import click

from localtypes import __version__
from localtypes.analysis.slots import STATIC_PREFIXES
from localtypes.edit.plan import COMPANION
from localtypes.run.report import FileOutcome, Report

if TYPE_CHECKING:
    from localtypes.analysis.slots import Slot, SlotKey
    from localtypes.api import AnnotateResult
    from localtypes.edit.plan import Added, Rejection, SlotGuess
    from localtypes.model.store import ModelStore

# The version of the report document (``docs/report.schema.json``); bumped on any change
# that a consumer could trip on (a field removed or renamed, a meaning changed).
REPORT_FORMAT = 1

ADD = "add"
SKIP = "skip"


Ranked = Tuple[Tuple[str, float], ...]


@dataclass(frozen=True)
class SlotRecord:
    """What happened to one slot: written (``action`` "add") or left out ("skip")."""

    action: str
    kind: str
    qualname: str
    name: str
    line: int  # in the file as it was read (1-based)
    column: int  # 0-based
    type: Optional[str]  # the type written, or the best guess left out (None: no guess)
    confidence: Optional[float]  # of ``type`` (after the checks' renormalisation)
    annotation: Optional[str] = None  # the text written (``type`` as spelled in the file)
    chosen_by: Optional[str] = None  # "add" only: see the module docstring
    reason: Optional[str] = None  # "skip" only: a ``Reason`` value
    detail: str = ""  # what the check found, when it says
    static: Optional[str] = None  # the static pass's decision, if it made one
    guesses: Ranked = ()  # the model's ranked guesses (type, confidence), best first

    @property
    def runner_ups(self) -> Ranked:
        """The model's other guesses, best first."""
        return tuple(item for item in self.guesses if item[0] != self.type)

    def to_dict(self, path: str) -> Dict[str, Any]:
        """The record in the JSON report (``docs/report.schema.json``)."""
        return {
            "file": path,
            "action": self.action,
            "line": self.line,
            "column": self.column,
            "kind": self.kind,
            "name": self.name,
            "qualname": self.qualname,
            "type": self.type,
            "annotation": self.annotation,
            "confidence": _round(self.confidence),
            "chosen_by": self.chosen_by,
            "reason": self.reason,
            "detail": self.detail or None,
            "static": self.static,
            "runner_ups": [
                {"type": label, "confidence": _round(conf)} for label, conf in self.runner_ups
            ],
        }

    def to_json(self) -> List[Any]:
        """A compact form for the cache entry (``from_json`` reads it back)."""
        return [
            self.action, self.kind, self.qualname, self.name, self.line, self.column,
            self.type, self.confidence, self.annotation, self.chosen_by, self.reason,
            self.detail, self.static, [list(item) for item in self.guesses],
        ]  # fmt: skip

    @classmethod
    def from_json(cls, data: Any) -> SlotRecord:
        """The record ``to_json`` wrote; ``ValueError`` (or ``TypeError``) if it is not one."""
        if not isinstance(data, list) or len(data) != 14:
            raise ValueError("not a slot record")
        action, kind, qualname, name, line, column = data[:6]
        kind_type, confidence, annotation, chosen_by, reason, detail, static, guesses = data[6:]
        record = cls(
            action=str(action),
            kind=str(kind),
            qualname=str(qualname),
            name=str(name),
            line=int(line),
            column=int(column),
            type=_optional_str(kind_type),
            confidence=None if confidence is None else float(confidence),
            annotation=_optional_str(annotation),
            chosen_by=_optional_str(chosen_by),
            reason=_optional_str(reason),
            detail=str(detail),
            static=_optional_str(static),
            guesses=tuple((str(label), float(conf)) for label, conf in guesses),
        )
        if record.action not in (ADD, SKIP):
            raise ValueError(f"unknown action {record.action!r}")
        return record


def _optional_str(value: Any) -> Optional[str]:
    return None if value is None else str(value)


def _round(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value, 4)


def static_decision(features: Sequence[str]) -> Optional[str]:
    """The static pass's decision among a slot's features, if it made one."""
    for feature in features:
        if feature.startswith(STATIC_PREFIXES):
            return feature[3:]
    return None


def _ranked(guess: Optional[SlotGuess]) -> Ranked:
    if guess is None or guess.label is None:
        return ()
    return ((guess.label, guess.confidence), *guess.alternatives)


def _chosen_by(label: str, ranked: Ranked, static: Optional[str], replaced: bool) -> str:
    if replaced:
        return "checker"
    # The checks may merge ``X`` into ``X | None`` for a parameter whose default is None.
    top = ranked[0][0] if ranked else None
    if top is not None and label not in (top, f"{top} | None"):
        return "check-fallback"
    if static is not None and label in (static, f"{static} | None"):
        return "static-rule"
    return "model"


def records_of(result: AnnotateResult) -> Tuple[SlotRecord, ...]:
    """The records of one ``annotate`` result, in source order."""
    return slot_records(result.added, result.skipped, result.guesses)


def slot_records(
    written: Sequence[Added],
    left_out: Sequence[Rejection],
    ranked_guesses: Sequence[SlotGuess],
    replaced: Mapping[SlotKey, str] = {},
) -> Tuple[SlotRecord, ...]:
    """The records of what was ``written`` and ``left_out``, in source order.

    ``replaced``: slot key -> the label the writer had chosen, for ``--verify`` (a
    different label written was the checker's choice).
    """
    guesses = {item.slot.key: item for item in ranked_guesses}
    out: List[SlotRecord] = []
    for added in written:
        guess = guesses.get(added.slot.key)
        ranked = _ranked(guess)
        static = static_decision(guess.slot.features) if guess else None
        out.append(
            SlotRecord(
                action=ADD,
                **_where(added.slot),
                type=added.label,
                confidence=added.confidence,
                annotation=added.text,
                chosen_by=COMPANION
                if added.companion
                else _chosen_by(
                    added.label,
                    ranked,
                    static,
                    replaced.get(added.slot.key, added.label) != added.label,
                ),
                static=static,
                guesses=ranked,
            )
        )
    for skipped in left_out:
        guess = guesses.get(skipped.slot.key)
        out.append(
            SlotRecord(
                action=SKIP,
                **_where(skipped.slot),
                type=skipped.label,
                confidence=skipped.confidence,
                reason=skipped.reason.value,
                detail=skipped.detail,
                static=static_decision(guess.slot.features) if guess else None,
                guesses=_ranked(guess),
            )
        )
    out.sort(key=lambda record: (record.line, record.column, record.kind))
    return tuple(out)


def _where(slot: Slot) -> Dict[str, Any]:
    """The fields of a record that say which slot it is about."""
    return {
        "kind": slot.kind.value,
        "qualname": slot.qualname,
        "name": slot.name,
        "line": slot.line,
        "column": slot.column,
    }


def records_to_json(records: Optional[Sequence[SlotRecord]]) -> Optional[List[Any]]:
    return None if records is None else [record.to_json() for record in records]


def records_from_json(data: Any) -> Optional[Tuple[SlotRecord, ...]]:
    """Records from a cache entry; ``ValueError`` when they are damaged."""
    if data is None:
        return None
    if not isinstance(data, list):
        raise ValueError("records must be a list")
    try:
        return tuple(SlotRecord.from_json(item) for item in data)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"damaged records: {exc}") from None


def describe(record: SlotRecord) -> str:
    """One line for a person (column 1-based): ``12:9 param f.count: int (0.93, model)``."""
    where = f"{record.line}:{record.column + 1} {record.kind} {record.qualname}"
    conf = "" if record.confidence is None else f"{record.confidence:.2f}"
    if record.action == ADD:
        return f"{where}: {record.annotation or record.type} ({conf}, {record.chosen_by})"
    guess = f"{record.type} {conf}".strip() if record.type else "no guess"
    detail = f": {record.detail}" if record.detail else ""
    return f"{where}: left out, {record.reason}{detail} (best guess {guess})"


class JsonReport(Report):
    """A ``Report`` that also keeps every file's records and prints them as one JSON
    document on stdout at the end (``--report json``); messages stay on stderr."""

    @property
    def wants_records(self) -> bool:
        return True

    def __post_init__(self) -> None:
        super().__post_init__()
        self._files: List[FileOutcome] = []
        self._model: Optional[Dict[str, str]] = None
        self.mode = "stubs" if self.stubs else "write" if self.write else "check"

    def header(self, store: ModelStore, *args: Any, **kwargs: Any) -> None:
        # only the store is read here: the rest passes through as the base class takes it
        self._model = {"name": store.name, "version": store.version, "sha256": store.model_sha256}
        super().header(store, *args, **kwargs)

    def record(self, outcome: FileOutcome) -> None:
        self._files.append(outcome)
        super().record(outcome)

    def finish(self) -> None:
        super().finish()
        click.echo(json.dumps(self.document(), indent=2, ensure_ascii=False), file=self.stdout)

    def document(self) -> Dict[str, Any]:
        """The report (``docs/report.schema.json``): the files, their records, the summary."""
        files = sorted(self._files, key=lambda outcome: outcome.path)
        records = [
            record.to_dict(outcome.path) for outcome in files for record in outcome.records or ()
        ]
        return {
            "format": REPORT_FORMAT,
            "localtypes": __version__,
            "model": self._model,
            "mode": self.mode,
            "files": [
                {
                    "path": outcome.path,
                    "status": outcome.status.value,
                    "cached": outcome.cached,
                    "reason": outcome.reason,
                    "added": outcome.added_total,
                }
                for outcome in files
            ],
            "records": records,
            "summary": self.to_dict(),
        }
