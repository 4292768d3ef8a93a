"""What a run did to each file, all that it prints, and the exit code it earns.

The ``Report`` owns a run's output: the verbose header, a line per file, the diffs (on
stdout), the errors, the progress bar on a terminal (holding the lines back until it is
done, so that they do not break it) and the summary. The runner only tells it what
happened.
"""

from __future__ import annotations

import contextlib
import enum
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence, TextIO, Tuple

import click

from localtypes import __version__

if TYPE_CHECKING:
    from localtypes.model.store import ModelStore

# Exit codes of ``localtypes annotate``, listed in its --help (``EXIT_CODES``) and the README.
EXIT_OK = 0
EXIT_CHANGES = 1  # --check found files that would change
EXIT_USAGE = 2  # bad flags, configuration or model store
EXIT_FAILED = 123  # some files could not be processed

EXIT_CODES = (
    (EXIT_OK, "done, or nothing to do"),
    (EXIT_CHANGES, "--check: some files would change"),
    (EXIT_USAGE, "usage error (bad option, configuration or model store)"),
    (EXIT_FAILED, "some files could not be processed (each is named with its reason)"),
)

KIND_ORDER = ("param", "return", "variable", "empty-container")


class Status(str, enum.Enum):
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    SKIPPED = "skipped"  # ``# localtypes: skip-file``: left as it is (``reason`` says why)


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
    held: Optional[Any] = None  # --verify: annotated, waiting for the checker (verify.run.Held)
    diff_encoding: Optional[str] = None  # the file's encoding: the diff is printed in it
    # What happened to each slot (``localtypes.run.records.SlotRecord``), when the report
    # asks for them (``Report.wants_records``); None when not asked.
    records: Optional[Tuple[Any, ...]] = None

    @classmethod
    def failure(cls, path: str, reason: str) -> FileOutcome:
        """A file that could not be processed, and why."""
        return cls(path=path, status=Status.FAILED, reason=reason)

    @property
    def added_total(self) -> int:
        return sum(count for _, count in self.added)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@dataclass
class Report:
    """Counts outcomes, prints what happens as it happens, and decides the exit code."""

    check: bool = False  # --check: changes are a failure of the run
    write: bool = True  # False under --check/--diff: say "would annotate"
    diff: bool = False  # --diff: diffs go to stdout (no progress bar if it is a terminal)
    verbose: bool = False
    quiet: bool = False
    stubs: Optional[str] = None  # --stubs OUT: annotations go into stubs under OUT
    stdout: TextIO = field(default_factory=lambda: sys.stdout)  # diffs
    stderr: TextIO = field(default_factory=lambda: sys.stderr)  # everything else
    changed: int = 0
    unchanged: int = 0
    skipped: int = 0  # files a ``# localtypes: skip-file`` comment leaves as they are
    cached: int = 0
    below_threshold: int = 0
    added: Counter[str] = field(default_factory=Counter)
    failures: List[Tuple[str, str]] = field(default_factory=list)
    # --verify: annotations the checker replaced and dropped, new errors it could not clear
    checker: Optional[Tuple[int, int, int]] = None
    # Which Python each project's annotations target, and why (``header`` is told).
    targets: List[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # A progress bar only on a terminal; lines that would break it wait until the end.
        self._hold = (
            not self.quiet
            and not self.verbose
            and _isatty(self.stderr)
            and not (self.diff and _isatty(self.stdout))
        )
        self._held: List[str] = []
        self._bar: Optional[Any] = None  # click's ProgressBar while one is shown

    @property
    def wants_records(self) -> bool:
        """Whether outcomes should carry their slots' records: -v with --check lists what
        would be added (--diff shows it already)."""
        return self.verbose and not self.write and not self.diff and not self.stubs

    def _say(self, line: str) -> None:
        if self._hold:
            self._held.append(line)
        else:
            click.echo(line, file=self.stderr)

    def header(self, store: ModelStore, targets: Sequence[str], files: int, root: Path) -> None:
        """Keep the targets for the summary (one per project: ``target Python 3.10
        (why)``); with --verbose, say which localtypes, model and targets the run uses."""
        self.targets = list(targets)
        if self.verbose:
            self._say(
                f"localtypes {__version__}: model {store.name} {store.version} ({store.path}); "
                f"{_plural(files, 'file')} under {root}"
            )
            for target in self.targets:
                self._say(f"  {target}")

    @contextlib.contextmanager
    def progress(self, total: int) -> Iterator[None]:
        """Show a bar for ``total`` files on a terminal; each ``record`` advances it."""
        if not (self._hold and total > 1):
            yield
            return
        with click.progressbar(length=total, label="annotating", file=self.stderr) as bar:
            self._bar = bar
            try:
                yield
            finally:
                self._bar = None

    def record(self, outcome: FileOutcome) -> None:
        """Count one file's outcome and say what happened to it (its diff on stdout)."""
        if outcome.diff:
            self._print_diff(outcome.diff, outcome.diff_encoding)
        self._count(outcome)
        if self._bar is not None:
            self._bar.update(1)

    def _print_diff(self, diff: str, encoding: Optional[str]) -> None:
        """A diff in its file's encoding (a latin-1 file's diff is latin-1, so that
        ``git apply`` finds its lines), where the stream takes bytes; else as text."""
        binary = getattr(self.stdout, "buffer", None)
        if encoding is None or binary is None:
            click.echo(diff, nl=False, file=self.stdout)
            return
        self.stdout.flush()
        binary.write(diff.encode(encoding, "backslashreplace"))
        binary.flush()

    def warn(self, message: str) -> None:
        """A problem that does not stop the run nor change its exit code (on stderr)."""
        self._say(f"warning: {message}")

    def _count(self, outcome: FileOutcome) -> None:
        self.cached += outcome.cached
        if outcome.status is Status.FAILED:
            reason = outcome.reason or "unknown error"
            self.failures.append((outcome.path, reason))
            self._say(f"error: cannot annotate {outcome.path}: {reason}")
            return
        if outcome.status is Status.SKIPPED:
            self.skipped += 1
            if self.verbose:
                self._say(f"{outcome.path} skipped ({outcome.reason})")
            return
        self.below_threshold += outcome.below_threshold
        if outcome.status is Status.CHANGED:
            self.changed += 1
            self.added.update(dict(outcome.added))
            if not self.quiet:
                verb = "stubbed" if self.stubs else "annotated" if self.write else "would annotate"
                # --check/--diff: what would change, by kind (each one with -v)
                kinds = ", ".join(f"{count} {kind}" for kind, count in outcome.added)
                by_kind = "" if self.write else f": {kinds}"
                self._say(f"{verb} {outcome.path} (+{outcome.added_total}{by_kind})")
                if self.verbose and outcome.records:
                    self._list(outcome.records)
        else:
            self.unchanged += 1
            if self.verbose:
                self._say(f"{outcome.path} unchanged{' (cached)' if outcome.cached else ''}")

    def _list(self, records: Tuple[Any, ...]) -> None:
        """-v with --check: each annotation that would be added, and why."""
        from localtypes.run.records import ADD, describe

        for record in records:
            if record.action == ADD:
                self._say(f"  {describe(record)}")

    def fail(self, path: str, reason: str) -> None:
        """Record a file that never reached a worker (unreadable, missing)."""
        self.record(FileOutcome.failure(path, reason))

    def finish(self) -> None:
        """Print the lines held back for the bar, then the summary (unless quiet)."""
        for line in self._held:
            click.echo(line, file=self.stderr)
        self._held.clear()
        if not self.quiet:
            click.echo(self.summary(), file=self.stderr)

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
        if self.stubs:
            changed = f"annotated in their stubs under {self.stubs}"
        parts = [f"{_plural(self.changed, 'file')} {changed}"]
        parts.append(f"{_plural(self.unchanged, 'file')} unchanged")
        if self.skipped:
            parts.append(f"{_plural(self.skipped, 'file')} skipped (# localtypes: skip-file)")
        if self.failures:
            parts.append(f"{_plural(len(self.failures), 'file')} could not be processed")
        lines = [", ".join(parts) + "."]
        kinds = [k for k in KIND_ORDER if k in self.added] + sorted(
            k for k in self.added if k not in KIND_ORDER
        )
        by_kind = ", ".join(f"{self.added[k]} {k}" for k in kinds) or "none"
        verb = "added" if self.write or self.stubs else "to add"
        lines.append(
            f"Annotations {verb}: {sum(self.added.values())} ({by_kind}); "
            f"{_plural(self.below_threshold, 'slot')} left below the confidence threshold."
        )
        if self.checker is not None:
            replaced, dropped, remaining = self.checker
            line = (
                f"The type checker replaced {_plural(replaced, 'annotation')} and dropped "
                f"{dropped}."
            )
            if remaining:
                line += f" New checker errors left: {remaining}."
            lines.append(line)
        lines.extend(f"{target}." for target in self.targets)
        if self.cached and self.verbose:
            lines.append(f"{_plural(self.cached, 'file')} answered from the cache.")
        for path, reason in self.failures:
            lines.append(f"  skipped {path}: {reason}")
        return "\n".join(lines)

    def to_dict(self) -> Dict[str, object]:
        return {
            "changed": self.changed,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "failed": [{"path": p, "reason": r} for p, r in self.failures],
            "added": dict(self.added),
            "below_threshold": self.below_threshold,
            "exit_code": self.exit_code,
        }
