"""What a run did to each file, the summary at its end, and the exit code it earns."""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

# Exit codes (DESIGN.md): also documented in ``localtypes annotate --help``.
EXIT_OK = 0
EXIT_CHANGES = 1  # --check found files that would change
EXIT_USAGE = 2  # bad flags, configuration or model store
EXIT_FAILED = 123  # some files could not be processed

KIND_ORDER = ("param", "return", "variable")


class Status(str, enum.Enum):
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    FAILED = "failed"


@dataclass(frozen=True)
class FileOutcome:
    """The result of one file, small and picklable so that workers can send it back."""

    path: str
    status: Status
    added: Tuple[Tuple[str, int], ...] = ()  # (kind, count) of annotations written
    below_threshold: int = 0  # slots with no annotation whose best guess was not confident
    reason: Optional[str] = None  # why a file failed
    diff: Optional[str] = None  # unified diff, only when asked for
    cached: bool = False

    @property
    def added_total(self) -> int:
        return sum(count for _, count in self.added)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


@dataclass
class Report:
    """Counts outcomes, prints one line per file as they come, and decides the exit code."""

    check: bool = False  # --check: changes are a failure of the run
    write: bool = True  # False under --check/--diff: say "would annotate"
    verbose: bool = False
    quiet: bool = False
    out: Callable[[str], None] = print  # per-file lines and the summary (stderr in the CLI)
    err: Callable[[str], None] = print  # errors, shown even with -q
    changed: int = 0
    unchanged: int = 0
    cached: int = 0
    below_threshold: int = 0
    added: Counter[str] = field(default_factory=Counter)
    failures: List[Tuple[str, str]] = field(default_factory=list)

    def record(self, outcome: FileOutcome) -> None:
        """Count one file's outcome and say what happened to it."""
        self.cached += outcome.cached
        if outcome.status is Status.FAILED:
            reason = outcome.reason or "unknown error"
            self.failures.append((outcome.path, reason))
            self.err(f"error: cannot annotate {outcome.path}: {reason}")
            return
        self.below_threshold += outcome.below_threshold
        if outcome.status is Status.CHANGED:
            self.changed += 1
            self.added.update(dict(outcome.added))
            if not self.quiet:
                verb = "annotated" if self.write else "would annotate"
                self.out(f"{verb} {outcome.path} (+{outcome.added_total})")
        else:
            self.unchanged += 1
            if self.verbose:
                self.out(f"{outcome.path} unchanged{' (cached)' if outcome.cached else ''}")

    def fail(self, path: str, reason: str) -> None:
        """Record a file that never reached a worker (unreadable, missing)."""
        self.record(FileOutcome(path=path, status=Status.FAILED, reason=reason))

    @property
    def exit_code(self) -> int:
        if self.failures:
            return EXIT_FAILED
        if self.check and self.changed:
            return EXIT_CHANGES
        return EXIT_OK

    def summary(self) -> str:
        """Counts in a few lines: files, annotations by kind, what was left out and why."""
        changed = "annotated" if self.write else "would be annotated"
        parts = [f"{_plural(self.changed, 'file')} {changed}"]
        parts.append(f"{_plural(self.unchanged, 'file')} unchanged")
        if self.failures:
            parts.append(f"{_plural(len(self.failures), 'file')} could not be processed")
        lines = [", ".join(parts) + "."]
        kinds = [k for k in KIND_ORDER if k in self.added] + sorted(
            k for k in self.added if k not in KIND_ORDER
        )
        by_kind = ", ".join(f"{self.added[k]} {k}" for k in kinds) or "none"
        verb = "added" if self.write else "to add"
        lines.append(
            f"Annotations {verb}: {sum(self.added.values())} ({by_kind}); "
            f"{_plural(self.below_threshold, 'slot')} left below the confidence threshold."
        )
        if self.cached and self.verbose:
            lines.append(f"{_plural(self.cached, 'file')} answered from the cache.")
        for path, reason in self.failures:
            lines.append(f"  skipped {path}: {reason}")
        return "\n".join(lines)

    def to_dict(self) -> Dict[str, object]:
        return {
            "changed": self.changed,
            "unchanged": self.unchanged,
            "failed": [{"path": p, "reason": r} for p, r in self.failures],
            "added": dict(self.added),
            "below_threshold": self.below_threshold,
            "exit_code": self.exit_code,
        }
