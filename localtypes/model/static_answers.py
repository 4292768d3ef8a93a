"""Where the static pass is certain, its answer leads the ranking.

Its confidence is the precision its rule measured on the held-out validation packages when
the store was made (``static_rules`` in the manifest), never an assumed one; a rule that
measured below ``MIN_PRECISION`` there, or on too few slots, only ever acts as a feature.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from localtypes.analysis.slots import Slot

# Static decisions carried as slot features: a return's and a variable's value.
RULE_PREFIXES = ("sr:", "sv:")
MIN_PRECISION = 0.95
MIN_COUNT = 200  # validation slots a rule must have been measured on


def static_rule(slot: Slot) -> Optional[Tuple[str, str]]:
    """(rule family, label) of the static pass's decision for ``slot``, if it made one."""
    for feature in slot.features:
        if feature.startswith(RULE_PREFIXES):
            prefix, label = feature[:2], feature[3:]
            return f"{prefix}:{'None' if label == 'None' else 'value'}", label
    return None


def measure_rules(slots: Sequence[Slot]) -> Dict[str, Dict[str, Any]]:
    """Per rule family: how often its label equals the slot's true label, and on how many."""
    hits: Dict[str, List[bool]] = {}
    for slot in slots:
        found = static_rule(slot)
        if found is not None and slot.label:
            hits.setdefault(found[0], []).append(found[1] == slot.label)
    return {
        family: {"precision": round(sum(right) / len(right), 4), "count": len(right)}
        for family, right in sorted(hits.items())
    }


class StaticAnswers:
    """The rules of one store that are trusted to answer, with their measured precision."""

    def __init__(self, rules: Mapping[str, Mapping[str, Any]]) -> None:
        self.precision: Dict[str, float] = {
            family: float(measured["precision"])
            for family, measured in rules.items()
            if int(measured.get("count", 0)) >= MIN_COUNT
            and float(measured["precision"]) >= MIN_PRECISION
        }

    def answer(self, slot: Slot) -> Optional[Tuple[str, float]]:
        """The static label and its confidence for ``slot``, when a trusted rule decided it."""
        found = static_rule(slot)
        if found is None or found[0] not in self.precision:
            return None
        return found[1], self.precision[found[0]]
