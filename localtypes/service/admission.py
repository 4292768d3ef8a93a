"""What the model is given at once: slots per request, slots in flight, threads per call.

The model's memory grows with the slots of one call: about 370 KiB each at peak with
localtypes-small (3,000 labels; a 300-line file has about 100 slots, the largest file of
the standard library about 2,000). One request may send ``MAX_SLOTS``, and the calls running
at once share ``SLOT_BUDGET``, so the peak stays near 550 MiB above the idle process
whatever the clients send (a container limit of 1 GiB holds).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from localtypes.analysis.slots import ExtractedModule
from localtypes.model.predictor import ModelInfo, Predictor, TypeGuess
from localtypes.service.workers import Budget

MAX_SLOTS = 1500
SLOT_BUDGET = 1500


class TooManySlots(Exception):
    """The source has more slots than one request may send to the model."""

    def __init__(self, count: int, limit: int) -> None:
        super().__init__(f"the source has {count} slots; this server accepts at most {limit}")
        self.count = count
        self.limit = limit


class GuardedPredictor:
    """The shared predictor, wrapped: timed for the metrics, refusing batches above
    ``max_slots``, and running a call only when its slots fit in the shared budget."""

    def __init__(
        self, inner: Predictor, max_slots: int, budget: Budget, observe: Callable[[float], None]
    ) -> None:
        self._inner = inner
        self._max_slots = max_slots
        self._budget = budget
        self._observe = observe

    @property
    def info(self) -> ModelInfo:
        return self._inner.info

    def predict(self, module: ExtractedModule, top_k: int = 5) -> List[Tuple[TypeGuess, ...]]:
        if len(module.slots) > self._max_slots:
            raise TooManySlots(len(module.slots), self._max_slots)

        def call() -> List[Tuple[TypeGuess, ...]]:
            start = time.perf_counter()
            try:
                return self._inner.predict(module, top_k)
            finally:
                self._observe(time.perf_counter() - start)

        return self._budget.run(max(1, len(module.slots)), call)


def usable_cores() -> int:
    """CPUs this process may use: its affinity, capped by a cgroup CPU quota (containers)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    return max(1, min(cores, int(quota))) if quota else cores


def cgroup_cpu_quota() -> Optional[float]:
    """The CPU quota of this process's cgroup in cores, or None when there is none."""
    # cgroup v2: "max 100000" or "200000 100000"; v1: cfs_quota_us (-1: none) / period.
    try:
        text = Path("/sys/fs/cgroup/cpu.max").read_text(encoding="ascii").split()
        if text and text[0] != "max":
            return int(text[0]) / int(text[1])
        return None
    except (OSError, ValueError, IndexError):
        pass
    try:
        v1 = Path("/sys/fs/cgroup/cpu")
        quota = int((v1 / "cpu.cfs_quota_us").read_text(encoding="ascii"))
        period = int((v1 / "cpu.cfs_period_us").read_text(encoding="ascii"))
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None
