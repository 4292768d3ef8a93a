"""The core API: ``predict`` and ``annotate``. The CLI and the HTTP app call only these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from localtypes.extract import extract
from localtypes.model import ModelInfo, Predictor, TypeGuess, default_predictor
from localtypes.slots import ModuleInfo, Slot

DEFAULT_TOP_K = 5
MAX_TOP_K = 20


@dataclass(frozen=True)
class SlotPrediction:
    """The ranked guesses for one slot."""

    slot: Slot
    guesses: Tuple[TypeGuess, ...]

    def to_dict(self) -> Dict[str, Any]:
        slot = self.slot
        return {
            "kind": slot.kind.value,
            "qualname": slot.qualname,
            "scope": slot.scope,
            "occurrence": slot.occurrence,
            "name": slot.name,
            "line": slot.line,
            "column": slot.column,
            "annotation": slot.annotation,
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
) -> Prediction:
    """Predict ranked types for every slot of ``source``.

    Raises ``SourceError`` when the source does not parse.
    """
    if not 1 <= top_k <= MAX_TOP_K:
        raise ValueError(f"top_k must be between 1 and {MAX_TOP_K}, not {top_k}")
    predictor = predictor or default_predictor()
    module = extract(source)
    guesses = predictor.predict(module, top_k=top_k)
    return Prediction(
        model=predictor.info,
        path=path,
        info=module.info,
        slots=tuple(SlotPrediction(slot, ranked) for slot, ranked in zip(module.slots, guesses)),
    )
