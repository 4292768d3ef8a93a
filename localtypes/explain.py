"""Why a slot gets the type it gets: ``localtypes explain FILE:LINE[:COL]``.

For each slot at a place, the model's top guesses with their confidences, the evidence it
read (the static pass's decision, call sites in other modules, names, how the body uses
the value, its default, its docstring...), grouped and named for a person, and what
``annotate`` does with the slot and why, as its report says it (``localtypes.run.records``).

``localtypes.api.explain`` is the entry point; this module holds the result's types, the
grouping of features and the text rendering.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

from localtypes.analysis.slots import ExtractedModule, Slot
from localtypes.errors import LocaltypesError
from localtypes.model.predictor import Predictor, TypeGuess
from localtypes.run.records import ADD, SlotRecord, static_decision
from localtypes.settings import MAX_TOP_K

if TYPE_CHECKING:
    from localtypes.analysis.project import ModuleFacts
    from localtypes.settings import Settings

# Feature prefixes (before the first ":") -> the evidence group a person reads them under,
# in the order they are shown. Anything else is "context".
_GROUPS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("static rule", ("sd", "sr", "sv")),
    ("call sites in the project", ("xn", "xs", "xst", "xr")),
    ("usage in the body", ("u", "um", "ua", "uset", "ukw", "uarg", "uargpos", "uisinstance",
                           "ubin", "ucmp", "uaug", "ustore", "ustoret")),
    ("default or assigned value", ("dv", "v")),
    ("what the function returns", ("r",)),
    ("docstring", ("doc", "rdoc")),
    ("names", ("n", "nf", "nl", "nt", "f", "ff", "fl", "ft", "c", "cf", "cl", "ct",
               "next", "param")),
)  # fmt: skip
_CONTEXT = "context"
_PLACE = re.compile(r"(?P<path>.+?):(?P<line>[0-9]+)(?::(?P<column>[0-9]+))?\Z", re.DOTALL)
_GROUP_OF = {prefix: name for name, prefixes in _GROUPS for prefix in prefixes}


class NoSlotError(LocaltypesError):
    """No parameter, return or variable slot at the place asked about."""


@dataclass(frozen=True)
class SlotExplanation:
    """One slot: the model's guesses, the evidence, and what annotate does with it."""

    slot: Slot
    guesses: Tuple[TypeGuess, ...]
    static: Optional[str]
    evidence: Tuple[Tuple[str, Tuple[str, ...]], ...]  # (group, features), groups in order
    verdict: str  # what annotate does, in words
    record: Optional[SlotRecord]  # annotate's record of the slot; None: not a candidate
    # How much each group weighed: the top guess's confidence with that group's features
    # left out (the rest as they are), by group. Empty when there is no guess.
    without: Tuple[Tuple[str, float], ...] = ()

    def to_dict(self) -> Dict[str, Any]:
        slot = self.slot
        return {
            "kind": slot.kind.value,
            "qualname": slot.qualname,
            "name": slot.name,
            "line": slot.line,
            "column": slot.column,
            "annotation": slot.annotation,
            "predictions": [
                {"type": guess.label, "confidence": round(guess.confidence, 4)}
                for guess in self.guesses
            ],
            "static": self.static,
            "evidence": {group: list(features) for group, features in self.evidence},
            "top_guess_without": {group: round(conf, 4) for group, conf in self.without},
            "annotate": {
                "verdict": self.verdict,
                "action": None if self.record is None else self.record.action,
                "type": None if self.record is None else self.record.type,
                "chosen_by": None if self.record is None else self.record.chosen_by,
                "reason": None if self.record is None else self.record.reason,
            },
        }


@dataclass(frozen=True)
class Explanation:
    """Every slot at one place of a file."""

    path: Optional[str]
    line: int
    column: Optional[int]  # 0-based, as asked; None: the whole line
    threshold: float
    slots: Tuple[SlotExplanation, ...]

    def to_dict(self) -> Dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "threshold": self.threshold,
            "slots": [item.to_dict() for item in self.slots],
        }

    def render(self) -> str:
        """The explanation as text for a terminal (columns 1-based, as editors count)."""
        blocks = []
        for item in self.slots:
            slot = item.slot
            head = f"{self.path or '<source>'}:{slot.line}:{slot.column + 1}: {slot.kind.value} "
            head += slot.qualname
            if slot.annotation is not None:
                head += f" (annotated: {slot.annotation})"
            lines = [head, "  model's guesses:"]
            lines += [f"    {g.confidence:6.1%}  {g.label}" for g in item.guesses] or ["    none"]
            lines += _evidence_lines(item)
            lines.append(f"  annotate: {item.verdict}")
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks)


def _evidence_lines(item: SlotExplanation) -> List[str]:
    """The evidence, the group that weighed most first: with a guess, each group says what
    the top guess's confidence would be without it."""
    without = dict(item.without)
    if not without or not item.guesses:
        lines = ["  evidence the model read:"]
        for group, features in item.evidence:
            lines.append(f"    {group}: {', '.join(_readable(f) for f in features)}")
        return lines
    top = item.guesses[0]
    lines = ["  evidence the model read, heaviest first "
             f"([...]: {top.label}'s confidence without that group):"]  # fmt: skip
    ordered = sorted(item.evidence, key=lambda entry: without.get(entry[0], top.confidence))
    for group, features in ordered:
        shown = ", ".join(_readable(f) for f in features)
        conf = without.get(group)
        weight = "" if conf is None else f" [{conf:.1%}]"
        lines.append(f"    {group}{weight}: {shown}")
    return lines


_WORDS = {"sd": "from the default:", "sr": "from what it returns:", "sv": "from the value:"}


def _readable(feature: str) -> str:
    """The static decisions and the call-site count in words; other features as they are."""
    prefix, _, rest = feature.partition(":")
    if prefix in _WORDS:
        return f"{_WORDS[prefix]} {rest}"
    if prefix == "xn":  # counted up to 9
        return f"{rest}{'+' if rest == '9' else ''} call site{'' if rest == '1' else 's'}"
    return feature


def evidence_groups(features: Sequence[str]) -> Tuple[Tuple[str, Tuple[str, ...]], ...]:
    """A slot's features in the groups a person reads them under (empty groups left out)."""
    grouped: Dict[str, List[str]] = {}
    for feature in features:
        prefix = feature.split(":", 1)[0] if ":" in feature else ""
        grouped.setdefault(_GROUP_OF.get(prefix, _CONTEXT), []).append(feature)
    order = [name for name, _ in _GROUPS] + [_CONTEXT]
    return tuple((name, tuple(grouped[name])) for name in order if name in grouped)


def without_each_group(
    slot: Slot, module: ExtractedModule, top_label: str, predictor: Predictor
) -> Tuple[Tuple[str, float], ...]:
    """The confidence of ``top_label`` for ``slot`` (of ``module``) with each evidence
    group's features left out, in one model call: copies of the slot, one per group,
    scored together (a slot's scores depend on its own features, the module's visible
    names, and with a second pass the first pass's answers for the slots it relates to,
    which stay as they are). A label that falls out of the ranked answers counts as 0."""
    groups = evidence_groups(slot.features)
    if not groups:
        return ()
    variants = []
    relations = module.relations.get(slot.key, ())
    for number, (_, features) in enumerate(groups):
        dropped = set(features)
        kept = tuple(feature for feature in slot.features if feature not in dropped)
        # an occurrence no real slot has: each copy is a slot of its own to the first pass
        variants.append(replace(slot, features=kept, occurrence=-1 - number))
    copies = ExtractedModule(
        tuple(variants),
        module.info,
        relations={variant.key: relations for variant in variants},
        context=module.slots,
    )
    ranked = predictor.predict(copies, top_k=MAX_TOP_K)
    out = []
    for (group, _), guesses in zip(groups, ranked):
        conf = next((g.confidence for g in guesses if g.label == top_label), 0.0)
        out.append((group, conf))
    return tuple(out)


def pick_slots(slots: Sequence[Slot], line: int, column: Optional[int]) -> List[int]:
    """Indexes of the slots at ``line`` (and, with a 0-based ``column``, the one whose
    name starts nearest before it: a column anywhere in ``x: int = 0`` means ``x``)."""
    on_line = [i for i, slot in enumerate(slots) if slot.line == line]
    if column is None or not on_line:
        return on_line
    before = [i for i in on_line if slots[i].column <= column]
    if not before:
        return []
    nearest = max(slots[i].column for i in before)
    return [i for i in before if slots[i].column == nearest]


def no_slot_message(slots: Sequence[Slot], path: Optional[str], line: int) -> str:
    """Why nothing can be explained at ``line``, with the nearest lines that have slots."""
    lines = sorted({slot.line for slot in slots})
    where = f"{path or '<source>'}:{line}"
    if not lines:
        return f"{where}: the file has no parameter, return or variable to annotate"
    nearest = sorted(lines, key=lambda other: (abs(other - line), other))[:3]
    return (
        f"{where}: no parameter, return or variable starts here "
        f"(nearest lines with one: {', '.join(map(str, sorted(nearest)))})"
    )


def verdict(
    slot: Slot,
    record: Optional[SlotRecord],
    kinds: Sequence[str],
    threshold: float,
) -> str:
    """What annotate does with ``slot``, in words."""
    if slot.annotation is not None:
        return f"leaves it: already annotated ({slot.annotation})"
    if slot.kind.value not in kinds:
        return (
            f"leaves it: {slot.kind.value} slots are not annotated with these settings "
            f"(kinds: {', '.join(kinds)}; see --kinds)"
        )
    if record is None:
        return "leaves it: not a place annotate writes to"
    conf = "" if record.confidence is None else f"{record.confidence:.1%}"
    if record.action == ADD:
        why = {
            "static-rule": "the static pass decided it and the model agrees",
            "model": "the model's top guess",
            "check-fallback": "the checks ruled out the model's top guess; its next was taken",
            "checker": "the type checker (--verify) replaced the writer's choice",
        }.get(record.chosen_by or "", record.chosen_by or "")
        return f"writes {record.annotation or record.type} ({conf}): {why}"
    if record.reason == "below-threshold":
        return (
            f"leaves it: the best guess {record.type} ({conf}) is below the threshold "
            f"{threshold:.0%} (--min-confidence)"
        )
    detail = f" ({record.detail})" if record.detail else ""
    guess = f"; best guess {record.type} ({conf})" if record.type else ""
    return f"leaves it: {record.reason}{detail}{guess}"


def find_record(records: Sequence[SlotRecord], slot: Slot) -> Optional[SlotRecord]:
    for record in records:
        if (record.kind, record.line, record.column, record.name) == (
            slot.kind.value,
            slot.line,
            slot.column,
            slot.name,
        ):
            return record
    return None


def static_of(slot: Slot) -> Optional[str]:
    return static_decision(slot.features)


def parse_place(place: str) -> Tuple[str, int, Optional[int]]:
    """``FILE:LINE`` or ``FILE:LINE:COL`` (1-based, as editors and linters print them) ->
    (file, line, 0-based column or None); ``ValueError`` with a message otherwise."""
    match = _PLACE.match(place)
    if match is None:
        raise ValueError(f"{place!r}: expected FILE:LINE or FILE:LINE:COL")
    line = int(match["line"])
    column = None if match["column"] is None else int(match["column"]) - 1
    if line < 1 or (column is not None and column < 0):
        raise ValueError(f"{place!r}: lines and columns count from 1")
    return match["path"], line, column


def file_evidence(
    path: str, settings: Settings, model_sha256: str, threshold: float
) -> ModuleFacts:
    """The cross-file evidence ``annotate`` would give ``path``: from every module of its
    project, through the run's evidence cache when it is safe to use."""
    from pathlib import Path

    from localtypes.run.cache import Cache, UnsafeCacheError
    from localtypes.run.discovery import Walker, project_root
    from localtypes.run.project import project_facts

    root = project_root([path])
    walker = Walker(root, settings.include, settings.exclude)
    name = str(Path(path))
    cache_dir: Optional[Path] = None
    if settings.cache:
        try:
            key = settings.cache_key(model_sha256, threshold)
            cache_dir = Cache.open(settings.cache_dir, key).folder.parent.parent
        except UnsafeCacheError:
            cache_dir = None
    return project_facts(root, walker, [name], cache_dir).files.get(name, {})
