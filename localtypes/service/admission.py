"""What the service takes on at once: slots per request, memory per request, threads per call.

Memory is planned, not hoped for. What one request costs was measured with
localtypes-small on CPython 3.11 (``tests/service/test_memory.py`` holds the numbers):

- the model runs over a file in chunks of slots (``OnnxPredictor.chunk_slots``), so its
  memory does not grow with the file: ``MODEL_BYTES`` covers a chunk, the encoding and
  the answer of the largest allowed file (1,500 slots, 20 guesses each);
- the syntax tree is what grows with the request: ``ast.parse`` peaks at up to 920 bytes
  per byte of source (the densest source: one-letter statements, ``a\\n`` repeated), and
  ``/annotate`` holds two trees (the input's and the edited one's). So a request reserves
  ``MODEL_BYTES`` plus ``TREE_BYTES_PER_BYTE`` per byte of body for each tree it may hold
  before it runs, from a budget: the memory limit, less the process as it stands after
  the warm-up, less what the HTTP threads may hold (bodies being read) and ``HEADROOM``.

The plan derives from the limit (the ``memory_limit`` setting, else the cgroup's) the
largest body that fits (``max_body_bytes`` is lowered to it, and said so at start-up) and
how many of the largest requests fit at once. Without a limit, nothing is reserved. The
slot limit (``MAX_SLOTS``) bounds the time of a request, no longer its memory.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple, TypeVar

from localtypes.analysis.slots import ExtractedModule
from localtypes.errors import LocaltypesError
from localtypes.model.predictor import ModelInfo, Predictor, TypeGuess
from localtypes.service.workers import Budget
from localtypes.settings import Settings

T = TypeVar("T")

MAX_SLOTS = 1500

# Measured peaks (see the module's docstring), rounded up.
TREE_BYTES_PER_BYTE = 960
MODEL_BYTES = 40 << 20
# ``"verify": true``: mypy checks the module (and its context) in this process. Over
# examples/inventory.py the first such request added 82 MiB to the peak (mypy's imports
# and caches, which stay), later ones 19 MiB (tests/service/test_memory.py). mypy's own
# growth with the size of the code is not planned beyond this.
VERIFY_BYTES = 96 << 20
# Per HTTP thread and byte of body: waitress's buffer, the bytes read, the text (up to four
# bytes a character when one character needs them) and the JSON document.
READ_BYTES_PER_BYTE = 7
# Allocator slack, the metrics, logs and stacks: never planned for requests.
HEADROOM = 48 << 20
# A cgroup "limit" at or above this is no limit (cgroup v1 writes 2**63 rounded to pages).
_NO_LIMIT = 1 << 60


class TooManySlots(Exception):
    """The source has more slots than one request may send to the model."""

    def __init__(self, count: int, limit: int) -> None:
        super().__init__(f"the source has {count} slots; this server accepts at most {limit}")
        self.count = count
        self.limit = limit


class GuardedPredictor:
    """The shared predictor, wrapped: timed for the metrics and refusing batches above
    ``max_slots`` before any model work."""

    def __init__(self, inner: Predictor, max_slots: int, observe: Callable[[float], None]) -> None:
        self._inner = inner
        self._max_slots = max_slots
        self._observe = observe

    @property
    def info(self) -> ModelInfo:
        return self._inner.info

    def predict(self, module: ExtractedModule, top_k: int = 5) -> List[Tuple[TypeGuess, ...]]:
        if len(module.slots) > self._max_slots:
            raise TooManySlots(len(module.slots), self._max_slots)
        start = time.perf_counter()
        try:
            return self._inner.predict(module, top_k)
        finally:
            self._observe(time.perf_counter() - start)


def trees(endpoint: str) -> int:
    """Syntax trees of the whole source an endpoint may hold at once."""
    return 1 if endpoint == "/predict" else 2


def request_cost(endpoint: str, body_bytes: int, verify: bool = False) -> int:
    """Bytes reserved for one request's model work (parse, features, model, answer), and
    with ``verify`` the type checker's run."""
    cost = MODEL_BYTES + trees(endpoint) * TREE_BYTES_PER_BYTE * max(0, body_bytes)
    return cost + (VERIFY_BYTES if verify else 0)


@dataclass(frozen=True)
class MemoryPlan:
    """The memory limit and what follows from it for one server."""

    limit: Optional[int]  # bytes; None: no limit known, nothing is reserved
    baseline: int  # resident bytes of the process when planned (model loaded, warmed up)
    budget: Optional[int]  # bytes requests may reserve at once
    max_body_bytes: int  # the largest body taken: the setting, lowered to fit the limit
    wanted_body_bytes: int  # the setting
    largest_at_once: Optional[int]  # /annotate requests of the largest body that fit at once

    @property
    def lowered(self) -> bool:
        """Whether the body limit is below the setting."""
        return self.max_body_bytes < self.wanted_body_bytes

    def to_dict(self) -> Dict[str, Optional[int]]:
        return {
            "memory_limit": self.limit,
            "baseline_bytes": self.baseline,
            "budget_bytes": self.budget,
            "max_body_bytes": self.max_body_bytes,
            "largest_requests_at_once": self.largest_at_once,
        }


class MemoryTooSmall(LocaltypesError):
    """The limit leaves no room for a request of any useful size."""


MIN_BODY_BYTES = 16 << 10


def plan_memory(settings: Settings, baseline: int, limit: Optional[int] = None) -> MemoryPlan:
    """What fits in ``limit`` (default: the setting, else the cgroup's) above ``baseline``.

    Raises ``MemoryTooSmall`` when not even a ``MIN_BODY_BYTES`` request would fit.
    """
    if limit is None:
        limit = settings.memory_limit or cgroup_memory_limit()
    wanted = settings.max_body_bytes
    if limit is None:
        return MemoryPlan(None, baseline, None, wanted, wanted, None)
    free = limit - baseline - HEADROOM - MODEL_BYTES
    # The HTTP threads may hold bodies while a request runs: B fits when
    #   MODEL_BYTES + 2 * TREE * B  <=  limit - baseline - HEADROOM - threads * READ * B
    per_byte = trees("/annotate") * TREE_BYTES_PER_BYTE + settings.threads * READ_BYTES_PER_BYTE
    fitting = max(0, free // per_byte)
    if fitting < min(wanted, MIN_BODY_BYTES):
        need = request_cost("/annotate", MIN_BODY_BYTES) >> 20
        raise MemoryTooSmall(
            f"memory_limit {limit >> 20} MiB leaves no room for requests: the process takes"
            f" {baseline >> 20} MiB with the model loaded, and a request of"
            f" {MIN_BODY_BYTES >> 10} KiB may need {need} MiB more"
        )
    body = min(wanted, fitting)
    budget = limit - baseline - HEADROOM - settings.threads * READ_BYTES_PER_BYTE * body
    at_once = budget // request_cost("/annotate", body)
    return MemoryPlan(limit, baseline, budget, body, wanted, at_once)


class MemoryGate:
    """Requests reserve their cost before their model work, from the plan's budget."""

    def __init__(self, plan: MemoryPlan) -> None:
        self.plan = plan
        self._budget = Budget(plan.budget) if plan.budget is not None else None

    @property
    def reserved(self) -> int:
        budget = self._budget
        return 0 if budget is None else budget.total - budget.free

    def run(self, cost: int, fn: Callable[[], T], timeout: float) -> T:
        """Run ``fn`` once ``cost`` bytes are free (``Overloaded`` after ``timeout``)."""
        if self._budget is None:
            return fn()
        return self._budget.run(min(cost, self._budget.total), fn, timeout=timeout)


def resident_bytes() -> int:
    """The process's resident memory now (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def cgroup_memory_limit() -> Optional[int]:
    """The memory limit of this process's cgroup in bytes, or None when there is none."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text(encoding="ascii").strip()
        except OSError:
            continue
        if text == "max":
            return None
        try:
            value = int(text)
        except ValueError:
            continue
        return value if 0 < value < _NO_LIMIT else None
    return None


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
