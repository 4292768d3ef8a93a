"""One frozen settings object: defaults, then ``[tool.localtypes]``, environment, flags.

Nothing else in localtypes reads the environment or pyproject.toml.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import FrozenSet, Optional, Tuple

from localtypes.slots import SlotKind


def _default_jobs() -> int:
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Settings:
    """Every tunable of localtypes, each with its default."""

    # Model store folder; None means $LOCALTYPES_MODEL, then the bundled store.
    model: Optional[str] = None
    # --- annotate ---
    # Write a type only when its confidence reaches this; None: the model's calibrated value.
    min_confidence: Optional[float] = None
    kinds: FrozenSet[SlotKind] = frozenset({SlotKind.PARAM, SlotKind.RETURN})
    # (major, minor) of the oldest Python the annotated code must run on; None: detect.
    target_version: Optional[Tuple[int, int]] = None
    jobs: int = field(default_factory=_default_jobs)
    include: Tuple[str, ...] = (r"\.pyi?$",)
    exclude: Tuple[str, ...] = ()
    cache: bool = True
    # --- serve ---
    host: str = "127.0.0.1"
    port: int = 8000
    threads: int = 4
    # Concurrent model calls; more requests wait up to queue_timeout seconds, then get 503.
    max_concurrent_inference: int = 2
    queue_timeout: float = 2.0
    max_body_bytes: int = 1 << 20
    # Wall-clock limit on one request's work (parse + model); past it the request gets 503.
    request_timeout: float = 10.0
    access_log: bool = False
